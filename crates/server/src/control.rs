//! The control plane's model listing: `GET /foundation-models` with its
//! filters and `GET /foundation-models/{modelIdentifier}`, answering with the
//! served embedding models in `ListFoundationModels` / `GetFoundationModel`
//! JSON.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use embedrock_bedrock::{ErrorKind, ModelId, WireError};
use embedrock_core::{Family, Modality, ModelInfo};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// One model summary, as Bedrock writes it.
pub(crate) fn summary(m: &ModelInfo, id: &str, region: &str) -> Value {
    let inputs: Vec<&str> = m
        .input_modalities
        .iter()
        .map(|x| match x {
            Modality::Text => "TEXT",
            Modality::Image => "IMAGE",
        })
        .collect();
    let (customizations, inference): (&[&str], &[&str]) = match (m.family, id == m.id) {
        // Provisioned-throughput variants such as `amazon.titan-embed-text-v1:2:8k`.
        (_, false) => (&[], &["PROVISIONED"]),
        (Family::TitanMultimodal, true) => (&["FINE_TUNING"], &["ON_DEMAND"]),
        // Reached through inference profiles (`us.cohere.embed-v4:0`).
        (Family::CohereV4, true) => (&[], &["INFERENCE_PROFILE"]),
        _ => (&[], &["ON_DEMAND"]),
    };
    json!({
        "modelArn": format!("arn:aws:bedrock:{region}::foundation-model/{id}"),
        "modelId": id,
        "modelName": m.name,
        "providerName": m.provider.as_str(),
        "inputModalities": inputs,
        "outputModalities": ["EMBEDDING"],
        "responseStreamingSupported": false,
        "customizationsSupported": customizations,
        "inferenceTypesSupported": inference,
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

/// Variant ids Bedrock lists beside the base id (provisioned-throughput forms).
const LISTED_VARIANTS: &[&str] = &[
    "amazon.titan-embed-text-v1:2:8k",
    "amazon.titan-embed-image-v1:0",
];

/// Every listed id of a model: its variants, then its own (Bedrock's order).
fn listed_ids(m: &ModelInfo) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = m
        .aliases
        .iter()
        .copied()
        .filter(|a| LISTED_VARIANTS.contains(a))
        .collect();
    ids.push(m.id);
    ids
}

fn enum_error(param: &str, value: &str, allowed: &[&str]) -> ApiError {
    ApiError::new(
        ErrorKind::Validation,
        format!(
            "1 validation error detected: Value '{value}' at '{param}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    )
}

/// `GET /foundation-models`.
pub(crate) async fn list(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    for (param, allowed) in [
        ("byOutputModality", &["TEXT", "IMAGE", "EMBEDDING"][..]),
        ("byInferenceType", &["ON_DEMAND", "PROVISIONED"][..]),
        (
            "byCustomizationType",
            &["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"][..],
        ),
    ] {
        if let Some(v) = q.get(param) {
            if !allowed.contains(&v.as_str()) {
                return Err(enum_error(param, v, allowed));
            }
        }
    }
    let mut out = Vec::new();
    for m in st.models.served() {
        for id in listed_ids(m) {
            let s = summary(m, id, &st.options.region);
            let has = |field: &str, v: &str| {
                s[field]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == v))
            };
            let keep = q
                .get("byProvider")
                .is_none_or(|p| p.eq_ignore_ascii_case(m.provider.as_str()))
                && q.get("byOutputModality")
                    .is_none_or(|v| has("outputModalities", v))
                && q.get("byInferenceType")
                    .is_none_or(|v| has("inferenceTypesSupported", v))
                && q.get("byCustomizationType")
                    .is_none_or(|v| has("customizationsSupported", v));
            if keep {
                out.push(s);
            }
        }
    }
    Ok(Json(json!({ "modelSummaries": out })).into_response())
}

/// `GET /foundation-models/{modelIdentifier}`: a model id or a
/// foundation-model ARN.
pub(crate) async fn get(
    State(st): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let raw = uri.path().trim_start_matches("/foundation-models/");
    let not_found = || {
        ApiError(WireError::new(
            ErrorKind::ResourceNotFound,
            "The specified model could not be found.",
        ))
    };
    let parsed = ModelId::parse(raw).map_err(ApiError)?;
    let base = parsed.base.clone().ok_or_else(not_found)?;
    for m in st.models.served() {
        if let Some(id) = listed_ids(m)
            .into_iter()
            .find(|id| id.eq_ignore_ascii_case(&base))
        {
            return Ok(
                Json(json!({ "modelDetails": summary(m, id, &st.options.region) })).into_response(),
            );
        }
    }
    Err(not_found())
}
