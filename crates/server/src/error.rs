//! Errors in each surface's shape.
//!
//! The Bedrock surface answers like Bedrock: the status, `x-amzn-ErrorType`
//! (where the SDKs read the exception name) and a `{"message": ...}` body.
//! embedrock's own API (`/v1/embeddings`, `/_embedrock/*`) answers in the
//! OpenAI shape `{"error": {"message", "type", "code"}}`. The request id
//! header is added to every response by the request frame.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use embedrock_bedrock::{ErrorKind, WireError};
use serde_json::json;

/// An error answered in Bedrock's shape.
#[derive(Debug, Clone)]
pub struct ApiError(pub WireError);

impl ApiError {
    /// An error of this kind with this message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError(WireError::new(kind, message))
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        ApiError(e)
    }
}

impl From<embedrock_core::Error> for ApiError {
    fn from(e: embedrock_core::Error) -> Self {
        from_core(e)
    }
}

/// The error kind recorded on a response, for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorType(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0.body()).unwrap_or_default();
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            embedrock_bedrock::headers::ERROR_TYPE,
            HeaderValue::from_static(self.0.kind.name()),
        );
        r.extensions_mut().insert(ErrorType(self.0.kind.name()));
        r
    }
}

/// Maps an embedder's error to the exception Bedrock would answer with:
/// a request the model cannot take is a `ValidationException` (400), work
/// stopped because the caller's deadline passed is a `ModelTimeoutException`
/// (408), and a failing backend is a `ModelErrorException` (424).
pub(crate) fn from_core(e: embedrock_core::Error) -> ApiError {
    use embedrock_core::Error as E;
    let kind = match &e {
        E::EmptyInput
        | E::DimensionsNotAllowed { .. }
        | E::BatchTooLarge { .. }
        | E::InputTooLong { .. }
        | E::Unsupported { .. }
        | E::InvalidRequest(_) => ErrorKind::Validation,
        // The routes resolve models before embedding; an embedder that does
        // not know its own model is a fault of this server.
        E::UnknownModel { .. } => ErrorKind::InternalServer,
        E::Cancelled(_) => ErrorKind::ModelTimeout,
        E::Backend { .. } => ErrorKind::ModelError,
        // Variants added to core later: the server's fault until mapped.
        _ => ErrorKind::InternalServer,
    };
    ApiError::new(kind, e.to_string())
}

/// The kinds of error of embedrock's own API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnKind {
    /// 400: the request is not valid.
    InvalidRequest,
    /// 401: no or an unknown API key.
    Authentication,
    /// 404: no such model or route.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 408: the request (or its body) took too long.
    Timeout,
    /// 413: the body is larger than allowed.
    TooLarge,
    /// 429: more work in flight than allowed, or an injected quota.
    RateLimited,
    /// 500: the server failed.
    Server,
    /// 503: the server cannot answer now.
    Unavailable,
}

impl OwnKind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            OwnKind::InvalidRequest => StatusCode::BAD_REQUEST,
            OwnKind::Authentication => StatusCode::UNAUTHORIZED,
            OwnKind::NotFound => StatusCode::NOT_FOUND,
            OwnKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            OwnKind::Timeout => StatusCode::REQUEST_TIMEOUT,
            OwnKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            OwnKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            OwnKind::Server => StatusCode::INTERNAL_SERVER_ERROR,
            OwnKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `type` field, as OpenAI names its error types.
    pub fn type_name(self) -> &'static str {
        match self {
            OwnKind::InvalidRequest | OwnKind::MethodNotAllowed | OwnKind::TooLarge => {
                "invalid_request_error"
            }
            OwnKind::Authentication => "authentication_error",
            OwnKind::NotFound => "not_found_error",
            OwnKind::Timeout => "timeout_error",
            OwnKind::RateLimited => "rate_limit_error",
            OwnKind::Server | OwnKind::Unavailable => "server_error",
        }
    }

    /// The `code` field used when none more precise is given.
    pub fn default_code(self) -> &'static str {
        match self {
            OwnKind::InvalidRequest => "invalid_request",
            OwnKind::Authentication => "invalid_api_key",
            OwnKind::NotFound => "not_found",
            OwnKind::MethodNotAllowed => "method_not_allowed",
            OwnKind::Timeout => "timeout",
            OwnKind::TooLarge => "request_too_large",
            OwnKind::RateLimited => "rate_limit_exceeded",
            OwnKind::Server => "internal_error",
            OwnKind::Unavailable => "unavailable",
        }
    }
}

