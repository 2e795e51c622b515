//! Stopping work whose caller is gone: a shared flag and an optional deadline,
//! checked between batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::{Error, Result};

/// A cancel flag and an optional deadline, shared by the caller and the
/// worker threads. Clones share the flag.
///
/// The engine checks it before each tokenizer chunk and each forward batch,
/// so cancelled work stops at the next batch boundary with
/// [`Error::Cancelled`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use embedrock_local::CancelToken;
///
/// let token = CancelToken::new().with_deadline(Instant::now() + Duration::from_secs(30));
/// assert!(token.check().is_ok());
/// let other = token.clone();
/// other.cancel();
/// assert!(token.check().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl CancelToken {
    /// A token that is not cancelled and has no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same token with a deadline: once it passes, checks fail.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Cancels the work of every clone of this token.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether the work should stop: cancelled, or past the deadline.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// `Err(Error::Cancelled)` when the work should stop.
    pub fn check(&self) -> Result<()> {
        if self.flag.load(Ordering::Relaxed) {
            return Err(Error::Cancelled("the caller cancelled the request".into()));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Cancelled("the request's deadline passed".into()));
        }
        Ok(())
    }

    /// A guard that cancels the token when dropped: held by a future, it
    /// stops the blocking work when the future is dropped.
    pub fn drop_guard(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }
}

/// Cancels its token when dropped (see [`CancelToken::drop_guard`]).
#[derive(Debug)]
pub struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    /// Lets the work run on: the token is no longer cancelled on drop.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = &self.0 {
            token.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_and_deadline() {
        let token = CancelToken::new();
        {
            let _guard = token.drop_guard();
            assert!(!token.is_cancelled());
        }
        assert!(token.is_cancelled());
        assert!(token.check().unwrap_err().to_string().contains("cancel"));

        let kept = CancelToken::new();
        kept.drop_guard().disarm();
        assert!(kept.check().is_ok());

        let late = CancelToken::new().with_deadline(Instant::now());
        assert!(late.check().unwrap_err().to_string().contains("deadline"));
    }
}
