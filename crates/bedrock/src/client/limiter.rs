//! Concurrency that adapts to throttling: additive increase, multiplicative
//! decrease (AIMD), as TCP does with its congestion window.
//!
//! Every success raises the limit by `1 / limit`, so about one more request
//! in flight per round of `limit` successes. A throttle cuts the limit by a
//! third, at most once per cool-down (the typical call latency), because the
//! requests in flight when the quota ran out all come back throttled together
//! and are one signal, not many. A throttle also pauses new calls for half a
//! cool-down, so that retries do not hammer an exhausted quota.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The fraction kept on a throttle.
const DECREASE: f64 = 0.67;
/// The shortest time between two decreases.
const MIN_COOL_DOWN: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    last_decrease: Option<Instant>,
    /// No new calls start before this instant.
    paused_until: Option<Instant>,
    /// Smoothed latency of successful calls, in seconds.
    latency: f64,
}

/// Hands out permits to call the service, at most `limit` at a time, where
/// `limit` moves between 1 and a maximum with the service's answers.
#[derive(Debug)]
pub struct AdaptiveLimiter {
    state: Mutex<State>,
    notify: Notify,
    max: usize,
}

/// Leave to make one call; the slot is freed when it is dropped.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<AdaptiveLimiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.limiter.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.limiter.notify.notify_waiters();
    }
}

impl AdaptiveLimiter {
    /// A limiter starting at `initial` calls in flight, never above `max`.
    pub fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1);
        AdaptiveLimiter {
            state: Mutex::new(State {
                limit: initial.clamp(1, max) as f64,
                in_flight: 0,
                last_decrease: None,
                paused_until: None,
                latency: 0.0,
            }),
            notify: Notify::new(),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a free slot.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pause = {
                let s = self.lock();
                let now = Instant::now();
                match s.paused_until {
                    Some(t) if t > now => Some(t - now),
                    _ => None,
                }
            };
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
                continue;
            }
            {
                let mut s = self.lock();
                if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    return Permit {
                        limiter: Arc::clone(self),
                    };
                }
            }
            notified.await;
        }
    }

    /// A call succeeded after `took`.
    pub fn on_success(&self, took: Duration) {
        let raised = {
            let mut s = self.lock();
            let t = took.as_secs_f64();
            s.latency = if s.latency == 0.0 {
                t
            } else {
                0.9 * s.latency + 0.1 * t
            };
            let before = s.limit.floor();
            s.limit = (s.limit + 1.0 / s.limit).min(self.max as f64);
            s.limit.floor() > before
        };
        if raised {
            self.notify.notify_waiters();
        }
    }

    /// A call was throttled.
    pub fn on_throttle(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        let cool_down = Duration::from_secs_f64(s.latency).max(MIN_COOL_DOWN);
        let until = now + cool_down / 2;
        if s.paused_until.is_none_or(|t| t < until) {
            s.paused_until = Some(until);
        }
        if s.last_decrease
            .is_some_and(|t| now.duration_since(t) < cool_down)
        {
            return;
        }
        s.limit = (s.limit * DECREASE).max(1.0);
        s.last_decrease = Some(now);
    }

    /// The current limit, in whole calls.
    pub fn limit(&self) -> usize {
        self.lock().limit.floor() as usize
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backs_off_then_recovers() {
        let l = Arc::new(AdaptiveLimiter::new(8, 16));
        assert_eq!(l.limit(), 8);
        l.on_throttle();
        assert_eq!(l.limit(), 5);
        // A second throttle inside the cool-down is the same event.
        l.on_throttle();
        assert_eq!(l.limit(), 5);
        for _ in 0..200 {
            l.on_success(Duration::from_millis(1));
        }
        assert_eq!(l.limit(), 16, "recovers up to the maximum");
    }

    #[tokio::test]
    async fn never_more_in_flight_than_the_limit() {
        let l = Arc::new(AdaptiveLimiter::new(2, 2));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        assert_eq!(l.in_flight(), 2);
        let l2 = Arc::clone(&l);
        let waiter = tokio::spawn(async move { l2.acquire().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        let _c = waiter.await.unwrap();
        assert_eq!(l.in_flight(), 2);
    }
}
