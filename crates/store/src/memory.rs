//! A store paired with an embedder: mem0's operations on texts.
//!
//! [`Memory`] embeds documents as documents and queries as queries, checks
//! that the collection holds vectors of this embedder (its [`Identity`]),
//! and writes each embedded batch in its own transaction, so an interrupted
//! `add` keeps every batch it acknowledged.

use std::sync::Arc;

use embedrock_core::{DynEmbedder, EmbedRequest, InputType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::backend::{CollectionInfo, NewRecord, Patch, Search, SearchPath, Staged, VectorStore};
use crate::{Change, Error, Filter, Hit, Identity, Origin, Page, Record, Result, Scope};

/// The longest text accepted, in bytes, before any embedding.
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// The most texts one `add` takes.
pub const MAX_ADD: usize = 100_000;

/// One text to add, with its metadata and, for ingested chunks, its origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// The text.
    pub text: String,
    /// Any JSON metadata.
    pub metadata: Map<String, Value>,
    /// Where it came from.
    pub origin: Option<Origin>,
}

impl Item {
    /// An item of this text with no metadata.
    pub fn text(text: impl Into<String>) -> Self {
        Item {
            text: text.into(),
            ..Item::default()
        }
    }
}

/// A chat message, as mem0 takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// What was said.
    pub content: String,
}

/// A store and the embedder whose vectors it holds.
#[derive(Clone)]
pub struct Memory {
    store: Arc<dyn VectorStore>,
    embedder: DynEmbedder,
    identity: Identity,
    dimensions: Option<usize>,
    path: SearchPath,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("identity", &self.identity)
            .finish()
    }
}

impl Memory {
    /// Pairs `store` with `embedder`, asking for `dimensions` (the model's
    /// default when `None`) and normalised float vectors.
    pub fn new(
        store: Arc<dyn VectorStore>,
        embedder: DynEmbedder,
        dimensions: Option<usize>,
    ) -> Result<Self> {
        let facts = embedder.facts();
        if let Some(d) = dimensions {
            // Local models truncate to any smaller size (Matryoshka); Bedrock
            // models take only their listed sizes.
            let local = facts.provider == embedrock_core::Provider::Local;
            let allowed = facts.dimensions.contains(&d)
                || (local && (1..facts.default_dimensions).contains(&d));
            if !allowed {
                return Err(Error::InvalidInput(format!(
                    "model {} does not produce {d} dimensions (allowed: {:?})",
                    facts.id, facts.dimensions
                )));
            }
        }
        let identity = Identity::from_facts(&facts, dimensions, true);
        Ok(Memory {
            store,
            embedder,
            identity,
            dimensions,
            path: SearchPath::Auto,
        })
    }

    /// Searches by `path` instead of letting the store choose.
    pub fn with_search_path(mut self, path: SearchPath) -> Self {
        self.path = path;
        self
    }