/// An error of embedrock's own API: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone)]
pub struct OwnError {
    /// What kind.
    pub kind: OwnKind,
    /// In words.
    pub message: String,
    /// A machine-readable code.
    pub code: String,
}

impl OwnError {
    /// An error of this kind with the kind's default code.
    pub fn new(kind: OwnKind, message: impl Into<String>) -> Self {
        OwnError {
            kind,
            message: message.into(),
            code: kind.default_code().to_string(),
        }
    }

    /// The same error with this code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }
}

impl From<WireError> for OwnError {
    /// A Bedrock-shaped error met on the way (a fault, a limit, the model)
    /// in this API's shape; the Bedrock exception name becomes the code.
    fn from(e: WireError) -> Self {
        let kind = match e.kind.status() {
            400 => OwnKind::InvalidRequest,
            401 | 403 => OwnKind::Authentication,
            404 => OwnKind::NotFound,
            408 => OwnKind::Timeout,
            429 => OwnKind::RateLimited,
            503 => OwnKind::Unavailable,
            _ => OwnKind::Server,
        };
        OwnError::new(kind, e.message).with_code(e.kind.name())
    }
}

impl From<ApiError> for OwnError {
    fn from(e: ApiError) -> Self {
        OwnError::from(e.0)
    }
}

impl IntoResponse for OwnError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind.type_name(),
            "param": null,
            "code": self.code,
        }});
        let mut r = (self.kind.status(), Json(body)).into_response();
        r.extensions_mut().insert(ErrorType(self.kind.type_name()));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::Error as E;

    #[test]
    fn core_errors_map_to_bedrock_types() {
        let cases: Vec<(E, ErrorKind)> = vec![
            (E::EmptyInput, ErrorKind::Validation),
            (
                E::DimensionsNotAllowed {
                    model: "m".into(),
                    requested: 3,
                    allowed: vec![1],
                },
                ErrorKind::Validation,
            ),
            (
                E::BatchTooLarge {
                    model: "m".into(),
                    size: 3,
                    max: 1,
                },
                ErrorKind::Validation,
            ),
            (
                E::InputTooLong {
                    model: "m".into(),
                    index: 0,
                    length: 9,
                    max: 1,
                    unit: "tokens",
                },
                ErrorKind::Validation,
            ),
            (
                E::Unsupported {
                    model: "m".into(),
                    what: "images".into(),
                },
                ErrorKind::Validation,
            ),
            (E::InvalidRequest("x".into()), ErrorKind::Validation),
            (
                E::UnknownModel {
                    model: "m".into(),
                    hint: None,
                },
                ErrorKind::InternalServer,
            ),
            (E::Cancelled("deadline".into()), ErrorKind::ModelTimeout),
            (E::backend_msg("boom"), ErrorKind::ModelError),
        ];
        for (e, kind) in cases {
            let text = e.to_string();
            let mapped = from_core(e);
            assert_eq!(mapped.0.kind, kind, "{text}");
            assert_eq!(mapped.0.message, text);
        }
        assert_eq!(ErrorKind::ModelTimeout.status(), 408);
        assert_eq!(ErrorKind::ModelError.status(), 424);
    }

    #[test]
    fn wire_errors_keep_their_class_in_the_own_shape() {
        let e = OwnError::from(WireError::new(ErrorKind::Throttling, "slow down"));
        assert_eq!(e.kind, OwnKind::RateLimited);
        assert_eq!(e.code, "ThrottlingException");
        let e = OwnError::from(WireError::new(ErrorKind::ModelError, "bad"));
        assert_eq!(e.kind.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let e = OwnError::from(WireError::new(ErrorKind::Validation, "no"));
        assert_eq!(e.kind.status(), StatusCode::BAD_REQUEST);
    }
}
