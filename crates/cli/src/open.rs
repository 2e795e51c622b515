//! One way to open any model the command line names: a local catalogue
//! name, a Hugging Face repository id or a folder; a Bedrock model id, an
//! inference profile or an ARN; any Bedrock id against `--endpoint-url`.
//!
//! Every command holds the result as a [`Model`]: a [`DynEmbedder`] plus
//! per-item results (a failed item is reported in its place, the others
//! keep their vectors) and usage counters for the summary.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use embedrock_bedrock::client::{BedrockEmbedder, BedrockSettings, ItemError};
use embedrock_core::util::redact_url;
use embedrock_core::{
    Catalogue, DynEmbedder, EmbedRequest, ModelFacts, Provider, TypedEmbeddings, Usage,
};
use embedrock_local::{LocalEmbedder, LocalOptions, ModelFiles, Precision};

/// How to open a model: the local engine's options and the Bedrock settings.
#[derive(Debug, Clone)]
pub struct OpenSettings {
    /// Texts per forward pass of a local model.
    pub batch_size: usize,
    /// CPU threads of a local model.
    pub threads: usize,
    /// How to reach Bedrock (or a Bedrock-compatible endpoint).
    pub bedrock: BedrockSettings,
    /// No fetch notice or progress bars.
    pub quiet: bool,
    /// The dense layers' arithmetic of a local model (`--precision`);
    /// `None` keeps `EMBEDROCK_PRECISION`, else fp32. Anything but fp32 with
    /// a Bedrock model is an error.
    pub precision: Option<Precision>,
}

/// Parses a `--precision` value (`fp32`, `int8` or `bf16`), for clap.
pub fn parse_precision(s: &str) -> std::result::Result<Precision, String> {
    s.parse::<Precision>().map_err(|e| e.to_string())
}

/// One embedded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// The float vector.
    pub vector: Vec<f32>,
    /// Tokens counted for it.
    pub tokens: usize,
    /// Its quantised forms (one row each), when asked for.
    pub typed: TypedEmbeddings,
}

/// Why one text has no vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// A Bedrock exception name, `InputTooLong`, or the kind of local error.
    pub code: String,
    /// The reason.
    pub message: String,
    /// Calls made for it.
    pub attempts: u32,
}

/// An open model.
#[derive(Clone)]
pub struct Model {
    embedder: DynEmbedder,
    bedrock: Option<BedrockEmbedder>,
    /// Where the model lives: its folder, or the endpoint (redacted).
    pub location: String,
}

/// Whether `spec` names a Bedrock model: a Bedrock row of the catalogue, an
/// inference profile or ARN of one, any ARN, or (with `--family`) any id
/// Bedrock's id grammar accepts that is not a local folder. The endpoint
/// (Bedrock's regional host, `--endpoint-url`) does not change the answer.
pub fn is_bedrock(spec: &str, settings: &BedrockSettings) -> bool {
    if let Some(info) = Catalogue::get(spec) {
        return info.is_bedrock();
    }
    let Ok(id) = embedrock_bedrock::ModelId::parse(spec) else {
        return false;
    };
    if id.raw.starts_with("arn:") || id.model_info().is_some() {
        return true;
    }
    settings.family.is_some() && !Path::new(spec).exists()
}

/// Opens `spec` as a [`DynEmbedder`].
pub async fn open_embedder(spec: &str, settings: &OpenSettings) -> Result<DynEmbedder> {
    Ok(open(spec, settings).await?.embedder)
}

/// Opens `spec` with per-item results and usage.
pub async fn open(spec: &str, settings: &OpenSettings) -> Result<Model> {
    if is_bedrock(spec, &settings.bedrock) {
        if let Some(p) = settings.precision.filter(|p| *p != Precision::Fp32) {
            bail!(
                "--precision {p} applies to local models; {spec} is an Amazon Bedrock model \
                 and Bedrock computes its vectors itself"
            );
        }
        let provider = BedrockEmbedder::connect(spec, settings.bedrock.clone()).await?;
        let location = settings
            .bedrock
            .endpoint_url
            .as_deref()
            .map_or_else(|| "Amazon Bedrock".to_string(), redact_url);
        return Ok(Model {
            embedder: Arc::new(provider.clone()),
            bedrock: Some(provider),
            location,
        });
    }
    let settings = settings.clone();
    let spec = spec.to_string();
    // Fetching and loading read and hash files: off the async runtime.
    let local = tokio::task::spawn_blocking(move || open_local(&spec, &settings))
        .await
        .map_err(|e| anyhow::anyhow!("loading the model stopped: {e}"))??;
    Ok(Model {
        location: local.dir().display().to_string(),
        embedder: Arc::new(local),
        bedrock: None,
    })
}

