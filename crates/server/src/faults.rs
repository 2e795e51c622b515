//! Misbehaving on purpose, so clients can be tested against what the real
//! service does: added latency, request and token quotas answered with
//! `ThrottlingException`, a fraction of 5xx answers, `ModelNotReadyException`
//! for a while after start, and `ModelTimeoutException` above an input size.
//!
//! Every random choice comes from one generator seeded from the
//! configuration, drawn in request order, so a sequential client sees the
//! same faults on every run. Quotas are token buckets refilled continuously.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use embedrock_bedrock::{ErrorKind, WireError};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Added latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Latency {
    /// Always this many milliseconds.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform between two values.
    Uniform {
        /// Least milliseconds.
        min_ms: u64,
        /// Most milliseconds.
        max_ms: u64,
    },
    /// Exponential with this mean (a long tail, as real latency has).
    Exponential {
        /// Mean milliseconds.
        mean_ms: u64,
    },
}

/// What to inject. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FaultConfig {
    /// Seed of the random choices.
    pub seed: u64,
    /// Latency added before answering.
    pub latency: Option<Latency>,
    /// Requests per minute before `ThrottlingException`.
    pub requests_per_minute: Option<u32>,
    /// Input tokens per minute before `ThrottlingException`.
    pub tokens_per_minute: Option<u32>,
    /// Fraction (0 to 1) of requests answered with a 5xx.
    pub error_rate: f64,
    /// Of those, the fraction answered `ServiceUnavailableException` (503);
    /// the rest get `InternalServerException` (500). Default 0.5.
    pub unavailable_share: Option<f64>,
    /// Seconds after start (or after this configuration was set) during
    /// which every request gets `ModelNotReadyException`.
    pub not_ready_seconds: f64,
    /// Requests with more input tokens than this get `ModelTimeoutException`.
    pub timeout_above_tokens: Option<usize>,
}

/// A fault setting that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// A `--fault` setting without `=`.
    #[error("fault {0:?} is not key=value")]
    NotKeyValue(String),
    /// A value of the wrong form.
    #[error("fault {key}: {value:?} is not {expected}")]
    BadValue {
        /// The setting.
        key: String,
        /// The value given.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A setting that does not exist.
    #[error("unknown fault {0:?}")]
    Unknown(String),
    /// A value out of its range.
    #[error("{0}")]
    OutOfRange(&'static str),
}

impl FaultConfig {
    /// Parses `key=value` settings as given on the command line:
    /// `latency=50ms`, `latency=10ms..200ms`, `latency=exp:40ms`, `rpm=600`,
    /// `tpm=100000`, `error-rate=0.1`, `unavailable-share=0.5`,
    /// `not-ready=30s`, `timeout-above-tokens=200`, `seed=7`.
    pub fn parse_spec(specs: &[String]) -> Result<FaultConfig, FaultError> {
        let mut c = FaultConfig::default();
        for spec in specs
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
        {
            let (k, v) = spec
                .split_once('=')
                .ok_or_else(|| FaultError::NotKeyValue(spec.to_string()))?;
            let (k, v) = (k.trim(), v.trim());
            let bad = |expected: &'static str| FaultError::BadValue {
                key: k.to_string(),
                value: v.to_string(),
                expected,
            };
            match k {
                "seed" => c.seed = v.parse().map_err(|_| bad("an integer"))?,
                "latency" => {
                    c.latency = Some(if let Some(mean) = v.strip_prefix("exp:") {
                        Latency::Exponential {
                            mean_ms: parse_ms(mean).ok_or_else(|| bad("a duration"))?,
                        }
                    } else if let Some((a, b)) = v.split_once("..") {
                        Latency::Uniform {
                            min_ms: parse_ms(a).ok_or_else(|| bad("a duration"))?,
                            max_ms: parse_ms(b).ok_or_else(|| bad("a duration"))?,
                        }
                    } else {
                        Latency::Fixed {
                            ms: parse_ms(v).ok_or_else(|| bad("a duration"))?,
                        }
                    })
                }
                "rpm" | "requests-per-minute" => {
                    c.requests_per_minute = Some(v.parse().map_err(|_| bad("an integer"))?)
                }
                "tpm" | "tokens-per-minute" => {
                    c.tokens_per_minute = Some(v.parse().map_err(|_| bad("an integer"))?)
                }
                "error-rate" => c.error_rate = v.parse().map_err(|_| bad("a number"))?,
                "unavailable-share" => {
                    c.unavailable_share = Some(v.parse().map_err(|_| bad("a number"))?)
                }
                "not-ready" => {
                    c.not_ready_seconds =
                        parse_ms(v).ok_or_else(|| bad("a duration"))? as f64 / 1000.0
                }
                "timeout-above-tokens" => {
                    c.timeout_above_tokens = Some(v.parse().map_err(|_| bad("an integer"))?)
                }
                other => return Err(FaultError::Unknown(other.to_string())),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values are in range.
    pub fn validate(&self) -> Result<(), FaultError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(FaultError::OutOfRange("error_rate must be between 0 and 1"));
        }
        if self
            .unavailable_share
            .is_some_and(|s| !(0.0..=1.0).contains(&s))
        {
            return Err(FaultError::OutOfRange(
                "unavailable_share must be between 0 and 1",
            ));
        }
        if !(self.not_ready_seconds >= 0.0 && self.not_ready_seconds.is_finite()) {
            return Err(FaultError::OutOfRange(
                "not_ready_seconds must be 0 or more",
            ));
        }
        if let Some(Latency::Uniform { min_ms, max_ms }) = self.latency {
            if min_ms > max_ms {
                return Err(FaultError::OutOfRange(
                    "latency: the minimum is above the maximum",
                ));
            }
        }
        Ok(())
    }
}

/// A duration such as `250ms`, `2s`, `1.5s` or a bare number of milliseconds.
fn parse_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0 && v.is_finite()).then(|| (v * scale).round() as u64)
}

