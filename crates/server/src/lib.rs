//! A Bedrock-compatible embedding server over any [`Embedder`].
//!
//! Code written against Bedrock (boto3, the AWS SDKs, LangChain) runs
//! offline against it by changing only its endpoint URL. [`app`] builds the
//! axum router: the runtime's `POST /model/{modelId}/invoke`, the control
//! plane's `GET /foundation-models[/{id}]`, OpenAI's `POST /v1/embeddings`,
//! and an admin route (`/_embedrock/faults`) that sets and reads the
//! injected faults at run time. Requests are decoded and answered by the
//! same codecs the Bedrock client uses ([`embedrock_bedrock::codec`]); the
//! [`ModelMap`] says which embedder answers which id, and vectors are fitted
//! to the asked dimensions by the policy in [`models`].
//!
//! [`Embedder`]: embedrock_core::Embedder
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod config;
mod control;
mod error;
pub mod faults;
mod invoke;
pub mod models;
mod openai;
mod serve;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use embedrock_bedrock::{ErrorKind, WireError};
use rand::Rng;

pub use auth::{AuthConfig, AuthMode};
pub use config::{RouteConfig, ServerConfig, TlsConfig};
pub use error::ApiError;
pub use faults::{FaultConfig, FaultCounters, Faults, Latency};
pub use models::{fit_dimensions, ModelMap, Route};
pub use serve::{serve, shutdown_signal, Listening, Tls};

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    /// Served ids and their embedders.
    pub models: ModelMap,
    /// The configuration.
    pub options: ServerConfig,
    /// The live faults.
    pub faults: Faults,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over these models with this configuration.
    pub fn new(models: ModelMap, options: ServerConfig) -> Self {
        let faults = Faults::new(options.faults.clone());
        AppState(Arc::new(Inner {
            models,
            options,
            faults,
        }))
    }
}

/// The id of the request being answered.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// Input tokens a response accounts for, for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputTokens(pub usize);

fn new_request_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        8 | (b[8] & 3),
        &h[17..20],
        &h[20..32]
    )
}

/// The router over `models`.
pub fn app(models: ModelMap, options: ServerConfig) -> Router {
    router(AppState::new(models, options))
}

/// The router over prepared state.
pub fn router(state: AppState) -> Router {
    let limit = state.options.max_body_bytes;
    Router::new()
        .route("/model/{model_id}/invoke", post(invoke::invoke))
        .route("/foundation-models", get(control::list))
        .route("/foundation-models/{model_identifier}", get(control::get))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/_embedrock/faults", get(faults_get).put(faults_put))
        .route(
            "/_embedrock/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), frame))
        .with_state(state)
}

async fn unknown_operation() -> ApiError {
    ApiError::new(
        ErrorKind::ResourceNotFound,
        "Unknown operation: no such route on this server.",
    )
}

async fn faults_get(State(st): State<AppState>) -> Response {
    Json(serde_json::json!({"config": st.faults.config(), "counters": st.faults.counters()}))
        .into_response()
}

async fn faults_put(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let config: FaultConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorKind::Validation, format!("fault configuration: {e}")))?;
    config
        .validate()
        .map_err(|e| ApiError::new(ErrorKind::Validation, e))?;
    st.faults.set(config);
    Ok(faults_get(State(st)).await)
}

/// Around every request: a request id, the body read within its limit,
/// the auth check, the time limit, and one access-log line (method, path,
/// status, error type, tokens, time; never headers or bodies).
async fn frame(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let rid = new_request_id();
    let (parts, body) = req.into_parts();
    let limit = st.options.max_body_bytes;
    let mut response = match read_body(body, limit).await {
        Err(()) => ApiError::new(
            ErrorKind::Validation,
            format!("1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to {limit}"),
        )
        .into_response(),
        Ok(bytes) => {
            let checked = st.options.auth.check(
                &parts.method,
                parts.uri.path(),
                parts.uri.query(),
                &parts.headers,
                &bytes,
                SystemTime::now(),
            );
            match checked {
                Err(e) => ApiError(e).into_response(),
                Ok(()) => {
                    let bytes_in = bytes.len();
                    let mut req = Request::from_parts(parts.clone(), Body::from(bytes));
                    req.extensions_mut().insert(RequestId(rid.clone()));
                    let timeout = Duration::try_from_secs_f64(st.options.request_timeout_secs.max(0.001))
                        .unwrap_or(Duration::from_secs(60));
                    let mut r = match tokio::time::timeout(timeout, next.run(req)).await {
                        Ok(r) => r,
                        Err(_) => ApiError(WireError::new(
                            ErrorKind::ModelTimeout,
                            "Model has timed out in processing the request. Try your request again.",
                        ))
                        .into_response(),
                    };
                    r.extensions_mut().insert(BytesIn(bytes_in));
                    r
                }
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    if st.options.access_log {
        access_log(&rid, &parts, &response, started.elapsed());
    }
    response
}

#[derive(Debug, Clone, Copy)]
struct BytesIn(usize);

/// Reads a body of at most `limit` bytes. A longer one is read on and
/// dropped (up to a bound), so the client, which sends its whole body before
/// reading the answer, gets the error rather than a reset connection.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ()> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    let drain_cap = limit.saturating_mul(2).saturating_add(1 << 20);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Err(()) };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > drain_cap {
                return Err(());
            }
            if seen <= limit {
                buf.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        Err(())
    } else {
        Ok(Bytes::from(buf))
    }
}

fn access_log(rid: &str, parts: &axum::http::request::Parts, r: &Response, took: Duration) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let line = serde_json::json!({
        "time": auth::format_amz_date(now),
        "request_id": rid,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "status": r.status().as_u16(),
        "error": r.extensions().get::<error::ErrorType>().map(|e| e.0),
        "input_tokens": r.extensions().get::<InputTokens>().map(|t| t.0),
        "bytes_in": r.extensions().get::<BytesIn>().map(|b| b.0),
        "ms": (took.as_secs_f64() * 1e4).round() / 10.0,
    });
    eprintln!("{line}");
}

/// The status of an [`ErrorKind`], for callers building their own answers.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
