//! mem0's platform API, enough for mem0's `MemoryClient` (the `mem0ai`
//! Python package, its v1, v2 and v3 routes) to add, search, get, list,
//! update, delete, delete by scope and read history against this server.
//!
//! There is no LLM here: `add` stores every message as given (mem0's
//! `infer=False`), whatever `infer` says, and its answer says so. mem0's
//! `app_id` scope is kept as the metadata key `app_id`, so filters on it
//! work. Every route uses the API's one collection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use embedrock_store::{Change, Filter, Hit, Message, Page, Record, Scope};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::own::filter_of;
use super::{
    api_of, check_add_count, check_count, check_name, parse_body, rfc3339_millis, scope_of,
    to_json, MemError, MemoryApi, DEFAULT_PAGE_SIZE, DEFAULT_TOP_K,
};
use crate::AppState;

/// What `add` answers about inference.
const NO_INFERENCE: &str =
    "stored as given: this server has no LLM, so messages are not turned into facts (infer=False)";

/// mem0's routes, with and without their trailing slash.
pub(super) fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for (path, method) in [
        ("/v1/ping", get(ping)),
        ("/v1/memories", post(add).get(get_all_v1).delete(delete_all)),
        ("/v3/memories/add", post(add)),
        ("/v2/memories", post(get_all)),
        ("/v3/memories", post(get_all)),
        ("/v1/memories/search", post(search)),
        ("/v2/memories/search", post(search)),
        ("/v3/memories/search", post(search)),
        (
            "/v1/memories/{id}",
            get(get_one).put(update).delete(delete_one),
        ),
        ("/v1/memories/{id}/history", get(history)),
    ] {
        r = r
            .route(path, method.clone())
            .route(&format!("{path}/"), method);
    }
    r
}

fn err(e: impl Into<MemError>) -> MemError {
    e.into().mem0()
}

/// `GET /v1/ping/`: what `MemoryClient` asks when it is built. The client
/// needs an organisation and a project: `embedrock` and the collection.
async fn ping(State(st): State<AppState>) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    Ok(to_json(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "message": "embedrock memory server",
            "org_id": "embedrock",
            "project_id": api.collection(),
            "user_email": null,
        }),
    ))
}

/// A record as mem0 answers one.
fn record_json(r: &Record) -> Value {
    let mut v = json!({
        "id": r.id,
        "memory": r.text,
        "user_id": r.scope.user_id,
        "agent_id": r.scope.agent_id,
        "run_id": r.scope.run_id,
        "app_id": r.metadata.get("app_id"),
        "metadata": r.metadata,
        "categories": [],
        "created_at": rfc3339_millis(r.created_at),
        "updated_at": rfc3339_millis(r.updated_at),
    });
    if let Some(origin) = &r.origin {
        v["origin"] = serde_json::to_value(origin).unwrap_or(Value::Null);
    }
    v
}

fn hit_json(h: &Hit) -> Value {
    let mut v = record_json(&h.record);
    v["score"] = json!(h.score);
    v
}

/// The scope ids of a request: top-level fields, else plain string values
/// of the same names at the top of `filters` (mem0's v3 client puts them
/// there).
fn scope_from(
    top: [Option<String>; 3],
    filters: Option<&Value>,
) -> Result<(Scope, Option<String>), MemError> {
    let from_filters = |key: &str| {
        filters
            .and_then(|f| f.get(key))
            .and_then(Value::as_str)
            .filter(|v| *v != "*")
            .map(str::to_string)
    };
    let [user, agent, run] = top;
    let scope = scope_of(
        user.or_else(|| from_filters("user_id")),
        agent.or_else(|| from_filters("agent_id")),
        run.or_else(|| from_filters("run_id")),
    )?;
    Ok((scope, from_filters("app_id")))
}

/// `POST /v1/memories/`, `POST /v3/memories/add/`.
#[derive(Debug, Deserialize)]
struct AddBody {
    messages: Value,
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    app_id: Option<String>,
    filters: Option<Value>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

/// Messages as mem0 takes them: a string, one message or a list of them.
fn messages_of(v: Value) -> Result<Vec<Message>, MemError> {
    let list = match v {
        Value::String(s) => {
            return Ok(vec![Message {
                role: "user".into(),
                content: s,
            }])
        }
        Value::Object(_) => vec![v],
        Value::Array(items) => items,
        _ => {
            return Err(MemError::invalid(
                "messages must be a string, a message or a list of messages",
            ))
        }
    };
    check_add_count(list.len())?;
    list.into_iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::from_value::<Message>(m).map_err(|e| {
                MemError::invalid(format!(
                    "message {i}: {e} (each message is {{\"role\": ..., \"content\": \"text\"}})"
                ))
            })
        })
        .collect()
}

