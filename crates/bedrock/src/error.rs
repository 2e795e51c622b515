//! Bedrock's error kinds: the exception names, HTTP statuses and the
//! messages the service is known to send.

/// An exception Bedrock answers with. The name is what goes into the
/// `x-amzn-ErrorType` header, which is where the SDKs read the error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request breaks a rule of the model's input schema or limits.
    Validation,
    /// 403: the caller may not do this.
    AccessDenied,
    /// 404: no such model (or resource).
    ResourceNotFound,
    /// 429: too many requests or tokens for the quota.
    Throttling,
    /// 408: the model took too long.
    ModelTimeout,
    /// 500: the service failed.
    InternalServer,
    /// 503: the service is unavailable for now.
    ServiceUnavailable,
    /// 400: an account quota is exceeded.
    ServiceQuotaExceeded,
    /// 429: the model is not ready to serve yet (retried by the SDKs).
    ModelNotReady,
    /// 424: the model returned an error.
    ModelError,
    /// 403: the request carries no credentials.
    MissingAuthenticationToken,
    /// 403: the access key or token is not known.
    UnrecognizedClient,
    /// 403: the signature does not match, or has expired.
    InvalidSignature,
}

impl ErrorKind {
    /// The exception name as Bedrock writes it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Validation => "ValidationException",
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::ModelTimeout => "ModelTimeoutException",
            ErrorKind::InternalServer => "InternalServerException",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableException",
            ErrorKind::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            ErrorKind::ModelNotReady => "ModelNotReadyException",
            ErrorKind::ModelError => "ModelErrorException",
            ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorKind::UnrecognizedClient => "UnrecognizedClientException",
            ErrorKind::InvalidSignature => "InvalidSignatureException",
        }
    }

    /// The HTTP status Bedrock answers this exception with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Validation | ErrorKind::ServiceQuotaExceeded => 400,
            ErrorKind::AccessDenied
            | ErrorKind::MissingAuthenticationToken
            | ErrorKind::UnrecognizedClient
            | ErrorKind::InvalidSignature => 403,
            ErrorKind::ResourceNotFound => 404,
            ErrorKind::ModelTimeout => 408,
            ErrorKind::ModelError => 424,
            ErrorKind::Throttling | ErrorKind::ModelNotReady => 429,
            ErrorKind::InternalServer => 500,
            ErrorKind::ServiceUnavailable => 503,
        }
    }

    /// Looks a kind up by its exception name, ignoring anything after a `:`
    /// and before a `#`, as botocore does with the `x-amzn-ErrorType` header.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        let name = name.split(':').next().unwrap_or(name);
        let name = name.rsplit('#').next().unwrap_or(name);
        ALL.iter().copied().find(|k| k.name() == name)
    }
}

const ALL: [ErrorKind; 13] = [
    ErrorKind::Validation,
    ErrorKind::AccessDenied,
    ErrorKind::ResourceNotFound,
    ErrorKind::Throttling,
    ErrorKind::ModelTimeout,
    ErrorKind::InternalServer,
    ErrorKind::ServiceUnavailable,
    ErrorKind::ServiceQuotaExceeded,
    ErrorKind::ModelNotReady,
    ErrorKind::ModelError,
    ErrorKind::MissingAuthenticationToken,
    ErrorKind::UnrecognizedClient,
    ErrorKind::InvalidSignature,
];

/// The words Bedrock's message for an input over the token limit starts
/// with (after `400 Bad Request: `); clients recognise the error by them.
pub const TOO_MANY_TOKENS: &str = "Too many input tokens";

/// The limit and the count in a [`TOO_MANY_TOKENS`] message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOverflow {
    /// `Max input tokens: M`.
    pub max: usize,
    /// `request input token count: N`.
    pub count: usize,
}

