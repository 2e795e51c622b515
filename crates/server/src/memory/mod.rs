//! The memory API over HTTP: a store paired with an embedder
//! ([`embedrock_store::Memory`]) on embrock's own surface, and the same
//! operations in the shape of mem0's platform API ([`mem0`]) so that mem0's
//! `MemoryClient` works against the server.
//!
//! embedrock's own routes, under `/v1/memory/` (errors as
//! `{"error": {"message", "type", "param", "code"}}`):
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/memory/collections` | every collection, with any re-embed in progress |
//! | `GET /v1/memory/collections/{c}` | one collection |
//! | `POST /v1/memory/collections/{c}/add` | add texts, items or chat messages |
//! | `POST /v1/memory/collections/{c}/search` | search by meaning |
//! | `POST /v1/memory/collections/{c}/list` | a page of records |
//! | `GET/PATCH/DELETE /v1/memory/collections/{c}/records/{id}` | one record |
//! | `GET /v1/memory/collections/{c}/records/{id}/history` | its changes |
//! | `POST /v1/memory/collections/{c}/delete_all` | every record of a scope |
//! | `POST /v1/memory/collections/{c}/reembed` | move to the server's model, in the background |
//!
//! Every limit is checked before any text is embedded: the body size (the
//! server's `max_body_bytes`), [`MAX_ADD_TEXTS`] texts per add, `top_k` and
//! page sizes up to [`MAX_PAGE`], and the store's own bounds on texts, ids
//! and filters. Embedding runs where the embedder puts it (the local model
//! on the blocking pool) and the store's work on its blocking pool.

mod mem0;
mod own;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use embedrock_bedrock::WireError;
use embedrock_store::{Memory, Scope, MAX_ID_BYTES, MAX_PAGE};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{ErrorType, OwnError};
use crate::AppState;

/// The collection mem0's routes use when the server is not told another.
pub const DEFAULT_COLLECTION: &str = "memories";
/// The most texts (or messages) one add request may carry.
pub const MAX_ADD_TEXTS: usize = 1_000;
/// Results of a search that names no `top_k`.
pub const DEFAULT_TOP_K: usize = 10;
/// Records of a listing that names no page size.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The memory behind the HTTP routes: a [`Memory`] (a store and the
/// embedder it writes and searches with), the collection mem0's routes use,
/// and the re-embeds running in the background.
#[derive(Clone)]
pub struct MemoryApi(Arc<ApiInner>);

struct ApiInner {
    memory: Memory,
    collection: String,
    reembeds: Mutex<HashMap<String, Reembed>>,
}

/// A background re-embed, as the collection routes report it.
#[derive(Clone)]
enum Reembed {
    Running(Arc<AtomicUsize>),
    Finished(usize),
    Failed(String),
}

impl Reembed {
    fn report(&self) -> Value {
        match self {
            Reembed::Running(done) => {
                json!({"state": "running", "done": done.load(Ordering::Relaxed)})
            }
            Reembed::Finished(records) => json!({"state": "finished", "records": records}),
            Reembed::Failed(error) => json!({"state": "failed", "error": error}),
        }
    }
}

impl std::fmt::Debug for MemoryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryApi")
            .field("identity", self.0.memory.identity())
            .field("collection", &self.0.collection)
            .finish()
    }
}

impl MemoryApi {
    /// The API over `memory`; mem0's routes use [`DEFAULT_COLLECTION`].
    pub fn new(memory: Memory) -> Self {
        MemoryApi::with_collection(memory, DEFAULT_COLLECTION)
    }

    /// The API over `memory`; mem0's routes use `collection`.
    pub fn with_collection(memory: Memory, collection: impl Into<String>) -> Self {
        MemoryApi(Arc::new(ApiInner {
            memory,
            collection: collection.into(),
            reembeds: Mutex::new(HashMap::new()),
        }))
    }

    /// The memory answering the routes.
    pub fn memory(&self) -> &Memory {
        &self.0.memory
    }

    /// The collection mem0's routes use.
    pub fn collection(&self) -> &str {
        &self.0.collection
    }

    fn reembed_report(&self, collection: &str) -> Option<Value> {
        let map = self.0.reembeds.lock().ok()?;
        map.get(collection).map(Reembed::report)
    }

    /// Starts moving `collection` to this API's embedder in the background,
    /// unless a move of it is already running. Returns whether it started.
    fn start_reembed(&self, collection: &str) -> Result<bool, MemError> {
        let done = Arc::new(AtomicUsize::new(0));
        {
            let mut map = self
                .0
                .reembeds
                .lock()
                .map_err(|_| MemError::server("the re-embed registry is poisoned"))?;
            if let Some(Reembed::Running(_)) = map.get(collection) {
                return Ok(false);
            }
            map.insert(collection.to_string(), Reembed::Running(done.clone()));
        }
        let api = self.clone();
        let name = collection.to_string();
        tokio::spawn(async move {
            let counter = done.clone();
            let progress = move |n: usize| counter.store(n, Ordering::Relaxed);
            let outcome = match api.0.memory.reembed(&name, &progress).await {
                Ok(info) => Reembed::Finished(info.records),
                Err(e) => Reembed::Failed(MemError::from(e).message),
            };
            if let Ok(mut map) = api.0.reembeds.lock() {
                map.insert(name, outcome);
            }
        });
        Ok(true)
    }
}

/// The memory routes of both shapes, for the own surface's router.
pub(crate) fn routes() -> Router<AppState> {
    let own = Router::new()
        .route("/v1/memory/collections", get(own::collections))
        .route("/v1/memory/collections/{collection}", get(own::collection))
        .route("/v1/memory/collections/{collection}/add", post(own::add))
        .route(
            "/v1/memory/collections/{collection}/search",
            post(own::search),
        )
        .route("/v1/memory/collections/{collection}/list", post(own::list))
        .route(
            "/v1/memory/collections/{collection}/records/{id}",
            get(own::get).patch(own::update).delete(own::delete),
        )
        .route(
            "/v1/memory/collections/{collection}/records/{id}/history",
            get(own::history),
        )
        .route(
            "/v1/memory/collections/{collection}/delete_all",
            post(own::delete_all),
        )
        .route(
            "/v1/memory/collections/{collection}/reembed",
            post(own::reembed),
        );
    own.merge(mem0::routes())
}

/// An error of the memory routes: the own surface's JSON shape with the
/// status that fits (400, 404, 409 for an identity mismatch, 413, 429,
/// 500), and for mem0's routes also `detail`, which mem0's client reads.
#[derive(Debug, Clone)]
pub struct MemError {
    status: StatusCode,
    kind: &'static str,
    code: String,
    message: String,
    detail: bool,
}

impl MemError {
    fn new(status: StatusCode, kind: &'static str, code: &str, message: impl Into<String>) -> Self {
        MemError {
            status,
            kind,
            code: code.to_string(),
            message: message.into(),
            detail: false,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        MemError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            message,
        )
    }

    fn too_large(message: impl Into<String>) -> Self {
        MemError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            message,
        )
    }

    fn not_found(message: impl Into<String>) -> Self {
        MemError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "not_found",
            message,
        )
    }

    fn server(message: impl Into<String>) -> Self {
        MemError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            message,
        )
    }

    /// The same error with mem0's `detail` field.
    fn mem0(mut self) -> Self {
        self.detail = true;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<WireError> for MemError {
    fn from(e: WireError) -> Self {
        let own = OwnError::from(e);
        MemError {
            status: own.kind.status(),
            kind: own.kind.type_name(),
            code: own.code,
            message: own.message,
            detail: false,
        }
    }
}

impl From<embedrock_store::Error> for MemError {
    fn from(e: embedrock_store::Error) -> Self {
        use embedrock_store::Error as E;
        match e {
            E::IdentityMismatch { .. } => MemError::new(
                StatusCode::CONFLICT,
                "conflict_error",
                "identity_mismatch",
                e.to_string(),
            ),
            E::InvalidInput(_) => MemError::invalid(e.to_string()),
            E::InvalidFilter { .. } => MemError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_filter",
                e.to_string(),
            ),
            E::NotFound(_) => MemError::not_found(e.to_string()),
            E::Embedding(core) => MemError::from(crate::error::from_core(core).0),
            // Database errors name the store, which may be a URL with a password.
            other => MemError::server(redact_urls(&other.to_string())),
        }
    }
}

/// Every `scheme://user:pass@host` in `text` with its credentials hidden.
fn redact_urls(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.contains("://") {
                embedrock_core::util::redact_url(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl IntoResponse for MemError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": null,
            "code": self.code,
        }});
        if self.detail {
            body["detail"] = Value::String(self.message.clone());
        }
        let mut r = (self.status, Json(body)).into_response();
        r.extensions_mut().insert(ErrorType(self.kind));
        r
    }
}

