//! `POST /v1/embeddings` in OpenAI's request and response shape, for tools
//! that speak that API. `model` is a Bedrock model id served here (its
//! default dimensions apply) or the name of a backend (its native ones).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use embedrock_core::EmbedRequest;
use serde::Deserialize;
use serde_json::json;

use crate::invoke::compute;
use crate::models::Route;
use crate::{AppState, InputTokens};

/// The most dimensions the route pads to (the widest Bedrock model has 1,536).
const MAX_DIMENSIONS: usize = 8192;

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

fn error(status: StatusCode, message: impl Into<String>, code: &str) -> Response {
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    (
        status,
        Json(json!({"error": {"message": message.into(), "type": kind, "param": null, "code": code}})),
    )
        .into_response()
}

pub(crate) async fn embeddings(State(st): State<AppState>, body: Bytes) -> Response {
    let req: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e} (expected {{\"input\": string or [string], \"model\": string}})"),
                "invalid_request",
            )
        }
    };
    if req.encoding_format.as_deref().is_some_and(|f| f != "float") {
        return error(
            StatusCode::BAD_REQUEST,
            "only encoding_format \"float\" is supported",
            "invalid_request",
        );
    }
    let texts = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if texts.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "input must not be empty",
            "invalid_request",
        );
    }
    let (route, default_dims) = match st.models.backend(&req.model) {
        Some(b) => (
            Route {
                id: req.model.clone(),
                family: embedrock_core::Family::LocalBert,
                info: match embedrock_core::Catalogue::all().first() {
                    Some(i) => i,
                    None => {
                        return error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "empty catalogue",
                            "internal",
                        )
                    }
                },
                backend_name: req.model.clone(),
                backend: b.clone(),
            },
            b.dimensions(),
        ),
        None => match st.models.resolve(&req.model) {
            Ok(r) => (r.clone(), r.info.default_dimensions),
            Err(e) => {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("model {:?}: {}", req.model, e.message),
                    "model_not_found",
                )
            }
        },
    };
    let dims = req.dimensions.unwrap_or(default_dims);
    if dims == 0 || dims > MAX_DIMENSIONS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("dimensions must be between 1 and {MAX_DIMENSIONS}"),
            "invalid_request",
        );
    }
    let delay = match st.faults.admit() {
        Ok(d) => d,
        Err(e) => return crate::error::ApiError(e).into_response(),
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let limit = route
        .info
        .max_tokens
        .map(|m| (m, false))
        .filter(|_| route.family != embedrock_core::Family::LocalBert);
    match compute(&st, &route, EmbedRequest::new(texts), dims, limit).await {
        Ok(c) => {
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
            r
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.0.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
            error(status, e.0.message, e.0.kind.name())
        }
    }
}
