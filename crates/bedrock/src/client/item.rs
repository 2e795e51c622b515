//! One item's result in a bulk run: its vector, or the typed reason it has
//! none.

use embedrock_core::TypedEmbeddings;

use super::retry::CallError;
use crate::ErrorKind;

/// One embedded item.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Item {
    /// The float vector.
    pub vector: Vec<f32>,
    /// Input tokens for it: the service's own count where the body gives
    /// one per text (Titan), else its share, by characters, of its call's
    /// count (Cohere counts a whole call in a header); see `counted`.
    pub tokens: usize,
    /// Whether `tokens` is the service's count for this item alone.
    pub counted: bool,
    /// Quantised forms, one row each, when asked for.
    pub typed: TypedEmbeddings,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// What kind of failure an [`ItemError`] is. It is written (in JSON and by
/// `Display`) as the strings `InputTooLong`, `Transport`, `Client`, or the
/// service's exception name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemCode {
    /// The service answered with one of Bedrock's exceptions.
    Service(ErrorKind),
    /// The service answered with an error code Bedrock does not document.
    OtherService(String),
    /// The input is over the model's limit (characters, or the service's
    /// "Too many input tokens").
    InputTooLong,
    /// The request never got an answer.
    Transport,
    /// The request could not be built, or the answer not read.
    Client,
}

impl ItemCode {
    /// The code as written in output.
    pub fn as_str(&self) -> &str {
        match self {
            ItemCode::Service(kind) => kind.name(),
            ItemCode::OtherService(code) => code,
            ItemCode::InputTooLong => "InputTooLong",
            ItemCode::Transport => "Transport",
            ItemCode::Client => "Client",
        }
    }

    /// The code of a failed call: `InputTooLong` for Bedrock's "Too many
    /// input tokens", else the call's own.
    pub fn of_call(e: &CallError) -> ItemCode {
        match e {
            CallError::Service { message, .. } if crate::is_too_many_tokens(message) => {
                ItemCode::InputTooLong
            }
            CallError::Service {
                kind: Some(kind), ..
            } => ItemCode::Service(*kind),
            CallError::Service { code, .. } => ItemCode::OtherService(code.clone()),
            CallError::Transport(_) => ItemCode::Transport,
            CallError::Local(_) => ItemCode::Client,
        }
    }
}

impl std::fmt::Display for ItemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ItemCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ItemCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ItemCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why one item has no vector.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("item {index}: {code}: {message} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
#[non_exhaustive]
pub struct ItemError {
    /// The item's position in the request.
    pub index: usize,
    /// What kind of failure it is.
    pub code: ItemCode,
    /// The reason.
    pub message: String,
    /// Calls made for it (0 when it was refused before any call).
    pub attempts: u32,
    /// Whether the last error was one that may pass if tried later.
    pub retryable: bool,
}

impl ItemError {
    /// An error of item `index`.
    pub fn new(
        index: usize,
        code: ItemCode,
        message: impl Into<String>,
        attempts: u32,
        retryable: bool,
    ) -> Self {
        ItemError {
            index,
            code,
            message: message.into(),
            attempts,
            retryable,
        }
    }

    /// Item `index`'s error from a failed call after `attempts` attempts.
    pub fn of_call(index: usize, e: &CallError, attempts: u32) -> Self {
        ItemError {
            index,
            code: ItemCode::of_call(e),
            message: match e {
                CallError::Service { message, .. } => message.clone(),
                other => other.to_string(),
            },
            attempts,
            retryable: e.retryable(),
        }
    }
}

impl From<ItemError> for embedrock_core::Error {
    fn from(e: ItemError) -> Self {
        embedrock_core::Error::backend(e.to_string(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_as_before() {
        let too_long = CallError::Service {
            kind: Some(ErrorKind::Validation),
            code: "ValidationException".into(),
            message: crate::WireError::too_many_tokens(8192, 9000).message,
            status: 400,
        };
        assert_eq!(ItemCode::of_call(&too_long), ItemCode::InputTooLong);
        let throttled = CallError::Service {
            kind: Some(ErrorKind::Throttling),
            code: "ThrottlingException".into(),
            message: "slow down".into(),
            status: 429,
        };
        let e = ItemError::of_call(3, &throttled, 2);
        assert_eq!(e.code, ItemCode::Service(ErrorKind::Throttling));
        assert_eq!(
            serde_json::to_value(&e.code).unwrap(),
            serde_json::json!("ThrottlingException")
        );
        assert_eq!(
            e.to_string(),
            "item 3: ThrottlingException: slow down (after 2 attempts)"
        );
        for (code, text) in [
            (ItemCode::InputTooLong, "InputTooLong"),
            (ItemCode::Transport, "Transport"),
            (ItemCode::Client, "Client"),
            (ItemCode::OtherService("Odd".into()), "Odd"),
        ] {
            assert_eq!(
                serde_json::to_value(&code).unwrap(),
                serde_json::json!(text)
            );
        }
    }
}
