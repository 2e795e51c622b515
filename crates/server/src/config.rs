//! The server's YAML configuration: which model ids are served by which
//! local model, the dimension policy, limits, auth and faults.
//!
//! ```yaml
//! default_backend: all-minilm-l6-v2   # serves every catalogue embedding id
//! models:                             # extra or overriding routes
//!   - id: arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123
//!     family: cohere-v4               # opaque ARNs need their family
//!     backend: all-minilm-l6-v2
//! strict_dimensions: false            # true: no zero-padding or truncation
//! region: us-east-1
//! max_body_bytes: 25000000
//! request_timeout_secs: 60
//! auth: { mode: sigv4, credentials: { AKIDEXAMPLE: secret } }
//! faults: { requests_per_minute: 600, latency: { kind: fixed, ms: 20 } }
//! ```

pub use embedrock_bedrock::model_id::parse_family;
use std::path::PathBuf;

use embedrock_core::{Catalogue, DynEmbedder};
use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::faults::FaultConfig;
use crate::models::ModelMap;

/// A route from the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The model id served: base id, profile id or ARN.
    pub id: String,
    /// The family, for ids that do not name their model: `titan-text-v1`,
    /// `titan-text-v2`, `titan-multimodal`, `cohere-v3`, `cohere-v4`.
    #[serde(default)]
    pub family: Option<String>,
    /// The local model that answers (default: `default_backend`).
    #[serde(default)]
    pub backend: Option<String>,
}

/// TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// Make a self-signed certificate for localhost and 127.0.0.1, and write
    /// it (PEM) here so clients can trust it (`AWS_CA_BUNDLE`).
    pub self_signed_cert_out: Option<PathBuf>,
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The local model that serves every Bedrock embedding id of the
    /// catalogue; `null` serves only the ids under `models`.
    pub default_backend: Option<String>,
    /// Extra or overriding routes.
    pub models: Vec<RouteConfig>,
    /// Refuse dimensions the backend cannot produce natively.
    pub strict_dimensions: bool,
    /// The region written into model ARNs.
    pub region: String,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// The longest a request may take.
    pub request_timeout_secs: f64,
    /// Write one JSON line per request to standard error.
    pub access_log: bool,
    /// Who may call.
    pub auth: AuthConfig,
    /// Faults to inject from the start.
    pub faults: FaultConfig,
    /// HTTPS.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_backend: Some(Catalogue::LOCAL_DEFAULT.to_string()),
            models: Vec::new(),
            strict_dimensions: false,
            region: "us-east-1".into(),
            max_body_bytes: 25_000_000,
            request_timeout_secs: 60.0,
            access_log: true,
            auth: AuthConfig::default(),
            faults: FaultConfig::default(),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// Parses the YAML text of a configuration file.
    pub fn from_yaml(text: &str) -> Result<ServerConfig, String> {
        let c: ServerConfig = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        c.faults.validate()?;
        Ok(c)
    }

    /// The backend names the configuration uses.
    pub fn backend_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.default_backend.iter().cloned().collect();
        for r in &self.models {
            if let Some(b) = &r.backend {
                if !names.contains(b) {
                    names.push(b.clone());
                }
            }
        }
        names
    }

    /// Builds the model map, opening each backend once with `open`.
    pub fn build_models(
        &self,
        mut open: impl FnMut(&str) -> Result<DynEmbedder, String>,
    ) -> Result<ModelMap, String> {
        let mut map = ModelMap::new();
        for name in self.backend_names() {
            map.add_backend(&name, open(&name)?);
        }
        if let Some(default) = &self.default_backend {
            for m in Catalogue::bedrock() {
                map.route(m.id, None, default)?;
            }
        }
        for r in &self.models {
            let backend = r
                .backend
                .as_ref()
                .or(self.default_backend.as_ref())
                .ok_or_else(|| format!("model {}: no backend and no default_backend", r.id))?;
            let family = r.family.as_deref().map(parse_family).transpose()?;
            map.route(&r.id, family, backend)?;
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn yaml_parses_and_rejects_typos() {
        let c = ServerConfig::from_yaml(
            "models:\n  - id: arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc\n    family: cohere-v4\nstrict_dimensions: true\nauth:\n  mode: sigv4\n  credentials: {AKID: s3cret}\nfaults:\n  requests_per_minute: 5\n  latency: {kind: fixed, ms: 20}\n",
        )
        .unwrap();
        assert!(c.strict_dimensions);
        assert_eq!(c.default_backend.as_deref(), Some("all-minilm-l6-v2"));
        assert_eq!(c.faults.requests_per_minute, Some(5));
        assert_eq!(
            c.auth.credentials.get("AKID").map(String::as_str),
            Some("s3cret")
        );
        assert!(ServerConfig::from_yaml("strict_dimension: true\n").is_err());
        assert!(ServerConfig::from_yaml("faults: {error_rate: 3}\n").is_err());
        assert!(parse_family("cohere_v3").is_ok());
        assert!(parse_family("gpt").is_err());
    }
}
