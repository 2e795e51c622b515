//! The local embedder: tokenizer, encoder and head of one model directory,
//! run on the CPU.
//!
//! Texts are tokenized exactly as sentence-transformers does (truncated at the
//! model's `max_seq_length`, not the tokenizer file's own limit), sorted by
//! length so each batch holds texts of similar size, and the batches are spread
//! over the CPU's cores. Vectors come back in input order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use embedrock_core::{
    math, Catalogue, EmbedRequest, EmbedResponse, Embedder, ModelFacts, OutputType,
    TypedEmbeddings, Usage,
};
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::files::ModelFiles;
use crate::models::{self, Encoder, EncoderSettings};
use crate::pooling::Head;
use crate::{CancelToken, Error, LocalOptions, Precision, Result};

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

/// Loads the tokenizer of `dir` twice: truncating at `max_seq_length` for
/// embedding, and without truncation for counting what a text costs.
fn load_tokenizers(dir: &Path, max_seq_length: usize) -> Result<(Tokenizer, Tokenizer)> {
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
    Ok((tokenizer, counter))
}

/// A pooled vector and the input position it belongs to.
type Pooled = (usize, Vec<f32>);

/// Texts tokenized between two cancellation checks.
const TOKENIZE_CHUNK: usize = 1024;

/// Work counters, read by [`Embedder::usage`].
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    texts: AtomicU64,
    tokens: AtomicU64,
}

struct Engine {
    id: String,
    encoder: Box<dyn Encoder>,
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation, for counting what a text costs.
    counter: Tokenizer,
    head: Head,
    max_seq_length: usize,
    batch_size: usize,
    pool: rayon::ThreadPool,
    threads: usize,
    /// The kernel path of the dense layers, e.g. `int8 avx2`.
    kernel: &'static str,
    precision: Precision,
    counters: Counters,
}

/// A sentence-transformers model of the BERT family, run on the CPU.
///
/// Cheap to clone: clones share the loaded weights, the worker threads and
/// the usage counters.
///
/// ```no_run
/// use embedrock_core::{EmbedRequest, Embedder};
/// use embedrock_local::LocalEmbedder;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Fetched into the cache on first use, checked on every load.
/// let model = LocalEmbedder::open("all-minilm-l6-v2")?;
/// let response = model.embed(EmbedRequest::new(["a cat", "a dog"])).await?;
/// assert_eq!(response.vectors.len(), 2);
/// assert_eq!(response.vectors[0].len(), 384);
/// assert_eq!(model.usage().texts, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LocalEmbedder {
    engine: Arc<Engine>,
    dir: PathBuf,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("id", &self.engine.id)
            .field("dir", &self.dir)
            .field("dimensions", &self.engine.encoder.hidden_size())
            .field("max_seq_length", &self.engine.max_seq_length)
            .field("kernel", &self.engine.kernel)
            .finish()
    }
}

