//! `amazon.titan-embed-text-v2:0` (Titan Text Embeddings V2).
//!
//! Request `{"inputText", "dimensions"?, "normalize"?, "embeddingTypes"?}`;
//! dimensions 1024 (default), 512 or 256; normalize defaults to true;
//! embeddingTypes is a list of `float` and `binary`. The response always
//! carries `embedding` (floats) and `embeddingsByType`, which holds `float`
//! even when it was not asked for. Binary vectors hold one 0/1 per dimension.
//! Limits: 8,192 tokens or 50,000 characters; longer input fails.

use embedrock_core::catalogue::TITAN_TEXT_V2 as ROW;
use embedrock_core::{math, EmbedRequest, InputType, OutputType, TypedEmbeddings};
use serde::{Deserialize, Serialize};

use super::limits::output_type_names;
use super::schema::{into_typed, parse_object, Checker};
use super::{const_limit, single_text, Decoded, Invocation, Output};
use crate::WireError;

/// The model id.
pub const MODEL_ID: &str = ROW.id;
/// The dimensions the model accepts (the catalogue row's).
pub const DIMENSIONS: &[usize] = ROW.dimensions;
/// The dimensions when none are asked for.
pub const DEFAULT_DIMENSIONS: usize = ROW.default_dimensions;
/// Input tokens per call.
pub const MAX_TOKENS: usize = const_limit(ROW.max_tokens);
/// Input characters per call.
pub const MAX_CHARS: usize = const_limit(ROW.max_chars);

/// A value of `embeddingTypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingType {
    /// Floats.
    Float,
    /// One 0/1 per dimension.
    Binary,
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The text to embed.
    pub input_text: String,
    /// 256, 512 or 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    /// Scale to unit length (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// The forms to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_types: Option<Vec<EmbeddingType>>,
}

/// `embeddingsByType`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsByType {
    /// Floats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<Vec<f32>>,
    /// One 0/1 per dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<Vec<u8>>,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The float vector.
    pub embedding: Vec<f32>,
    /// Input tokens counted.
    pub input_text_token_count: usize,
    /// The vector in each asked form.
    #[serde(default)]
    pub embeddings_by_type: EmbeddingsByType,
}

/// Decodes and checks a request body.
pub fn decode_request(body: &[u8]) -> Result<Request, WireError> {
    let obj = parse_object(body)?;
    Checker::new(&obj)
        .only(&["inputText", "dimensions", "normalize", "embeddingTypes"])
        .required("inputText")
        .string("inputText", 1, Some(MAX_CHARS))
        .int_enum("dimensions", DIMENSIONS)
        .boolean("normalize")
        .str_enum_array("embeddingTypes", &output_type_names(&ROW), 1)
        .finish()?;
    into_typed(obj)
}

impl Request {
    /// The body for one text of an [`EmbedRequest`].
    /// Binary and ubinary are both asked as `binary` (the client packs the
    /// bits); other output types are refused by [`super::limits::validate`].
    pub fn from_embed_request(r: &EmbedRequest) -> Result<Self, WireError> {
        let mut types = Vec::new();
        for t in &r.output_types {
            let wire = match t {
                OutputType::Float => EmbeddingType::Float,
                OutputType::Binary | OutputType::Ubinary => EmbeddingType::Binary,
                other => {
                    return Err(WireError::malformed(&[format!(
                        "#/embeddingTypes: {} is not a valid enum value",
                        other.as_str()
                    )]))
                }
            };
            if !types.contains(&wire) {
                types.push(wire);
            }
        }
        Ok(Request {
            input_text: single_text(r, MODEL_ID)?.to_string(),
            dimensions: r.dimensions,
            normalize: Some(r.normalize),
            embedding_types: (!types.is_empty()).then_some(types),
        })
    }

    fn types(&self) -> &[EmbeddingType] {
        self.embedding_types
            .as_deref()
            .unwrap_or(&[EmbeddingType::Float])
    }

    /// What the request asks to compute.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            texts: vec![self.input_text.clone()],
            images: 0,
            input_type: InputType::Document,
            dimensions: self.dimensions.unwrap_or(DEFAULT_DIMENSIONS),
            normalize: self.normalize.unwrap_or(true),
            output_types: self
                .types()
                .iter()
                .map(|t| match t {
                    EmbeddingType::Float => OutputType::Float,
                    EmbeddingType::Binary => OutputType::Binary,
                })
                .collect(),
            token_limit: Some((MAX_TOKENS, false)),
        }
    }

    /// The body for a computed output.
    pub fn response(&self, o: &Output) -> Response {
        let v = o.vectors.first().cloned().unwrap_or_default();
        let types = self.types();
        Response {
            embeddings_by_type: EmbeddingsByType {
                float: types.contains(&EmbeddingType::Float).then(|| v.clone()),
                binary: types
                    .contains(&EmbeddingType::Binary)
                    .then(|| math::unpack_bits(&math::binarize(&v), v.len())),
            },
            embedding: v,
            input_text_token_count: o.tokens.iter().sum(),
        }
    }
}

impl Response {
    /// What a client gets out of it: the float vector, and the binary
    /// vector both as sent (one 0/1 per dimension) and packed eight to a
    /// byte as `binary` and `ubinary`.
    pub fn into_decoded(self) -> Decoded {
        let bits = self.embeddings_by_type.binary;
        let packed = bits.as_ref().map(|b| math::pack_bits(b));
        Decoded {
            vectors: vec![self.embedding],
            typed: TypedEmbeddings {
                binary: packed
                    .as_ref()
                    .map(|p| vec![p.iter().map(|&b| b as i8).collect()]),
                ubinary: packed.map(|p| vec![p]),
                ..TypedEmbeddings::default()
            },
            bits: bits.map(|b| vec![b]),
            tokens: Some(vec![self.input_text_token_count]),
        }
    }
}
