//! `amazon.titan-embed-image-v1` (Titan Multimodal Embeddings G1).
//!
//! Request `{"inputText"?, "inputImage"? (base64), "embeddingConfig"?:
//! {"outputEmbeddingLength": 256 | 384 | 1024}}`, at least one of text and
//! image. Response `{"embedding", "inputTextTokenCount", "message"}`.
//! The current documentation gives 256 text tokens and images up to 25 MB.

use embedrock_core::catalogue::TITAN_MULTIMODAL as ROW;
use embedrock_core::{EmbedRequest, InputType, OutputType};
use serde::{Deserialize, Serialize};

use super::schema::{into_typed, parse_object, Checker};
use super::{check_base64, const_limit, single_text, Decoded, Invocation, Output};
use crate::WireError;

/// The model id.
pub const MODEL_ID: &str = ROW.id;
/// The dimensions the model accepts (the catalogue row's).
pub const DIMENSIONS: &[usize] = ROW.dimensions;
/// The dimensions when none are asked for.
pub const DEFAULT_DIMENSIONS: usize = ROW.default_dimensions;
/// Text tokens per call (current documentation).
pub const MAX_TOKENS: usize = const_limit(ROW.max_tokens);
/// Image bytes per call.
pub const MAX_IMAGE_BYTES: usize = const_limit(ROW.max_image_bytes);

/// `embeddingConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddingConfig {
    /// 256, 384 or 1024.
    pub output_embedding_length: usize,
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_text: Option<String>,
    /// The image, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_image: Option<String>,
    /// Output length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_config: Option<EmbeddingConfig>,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The vector.
    pub embedding: Vec<f32>,
    /// Text tokens counted.
    pub input_text_token_count: usize,
    /// Errors that happened while generating, if any.
    #[serde(default)]
    pub message: Option<String>,
}

/// Decodes and checks a request body.
pub fn decode_request(body: &[u8]) -> Result<Request, WireError> {
    let obj = parse_object(body)?;
    let mut c = Checker::new(&obj);
    c.only(&["inputText", "inputImage", "embeddingConfig"])
        .string("inputText", 1, None)
        .string("inputImage", 1, None);
    if !obj.contains_key("inputText") && !obj.contains_key("inputImage") {
        c.violation("#: required key [inputText] not found".into());
    }
    if let Some(cfg) = c.object("embeddingConfig") {
        let mut inner = Checker::new(cfg);
        inner
            .only(&["outputEmbeddingLength"])
            .required("outputEmbeddingLength")
            .int_enum("outputEmbeddingLength", DIMENSIONS);
        if let Err(e) = inner.finish() {
            let detail = e
                .message
                .replace("#:", "#/embeddingConfig:")
                .replace("#/output", "#/embeddingConfig/output");
            return Err(WireError::validation(detail));
        }
    }
    c.finish()?;
    if let Some(serde_json::Value::String(img)) = obj.get("inputImage") {
        check_base64(img, MAX_IMAGE_BYTES)?;
    }
    into_typed(obj)
}

impl Request {
    /// The body for one text of an [`EmbedRequest`].
    pub fn from_embed_request(r: &EmbedRequest) -> Result<Self, WireError> {
        Ok(Request {
            input_text: Some(single_text(r, MODEL_ID)?.to_string()),
            input_image: None,
            embedding_config: r.dimensions.map(|d| EmbeddingConfig {
                output_embedding_length: d,
            }),
        })
    }

    /// What the request asks to compute.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            texts: self.input_text.iter().cloned().collect(),
            images: usize::from(self.input_image.is_some()),
            input_type: InputType::Document,
            dimensions: self
                .embedding_config
                .as_ref()
                .map_or(DEFAULT_DIMENSIONS, |c| c.output_embedding_length),
            normalize: true,
            output_types: vec![OutputType::Float],
            token_limit: Some((MAX_TOKENS, false)),
        }
    }
}

impl Response {
    /// The body for a computed output.
    pub fn from_output(o: &Output) -> Self {
        Response {
            embedding: o.vectors.first().cloned().unwrap_or_default(),
            input_text_token_count: o.tokens.iter().sum(),
            message: None,
        }
    }

    /// What a client gets out of it.
    pub fn into_decoded(self) -> Decoded {
        Decoded {
            vectors: vec![self.embedding],
            tokens: Some(vec![self.input_text_token_count]),
            ..Decoded::default()
        }
    }
}
