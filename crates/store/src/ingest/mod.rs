//! Ingestion in embedchain's shape: files, directories and URLs turned into
//! chunks of text, embedded and stored with where each chunk came from.
//!
//! A source is read (its limits checked first), its text extracted
//! ([`extract`]), cut into token-bounded chunks with overlap ([`chunk`]),
//! and each chunk stored with an [`Origin`](crate::Origin): the source, the
//! chunk's index, its byte offsets in the extracted text and the sha256 of
//! that text. Reading and extraction (PDF parsing included) run on
//! tokio's blocking pool, never on the async runtime's workers.
//!
//! The same content is not stored twice: a source whose extracted text has
//! the hash of records already in the collection, under the same scope and
//! as many chunks as this ingest would make, is reported as already present.
//! A source whose content changed (or whose earlier ingest was interrupted,
//! or was chunked otherwise) is stored anew, and its earlier records (same
//! source, same scope) are deleted once every new chunk is stored, so an
//! interruption leaves the old and part of the new, never neither.

pub mod chunk;
pub mod extract;
pub mod pdf;
pub mod source;

use std::sync::Arc;

use embedrock_core::DynEmbedder;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use chunk::{ChunkSpec, Span};
pub use extract::Format;
pub use source::{Limits, Source};

use crate::memory::scope_filter;
use crate::{Error, Filter, Item, Memory, Op, Origin, Page, Result, Scope, MAX_PAGE};
use source::Pending;

/// The default chunk size's ceiling in tokens, for models that take long texts.
pub const DEFAULT_MAX_CHUNK_TOKENS: usize = 512;
/// The smallest chunk size accepted, in tokens.
pub const MIN_CHUNK_TOKENS: usize = 8;
/// Sources one ingest takes.
pub const MAX_SOURCES: usize = 1000;

/// How to ingest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestOptions {
    /// Tokens per chunk, special tokens included (default: the model's
    /// limit, at most [`DEFAULT_MAX_CHUNK_TOKENS`]).
    pub chunk_tokens: Option<usize>,
    /// Tokens each chunk repeats from the previous one (default: an eighth
    /// of the chunk size); less than half the chunk size.
    pub chunk_overlap: Option<usize>,
    /// Metadata stored with every chunk.
    pub metadata: Map<String, Value>,
    /// Bounds on what is read.
    pub limits: Limits,
    /// Stop at the first source that fails; the rest are reported as not
    /// attempted.
    pub stop_on_error: bool,
}

/// What happened to one source (one file of a directory, one URL).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Its chunks were stored.
    Added {
        /// The new records, in chunk order.
        ids: Vec<String>,
        /// Earlier records of the same source (other content) deleted after.
        replaced: usize,
    },
    /// The same content was already stored; nothing was added.
    Duplicate {
        /// The chunks already stored.
        chunks: usize,
    },
    /// It could not be read or stored.
    Failed {
        /// Why.
        error: String,
        /// Chunks stored before the failure (kept; ingesting the source again
        /// replaces them).
        stored: Vec<String>,
    },
    /// An earlier source failed and the ingest was asked to stop there.
    NotAttempted,
}

/// One source's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    /// The file path or URL (password hidden).
    pub source: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl SourceReport {
    /// Whether the source failed or was not attempted.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. } | Outcome::NotAttempted)
    }
}

/// What an ingest in progress reports.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestEvent {
    /// The sources were expanded: this many files and URLs follow.
    Planned {
        /// Files and URLs.
        sources: usize,
    },
    /// A source was chunked and its chunks are being stored.
    Chunked {
        /// The source.
        source: String,
        /// Its chunks.
        chunks: usize,
    },
    /// More chunks of a source were stored.
    Stored {
        /// The source.
        source: String,
        /// Its chunks stored so far.
        done: usize,
    },
    /// A source is finished.
    Done(SourceReport),
}

/// The chunk size and overlap for `embedder`'s model.
pub fn chunk_spec(embedder: &DynEmbedder, options: &IngestOptions) -> Result<ChunkSpec> {
    let facts = embedder.facts();
    let model_max = facts.max_tokens;
    let tokens = options.chunk_tokens.unwrap_or_else(|| {
        model_max
            .unwrap_or(DEFAULT_MAX_CHUNK_TOKENS)
            .min(DEFAULT_MAX_CHUNK_TOKENS)
    });
    if tokens < MIN_CHUNK_TOKENS || model_max.is_some_and(|m| tokens > m) {
        return Err(Error::InvalidInput(format!(
            "chunks of {tokens} tokens: the size must be {MIN_CHUNK_TOKENS} to {} for {}",
            model_max.map_or_else(|| "any size".into(), |m| m.to_string()),
            facts.id
        )));
    }
    let overlap = options.chunk_overlap.unwrap_or(tokens / 8);
    if overlap * 2 >= tokens {
        return Err(Error::InvalidInput(format!(
            "an overlap of {overlap} tokens must be less than half the chunk size ({tokens})"
        )));
    }
    Ok(ChunkSpec {
        tokens,
        overlap,
        max_chars: facts.max_chars,
    })
}

