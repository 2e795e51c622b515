//! Amazon Bedrock's embedding wire formats, shared by the Bedrock client and
//! the Bedrock-compatible server.
//!
//! [`codec`] holds one module per model family (Titan Text v1 and v2, Titan
//! Multimodal, Cohere Embed v3 and v4): its request and response JSON, its
//! limits and the `ValidationException` messages Bedrock gives. [`model_id`]
//! parses every form of model id callers use. Nothing here needs the AWS
//! SDK: the codecs are plain serde, so a server or a test can use them alone.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "client")]
pub mod client;
pub mod codec;
mod error;
pub mod headers;
pub mod model_id;

pub use codec::{
    decode_request, decode_response, encode_request, Decoded, FamilyRequest, Invocation, Output,
};
pub use error::{is_too_many_tokens, ErrorKind, TokenOverflow, WireError, TOO_MANY_TOKENS};
pub use model_id::{IdKind, ModelId};
