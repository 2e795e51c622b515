//! `POST /v1/embeddings` in OpenAI's request and response shape, for tools
//! that speak that API. `model` is the name of a backend (its native
//! dimensions) or a Bedrock model id served here (its default dimensions).
//!
//! Bounds, checked before any work: at most [`OPENAI_MAX_INPUTS`] inputs (as
//! OpenAI), [`OPENAI_MAX_CHARS_PER_INPUT`] characters an input,
//! `max_request_chars` in total, and `dimensions` between 1 and what the
//! model can give: its native width for a backend name, the model's largest
//! documented width for a Bedrock id (padding beyond the backend's width is
//! the dimension policy of [`crate::models`]). Errors are in OpenAI's shape.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use embedrock_core::EmbedRequest;
use serde::Deserialize;
use serde_json::json;

use crate::error::{OwnError, OwnKind};
use crate::invoke::{blocking, compute, Job};
use crate::limits::{check_chars, OPENAI_MAX_CHARS_PER_INPUT, OPENAI_MAX_INPUTS};
use crate::{AppState, InputTokens};

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Request {
    input: Input,
    model: String,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

fn invalid(message: impl Into<String>) -> OwnError {
    OwnError::new(OwnKind::InvalidRequest, message)
}

/// Parses and checks a body on the blocking pool: its shape, the number of
/// inputs and their characters.
async fn parse(body: Bytes, max_request_chars: usize) -> Result<(Request, Vec<String>), OwnError> {
    blocking(move || {
        let mut req: Request = serde_json::from_slice(&body).map_err(|e| {
            invalid(format!("invalid request body: {e} (expected {{\"input\": string or [string], \"model\": string}})"))
        })?;
        if req.encoding_format.as_deref().is_some_and(|f| f != "float") {
            return Err(invalid("only encoding_format \"float\" is supported"));
        }
        let texts = match std::mem::replace(&mut req.input, Input::Many(Vec::new())) {
            Input::One(s) => vec![s],
            Input::Many(v) => v,
        };
        if texts.is_empty() {
            return Err(invalid("input must not be empty"));
        }
        if texts.len() > OPENAI_MAX_INPUTS {
            return Err(invalid(format!(
                "input has {} items; at most {OPENAI_MAX_INPUTS} are allowed per request",
                texts.len()
            ))
            .with_code("too_many_inputs"));
        }
        check_chars(&texts, OPENAI_MAX_CHARS_PER_INPUT, max_request_chars)
            .map_err(|e| invalid(e.to_string()).with_code("input_too_long"))?;
        Ok((req, texts))
    })
    .await?
}

pub(crate) async fn embeddings(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<Response, OwnError> {
    let (req, texts) = parse(body, st.options.max_request_chars).await?;
    // A backend by name: its native width, its own truncation.
    // A Bedrock id: that model's default width and token limit.
    let (backend_name, backend, default_dims, max_dims, token_limit) =
        match st.models.backend(&req.model) {
            Some(b) => (
                req.model.clone(),
                b.clone(),
                b.dimensions(),
                b.dimensions(),
                None,
            ),
            None => {
                let r = st.models.resolve(&req.model).map_err(|e| {
                    OwnError::new(
                        OwnKind::NotFound,
                        format!("model {:?}: {}", req.model, e.message),
                    )
                    .with_code("model_not_found")
                })?;
                let widest = r
                    .info
                    .dimensions
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(r.info.default_dimensions);
                let limit = r.info.max_tokens.map(|m| (m, false));
                (
                    r.backend_name.clone(),
                    r.backend.clone(),
                    r.info.default_dimensions,
                    widest,
                    limit,
                )
            }
        };
    let dims = req.dimensions.unwrap_or(default_dims);
    if dims == 0 || dims > max_dims {
        return Err(invalid(format!(
            "dimensions must be between 1 and {max_dims} for model {:?}, got {dims}",
            req.model
        ))
        .with_code("invalid_dimensions"));
    }
    let delay = st.faults.admit()?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let job = Job {
        id: &req.model,
        backend_name: &backend_name,
        backend: &backend,
        request: EmbedRequest::new(texts),
        dims,
        token_limit,
    };
    let c = compute(&st, job).await?;
    let total: usize = c.tokens.iter().sum();
    let data: Vec<_> = c
        .vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    let mut r = Json(json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }))
    .into_response();
    r.extensions_mut().insert(InputTokens(total));
    Ok(r)
}
