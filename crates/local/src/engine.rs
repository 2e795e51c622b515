//! The local embedder: tokenizer, encoder and head of one model directory,
//! run on the CPU.
//!
//! Texts are tokenized exactly as sentence-transformers does (truncated at the
//! model's `max_seq_length`, not the tokenizer file's own limit), sorted by
//! length so each batch holds texts of similar size, and the batches are spread
//! over the CPU's cores. Vectors come back in input order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use embedrock_core::{math, EmbedRequest, EmbedResponse, Embedder, TypedEmbeddings};
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::bert::{BertConfig, BertModel};
use crate::files::ModelStore;
use crate::pooling::Head;
use crate::{Error, Result};

/// Options for loading a local model.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalOptions {
    /// Texts per forward pass (default 32).
    pub batch_size: usize,
    /// Threads to use (default: every core; `EMBEDROCK_THREADS` overrides).
    pub threads: usize,
    /// Longest sequence in tokens; `None` reads `sentence_bert_config.json`.
    pub max_seq_length: Option<usize>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        let threads = std::env::var("EMBEDROCK_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        LocalOptions {
            batch_size: 32,
            threads,
            max_seq_length: None,
        }
    }
}

impl LocalOptions {
    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Sets the thread count.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct TokenizerConfig {
    model_max_length: Option<f64>,
}

/// The longest input sentence-transformers feeds the model:
/// `max_seq_length` in `sentence_bert_config.json` (sentence-transformers
/// before version 6), else `model_max_length` in `tokenizer_config.json`
/// (version 6 on; the tokenizer file's own truncation setting is not used).
fn read_max_seq_length(dir: &Path) -> Result<Option<usize>> {
    let read = |name: &str| -> Result<Option<String>> {
        let path = dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| Error::io(&path, e))
    };
    let bad = |name: &str, e: serde_json::Error| Error::BadModelFile {
        path: dir.join(name),
        reason: e.to_string(),
    };
    if let Some(text) = read("sentence_bert_config.json")? {
        let c: SentenceBertConfig =
            serde_json::from_str(&text).map_err(|e| bad("sentence_bert_config.json", e))?;
        if c.max_seq_length.is_some() {
            return Ok(c.max_seq_length);
        }
    }
    if let Some(text) = read("tokenizer_config.json")? {
        let c: TokenizerConfig =
            serde_json::from_str(&text).map_err(|e| bad("tokenizer_config.json", e))?;
        // Tokenizers without a limit record a huge sentinel value.
        if let Some(n) = c.model_max_length.filter(|n| *n >= 1.0 && *n < 1e6) {
            return Ok(Some(n as usize));
        }
    }
    Ok(None)
}

/// A pooled vector and the input position it belongs to.
type Pooled = (usize, Vec<f32>);

struct Engine {
    model: BertModel,
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation, for counting what a text costs.
    counter: Tokenizer,
    head: Head,
    max_seq_length: usize,
    batch_size: usize,
    pool: rayon::ThreadPool,
    threads: usize,
}

/// A sentence-transformers model of the BERT family, run on the CPU.
///
/// Cheap to clone: clones share the loaded weights.
#[derive(Clone)]
pub struct LocalEmbedder {
    engine: Arc<Engine>,
    id: String,
    dir: PathBuf,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("id", &self.id)
            .field("dir", &self.dir)
            .field("dimensions", &self.engine.model.hidden_size())
            .field("max_seq_length", &self.engine.max_seq_length)
            .finish()
    }
}

impl LocalEmbedder {
    /// Opens a model by name (a catalogue id such as `all-minilm-l6-v2`, a
    /// Hugging Face repository id, or a directory), fetching it into the cache
    /// on first use.
    pub fn open(name: &str) -> Result<Self> {
        let store = ModelStore::from_env();
        let dir = store.ensure(name, &crate::files::NoProgress)?;
        Self::load(&dir, &store.canonical_name(name), LocalOptions::default())
    }

