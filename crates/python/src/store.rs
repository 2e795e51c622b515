//! `NativeStore`: the memory store (SQLite or PostgreSQL) paired with an
//! embedder, behind the Python `embedrock.Store`. Records, hits and changes
//! cross to Python as JSON text.

use std::sync::Arc;

use embedrock_store::{Filter, Item, Memory, Page, Scope, VectorStore};
use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::embedder::NativeEmbedder;
use crate::errors::Raised;

/// The longest JSON document (metadata, filter, scope) accepted, in bytes.
const MAX_JSON_BYTES: usize = 1 << 20;

/// A store and the embedder whose vectors it holds.
#[pyclass(module = "embedrock._embedrock", frozen)]
pub struct NativeStore {
    memory: Memory,
    location: String,
}

fn store_err(e: embedrock_store::Error) -> PyErr {
    Raised::of_store(&e).into()
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| Raised::new("StoreError", format!("cannot write JSON: {e}")).into())
}

/// Parses a JSON document from Python, checking its size first.
fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> PyResult<T> {
    if text.len() > MAX_JSON_BYTES {
        return Err(Raised::new(
            "ValidationError",
            format!(
                "{what} is {} bytes of JSON; the limit is {MAX_JSON_BYTES}",
                text.len()
            ),
        )
        .into());
    }
    serde_json::from_str(text)
        .map_err(|e| Raised::new("ValidationError", format!("{what}: {e}")).into())
}

fn scope_of(scope: Option<&str>) -> PyResult<Scope> {
    scope.map_or_else(|| Ok(Scope::default()), |s| from_json("scope", s))
}

fn filter_of(filter: Option<&str>) -> PyResult<Filter> {
    match filter {
        None => Ok(Filter::All),
        Some(text) => {
            let value: Value = from_json("filter", text)?;
            Filter::parse(&value).map_err(store_err)
        }
    }
}

#[pymethods]
impl NativeStore {
    /// Opens the store `spec` names (a SQLite path, `sqlite://path`, or a
    /// `postgres://` URL; the default store when `None`) for `embedder`.
    #[new]
    #[pyo3(signature = (spec, embedder, dimensions=None))]
    fn new(
        py: Python<'_>,
        spec: Option<String>,
        embedder: &NativeEmbedder,
        dimensions: Option<usize>,
    ) -> PyResult<Self> {
        let location = match spec.as_deref() {
            Some(s) if s.starts_with("postgres") => embedrock_core::util::redact_url(s),
            Some(s) => s.to_string(),
            None => "default".to_string(),
        };
        let opened = crate::block_on(py, async move {
            embedrock_cli::stores::open_store_at(spec.as_deref())
        })?;
        let store: Arc<dyn VectorStore> = opened.map_err(|e| Raised::of_anyhow(&e))?;
        let memory = Memory::new(store, embedder.dyn_embedder(), dimensions).map_err(store_err)?;
        Ok(NativeStore { memory, location })
    }

    /// Adds `texts` (each with its metadata, JSON objects) in `scope`:
    /// their new ids, in order.
    #[pyo3(signature = (collection, texts, metadatas, scope))]
    fn add(
        &self,
        py: Python<'_>,
        collection: String,
        texts: Vec<String>,
        metadatas: Option<Vec<String>>,
        scope: Option<String>,
    ) -> PyResult<Vec<String>> {
        if texts.len() > embedrock_store::MAX_ADD {
            return Err(Raised::new(
                "ValidationError",
                format!(
                    "{} texts in one add; the limit is {}",
                    texts.len(),
                    embedrock_store::MAX_ADD
                ),
            )
            .into());
        }
        let scope = scope_of(scope.as_deref())?;
        let metadatas: Vec<Map<String, Value>> = match metadatas {
            None => vec![Map::new(); texts.len()],
            Some(m) if m.len() == texts.len() => m
                .iter()
                .map(|t| from_json("metadata", t))
                .collect::<PyResult<_>>()?,
            Some(m) => {
                return Err(Raised::new(
                    "ValidationError",
                    format!("{} metadata objects for {} texts", m.len(), texts.len()),
                )
                .into())
            }
        };
        let items = texts
            .into_iter()
            .zip(metadatas)
            .map(|(text, metadata)| Item {
                text,
                metadata,
                origin: None,
            })
            .collect();
        let memory = self.memory.clone();
        crate::block_on(py, async move {
            memory.add(&collection, &scope, items, &|_| {}).await
        })?
        .map_err(store_err)
    }

    /// The `top_k` records nearest `query` in meaning, as JSON hits.
    #[pyo3(signature = (collection, query, scope, filter, top_k, threshold))]
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        py: Python<'_>,
        collection: String,
        query: String,
        scope: Option<String>,
        filter: Option<String>,
        top_k: usize,
        threshold: Option<f32>,
    ) -> PyResult<String> {
        let scope = scope_of(scope.as_deref())?;
        let filter = filter_of(filter.as_deref())?;
        let memory = self.memory.clone();
        let hits = crate::block_on(py, async move {
            memory
                .search(&collection, &query, &scope, filter, top_k, threshold)
                .await
        })?
        .map_err(store_err)?;
        to_json(&hits)
    }

    /// One record as JSON, or `None`.
    fn get(&self, py: Python<'_>, collection: String, id: String) -> PyResult<Option<String>> {
        let memory = self.memory.clone();
        let record = crate::block_on(py, async move { memory.get(&collection, &id).await })?
            .map_err(store_err)?;
        record.as_ref().map(to_json).transpose()
    }

    /// Records in `scope` matching `filter`, as JSON.
    #[pyo3(signature = (collection, scope, filter, limit))]
    fn get_all(
        &self,
        py: Python<'_>,
        collection: String,
        scope: Option<String>,
        filter: Option<String>,
        limit: usize,
    ) -> PyResult<String> {
        let scope = scope_of(scope.as_deref())?;
        let filter = filter_of(filter.as_deref())?;
        let page = Page::first(limit);
        page.check().map_err(store_err)?;
        let memory = self.memory.clone();
        let records = crate::block_on(py, async move {
            memory.list(&collection, &scope, filter, page).await
        })?
        .map_err(store_err)?;
        to_json(&records)
    }

    /// Changes a record's text (re-embedded) and/or metadata: the record as JSON.
    #[pyo3(signature = (collection, id, text, metadata))]
    fn update(
        &self,
        py: Python<'_>,
        collection: String,
        id: String,
        text: Option<String>,
        metadata: Option<String>,
    ) -> PyResult<String> {
        let metadata: Option<Map<String, Value>> =
            metadata.map(|m| from_json("metadata", &m)).transpose()?;
        let memory = self.memory.clone();
        let record = crate::block_on(py, async move {
            memory.update(&collection, &id, text, metadata).await
        })?
        .map_err(store_err)?;
        to_json(&record)
    }

    /// Deletes a record: whether it existed.
    fn delete(&self, py: Python<'_>, collection: String, id: String) -> PyResult<bool> {
        let memory = self.memory.clone();
        crate::block_on(py, async move { memory.delete(&collection, &id).await })?
            .map_err(store_err)
    }

    /// A record's changes, oldest first, as JSON.
    fn history(&self, py: Python<'_>, collection: String, id: String) -> PyResult<String> {
        let memory = self.memory.clone();
        let changes = crate::block_on(py, async move { memory.history(&collection, &id).await })?
            .map_err(store_err)?;
        to_json(&changes)
    }

    /// Where the store is (a PostgreSQL URL without its password).
    #[getter]
    fn location(&self) -> String {
        self.location.clone()
    }
}
