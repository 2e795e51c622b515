//! One module per Bedrock embedding model family: its request and response
//! JSON, its limits and its validation messages.
//!
//! The same code runs in both directions. A client encodes an
//! [`EmbedRequest`] with [`encode_request`] and decodes the body it gets back
//! with [`decode_response`]; the server decodes a body with
//! [`decode_request`], which checks it as Bedrock does, turns it into an
//! [`Invocation`] (what to compute), and encodes the result with
//! [`FamilyRequest::encode_response`].

pub mod cohere_v3;
pub mod cohere_v4;
pub mod limits;
pub(crate) mod schema;
pub mod titan_multimodal;
pub mod titan_text_v1;
pub mod titan_text_v2;

use embedrock_core::{EmbedRequest, EmbedResponse, Family, InputType, OutputType, TypedEmbeddings};

use crate::WireError;

/// What a decoded request asks the model to compute, in the family-neutral
/// terms of an [`EmbedRequest`] plus the facts the server needs to check
/// limits and shape the answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Invocation {
    /// The texts to embed, in order.
    pub texts: Vec<String>,
    /// How many images the request holds (local text models cannot embed them).
    pub images: usize,
    /// What the texts are for.
    pub input_type: InputType,
    /// The dimensions the answer must have.
    pub dimensions: usize,
    /// Whether vectors are scaled to unit length.
    pub normalize: bool,
    /// The forms the answer must carry besides floats.
    pub output_types: Vec<OutputType>,
    /// The input token limit, and whether the request lets the model cut
    /// longer inputs (`true`) rather than fail (`false`).
    pub token_limit: Option<(usize, bool)>,
}

/// The computed answer the server hands to a family's encoder.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Output {
    /// One vector per text, already at the requested dimensions.
    pub vectors: Vec<Vec<f32>>,
    /// Input tokens per text.
    pub tokens: Vec<usize>,
    /// An id for the response (Cohere bodies carry one).
    pub id: String,
}

impl Output {
    /// An output of these vectors and token counts.
    pub fn new(vectors: Vec<Vec<f32>>, tokens: Vec<usize>, id: impl Into<String>) -> Self {
        Output {
            vectors,
            tokens,
            id: id.into(),
        }
    }
}

/// What a client gets out of a response body.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Decoded {
    /// Float vectors, one per input (empty when only other types were asked).
    pub vectors: Vec<Vec<f32>>,
    /// The other forms, when present.
    pub typed: TypedEmbeddings,
    /// Titan's 0/1-per-dimension binary vectors, as the body sent them
    /// (also packed into `typed.binary` and `typed.ubinary`).
    pub bits: Option<Vec<Vec<u8>>>,
    /// Input tokens per text, when the body says (Titan does; Cohere does not,
    /// its count is only in the [`crate::headers::INPUT_TOKEN_COUNT`] header).
    pub tokens: Option<Vec<usize>>,
}

impl Decoded {
    /// Turns the body's contents into an [`EmbedResponse`] for `texts`. When
    /// the body has no per-text counts, `header_tokens` (the header's total
    /// for the call) is shared out in proportion to each text's characters,
    /// so every text has an estimate and the total stays exact.
    ///
    /// ```
    /// use embedrock_bedrock::decode_response;
    /// use embedrock_core::Family;
    /// let body = br#"{"id":"x","embeddings":{"float":[[1.0],[0.5]]}}"#;
    /// let texts = ["aaa".to_string(), "a".to_string()];
    /// let r = decode_response(Family::CohereV4, body).unwrap().into_response("m", Some(8), &texts);
    /// assert_eq!(r.tokens, vec![6, 2]);
    /// ```
    pub fn into_response(
        self,
        model: &str,
        header_tokens: Option<usize>,
        texts: &[String],
    ) -> EmbedResponse {
        let n = self.vectors.len();
        let tokens = self.tokens.unwrap_or_else(|| {
            let lengths: Vec<usize> = (0..n)
                .map(|i| texts.get(i).map_or(0, |t| t.chars().count()))
                .collect();
            share(header_tokens.unwrap_or(0), &lengths)
        });
        let mut r = EmbedResponse::new(model, self.vectors, tokens);
        r.typed = self.typed;
        r
    }
}