    /// The identity of the vectors this memory writes and searches with.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn VectorStore> {
        &self.store
    }

    /// Creates the collection for this embedder, or checks that it holds
    /// this embedder's vectors.
    pub async fn collection(&self, name: &str) -> Result<CollectionInfo> {
        self.store.ensure_collection(name, &self.identity).await
    }

    async fn checked(&self, name: &str) -> Result<()> {
        match self.store.collection(name).await? {
            Some(c) => c.identity.check(name, &self.identity),
            None => Err(Error::NotFound(format!("collection {name:?}"))),
        }
    }

    async fn embed(&self, texts: Vec<String>, input_type: InputType) -> Result<Vec<Vec<f32>>> {
        let request = EmbedRequest::new(texts)
            .with_input_type(input_type)
            .with_dimensions(self.dimensions)
            .with_normalize(true);
        let expected = request.texts.len();
        let response = self.embedder.embed(request).await?;
        if response.vectors.len() != expected {
            return Err(Error::Backend(format!(
                "the embedder returned {} vectors for {expected} texts",
                response.vectors.len()
            )));
        }
        Ok(response.vectors)
    }

    /// Adds texts under `scope` (at least one of its ids set) and returns
    /// their ids in order. Texts are embedded as documents, a batch at a time,
    /// and each batch is committed before the next is embedded; `progress`
    /// hears how many are stored after each.
    pub async fn add(
        &self,
        collection: &str,
        scope: &Scope,
        items: Vec<Item>,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<String>> {
        let ids = std::sync::Mutex::new(Vec::with_capacity(items.len()));
        self.add_acknowledged(collection, scope, items, &|batch| {
            let mut ids = ids.lock().unwrap_or_else(|e| e.into_inner());
            ids.extend_from_slice(batch);
            progress(ids.len());
        })
        .await?;
        Ok(ids.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// [`Memory::add`] that hands each batch's ids to `acknowledged` as soon
    /// as the batch is committed (durable), in order. When a later batch
    /// fails, the batches already acknowledged stay stored.
    pub async fn add_acknowledged(
        &self,
        collection: &str,
        scope: &Scope,
        items: Vec<Item>,
        acknowledged: &(dyn Fn(&[String]) + Send + Sync),
    ) -> Result<()> {
        scope.check_for_add()?;
        check_items(&items)?;
        self.collection(collection).await?;
        let batch = self.embedder.max_batch().clamp(1, 256);
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<Item> = items.by_ref().take(batch).collect();
            let vectors = self
                .embed(
                    chunk.iter().map(|i| i.text.clone()).collect(),
                    InputType::Document,
                )
                .await?;
            let records = chunk
                .into_iter()
                .zip(vectors)
                .map(|(item, vector)| NewRecord {
                    text: item.text,
                    scope: scope.clone(),
                    metadata: item.metadata,
                    origin: item.origin,
                    vector,
                })
                .collect();
            let ids = self.store.insert(collection, records).await?;
            acknowledged(&ids);
        }
        Ok(())
    }

    /// Adds chat messages as mem0 does without an LLM (`infer=False`): each
    /// message is stored as given, its role in the metadata.
    pub async fn add_messages(
        &self,
        collection: &str,
        scope: &Scope,
        messages: &[Message],
        metadata: &Map<String, Value>,
    ) -> Result<Vec<String>> {
        let items = messages
            .iter()
            .map(|m| {
                let mut md = metadata.clone();
                md.insert("role".into(), Value::String(m.role.clone()));
                Item {
                    text: m.content.clone(),
                    metadata: md,
                    origin: None,
                }
            })
            .collect();
        self.add(collection, scope, items, &|_| {}).await
    }

    /// The records nearest `query` (embedded as a query) within `scope` and
    /// `filter`, best first.
    pub async fn search(
        &self,
        collection: &str,
        query: &str,
        scope: &Scope,
        filter: Filter,
        top_k: usize,
        threshold: Option<f32>,
    ) -> Result<Vec<Hit>> {
        check_text(0, query)?;
        Page::first(top_k).check()?;
        self.checked(collection).await?;
        let vector = self
            .embed(vec![query.to_string()], InputType::Query)
            .await?
            .pop()
            .ok_or_else(|| Error::Backend("the embedder returned no vector".into()))?;
        let search = Search {
            vector,
            top_k,
            threshold,
            filter: scope_filter(scope).and(filter),
            path: self.path,
        };
        self.store.search(collection, &search).await
    }

    /// One record.
    pub async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        self.store.get(collection, id).await
    }

    /// A page of the records within `scope` and `filter`, oldest first.
    pub async fn list(
        &self,
        collection: &str,
        scope: &Scope,
        filter: Filter,
        page: Page,
    ) -> Result<Vec<Record>> {
        self.store
            .list(collection, &scope_filter(scope).and(filter), page)
            .await
    }

    /// Replaces a record's text (re-embedded) and/or metadata; the old text
    /// goes to its history.
    pub async fn update(
        &self,
        collection: &str,
        id: &str,
        text: Option<String>,
        metadata: Option<Map<String, Value>>,
    ) -> Result<Record> {
        self.checked(collection).await?;
        let vector = match &text {
            Some(t) => {
                check_text(0, t)?;
                self.embed(vec![t.clone()], InputType::Document)
                    .await?
                    .pop()
            }
            None => None,
        };
        let patch = Patch {
            text,
            metadata,
            vector,
        };
        self.store.update(collection, id, patch).await
    }

    /// Deletes one record.
    pub async fn delete(&self, collection: &str, id: &str) -> Result<bool> {
        self.store.delete(collection, id).await
    }

    /// Deletes every record within `scope`, which must name at least one id.
    pub async fn delete_all(&self, collection: &str, scope: &Scope) -> Result<usize> {
        if scope.is_empty() {
            return Err(Error::InvalidInput(
                "delete_all needs at least one of user_id, agent_id or run_id".into(),
            ));
        }
        self.store
            .delete_where(collection, &scope_filter(scope))
            .await
    }

    /// A record's changes, oldest first.
    pub async fn history(&self, collection: &str, id: &str) -> Result<Vec<Change>> {
        self.store.history(collection, id).await
    }

    /// Moves `collection` to this memory's embedder: every record is embedded
    /// again, a batch at a time, each batch kept before the next starts, and
    /// the collection switches in one transaction when none is left. Until
    /// then it serves searches under its old embedder. Run again after an
    /// interruption, it goes on from the records not yet done. `progress`
    /// hears how many records were re-embedded so far.
    pub async fn reembed(
        &self,
        collection: &str,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<CollectionInfo> {
        let info = self
            .store
            .collection(collection)
            .await?
            .ok_or_else(|| Error::NotFound(format!("collection {collection:?}")))?;
        if info.identity == self.identity && info.reembedding.is_none() {
            return Ok(info);
        }
        self.store.begin_reembed(collection, &self.identity).await?;
        let batch = self.embedder.max_batch().clamp(1, 256);
        let mut done = 0;
        loop {
            let pending = self.store.reembed_pending(collection, batch).await?;
            if pending.is_empty() {
                break;
            }
            let (ids, texts): (Vec<String>, Vec<String>) = pending.into_iter().unzip();
            let vectors = self.embed(texts.clone(), InputType::Document).await?;
            let staged: Vec<Staged> = ids
                .into_iter()
                .zip(texts)
                .zip(vectors)
                .map(|((id, text), vector)| Staged { id, text, vector })
                .collect();
            let asked = staged.len();
            let kept = self.store.stage_vectors(collection, staged).await?;
            if kept == 0 && asked > 0 {
                // Every record of the batch changed under us; read again.
                tokio::task::yield_now().await;
            }
            done += kept;
            progress(done);
        }
        match self.store.finish_reembed(collection).await {
            // Records added while the last batch was embedded: do them too.
            Err(_) if !self.store.reembed_pending(collection, 1).await?.is_empty() => {
                Box::pin(self.reembed(collection, progress)).await
            }
            other => other,
        }
    }

    /// Ingests files, directories and URLs into `collection` under `scope`:
    /// each is read within `options.limits`, its text extracted and cut into
    /// chunks of the embedder's tokens, and each chunk stored with its
    /// [`Origin`]. Returns one report per file or URL, in order: its new ids,
    /// "already present" when the same content is stored, or its error (a
    /// failed source never stops the others unless `options.stop_on_error`).
    /// Each batch of chunks is committed before the next is embedded.
    /// Errors only for what spoils every source: a missing scope, a bad
    /// chunk size, a collection of another embedder.
    pub async fn ingest(
        &self,
        collection: &str,
        scope: &Scope,
        sources: &[crate::ingest::Source],
        options: &crate::ingest::IngestOptions,
        progress: &(dyn Fn(&crate::ingest::IngestEvent) + Send + Sync),
    ) -> Result<Vec<crate::ingest::SourceReport>> {
        crate::ingest::run(
            self,
            &self.embedder,
            collection,
            scope,
            sources,
            options,
            progress,
        )
        .await
    }
}

/// The filter that keeps records of `scope` (every set id must match).
pub fn scope_filter(scope: &Scope) -> Filter {
    scope.pairs().fold(Filter::All, |f, (field, value)| {
        f.and(Filter::Field {
            field: field.to_string(),
            op: crate::Op::Eq(Value::String(value.to_string())),
        })
    })
}

fn check_text(index: usize, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::InvalidInput(format!("text {index} is empty")));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::InvalidInput(format!(
            "text {index} is {} bytes, the limit is {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

fn check_items(items: &[Item]) -> Result<()> {
    if items.is_empty() {
        return Err(Error::InvalidInput("nothing to add".into()));
    }
    if items.len() > MAX_ADD {
        return Err(Error::InvalidInput(format!(
            "{} texts in one add, the limit is {MAX_ADD}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .try_for_each(|(i, item)| check_text(i, &item.text))
}
