//! The two surfaces and the frame around every request.
//!
//! The outer frame gives each request an id (`x-amzn-RequestId`) and writes
//! the access log line. Each surface's frame then reads the body within its
//! size and time limits, checks the caller, and runs the handler under the
//! request deadline (dropping its work when the deadline passes), answering
//! every refusal in that surface's error shape. Unknown paths and wrong
//! methods get the shape of the surface whose prefix they carry.

use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use embedrock_bedrock::{ErrorKind, WireError};

use crate::auth::{AuthMode, Incoming};
use crate::error::{ApiError, OwnError, OwnKind};
use crate::faults::FaultConfig;
use crate::{control, invoke, openai, AppState, InputTokens, RequestId};

/// Which surface a request is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Bedrock,
    Own,
}

impl Surface {
    fn of(path: &str) -> Surface {
        if path.starts_with("/v1/")
            || path.starts_with("/v2/memories")
            || path.starts_with("/v3/memories")
            || path.starts_with("/_embedrock/")
        {
            Surface::Own
        } else {
            Surface::Bedrock
        }
    }
}

/// Why a request was refused before its handler ran.
enum Refusal {
    TooLarge(usize),
    BodyTimeout(Duration),
    Unauthorized(WireError),
    Deadline,
    NotFound,
    WrongMethod(Method),
}

fn refuse(surface: Surface, why: Refusal) -> Response {
    match surface {
        Surface::Bedrock => ApiError(match why {
            Refusal::TooLarge(limit) => WireError::new(ErrorKind::Validation, format!("1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to {limit}")),
            Refusal::BodyTimeout(t) => WireError::new(ErrorKind::Validation, format!("The request body was not received within {} seconds.", t.as_secs_f64())),
            Refusal::Unauthorized(e) => e,
            Refusal::Deadline => WireError::new(ErrorKind::ModelTimeout, "Model has timed out in processing the request. Try your request again."),
            Refusal::NotFound => WireError::new(ErrorKind::ResourceNotFound, "Unknown operation: no such route on this server."),
            Refusal::WrongMethod(m) => WireError::new(ErrorKind::ResourceNotFound, format!("Unknown operation: method {m} is not allowed on this route.")),
        })
        .into_response(),
        Surface::Own => match why {
            Refusal::TooLarge(limit) => OwnError::new(OwnKind::TooLarge, format!("the request body is larger than {limit} bytes")),
            Refusal::BodyTimeout(t) => OwnError::new(OwnKind::Timeout, format!("the request body was not received within {} seconds", t.as_secs_f64())),
            Refusal::Unauthorized(e) => OwnError::new(OwnKind::Authentication, e.message),
            Refusal::Deadline => OwnError::new(OwnKind::Timeout, "the request took longer than the server's request timeout"),
            Refusal::NotFound => OwnError::new(OwnKind::NotFound, "no such route on this server"),
            Refusal::WrongMethod(m) => OwnError::new(OwnKind::MethodNotAllowed, format!("method {m} is not allowed on this route")),
        }
        .into_response(),
    }
}

/// Both surfaces under the outer frame.
pub(crate) fn router(state: AppState) -> Router {
    let limit = state.options.max_body_bytes;
    let bedrock = Router::new()
        .route("/model/{model_id}/invoke", post(invoke::invoke))
        .route("/foundation-models", get(control::list))
        .route("/foundation-models/{model_identifier}", get(control::get))
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            bedrock_frame,
        ));
    let own = Router::new()
        .route("/v1/embeddings", post(openai::embeddings))
        .route(
            "/_embedrock/faults",
            get(faults_get).put(faults_put).delete(faults_reset),
        )
        .route("/_embedrock/health", get(health))
        .merge(crate::memory::routes())
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            own_frame,
        ));
    Router::new()
        .merge(bedrock)
        .merge(own)
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            outer_frame,
        ))
        .with_state(state)
}

async fn unknown_route(req: Request) -> Response {
    refuse(Surface::of(req.uri().path()), Refusal::NotFound)
}

async fn wrong_method(req: Request) -> Response {
    let method = req.method().clone();
    refuse(Surface::of(req.uri().path()), Refusal::WrongMethod(method))
}

async fn health(State(st): State<AppState>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "admission": st.admission.report(),
    }))
    .into_response()
}

async fn faults_get(State(st): State<AppState>) -> Response {
    Json(serde_json::json!({"config": st.faults.config(), "counters": st.faults.counters()}))
        .into_response()
}

/// `PUT /_embedrock/faults`: a JSON object setting at least one fault. An
/// array or an empty object is refused: clearing every fault is
/// `DELETE /_embedrock/faults`, so it is never done by accident.
async fn faults_put(State(st): State<AppState>, body: Bytes) -> Result<Response, OwnError> {
    let invalid = |m: String| OwnError::new(OwnKind::InvalidRequest, m);
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("fault configuration: {e}")))?;
    match value.as_object() {
        Some(o) if !o.is_empty() => {}
        Some(_) => return Err(invalid("fault configuration: give at least one setting; DELETE /_embedrock/faults clears every fault".into())),
        None => return Err(invalid("fault configuration: expected a JSON object of settings".into())),
    }
    let config: FaultConfig =
        serde_json::from_value(value).map_err(|e| invalid(format!("fault configuration: {e}")))?;
    config.validate().map_err(|e| invalid(e.to_string()))?;
    st.faults.set(config);
    Ok(faults_get(State(st)).await)
}

