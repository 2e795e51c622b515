//! Every embedding model embedrock knows, as data.
//!
//! One row per model: ids, the dimensions it accepts, how many texts one call
//! takes, its input limits and its prices. Wire codecs, the server's model
//! listing, the CLI's `models list` and cost accounting all read this table, so
//! a fact about a model is written once. Sources for the Bedrock rows are the
//! Bedrock model-parameter and pricing pages.

use serde::Serialize;

use crate::OutputType;

/// Who provides a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Provider {
    /// Amazon (Titan).
    Amazon,
    /// Cohere (Embed).
    Cohere,
    /// A model that runs on this machine's CPU.
    Local,
}

impl Provider {
    /// The provider's name as Bedrock writes it (`Amazon`, `Cohere`), or `Local`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Amazon => "Amazon",
            Provider::Cohere => "Cohere",
            Provider::Local => "Local",
        }
    }
}

/// The wire format a model speaks; models of one family share a codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Family {
    /// `amazon.titan-embed-text-v1`.
    TitanTextV1,
    /// `amazon.titan-embed-text-v2:0`.
    TitanTextV2,
    /// `amazon.titan-embed-image-v1`.
    TitanMultimodal,
    /// `cohere.embed-english-v3`, `cohere.embed-multilingual-v3`.
    CohereV3,
    /// `cohere.embed-v4:0`.
    CohereV4,
    /// A BERT-family sentence-transformers model run locally.
    LocalBert,
}

/// What a model takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Modality {
    /// Text.
    Text,
    /// Images.
    Image,
}

/// Facts about one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The id callers use.
    pub id: &'static str,
    /// Other ids that name the same model.
    pub aliases: &'static [&'static str],
    /// A human name.
    pub name: &'static str,
    /// Who provides it.
    pub provider: Provider,
    /// Its wire format.
    pub family: Family,
    /// What it takes in.
    pub input_modalities: &'static [Modality],
    /// The output dimensions it accepts.
    pub dimensions: &'static [usize],
    /// The dimensions it produces when none are asked for.
    pub default_dimensions: usize,
    /// Texts per call.
    pub max_batch: usize,
    /// Tokens per text, where documented.
    pub max_tokens: Option<usize>,
    /// Characters per text, where documented.
    pub max_chars: Option<usize>,
    /// Images per call (0 for text-only models).
    pub max_images: usize,
    /// Bytes per image, where the model takes images.
    pub max_image_bytes: Option<usize>,
    /// Whether the caller can ask for unnormalised vectors.
    pub normalize_option: bool,
    /// The numeric forms the model returns (`embeddingTypes` / `embeddingsByType`).
    pub output_types: &'static [OutputType],
    /// US dollars per million input tokens, on demand.
    pub price_per_mtok: Option<f64>,
    /// US dollars per million input tokens in batch inference, where offered.
    pub batch_price_per_mtok: Option<f64>,
    /// US dollars per image, where images are priced per image.
    pub price_per_image: Option<f64>,
    /// Where the facts of this row come from, and what is not verified.
    pub notes: &'static str,
}

/// The most characters one token is taken to span when a model documents a
/// token limit but no character limit: [`ModelInfo::max_text_chars`] is
/// `max_tokens` times this. English averages about four characters a token;
/// sixteen leaves room for long words, numbers and URLs, so a text over the
/// bound is over the token limit too.
pub const CHARS_PER_TOKEN_BOUND: usize = 16;

/// The largest `InvokeModel` body Bedrock accepts, in bytes (the `Body` shape
/// of the bedrock-runtime service model).
pub const MAX_BODY_BYTES: usize = 25_000_000;

impl ModelInfo {
    /// The most characters one text may have: the documented character limit
    /// where there is one, else `max_tokens` × [`CHARS_PER_TOKEN_BOUND`];
    /// `None` when the model documents neither. A server applies it before
    /// tokenising, so one request cannot buy unbounded work.
    ///
    /// ```
    /// use embedrock_core::catalogue::{Catalogue, CHARS_PER_TOKEN_BOUND};
    /// let v2 = Catalogue::get("amazon.titan-embed-text-v2:0").unwrap();
    /// assert_eq!(v2.max_text_chars(), Some(50_000)); // documented
    /// let v1 = Catalogue::get("amazon.titan-embed-text-v1").unwrap();
    /// assert_eq!(v1.max_text_chars(), Some(8192 * CHARS_PER_TOKEN_BOUND)); // derived
    /// ```
    pub const fn max_text_chars(&self) -> Option<usize> {
        match (self.max_chars, self.max_tokens) {
            (Some(c), _) => Some(c),
            (None, Some(t)) => Some(t.saturating_mul(CHARS_PER_TOKEN_BOUND)),
            (None, None) => None,
        }
    }