/// What was injected so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultCounters {
    /// Requests seen by the fault layer.
    pub requests: u64,
    /// Requests delayed.
    pub delayed: u64,
    /// Milliseconds of delay added in total.
    pub delay_ms_total: u64,
    /// `ThrottlingException` for the request quota.
    pub throttled_requests: u64,
    /// `ThrottlingException` for the token quota.
    pub throttled_tokens: u64,
    /// `InternalServerException` injected.
    pub internal_errors: u64,
    /// `ServiceUnavailableException` injected.
    pub unavailable: u64,
    /// `ModelNotReadyException` injected.
    pub not_ready: u64,
    /// `ModelTimeoutException` injected.
    pub timeouts: u64,
}

struct Bucket {
    capacity: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u32, now: Instant) -> Self {
        Bucket {
            capacity: f64::from(per_minute),
            level: f64::from(per_minute),
            at: now,
        }
    }

    fn take(&mut self, n: f64, now: Instant) -> bool {
        let refill = now.duration_since(self.at).as_secs_f64() * self.capacity / 60.0;
        self.level = (self.level + refill).min(self.capacity);
        self.at = now;
        if self.level >= n {
            self.level -= n;
            true
        } else {
            false
        }
    }
}

struct State {
    config: FaultConfig,
    since: Instant,
    rng: rand::rngs::StdRng,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    counters: FaultCounters,
}

impl State {
    fn new(config: FaultConfig) -> Self {
        let now = Instant::now();
        State {
            rng: rand::rngs::StdRng::seed_from_u64(config.seed),
            requests: config.requests_per_minute.map(|n| Bucket::new(n, now)),
            tokens: config.tokens_per_minute.map(|n| Bucket::new(n, now)),
            since: now,
            config,
            counters: FaultCounters::default(),
        }
    }
}

/// The live fault settings and counters, shared by all requests.
pub struct Faults {
    state: Mutex<State>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("config", &self.config())
            .finish()
    }
}

const THROTTLED: &str = "Too many requests, please wait before trying again.";
const THROTTLED_TOKENS: &str = "Too many tokens, please wait before trying again.";