/// `total` split in proportion to `weights` (equally when they are all 0),
/// by largest remainder, so the parts add up to `total` exactly.
pub fn share(total: usize, weights: &[usize]) -> Vec<usize> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    let weights: Vec<u128> = if sum == 0 {
        vec![1; weights.len()]
    } else {
        weights.iter().map(|&w| w as u128).collect()
    };
    let sum: u128 = weights.iter().sum();
    let exact: Vec<(u128, u128)> = weights
        .iter()
        .map(|w| (total as u128 * w / sum, total as u128 * w % sum))
        .collect();
    let mut parts: Vec<usize> = exact.iter().map(|(q, _)| *q as usize).collect();
    let mut left = total - parts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// A request body decoded and checked for one family.
#[derive(Debug, Clone, PartialEq)]
pub enum FamilyRequest {
    /// `amazon.titan-embed-text-v1`.
    TitanTextV1(titan_text_v1::Request),
    /// `amazon.titan-embed-text-v2:0`.
    TitanTextV2(titan_text_v2::Request),
    /// `amazon.titan-embed-image-v1`.
    TitanMultimodal(titan_multimodal::Request),
    /// Cohere Embed v3, English or multilingual.
    CohereV3(cohere_v3::Request),
    /// Cohere Embed v4.
    CohereV4(cohere_v4::Request),
}

/// Decodes and checks a request body as the family's Bedrock model would:
/// its input schema, then [`limits::validate`] against the family's
/// catalogue row.
///
/// ```
/// use embedrock_bedrock::decode_request;
/// use embedrock_core::Family;
/// let r = decode_request(Family::TitanTextV2, br#"{"inputText":"hi","dimensions":256}"#).unwrap();
/// assert_eq!(r.invocation().dimensions, 256);
/// let e = decode_request(Family::TitanTextV2, br#"{"inputText":"hi","dimensions":384}"#).unwrap_err();
/// assert!(e.message.contains("#/dimensions: 384 is not a valid enum value"));
/// ```
pub fn decode_request(family: Family, body: &[u8]) -> Result<FamilyRequest, WireError> {
    let info = limits::row(family)?;
    let decoded = decode_family(family, body)?;
    limits::validate(info, &decoded.invocation())?;
    Ok(decoded)
}

fn decode_family(family: Family, body: &[u8]) -> Result<FamilyRequest, WireError> {
    Ok(match family {
        Family::TitanTextV1 => FamilyRequest::TitanTextV1(titan_text_v1::decode_request(body)?),
        Family::TitanTextV2 => FamilyRequest::TitanTextV2(titan_text_v2::decode_request(body)?),
        Family::TitanMultimodal => {
            FamilyRequest::TitanMultimodal(titan_multimodal::decode_request(body)?)
        }
        Family::CohereV3 => FamilyRequest::CohereV3(cohere_v3::decode_request(body)?),
        Family::CohereV4 => FamilyRequest::CohereV4(cohere_v4::decode_request(body)?),
        _ => return Err(WireError::invalid_model_id()),
    })
}

impl FamilyRequest {
    /// What the request asks to compute.
    pub fn invocation(&self) -> Invocation {
        match self {
            FamilyRequest::TitanTextV1(r) => r.invocation(),
            FamilyRequest::TitanTextV2(r) => r.invocation(),
            FamilyRequest::TitanMultimodal(r) => r.invocation(),
            FamilyRequest::CohereV3(r) => r.invocation(),
            FamilyRequest::CohereV4(r) => r.invocation(),
        }
    }

