//! A benchmark run: embed a dataset once per model and parameters, search it
//! exactly in every stored form, score the results and measure the cost.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use embedrock_core::{DynEmbedder, EmbedRequest, InputType, ModelFacts, Provider};
use tokio::task::JoinSet;

use crate::cache::{self, Cache, Call, CallLog, Entry, Key};
use crate::dataset::Dataset;
use crate::metrics::{self, EvalOptions};
use crate::search::{self, Matrix, VectorType};
use crate::{ConfigResult, DatasetInfo, Machine, ModelRun, Results};

/// Largest cut-off a metric may use.
pub const MAX_K: usize = 1000;
/// Largest rescoring pass.
pub const MAX_RESCORE: usize = 10_000;
/// Most texts in one embedding call.
pub const MAX_BATCH: usize = 4096;
/// Most embedding calls in flight.
pub const MAX_CONCURRENCY: usize = 256;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The options or the models cannot make a run.
    #[error("{0}")]
    Invalid(String),
    /// The model failed to embed (what it embedded so far is cached).
    #[error("{model} failed to embed: {source}")]
    Embed {
        /// The model.
        model: String,
        /// Its error.
        source: embedrock_core::Error,
    },
    /// The cache could not be read or written.
    #[error("the embedding cache {path}: {source}")]
    Cache {
        /// The cache directory or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, BenchError>;

/// A model to run, with how to call it.
#[derive(Clone)]
pub struct Target {
    /// The model.
    pub embedder: DynEmbedder,
    /// Dimensions to score. Empty means every size a Bedrock model accepts,
    /// or a local model's native size. A local model is embedded once and cut
    /// to each smaller size (Matryoshka truncation); a Bedrock model is
    /// embedded once per size it is asked for.
    pub dimensions: Vec<usize>,
    /// Texts per embedding call.
    pub batch_size: usize,
    /// Embedding calls in flight at once.
    pub concurrency: usize,
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Cut-offs of every metric.
    pub ks: Vec<usize>,
    /// Stored forms to search; float is always scored (the others are
    /// compared with it).
    pub output_types: Vec<VectorType>,
    /// Re-rank the top this many of int8 and binary search by float cosine
    /// (scored beside the plain quantised search).
    pub rescore: Option<usize>,
    /// Where embeddings are cached.
    pub cache_dir: PathBuf,
    /// Leave out retrieved documents whose id equals the query's.
    pub ignore_identical_ids: bool,
    /// Threads for search.
    pub threads: usize,
}

/// Where a run is.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Embedding texts: `done` of `total` for the pass `label`.
    Embedding {
        /// Model and dimensions.
        label: String,
        /// Texts done (cached ones included).
        done: usize,
        /// Texts in the pass.
        total: usize,
    },
    /// Searching and scoring one configuration.
    Scoring {
        /// The configuration.
        label: String,
    },
}

/// One embedding pass of a target.
struct Pass {
    /// Dimensions to ask the model for.
    request: Option<usize>,
    /// Length of the vectors it returns.
    length: usize,
    /// Sizes scored from it.
    sizes: Vec<usize>,
}

