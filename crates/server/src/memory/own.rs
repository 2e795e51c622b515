//! embedrock's own memory routes, under `/v1/memory/collections/`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use embedrock_store::{Filter, Item, Message, Page, SearchPath};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    api_of, check_add_count, check_count, check_name, parse_body, scope_of, to_json, MemError,
    DEFAULT_PAGE_SIZE, DEFAULT_TOP_K,
};
use crate::AppState;

/// One text with its own metadata.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    text: String,
    #[serde(default)]
    metadata: Map<String, Value>,
}

/// `POST .../add`: exactly one of `texts`, `items` or `messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    texts: Option<Vec<String>>,
    items: Option<Vec<ItemBody>>,
    messages: Option<Vec<Message>>,
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    /// Metadata of every text (an item's own keys win).
    #[serde(default)]
    metadata: Map<String, Value>,
}

impl AddBody {
    /// The texts to add as items; messages keep their role in the metadata.
    fn items(&mut self) -> Result<Vec<Item>, MemError> {
        let common = &self.metadata;
        let with = |own: Map<String, Value>| {
            let mut md = common.clone();
            md.extend(own);
            md
        };
        let items: Vec<Item> = match (self.texts.take(), self.items.take(), self.messages.take()) {
            (Some(texts), None, None) => {
                check_add_count(texts.len())?;
                texts
                    .into_iter()
                    .map(|text| Item {
                        text,
                        metadata: common.clone(),
                        origin: None,
                    })
                    .collect()
            }
            (None, Some(items), None) => {
                check_add_count(items.len())?;
                items
                    .into_iter()
                    .map(|i| Item {
                        text: i.text,
                        metadata: with(i.metadata),
                        origin: None,
                    })
                    .collect()
            }
            (None, None, Some(messages)) => {
                check_add_count(messages.len())?;
                messages
                    .into_iter()
                    .map(|m| {
                        let mut md = common.clone();
                        md.insert("role".into(), Value::String(m.role));
                        Item {
                            text: m.content,
                            metadata: md,
                            origin: None,
                        }
                    })
                    .collect()
            }
            _ => {
                return Err(MemError::invalid(
                    "give exactly one of texts, items or messages",
                ))
            }
        };
        Ok(items)
    }
}

/// `POST .../add` → `{"ids": [...]}`, in the order given.
pub(super) async fn add(
    State(st): State<AppState>,
    Path(collection): Path<String>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    let mut req: AddBody = parse_body(&body)?;
    let items = req.items()?;
    let scope = scope_of(req.user_id, req.agent_id, req.run_id)?;
    scope.check_for_add()?;
    let _admitted = st.admission.try_admit(items.len())?;
    let ids = api
        .memory()
        .add(&collection, &scope, items, &|_| {})
        .await?;
    Ok(to_json(StatusCode::OK, &json!({ "ids": ids })))
}

/// `POST .../search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    query: String,
    top_k: Option<usize>,
    threshold: Option<f32>,
    #[serde(default)]
    filters: Option<Value>,
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    /// `auto`, `exact`, `int8`, `binary` or `approximate`.
    path: Option<String>,
}

/// A filter from a request's `filters` (none: every record).
pub(super) fn filter_of(filters: Option<&Value>) -> Result<Filter, MemError> {
    match filters {
        None | Some(Value::Null) => Ok(Filter::All),
        Some(v) => Ok(Filter::parse(v)?),
    }
}

/// `POST .../search` → `{"results": [record + score]}`, best first.
pub(super) async fn search(
    State(st): State<AppState>,
    Path(collection): Path<String>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    let req: SearchBody = parse_body(&body)?;
    let top_k = req.top_k.unwrap_or(DEFAULT_TOP_K);
    check_count("top_k", top_k)?;
    if req.threshold.is_some_and(|t| !t.is_finite()) {
        return Err(MemError::invalid("threshold must be a finite number"));
    }
    let path = match req.path.as_deref() {
        None => SearchPath::Auto,
        Some(p) => SearchPath::parse(p).ok_or_else(|| {
            MemError::invalid(format!(
                "unknown search path {p:?} (auto, exact, int8, binary, approximate)"
            ))
        })?,
    };
    let filter = filter_of(req.filters.as_ref())?;
    let scope = scope_of(req.user_id, req.agent_id, req.run_id)?;
    let _admitted = st.admission.try_admit(1)?;
    let memory = api.memory().clone().with_search_path(path);
    let hits = memory
        .search(
            &collection,
            &req.query,
            &scope,
            filter,
            top_k,
            req.threshold,
        )
        .await?;
    Ok(to_json(StatusCode::OK, &json!({ "results": hits })))
}

/// `POST .../list`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListBody {
    #[serde(default)]
    filters: Option<Value>,
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// `POST .../list` → `{"results": [...], "offset", "limit", "next_offset"}`,
/// oldest first; `next_offset` is null on the last page.
pub(super) async fn list(
    State(st): State<AppState>,
    Path(collection): Path<String>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    let req: ListBody = parse_body(&body)?;
    let limit = req.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    check_count("limit", limit)?;
    let filter = filter_of(req.filters.as_ref())?;
    let scope = scope_of(req.user_id, req.agent_id, req.run_id)?;
    // One record more than asked tells whether another page follows.
    let page = Page {
        offset: req.offset,
        limit: limit + 1,
    };
    let mut records = api.memory().list(&collection, &scope, filter, page).await?;
    let more = records.len() > limit;
    records.truncate(limit);
    let next = more.then(|| req.offset + limit);
    Ok(to_json(
        StatusCode::OK,
        &json!({"results": records, "offset": req.offset, "limit": limit, "next_offset": next}),
    ))
}