async fn add(State(st): State<AppState>, body: Bytes) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let req: AddBody = parse_body(&body).map_err(err)?;
    let messages = messages_of(req.messages).map_err(err)?;
    let (scope, app_from_filters) = scope_from(
        [req.user_id, req.agent_id, req.run_id],
        req.filters.as_ref(),
    )
    .map_err(err)?;
    scope.check_for_add().map_err(err)?;
    let mut metadata = req.metadata.unwrap_or_default();
    if let Some(app) = req.app_id.or(app_from_filters) {
        check_name("app_id", &app).map_err(err)?;
        metadata.insert("app_id".into(), Value::String(app));
    }
    let _admitted = st.admission.try_admit(messages.len()).map_err(err)?;
    let ids = api
        .memory()
        .add_messages(api.collection(), &scope, &messages, &metadata)
        .await
        .map_err(err)?;
    let results: Vec<Value> = ids
        .iter()
        .zip(&messages)
        .map(|(id, m)| json!({"id": id, "memory": m.content, "event": "ADD", "role": m.role}))
        .collect();
    Ok(to_json(
        StatusCode::OK,
        &json!({"results": results, "infer": false, "message": NO_INFERENCE}),
    ))
}

/// `POST /v1/memories/search/` (v2, v3).
#[derive(Debug, Deserialize)]
struct SearchBody {
    query: String,
    filters: Option<Value>,
    top_k: Option<usize>,
    limit: Option<usize>,
    threshold: Option<f32>,
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
}

async fn search(State(st): State<AppState>, body: Bytes) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let req: SearchBody = parse_body(&body).map_err(err)?;
    let top_k = req.top_k.or(req.limit).unwrap_or(DEFAULT_TOP_K);
    check_count("top_k", top_k).map_err(err)?;
    if req.threshold.is_some_and(|t| !t.is_finite()) {
        return Err(err(MemError::invalid("threshold must be a finite number")));
    }
    let filter = filter_of(req.filters.as_ref()).map_err(err)?;
    let scope = scope_of(req.user_id, req.agent_id, req.run_id).map_err(err)?;
    let _admitted = st.admission.try_admit(1).map_err(err)?;
    let hits = match api
        .memory()
        .search(
            api.collection(),
            &req.query,
            &scope,
            filter,
            top_k,
            req.threshold,
        )
        .await
    {
        // Nothing was ever added: no results, as mem0 answers.
        Err(embedrock_store::Error::NotFound(_)) => Vec::new(),
        other => other.map_err(err)?,
    };
    let results: Vec<Value> = hits.iter().map(hit_json).collect();
    Ok(to_json(StatusCode::OK, &json!({ "results": results })))
}

/// `POST /v2/memories/`, `POST /v3/memories/`: filters in the body, `page`
/// and `page_size` in the query (or the body).
#[derive(Debug, Deserialize)]
struct GetAllBody {
    filters: Option<Value>,
    page: Option<usize>,
    page_size: Option<usize>,
}

/// Answers a page: `{"count", "next", "previous", "results"}`. `count` is
/// the records on this page and the pages before it, plus one when another
/// page follows (no total is computed); `next` and `previous` are page
/// numbers or null.
async fn page_of(
    api: &MemoryApi,
    filter: Filter,
    scope: &Scope,
    page: usize,
    page_size: usize,
) -> Result<Response, MemError> {
    if page == 0 {
        return Err(err(MemError::invalid("page numbers start at 1")));
    }
    check_count("page_size", page_size).map_err(err)?;
    let offset = (page - 1).saturating_mul(page_size);
    let asked = Page {
        offset,
        limit: page_size + 1,
    };
    let mut records = match api
        .memory()
        .list(api.collection(), scope, filter, asked)
        .await
    {
        Err(embedrock_store::Error::NotFound(_)) => Vec::new(),
        other => other.map_err(err)?,
    };
    let more = records.len() > page_size;
    records.truncate(page_size);
    let results: Vec<Value> = records.iter().map(record_json).collect();
    Ok(to_json(
        StatusCode::OK,
        &json!({
            "count": offset + results.len() + usize::from(more),
            "next": more.then_some(page + 1),
            "previous": (page > 1).then(|| page - 1),
            "results": results,
        }),
    ))
}

fn usize_param(q: &HashMap<String, String>, key: &str) -> Result<Option<usize>, MemError> {
    q.get(key)
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| err(MemError::invalid(format!("{key} must be a whole number"))))
        })
        .transpose()
}

async fn get_all(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let req: GetAllBody = parse_body(&body).map_err(err)?;
    let page = usize_param(&q, "page")?.or(req.page).unwrap_or(1);
    let size = usize_param(&q, "page_size")?
        .or(req.page_size)
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let filter = filter_of(req.filters.as_ref()).map_err(err)?;
    page_of(&api, filter, &Scope::default(), page, size).await
}

/// `GET /v1/memories/?user_id=...`: the old client's listing, its scope in
/// the query.
async fn get_all_v1(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let (scope, app) = query_scope(&q)?;
    let filter = match app {
        Some(app) => Filter::parse(&json!({ "app_id": app })).map_err(err)?,
        None => Filter::All,
    };
    let page = usize_param(&q, "page")?.unwrap_or(1);
    let size = usize_param(&q, "page_size")?
        .or(usize_param(&q, "limit")?)
        .unwrap_or(DEFAULT_PAGE_SIZE);
    page_of(&api, filter, &scope, page, size).await
}

