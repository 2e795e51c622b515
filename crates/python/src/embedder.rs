//! `NativeEmbedder`: any model the command line opens, behind the Python
//! `embedrock.Embedder`.

use embedrock_cli::open::{self, Model, OpenSettings};
use embedrock_cli::settings::{self, Flags};
use embedrock_core::{EmbedRequest, EmbedResponse, InputType, OutputType};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict};

use crate::errors::Raised;

/// The most texts one call takes.
pub const MAX_TEXTS: usize = 1_000_000;
/// The most bytes of text one call takes, all texts together.
pub const MAX_TOTAL_BYTES: usize = 1 << 30;
/// The largest batch of a local model's forward pass.
const MAX_BATCH_SIZE: usize = 4096;
/// The most CPU threads of a local model.
const MAX_THREADS: usize = 256;

/// An open embedding model: local, or Amazon Bedrock (or an endpoint that
/// speaks its API).
#[pyclass(module = "embedrock._embedrock", frozen)]
pub struct NativeEmbedder {
    model: Model,
}

/// Where and how to open a model, as the Python constructor takes it.
#[derive(Debug, Default)]
struct Options {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    cache_dir: Option<String>,
    no_cache: bool,
    concurrency: Option<usize>,
    keys: Option<(String, String, Option<String>)>,
    batch_size: Option<usize>,
    threads: Option<usize>,
    max_attempts: Option<usize>,
    precision: Option<String>,
}

fn in_range(name: &str, value: Option<usize>, max: usize) -> Result<(), Raised> {
    match value {
        Some(v) if !(1..=max).contains(&v) => Err(Raised::new(
            "ValidationError",
            format!("{name} must be between 1 and {max}, got {v}"),
        )),
        _ => Ok(()),
    }
}

impl Options {
    /// The settings the command line would resolve from these flags and
    /// the environment.
    fn settings(self, model: &str) -> Result<OpenSettings, Raised> {
        in_range("concurrency", self.concurrency, settings::MAX_CONCURRENCY)?;
        in_range("batch_size", self.batch_size, MAX_BATCH_SIZE)?;
        in_range("threads", self.threads, MAX_THREADS)?;
        in_range(
            "max_attempts",
            self.max_attempts,
            settings::MAX_ATTEMPTS as usize,
        )?;
        let flags = Flags {
            model: Some(model.to_string()),
            region: self.region,
            profile: self.profile,
            endpoint_url: self.endpoint_url,
            concurrency: self.concurrency,
            cache_dir: self.cache_dir.map(Into::into),
            no_cache: self.no_cache,
            ..Flags::default()
        };
        let resolved = settings::resolve(&flags, None, &|k| std::env::var(k).ok())
            .map_err(|e| Raised::new("ValidationError", e))?;
        let mut bedrock = resolved.settings;
        if let Some((id, secret, token)) = self.keys {
            bedrock = bedrock.with_keys(&id, &secret);
            bedrock.session_token = token.map(embedrock_bedrock::client::Secret::new);
        }
        if let Some(n) = self.max_attempts.and_then(|n| u32::try_from(n).ok()) {
            bedrock.retry.max_attempts = n;
            bedrock.retry.max_throttled_attempts = n;
        }
        let precision = self
            .precision
            .as_deref()
            .map(open::parse_precision)
            .transpose()
            .map_err(|e| Raised::new("ValidationError", e))?;
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(OpenSettings {
            batch_size: self.batch_size.unwrap_or(32),
            threads,
            bedrock,
            quiet: true,
            precision,
        })
    }
}