impl LocalEmbedder {
    /// Opens a model by name (a catalogue id such as `all-minilm-l6-v2`, a
    /// Hugging Face repository id, or a directory) with the default
    /// [`LocalOptions`], fetching it into the cache on first use.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, LocalOptions::default())
    }

    /// [`LocalEmbedder::open`] with explicit options.
    pub fn open_with(name: &str, options: LocalOptions) -> Result<Self> {
        options.validate()?;
        let files = ModelFiles::from_env();
        let dir = files.ensure(name, &crate::files::NoProgress)?;
        Self::load(&dir, &files.canonical_name(name), options)
    }

    /// Loads the model in `dir` under the id `id`.
    ///
    /// The options are checked first; a directory with a manifest (one the
    /// cache wrote) has its files checked against it (sizes and sampled
    /// fingerprints), so damaged weights are refused, not run.
    ///
    /// ```no_run
    /// use embedrock_local::{LocalEmbedder, LocalOptions, ModelFiles, NoProgress};
    ///
    /// # fn run() -> Result<(), embedrock_local::Error> {
    /// let files = ModelFiles::from_env();
    /// let dir = files.ensure("all-minilm-l6-v2", &NoProgress)?;
    /// let options = LocalOptions::default().with_threads(2).with_batch_size(64);
    /// let model = LocalEmbedder::load(&dir, "all-minilm-l6-v2", options)?;
    /// let (vectors, tokens) = model.embed_sync(&["hello world".to_string()], true)?;
    /// assert_eq!(tokens, vec![4]);
    /// assert_eq!(vectors[0].len(), 384);
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(dir: &Path, id: &str, options: LocalOptions) -> Result<Self> {
        options.validate()?;
        for file in crate::files::REQUIRED_FILES {
            if !dir.join(file).is_file() {
                return Err(Error::MissingFile {
                    dir: dir.to_path_buf(),
                    file: file.to_string(),
                });
            }
        }
        crate::files::check_quick(dir, id)?;
        let settings = EncoderSettings {
            portable_gemm: options.portable_gemm,
            precision: options.precision,
        };
        let kernel = options.precision.kernel_with(options.portable_gemm)?;
        let mut encoder = models::load(dir, &settings)?;
        let max_seq_length = match options.max_seq_length {
            Some(n) => n,
            None => read_max_seq_length(dir)?.unwrap_or(encoder.max_positions()),
        }
        .min(encoder.max_positions());
        let (tokenizer, counter) = load_tokenizers(dir, max_seq_length)?;
        let head = Head::load(dir)?;
        let threads = options.threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embedrock-cpu-{i}"))
            .build()
            .map_err(|e| Error::Tokenizer(format!("could not start worker threads: {e}")))?;
        if options.precision == Precision::Int8 {
            let mut calibration = Vec::with_capacity(CALIBRATION_TEXTS.len());
            for text in CALIBRATION_TEXTS {
                let encoding = tokenizer
                    .encode(*text, true)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?;
                calibration.push(encoding.get_ids().to_vec());
            }
            let seqs: Vec<&[u32]> = calibration.iter().map(Vec::as_slice).collect();
            pool.install(|| encoder.quantize_int8(&seqs, threads))?;
        }
        Ok(LocalEmbedder {
            engine: Arc::new(Engine {
                id: id.to_string(),
                encoder,
                tokenizer,
                counter,
                head,
                max_seq_length,
                batch_size: options.batch_size,
                pool,
                threads,
                kernel,
                precision: options.precision,
                counters: Counters::default(),
            }),
            dir: dir.to_path_buf(),
        })
    }

    /// The kernel path the dense layers run on, chosen at load time from the
    /// precision and the CPU: `"fp32 avx512"`, `"fp32 portable"`,
    /// `"int8 avx512-vnni"`, `"int8 avx2"` or `"int8 scalar"`.
    pub fn kernel(&self) -> &'static str {
        self.engine.kernel
    }

    /// The precision of the dense layers.
    pub fn precision(&self) -> Precision {
        self.engine.precision
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
    /// Runs on the calling thread; inside a multi-threaded Tokio runtime the
    /// calling worker's other tasks are handed off first.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        off_runtime(|| self.engine.tokenize(texts, &CancelToken::new()))
    }

    /// Embeds texts on the engine's worker threads, returning one vector per
    /// text in input order plus token counts. `normalize` applies L2
    /// normalisation; without it the pooled vector is returned as the model's
    /// head computes it, minus the Normalize step.
    pub fn embed_sync(
        &self,
        texts: &[String],
        normalize: bool,
    ) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        self.embed_with(texts, normalize, &CancelToken::new())
    }

    /// [`LocalEmbedder::embed_sync`] that stops at the next batch boundary
    /// once `cancel` is cancelled or its deadline passes, returning
    /// [`Error::Cancelled`].
    ///
    /// ```no_run
    /// use std::time::{Duration, Instant};
    /// use embedrock_local::{CancelToken, LocalEmbedder};
    ///
    /// # fn run() -> Result<(), embedrock_local::Error> {
    /// let model = LocalEmbedder::open("all-minilm-l6-v2")?;
    /// let texts = vec!["a text".to_string(); 100_000];
    /// let cancel = CancelToken::new().with_deadline(Instant::now() + Duration::from_secs(1));
    /// let result = model.embed_with(&texts, true, &cancel);
    /// assert!(matches!(result, Err(embedrock_local::Error::Cancelled(_))));
    /// # Ok(())
    /// # }
    /// ```
    pub fn embed_with(
        &self,
        texts: &[String],
        normalize: bool,
        cancel: &CancelToken,
    ) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        off_runtime(|| self.engine.embed(texts, normalize, cancel))
    }
}