fn plan(target: &Target) -> Result<Vec<Pass>> {
    let facts = target.embedder.facts();
    let native = target.embedder.dimensions();
    let id = target.embedder.model_id().to_string();
    if facts.provider == Provider::Local {
        let sizes = if target.dimensions.is_empty() {
            vec![native]
        } else {
            target.dimensions.clone()
        };
        if let Some(d) = sizes.iter().find(|d| !(1..=native).contains(*d)) {
            return Err(BenchError::Invalid(format!(
                "{id} produces {native} dimensions; {d} cannot be cut from it (choose 1 to {native})"
            )));
        }
        return Ok(vec![Pass {
            request: None,
            length: native,
            sizes,
        }]);
    }
    let sizes = if target.dimensions.is_empty() {
        facts.dimensions.clone()
    } else {
        target.dimensions.clone()
    };
    let mut passes = Vec::new();
    for d in sizes {
        if !facts.dimensions.contains(&d) {
            return Err(BenchError::Invalid(format!(
                "{id} does not produce {d} dimensions (it accepts {})",
                join(&facts.dimensions)
            )));
        }
        let fixed = facts.dimensions.len() == 1;
        passes.push(Pass {
            request: (!fixed).then_some(d),
            length: d,
            sizes: vec![d],
        });
    }
    Ok(passes)
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(targets: &[Target], options: &RunOptions) -> Result<()> {
    if targets.is_empty() {
        return Err(BenchError::Invalid("no model to run".into()));
    }
    if options.ks.is_empty() || options.ks.iter().any(|k| !(1..=MAX_K).contains(k)) {
        return Err(BenchError::Invalid(format!(
            "every k must be 1 to {MAX_K} (given: {})",
            join(&options.ks)
        )));
    }
    if let Some(n) = options.rescore {
        if !(1..=MAX_RESCORE).contains(&n) {
            return Err(BenchError::Invalid(format!(
                "--rescore must be 1 to {MAX_RESCORE}, not {n}"
            )));
        }
    }
    for t in targets {
        if !(1..=MAX_BATCH).contains(&t.batch_size)
            || !(1..=MAX_CONCURRENCY).contains(&t.concurrency)
        {
            return Err(BenchError::Invalid(format!(
                "batch size must be 1 to {MAX_BATCH} and concurrency 1 to {MAX_CONCURRENCY}"
            )));
        }
    }
    Ok(())
}

/// Runs every target over `dataset` and scores every configuration.
///
/// Embeddings are cached in `options.cache_dir` after every call, so a run
/// that stops (an error, an interrupt) resumes from what was embedded.
pub async fn run(
    dataset: &Dataset,
    targets: &[Target],
    options: &RunOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Results> {
    check(targets, options)?;
    let plans = targets.iter().map(plan).collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let docs: Vec<String> = dataset.corpus.iter().map(|d| d.embed_text()).collect();
    let scored = dataset.scored_queries();
    let queries: Vec<String> = scored.iter().map(|q| q.text.clone()).collect();
    let texts = Texts {
        docs: Arc::new(docs),
        queries: Arc::new(queries),
    };
    let mut embedding = Vec::new();
    let mut results = Vec::new();
    for (target, passes) in targets.iter().zip(plans) {
        for pass in passes {
            let (vectors, model_run) = embed_pass(target, &pass, &texts, options, progress).await?;
            for &d in &pass.sizes {
                let configs =
                    score_size(dataset, &vectors, d, &model_run, options, progress).await?;
                results.extend(configs);
            }
            embedding.push(model_run);
        }
    }
    Ok(Results {
        schema: 1,
        finished_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        dataset: DatasetInfo {
            name: dataset.name.clone(),
            split: dataset.split.clone(),
            documents: dataset.corpus.len(),
            queries: scored.len(),
            judgements: dataset.judgements(),
        },
        machine: machine(),
        ks: options.ks.clone(),
        embedding,
        results,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The texts of a run: corpus documents and scored queries.
struct Texts {
    docs: Arc<Vec<String>>,
    queries: Arc<Vec<String>>,
}

/// The vectors of one pass, in corpus and query order.
struct Vectors {
    docs: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
}

/// What embedding one side (documents or queries) measured.
#[derive(Default)]
struct Side {
    /// Tokens of every text.
    tokens: u64,
    /// Texts.
    texts: usize,
    /// Texts answered from the cache in this run.
    cached: usize,
    /// Every call made for these vectors, in this run and the runs it resumes.
    calls: Vec<Call>,
}

async fn embed_pass(
    target: &Target,
    pass: &Pass,
    texts: &Texts,
    options: &RunOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(Vectors, ModelRun)> {
    let model = target.embedder.model_id().to_string();
    let label = match pass.request {
        Some(d) => format!("{model} {d}d"),
        None => format!("{model} {}d", pass.length),
    };
    let total = texts.docs.len() + texts.queries.len();
    let mut done = 0;
    let mut report = |n: usize| {
        done += n;
        progress(Progress::Embedding {
            label: label.clone(),
            done,
            total,
        });
    };
    let (docs, doc_side) = embed_side(
        target,
        pass,
        &texts.docs,
        InputType::Document,
        options,
        &mut report,
    )
    .await?;
    let (queries, query_side) = embed_side(
        target,
        pass,
        &texts.queries,
        InputType::Query,
        options,
        &mut report,
    )
    .await?;
    let facts = target.embedder.facts();
    let run = model_run(&model, &facts, pass, target, &doc_side, &query_side);
    Ok((Vectors { docs, queries }, run))
}

fn model_run(
    model: &str,
    facts: &ModelFacts,
    pass: &Pass,
    target: &Target,
    docs: &Side,
    queries: &Side,
) -> ModelRun {
    let calls: Vec<&Call> = docs.calls.iter().chain(&queries.calls).collect();
    let mut latencies: Vec<f64> = calls.iter().map(|c| c.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let seconds = calls.iter().map(|c| c.wall_ms).sum::<f64>() / 1e3;
    let embedded: u64 = calls.iter().map(|c| c.texts).sum();
    let embedded_tokens: u64 = calls.iter().map(|c| c.tokens).sum();
    let per_s = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    let dollars = |price: Option<f64>| price.map(|p| p * docs.tokens as f64 / 1e6);
    ModelRun {
        model: model.to_string(),
        provider: facts.provider.as_str().to_ascii_lowercase(),
        dimensions: pass.length,
        texts: docs.texts + queries.texts,
        cached_texts: docs.cached + queries.cached,
        corpus_tokens: docs.tokens,
        query_tokens: queries.tokens,
        embed_s: seconds,
        texts_per_s: per_s(embedded as f64),
        tokens_per_s: per_s(embedded_tokens as f64),
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p95_ms: percentile(&latencies, 0.95),
        calls: calls.len() as u64,
        batch_size: target.batch_size,
        price_per_mtok: facts.price_per_mtok,
        batch_price_per_mtok: facts.batch_price_per_mtok,
        corpus_usd: dollars(facts.price_per_mtok),
        corpus_batch_usd: dollars(facts.batch_price_per_mtok),
    }
}

/// The `p` quantile of sorted values, by the nearest-rank method (0 when empty).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Embeds `texts` with one input type, from the cache where it can.
async fn embed_side(
    target: &Target,
    pass: &Pass,
    texts: &Arc<Vec<String>>,
    input: InputType,
    options: &RunOptions,
    report: &mut (dyn FnMut(usize) + Send),
) -> Result<(Vec<Vec<f32>>, Side)> {
    let model = target.embedder.model_id().to_string();
    let identity = format!(
        "{model}|dimensions={}|normalize=true|{}",
        pass.request
            .map_or_else(|| "native".into(), |d| d.to_string()),
        input.as_str()
    );
    let keys: Vec<Key> = texts.iter().map(|t| cache::key(t)).collect();
    let wanted: HashSet<Key> = keys.iter().copied().collect();
    let cache_err = |source| BenchError::Cache {
        path: options.cache_dir.clone(),
        source,
    };
    let dir = options.cache_dir.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let (cache, found) = Cache::open(&dir, &identity, &wanted)?;
        let (log, calls) = CallLog::open(&dir, &identity)?;
        Ok((cache, found, log, calls))
    })
    .await
    .map_err(|e| BenchError::Invalid(format!("reading the cache stopped: {e}")))?;
    let (mut cache, mut found, mut log, earlier) = opened.map_err(cache_err)?;
    let mut side = Side {
        texts: texts.len(),
        calls: earlier,
        ..Side::default()
    };
    // One call per distinct text that is not cached yet.
    let mut missing: Vec<usize> = Vec::new();
    let mut seen = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        if !found.contains_key(k) && seen.insert(*k) {
            missing.push(i);
        }
    }
    side.cached = texts.len() - missing.len();
    report(side.cached);
    let mut last = Instant::now();
    let mut calls = JoinSet::new();
    let mut batches = missing.chunks(target.batch_size).map(<[usize]>::to_vec);
    loop {
        while calls.len() < target.concurrency {
            let Some(batch) = batches.next() else { break };
            calls.spawn(call(target, pass, texts.clone(), batch, input));
        }
        let Some(joined) = calls.join_next().await else {
            break;
        };
        let answered = joined
            .map_err(|e| BenchError::Invalid(format!("an embedding call stopped: {e}")))??;
        let done = answered.indices.len();
        let entries: Vec<(Key, Entry)> = answered
            .indices
            .iter()
            .zip(answered.entries)
            .map(|(&i, e)| (keys[i], e))
            .collect();
        cache
            .append(
                entries
                    .iter()
                    .map(|(k, e)| (k, e.tokens, e.vector.as_slice())),
            )
            .map_err(cache_err)?;
        let record = Call {
            latency_ms: answered.latency_ms,
            wall_ms: last.elapsed().as_secs_f64() * 1e3,
            texts: done as u64,
            tokens: entries.iter().map(|(_, e)| u64::from(e.tokens)).sum(),
        };
        last = Instant::now();
        log.append(&record).map_err(cache_err)?;
        side.calls.push(record);
        found.extend(entries);
        report(done);
    }
    let mut vectors = Vec::with_capacity(texts.len());
    for k in &keys {
        let entry = found
            .get(k)
            .ok_or_else(|| BenchError::Invalid("a text has no vector after embedding".into()))?;
        side.tokens += u64::from(entry.tokens);
        vectors.push(entry.vector.clone());
    }
    Ok((vectors, side))
}

/// One embedding call's answer.
struct Answered {
    indices: Vec<usize>,
    entries: Vec<Entry>,
    latency_ms: f64,
}

fn call(
    target: &Target,
    pass: &Pass,
    texts: Arc<Vec<String>>,
    indices: Vec<usize>,
    input: InputType,
) -> impl std::future::Future<Output = Result<Answered>> + Send + 'static {
    let embedder = target.embedder.clone();
    let request = EmbedRequest::new(indices.iter().map(|&i| texts[i].clone()))
        .with_input_type(input)
        .with_dimensions(pass.request);
    let length = pass.length;
    async move {
        let model = embedder.model_id().to_string();
        let started = Instant::now();
        let response = embedder
            .embed(request)
            .await
            .map_err(|source| BenchError::Embed {
                model: model.clone(),
                source,
            })?;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        if response.vectors.len() != indices.len() || response.tokens.len() != indices.len() {
            return Err(BenchError::Invalid(format!(
                "{model} returned {} vectors for {} texts",
                response.vectors.len(),
                indices.len()
            )));
        }
        if let Some(v) = response.vectors.iter().find(|v| v.len() != length) {
            return Err(BenchError::Invalid(format!(
                "{model} returned a vector of {} dimensions, expected {length}",
                v.len()
            )));
        }
        let entries = response
            .vectors
            .into_iter()
            .zip(response.tokens)
            .map(|(vector, tokens)| Entry {
                tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
                vector,
            })
            .collect();
        Ok(Answered {
            indices,
            entries,
            latency_ms,
        })
    }
}

/// The configurations scored at one size: float, then each quantised form
/// plain and rescored.
fn configurations(options: &RunOptions) -> Vec<(VectorType, Option<usize>)> {
    let mut out = vec![(VectorType::Float, None)];
    for &t in &options.output_types {
        if t == VectorType::Float || out.iter().any(|(o, _)| *o == t) {
            continue;
        }
        out.push((t, None));
        if let Some(n) = options.rescore {
            out.push((t, Some(n)));
        }
    }
    out
}

async fn score_size(
    dataset: &Dataset,
    vectors: &Vectors,
    d: usize,
    model_run: &ModelRun,
    options: &RunOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Vec<ConfigResult>> {
    let docs = Arc::new(Matrix::from_vectors(
        vectors.docs.iter().map(Vec::as_slice),
        d,
    ));
    let queries = Arc::new(Matrix::from_vectors(
        vectors.queries.iter().map(Vec::as_slice),
        d,
    ));
    let top =
        options.ks.iter().copied().max().unwrap_or(10) + usize::from(options.ignore_identical_ids);
    let eval = EvalOptions {
        ks: options.ks.clone(),
        ignore_identical_ids: options.ignore_identical_ids,
    };
    let scored: Vec<&str> = dataset
        .scored_queries()
        .iter()
        .map(|q| q.id.as_str())
        .collect();
    let mut out: Vec<ConfigResult> = Vec::new();
    for (kind, rescore) in configurations(options) {
        let mut config = ConfigResult {
            model: model_run.model.clone(),
            dimensions: d,
            output_type: kind.as_str().to_string(),
            rescore,
            metrics: BTreeMap::new(),
            ndcg10_vs_float: 1.0,
            bytes_per_vector: kind.bytes_per_vector(d),
            index_bytes: (kind.bytes_per_vector(d) * dataset.corpus.len()) as u64,
            search_ms_per_query: 0.0,
            corpus_usd: model_run.corpus_usd,
            corpus_batch_usd: model_run.corpus_batch_usd,
        };
        progress(Progress::Scoring {
            label: config.label(),
        });
        let (docs, queries) = (docs.clone(), queries.clone());
        let threads = options.threads;
        let found = tokio::task::spawn_blocking(move || {
            search::search(kind, &docs, &queries, top, rescore, threads)
        })
        .await
        .map_err(|e| BenchError::Invalid(format!("searching stopped: {e}")))?;
        let run: metrics::Run = scored
            .iter()
            .zip(&found.hits)
            .map(|(qid, hits)| {
                let ranked = hits
                    .iter()
                    .map(|&(i, s)| (dataset.corpus[i].id.clone(), s))
                    .collect();
                (qid.to_string(), ranked)
            })
            .collect();
        config.metrics = metrics::evaluate(&dataset.qrels, &run, &eval).mean;
        config.search_ms_per_query = found.ms_per_query;
        out.push(config);
    }
    let float = out.first().and_then(|c| c.metric("ndcg@10"));
    for c in &mut out {
        c.ndcg10_vs_float = match (c.metric("ndcg@10"), float) {
            (Some(x), Some(f)) if f > 0.0 => x / f,
            _ => 0.0,
        };
    }
    Ok(out)
}

/// The CPU this runs on, from `/proc/cpuinfo`.
pub fn machine() -> Machine {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let flags: HashSet<String> = field("flags")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let wanted = [
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "avx512_bf16",
        "avx_vnni",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
    ];
    Machine {
        cpu: field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        features: wanted
            .iter()
            .filter(|f| flags.contains(**f))
            .map(|f| f.to_string())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 10.0);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn rescoring_adds_a_configuration_per_quantised_form() {
        let options = RunOptions {
            ks: vec![10],
            output_types: vec![VectorType::Binary, VectorType::Float, VectorType::Int8],
            rescore: Some(100),
            cache_dir: PathBuf::new(),
            ignore_identical_ids: false,
            threads: 1,
        };
        let got = configurations(&options);
        assert_eq!(
            got,
            vec![
                (VectorType::Float, None),
                (VectorType::Binary, None),
                (VectorType::Binary, Some(100)),
                (VectorType::Int8, None),
                (VectorType::Int8, Some(100)),
            ]
        );
    }
}