/// `GET .../records/{id}`.
pub(super) async fn get(
    State(st): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    check_name("id", &id)?;
    match api.memory().get(&collection, &id).await? {
        Some(r) => Ok(to_json(StatusCode::OK, &r)),
        None => Err(MemError::not_found(format!(
            "no record {id:?} in collection {collection:?}"
        ))),
    }
}

/// `PATCH .../records/{id}`: a new text (re-embedded) and/or new metadata.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    text: Option<String>,
    metadata: Option<Map<String, Value>>,
}

/// `PATCH .../records/{id}` → the record as it is now.
pub(super) async fn update(
    State(st): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    check_name("id", &id)?;
    let req: UpdateBody = parse_body(&body)?;
    if req.text.is_none() && req.metadata.is_none() {
        return Err(MemError::invalid("give text, metadata or both"));
    }
    let _admitted = st.admission.try_admit(usize::from(req.text.is_some()))?;
    let record = api
        .memory()
        .update(&collection, &id, req.text, req.metadata)
        .await?;
    Ok(to_json(StatusCode::OK, &record))
}

/// `DELETE .../records/{id}` → `{"deleted": id}`; 404 when there was none.
pub(super) async fn delete(
    State(st): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    check_name("id", &id)?;
    if api.memory().delete(&collection, &id).await? {
        Ok(to_json(StatusCode::OK, &json!({ "deleted": id })))
    } else {
        Err(MemError::not_found(format!(
            "no record {id:?} in collection {collection:?}"
        )))
    }
}

/// `GET .../records/{id}/history` → `{"history": [...]}`, oldest first; 404
/// for an id that never existed.
pub(super) async fn history(
    State(st): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    check_name("id", &id)?;
    let changes = api.memory().history(&collection, &id).await?;
    if changes.is_empty() {
        return Err(MemError::not_found(format!(
            "no history of {id:?} in collection {collection:?}"
        )));
    }
    Ok(to_json(StatusCode::OK, &json!({ "history": changes })))
}

/// `POST .../delete_all`: at least one of the scope ids.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    user_id: Option<String>,
    agent_id: Option<String>,
    run_id: Option<String>,
}

/// `POST .../delete_all` → `{"deleted": n}`.
pub(super) async fn delete_all(
    State(st): State<AppState>,
    Path(collection): Path<String>,
    body: Bytes,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    let req: ScopeBody = parse_body(&body)?;
    let scope = scope_of(req.user_id, req.agent_id, req.run_id)?;
    let n = api.memory().delete_all(&collection, &scope).await?;
    Ok(to_json(StatusCode::OK, &json!({ "deleted": n })))
}

fn collection_json(api: &super::MemoryApi, info: &embedrock_store::CollectionInfo) -> Value {
    let mut v = serde_json::to_value(info).unwrap_or(Value::Null);
    v["background_reembed"] = api.reembed_report(&info.name).unwrap_or(Value::Null);
    v
}

/// `GET /v1/memory/collections` → `{"collections": [...], "identity": the
/// server's embedder}`.
pub(super) async fn collections(State(st): State<AppState>) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    let all = api.memory().store().collections().await?;
    let list: Vec<Value> = all.iter().map(|c| collection_json(&api, c)).collect();
    Ok(to_json(
        StatusCode::OK,
        &json!({"collections": list, "identity": api.memory().identity()}),
    ))
}

/// `GET /v1/memory/collections/{c}`.
pub(super) async fn collection(
    State(st): State<AppState>,
    Path(collection): Path<String>,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    match api.memory().store().collection(&collection).await? {
        Some(info) => Ok(to_json(StatusCode::OK, &collection_json(&api, &info))),
        None => Err(MemError::not_found(format!("no collection {collection:?}"))),
    }
}

/// `POST .../reembed`: moves the collection to the server's embedder in the
/// background and answers at once, 202 with the re-embed's state (200 when
/// the collection already holds the server's vectors). The collection serves
/// searches under its old embedder until the move completes.
pub(super) async fn reembed(
    State(st): State<AppState>,
    Path(collection): Path<String>,
) -> Result<Response, MemError> {
    let api = api_of(&st)?;
    check_name("collection", &collection)?;
    let info = api
        .memory()
        .store()
        .collection(&collection)
        .await?
        .ok_or_else(|| MemError::not_found(format!("no collection {collection:?}")))?;
    let target = api.memory().identity();
    if &info.identity == target && info.reembedding.is_none() {
        return Ok(to_json(
            StatusCode::OK,
            &json!({"state": "current", "identity": target}),
        ));
    }
    if let Some(other) = info.reembedding.as_ref().filter(|t| *t != target) {
        return Err(MemError::new(
            StatusCode::CONFLICT,
            "conflict_error",
            "reembed_in_progress",
            format!("collection {collection:?} is being moved to {other}, not to {target}"),
        ));
    }
    let started = api.start_reembed(&collection)?;
    let mut report = api
        .reembed_report(&collection)
        .unwrap_or_else(|| json!({"state": "running"}));
    report["started"] = Value::Bool(started);
    report["target"] = serde_json::to_value(target).unwrap_or(Value::Null);
    Ok(to_json(StatusCode::ACCEPTED, &report))
}
