//! The error type shared by every [`crate::Embedder`].

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when asking for embeddings. Each variant carries the facts
/// needed to act on it, so messages can name the model, the item and the limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request held no texts.
    #[error("no input: give at least one text to embed")]
    EmptyInput,
    /// The model does not produce the requested number of dimensions.
    #[error(
        "model {model} does not support {requested} dimensions (allowed: {})",
        join(allowed)
    )]
    DimensionsNotAllowed {
        /// The model asked for.
        model: String,
        /// The number of dimensions requested.
        requested: usize,
        /// The values the model accepts.
        allowed: Vec<usize>,
    },
    /// More texts in one call than the model takes.
    #[error("model {model} takes at most {max} texts per call, got {size}")]
    BatchTooLarge {
        /// The model asked for.
        model: String,
        /// How many texts were sent.
        size: usize,
        /// The model's limit.
        max: usize,
    },
    /// One input is longer than the model accepts.
    #[error("input {index} is too long for model {model}: {length} {unit}, the limit is {max}")]
    InputTooLong {
        /// The model asked for.
        model: String,
        /// Position of the input in the request.
        index: usize,
        /// Its length.
        length: usize,
        /// The limit.
        max: usize,
        /// What is counted: "tokens" or "characters".
        unit: &'static str,
    },
    /// No model of that name is known.
    #[error("unknown model {model:?}{}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    UnknownModel {
        /// The name given.
        model: String,
        /// A suggestion, such as the list of known names.
        hint: Option<String>,
    },
    /// The request is well formed but asks for something this embedder cannot do.
    #[error("{what} is not supported by {model}")]
    Unsupported {
        /// The model asked for.
        model: String,
        /// The feature asked for.
        what: String,
    },
    /// The request itself is invalid.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The caller went away or its deadline passed, and the work was stopped.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// The backend (a model runtime, a remote service) failed.
    #[error("{message}")]
    Backend {
        /// What failed, in words.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// A backend failure with a message and an underlying cause.
    pub fn backend(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A backend failure described by a message alone.
    pub fn backend_msg(message: impl Into<String>) -> Self {
        Error::Backend {
            message: message.into(),
            source: None,
        }
    }
}

/// A name that is not one of the accepted values: an input type, an output
/// type, a model family, a setting's value.
///
/// ```
/// use embedrock_core::OutputType;
/// let e = "bits".parse::<OutputType>().unwrap_err();
/// assert_eq!(e.given, "bits");
/// assert!(e.to_string().starts_with("unknown output type \"bits\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (expected {expected})")]
#[non_exhaustive]
pub struct UnknownName {
    /// What was being named ("input type", "family", ...).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The accepted names, in words.
    pub expected: &'static str,
}

impl UnknownName {
    /// `given` is not a `what`; `expected` lists the accepted names.
    pub fn new(what: &'static str, given: impl Into<String>, expected: &'static str) -> Self {
        UnknownName {
            what,
            given: given.into(),
            expected,
        }
    }
}

impl From<UnknownName> for String {
    fn from(e: UnknownName) -> String {
        e.to_string()
    }
}

impl From<UnknownName> for Error {
    fn from(e: UnknownName) -> Error {
        Error::InvalidRequest(e.to_string())
    }
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_facts() {
        let e = Error::DimensionsNotAllowed {
            model: "amazon.titan-embed-text-v2:0".into(),
            requested: 384,
            allowed: vec![256, 512, 1024],
        };
        assert_eq!(
            e.to_string(),
            "model amazon.titan-embed-text-v2:0 does not support 384 dimensions (allowed: 256, 512, 1024)"
        );
        let e = Error::UnknownModel {
            model: "nope".into(),
            hint: Some("known: a, b".into()),
        };
        assert_eq!(e.to_string(), "unknown model \"nope\": known: a, b");
    }
}