/// Checks the size of a call before any work.
fn check_texts(texts: &[String]) -> Result<(), Raised> {
    if texts.len() > MAX_TEXTS {
        return Err(Raised::new(
            "ValidationError",
            format!(
                "{} texts in one call; the limit is {MAX_TEXTS}",
                texts.len()
            ),
        ));
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    if bytes > MAX_TOTAL_BYTES {
        return Err(Raised::new(
            "ValidationError",
            format!("{bytes} bytes of text in one call; the limit is {MAX_TOTAL_BYTES}"),
        ));
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(value: &str) -> Result<T, Raised>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| Raised::new("ValidationError", e.to_string()))
}

#[pymethods]
impl NativeEmbedder {
    /// Opens `model` (see `embedrock.Embedder`).
    #[new]
    #[pyo3(signature = (model, *, region=None, profile=None, endpoint_url=None, cache_dir=None,
        no_cache=false, concurrency=None, aws_access_key_id=None, aws_secret_access_key=None,
        aws_session_token=None, batch_size=None, threads=None, max_attempts=None,
        precision=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &str,
        region: Option<String>,
        profile: Option<String>,
        endpoint_url: Option<String>,
        cache_dir: Option<String>,
        no_cache: bool,
        concurrency: Option<usize>,
        aws_access_key_id: Option<String>,
        aws_secret_access_key: Option<String>,
        aws_session_token: Option<String>,
        batch_size: Option<usize>,
        threads: Option<usize>,
        max_attempts: Option<usize>,
        precision: Option<String>,
    ) -> PyResult<Self> {
        let keys = match (aws_access_key_id, aws_secret_access_key) {
            (Some(id), Some(secret)) => Some((id, secret, aws_session_token)),
            (None, None) => None,
            _ => {
                return Err(Raised::new(
                    "ValidationError",
                    "give both aws_access_key_id and aws_secret_access_key, or neither",
                )
                .into())
            }
        };
        let options = Options {
            region,
            profile,
            endpoint_url,
            cache_dir,
            no_cache,
            concurrency,
            keys,
            batch_size,
            threads,
            max_attempts,
            precision,
        };
        let settings = options.settings(model)?;
        if let Some(p) = settings.precision {
            if p != embedrock_local::Precision::Fp32 && open::is_bedrock(model, &settings.bedrock) {
                return Err(Raised::new(
                    "ValidationError",
                    format!(
                        "precision={p} applies to local models; {model} is an Amazon Bedrock \
                         model and Bedrock computes its vectors itself"
                    ),
                )
                .into());
            }
        }
        let opened = crate::block_on(py, open::open(model, &settings))?;
        let model = opened.map_err(|e| Raised::of_anyhow(&e))?;
        Ok(NativeEmbedder { model })
    }

    /// Embeds `texts`: a dict with `n`, `dimensions`, `tokens` (a list),
    /// `float` (little-endian f32 bytes, row-major) and, when asked, `int8`,
    /// `uint8`, `binary` and `ubinary` as `(row_width, bytes)`.
    #[pyo3(signature = (texts, input_type=None, dimensions=None, normalize=None, output_types=None))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        input_type: Option<&str>,
        dimensions: Option<usize>,
        normalize: Option<bool>,
        output_types: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        check_texts(&texts)?;
        let input_type: InputType = match input_type {
            Some(t) => parse(t)?,
            None => InputType::Document,
        };
        let output_types = output_types
            .unwrap_or_default()
            .iter()
            .map(|t| parse::<OutputType>(t))
            .collect::<Result<Vec<_>, _>>()?;
        self.model
            .check_dimensions(dimensions)
            .map_err(|e| Raised::new("ValidationError", e.to_string()))?;
        let request = EmbedRequest::new(texts)
            .with_input_type(input_type)
            .with_dimensions(dimensions)
            .with_normalize(normalize.unwrap_or(true))
            .with_output_types(output_types);
        let embedder = self.model.embedder().clone();
        let response = crate::block_on(py, async move { embedder.embed(request).await })?
            .map_err(|e| Raised::of_core(&e))?;
        response_dict(py, &response)
    }

    /// Tokens of each text, counted as the model counts them.
    fn count_tokens(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<usize>> {
        check_texts(&texts)?;
        let embedder = self.model.embedder().clone();
        py.detach(move || embedder.count_tokens(&texts))
            .map_err(|e| Raised::of_core(&e).into())
    }

    /// The work done so far, as JSON.
    fn usage_json(&self) -> String {
        serde_json::to_string(&self.model.usage()).unwrap_or_default()
    }

    /// The model's facts, as JSON.
    fn facts_json(&self) -> String {
        serde_json::to_string(&self.model.facts()).unwrap_or_default()
    }

    /// The model's id as it answers.
    #[getter]
    fn model_id(&self) -> String {
        self.model.id().to_string()
    }

    /// Dimensions of its vectors by default.
    #[getter]
    fn dimensions(&self) -> usize {
        self.model.embedder().dimensions()
    }

    /// Where the model lives: its folder, or the endpoint (without secrets).
    #[getter]
    fn location(&self) -> String {
        self.model.location.clone()
    }

    /// Whether it is a Bedrock model.
    #[getter]
    fn is_bedrock(&self) -> bool {
        self.model.is_bedrock()
    }
}

impl NativeEmbedder {
    /// The embedder, for the store.
    pub fn dyn_embedder(&self) -> embedrock_core::DynEmbedder {
        self.model.embedder().clone()
    }
}

/// Rows as one row-major buffer of little-endian values, with the row
/// width; `None` when the rows differ in width.
fn flatten<T: Copy, const N: usize>(
    rows: &[Vec<T>],
    bytes: impl Fn(T) -> [u8; N],
) -> Option<(usize, Vec<u8>)> {
    let width = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != width) {
        return None;
    }
    let mut out = Vec::with_capacity(rows.len() * width * N);
    for &v in rows.iter().flatten() {
        out.extend_from_slice(&bytes(v));
    }
    Some((width, out))
}

/// One quantised form as `(row_width, bytes)`, when present.
fn form<'py, T: Copy, const N: usize>(
    py: Python<'py>,
    rows: Option<&[Vec<T>]>,
    bytes: impl Fn(T) -> [u8; N],
) -> PyResult<Option<(usize, Bound<'py, PyByteArray>)>> {
    let Some(rows) = rows else { return Ok(None) };
    let (width, buf) = flatten(rows, bytes).ok_or_else(ragged)?;
    Ok(Some((width, PyByteArray::new(py, &buf))))
}

fn ragged() -> Raised {
    Raised::new(
        "EmbedrockError",
        "the model answered rows of different widths",
    )
}

fn response_dict<'py>(py: Python<'py>, r: &EmbedResponse) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n", r.tokens.len().max(r.vectors.len()))?;
    d.set_item("tokens", &r.tokens)?;
    if !r.vectors.is_empty() {
        let (width, buf) = flatten(&r.vectors, f32::to_le_bytes).ok_or_else(ragged)?;
        d.set_item("dimensions", width)?;
        d.set_item("float", PyByteArray::new(py, &buf))?;
    }
    let t = &r.typed;
    d.set_item("int8", form(py, t.int8.as_deref(), i8::to_le_bytes)?)?;
    d.set_item("uint8", form(py, t.uint8.as_deref(), u8::to_le_bytes)?)?;
    d.set_item("binary", form(py, t.binary.as_deref(), i8::to_le_bytes)?)?;
    d.set_item("ubinary", form(py, t.ubinary.as_deref(), u8::to_le_bytes)?)?;
    Ok(d)
}