    /// The response body for this request, as the family's model writes it.
    ///
    /// ```
    /// use embedrock_bedrock::{decode_request, decode_response, Output};
    /// use embedrock_core::Family;
    /// let req = decode_request(Family::TitanTextV2, br#"{"inputText":"hi","dimensions":256,"embeddingTypes":["binary"]}"#).unwrap();
    /// let vector: Vec<f32> = (0..256).map(|i| if i % 2 == 0 { 0.1 } else { -0.1 }).collect();
    /// let body = req.encode_response(&Output::new(vec![vector.clone()], vec![2], "id"));
    /// let back = decode_response(Family::TitanTextV2, &body).unwrap();
    /// assert_eq!(back.vectors, vec![vector]);
    /// assert_eq!(back.tokens, Some(vec![2]));
    /// assert_eq!(back.typed.ubinary.unwrap()[0][0], 0b1010_1010);
    /// ```
    pub fn encode_response(&self, output: &Output) -> Vec<u8> {
        let value = match self {
            FamilyRequest::TitanTextV1(_) => {
                to_value(&titan_text_v1::Response::from_output(output))
            }
            FamilyRequest::TitanTextV2(r) => to_value(&r.response(output)),
            FamilyRequest::TitanMultimodal(_) => {
                to_value(&titan_multimodal::Response::from_output(output))
            }
            FamilyRequest::CohereV3(r) => to_value(&r.response(output)),
            FamilyRequest::CohereV4(r) => to_value(&r.response(output)),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// How a client wants a request encoded, beyond the [`EmbedRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// Let the model cut over-long input (Cohere v3 `truncate: END`, v4
    /// `truncate: RIGHT`); Titan has no such option and ignores it.
    pub truncate: bool,
}

impl EncodeOptions {
    /// Options that let the model cut over-long input.
    pub fn truncating(truncate: bool) -> Self {
        EncodeOptions { truncate }
    }
}

/// Encodes an [`EmbedRequest`] as the body of one call to a model of this
/// family, after checking it with [`limits::validate`]. Titan models take
/// one text a call; Cohere up to 96.
///
/// ```
/// use embedrock_bedrock::{decode_request, encode_request};
/// use embedrock_core::{EmbedRequest, Family, InputType};
/// let request = EmbedRequest::new(["a", "b"]).with_input_type(InputType::Query);
/// let body = encode_request(Family::CohereV3, &request).unwrap();
/// let back = decode_request(Family::CohereV3, &body).unwrap().invocation();
/// assert_eq!((back.texts, back.input_type), (request.texts.clone(), InputType::Query));
/// assert!(encode_request(Family::TitanTextV2, &request).is_err()); // one text a call
/// ```
pub fn encode_request(family: Family, request: &EmbedRequest) -> Result<Vec<u8>, WireError> {
    encode_request_with(family, request, EncodeOptions::default())
}

/// [`encode_request`] with [`EncodeOptions`].
pub fn encode_request_with(
    family: Family,
    request: &EmbedRequest,
    options: EncodeOptions,
) -> Result<Vec<u8>, WireError> {
    let info = limits::row(family)?;
    limits::validate(info, &Invocation::requested(info, request))?;
    let value = match family {
        Family::TitanTextV1 => to_value(&titan_text_v1::Request::from_embed_request(request)?),
        Family::TitanTextV2 => to_value(&titan_text_v2::Request::from_embed_request(request)?),
        Family::TitanMultimodal => {
            to_value(&titan_multimodal::Request::from_embed_request(request)?)
        }
        Family::CohereV3 => to_value(&cohere_v3::Request::from_embed_request_with(
            request, options,
        )?),
        Family::CohereV4 => to_value(&cohere_v4::Request::from_embed_request_with(
            request, options,
        )?),
        _ => return Err(WireError::invalid_model_id()),
    };
    serde_json::to_vec(&value).map_err(|e| WireError::validation(e.to_string()))
}

/// Decodes a response body of this family. A number that is not a finite
/// 32-bit float (JSON has no NaN, but `1e39` overflows an `f32`) makes the
/// body unreadable rather than a vector of infinities.
pub fn decode_response(family: Family, body: &[u8]) -> Result<Decoded, WireError> {
    let decoded = match family {
        Family::TitanTextV1 => parse::<titan_text_v1::Response>(body)?.into_decoded(),
        Family::TitanTextV2 => parse::<titan_text_v2::Response>(body)?.into_decoded(),
        Family::TitanMultimodal => parse::<titan_multimodal::Response>(body)?.into_decoded(),
        Family::CohereV3 | Family::CohereV4 => parse::<CohereResponse>(body)?.into_decoded(),
        _ => return Err(WireError::invalid_model_id()),
    };
    if decoded.vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(WireError::new(
            crate::ErrorKind::ModelError,
            "the response body holds a number that is not a finite 32-bit float",
        ));
    }
    Ok(decoded)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(body).map_err(|e| {
        WireError::new(
            crate::ErrorKind::ModelError,
            format!("the response body does not match the model's format: {e}"),
        )
    })
}

/// A catalogue limit as a constant (0 when the row has none).
pub(crate) const fn const_limit(v: Option<usize>) -> usize {
    match v {
        Some(n) => n,
        None => 0,
    }
}

/// The single text a one-text-a-call model (Titan) is asked to embed.
fn single_text<'a>(request: &'a EmbedRequest, model: &str) -> Result<&'a str, WireError> {
    match request.texts.as_slice() {
        [one] => Ok(one),
        other => Err(WireError::validation(format!(
            "{model} takes exactly one text per call, got {}",
            other.len()
        ))),
    }
}

