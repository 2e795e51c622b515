//! `POST /model/{modelId}/invoke`: decode the family's body, check it as
//! Bedrock does, embed with the model behind the id, fit the dimensions and
//! answer in the family's JSON with the headers clients read.
//!
//! Decoding, character counting and tokenising run on the blocking pool,
//! never on the async workers, so a large body cannot stall other requests.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use embedrock_bedrock::{decode_request, headers, ErrorKind, FamilyRequest, Output, WireError};
use embedrock_core::{DynEmbedder, EmbedRequest};

use crate::error::{from_core, ApiError};
use crate::limits::{check_chars, max_chars_per_text};
use crate::models::fit_dimensions;
use crate::{AppState, InputTokens, RequestId};

/// What one embedding call computed.
pub(crate) struct Computed {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: Vec<usize>,
}

/// One embedding job, whichever surface it came from.
pub(crate) struct Job<'a> {
    /// The model id or name asked for, for messages.
    pub id: &'a str,
    /// The name of the embedder behind it, for messages.
    pub backend_name: &'a str,
    /// The embedder.
    pub backend: &'a DynEmbedder,
    /// The texts and options.
    pub request: EmbedRequest,
    /// The dimensions of the answer.
    pub dims: usize,
    /// The token limit per text and whether longer texts may be cut.
    pub token_limit: Option<(usize, bool)>,
}

/// Runs CPU-bound work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WireError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        WireError::new(
            ErrorKind::InternalServer,
            "The server encountered an internal error while processing the request.",
        )
    })
}

/// Takes admission permits, counts tokens with the backend's tokenizer (on
/// the blocking pool), checks the token limit and the token-based faults,
/// embeds, and fits the dimensions. Dropping the returned future drops the
/// embedding and gives the permits back.
pub(crate) async fn compute(st: &AppState, job: Job<'_>) -> Result<Computed, ApiError> {
    let native = job.backend.dimensions();
    if st.options.strict_dimensions && job.dims != native {
        return Err(ApiError::new(
            ErrorKind::Validation,
            format!(
                "The model behind {} ({}) produces {native} dimensions, not {} (strict dimensions are on).",
                job.id, job.backend_name, job.dims
            ),
        ));
    }
    if job.request.texts.is_empty() {
        return Ok(Computed {
            vectors: Vec::new(),
            tokens: Vec::new(),
        });
    }
    let _permits = st.admission.try_admit(job.request.texts.len())?;
    let backend = job.backend.clone();
    let texts = job.request.texts.clone();
    let counted = blocking(move || backend.count_tokens(&texts).ok()).await?;
    if let (Some((max, false)), Some(counts)) = (job.token_limit, counted.as_ref()) {
        if let Some(&over) = counts.iter().find(|&&n| n > max) {
            return Err(ApiError(WireError::too_many_tokens(max, over)));
        }
    }
    if let Some(counts) = counted.as_ref() {
        st.faults.check_tokens(counts.iter().sum())?;
    }
    let normalize = job.request.normalize;
    let response = job.backend.embed(job.request).await.map_err(from_core)?;
    let mut vectors = response.vectors;
    if let Some(i) = vectors
        .iter()
        .position(|v| v.iter().any(|x| !x.is_finite()))
    {
        return Err(ApiError::new(
            ErrorKind::ModelError,
            format!(
                "The model {} produced a non-finite value for input {i}.",
                job.backend_name
            ),
        ));
    }
    for v in &mut vectors {
        fit_dimensions(v, job.dims, normalize);
    }
    Ok(Computed {
        vectors,
        tokens: counted.unwrap_or(response.tokens),
    })
}

/// The model id label of an invoke path, still percent-encoded.
fn model_label(uri: &Uri) -> &str {
    uri.path()
        .strip_prefix("/model/")
        .and_then(|p| p.strip_suffix("/invoke"))
        .unwrap_or_default()
}

/// Decodes a body and checks its character caps, on the blocking pool.
async fn decode(
    family: embedrock_core::Family,
    body: Bytes,
    max_request_chars: usize,
) -> Result<FamilyRequest, ApiError> {
    let decoded = blocking(move || {
        let decoded = decode_request(family, &body)?;
        let inv = decoded.invocation();
        check_chars(&inv.texts, max_chars_per_text(family), max_request_chars)?;
        Ok::<_, WireError>(decoded)
    })
    .await??;
    Ok(decoded)
}

pub(crate) async fn invoke(
    State(st): State<AppState>,
    axum::Extension(rid): axum::Extension<RequestId>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let route = st.models.resolve(model_label(&uri))?;
    let delay = st.faults.admit()?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let decoded = decode(route.family, body, st.options.max_request_chars).await?;
    let inv = decoded.invocation();
    if inv.images > 0 {
        return Err(ApiError::new(
            ErrorKind::Validation,
            format!(
                "The model behind {} on this server ({}) embeds text only; image input is not supported.",
                route.id, route.backend_name
            ),
        ));
    }
    let request = EmbedRequest::new(inv.texts.clone())
        .with_input_type(inv.input_type)
        .with_normalize(inv.normalize);
    let job = Job {
        id: &route.id,
        backend_name: &route.backend_name,
        backend: &route.backend,
        request,
        dims: inv.dimensions,
        token_limit: inv.token_limit,
    };
    let computed = compute(&st, job).await?;
    let total: usize = computed.tokens.iter().sum();
    let out = Output::new(computed.vectors, computed.tokens, rid.0.clone());
    let body = decoded.encode_response(&out);
    let mut r = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(headers::INPUT_TOKEN_COUNT, HeaderValue::from(total));
    h.insert(headers::OUTPUT_TOKEN_COUNT, HeaderValue::from(0));
    h.insert(
        headers::INVOCATION_LATENCY,
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
    r.extensions_mut().insert(InputTokens(total));
    Ok(r)
}
