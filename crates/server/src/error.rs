//! Errors in Bedrock's shape: the status, `x-amzn-ErrorType` (where the SDKs
//! read the exception name) and a `{"message": ...}` body. The request id
//! header is added to every response by the request frame.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use embedrock_bedrock::{ErrorKind, WireError};

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
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.0.kind.name()),
        );
        r.extensions_mut().insert(ErrorType(self.0.kind.name()));
        r
    }
}

/// Maps an embedder's error to the exception Bedrock would answer with.
pub(crate) fn from_core(e: embedrock_core::Error) -> ApiError {
    use embedrock_core::Error as E;
    let kind = match &e {
        E::Backend { .. } => ErrorKind::ModelError,
        _ => ErrorKind::Validation,
    };
    ApiError::new(kind, e.to_string())
}