/// Runs CPU-heavy `f`, handing the current Tokio worker's other tasks to
/// another thread first when called from inside a multi-threaded runtime, so
/// the runtime keeps answering. Elsewhere `f` simply runs.
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Texts whose fp32 activations set the int8 layers' channel smoothing
/// ([`Encoder::quantize_int8`]): short and long, plain and technical, so
/// that the inputs' large channels show as they do on ordinary text.
const CALIBRATION_TEXTS: &[&str] = &[
    "hello world",
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on a stage while the crowd sings along.",
    "Photosynthesis converts light energy into chemical energy stored in glucose, \
     releasing oxygen as a by-product; it takes place in the chloroplasts of plant cells.",
    "error: could not compile `serde` (lib) due to 3 previous errors; \
     run with RUST_BACKTRACE=1 for a backtrace",
    "The committee postponed its decision until next Tuesday, citing the need for \
     further review of the budget figures submitted by the regional offices, several \
     of which arrived late or incomplete, and asked each office to resubmit its \
     numbers in the agreed format before the end of the week.",
    "Paris is the capital of France.",
    "Best pizza places near me that are open late on Sundays",
    "def add(a, b):\n    return a + b  # adds two numbers",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong and Buzz Aldrin walked on \
     its surface while Michael Collins orbited above in the command module.",
    "Symptoms include fever, dry cough, tiredness and, in severe cases, difficulty breathing.",
];

impl Engine {
    /// Tokenizes on the calling thread, checking `cancel` every
    /// [`TOKENIZE_CHUNK`] texts. Tokenizing costs a small fraction of a
    /// forward pass; kept off the worker pool, it never waits behind other
    /// requests' forward passes, nor delays them.
    fn tokenize(&self, texts: &[String], cancel: &CancelToken) -> Result<Vec<Vec<u32>>> {
        let mut ids = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(TOKENIZE_CHUNK) {
            cancel.check()?;
            for text in chunk {
                let encoding = self
                    .tokenizer
                    .encode(text.as_str(), true)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?;
                ids.push(encoding.get_ids().to_vec());
            }
        }
        Ok(ids)
    }

    /// Counts tokens without truncation, on the calling thread.
    fn count_tokens(&self, texts: &[String]) -> Result<Vec<usize>> {
        texts
            .iter()
            .map(|text| {
                self.counter
                    .encode(text.as_str(), true)
                    .map(|e| e.get_ids().len())
                    .map_err(|e| Error::Tokenizer(e.to_string()))
            })
            .collect()
    }