impl Faults {
    /// Faults with this configuration, counting time from now.
    pub fn new(config: FaultConfig) -> Self {
        Faults {
            state: Mutex::new(State::new(config)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in force.
    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    /// What was injected so far.
    pub fn counters(&self) -> FaultCounters {
        self.lock().counters.clone()
    }

    /// Replaces the configuration: the generator is reseeded, the buckets
    /// refilled and the not-ready window starts again. Counters are kept.
    pub fn set(&self, config: FaultConfig) {
        let mut s = self.lock();
        let counters = std::mem::take(&mut s.counters);
        *s = State::new(config);
        s.counters = counters;
    }

    /// Checks a request before any work: not-ready window, request quota,
    /// injected 5xx. Returns the delay to add when it may go on.
    pub fn admit(&self) -> Result<Duration, WireError> {
        let now = Instant::now();
        let mut s = self.lock();
        s.counters.requests = s.counters.requests.saturating_add(1);
        if now.duration_since(s.since).as_secs_f64() < s.config.not_ready_seconds {
            s.counters.not_ready += 1;
            return Err(WireError::new(
                ErrorKind::ModelNotReady,
                "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.",
            ));
        }
        if let Some(b) = s.requests.as_mut() {
            if !b.take(1.0, now) {
                s.counters.throttled_requests += 1;
                return Err(WireError::new(ErrorKind::Throttling, THROTTLED));
            }
        }
        // Draw the error and the latency in a fixed order, so the sequence is
        // the same for a given seed whatever the settings.
        let roll: f64 = s.rng.random();
        let share: f64 = s.rng.random();
        let lat: f64 = s.rng.random();
        if roll < s.config.error_rate {
            return Err(if share < s.config.unavailable_share.unwrap_or(0.5) {
                s.counters.unavailable += 1;
                WireError::new(
                    ErrorKind::ServiceUnavailable,
                    "Service unavailable. Try your request again.",
                )
            } else {
                s.counters.internal_errors += 1;
                WireError::new(
                    ErrorKind::InternalServer,
                    "The server encountered an internal error while processing the request.",
                )
            });
        }
        let ms = match s.config.latency {
            None => 0,
            Some(Latency::Fixed { ms }) => ms,
            Some(Latency::Uniform { min_ms, max_ms }) => {
                min_ms + ((max_ms - min_ms) as f64 * lat).round() as u64
            }
            Some(Latency::Exponential { mean_ms }) => {
                (-(1.0 - lat).max(f64::MIN_POSITIVE).ln() * mean_ms as f64).round() as u64
            }
        };
        if ms > 0 {
            s.counters.delayed += 1;
            // Saturates rather than wraps: a huge latency setting must not
            // turn the total back to a small number.
            s.counters.delay_ms_total = s.counters.delay_ms_total.saturating_add(ms);
        }
        Ok(Duration::from_millis(ms))
    }

    /// Checks a request's input size: the token quota and the timeout threshold.
    pub fn check_tokens(&self, tokens: usize) -> Result<(), WireError> {
        let now = Instant::now();
        let mut s = self.lock();
        if s.config
            .timeout_above_tokens
            .is_some_and(|max| tokens > max)
        {
            s.counters.timeouts += 1;
            return Err(WireError::new(
                ErrorKind::ModelTimeout,
                "Model has timed out in processing the request. Try your request again.",
            ));
        }
        if let Some(b) = s.tokens.as_mut() {
            if !b.take(tokens as f64, now) {
                s.counters.throttled_tokens += 1;
                return Err(WireError::new(ErrorKind::Throttling, THROTTLED_TOKENS));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn specs_parse() {
        let c = FaultConfig::parse_spec(&[
            "latency=10ms..30ms,rpm=5".into(),
            "error-rate=0.25".into(),
            "not-ready=2s".into(),
            "timeout-above-tokens=100".into(),
            "seed=9".into(),
        ])
        .unwrap();
        assert_eq!(
            c.latency,
            Some(Latency::Uniform {
                min_ms: 10,
                max_ms: 30
            })
        );
        assert_eq!(c.requests_per_minute, Some(5));
        assert_eq!(c.not_ready_seconds, 2.0);
        assert_eq!(c.seed, 9);
        assert!(FaultConfig::parse_spec(&["error-rate=2".into()]).is_err());
        assert!(FaultConfig::parse_spec(&["nonsense=1".into()]).is_err());
        assert!(FaultConfig::parse_spec(&["latency=fast".into()]).is_err());
        assert_eq!(
            FaultConfig::parse_spec(&["latency=exp:1.5s".into()])
                .unwrap()
                .latency,
            Some(Latency::Exponential { mean_ms: 1500 })
        );
    }

    fn outcomes(seed: u64) -> Vec<String> {
        let f = Faults::new(FaultConfig {
            seed,
            error_rate: 0.3,
            latency: Some(Latency::Uniform {
                min_ms: 0,
                max_ms: 100,
            }),
            ..FaultConfig::default()
        });
        (0..50)
            .map(|_| match f.admit() {
                Ok(d) => d.as_millis().to_string(),
                Err(e) => e.kind.name().to_string(),
            })
            .collect()
    }

    #[test]
    fn delay_total_saturates() {
        let f = Faults::new(FaultConfig {
            latency: Some(Latency::Fixed {
                ms: u64::MAX / 2 + 1,
            }),
            ..FaultConfig::default()
        });
        for _ in 0..3 {
            assert!(f.admit().is_ok());
        }
        let c = f.counters();
        assert_eq!(c.delayed, 3);
        assert_eq!(c.delay_ms_total, u64::MAX);
    }

    #[test]
    fn deterministic_under_a_seed() {
        assert_eq!(outcomes(1), outcomes(1));
        assert_ne!(outcomes(1), outcomes(2));
        let errors = outcomes(1)
            .iter()
            .filter(|o| o.ends_with("Exception"))
            .count();
        assert!(
            (5..=25).contains(&errors),
            "{errors} errors of 50 at rate 0.3"
        );
    }

    #[test]
    fn quotas_and_windows() {
        let f = Faults::new(FaultConfig {
            requests_per_minute: Some(3),
            tokens_per_minute: Some(100),
            timeout_above_tokens: Some(50),
            ..FaultConfig::default()
        });
        for _ in 0..3 {
            assert!(f.admit().is_ok());
        }
        assert_eq!(f.admit().unwrap_err().kind, ErrorKind::Throttling);
        assert_eq!(
            f.check_tokens(60).unwrap_err().kind,
            ErrorKind::ModelTimeout
        );
        assert!(f.check_tokens(50).is_ok());
        assert!(f.check_tokens(50).is_ok());
        assert_eq!(f.check_tokens(10).unwrap_err().kind, ErrorKind::Throttling);
        let c = f.counters();
        assert_eq!(
            (
                c.requests,
                c.throttled_requests,
                c.throttled_tokens,
                c.timeouts
            ),
            (4, 1, 1, 1)
        );
        f.set(FaultConfig {
            not_ready_seconds: 60.0,
            ..FaultConfig::default()
        });
        assert_eq!(f.admit().unwrap_err().kind, ErrorKind::ModelNotReady);
        assert_eq!(f.counters().not_ready, 1);
        assert_eq!(f.counters().requests, 5);
    }
}
