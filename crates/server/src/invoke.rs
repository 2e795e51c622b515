//! `POST /model/{modelId}/invoke`: decode the family's body, check it as
//! Bedrock does, embed with the model behind the id, fit the dimensions and
//! answer in the family's JSON with the headers clients read.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use embedrock_bedrock::{decode_request, ErrorKind, Output, WireError};
use embedrock_core::EmbedRequest;

use crate::error::{from_core, ApiError};
use crate::models::{fit_dimensions, Route};
use crate::{AppState, InputTokens, RequestId};

/// What one embedding call computed.
pub(crate) struct Computed {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: Vec<usize>,
}

/// Counts tokens with the backend's tokenizer, checks the token limit and
/// the token-based faults, embeds, and fits the dimensions.
pub(crate) async fn compute(
    st: &AppState,
    route: &Route,
    request: EmbedRequest,
    target_dims: usize,
    token_limit: Option<(usize, bool)>,
) -> Result<Computed, ApiError> {
    let native = route.backend.dimensions();
    if st.options.strict_dimensions && target_dims != native {
        return Err(ApiError::new(
            ErrorKind::Validation,
            format!(
                "The model behind {} ({}) produces {native} dimensions, not {target_dims} (strict dimensions are on).",
                route.id, route.backend_name
            ),
        ));
    }
    let counted = route.backend.count_tokens(&request.texts).ok();
    if let (Some((max, can_truncate)), Some(counts)) = (token_limit, counted.as_ref()) {
        if !can_truncate {
            if let Some(&over) = counts.iter().find(|&&n| n > max) {
                return Err(ApiError(WireError::too_many_tokens(max, over)));
            }
        }
    }
    if let Some(counts) = counted.as_ref() {
        st.faults.check_tokens(counts.iter().sum())?;
    }
    if request.texts.is_empty() {
        return Ok(Computed {
            vectors: Vec::new(),
            tokens: Vec::new(),
        });
    }
    let normalize = request.normalize;
    let response = route.backend.embed(request).await.map_err(from_core)?;
    let mut vectors = response.vectors;
    for v in &mut vectors {
        fit_dimensions(v, target_dims, normalize);
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
    let decoded = decode_request(route.family, &body)?;
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
    let computed = compute(&st, route, request, inv.dimensions, inv.token_limit).await?;
    let total: usize = computed.tokens.iter().sum();
    let out = Output::new(computed.vectors, computed.tokens, rid.0.clone());
    let body = decoded.encode_response(&out);
    let mut r = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    let h = r.headers_mut();
    h.insert("X-Amzn-Bedrock-Input-Token-Count", HeaderValue::from(total));
    h.insert("X-Amzn-Bedrock-Output-Token-Count", HeaderValue::from(0));
    h.insert(
        "X-Amzn-Bedrock-Invocation-Latency",
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
    r.extensions_mut().insert(InputTokens(total));
    Ok(r)
}