    fn embed(
        &self,
        texts: &[String],
        normalize: bool,
        cancel: &CancelToken,
    ) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        let ids = self.tokenize(texts, cancel)?;
        let tokens: Vec<usize> = ids.iter().map(Vec::len).collect();
        // Longest first, so the costliest batches start early and the last
        // ones to finish are short.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        // Parallel over batches when there are enough of them; otherwise inside
        // the matrix multiplies of the one batch.
        let inner_threads = if batches.len() >= self.threads {
            1
        } else {
            self.threads
        };
        let results: Vec<Vec<Pooled>> = self.pool.install(|| {
            batches
                .par_iter()
                .map(|batch| {
                    cancel.check()?;
                    self.run_batch(batch, &ids, inner_threads, normalize)
                })
                .collect::<Result<_>>()
        })?;
        let mut vectors = vec![Vec::new(); texts.len()];
        for (i, v) in results.into_iter().flatten() {
            vectors[i] = v;
        }
        Ok((vectors, tokens))
    }

    /// One forward pass over the texts at positions `batch`, pooled (and
    /// normalised); a vector with NaN or infinity in it is an error.
    fn run_batch(
        &self,
        batch: &[usize],
        ids: &[Vec<u32>],
        threads: usize,
        normalize: bool,
    ) -> Result<Vec<Pooled>> {
        let width = self.encoder.hidden_size();
        let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
        let states = self.encoder.forward(&seqs, threads)?;
        let mut out = Vec::with_capacity(batch.len());
        let mut offset = 0;
        for (&i, seq) in batch.iter().zip(&seqs) {
            let rows = &states[offset * width..(offset + seq.len()) * width];
            offset += seq.len();
            let mut v = self.head.pool(rows, width);
            if !v.iter().all(|x| x.is_finite()) {
                return Err(Error::NonFinite {
                    model: self.id.clone(),
                    index: i,
                });
            }
            if normalize {
                math::l2_normalize(&mut v);
            }
            out.push((i, v));
        }
        let c = &self.counters;
        c.calls.fetch_add(1, Ordering::Relaxed);
        c.texts.fetch_add(batch.len() as u64, Ordering::Relaxed);
        c.tokens.fetch_add(offset as u64, Ordering::Relaxed);
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Embedder for LocalEmbedder {
    /// Embeds on the engine's worker threads, never on the async runtime's.
    /// Dropping the returned future (a client gone, a deadline passed) stops
    /// the work at the next batch boundary.
    async fn embed(&self, request: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
        if request.texts.is_empty() {
            return Err(embedrock_core::Error::EmptyInput);
        }
        let native = self.engine.encoder.hidden_size();
        let dimensions = request.dimensions.unwrap_or(native);
        if dimensions == 0 || dimensions > native {
            return Err(embedrock_core::Error::InvalidRequest(format!(
                "model {} produces {native} dimensions; {dimensions} is not between 1 and {native}",
                self.engine.id
            )));
        }
        let cancel = CancelToken::new();
        let _stop_when_dropped = cancel.drop_guard();
        let engine = Arc::clone(&self.engine);
        let id = self.engine.id.clone();
        tokio::task::spawn_blocking(move || -> embedrock_core::Result<EmbedResponse> {
            let normalize = request.normalize;
            let (mut vectors, tokens) = engine.embed(&request.texts, normalize, &cancel)?;
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
            let mut response = EmbedResponse::new(id, vectors, tokens);
            response.typed = typed;
            Ok(response)
        })
        .await
        .map_err(|e| embedrock_core::Error::backend("the embedding worker stopped", e))?
    }

    fn model_id(&self) -> &str {
        &self.engine.id
    }

    fn dimensions(&self) -> usize {
        self.engine.encoder.hidden_size()
    }

    fn max_batch(&self) -> usize {
        self.engine.batch_size
    }

    /// Counts every token of each text, special tokens included, before the
    /// truncation that embedding applies: what the text would cost a service
    /// that counts whole inputs. Runs on the calling thread (its Tokio
    /// worker's other tasks handed off first).
    fn count_tokens(&self, texts: &[String]) -> embedrock_core::Result<Vec<usize>> {
        Ok(off_runtime(|| self.engine.count_tokens(texts))?)
    }

    /// The catalogue row when the id names a local model there; otherwise
    /// what the model's files say: its width, its `max_seq_length` as the
    /// token limit, every output type (all are computed here), price 0.
    fn facts(&self) -> ModelFacts {
        let engine = &self.engine;
        if let Some(info) = Catalogue::get(&engine.id).filter(|i| !i.is_bedrock()) {
            return ModelFacts::from_info(engine.id.clone(), info);
        }
        let mut facts = ModelFacts::minimal(
            engine.id.clone(),
            engine.encoder.hidden_size(),
            engine.batch_size,
        );
        facts.max_tokens = Some(engine.max_seq_length);
        facts.output_types = vec![
            OutputType::Float,
            OutputType::Int8,
            OutputType::Uint8,
            OutputType::Binary,
            OutputType::Ubinary,
        ];
        facts.normalize_option = true;
        facts.price_per_mtok = Some(0.0);
        facts
    }

    /// Forward batches run, texts embedded and their tokens (after
    /// truncation), since the model was loaded; clones share the counts.
    fn usage(&self) -> Usage {
        let c = &self.engine.counters;
        let mut usage = Usage::default();
        usage.calls = c.calls.load(Ordering::Relaxed);
        usage.texts = c.texts.load(Ordering::Relaxed);
        usage.tokens = c.tokens.load(Ordering::Relaxed);
        usage
    }
}