/// Cohere's embedding types (v3 and v4 share them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CohereEmbeddingType {
    /// 32-bit floats.
    Float,
    /// Signed bytes.
    Int8,
    /// Unsigned bytes.
    Uint8,
    /// Packed sign bits, signed bytes.
    Binary,
    /// Packed sign bits, unsigned bytes.
    Ubinary,
}

impl From<CohereEmbeddingType> for OutputType {
    fn from(t: CohereEmbeddingType) -> Self {
        match t {
            CohereEmbeddingType::Float => OutputType::Float,
            CohereEmbeddingType::Int8 => OutputType::Int8,
            CohereEmbeddingType::Uint8 => OutputType::Uint8,
            CohereEmbeddingType::Binary => OutputType::Binary,
            CohereEmbeddingType::Ubinary => OutputType::Ubinary,
        }
    }
}

impl From<OutputType> for CohereEmbeddingType {
    fn from(t: OutputType) -> Self {
        match t {
            OutputType::Float => CohereEmbeddingType::Float,
            OutputType::Int8 => CohereEmbeddingType::Int8,
            OutputType::Uint8 => CohereEmbeddingType::Uint8,
            OutputType::Binary => CohereEmbeddingType::Binary,
            OutputType::Ubinary => CohereEmbeddingType::Ubinary,
        }
    }
}

/// Cohere's embeddings, in either of the two shapes Bedrock returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum CohereEmbeddings {
    /// `embeddings_floats`: a plain list of float vectors.
    Floats(Vec<Vec<f32>>),
    /// `embeddings_by_type`: a map from type name to vectors.
    ByType(CohereByType),
}

/// The `embeddings_by_type` map.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CohereByType {
    /// Float vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<Vec<Vec<f32>>>,
    /// Signed byte vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<Vec<Vec<i8>>>,
    /// Unsigned byte vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uint8: Option<Vec<Vec<u8>>>,
    /// Packed sign bits as signed bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<Vec<Vec<i8>>>,
    /// Packed sign bits as unsigned bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ubinary: Option<Vec<Vec<u8>>>,
}

