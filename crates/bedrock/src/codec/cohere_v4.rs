//! `cohere.embed-v4:0` (Cohere Embed v4).
//!
//! Request `{"input_type", "texts" | "images" | "inputs", "embedding_types"?,
//! "output_dimension"?, "max_tokens"?, "truncate"?}`: up to 96 items of each;
//! `output_dimension` 256, 512, 1024 or 1536 (default 1536); `truncate`
//! `NONE`, `LEFT` or `RIGHT`. An interleaved input's `image_url` is accepted
//! both as a bare string and as `{"url": ...}`. Answers come in the
//! `embeddings_by_type` shape, as callers report the model does even when no
//! `embedding_types` are sent; both shapes are parsed.

use embedrock_core::catalogue::COHERE_V4 as ROW;
use embedrock_core::{EmbedRequest, OutputType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::limits::output_type_names;
use super::schema::{into_typed, parse_object, type_name, Checker};
use super::{
    check_data_uri, cohere_input_type, cohere_input_type_name, const_limit, CohereEmbeddingType,
    CohereResponse, EncodeOptions, Invocation, Output,
};
use crate::WireError;

/// The dimensions the model accepts (the catalogue row's).
pub const DIMENSIONS: &[usize] = ROW.dimensions;
/// The dimensions when none are asked for.
pub const DEFAULT_DIMENSIONS: usize = ROW.default_dimensions;
/// Items per call.
pub const MAX_ITEMS: usize = ROW.max_batch;
/// The context length in tokens.
pub const MAX_TOKENS: usize = const_limit(ROW.max_tokens);
/// Bytes per image.
pub const MAX_IMAGE_BYTES: usize = const_limit(ROW.max_image_bytes);
const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "jpg", "webp", "gif"];

/// `truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Truncate {
    /// Fail on long input.
    None,
    /// Drop the start.
    Left,
    /// Drop the end.
    Right,
}

/// An `image_url`: a bare string or `{"url": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ImageUrl {
    /// `{"url": "data:..."}` (the form to send).
    Object {
        /// The data URI.
        url: String,
    },
    /// `"data:..."`.
    Bare(String),
}

impl ImageUrl {
    /// The data URI.
    pub fn url(&self) -> &str {
        match self {
            ImageUrl::Object { url } | ImageUrl::Bare(url) => url,
        }
    }
}

/// One part of an interleaved input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
}

/// One interleaved input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Its parts, in order.
    pub content: Vec<ContentPart>,
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// `search_document`, `search_query`, `classification`, `clustering`.
    pub input_type: String,
    /// Texts to embed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texts: Option<Vec<String>>,
    /// Images as data URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Interleaved text and image inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<Input>>,
    /// The forms to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_types: Option<Vec<CohereEmbeddingType>>,
    /// 256, 512, 1024 or 1536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<usize>,
    /// Tokens kept per input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// What to do with long input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<Truncate>,
}

fn check_inputs(c: &mut Checker<'_>, items: &[Value]) {
    for (i, item) in items.iter().enumerate() {
        let Some(content) = item.get("content") else {
            c.violation(format!("#/inputs/{i}: required key [content] not found"));
            continue;
        };
        let Some(parts) = content.as_array() else {
            c.violation(format!(
                "#/inputs/{i}/content: expected type: JSONArray, found: {}",
                type_name(content)
            ));
            continue;
        };
        for (j, part) in parts.iter().enumerate() {
            let path = format!("#/inputs/{i}/content/{j}");
            match part.get("type").and_then(Value::as_str) {
                Some("text") => {
                    if !part.get("text").is_some_and(Value::is_string) {
                        c.violation(format!("{path}: required key [text] not found"));
                    }
                }
                Some("image_url") => {
                    let url = match part.get("image_url") {
                        Some(Value::String(s)) => Some(s.as_str()),
                        Some(Value::Object(o)) => o.get("url").and_then(Value::as_str),
                        _ => None,
                    };
                    match url {
                        None => c.violation(format!("{path}: required key [image_url] not found")),
                        Some(u) => {
                            if let Err(e) = check_data_uri(u, IMAGE_FORMATS, MAX_IMAGE_BYTES) {
                                c.violation(format!("{path}/image_url: {e}"));
                            }
                        }
                    }
                }
                Some(other) => {
                    c.violation(format!("{path}/type: {other} is not a valid enum value"))
                }
                None => c.violation(format!("{path}: required key [type] not found")),
            }
        }
    }
}

