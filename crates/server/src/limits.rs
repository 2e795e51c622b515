//! Bounds on the work one request can ask for, checked before any work
//! starts, and admission control over the work of all requests.
//!
//! Character caps per text come from the catalogue row of the route's family
//! ([`ModelInfo::max_text_chars`]): the documented character limit where
//! Bedrock gives one (Titan Text v2 50,000; Cohere v3 2,048), else the token
//! limit times [`embedrock_core::catalogue::CHARS_PER_TOKEN_BOUND`] (Titan
//! Text v1 131,072; Titan Multimodal 4,096; Cohere v4 2,048,000). The codec
//! applies the same caps when it decodes a body; checking them here again is
//! what bounds the OpenAI route, whose cap is 50,000 characters an input.
//! Every request is also bounded by `max_request_chars` over all its texts
//! and by `max_body_bytes`.
//!
//! Admission control counts texts: a request holds one permit per text (at
//! most the whole limit) while it is tokenised and embedded. A request that
//! finds too few permits free is refused at once with the surface's
//! throttling error rather than queued, so a burst cannot pile up unbounded
//! work behind the model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use embedrock_bedrock::{ErrorKind, WireError};
use embedrock_core::{Catalogue, Family, ModelInfo};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most characters one text may have on a family's route: its catalogue
/// row's bound (rows of one family share their limits).
pub fn max_chars_per_text(family: Family) -> usize {
    Catalogue::all()
        .iter()
        .find(|m| m.family == family)
        .and_then(ModelInfo::max_text_chars)
        .unwrap_or(OPENAI_MAX_CHARS_PER_INPUT)
}

/// The most inputs one `/v1/embeddings` request may carry (OpenAI's limit).
pub const OPENAI_MAX_INPUTS: usize = 2048;
/// The most characters one `/v1/embeddings` input may have (OpenAI's 8,192
/// tokens at about six characters a token).
pub const OPENAI_MAX_CHARS_PER_INPUT: usize = 50_000;

/// A text or a request over its character cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    /// The text's position, or `None` for the request's total.
    pub index: Option<usize>,
    /// Its characters (counted up to just past the cap).
    pub chars: usize,
    /// The cap.
    pub max: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(
                f,
                "Input {i} is too long: it has more than {} characters; the limit is {} characters per text on this server.",
                self.max, self.max
            ),
            None => write!(
                f,
                "The request's texts have more than {} characters in total; the limit is {} per request on this server.",
                self.max, self.max
            ),
        }
    }
}

impl From<TooLong> for WireError {
    fn from(e: TooLong) -> Self {
        WireError::new(ErrorKind::Validation, e.to_string())
    }
}

/// Checks every text against `per_text` characters and all of them against
/// `total` characters. Counting stops at the first text over its cap, so the
/// check costs at most the request's size.
pub fn check_chars(texts: &[String], per_text: usize, total: usize) -> Result<(), TooLong> {
    let mut sum = 0usize;
    for (i, t) in texts.iter().enumerate() {
        let n = t.chars().count();
        if n > per_text {
            return Err(TooLong {
                index: Some(i),
                chars: n,
                max: per_text,
            });
        }
        sum = sum.saturating_add(n);
        if sum > total {
            return Err(TooLong {
                index: None,
                chars: sum,
                max: total,
            });
        }
    }
    Ok(())
}

/// The bounded amount of embedding work in flight, counted in texts.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    permits: Arc<Semaphore>,
    rejected: AtomicU64,
}

/// Permits held by one request; dropping them gives them back.
#[derive(Debug)]
pub struct Admitted(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

/// What [`Admission`] reports in `/_embedrock/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AdmissionReport {
    /// Texts being tokenised or embedded now.
    pub in_flight_texts: usize,
    /// The limit (0: admission control is off).
    pub limit: usize,
    /// Requests refused because the limit was reached, since start.
    pub rejected: u64,
}

impl Admission {
    /// Admission of at most `limit` texts at once; 0 admits everything.
    pub fn new(limit: usize) -> Self {
        let permits = limit.min(Semaphore::MAX_PERMITS);
        Admission {
            limit: permits,
            permits: Arc::new(Semaphore::new(permits)),
            rejected: AtomicU64::new(0),
        }
    }

    /// Takes permits for `texts` texts (at most the whole limit, so any
    /// request can run alone), or refuses at once.
    pub fn try_admit(&self, texts: usize) -> Result<Admitted, WireError> {
        if self.limit == 0 || texts == 0 {
            return Ok(Admitted(None));
        }
        let n = u32::try_from(texts.min(self.limit)).unwrap_or(u32::MAX);
        match self.permits.clone().try_acquire_many_owned(n) {
            Ok(p) => Ok(Admitted(Some(p))),
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(WireError::new(
                    ErrorKind::Throttling,
                    "Too many requests, please wait before trying again.",
                ))
            }
        }
    }

    /// The figures for the health route.
    pub fn report(&self) -> AdmissionReport {
        AdmissionReport {
            in_flight_texts: self.limit - self.permits.available_permits().min(self.limit),
            limit: self.limit,
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn caps_are_checked_per_text_and_in_total() {
        let ok = vec!["é".repeat(10), "abc".into()];
        assert!(check_chars(&ok, 10, 13).is_ok());
        let e = check_chars(&ok, 9, 100).unwrap_err();
        assert_eq!((e.index, e.chars, e.max), (Some(0), 10, 9));
        let e = check_chars(&ok, 10, 12).unwrap_err();
        assert_eq!((e.index, e.max), (None, 12));
        assert!(e.to_string().contains("in total"));
    }

    #[test]
    fn derived_caps() {
        assert_eq!(max_chars_per_text(Family::TitanTextV1), 131_072);
        assert_eq!(max_chars_per_text(Family::TitanTextV2), 50_000);
        assert_eq!(max_chars_per_text(Family::TitanMultimodal), 4_096);
        assert_eq!(max_chars_per_text(Family::CohereV3), 2_048);
        assert_eq!(max_chars_per_text(Family::CohereV4), 2_048_000);
        assert_eq!(max_chars_per_text(Family::LocalBert), 256 * 16);
    }

    #[test]
    fn admission_refuses_beyond_the_limit_and_counts() {
        let a = Admission::new(4);
        let first = a.try_admit(3).unwrap();
        assert_eq!(a.report().in_flight_texts, 3);
        let e = a.try_admit(2).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Throttling);
        let one = a.try_admit(1).unwrap();
        drop(first);
        // A request larger than the whole limit runs alone.
        assert!(a.try_admit(100).is_err());
        drop(one);
        let all = a.try_admit(100).unwrap();
        assert_eq!(a.report().in_flight_texts, 4);
        drop(all);
        assert_eq!(
            a.report(),
            AdmissionReport {
                in_flight_texts: 0,
                limit: 4,
                rejected: 2
            }
        );
        let off = Admission::new(0);
        for _ in 0..10 {
            std::mem::forget(off.try_admit(1000).unwrap());
        }
        assert_eq!(off.report().rejected, 0);
    }
}
