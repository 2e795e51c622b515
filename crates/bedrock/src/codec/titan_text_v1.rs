//! `amazon.titan-embed-text-v1` (Titan Embeddings G1 - Text).
//!
//! Request `{"inputText": "..."}` and nothing else; response
//! `{"embedding": [1536 floats], "inputTextTokenCount": n}`. One text a call,
//! 8,192 tokens, always 1,536 dimensions, always normalised.

use embedrock_core::catalogue::TITAN_TEXT_V1 as ROW;
use embedrock_core::{EmbedRequest, InputType, OutputType};
use serde::{Deserialize, Serialize};

use super::schema::{into_typed, parse_object, Checker};
use super::{const_limit, single_text, Decoded, Invocation, Output};
use crate::WireError;

/// The model id.
pub const MODEL_ID: &str = ROW.id;
/// Output dimensions (the catalogue row's).
pub const DIMENSIONS: usize = ROW.default_dimensions;
/// Input tokens per call (the catalogue row's).
pub const MAX_TOKENS: usize = const_limit(ROW.max_tokens);

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The text to embed.
    pub input_text: String,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The vector.
    pub embedding: Vec<f32>,
    /// Input tokens counted.
    pub input_text_token_count: usize,
}

/// Decodes and checks a request body.
pub fn decode_request(body: &[u8]) -> Result<Request, WireError> {
    let obj = parse_object(body)?;
    Checker::new(&obj)
        .only(&["inputText"])
        .required("inputText")
        .string("inputText", 1, None)
        .finish()?;
    into_typed(obj)
}

impl Request {
    /// The body for one text of an [`EmbedRequest`].
    /// Dimensions, normalisation and output types are checked by
    /// [`super::limits::validate`] against the catalogue row.
    pub fn from_embed_request(r: &EmbedRequest) -> Result<Self, WireError> {
        Ok(Request {
            input_text: single_text(r, MODEL_ID)?.to_string(),
        })
    }

    /// What the request asks to compute.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            texts: vec![self.input_text.clone()],
            images: 0,
            input_type: InputType::Document,
            dimensions: DIMENSIONS,
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