/// Decodes and checks a request body.
pub fn decode_request(body: &[u8]) -> Result<Request, WireError> {
    let obj = parse_object(body)?;
    let mut c = Checker::new(&obj);
    c.only(&[
        "input_type",
        "texts",
        "images",
        "inputs",
        "embedding_types",
        "output_dimension",
        "max_tokens",
        "truncate",
    ])
    .required("input_type")
    .str_enum(
        "input_type",
        &[
            "search_document",
            "search_query",
            "classification",
            "clustering",
        ],
    )
    .string_array("texts", 0, Some(MAX_ITEMS), None)
    .string_array("images", 0, Some(MAX_ITEMS), None)
    .str_enum_array("embedding_types", &output_type_names(&ROW), 1)
    .int_enum("output_dimension", DIMENSIONS)
    .int_range("max_tokens", 1, MAX_TOKENS as i64)
    .str_enum("truncate", &["NONE", "LEFT", "RIGHT"]);
    if let Some(items) = c.array("inputs", 0, Some(MAX_ITEMS)) {
        check_inputs(&mut c, items);
    }
    let given = ["texts", "images", "inputs"]
        .iter()
        .filter(|k| obj.contains_key(**k))
        .count();
    if given == 0 {
        c.violation("#: required key [texts] not found".into());
    } else if given > 1 {
        c.violation("#: only one of [texts, images, inputs] may be given".into());
    }
    c.finish()?;
    if let Some(Value::Array(images)) = obj.get("images") {
        for img in images.iter().filter_map(Value::as_str) {
            check_data_uri(img, IMAGE_FORMATS, MAX_IMAGE_BYTES)?;
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

    /// As [`Request::from_embed_request`], with `truncate: RIGHT` when the
    /// options let the model cut over-long input.
    pub fn from_embed_request_with(
        r: &EmbedRequest,
        options: EncodeOptions,
    ) -> Result<Self, WireError> {
        Ok(Request {
            input_type: cohere_input_type_name(r.input_type).to_string(),
            texts: Some(r.texts.clone()),
            images: None,
            inputs: None,
            embedding_types: Some(if r.output_types.is_empty() {
                vec![CohereEmbeddingType::Float]
            } else {
                r.output_types.iter().map(|&t| t.into()).collect()
            }),
            output_dimension: r.dimensions,
            max_tokens: None,
            truncate: options.truncate.then_some(Truncate::Right),
        })
    }

    /// The texts to embed: `texts`, or the text parts of each interleaved
    /// input joined by a space.
    fn all_texts(&self) -> Vec<String> {
        if let Some(t) = &self.texts {
            return t.clone();
        }
        self.inputs
            .iter()
            .flatten()
            .map(|input| {
                input
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::Text { text } => Some(text.as_str()),
                        ContentPart::ImageUrl { .. } => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn image_count(&self) -> usize {
        self.images.as_ref().map_or(0, Vec::len)
            + self
                .inputs
                .iter()
                .flatten()
                .flat_map(|i| &i.content)
                .filter(|p| matches!(p, ContentPart::ImageUrl { .. }))
                .count()
    }

    fn types(&self) -> Vec<OutputType> {
        self.embedding_types
            .as_ref()
            .map(|t| t.iter().map(|&t| OutputType::from(t)).collect())
            .unwrap_or_else(|| vec![OutputType::Float])
    }

    /// What the request asks to compute.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            texts: self.all_texts(),
            images: self.image_count(),
            input_type: cohere_input_type(&self.input_type),
            dimensions: self.output_dimension.unwrap_or(DEFAULT_DIMENSIONS),
            normalize: true,
            output_types: self.types(),
            token_limit: Some((
                self.max_tokens.unwrap_or(MAX_TOKENS),
                self.truncate != Some(Truncate::None) || self.max_tokens.is_some(),
            )),
        }
    }

    /// The body for a computed output.
    pub fn response(&self, o: &Output) -> CohereResponse {
        let types = self.types();
        let mut r = CohereResponse::build(&o.id, &o.vectors, Some(&types));
        if let Some(inputs) = &self.inputs {
            r.inputs = serde_json::to_value(inputs).ok();
        } else {
            r.texts = Some(self.texts.clone().unwrap_or_default());
        }
        r
    }
}