/// Counts tokens with the embedder's tokenizer, or estimates them for
/// models whose tokenizer is not available here: a token per three
/// characters of each word, rounded up (English averages about four).
fn counter(embedder: DynEmbedder) -> impl Fn(&[String]) -> Result<Vec<usize>> + Sync {
    move |texts: &[String]| match embedder.count_tokens(texts) {
        Ok(counts) => Ok(counts),
        Err(embedrock_core::Error::Unsupported { .. }) => Ok(texts
            .iter()
            .map(|t| {
                t.split_whitespace()
                    .map(|w| w.chars().count().div_ceil(3))
                    .sum()
            })
            .collect()),
        Err(e) => Err(e.into()),
    }
}

/// The hex sha256 of a text.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A source read, hashed and chunked.
struct Prepared {
    text: String,
    hash: String,
    spans: Vec<Span>,
}

/// Reads, extracts and chunks one file or URL, off the async runtime.
async fn prepare(
    pending: Pending,
    embedder: DynEmbedder,
    spec: ChunkSpec,
    limits: Limits,
) -> Result<Prepared> {
    tokio::task::spawn_blocking(move || {
        let label = pending.label();
        let text = match pending {
            Pending::File(path) => source::load_file(&path, &limits)?,
            Pending::Url(url) => source::fetch_url(&url, &limits)?,
            Pending::Failed(_, error) => return Err(error),
        };
        if text.trim().is_empty() {
            return Err(Error::InvalidInput(format!("{label} has no text to add")));
        }
        let count = counter(embedder);
        let spans = chunk::chunk(&text, &spec, &count)?;
        Ok(Prepared {
            hash: content_hash(&text),
            text,
            spans,
        })
    })
    .await
    .map_err(|e| Error::Backend(format!("reading a source stopped: {e}")))?
}

/// Ingests `sources` into `collection` under `scope`: see the module
/// documentation. Called by [`Memory::ingest`].
pub(crate) async fn run(
    memory: &Memory,
    embedder: &DynEmbedder,
    collection: &str,
    scope: &Scope,
    sources: &[Source],
    options: &IngestOptions,
    progress: &(dyn Fn(&IngestEvent) + Send + Sync),
) -> Result<Vec<SourceReport>> {
    scope.check_for_add()?;
    if sources.is_empty() || sources.len() > MAX_SOURCES {
        return Err(Error::InvalidInput(format!(
            "an ingest takes 1 to {MAX_SOURCES} sources, got {}",
            sources.len()
        )));
    }
    let spec = chunk_spec(embedder, options)?;
    for s in sources {
        if let Source::Path { glob: Some(g), .. } = s {
            source::check_glob(g)?;
        }
    }
    memory.collection(collection).await?;
    let limits = options.limits;
    let owned = sources.to_vec();
    let pending: Vec<Pending> = tokio::task::spawn_blocking(move || {
        owned
            .iter()
            .flat_map(|s| source::expand(s, &limits))
            .collect()
    })
    .await
    .map_err(|e| Error::Backend(format!("listing the sources stopped: {e}")))?;
    progress(&IngestEvent::Planned {
        sources: pending.len(),
    });
    let mut reports = Vec::with_capacity(pending.len());
    let mut stopped = false;
    for p in pending {
        let label = p.label();
        let outcome = if stopped {
            Outcome::NotAttempted
        } else {
            let ctx = Ctx {
                memory,
                embedder,
                collection,
                scope,
                options,
                progress,
            };
            ctx.one(p, &label, spec).await
        };
        let report = SourceReport {
            source: label,
            outcome,
        };
        stopped |= options.stop_on_error && report.failed();
        progress(&IngestEvent::Done(report.clone()));
        reports.push(report);
    }
    Ok(reports)
}

/// What every source of one ingest shares.
struct Ctx<'a> {
    memory: &'a Memory,
    embedder: &'a DynEmbedder,
    collection: &'a str,
    scope: &'a Scope,
    options: &'a IngestOptions,
    progress: &'a (dyn Fn(&IngestEvent) + Send + Sync),
}