/// The memory API of this server, or a 404 when it runs without one.
fn api_of(st: &AppState) -> Result<MemoryApi, MemError> {
    st.memory.clone().ok_or_else(|| {
        MemError::not_found("this server has no memory store (start it with --store)")
    })
}

/// A JSON body of type `T`; an empty body is `{}`.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, MemError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| MemError::invalid(format!("request body: {e}")))
}

/// Checks a collection name or record id taken from a path.
fn check_name(what: &str, value: &str) -> Result<(), MemError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(MemError::invalid(format!(
            "{what} must be 1 to {MAX_ID_BYTES} bytes, got {}",
            value.len()
        )));
    }
    Ok(())
}

fn check_add_count(n: usize) -> Result<(), MemError> {
    if n == 0 {
        return Err(MemError::invalid("nothing to add: give at least one text"));
    }
    if n > MAX_ADD_TEXTS {
        return Err(MemError::too_large(format!(
            "{n} texts in one add; the limit is {MAX_ADD_TEXTS} per request"
        )));
    }
    Ok(())
}

fn check_count(what: &str, n: usize) -> Result<(), MemError> {
    if n == 0 || n > MAX_PAGE {
        return Err(MemError::invalid(format!(
            "{what} must be 1 to {MAX_PAGE}, got {n}"
        )));
    }
    Ok(())
}

/// A scope from optional ids, each checked as the store checks them.
fn scope_of(
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
) -> Result<Scope, MemError> {
    let scope = Scope {
        user_id,
        agent_id,
        run_id,
    };
    for (field, value) in scope.pairs() {
        if value.is_empty() || value.len() > MAX_ID_BYTES {
            return Err(MemError::invalid(format!(
                "{field} must be 1 to {MAX_ID_BYTES} bytes, got {}",
                value.len()
            )));
        }
    }
    Ok(scope)
}

fn to_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

/// An instant in milliseconds since the Unix epoch as RFC 3339 UTC
/// (`2026-11-23T14:03:48.123Z`).
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = embedrock_core::util::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_format_as_rfc3339() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            rfc3339_millis(1_795_442_628_004),
            "2026-11-23T14:03:48.004Z"
        );
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn store_errors_get_fitting_statuses() {
        use embedrock_store::Error as E;
        let status = |e: E| MemError::from(e).status();
        assert_eq!(status(E::InvalidInput("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(status(E::NotFound("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(
            status(E::Backend("postgres://u:secret@h/db down".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let m = MemError::from(E::Backend("postgres://u:secret@h/db down".into()));
        assert!(!m.message.contains("secret"), "{}", m.message);
    }
}