impl CohereByType {
    /// The map holding the asked types, computed from float vectors.
    pub fn from_floats(vectors: &[Vec<f32>], types: &[OutputType]) -> Self {
        let typed = TypedEmbeddings::from_floats(vectors, types);
        CohereByType {
            float: types.contains(&OutputType::Float).then(|| vectors.to_vec()),
            int8: typed.int8,
            uint8: typed.uint8,
            binary: typed.binary,
            ubinary: typed.ubinary,
        }
    }
}

/// Image facts Cohere echoes for image inputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CohereImageMeta {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `png`, `jpeg`, ...
    pub format: String,
    /// Bits per channel.
    pub bit_depth: u32,
}

/// A Cohere response body (v3 and v4 share it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CohereResponse {
    /// The response id.
    #[serde(default)]
    pub id: String,
    /// `embeddings_floats` or `embeddings_by_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// The vectors.
    pub embeddings: CohereEmbeddings,
    /// The texts, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texts: Option<Vec<String>>,
    /// Facts about image inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<CohereImageMeta>>,
    /// v4's interleaved inputs, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
}

impl CohereResponse {
    /// Builds a response in the `embeddings_floats` shape when `types` is
    /// `None`, and in the `embeddings_by_type` shape otherwise.
    pub fn build(id: &str, vectors: &[Vec<f32>], types: Option<&[OutputType]>) -> Self {
        let (response_type, embeddings) = match types {
            None => (
                "embeddings_floats",
                CohereEmbeddings::Floats(vectors.to_vec()),
            ),
            Some(types) => (
                "embeddings_by_type",
                CohereEmbeddings::ByType(CohereByType::from_floats(vectors, types)),
            ),
        };
        CohereResponse {
            id: id.to_string(),
            response_type: Some(response_type.into()),
            embeddings,
            texts: None,
            images: None,
            inputs: None,
        }
    }

    /// What a client gets out of it.
    pub fn into_decoded(self) -> Decoded {
        match self.embeddings {
            CohereEmbeddings::Floats(vectors) => Decoded {
                vectors,
                ..Decoded::default()
            },
            CohereEmbeddings::ByType(by) => Decoded {
                vectors: by.float.unwrap_or_default(),
                typed: TypedEmbeddings {
                    int8: by.int8,
                    uint8: by.uint8,
                    binary: by.binary,
                    ubinary: by.ubinary,
                },
                bits: None,
                tokens: None,
            },
        }
    }
}

/// Checks a `data:image/...;base64,...` URI: the media type is one of
/// `formats` and the payload decodes; returns the decoded size in bytes.
pub(crate) fn check_data_uri(
    uri: &str,
    formats: &[&str],
    max_bytes: usize,
) -> Result<usize, ImageError> {
    let rest = uri.strip_prefix("data:").ok_or(ImageError::NotDataUri)?;
    let (meta, payload) = rest.split_once(',').ok_or(ImageError::NoComma)?;
    let media = meta
        .strip_suffix(";base64")
        .ok_or(ImageError::NotBase64Encoded)?;
    let format = media.strip_prefix("image/").unwrap_or("");
    if !formats.contains(&format) {
        return Err(ImageError::Format {
            media: media.to_string(),
            allowed: formats.join(", "),
        });
    }
    check_base64(payload, max_bytes)
}

/// What is wrong with an image input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Not `data:...`.
    #[error("images must be data URIs (data:image/<format>;base64,...)")]
    NotDataUri,
    /// No `,` between the media type and the data.
    #[error("the image data URI has no ',' before its data")]
    NoComma,
    /// Not `;base64`.
    #[error("the image data URI must be base64 encoded")]
    NotBase64Encoded,
    /// A media type the model does not take.
    #[error("unsupported image format {media:?} (allowed: {allowed})")]
    Format {
        /// The media type given.
        media: String,
        /// The formats allowed.
        allowed: String,
    },
    /// The payload is not base64.
    #[error("the image is not valid base64: {0}")]
    Base64(String),
    /// The image is over the size limit.
    #[error("the image is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Its decoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl From<ImageError> for WireError {
    fn from(e: ImageError) -> WireError {
        WireError::validation(e.to_string())
    }
}

