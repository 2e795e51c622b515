//! Requests and responses: the same shape whatever model answers.

use serde::{Deserialize, Serialize};

use crate::UnknownName;

/// What the texts are for. Asymmetric models (Cohere) embed a query and a
/// document differently; symmetric models ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// A search query.
    Query,
    /// A document to be searched.
    #[default]
    Document,
    /// Text to be classified.
    Classification,
    /// Text to be clustered.
    Clustering,
}

impl InputType {
    /// Every input type, in a stable order.
    pub const ALL: [InputType; 4] = [
        InputType::Query,
        InputType::Document,
        InputType::Classification,
        InputType::Clustering,
    ];

    /// The lower-case name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::Query => "query",
            InputType::Document => "document",
            InputType::Classification => "classification",
            InputType::Clustering => "clustering",
        }
    }
}

impl std::str::FromStr for InputType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "query" | "search_query" => Ok(InputType::Query),
            "document" | "search_document" => Ok(InputType::Document),
            "classification" => Ok(InputType::Classification),
            "clustering" => Ok(InputType::Clustering),
            other => Err(UnknownName::new(
                "input type",
                other,
                "query, document, classification or clustering",
            )),
        }
    }
}

/// The numeric form of the returned vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// 32-bit floats, one per dimension.
    Float,
    /// Signed bytes, one per dimension (scaled by the vector's largest magnitude).
    Int8,
    /// Unsigned bytes, one per dimension.
    Uint8,
    /// One bit per dimension (1 where the value is positive), packed eight to a
    /// byte, most significant bit first, each byte stored as a signed value.
    Binary,
    /// As [`OutputType::Binary`], with each byte stored unsigned.
    Ubinary,
}

impl OutputType {
    /// The lower-case name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputType::Float => "float",
            OutputType::Int8 => "int8",
            OutputType::Uint8 => "uint8",
            OutputType::Binary => "binary",
            OutputType::Ubinary => "ubinary",
        }
    }
}

impl std::str::FromStr for OutputType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "float" => Ok(OutputType::Float),
            "int8" => Ok(OutputType::Int8),
            "uint8" => Ok(OutputType::Uint8),
            "binary" => Ok(OutputType::Binary),
            "ubinary" => Ok(OutputType::Ubinary),
            other => Err(UnknownName::new(
                "output type",
                other,
                "float, int8, uint8, binary or ubinary",
            )),
        }
    }
}

/// A request for embeddings.
///
/// Build it with [`EmbedRequest::new`] and the `with_*` setters; the defaults
/// are the ones Bedrock uses (document input, native dimensions, normalised,
/// float output).
///
/// ```
/// use embedrock_core::{EmbedRequest, InputType, OutputType};
/// let r = EmbedRequest::new(["what is rust?"])
///     .with_input_type(InputType::Query)
///     .with_dimensions(Some(256))
///     .with_output_types(vec![OutputType::Int8]);
/// assert_eq!((r.texts.len(), r.dimensions, r.normalize), (1, Some(256), true));
/// assert_eq!("search_query".parse::<InputType>().unwrap(), InputType::Query);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbedRequest {
    /// The texts, in the order the vectors must come back.
    pub texts: Vec<String>,
    /// What the texts are for.
    #[serde(default)]
    pub input_type: InputType,
    /// Output dimensions; `None` means the model's default.
    #[serde(default)]
    pub dimensions: Option<usize>,
    /// Scale each vector to unit length.
    #[serde(default = "default_true")]
    pub normalize: bool,
    /// Forms to return besides float vectors. Empty means float only.
    #[serde(default)]
    pub output_types: Vec<OutputType>,
}

fn default_true() -> bool {
    true
}

impl EmbedRequest {
    /// A request for these texts with default options.
    pub fn new<I, S>(texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EmbedRequest {
            texts: texts.into_iter().map(Into::into).collect(),
            input_type: InputType::default(),
            dimensions: None,
            normalize: true,
            output_types: Vec::new(),
        }
    }

    /// Sets the input type.
    pub fn with_input_type(mut self, input_type: InputType) -> Self {
        self.input_type = input_type;
        self
    }

    /// Sets the output dimensions.
    pub fn with_dimensions(mut self, dimensions: Option<usize>) -> Self {
        self.dimensions = dimensions;
        self
    }

