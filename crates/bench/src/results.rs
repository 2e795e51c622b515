//! What a benchmark run produces: the content of `results.json`, from which
//! every report is drawn.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything one `embedrock bench run` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The version of this layout (1).
    pub schema: u32,
    /// When the run finished, in seconds since the Unix epoch.
    pub finished_unix: u64,
    /// The labelled set.
    pub dataset: DatasetInfo,
    /// The machine the figures were measured on.
    pub machine: Machine,
    /// The cut-offs every metric was computed at.
    pub ks: Vec<usize>,
    /// One embedding pass per model and parameters: speed, tokens, dollars.
    pub embedding: Vec<ModelRun>,
    /// One entry per configuration (model x dimensions x output type x rescoring).
    pub results: Vec<ConfigResult>,
    /// Wall time of the whole run, in seconds.
    pub elapsed_s: f64,
}

/// The labelled set a run was scored on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Its name (the directory's name).
    pub name: String,
    /// The split whose judgements were used (`test` by default).
    pub split: String,
    /// Documents in the corpus.
    pub documents: usize,
    /// Queries with at least one relevant document (the ones scored).
    pub queries: usize,
    /// Judged (query, document) pairs in the split.
    pub judgements: usize,
}

/// The machine a run measured on. Absolute times only mean something beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU's model name (`lscpu`'s "Model name").
    pub cpu: String,
    /// Logical CPUs available to the run.
    pub cpus: usize,
    /// The SIMD features that matter to the kernels (avx2, fma, avx512f, ...).
    pub features: Vec<String>,
}

/// One embedding pass: a model with its parameters over the corpus and the
/// queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// The model id.
    pub model: String,
    /// Who provides it: `local`, `amazon` or `cohere`.
    pub provider: String,
    /// The dimensions the model was asked for (its native size when it was
    /// embedded once and truncated for smaller sizes).
    pub dimensions: usize,
    /// Texts embedded: corpus documents plus queries.
    pub texts: usize,
    /// Of those, texts answered from the cache instead of the model.
    pub cached_texts: usize,
    /// Tokens of the corpus documents, as the model counts them.
    pub corpus_tokens: u64,
    /// Tokens of the queries.
    pub query_tokens: u64,
    /// Seconds spent embedding, over every call made for this pass (a
    /// resumed run adds the calls of the runs it resumes; texts answered
    /// from the cache cost nothing).
    pub embed_s: f64,
    /// Texts per second over those calls.
    pub texts_per_s: f64,
    /// Tokens per second over those calls.
    pub tokens_per_s: f64,
    /// Median latency of one embedding call, in milliseconds.
    pub latency_p50_ms: f64,
    /// 95th percentile latency of one embedding call, in milliseconds.
    pub latency_p95_ms: f64,
    /// Embedding calls made for this pass.
    pub calls: u64,
    /// Texts per call.
    pub batch_size: usize,
    /// US dollars per million input tokens on demand (0 for local models;
    /// `None` when the model has no known price).
    pub price_per_mtok: Option<f64>,
    /// US dollars per million input tokens in batch inference, where offered.
    pub batch_price_per_mtok: Option<f64>,
    /// Dollars to embed the whole corpus on demand.
    pub corpus_usd: Option<f64>,
    /// Dollars to embed the whole corpus in batch inference.
    pub corpus_batch_usd: Option<f64>,
}

/// The quality, size and search speed of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigResult {
    /// The model id.
    pub model: String,
    /// Dimensions of the stored vectors.
    pub dimensions: usize,
    /// The stored form: `float`, `int8` or `binary`.
    pub output_type: String,
    /// When set, the top this many candidates of the quantised search were
    /// re-ranked by float cosine.
    pub rescore: Option<usize>,
    /// Every metric computed, named `ndcg@10`, `recall@10`, `mrr@10`,
    /// `map@10`, `precision@10` (and so on for each k): the mean over the
    /// scored queries.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
    /// nDCG@10 relative to the same model and dimensions in float (1.0 for
    /// float itself; 0 when float's nDCG@10 is 0).
    pub ndcg10_vs_float: f64,
    /// Bytes one stored vector takes.
    pub bytes_per_vector: usize,
    /// Bytes of all the corpus's vectors in this form.
    pub index_bytes: u64,
    /// Mean exact-search time per query, in milliseconds.
    pub search_ms_per_query: f64,
    /// Dollars to embed the corpus on demand (from the embedding pass).
    pub corpus_usd: Option<f64>,
    /// Dollars to embed the corpus in batch inference.
    pub corpus_batch_usd: Option<f64>,
}

impl ConfigResult {
    /// The value of one metric (`"ndcg@10"`), if it was computed.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }

    /// A short label: `model 256d int8+rescore100`.
    pub fn label(&self) -> String {
        let mut label = format!("{} {}d {}", self.model, self.dimensions, self.output_type);
        if let Some(n) = self.rescore {
            label.push_str(&format!("+rescore{n}"));
        }
        label
    }
}