/// A `filters` query parameter: JSON, or the Python dict repr that mem0's
/// client sends when it passes a dict as a query parameter (`{'user_id':
/// 'alice'}`), read as JSON when it holds no double quote.
fn query_filters(q: &HashMap<String, String>) -> Result<Option<Value>, MemError> {
    let Some(text) = q.get("filters") else {
        return Ok(None);
    };
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(Some(v));
    }
    if !text.contains('"') {
        let json_like = text
            .replace('\'', "\"")
            .replace("True", "true")
            .replace("False", "false")
            .replace("None", "null");
        if let Ok(v) = serde_json::from_str::<Value>(&json_like) {
            return Ok(Some(v));
        }
    }
    Err(err(MemError::invalid(
        "filters in the query must be a JSON object",
    )))
}

/// The scope of a query string: `user_id`, `agent_id`, `run_id` (and
/// `app_id`), directly or inside `filters`.
fn query_scope(q: &HashMap<String, String>) -> Result<(Scope, Option<String>), MemError> {
    let filters = query_filters(q)?;
    let top = ["user_id", "agent_id", "run_id"].map(|k| q.get(k).cloned());
    let (scope, app) = scope_from(top, filters.as_ref()).map_err(err)?;
    Ok((scope, q.get("app_id").cloned().or(app)))
}

/// `DELETE /v1/memories/?user_id=...`: every memory of a scope. At least
/// one of `user_id`, `agent_id`, `run_id` is required (deleting everything
/// is not offered here).
async fn delete_all(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let (scope, _) = query_scope(&q)?;
    let n = match api.memory().delete_all(api.collection(), &scope).await {
        Err(embedrock_store::Error::NotFound(_)) => 0,
        other => other.map_err(err)?,
    };
    Ok(to_json(
        StatusCode::OK,
        &json!({"message": "Memories deleted successfully!", "deleted": n}),
    ))
}

fn missing(id: &str) -> MemError {
    err(MemError::not_found(format!("memory {id:?} not found")))
}

/// The record, or mem0's 404 (also when the collection does not exist yet).
async fn record_of(api: &MemoryApi, id: &str) -> Result<Record, MemError> {
    check_name("memory id", id).map_err(err)?;
    match api.memory().get(api.collection(), id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) | Err(embedrock_store::Error::NotFound(_)) => Err(missing(id)),
        Err(e) => Err(err(e)),
    }
}

async fn get_one(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let r = record_of(&api, &id).await?;
    Ok(to_json(StatusCode::OK, &record_json(&r)))
}

/// `PUT /v1/memories/{id}/`: `text` and/or `metadata`.
#[derive(Debug, Deserialize)]
struct UpdateBody {
    text: Option<String>,
    metadata: Option<Map<String, Value>>,
}

async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    let req: UpdateBody = parse_body(&body).map_err(err)?;
    if req.text.is_none() && req.metadata.is_none() {
        return Err(err(MemError::invalid(
            "this server updates text and metadata: give at least one",
        )));
    }
    record_of(&api, &id).await?;
    let _admitted = st
        .admission
        .try_admit(usize::from(req.text.is_some()))
        .map_err(err)?;
    let r = api
        .memory()
        .update(api.collection(), &id, req.text, req.metadata)
        .await
        .map_err(err)?;
    let mut v = record_json(&r);
    v["message"] = json!("Memory updated successfully!");
    Ok(to_json(StatusCode::OK, &v))
}

async fn delete_one(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    check_name("memory id", &id).map_err(err)?;
    match api.memory().delete(api.collection(), &id).await {
        Ok(true) => Ok(to_json(
            StatusCode::OK,
            &json!({"message": "Memory deleted successfully!"}),
        )),
        Ok(false) | Err(embedrock_store::Error::NotFound(_)) => Err(missing(&id)),
        Err(e) => Err(err(e)),
    }
}

fn change_json(index: usize, c: &Change) -> Value {
    json!({
        "id": format!("{}-{index}", c.memory_id),
        "memory_id": c.memory_id,
        "event": c.event,
        "old_memory": c.old_memory,
        "new_memory": c.new_memory,
        "created_at": rfc3339_millis(c.at),
        "updated_at": rfc3339_millis(c.at),
    })
}

/// `GET /v1/memories/{id}/history/`: a list of changes, oldest first.
async fn history(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, MemError> {
    let api = api_of(&st).map_err(err)?;
    check_name("memory id", &id).map_err(err)?;
    let changes = match api.memory().history(api.collection(), &id).await {
        Err(embedrock_store::Error::NotFound(_)) => Vec::new(),
        other => other.map_err(err)?,
    };
    if changes.is_empty() {
        return Err(missing(&id));
    }
    let list: Vec<Value> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| change_json(i, c))
        .collect();
    Ok(to_json(StatusCode::OK, &list))
}
