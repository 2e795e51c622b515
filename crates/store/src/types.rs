//! What a store holds: collections bound to one embedder identity, records
//! with scopes and metadata, and the history of every change.

use std::fmt;

use embedrock_core::{ModelFacts, OutputType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// The embedder a collection's vectors came from. Vectors of two identities
/// are not comparable (another model, or the same model at other dimensions,
/// gives meaningless scores), so a collection records its identity and
/// refuses vectors of any other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// Who provides the model (`Amazon`, `Cohere`, `Local`).
    pub provider: String,
    /// The model's id, as its catalogue row or its folder names it.
    pub model: String,
    /// Dimensions of the stored vectors.
    pub dimensions: usize,
    /// Whether the vectors are scaled to unit length.
    pub normalize: bool,
    /// The numeric form the vectors were asked in.
    pub output_type: OutputType,
}

impl Identity {
    /// The identity of float vectors of `dimensions` (the model's default when
    /// `None`) from the model these facts describe.
    pub fn from_facts(facts: &ModelFacts, dimensions: Option<usize>, normalize: bool) -> Self {
        let model = facts
            .catalogue
            .map_or_else(|| facts.id.clone(), |row| row.id.to_string());
        Identity {
            provider: facts.provider.as_str().to_string(),
            model,
            dimensions: dimensions.unwrap_or(facts.default_dimensions),
            normalize,
            output_type: OutputType::Float,
        }
    }

    /// An error unless `asked` is this identity; the message names both.
    pub fn check(&self, collection: &str, asked: &Identity) -> Result<()> {
        if self == asked {
            Ok(())
        } else {
            Err(Error::IdentityMismatch {
                collection: collection.to_string(),
                holds: Box::new(self.clone()),
                asked: Box::new(asked.clone()),
            })
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {} dimensions, {}, {}",
            self.provider,
            self.model,
            self.dimensions,
            if self.normalize {
                "normalized"
            } else {
                "not normalized"
            },
            self.output_type.as_str()
        )
    }
}

/// Who a record belongs to, in mem0's terms. Adding needs at least one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The user the memory is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The agent that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The run (session) it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// The longest scope id or record id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

impl Scope {
    /// A scope for one user.
    pub fn user(id: impl Into<String>) -> Self {
        Scope {
            user_id: Some(id.into()),
            ..Scope::default()
        }
    }

    /// Whether no id is set.
    pub fn is_empty(&self) -> bool {
        self.user_id.is_none() && self.agent_id.is_none() && self.run_id.is_none()
    }

    /// The set ids as `(field, value)` pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("user_id", self.user_id.as_deref()),
            ("agent_id", self.agent_id.as_deref()),
            ("run_id", self.run_id.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// An error unless at least one id is set (as mem0 requires when adding)
    /// and every id is a non-empty string of at most [`MAX_ID_BYTES`].
    pub fn check_for_add(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::InvalidInput(
                "at least one of user_id, agent_id or run_id is required".into(),
            ));
        }
        for (field, value) in self.pairs() {
            if value.is_empty() || value.len() > MAX_ID_BYTES {
                return Err(Error::InvalidInput(format!(
                    "{field} must be 1 to {MAX_ID_BYTES} bytes, got {}",
                    value.len()
                )));
            }
        }
        Ok(())
    }
}

/// Where a record's text came from, when it was ingested from a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The file path or URL.
    pub source: String,
    /// The chunk's position in the source, from 0.
    pub chunk: usize,
    /// Byte offsets of the chunk in the source's extracted text.
    pub start: usize,
    /// End of the chunk (exclusive).
    pub end: usize,
    /// sha256 of the whole source's content, to recognise it when added again.
    pub content_hash: String,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its id, unique in the store.
    pub id: String,
    /// The text that was embedded.
    pub text: String,
    /// Who it belongs to.
    #[serde(flatten)]
    pub scope: Scope,
    /// Any JSON object the caller attached.
    pub metadata: Map<String, Value>,
    /// Where it came from, for ingested chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// When it was added, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at: i64,
}

