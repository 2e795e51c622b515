//! The one interface every model sits behind.

use std::sync::Arc;

use crate::{EmbedRequest, EmbedResponse, ModelFacts, Result, Usage};

/// Something that turns texts into vectors: a local model, a Bedrock model, a
/// cache in front of either.
///
/// The contract:
/// - `embed` returns exactly one vector and one token count per input text,
///   **in input order**;
/// - a request it cannot satisfy (too many dimensions, a text over the limit)
///   fails with an [`crate::Error`] that names the problem; nothing is dropped
///   silently;
/// - the trait is object safe, so servers and the CLI hold a [`DynEmbedder`].
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// Embeds the request's texts.
    async fn embed(&self, request: EmbedRequest) -> Result<EmbedResponse>;

    /// The id of the model that answers.
    fn model_id(&self) -> &str;

    /// The number of dimensions the model produces natively.
    fn dimensions(&self) -> usize;

    /// The most texts one call to [`Embedder::embed`] is worth; larger
    /// requests are still accepted and split by the embedder where it can.
    fn max_batch(&self) -> usize;

    /// Counts the tokens of each text as the model would, without embedding.
    fn count_tokens(&self, texts: &[String]) -> Result<Vec<usize>> {
        let _ = texts;
        Err(crate::Error::Unsupported {
            model: self.model_id().to_string(),
            what: "counting tokens".into(),
        })
    }

    /// The facts of the model: accepted dimensions, output types, limits and
    /// prices. The default looks [`Embedder::model_id`] up in the catalogue and
    /// falls back to [`ModelFacts::minimal`].
    fn facts(&self) -> ModelFacts {
        ModelFacts::lookup(self.model_id(), self.dimensions(), self.max_batch())
    }

    /// The work done so far (calls, tokens, dollars, retries, cache hits).
    /// The default reports nothing; embedders that count override it, and
    /// wrappers add their own counts to the inner embedder's.
    fn usage(&self) -> Usage {
        Usage::default()
    }

    /// Embeds a single text with default options.
    async fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let response = self.embed(EmbedRequest::new([text])).await?;
        response
            .vectors
            .into_iter()
            .next()
            .ok_or_else(|| crate::Error::backend_msg("the embedder returned no vector"))
    }
}

/// A shared, type-erased embedder.
pub type DynEmbedder = Arc<dyn Embedder>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A pure unit double: the vector of a text is its length and its first byte.
    struct Lengths;

    #[async_trait::async_trait]
    impl Embedder for Lengths {
        async fn embed(&self, request: EmbedRequest) -> Result<EmbedResponse> {
            let vectors = request
                .texts
                .iter()
                .map(|t| vec![t.len() as f32, t.bytes().next().unwrap_or(0) as f32])
                .collect();
            let tokens = request
                .texts
                .iter()
                .map(|t| t.split_whitespace().count())
                .collect();
            Ok(EmbedResponse::new("lengths", vectors, tokens))
        }
        fn model_id(&self) -> &str {
            "lengths"
        }
        fn dimensions(&self) -> usize {
            2
        }
        fn max_batch(&self) -> usize {
            8
        }
    }

    #[tokio::test]
    async fn object_safe_with_derived_helpers() {
        let e: DynEmbedder = Arc::new(Lengths);
        assert_eq!(e.embed_one("abc").await.unwrap(), vec![3.0, 97.0]);
        assert!(matches!(
            e.count_tokens(&["x".into()]),
            Err(crate::Error::Unsupported { .. })
        ));
        let facts = e.facts();
        assert_eq!(
            (facts.id.as_str(), facts.dimensions.as_slice()),
            ("lengths", &[2][..])
        );
        assert_eq!(e.usage(), Usage::default());
    }
}