/// `DELETE /_embedrock/faults`: no faults from now on (counters are kept).
async fn faults_reset(State(st): State<AppState>) -> Response {
    st.faults.set(FaultConfig::default());
    faults_get(State(st)).await
}

/// The request id, the `x-amzn-RequestId` header and the access log.
async fn outer_frame(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let rid = crate::new_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    req.extensions_mut().insert(RequestId(rid.clone()));
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response
            .headers_mut()
            .insert(embedrock_bedrock::headers::REQUEST_ID, v);
    }
    if st.options.access_log {
        access_log(&rid, &method, &path, &response, started.elapsed());
    }
    response
}

async fn bedrock_frame(state: State<AppState>, req: Request, next: Next) -> Response {
    surface_frame(Surface::Bedrock, state, req, next).await
}

async fn own_frame(state: State<AppState>, req: Request, next: Next) -> Response {
    surface_frame(Surface::Own, state, req, next).await
}

/// Reads the body, checks the caller, and runs the handler under the deadline.
async fn surface_frame(
    surface: Surface,
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let limit = st.options.max_body_bytes;
    let body_timeout = secs(st.options.body_timeout_secs);
    let bytes = match tokio::time::timeout(body_timeout, read_body(body, limit)).await {
        Err(_) => return refuse(surface, Refusal::BodyTimeout(body_timeout)),
        Ok(Err(())) => return refuse(surface, Refusal::TooLarge(limit)),
        Ok(Ok(b)) => b,
    };
    let checked = match surface {
        Surface::Bedrock => check_bedrock(&st, &parts, bytes.clone()).await,
        Surface::Own => check_own(&st, &parts),
    };
    if let Err(e) = checked {
        return refuse(surface, Refusal::Unauthorized(e));
    }
    let bytes_in = bytes.len();
    let req = Request::from_parts(parts, Body::from(bytes));
    // On the deadline the handler's future, and with it any embedding, is dropped.
    let mut r =
        match tokio::time::timeout(secs(st.options.request_timeout_secs), next.run(req)).await {
            Ok(r) => r,
            Err(_) => refuse(surface, Refusal::Deadline),
        };
    r.extensions_mut().insert(BytesIn(bytes_in));
    r
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.001)).unwrap_or(Duration::from_secs(60))
}

/// SigV4 or an API key, as configured. Hashing a large body runs on the
/// blocking pool.
async fn check_bedrock(
    st: &AppState,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<(), WireError> {
    if st.options.auth.mode == AuthMode::None {
        return Ok(());
    }
    let st2 = st.clone();
    let (method, uri, headers) = (
        parts.method.clone(),
        parts.uri.clone(),
        parts.headers.clone(),
    );
    let check = move || {
        let req = Incoming {
            method: &method,
            path: uri.path(),
            query: uri.query(),
            headers: &headers,
            body: &body,
        };
        st2.options
            .auth
            .check(&req, &st2.signing_regions, SystemTime::now())
    };
    crate::invoke::blocking(check).await?
}

/// embedrock's own API takes `Authorization: Bearer <api key>` (or
/// `Token <api key>`, as mem0's client sends it) whenever auth is on; the
/// health route is open to every caller.
fn check_own(st: &AppState, parts: &axum::http::request::Parts) -> Result<(), WireError> {
    let auth = &st.options.auth;
    if auth.mode == AuthMode::None || parts.uri.path() == "/_embedrock/health" {
        return Ok(());
    }
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let v = v.trim();
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("Token "))
        })
        .map(str::trim);
    match token {
        Some(t) if auth.accepts_api_key(t) => Ok(()),
        Some(_) => Err(WireError::new(
            ErrorKind::UnrecognizedClient,
            "the API key is not valid",
        )),
        None => Err(WireError::new(
            ErrorKind::MissingAuthenticationToken,
            "this route needs an API key: Authorization: Bearer <key>",
        )),
    }
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

fn access_log(rid: &str, method: &Method, path: &str, r: &Response, took: Duration) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let line = serde_json::json!({
        "time": crate::auth::format_amz_date(now),
        "request_id": rid,
        "method": method.as_str(),
        "path": path,
        "status": r.status().as_u16(),
        "error": r.extensions().get::<crate::error::ErrorType>().map(|e| e.0),
        "input_tokens": r.extensions().get::<InputTokens>().map(|t| t.0),
        "bytes_in": r.extensions().get::<BytesIn>().map(|b| b.0),
        "ms": (took.as_secs_f64() * 1e4).round() / 10.0,
    });
    eprintln!("{line}");
}
