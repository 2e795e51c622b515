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
}