    /// Sets whether vectors are scaled to unit length.
    pub fn with_normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }

    /// Sets the extra output types.
    pub fn with_output_types(mut self, output_types: Vec<OutputType>) -> Self {
        self.output_types = output_types;
        self
    }
}

/// Quantised forms of the vectors, present only when requested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TypedEmbeddings {
    /// Signed byte vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int8: Option<Vec<Vec<i8>>>,
    /// Unsigned byte vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uint8: Option<Vec<Vec<u8>>>,
    /// Packed sign bits, signed bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<Vec<Vec<i8>>>,
    /// Packed sign bits, unsigned bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ubinary: Option<Vec<Vec<u8>>>,
}

impl TypedEmbeddings {
    /// Computes the requested forms from float vectors.
    pub fn from_floats(vectors: &[Vec<f32>], types: &[OutputType]) -> Self {
        let mut out = TypedEmbeddings::default();
        for t in types {
            match t {
                OutputType::Float => {}
                OutputType::Int8 => {
                    out.int8 = Some(
                        vectors
                            .iter()
                            .map(|v| crate::math::quantize_int8(v))
                            .collect(),
                    )
                }
                OutputType::Uint8 => {
                    out.uint8 = Some(
                        vectors
                            .iter()
                            .map(|v| crate::math::quantize_uint8(v))
                            .collect(),
                    )
                }
                OutputType::Binary => {
                    out.binary = Some(
                        vectors
                            .iter()
                            .map(|v| {
                                crate::math::binarize(v)
                                    .into_iter()
                                    .map(|b| b as i8)
                                    .collect()
                            })
                            .collect(),
                    )
                }
                OutputType::Ubinary => {
                    out.ubinary = Some(vectors.iter().map(|v| crate::math::binarize(v)).collect())
                }
            }
        }
        out
    }
}

/// The answer to an [`EmbedRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbedResponse {
    /// The model that produced the vectors.
    pub model: String,
    /// One float vector per input text, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens counted for each input, in input order.
    pub tokens: Vec<usize>,
    /// Quantised forms, when requested.
    #[serde(default)]
    pub typed: TypedEmbeddings,
}

impl EmbedResponse {
    /// A response holding float vectors and token counts.
    pub fn new(model: impl Into<String>, vectors: Vec<Vec<f32>>, tokens: Vec<usize>) -> Self {
        EmbedResponse {
            model: model.into(),
            vectors,
            tokens,
            typed: TypedEmbeddings::default(),
        }
    }

    /// Total tokens over all inputs.
    pub fn total_tokens(&self) -> usize {
        self.tokens.iter().sum()
    }

    /// The number of dimensions of the vectors (0 when there are none).
    pub fn dimensions(&self) -> usize {
        self.vectors.first().map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_defaults_follow_bedrock() {
        let r = EmbedRequest::new(["a"]);
        assert!(r.normalize);
        assert_eq!(r.input_type, InputType::Document);
        assert_eq!(r.dimensions, None);
        let parsed: EmbedRequest = serde_json::from_str(r#"{"texts":["x"]}"#).unwrap();
        assert!(parsed.normalize);
        assert_eq!(parsed.texts, vec!["x".to_string()]);
    }

    #[test]
    fn names_parse_both_ways() {
        for t in InputType::ALL {
            assert_eq!(t.as_str().parse::<InputType>().unwrap(), t);
        }
        assert_eq!(
            "search_query".parse::<InputType>().unwrap(),
            InputType::Query
        );
        assert!("nonsense".parse::<InputType>().is_err());
        for t in ["float", "int8", "uint8", "binary", "ubinary"] {
            assert_eq!(t.parse::<OutputType>().unwrap().as_str(), t);
        }
    }

    #[test]
    fn typed_forms_are_computed_on_request() {
        let v = vec![vec![0.5f32, -1.0, 0.25, 0.0, 1.0, -0.1, 0.2, 0.3]];
        let t = TypedEmbeddings::from_floats(&v, &[OutputType::Int8, OutputType::Ubinary]);
        assert_eq!(t.int8.unwrap()[0], vec![64, -127, 32, 0, 127, -13, 25, 38]);
        assert_eq!(t.ubinary.unwrap()[0], vec![0b1010_1011]);
        assert!(t.binary.is_none());
    }
}
