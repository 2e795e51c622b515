//! What any embedder can say about itself: the facts of its model and the
//! work it has done so far.
//!
//! The store and the benchmark hold "any model" behind a
//! [`crate::DynEmbedder`]; they ask it these questions instead of knowing its
//! concrete type, so a caching wrapper or a remote endpoint answers the same way.

use serde::Serialize;

use crate::{Catalogue, Family, Modality, ModelInfo, OutputType, Provider};

/// The facts of the model behind an embedder: what it accepts and what it costs.
///
/// Built from the catalogue row when the model has one
/// ([`ModelFacts::from_info`]); a model loaded from a folder fills in what it
/// knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ModelFacts {
    /// The model's id as the embedder reports it.
    pub id: String,
    /// Who provides it.
    pub provider: Provider,
    /// Its wire format (or [`Family::LocalBert`] for local models).
    pub family: Family,
    /// What it takes in.
    pub input_modalities: Vec<Modality>,
    /// The output dimensions it accepts.
    pub dimensions: Vec<usize>,
    /// The dimensions it produces when none are asked for.
    pub default_dimensions: usize,
    /// The numeric forms it can return.
    pub output_types: Vec<OutputType>,
    /// Texts per call.
    pub max_batch: usize,
    /// Tokens per text, where known.
    pub max_tokens: Option<usize>,
    /// Characters per text, where known.
    pub max_chars: Option<usize>,
    /// Whether the caller can ask for unnormalised vectors.
    pub normalize_option: bool,
    /// US dollars per million input tokens, on demand (0 for local models).
    pub price_per_mtok: Option<f64>,
    /// US dollars per million input tokens in batch inference, where offered.
    pub batch_price_per_mtok: Option<f64>,
    /// The catalogue row, when the model has one.
    #[serde(skip)]
    pub catalogue: Option<&'static ModelInfo>,
}

impl ModelFacts {
    /// The facts of a catalogue row, reported under `id` (an alias, an
    /// inference profile or an ARN may name the row).
    pub fn from_info(id: impl Into<String>, info: &'static ModelInfo) -> Self {
        ModelFacts {
            id: id.into(),
            provider: info.provider,
            family: info.family,
            input_modalities: info.input_modalities.to_vec(),
            dimensions: info.dimensions.to_vec(),
            default_dimensions: info.default_dimensions,
            output_types: info.output_types.to_vec(),
            max_batch: info.max_batch,
            max_tokens: info.max_tokens,
            max_chars: info.max_chars,
            normalize_option: info.normalize_option,
            price_per_mtok: info.price_per_mtok,
            batch_price_per_mtok: info.batch_price_per_mtok,
            catalogue: Some(info),
        }
    }

    /// Facts for a model that is not in the catalogue: one native size,
    /// float output, no known limits or prices.
    pub fn minimal(id: impl Into<String>, dimensions: usize, max_batch: usize) -> Self {
        ModelFacts {
            id: id.into(),
            provider: Provider::Local,
            family: Family::LocalBert,
            input_modalities: vec![Modality::Text],
            dimensions: vec![dimensions],
            default_dimensions: dimensions,
            output_types: vec![OutputType::Float],
            max_batch,
            max_tokens: None,
            max_chars: None,
            normalize_option: false,
            price_per_mtok: None,
            batch_price_per_mtok: None,
            catalogue: None,
        }
    }

    /// The catalogue's facts for `id` when it names a row, else [`ModelFacts::minimal`].
    pub fn lookup(id: &str, dimensions: usize, max_batch: usize) -> Self {
        match Catalogue::get(id) {
            Some(info) => ModelFacts::from_info(id, info),
            None => ModelFacts::minimal(id, dimensions, max_batch),
        }
    }

    /// Dollars for this many input tokens on demand (0 when unpriced).
    pub fn cost(&self, tokens: u64) -> f64 {
        self.price_per_mtok.unwrap_or(0.0) * tokens as f64 / 1_000_000.0
    }

    /// Bytes one stored vector of `dimensions` takes in this output type.
    pub fn bytes_per_vector(output_type: OutputType, dimensions: usize) -> usize {
        match output_type {
            OutputType::Float => 4 * dimensions,
            OutputType::Int8 | OutputType::Uint8 => dimensions,
            OutputType::Binary | OutputType::Ubinary => dimensions.div_ceil(8),
        }
    }
}

/// The work an embedder has done since it was opened.
///
/// Counters only grow; take two snapshots and subtract ([`Usage::since`]) to
/// measure one piece of work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Usage {
    /// Calls made to the model (HTTP requests for Bedrock, forward batches locally).
    pub calls: u64,
    /// Texts embedded (cache hits included).
    pub texts: u64,
    /// Input tokens billed (or counted, for local models).
    pub tokens: u64,
    /// US dollars spent at the catalogue's on-demand price.
    pub dollars: f64,
    /// Attempts that were retried.
    pub retries: u64,
    /// Of those, attempts refused for throttling.
    pub throttled: u64,
    /// Texts answered from a cache.
    pub cache_hits: u64,
    /// Texts looked up in a cache and not found.
    pub cache_misses: u64,
    /// Texts that failed.
    pub failed: u64,
}

impl Usage {
    /// The work done between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            calls: self.calls.saturating_sub(earlier.calls),
            texts: self.texts.saturating_sub(earlier.texts),
            tokens: self.tokens.saturating_sub(earlier.tokens),
            dollars: (self.dollars - earlier.dollars).max(0.0),
            retries: self.retries.saturating_sub(earlier.retries),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            cache_hits: self.cache_hits.saturating_sub(earlier.cache_hits),
            cache_misses: self.cache_misses.saturating_sub(earlier.cache_misses),
            failed: self.failed.saturating_sub(earlier.failed),
        }
    }

    /// Fraction of cache look-ups that hit (0 when there were none).
    pub fn hit_rate(&self) -> f64 {
        let looked = self.cache_hits + self.cache_misses;
        if looked == 0 {
            0.0
        } else {
            self.cache_hits as f64 / looked as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_follow_the_catalogue_row() {
        let f = ModelFacts::lookup("cohere.embed-v4", 0, 0);
        assert_eq!(f.family, Family::CohereV4);
        assert_eq!(f.default_dimensions, 1536);
        assert_eq!(f.max_batch, 96);
        assert!(f.output_types.contains(&OutputType::Int8));
        assert!((f.cost(1_000_000) - 0.12).abs() < 1e-12);
        let m = ModelFacts::lookup("/models/mine", 768, 16);
        assert_eq!(m.dimensions, vec![768]);
        assert!(m.catalogue.is_none());
        assert_eq!(m.cost(1_000_000), 0.0);
    }

    #[test]
    fn storage_per_vector() {
        assert_eq!(ModelFacts::bytes_per_vector(OutputType::Float, 1024), 4096);
        assert_eq!(ModelFacts::bytes_per_vector(OutputType::Int8, 1024), 1024);
        assert_eq!(ModelFacts::bytes_per_vector(OutputType::Binary, 1020), 128);
    }

    #[test]
    fn usage_differences() {
        let a = Usage {
            calls: 2,
            tokens: 10,
            cache_hits: 1,
            cache_misses: 3,
            ..Usage::default()
        };
        let b = Usage {
            calls: 5,
            tokens: 25,
            cache_hits: 4,
            cache_misses: 3,
            ..Usage::default()
        };
        let d = b.since(&a);
        assert_eq!((d.calls, d.tokens, d.cache_hits), (3, 15, 3));
        assert!((b.hit_rate() - 4.0 / 7.0).abs() < 1e-12);
    }
}
