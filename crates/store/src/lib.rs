//! Collections of vectors with text and metadata: the memory and semantic
//! search layer of embedrock.
//!
//! Records are scoped the way mem0 scopes memories (`user_id`, `agent_id`,
//! `run_id`) and carry any JSON metadata. Searches take a [`Filter`] in
//! mem0's filter language, which is evaluated before scoring, so a filtered
//! search is never starved of results by filtering after an approximate
//! index has already cut the candidates.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod backend;
mod error;
pub mod filter;
mod graph;
pub mod index;
pub mod ingest;
mod memory;
pub mod postgres;
pub mod quant;
pub mod scan;
pub mod sqlite;
mod types;

pub use backend::{CollectionInfo, NewRecord, Patch, Search, SearchPath, Staged, VectorStore};
pub use error::{Error, Result};
pub use filter::{Fields, Filter, Op};
pub use index::HnswParams;
pub use ingest::{IngestEvent, IngestOptions, Outcome, Source, SourceReport};
pub use memory::{scope_filter, Item, Memory, Message, MAX_ADD, MAX_TEXT_BYTES};
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{Searched, SqliteStore};
pub use types::{
    Change, Event, Hit, Identity, Origin, Page, Record, Scope, MAX_ID_BYTES, MAX_PAGE,
};