/// Checks a base64 image payload; returns the decoded size in bytes.
pub(crate) fn check_base64(payload: &str, max_bytes: usize) -> Result<usize, ImageError> {
    use base64::Engine;
    // Base64 carries three bytes in four characters: refuse oversized input before decoding it.
    if payload.len() / 4 * 3 > max_bytes.saturating_add(3) {
        return Err(ImageError::TooLarge {
            size: payload.len() / 4 * 3,
            max: max_bytes,
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| ImageError::Base64(e.to_string()))?;
    if bytes.len() > max_bytes {
        return Err(ImageError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    Ok(bytes.len())
}

/// Cohere's input type names.
pub(crate) fn cohere_input_type(name: &str) -> InputType {
    match name {
        "search_query" => InputType::Query,
        "classification" => InputType::Classification,
        "clustering" => InputType::Clustering,
        _ => InputType::Document,
    }
}

/// The Cohere name of an input type.
pub(crate) fn cohere_input_type_name(t: InputType) -> &'static str {
    match t {
        InputType::Query => "search_query",
        InputType::Document => "search_document",
        InputType::Classification => "classification",
        InputType::Clustering => "clustering",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cohere_shapes_parse() {
        let floats = br#"{"id":"x","response_type":"embeddings_floats","embeddings":[[0.5,-0.5]],"texts":["a"]}"#;
        let d = decode_response(Family::CohereV4, floats).unwrap();
        assert_eq!(d.vectors, vec![vec![0.5, -0.5]]);
        let by = br#"{"id":"x","response_type":"embeddings_by_type","embeddings":{"float":[[0.5,-0.5]],"int8":[[127,-127]]},"texts":["a"]}"#;
        let d = decode_response(Family::CohereV4, by).unwrap();
        assert_eq!(d.vectors, vec![vec![0.5, -0.5]]);
        assert_eq!(d.typed.int8, Some(vec![vec![127, -127]]));
        // v4 as frameworks report it: by type, without a response_type.
        let bare = br#"{"id":"x","embeddings":{"float":[[1.0]]}}"#;
        assert_eq!(
            decode_response(Family::CohereV4, bare).unwrap().vectors,
            vec![vec![1.0]]
        );
        let r = d.into_response("m", Some(7), &["a".to_string()]);
        assert_eq!(r.tokens, vec![7]);
    }

    #[test]
    fn shares_add_up() {
        assert_eq!(share(10, &[1, 1, 2]), vec![3, 2, 5]);
        assert_eq!(share(7, &[0, 0]), vec![4, 3]);
        assert_eq!(share(0, &[5, 1]), vec![0, 0]);
        assert!(share(5, &[]).is_empty());
        for total in [1usize, 13, 1000] {
            let w = [3usize, 7, 0, 11];
            assert_eq!(share(total, &w).iter().sum::<usize>(), total);
        }
    }

    #[test]
    fn data_uris() {
        assert_eq!(
            check_data_uri("data:image/png;base64,AAAA", &["png"], 10),
            Ok(3)
        );
        assert!(matches!(
            check_data_uri("data:image/png;base64,AAAAAAAA", &["png"], 3),
            Err(ImageError::TooLarge { size: 6, max: 3 })
        ));
        assert!(check_data_uri("data:image/gif;base64,AAAA", &["png", "jpeg"], 10).is_err());
        assert!(check_data_uri("AAAA", &["png"], 10).is_err());
        assert!(check_data_uri("data:image/png;base64,!!!", &["png"], 10).is_err());
        assert!(check_data_uri("data:image/png;base64,AAAAAAAA", &["png"], 3).is_err());
    }
}
