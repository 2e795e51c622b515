//! Which embedder answers which Bedrock model id, and how its vectors are
//! fitted to the dimensions the caller asked for.
//!
//! Dimension policy: a model that produces fewer dimensions than asked is
//! padded with zeros, which leaves every dot product, norm and cosine
//! similarity exactly as the model computed them; one that produces more is
//! cut to the first `d` values and scaled back to unit length (Matryoshka
//! truncation; models not trained for it lose some quality). In strict mode
//! any mismatch is a `ValidationException` instead.

use std::collections::BTreeMap;

use embedrock_bedrock::{ErrorKind, ModelId, WireError};
use embedrock_core::{math, Catalogue, DynEmbedder, Family, ModelInfo};

/// A route that cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// No backend has this name.
    #[error("no backend named {0:?}")]
    NoBackend(String),
    /// The id is not a model id.
    #[error("model id {id:?}: {message}")]
    BadId {
        /// The id given.
        id: String,
        /// Why it is not one.
        message: String,
    },
    /// The family given is not one of Bedrock's.
    #[error("{0:?} is not a Bedrock family")]
    NotBedrock(Family),
    /// An ARN that does not name its model, without a family.
    #[error("{0:?} does not name its model: give its family (titan-text-v1, titan-text-v2, titan-multimodal, cohere-v3, cohere-v4)")]
    NeedsFamily(String),
    /// An id that names no catalogue embedding model.
    #[error("{0:?} is not a known embedding model")]
    UnknownModel(String),
}

/// One served model id.
#[derive(Clone)]
pub struct Route {
    /// The id it is served under: a catalogue id, or an opaque ARN.
    pub id: String,
    /// Its wire format.
    pub family: Family,
    /// Its catalogue row (for opaque ARNs, the family's first model).
    pub info: &'static ModelInfo,
    /// The name of the embedder behind it.
    pub backend_name: String,
    /// The embedder behind it.
    pub backend: DynEmbedder,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("id", &self.id)
            .field("family", &self.family)
            .field("backend", &self.backend_name)
            .finish()
    }
}

/// The served model ids and the embedders behind them.
#[derive(Clone, Default)]
pub struct ModelMap {
    routes: Vec<Route>,
    backends: BTreeMap<String, DynEmbedder>,
}

impl std::fmt::Debug for ModelMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelMap")
            .field("routes", &self.routes)
            .field("backends", &self.backends.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ModelMap {
    /// An empty map.
    pub fn new() -> Self {
        ModelMap::default()
    }

    /// Every Bedrock embedding model of the catalogue, answered by `backend`.
    pub fn catalogue(backend_name: &str, backend: DynEmbedder) -> Self {
        let mut map = ModelMap::new();
        map.add_backend(backend_name, backend);
        for m in Catalogue::bedrock() {
            // Cannot fail: the backend was just added and the id is in the catalogue.
            let _ = map.route(m.id, None, backend_name);
        }
        map
    }

    /// Makes an embedder available under a name (also servable directly on
    /// the OpenAI route under that name).
    pub fn add_backend(&mut self, name: &str, backend: DynEmbedder) {
        self.backends.insert(name.to_string(), backend);
    }

    /// The embedder of this name.
    pub fn backend(&self, name: &str) -> Option<&DynEmbedder> {
        self.backends.get(name)
    }

    /// Serves `id` from the backend `backend_name`. Ids that name a base
    /// model (base ids, profile ids, most ARNs) serve every form of that
    /// model's id; opaque ARNs need `family_hint` and serve that ARN only.
    pub fn route(
        &mut self,
        id: &str,
        family_hint: Option<Family>,
        backend_name: &str,
    ) -> Result<(), RouteError> {
        let backend = self
            .backends
            .get(backend_name)
            .cloned()
            .ok_or_else(|| RouteError::NoBackend(backend_name.to_string()))?;
        let parsed = ModelId::parse(id).map_err(|e| RouteError::BadId {
            id: id.to_string(),
            message: e.message,
        })?;
        let (key, info) = match (parsed.model_info(), family_hint) {
            (Some(info), _) if parsed.is_opaque() => (parsed.raw.clone(), info),
            (Some(info), _) => (info.id.to_string(), info),
            (None, Some(family)) => {
                let info = Catalogue::all()
                    .iter()
                    .find(|m| m.family == family && m.is_bedrock())
                    .ok_or(RouteError::NotBedrock(family))?;
                (parsed.raw.clone(), info)
            }
            (None, None) if parsed.is_opaque() => {
                return Err(RouteError::NeedsFamily(id.to_string()))
            }
            (None, None) => return Err(RouteError::UnknownModel(id.to_string())),
        };
        self.routes.retain(|r| r.id != key);
        self.routes.push(Route {
            id: key,
            family: info.family,
            info,
            backend_name: backend_name.to_string(),
            backend,
        });
        Ok(())
    }

    /// The route answering a model id as it came on the wire.
    pub fn resolve(&self, raw: &str) -> Result<&Route, WireError> {
        let parsed = ModelId::parse(raw)?;
        if let Some(r) = self.routes.iter().find(|r| r.id == parsed.raw) {
            return Ok(r);
        }
        if parsed.is_opaque() {
            return Err(WireError::new(
                ErrorKind::ResourceNotFound,
                format!("The model {} was not found.", parsed.raw),
            ));
        }
        let info = parsed
            .model_info()
            .ok_or_else(WireError::invalid_model_id)?;
        self.routes.iter().find(|r| r.id == info.id).ok_or_else(|| {
            WireError::new(
                ErrorKind::AccessDenied,
                "You don't have access to the model with the specified model ID.",
            )
        })
    }

    /// The served catalogue models, in catalogue order.
    pub fn served(&self) -> Vec<&'static ModelInfo> {
        Catalogue::bedrock()
            .filter(|m| self.routes.iter().any(|r| r.id == m.id))
            .collect()
    }

    /// Every route.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// Fits a vector to `target` dimensions by the policy above.
pub fn fit_dimensions(v: &mut Vec<f32>, target: usize, normalize: bool) {
    if target < v.len() {
        v.truncate(target);
        if normalize {
            math::l2_normalize(v);
        }
    } else if target > v.len() {
        v.resize(target, 0.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn padding_keeps_cosine_and_truncation_renormalises() {
        let a = vec![0.6f32, 0.8, 0.0];
        let b = vec![0.0f32, 0.6, 0.8];
        let before = math::cosine(&a, &b);
        let (mut pa, mut pb) = (a.clone(), b.clone());
        fit_dimensions(&mut pa, 8, true);
        fit_dimensions(&mut pb, 8, true);
        assert_eq!(pa.len(), 8);
        assert_eq!(math::cosine(&pa, &pb), before);
        assert_eq!(math::norm(&pa), math::norm(&a));
        let mut t = vec![3.0f32, 4.0, 12.0];
        fit_dimensions(&mut t, 2, true);
        assert_eq!(t, vec![0.6, 0.8]);
        let mut raw = vec![3.0f32, 4.0, 12.0];
        fit_dimensions(&mut raw, 2, false);
        assert_eq!(raw, vec![3.0, 4.0]);
    }
}