    /// The most characters of text one call may carry in all: every text at
    /// [`ModelInfo::max_text_chars`], capped by Bedrock's body limit
    /// ([`MAX_BODY_BYTES`]). The bound a server checks a whole request
    /// against before any work.
    pub const fn max_request_chars(&self) -> usize {
        match self.max_text_chars() {
            Some(per_text) => {
                let all = per_text.saturating_mul(self.max_batch);
                if all < MAX_BODY_BYTES {
                    all
                } else {
                    MAX_BODY_BYTES
                }
            }
            None => MAX_BODY_BYTES,
        }
    }

    /// Whether `dimensions` is one this model accepts.
    pub fn allows_dimensions(&self, dimensions: usize) -> bool {
        self.dimensions.contains(&dimensions)
    }

    /// Whether this row is a Bedrock model.
    pub fn is_bedrock(&self) -> bool {
        self.provider != Provider::Local
    }

    /// Dollars for this many input tokens on demand (0 for local models).
    pub fn cost(&self, tokens: usize) -> f64 {
        self.price_per_mtok.unwrap_or(0.0) * tokens as f64 / 1_000_000.0
    }

    /// Whether `id` names this model.
    pub fn answers_to(&self, id: &str) -> bool {
        self.id.eq_ignore_ascii_case(id) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }
}

const TEXT: &[Modality] = &[Modality::Text];
const TEXT_IMAGE: &[Modality] = &[Modality::Text, Modality::Image];
const FLOAT: &[OutputType] = &[OutputType::Float];
const FLOAT_BINARY: &[OutputType] = &[OutputType::Float, OutputType::Binary];
const ALL_TYPES: &[OutputType] = &[
    OutputType::Float,
    OutputType::Int8,
    OutputType::Uint8,
    OutputType::Binary,
    OutputType::Ubinary,
];

/// Titan Embeddings G1 - Text.
pub const TITAN_TEXT_V1: ModelInfo = ModelInfo {
    id: "amazon.titan-embed-text-v1",
    aliases: &["amazon.titan-embed-text-v1:2:8k"],
    name: "Titan Embeddings G1 - Text",
    provider: Provider::Amazon,
    family: Family::TitanTextV1,
    input_modalities: TEXT,
    dimensions: &[1536],
    default_dimensions: 1536,
    max_batch: 1,
    max_tokens: Some(8192),
    max_chars: None,
    max_images: 0,
    max_image_bytes: None,
    normalize_option: false,
    output_types: FLOAT,
    price_per_mtok: Some(0.10),
    batch_price_per_mtok: None,
    price_per_image: None,
    notes: "request takes inputText only",
};

/// Titan Text Embeddings V2.
pub const TITAN_TEXT_V2: ModelInfo = ModelInfo {
    id: "amazon.titan-embed-text-v2:0",
    aliases: &["amazon.titan-embed-text-v2"],
    name: "Titan Text Embeddings V2",
    provider: Provider::Amazon,
    family: Family::TitanTextV2,
    input_modalities: TEXT,
    dimensions: &[256, 512, 1024],
    default_dimensions: 1024,
    max_batch: 1,
    max_tokens: Some(8192),
    max_chars: Some(50_000),
    max_images: 0,
    max_image_bytes: None,
    normalize_option: true,
    output_types: FLOAT_BINARY,
    price_per_mtok: Some(0.02),
    batch_price_per_mtok: Some(0.01),
    price_per_image: None,
    notes: "on-demand quota 6,000 requests/min (unverified)",
};

/// Titan Multimodal Embeddings G1.
pub const TITAN_MULTIMODAL: ModelInfo = ModelInfo {
    id: "amazon.titan-embed-image-v1",
    aliases: &["amazon.titan-embed-image-v1:0"],
    name: "Titan Multimodal Embeddings G1",
    provider: Provider::Amazon,
    family: Family::TitanMultimodal,
    input_modalities: TEXT_IMAGE,
    dimensions: &[256, 384, 1024],
    default_dimensions: 1024,
    max_batch: 1,
    max_tokens: Some(256),
    max_chars: None,
    max_images: 1,
    max_image_bytes: Some(25 * 1024 * 1024),
    normalize_option: false,
    output_types: FLOAT,
    price_per_mtok: Some(0.80),
    batch_price_per_mtok: None,
    price_per_image: Some(0.00006),
    notes: "text limit 256 tokens per the current docs (older docs: 8,192); prices unverified",
};

