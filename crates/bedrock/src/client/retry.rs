//! Which failures are worth another attempt, and how long to wait first.
//!
//! The SDK's own retries are switched off so that every attempt passes
//! through the [`super::limiter::AdaptiveLimiter`] and is counted. The
//! classification follows the SDKs' standard mode (bedrock-api.md §3.3):
//! throttling, `ModelNotReadyException`, 500/502/503/504 and transport
//! failures are retried; validation, access, quota and model errors are not.

use std::time::Duration;

use rand::Rng;

use crate::ErrorKind;

/// How many attempts, and the jittered exponential backoff between them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Attempts per call when every failure was throttling, which says
    /// "slow down" rather than "broken"; the adaptive limit does the slowing.
    pub max_throttled_attempts: u32,
    /// The backoff ceiling of the first retry.
    pub base: Duration,
    /// The most one wait may last.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            max_throttled_attempts: 50,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first): "full
    /// jitter", uniform between zero and `min(cap, base * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let ceiling = exp.min(self.cap);
        let f: f64 = rand::rng().random();
        ceiling.mul_f64(f)
    }
}

/// Why one call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The service answered with an error.
    Service {
        /// The exception, when it is one Bedrock has.
        kind: Option<ErrorKind>,
        /// The error code as received.
        code: String,
        /// The service's message.
        message: String,
        /// The HTTP status.
        status: u16,
    },
    /// The request never got an answer: connection refused or reset, time-out.
    Transport(String),
    /// The request could not be built, or the answer not read.
    Local(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Service {
                code,
                message,
                status,
                ..
            } => write!(f, "{code} (HTTP {status}): {message}"),
            CallError::Transport(m) => write!(f, "no answer from the service: {m}"),
            CallError::Local(m) => write!(f, "{m}"),
        }
    }
}

impl CallError {
    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            CallError::Service { kind, status, .. } => match kind {
                Some(
                    ErrorKind::Throttling
                    | ErrorKind::ModelNotReady
                    | ErrorKind::InternalServer
                    | ErrorKind::ServiceUnavailable,
                ) => true,
                Some(_) => false,
                None => matches!(status, 429 | 500 | 502 | 503 | 504),
            },
            CallError::Transport(_) => true,
            CallError::Local(_) => false,
        }
    }

    /// Whether the service said to slow down (the signal for the limiter).
    pub fn is_throttle(&self) -> bool {
        matches!(
            self,
            CallError::Service {
                kind: Some(ErrorKind::Throttling),
                ..
            }
        )
    }

    /// The error code, or `Transport`/`Client`.
    pub fn code(&self) -> &str {
        match self {
            CallError::Service { code, .. } => code,
            CallError::Transport(_) => "Transport",
            CallError::Local(_) => "Client",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: ErrorKind) -> CallError {
        CallError::Service {
            kind: Some(kind),
            code: kind.name().into(),
            message: "m".into(),
            status: kind.status(),
        }
    }

    #[test]
    fn classification_follows_standard_mode() {
        for k in [
            ErrorKind::Throttling,
            ErrorKind::ModelNotReady,
            ErrorKind::InternalServer,
            ErrorKind::ServiceUnavailable,
        ] {
            assert!(service(k).retryable(), "{k:?}");
        }
        for k in [
            ErrorKind::Validation,
            ErrorKind::AccessDenied,
            ErrorKind::ServiceQuotaExceeded,
            ErrorKind::ModelError,
            ErrorKind::ModelTimeout,
            ErrorKind::ResourceNotFound,
        ] {
            assert!(!service(k).retryable(), "{k:?}");
        }
        assert!(service(ErrorKind::Throttling).is_throttle());
        assert!(!service(ErrorKind::ModelNotReady).is_throttle());
        assert!(CallError::Transport("reset".into()).retryable());
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy::default();
        for retry in 1..40 {
            let d = p.backoff(retry);
            assert!(d <= p.cap);
            assert!(d <= p.base.saturating_mul(1 << (retry - 1).min(20)));
        }
    }
}
