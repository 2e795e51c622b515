//! `cohere.embed-english-v3` and `cohere.embed-multilingual-v3`.
//!
//! Request `{"texts" | "images", "input_type", "truncate"?,
//! "embedding_types"?}`: up to 96 texts of at most 2,048 characters each, or
//! one image as a data URI; `input_type` is required. The response is
//! `embeddings_floats` (a plain list) when no `embedding_types` were sent and
//! `embeddings_by_type` (a map) when they were. Always 1,024 dimensions.

use embedrock_core::catalogue::COHERE_ENGLISH_V3 as ROW;
use embedrock_core::{EmbedRequest, OutputType};
use serde::{Deserialize, Serialize};

use super::limits::output_type_names;
use super::schema::{into_typed, parse_object, Checker};
use super::{
    check_data_uri, cohere_input_type, cohere_input_type_name, const_limit, CohereEmbeddingType,
    CohereResponse, EncodeOptions, Invocation, Output,
};
use crate::WireError;

/// Output dimensions (the catalogue row's).
pub const DIMENSIONS: usize = ROW.default_dimensions;
/// Texts per call.
pub const MAX_TEXTS: usize = ROW.max_batch;
/// Characters per text.
pub const MAX_CHARS: usize = const_limit(ROW.max_chars);
/// Tokens per text.
pub const MAX_TOKENS: usize = const_limit(ROW.max_tokens);
/// Images per call.
pub const MAX_IMAGES: usize = ROW.max_images;
/// Bytes per image.
pub const MAX_IMAGE_BYTES: usize = const_limit(ROW.max_image_bytes);

/// `truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Truncate {
    /// Fail on long input.
    None,
    /// Drop the start.
    Start,
    /// Drop the end.
    End,
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Texts to embed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texts: Option<Vec<String>>,
    /// Images as data URIs (at most one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// `search_document`, `search_query`, `classification`, `clustering`, `image`.
    pub input_type: String,
    /// What to do with long input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<Truncate>,
    /// The forms to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_types: Option<Vec<CohereEmbeddingType>>,
}

/// Decodes and checks a request body.
pub fn decode_request(body: &[u8]) -> Result<Request, WireError> {
    let obj = parse_object(body)?;
    let mut c = Checker::new(&obj);
    c.only(&[
        "texts",
        "images",
        "input_type",
        "truncate",
        "embedding_types",
    ])
    .required("input_type")
    .str_enum(
        "input_type",
        &[
            "search_document",
            "search_query",
            "classification",
            "clustering",
            "image",
        ],
    )
    .string_array("texts", 0, Some(MAX_TEXTS), Some(MAX_CHARS))
    .string_array("images", 0, Some(MAX_IMAGES), None)
    .str_enum("truncate", &["NONE", "START", "END"])
    .str_enum_array("embedding_types", &output_type_names(&ROW), 1);
    match (obj.contains_key("texts"), obj.contains_key("images")) {
        (true, true) => c.violation("#: only one of [texts, images] may be given".into()),
        (false, false) => c.violation("#: required key [texts] not found".into()),
        _ => {}
    }
    c.finish()?;
    if let Some(serde_json::Value::Array(images)) = obj.get("images") {
        for img in images.iter().filter_map(|v| v.as_str()) {
            check_data_uri(img, &["png", "jpeg", "jpg"], MAX_IMAGE_BYTES)?;
        }
    }
    into_typed(obj)
}

impl Request {
    /// The body for an [`EmbedRequest`] of up to 96 texts (limits are
    /// checked by [`super::limits::validate`]).
    pub fn from_embed_request(r: &EmbedRequest) -> Result<Self, WireError> {
        Self::from_embed_request_with(r, EncodeOptions::default())
    }

    /// As [`Request::from_embed_request`], with `truncate: END` when the
    /// options let the model cut over-long input.
    pub fn from_embed_request_with(
        r: &EmbedRequest,
        options: EncodeOptions,
    ) -> Result<Self, WireError> {
        Ok(Request {
            texts: Some(r.texts.clone()),
            images: None,
            input_type: cohere_input_type_name(r.input_type).to_string(),
            truncate: options.truncate.then_some(Truncate::End),
            embedding_types: (!r.output_types.is_empty())
                .then(|| r.output_types.iter().map(|&t| t.into()).collect()),
        })
    }

    /// What the request asks to compute.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            texts: self.texts.clone().unwrap_or_default(),
            images: self.images.as_ref().map_or(0, Vec::len),
            input_type: cohere_input_type(&self.input_type),
            dimensions: DIMENSIONS,
            normalize: true,
            output_types: self
                .embedding_types
                .as_ref()
                .map(|t| t.iter().map(|&t| OutputType::from(t)).collect())
                .unwrap_or_else(|| vec![OutputType::Float]),
            token_limit: Some((MAX_TOKENS, self.truncate != Some(Truncate::None))),
        }
    }

    /// The body for a computed output.
    pub fn response(&self, o: &Output) -> CohereResponse {
        let types = self
            .embedding_types
            .as_ref()
            .map(|t| t.iter().map(|&t| OutputType::from(t)).collect::<Vec<_>>());
        let mut r = CohereResponse::build(&o.id, &o.vectors, types.as_deref());
        r.texts = Some(self.texts.clone().unwrap_or_default());
        r
    }
}