/// Cohere Embed English v3.
pub const COHERE_ENGLISH_V3: ModelInfo = ModelInfo {
    id: "cohere.embed-english-v3",
    aliases: &["cohere.embed-english-v3:0"],
    name: "Embed English",
    provider: Provider::Cohere,
    family: Family::CohereV3,
    input_modalities: TEXT_IMAGE,
    dimensions: &[1024],
    default_dimensions: 1024,
    max_batch: 96,
    max_tokens: Some(512),
    max_chars: Some(2048),
    max_images: 1,
    max_image_bytes: Some(5 * 1024 * 1024),
    normalize_option: false,
    output_types: ALL_TYPES,
    price_per_mtok: Some(0.10),
    batch_price_per_mtok: None,
    price_per_image: None,
    notes: "2,048 characters per text; one image per call",
};

/// Cohere Embed Multilingual v3.
pub const COHERE_MULTILINGUAL_V3: ModelInfo = ModelInfo {
    id: "cohere.embed-multilingual-v3",
    aliases: &["cohere.embed-multilingual-v3:0"],
    name: "Embed Multilingual",
    provider: Provider::Cohere,
    family: Family::CohereV3,
    input_modalities: TEXT_IMAGE,
    dimensions: &[1024],
    default_dimensions: 1024,
    max_batch: 96,
    max_tokens: Some(512),
    max_chars: Some(2048),
    max_images: 1,
    max_image_bytes: Some(5 * 1024 * 1024),
    normalize_option: false,
    output_types: ALL_TYPES,
    price_per_mtok: Some(0.10),
    batch_price_per_mtok: None,
    price_per_image: None,
    notes: "2,048 characters per text; one image per call",
};

/// Cohere Embed v4.
pub const COHERE_V4: ModelInfo = ModelInfo {
    id: "cohere.embed-v4:0",
    aliases: &["cohere.embed-v4"],
    name: "Embed v4",
    provider: Provider::Cohere,
    family: Family::CohereV4,
    input_modalities: TEXT_IMAGE,
    dimensions: &[256, 512, 1024, 1536],
    default_dimensions: 1536,
    max_batch: 96,
    max_tokens: Some(128_000),
    max_chars: None,
    max_images: 96,
    max_image_bytes: Some(5 * 1024 * 1024),
    normalize_option: false,
    output_types: ALL_TYPES,
    price_per_mtok: Some(0.12),
    batch_price_per_mtok: None,
    price_per_image: None,
    notes: "image tokens $0.47/1M (unverified); may need an inference profile (us., eu., global.)",
};

/// The local default, all-MiniLM-L6-v2.
pub const ALL_MINILM_L6_V2: ModelInfo = ModelInfo {
    id: "all-minilm-l6-v2",
    aliases: &[
        "all-MiniLM-L6-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
        "minilm",
    ],
    name: "all-MiniLM-L6-v2 (local, CPU)",
    provider: Provider::Local,
    family: Family::LocalBert,
    input_modalities: TEXT,
    dimensions: &[384],
    default_dimensions: 384,
    max_batch: 32,
    max_tokens: Some(256),
    max_chars: None,
    max_images: 0,
    max_image_bytes: None,
    normalize_option: true,
    output_types: ALL_TYPES,
    price_per_mtok: Some(0.0),
    batch_price_per_mtok: None,
    price_per_image: None,
    notes: "the offline default; longer texts are truncated at 256 tokens as sentence-transformers does",
};

static MODELS: &[ModelInfo] = &[
    TITAN_TEXT_V1,
    TITAN_TEXT_V2,
    TITAN_MULTIMODAL,
    COHERE_ENGLISH_V3,
    COHERE_MULTILINGUAL_V3,
    COHERE_V4,
    ALL_MINILM_L6_V2,
];

/// The table of known models.
#[derive(Debug, Clone, Copy, Default)]
pub struct Catalogue;

