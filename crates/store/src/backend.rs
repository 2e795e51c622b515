//! The one interface every store backend implements.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Change, Filter, Hit, Identity, Origin, Page, Record, Result, Scope};

/// A collection as the store records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionInfo {
    /// Its name.
    pub name: String,
    /// The embedder its vectors come from.
    pub identity: Identity,
    /// How many records it holds.
    pub records: usize,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The embedder a re-embed in progress moves the collection to; searches
    /// keep using `identity` until the re-embed finishes.
    pub reembedding: Option<Identity>,
}

/// How a search finds its nearest records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchPath {
    /// The store picks by collection size and filter selectivity.
    #[default]
    Auto,
    /// Every admitted vector scored in full precision.
    Exact,
    /// int8-quantised vectors scan the collection, the best candidates are
    /// rescored in full precision.
    Int8,
    /// One bit per dimension scans the collection, the best candidates are
    /// rescored in full precision.
    Binary,
    /// An approximate nearest-neighbour index (HNSW), its candidates rescored
    /// in full precision.
    Approximate,
}

impl SearchPath {
    /// Its name, as flags and the HTTP API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchPath::Auto => "auto",
            SearchPath::Exact => "exact",
            SearchPath::Int8 => "int8",
            SearchPath::Binary => "binary",
            SearchPath::Approximate => "approximate",
        }
    }

    /// Parses a name given by [`SearchPath::as_str`].
    pub fn parse(s: &str) -> Option<SearchPath> {
        [
            SearchPath::Auto,
            SearchPath::Exact,
            SearchPath::Int8,
            SearchPath::Binary,
            SearchPath::Approximate,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A record's text and the vector a re-embed computed for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Staged {
    /// The record.
    pub id: String,
    /// The text the vector was computed from; a record whose text changed
    /// since is left pending.
    pub text: String,
    /// The vector, at the re-embed's target dimensions.
    pub vector: Vec<f32>,
}

/// A record to insert, with its vector already computed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// The text.
    pub text: String,
    /// Who it belongs to.
    pub scope: Scope,
    /// Any JSON metadata.
    pub metadata: Map<String, Value>,
    /// Where it came from, for ingested chunks.
    pub origin: Option<Origin>,
    /// Its vector, at the collection's dimensions.
    pub vector: Vec<f32>,
}

/// What to change in a record; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    /// The new text (its vector must come with it).
    pub text: Option<String>,
    /// The new metadata, replacing the old.
    pub metadata: Option<Map<String, Value>>,
    /// The new text's vector.
    pub vector: Option<Vec<f32>>,
}

/// A search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The query's vector, at the collection's dimensions.
    pub vector: Vec<f32>,
    /// How many results at most.
    pub top_k: usize,
    /// Leave out results scoring below this.
    pub threshold: Option<f32>,
    /// Only records this filter admits; applied before ranking, so `top_k`
    /// results come back whenever that many records match.
    pub filter: Filter,
    /// How to search; [`SearchPath::Auto`] lets the store choose.
    pub path: SearchPath,
}

/// Collections of records with vectors. Every method is one transaction:
/// when it returns `Ok`, its change is durable; when it fails, nothing of it
/// was written.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync {
    /// Creates `name` bound to `identity`, or checks that an existing
    /// collection of that name holds the same identity.
    async fn ensure_collection(&self, name: &str, identity: &Identity) -> Result<CollectionInfo>;

    /// The collection, if it exists.
    async fn collection(&self, name: &str) -> Result<Option<CollectionInfo>>;

    /// Every collection, by name.
    async fn collections(&self) -> Result<Vec<CollectionInfo>>;

    /// Deletes a collection and everything in it; `false` if there was none.
    async fn drop_collection(&self, name: &str) -> Result<bool>;

    /// Inserts records in one transaction and returns their new ids, in order.
    async fn insert(&self, collection: &str, records: Vec<NewRecord>) -> Result<Vec<String>>;

    /// One record.
    async fn get(&self, collection: &str, id: &str) -> Result<Option<Record>>;

    /// Records the filter admits, oldest first, one page of them.
    async fn list(&self, collection: &str, filter: &Filter, page: Page) -> Result<Vec<Record>>;

    /// The records nearest the query's vector, best first.
    async fn search(&self, collection: &str, search: &Search) -> Result<Vec<Hit>>;

    /// Changes a record; the old text goes to its history.
    async fn update(&self, collection: &str, id: &str, patch: Patch) -> Result<Record>;

    /// Deletes one record; `false` if there was none.
    async fn delete(&self, collection: &str, id: &str) -> Result<bool>;

    /// Deletes every record the filter admits; returns how many.
    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<usize>;

    /// A record's changes, oldest first (kept after it is deleted).
    async fn history(&self, collection: &str, id: &str) -> Result<Vec<Change>>;

    /// Ids of the records ingested from a source with this content hash.
    async fn find_by_content_hash(
        &self,
        collection: &str,
        content_hash: &str,
    ) -> Result<Vec<String>>;

    /// Starts (or, with the same target, resumes) moving a collection to the
    /// embedder `target`. Searches and writes go on under the old identity;
    /// a different target while one is in progress is an error.
    async fn begin_reembed(&self, collection: &str, target: &Identity) -> Result<CollectionInfo>;

    /// Up to `limit` records, as `(id, text)`, that have no vector under the
    /// re-embed's target yet, oldest first.
    async fn reembed_pending(
        &self,
        collection: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>>;

    /// Keeps vectors under the re-embed's target, in one transaction. A
    /// vector whose record is gone, or whose text changed since it was read,
    /// is skipped; returns how many were kept.
    async fn stage_vectors(&self, collection: &str, staged: Vec<Staged>) -> Result<usize>;

    /// Switches the collection to the target in one transaction, once no
    /// record is pending; an error naming how many are pending otherwise.
    async fn finish_reembed(&self, collection: &str) -> Result<CollectionInfo>;

    /// Abandons a re-embed in progress and its staged vectors; `false` if
    /// there was none.
    async fn abort_reembed(&self, collection: &str) -> Result<bool>;
}
