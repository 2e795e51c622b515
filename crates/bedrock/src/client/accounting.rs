//! Running totals of a provider: calls, retries, throttles, tokens, dollars,
//! cache hits. Counters are atomics, so a progress bar can read them while
//! the calls are in flight.

use std::sync::atomic::{AtomicU64, Ordering};

use embedrock_core::ModelInfo;

/// The counters. Read them with [`Accounting::snapshot`].
#[derive(Debug, Default)]
pub struct Accounting {
    calls: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    items_done: AtomicU64,
    items_failed: AtomicU64,
    body_tokens: AtomicU64,
    header_tokens: AtomicU64,
    billed_tokens: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

/// Totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Totals {
    /// Calls that succeeded.
    pub calls: u64,
    /// Requests sent, retries included.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Attempts answered with `ThrottlingException`.
    pub throttled: u64,
    /// Items with a vector (embedded or from the cache).
    pub items_done: u64,
    /// Items that failed.
    pub items_failed: u64,
    /// Input tokens as the response bodies count them (Titan).
    pub body_tokens: u64,
    /// Input tokens as the `X-Amzn-Bedrock-Input-Token-Count` header counts them.
    pub header_tokens: u64,
    /// Tokens paid for: the header's count where there is one, else the body's.
    pub tokens: u64,
    /// Items answered from the cache.
    pub cache_hits: u64,
    /// Items looked up in the cache and not found.
    pub cache_misses: u64,
    /// Dollars for `tokens` at the model's on-demand price.
    pub dollars: f64,
}

impl Totals {
    /// The totals as the [`embedrock_core::Usage`] every embedder reports.
    pub fn usage(&self) -> embedrock_core::Usage {
        let mut u = embedrock_core::Usage::default();
        u.calls = self.calls;
        u.texts = self.items_done;
        u.tokens = self.tokens;
        u.dollars = self.dollars;
        u.retries = self.retries;
        u.throttled = self.throttled;
        u.cache_hits = self.cache_hits;
        u.cache_misses = self.cache_misses;
        u.failed = self.items_failed;
        u
    }

    /// Cache hits over lookups, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let n = self.cache_hits + self.cache_misses;
        if n == 0 {
            0.0
        } else {
            self.cache_hits as f64 / n as f64
        }
    }
}

/// What one successful call counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTokens {
    /// The sum of the body's per-text counts, when it has them.
    pub body: Option<usize>,
    /// The header's count, when present.
    pub header: Option<usize>,
}

impl CallTokens {
    /// The count that is billed.
    pub fn billed(&self) -> usize {
        self.header.or(self.body).unwrap_or(0)
    }
}

impl Accounting {
    pub(crate) fn attempt(&self, retry: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn throttle(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn call(&self, tokens: CallTokens) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let add = |c: &AtomicU64, v: Option<usize>| {
            if let Some(v) = v {
                c.fetch_add(v as u64, Ordering::Relaxed);
            }
        };
        add(&self.body_tokens, tokens.body);
        add(&self.header_tokens, tokens.header);
        add(&self.billed_tokens, Some(tokens.billed()));
    }

    pub(crate) fn items(&self, done: usize, failed: usize) {
        self.items_done.fetch_add(done as u64, Ordering::Relaxed);
        self.items_failed
            .fetch_add(failed as u64, Ordering::Relaxed);
    }

    pub(crate) fn cache(&self, hits: usize, misses: usize) {
        self.cache_hits.fetch_add(hits as u64, Ordering::Relaxed);
        self.cache_misses
            .fetch_add(misses as u64, Ordering::Relaxed);
    }

    /// The totals now, priced with `info`'s on-demand price.
    pub fn snapshot(&self, info: Option<&ModelInfo>) -> Totals {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let tokens = g(&self.billed_tokens);
        Totals {
            calls: g(&self.calls),
            attempts: g(&self.attempts),
            retries: g(&self.retries),
            throttled: g(&self.throttled),
            items_done: g(&self.items_done),
            items_failed: g(&self.items_failed),
            body_tokens: g(&self.body_tokens),
            header_tokens: g(&self.header_tokens),
            tokens,
            cache_hits: g(&self.cache_hits),
            cache_misses: g(&self.cache_misses),
            dollars: info.map_or(0.0, |i| i.cost(tokens as usize)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_wins_and_dollars_follow_the_catalogue() {
        let a = Accounting::default();
        a.attempt(false);
        a.attempt(true);
        a.call(CallTokens {
            body: Some(10),
            header: Some(12),
        });
        a.call(CallTokens {
            body: Some(1_000_000),
            header: None,
        });
        a.cache(3, 1);
        let info = embedrock_core::Catalogue::get("amazon.titan-embed-text-v2:0").unwrap();
        let t = a.snapshot(Some(info));
        assert_eq!(t.tokens, 1_000_012);
        assert_eq!(t.body_tokens, 1_000_010);
        assert_eq!(t.header_tokens, 12);
        assert_eq!(t.retries, 1);
        assert!((t.dollars - 0.02 * 1.000012).abs() < 1e-9);
        assert!((t.hit_rate() - 0.75).abs() < 1e-12);
    }
}