/// Opens a local model, fetching it on first use with a progress bar.
pub fn open_local(spec: &str, settings: &OpenSettings) -> Result<LocalEmbedder> {
    if let Some(info) = Catalogue::get(spec) {
        if info.is_bedrock() {
            bail!("{} is an Amazon Bedrock model, not a local one", info.id);
        }
    }
    let store = ModelFiles::from_env();
    let show = crate::progress::enabled(settings.quiet);
    if store.installed(spec).is_none() && !settings.quiet {
        eprintln!(
            "fetching model {} into {} (first use)",
            store.canonical_name(spec),
            store.root().display()
        );
    }
    let fetch = crate::progress::SharedFetchProgress::new(show);
    let dir = store.ensure(spec, &fetch)?;
    // The environment's engine settings (EMBEDROCK_PORTABLE_GEMM,
    // EMBEDROCK_PRECISION), then the command's own batch size, threads and
    // precision.
    let mut options = LocalOptions::from_env()?
        .with_batch_size(settings.batch_size)
        .with_threads(settings.threads);
    if let Some(p) = settings.precision {
        options = options.with_precision(p);
    }
    Ok(LocalEmbedder::load(
        &dir,
        &store.canonical_name(spec),
        options,
    )?)
}

impl Model {
    /// The embedder.
    pub fn embedder(&self) -> &DynEmbedder {
        &self.embedder
    }

    /// The model's id as it answers.
    pub fn id(&self) -> &str {
        self.embedder.model_id()
    }

    /// The model's facts.
    pub fn facts(&self) -> ModelFacts {
        self.embedder.facts()
    }

    /// Whether it is a Bedrock model.
    pub fn is_bedrock(&self) -> bool {
        self.bedrock.is_some()
    }

    /// Texts per round of the pipeline: output is written and the resume
    /// state saved after each.
    pub fn round_size(&self) -> usize {
        if self.is_bedrock() {
            512
        } else {
            256
        }
    }

    /// The work done so far.
    pub fn usage(&self) -> Usage {
        self.embedder.usage()
    }

    /// The `totals` of a JSON document: the Bedrock client's own totals
    /// (attempts, body and header tokens, ...) for a Bedrock model, else
    /// `usage`.
    pub fn totals_json(&self, usage: &Usage) -> serde_json::Value {
        let value = match &self.bedrock {
            Some(p) => serde_json::to_value(p.totals()),
            None => serde_json::to_value(usage),
        };
        value.unwrap_or_default()
    }

    /// The current concurrency limit (1 for a local model).
    pub fn concurrency(&self) -> usize {
        self.bedrock
            .as_ref()
            .map_or(1, BedrockEmbedder::concurrency)
    }

    /// Checks `--dimensions` against the model before any work.
    pub fn check_dimensions(&self, dimensions: Option<usize>) -> Result<()> {
        let Some(d) = dimensions else { return Ok(()) };
        let facts = self.facts();
        let native = self.embedder.dimensions();
        let ok = match facts.provider {
            Provider::Local => (1..=native).contains(&d),
            _ => facts.dimensions.contains(&d),
        };
        if !ok {
            let allowed = match facts.provider {
                Provider::Local => format!("choose 1 to {native}"),
                _ => format!(
                    "choose one of {}",
                    facts
                        .dimensions
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            bail!(
                "--dimensions {d} is not possible for {}: it produces {native} dimensions ({allowed})",
                self.id()
            );
        }
        Ok(())
    }

    /// Embeds `request`: one result per text, in input order.
    pub async fn embed_items(&self, request: &EmbedRequest) -> Vec<Result<Embedded, Failure>> {
        match &self.bedrock {
            Some(p) => p
                .embed_items(request)
                .await
                .into_iter()
                .map(|r| r.map(from_item).map_err(from_item_error))
                .collect(),
            None => embed_isolating(&self.embedder, request.clone()).await,
        }
    }
}

fn from_item(item: embedrock_bedrock::client::Item) -> Embedded {
    Embedded {
        vector: item.vector,
        tokens: item.tokens,
        typed: item.typed,
    }
}

fn from_item_error(e: ItemError) -> Failure {
    Failure {
        code: e.code.to_string(),
        message: e.message,
        attempts: e.attempts,
    }
}

/// The short name of a core error, for a failed item's `code`.
fn error_code(e: &embedrock_core::Error) -> &'static str {
    use embedrock_core::Error as E;
    match e {
        E::EmptyInput => "EmptyInput",
        E::DimensionsNotAllowed { .. } => "DimensionsNotAllowed",
        E::BatchTooLarge { .. } => "BatchTooLarge",
        E::InputTooLong { .. } => "InputTooLong",
        E::UnknownModel { .. } => "UnknownModel",
        E::Unsupported { .. } => "Unsupported",
        E::InvalidRequest(_) => "InvalidRequest",
        E::Cancelled(_) => "Cancelled",
        _ => "ModelError",
    }
}

/// Embeds through [`embedrock_core::Embedder::embed`]; when the whole request fails, halves
/// it until each failure belongs to one text, so the other texts keep their
/// vectors.
fn embed_isolating(
    embedder: &DynEmbedder,
    request: EmbedRequest,
) -> futures_like::BoxFuture<'_, Vec<Result<Embedded, Failure>>> {
    Box::pin(async move {
        let n = request.texts.len();
        match embedder.embed(request.clone()).await {
            Ok(r) if r.vectors.len() == n && r.tokens.len() == n => (0..n)
                .map(|i| {
                    Ok(Embedded {
                        vector: r.vectors[i].clone(),
                        tokens: r.tokens[i],
                        typed: typed_row(&r.typed, i),
                    })
                })
                .collect(),
            Ok(r) => {
                let message = format!(
                    "the model answered {} vectors for {n} texts",
                    r.vectors.len()
                );
                fail_all(n, "ModelError", &message)
            }
            Err(e) if n <= 1 => fail_all(n, error_code(&e), &e.to_string()),
            Err(_) => {
                let mut right = request.clone();
                let mut left = request;
                right.texts = left.texts.split_off(n / 2);
                let mut out = embed_isolating(embedder, left).await;
                out.extend(embed_isolating(embedder, right).await);
                out
            }
        }
    })
}