impl Catalogue {
    /// Every model, Bedrock first, then local.
    pub fn all() -> &'static [ModelInfo] {
        MODELS
    }

    /// The local default model's id.
    pub const LOCAL_DEFAULT: &'static str = "all-minilm-l6-v2";

    /// Looks a model up by its id or an alias, ignoring ASCII case.
    ///
    /// ```
    /// use embedrock_core::{Catalogue, Family};
    /// let m = Catalogue::get("COHERE.EMBED-V4").unwrap(); // an alias, any case
    /// assert_eq!((m.id, m.family, m.max_batch), ("cohere.embed-v4:0", Family::CohereV4, 96));
    /// assert!(m.allows_dimensions(256) && !m.allows_dimensions(384));
    /// assert!(Catalogue::get("gpt-4").is_none());
    /// ```
    pub fn get(id: &str) -> Option<&'static ModelInfo> {
        MODELS.iter().find(|m| m.answers_to(id))
    }

    /// The Bedrock embedding models.
    pub fn bedrock() -> impl Iterator<Item = &'static ModelInfo> {
        MODELS.iter().filter(|m| m.is_bedrock())
    }

    /// The local models.
    pub fn local() -> impl Iterator<Item = &'static ModelInfo> {
        MODELS.iter().filter(|m| !m.is_bedrock())
    }

    /// The first row of a wire family; every row of one family shares its
    /// limits, so this row is the family's limits.
    pub fn family_row(family: Family) -> Option<&'static ModelInfo> {
        MODELS.iter().find(|m| m.family == family)
    }

    /// The known ids, comma separated, for error messages.
    pub fn known_ids() -> String {
        MODELS.iter().map(|m| m.id).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bedrock_embedding_model_is_listed() {
        for id in [
            "amazon.titan-embed-text-v1",
            "amazon.titan-embed-text-v2:0",
            "amazon.titan-embed-image-v1",
            "cohere.embed-english-v3",
            "cohere.embed-multilingual-v3",
            "cohere.embed-v4:0",
        ] {
            let m = Catalogue::get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(m.is_bedrock());
            assert!(m.dimensions.contains(&m.default_dimensions), "{id}");
            assert!(m.price_per_mtok.is_some(), "{id}");
        }
        assert_eq!(Catalogue::bedrock().count(), 6);
    }

    #[test]
    fn rows_of_one_family_share_their_limits() {
        for m in Catalogue::all() {
            let first = Catalogue::family_row(m.family).unwrap();
            assert_eq!(
                (
                    m.dimensions,
                    m.default_dimensions,
                    m.max_batch,
                    m.max_tokens,
                    m.max_chars,
                    m.max_images,
                    m.max_image_bytes,
                    m.output_types
                ),
                (
                    first.dimensions,
                    first.default_dimensions,
                    first.max_batch,
                    first.max_tokens,
                    first.max_chars,
                    first.max_images,
                    first.max_image_bytes,
                    first.output_types
                ),
                "{}",
                m.id
            );
        }
    }

    #[test]
    fn work_bounds() {
        let v1 = Catalogue::get("amazon.titan-embed-text-v1").unwrap();
        assert_eq!(v1.max_text_chars(), Some(8192 * CHARS_PER_TOKEN_BOUND));
        assert_eq!(v1.max_request_chars(), 8192 * CHARS_PER_TOKEN_BOUND);
        let v3 = Catalogue::get("cohere.embed-english-v3").unwrap();
        assert_eq!(v3.max_text_chars(), Some(2048));
        assert_eq!(v3.max_request_chars(), 96 * 2048);
        let v4 = Catalogue::get("cohere.embed-v4:0").unwrap();
        assert_eq!(v4.max_request_chars(), MAX_BODY_BYTES);
        for m in Catalogue::all() {
            assert!(m.max_text_chars().is_some(), "{}", m.id);
            assert!(m.max_request_chars() <= MAX_BODY_BYTES, "{}", m.id);
        }
    }

    #[test]
    fn facts_match_the_reference() {
        let v2 = Catalogue::get("amazon.titan-embed-text-v2:0").unwrap();
        assert_eq!(v2.dimensions, &[256, 512, 1024]);
        assert!(!v2.allows_dimensions(384));
        assert_eq!(v2.max_chars, Some(50_000));
        assert!((v2.cost(1_000_000) - 0.02).abs() < 1e-12);
        assert_eq!(v2.batch_price_per_mtok, Some(0.01));
        let v4 = Catalogue::get("cohere.embed-v4:0").unwrap();
        assert_eq!(v4.default_dimensions, 1536);
        assert_eq!(v4.max_batch, 96);
        let v3 = Catalogue::get("COHERE.EMBED-ENGLISH-V3").unwrap();
        assert_eq!(v3.max_chars, Some(2048));
        let local = Catalogue::get("sentence-transformers/all-MiniLM-L6-v2").unwrap();
        assert_eq!(local.id, Catalogue::LOCAL_DEFAULT);
        assert_eq!(local.default_dimensions, 384);
        assert!(Catalogue::get("gpt-4").is_none());
    }
}