impl TokenOverflow {
    /// Reads `Max input tokens: M, request input token count: N` out of a
    /// service message; `None` when the message is not that one.
    pub fn parse(message: &str) -> Option<TokenOverflow> {
        if !is_too_many_tokens(message) {
            return None;
        }
        let num_after = |label: &str| -> Option<usize> {
            let rest = &message[message.find(label)? + label.len()..];
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        Some(TokenOverflow {
            max: num_after(MAX_TOKENS_LABEL)?,
            count: num_after(COUNT_LABEL)?,
        })
    }
}

const MAX_TOKENS_LABEL: &str = "Max input tokens:";
const COUNT_LABEL: &str = "request input token count:";

/// Whether a service message is Bedrock's "Too many input tokens".
pub fn is_too_many_tokens(message: &str) -> bool {
    message.contains(TOO_MANY_TOKENS)
}

/// An error in Bedrock's shape: an exception kind and the message that goes
/// into the `{"message": ...}` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.name())]
pub struct WireError {
    /// The exception.
    pub kind: ErrorKind,
    /// The message, as the service would word it.
    pub message: String,
}

impl WireError {
    /// An error of this kind with this message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
        }
    }

    /// A `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        WireError::new(ErrorKind::Validation, message)
    }

    /// Bedrock's "Malformed input request" message for schema violations:
    /// one violation is quoted, several are counted.
    pub fn malformed(violations: &[String]) -> Self {
        let detail = match violations {
            [one] => one.clone(),
            many => format!("{} schema violations found", many.len()),
        };
        WireError::validation(format!(
            "Malformed input request: {detail}, please reformat your input and try again."
        ))
    }

    /// Bedrock's message for an input over the model's token limit.
    ///
    /// ```
    /// use embedrock_bedrock::{TokenOverflow, WireError};
    /// let e = WireError::too_many_tokens(8192, 9875);
    /// assert_eq!(
    ///     e.message,
    ///     "400 Bad Request: Too many input tokens. Max input tokens: 8192, request input token count: 9875"
    /// );
    /// assert_eq!(e.token_overflow(), Some(TokenOverflow { max: 8192, count: 9875 }));
    /// ```
    pub fn too_many_tokens(max: usize, count: usize) -> Self {
        WireError::validation(format!(
            "400 Bad Request: {TOO_MANY_TOKENS}. {MAX_TOKENS_LABEL} {max}, {COUNT_LABEL} {count}"
        ))
    }

    /// The limit and count when this is Bedrock's "Too many input tokens".
    pub fn token_overflow(&self) -> Option<TokenOverflow> {
        TokenOverflow::parse(&self.message)
    }

    /// Bedrock's message for a model id it does not know.
    pub fn invalid_model_id() -> Self {
        WireError::validation("The provided model identifier is invalid.")
    }

    /// The `{"message": ...}` body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "message": self.message })
    }
}

/// A wire error as the error every embedder returns: Bedrock's validation
/// refusals are invalid requests, an unknown model id is an unknown model,
/// and everything else is a backend failure that keeps the wire error as
/// its source (so the exception kind can still be read from it).
impl From<WireError> for embedrock_core::Error {
    fn from(e: WireError) -> Self {
        match e.kind {
            ErrorKind::Validation => embedrock_core::Error::InvalidRequest(e.message),
            ErrorKind::ResourceNotFound => embedrock_core::Error::UnknownModel {
                model: String::new(),
                hint: Some(e.message),
            },
            _ => embedrock_core::Error::backend(e.to_string(), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_statuses() {
        assert_eq!(ErrorKind::Throttling.status(), 429);
        assert_eq!(ErrorKind::ModelNotReady.status(), 429);
        assert_eq!(ErrorKind::ModelTimeout.status(), 408);
        assert_eq!(ErrorKind::ModelError.status(), 424);
        assert_eq!(
            ErrorKind::from_name(
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            ),
            Some(ErrorKind::Throttling)
        );
        assert_eq!(
            ErrorKind::from_name("com.amazon.bedrock#ValidationException"),
            Some(ErrorKind::Validation)
        );
        for k in ALL {
            assert_eq!(ErrorKind::from_name(k.name()), Some(k));
        }
    }

    #[test]
    fn wire_errors_layer_into_core_errors() {
        let e: embedrock_core::Error = WireError::validation("bad").into();
        assert!(matches!(e, embedrock_core::Error::InvalidRequest(ref m) if m == "bad"));
        let e: embedrock_core::Error = WireError::new(ErrorKind::Throttling, "slow").into();
        let source = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<WireError>())
            .map(|w| w.kind);
        assert_eq!(source, Some(ErrorKind::Throttling));
    }

    #[test]
    fn token_overflow_is_read_back() {
        assert_eq!(
            TokenOverflow::parse("400 Bad Request: Too many input tokens. Max input tokens: 8192, request input token count: 9875"),
            Some(TokenOverflow { max: 8192, count: 9875 })
        );
        assert_eq!(TokenOverflow::parse("Malformed input request"), None);
        assert_eq!(
            TokenOverflow::parse("Max input tokens: 1, request input token count: 2"),
            None
        );
        assert!(is_too_many_tokens(
            &WireError::too_many_tokens(1, 2).message
        ));
    }

    #[test]
    fn malformed_messages() {
        let one = WireError::malformed(&["#: required key [inputText] not found".into()]);
        assert_eq!(
            one.message,
            "Malformed input request: #: required key [inputText] not found, please reformat your input and try again."
        );
        let two = WireError::malformed(&["a".into(), "b".into()]);
        assert_eq!(
            two.message,
            "Malformed input request: 2 schema violations found, please reformat your input and try again."
        );
        assert_eq!(two.body()["message"], two.message);
    }
}