impl Ctx<'_> {
    /// Ingests one file or URL.
    async fn one(&self, pending: Pending, label: &str, spec: ChunkSpec) -> Outcome {
        let failed = |e: Error, stored: Vec<String>| Outcome::Failed {
            error: e.to_string(),
            stored,
        };
        let prepared = match prepare(
            pending,
            Arc::clone(self.embedder),
            spec,
            self.options.limits,
        )
        .await
        {
            Ok(p) => p,
            Err(e) => return failed(e, Vec::new()),
        };
        let present = match self.same_content(&prepared.hash).await {
            Ok(n) => n,
            Err(e) => return failed(e, Vec::new()),
        };
        if present == prepared.spans.len() {
            return Outcome::Duplicate { chunks: present };
        }
        let earlier = match self.earlier(label).await {
            Ok(ids) => ids,
            Err(e) => return failed(e, Vec::new()),
        };
        (self.progress)(&IngestEvent::Chunked {
            source: label.to_string(),
            chunks: prepared.spans.len(),
        });
        let mut ids = Vec::with_capacity(prepared.spans.len());
        if let Err(e) = self.store_chunks(label, &prepared, &mut ids).await {
            return failed(e, ids);
        }
        let replaced = match self.delete(&earlier).await {
            Ok(n) => n,
            Err(e) => return failed(e, ids),
        };
        Outcome::Added { ids, replaced }
    }

    /// Embeds and stores the chunks a batch at a time, each batch committed
    /// before the next; `ids` holds every stored chunk's id.
    async fn store_chunks(
        &self,
        label: &str,
        prepared: &Prepared,
        ids: &mut Vec<String>,
    ) -> Result<()> {
        let batch = self.embedder.max_batch().clamp(1, 256);
        let items: Vec<Item> = prepared
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| Item {
                text: prepared.text[s.start..s.end].to_string(),
                metadata: self.options.metadata.clone(),
                origin: Some(Origin {
                    source: label.to_string(),
                    chunk: i,
                    start: s.start,
                    end: s.end,
                    content_hash: prepared.hash.clone(),
                }),
            })
            .collect();
        for group in items.chunks(batch) {
            let added = self
                .memory
                .add(self.collection, self.scope, group.to_vec(), &|_| {})
                .await?;
            ids.extend(added);
            (self.progress)(&IngestEvent::Stored {
                source: label.to_string(),
                done: ids.len(),
            });
        }
        Ok(())
    }

    /// How many records of this scope hold content with this hash.
    async fn same_content(&self, hash: &str) -> Result<usize> {
        let store = self.memory.store();
        let ids = store.find_by_content_hash(self.collection, hash).await?;
        let mut n = 0;
        for id in ids {
            if let Some(r) = store.get(self.collection, &id).await? {
                n += usize::from(r.scope == *self.scope);
            }
        }
        Ok(n)
    }

    /// The ids of this scope's records from `source`.
    async fn earlier(&self, source: &str) -> Result<Vec<String>> {
        let filter = scope_filter(self.scope).and(Filter::Field {
            field: "source".into(),
            op: Op::Eq(Value::String(source.to_string())),
        });
        let mut ids = Vec::new();
        loop {
            let page = Page {
                offset: ids.len(),
                limit: MAX_PAGE,
            };
            let got = self
                .memory
                .store()
                .list(self.collection, &filter, page)
                .await?;
            let full = got.len() == MAX_PAGE;
            ids.extend(got.into_iter().map(|r| r.id));
            if !full {
                return Ok(ids);
            }
        }
    }

    /// Deletes these records in one transaction.
    async fn delete(&self, ids: &[String]) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let filter = Filter::Field {
            field: "id".into(),
            op: Op::In(ids.iter().cloned().map(Value::String).collect()),
        };
        self.memory
            .store()
            .delete_where(self.collection, &filter)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::{EmbedRequest, EmbedResponse, Embedder};

    /// Stands for a Bedrock model: its catalogue row, no tokenizer here.
    struct Titan;

    #[async_trait::async_trait]
    impl Embedder for Titan {
        async fn embed(&self, _: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
            Err(embedrock_core::Error::backend_msg("not used"))
        }
        fn model_id(&self) -> &str {
            "amazon.titan-embed-text-v2:0"
        }
        fn dimensions(&self) -> usize {
            1024
        }
        fn max_batch(&self) -> usize {
            1
        }
    }

    #[test]
    fn models_without_a_tokenizer_get_estimates_and_their_limits() {
        let e: DynEmbedder = Arc::new(Titan);
        let spec = chunk_spec(&e, &IngestOptions::default()).unwrap();
        assert_eq!((spec.tokens, spec.overlap), (512, 64));
        assert_eq!(spec.max_chars, e.facts().max_chars);
        let too_big = IngestOptions {
            chunk_tokens: Some(9000),
            ..IngestOptions::default()
        };
        assert!(chunk_spec(&e, &too_big).is_err());
        let count = counter(e);
        assert_eq!(count(&["abcdefg".into(), String::new()]).unwrap(), [3, 0]);
        let text = "A sentence of some words. ".repeat(400);
        let spans = chunk::chunk(&text, &spec, &count).unwrap();
        assert!(spans.len() > 3);
        for s in &spans {
            let n = count(&[text[s.start..s.end].to_string()]).unwrap()[0];
            assert!(n <= 512, "{n}");
        }
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            content_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