fn fail_all(n: usize, code: &str, message: &str) -> Vec<Result<Embedded, Failure>> {
    (0..n)
        .map(|_| {
            Err(Failure {
                code: code.to_string(),
                message: message.to_string(),
                attempts: 1,
            })
        })
        .collect()
}

/// Row `i` of every form `typed` holds.
pub fn typed_row(typed: &TypedEmbeddings, i: usize) -> TypedEmbeddings {
    fn pick<T: Clone>(rows: &Option<Vec<Vec<T>>>, i: usize) -> Option<Vec<Vec<T>>> {
        rows.as_ref()
            .and_then(|r| r.get(i))
            .map(|row| vec![row.clone()])
    }
    TypedEmbeddings {
        int8: pick(&typed.int8, i),
        uint8: pick(&typed.uint8, i),
        binary: pick(&typed.binary, i),
        ubinary: pick(&typed.ubinary, i),
    }
}

/// A boxed future, for the recursion above.
mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::{EmbedResponse, Embedder};

    /// A unit double: refuses any request holding the text "bad", and
    /// counts its calls.
    struct Picky(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl Embedder for Picky {
        async fn embed(&self, r: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if r.texts.iter().any(|t| t == "bad") {
                return Err(embedrock_core::Error::InvalidRequest("bad text".into()));
            }
            let vectors = r.texts.iter().map(|t| vec![t.len() as f32]).collect();
            let tokens = r.texts.iter().map(|t| t.len()).collect();
            let mut resp = EmbedResponse::new("picky", vectors, tokens);
            resp.typed = TypedEmbeddings::from_floats(&resp.vectors, &r.output_types);
            Ok(resp)
        }
        fn model_id(&self) -> &str {
            "picky"
        }
        fn dimensions(&self) -> usize {
            1
        }
        fn max_batch(&self) -> usize {
            8
        }
    }

    #[tokio::test]
    async fn one_bad_text_fails_alone() {
        let picky = Arc::new(Picky(Default::default()));
        let e: DynEmbedder = picky.clone();
        let request = EmbedRequest::new(["a", "bb", "bad", "dddd", "eeeee"])
            .with_output_types(vec![embedrock_core::OutputType::Int8]);
        let out = embed_isolating(&e, request).await;
        assert_eq!(out.len(), 5);
        for (i, want) in [(0, 1.0), (1, 2.0), (3, 4.0), (4, 5.0)] {
            let got = out[i].as_ref().unwrap();
            assert_eq!(got.vector, vec![want]);
            assert_eq!(got.tokens, want as usize);
            assert_eq!(got.typed.int8.as_ref().map(Vec::len), Some(1), "row {i}");
        }
        let f = out[2].as_ref().unwrap_err();
        assert_eq!(f.code, "InvalidRequest");
        assert!(f.message.contains("bad text"), "{}", f.message);
        // 1 whole + halves [a,bb] and [bad,dddd,eeeee] + [bad] and [dddd,eeeee].
        assert_eq!(picky.0.load(std::sync::atomic::Ordering::SeqCst), 5);
    }
}
