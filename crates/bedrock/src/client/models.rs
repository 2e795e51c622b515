//! The control plane's `ListFoundationModels`, filtered to embedding models.

use embedrock_core::Error;

use super::provider::load_sdk_config;
use super::settings::BedrockSettings;

/// One model as Bedrock lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ListedModel {
    /// The model id.
    pub model_id: String,
    /// A human name.
    pub name: Option<String>,
    /// `Amazon`, `Cohere`, ...
    pub provider: Option<String>,
    /// `TEXT`, `IMAGE`.
    pub input_modalities: Vec<String>,
    /// `ACTIVE` or `LEGACY`.
    pub lifecycle: Option<String>,
    /// `ON_DEMAND`, `PROVISIONED`.
    pub inference_types: Vec<String>,
}

/// Lists the embedding models the account's region offers, optionally of
/// one provider. The endpoint is `control_endpoint_url`, else `endpoint_url`,
/// else the SDK's (`AWS_ENDPOINT_URL_BEDROCK`, the regional host).
pub async fn list_embedding_models(
    settings: &BedrockSettings,
    provider: Option<&str>,
) -> Result<Vec<ListedModel>, Error> {
    let sdk = load_sdk_config(settings).await;
    let mut b = aws_sdk_bedrock::config::Builder::from(&sdk);
    if let Some(u) = settings
        .control_endpoint_url
        .as_ref()
        .or(settings.endpoint_url.as_ref())
    {
        b = b.endpoint_url(u);
    }
    if let Some(key) = &settings.api_key {
        b = b
            .bearer_token(aws_sdk_bedrock::config::Token::new(key.expose(), None))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ]);
    }
    let client = aws_sdk_bedrock::Client::from_conf(b.build());
    let mut req = client
        .list_foundation_models()
        .by_output_modality(aws_sdk_bedrock::types::ModelModality::Embedding);
    if let Some(p) = provider {
        req = req.by_provider(p);
    }
    let out = req.send().await.map_err(|e| {
        Error::backend_msg(format!(
            "listing Bedrock models failed: {}",
            aws_sdk_bedrock::error::DisplayErrorContext(&e)
        ))
    })?;
    Ok(out
        .model_summaries()
        .iter()
        .map(|m| ListedModel {
            model_id: m.model_id().to_string(),
            name: m.model_name().map(str::to_string),
            provider: m.provider_name().map(str::to_string),
            input_modalities: m
                .input_modalities()
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
            lifecycle: m.model_lifecycle().map(|l| l.status().as_str().to_string()),
            inference_types: m
                .inference_types_supported()
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
        })
        .collect())
}