impl Record {
    /// The fields a filter sees: the scopes, `id`, `text`, `created_at`,
    /// `updated_at`, every metadata key at the top level (scopes win on a
    /// clash) and the metadata again under `metadata`.
    pub fn filter_view(&self) -> Map<String, Value> {
        let mut view = self.metadata.clone();
        view.insert("metadata".into(), Value::Object(self.metadata.clone()));
        view.insert("id".into(), Value::String(self.id.clone()));
        view.insert("text".into(), Value::String(self.text.clone()));
        view.insert("created_at".into(), Value::from(self.created_at));
        view.insert("updated_at".into(), Value::from(self.updated_at));
        for (field, value) in self.scope.pairs() {
            view.insert(field.into(), Value::String(value.to_string()));
        }
        if let Some(origin) = &self.origin {
            view.insert("source".into(), Value::String(origin.source.clone()));
        }
        view
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The record.
    #[serde(flatten)]
    pub record: Record,
    /// Its similarity to the query (cosine for normalized vectors, higher is closer).
    pub score: f32,
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Event {
    /// It was added.
    Add,
    /// Its text or metadata changed.
    Update,
    /// It was deleted.
    Delete,
}

/// One change to a record. A history lists them oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The record changed.
    pub memory_id: String,
    /// What happened.
    pub event: Event,
    /// The text before (none for an add).
    pub old_memory: Option<String>,
    /// The text after (none for a delete).
    pub new_memory: Option<String>,
    /// When, in milliseconds since the Unix epoch.
    pub at: i64,
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Records to skip.
    pub offset: usize,
    /// Records to return at most.
    pub limit: usize,
}

/// The most records one page or one search may return.
pub const MAX_PAGE: usize = 10_000;

impl Page {
    /// The first `limit` records.
    pub fn first(limit: usize) -> Self {
        Page { offset: 0, limit }
    }

    /// An error when the page asks for more than [`MAX_PAGE`] records or none.
    pub fn check(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(Error::InvalidInput(format!(
                "a page holds 1 to {MAX_PAGE} records, asked for {}",
                self.limit
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::ModelFacts;
    use serde_json::json;

    #[test]
    fn identity_mismatch_names_both_sides() {
        let facts = ModelFacts::lookup("amazon.titan-embed-text-v2", 0, 0);
        let held = Identity::from_facts(&facts, Some(512), true);
        assert_eq!(held.model, "amazon.titan-embed-text-v2:0");
        let asked = Identity::from_facts(&facts, None, true);
        let err = held.check("notes", &asked).unwrap_err().to_string();
        assert_eq!(
            err,
            "collection notes holds vectors of Amazon amazon.titan-embed-text-v2:0 at 512 dimensions, normalized, float; \
             this request uses Amazon amazon.titan-embed-text-v2:0 at 1024 dimensions, normalized, float"
        );
        assert!(held.check("notes", &held.clone()).is_ok());
    }

    #[test]
    fn scopes_are_required_for_add() {
        assert!(Scope::default().check_for_add().is_err());
        assert!(Scope::user("alice").check_for_add().is_ok());
        assert!(Scope::user("").check_for_add().is_err());
        assert!(Scope::user("x".repeat(MAX_ID_BYTES + 1))
            .check_for_add()
            .is_err());
    }

    #[test]
    fn filters_see_scopes_and_metadata() {
        let r = Record {
            id: "r1".into(),
            text: "likes tea".into(),
            scope: Scope::user("alice"),
            metadata: json!({"topic": "food", "user_id": "spoofed"})
                .as_object()
                .cloned()
                .unwrap(),
            origin: None,
            created_at: 1,
            updated_at: 2,
        };
        let view = r.filter_view();
        assert_eq!(view["user_id"], "alice");
        assert_eq!(view["topic"], "food");
        assert_eq!(view["metadata"]["user_id"], "spoofed");
        let f =
            crate::Filter::parse(&json!({"user_id": "alice", "metadata.topic": "food"})).unwrap();
        assert!(f.matches(&view));
    }

    #[test]
    fn pages_are_bounded() {
        assert!(Page::first(10).check().is_ok());
        assert!(Page::first(0).check().is_err());
        assert!(Page::first(MAX_PAGE + 1).check().is_err());
    }
}