    /// Loads the model in `dir` under the id `id`.
    pub fn load(dir: &Path, id: &str, options: LocalOptions) -> Result<Self> {
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !dir.join(file).is_file() {
                return Err(Error::MissingFile {
                    dir: dir.to_path_buf(),
                    file: file.into(),
                });
            }
        }
        let cfg = BertConfig::load(&dir.join("config.json"))?;
        let max_seq_length = match options.max_seq_length {
            Some(n) => n,
            None => read_max_seq_length(dir)?.unwrap_or(cfg.max_position_embeddings),
        }
        .min(cfg.max_position_embeddings);
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| Error::BadModelFile {
            path: tok_path.clone(),
            reason: e.to_string(),
        })?;
        // The shipped tokenizer.json may truncate and pad to its own fixed
        // length; sentence-transformers truncates at max_seq_length and pads to
        // the longest text, which packing makes unnecessary.
        let mut counter = tokenizer.clone();
        counter
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        counter.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let head = Head::load(dir)?;
        let model = BertModel::load(&dir.join("model.safetensors"), cfg)?;
        let threads = options.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embedrock-cpu-{i}"))
            .build()
            .map_err(|e| Error::Tokenizer(format!("could not start worker threads: {e}")))?;
        Ok(LocalEmbedder {
            engine: Arc::new(Engine {
                model,
                tokenizer,
                counter,
                head,
                max_seq_length,
                batch_size: options.batch_size.max(1),
                pool,
                threads,
            }),
            id: id.to_string(),
            dir: dir.to_path_buf(),
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The longest input in tokens; longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.engine.max_seq_length
    }

    /// The token ids of each text, special tokens included, after truncation.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        self.engine.tokenize(texts)
    }

    /// Embeds texts on the calling thread (and the engine's worker threads),
    /// returning one vector per text in input order plus token counts.
    /// `normalize` applies L2 normalisation; without it the pooled vector is
    /// returned as the model's head computes it, minus the Normalize step.
    pub fn embed_sync(
        &self,
        texts: &[String],
        normalize: bool,
    ) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        self.engine.embed(texts, normalize)
    }
}

impl Engine {
    fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    fn embed(&self, texts: &[String], normalize: bool) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        let ids = self.tokenize(texts)?;
        let tokens: Vec<usize> = ids.iter().map(Vec::len).collect();
        // Longest first, so the costliest batches start early and the last
        // ones to finish are short.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let width = self.model.hidden_size();
        // Parallel over batches when there are enough of them; otherwise inside
        // the matrix multiplies of the one batch.
        let inner_threads = if batches.len() >= self.threads {
            1
        } else {
            self.threads
        };
        let results: Vec<Result<Vec<Pooled>>> = self.pool.install(|| {
            batches
                .par_iter()
                .map(|batch| {
                    let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
                    let states = self.model.forward(&seqs, inner_threads)?;
                    let mut out = Vec::with_capacity(batch.len());
                    let mut offset = 0;
                    for (&i, seq) in batch.iter().zip(&seqs) {
                        let rows = &states[offset * width..(offset + seq.len()) * width];
                        offset += seq.len();
                        let mut v = self.head.pool(rows, width);
                        if normalize {
                            math::l2_normalize(&mut v);
                        }
                        out.push((i, v));
                    }
                    Ok(out)
                })
                .collect()
        });
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in results {
            for (i, v) in batch? {
                vectors[i] = v;
            }
        }
        Ok((vectors, tokens))
    }
}

#[async_trait::async_trait]
impl Embedder for LocalEmbedder {
    async fn embed(&self, request: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
        if request.texts.is_empty() {
            return Err(embedrock_core::Error::EmptyInput);
        }
        let native = self.engine.model.hidden_size();
        let dimensions = request.dimensions.unwrap_or(native);
        if dimensions == 0 || dimensions > native {
            return Err(embedrock_core::Error::InvalidRequest(format!(
                "model {} produces {native} dimensions; {dimensions} is not between 1 and {native}",
                self.id
            )));
        }
        let this = self.clone();
        let texts = request.texts;
        let normalize = request.normalize;
        let (mut vectors, tokens) =
            tokio::task::spawn_blocking(move || this.engine.embed(&texts, normalize))
                .await
                .map_err(|e| embedrock_core::Error::backend("the embedding worker stopped", e))??;
        if dimensions < native {
            for v in &mut vectors {
                if normalize {
                    math::truncate_normalized(v, dimensions);
                } else {
                    v.truncate(dimensions);
                }
            }
        }
        let typed = TypedEmbeddings::from_floats(&vectors, &request.output_types);
        let mut response = EmbedResponse::new(self.id.clone(), vectors, tokens);
        response.typed = typed;
        Ok(response)
    }

    fn model_id(&self) -> &str {
        &self.id
    }

    fn dimensions(&self) -> usize {
        self.engine.model.hidden_size()
    }

    fn max_batch(&self) -> usize {
        self.engine.batch_size
    }

    /// Counts every token of each text, special tokens included, before the
    /// truncation that embedding applies: what the text would cost a service
    /// that counts whole inputs.
    fn count_tokens(&self, texts: &[String]) -> embedrock_core::Result<Vec<usize>> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .engine
            .counter
            .encode_batch(inputs, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().len()).collect())
    }
}
