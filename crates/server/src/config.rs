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
//! region: us-east-1                 # written into ARNs; accepted in SigV4 scopes
//! regions: [us-east-1, eu-west-1]    # further SigV4 scope regions accepted
//! max_body_bytes: 25000000
//! request_timeout_secs: 60
//! max_in_flight_texts: 1024           # admission control; 0 turns it off
//! max_request_chars: 2000000
//! header_timeout_secs: 10
//! body_timeout_secs: 30
//! idle_timeout_secs: 60
//! max_connections: 512
//! shutdown_timeout_secs: 10
//! auth: { mode: sigv4, credentials: { AKIDEXAMPLE: secret } }
//! faults: { requests_per_minute: 600, latency: { kind: fixed, ms: 20 } }
//! ```

pub use embedrock_bedrock::model_id::parse_family;
use std::path::PathBuf;

use embedrock_core::{Catalogue, DynEmbedder};
use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::faults::{FaultConfig, FaultError};
use crate::models::{ModelMap, RouteError};
use crate::serve::ConnectionLimits;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The YAML does not parse or has unknown keys.
    #[error("{0}")]
    Yaml(#[from] serde_norway::Error),
    /// A fault setting is out of range.
    #[error(transparent)]
    Faults(#[from] FaultError),
    /// A route cannot be served.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A route without a backend, and no default backend.
    #[error("model {0}: no backend and no default_backend")]
    NoBackend(String),
    /// An unknown family name.
    #[error(transparent)]
    Family(#[from] embedrock_core::UnknownName),
    /// A backend could not be opened.
    #[error("backend {name}: {message}")]
    Open {
        /// The backend's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A limit with a value it cannot have.
    #[error("{key}: {message}")]
    Limit {
        /// The configuration key.
        key: &'static str,
        /// What is wrong with it.
        message: &'static str,
    },
}

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
    /// The region written into model ARNs, and accepted in SigV4
    /// credential scopes.
    pub region: String,
    /// Further regions accepted in SigV4 credential scopes.
    pub regions: Vec<String>,
    /// The dense layers' arithmetic of the local backends: `fp32`, `int8`
    /// or `bf16`; `null` keeps the engine's default (`EMBEDROCK_PRECISION`,
    /// else fp32). Whether the CPU can run it is checked when the backends
    /// load.
    pub precision: Option<String>,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// The longest a request may take once its body is read; its work is
    /// dropped at this deadline.
    pub request_timeout_secs: f64,
    /// Texts being tokenised or embedded at once, over all requests; a
    /// request that would go above it gets a throttling error at once.
    /// 0 turns admission control off.
    pub max_in_flight_texts: usize,
    /// Characters over all texts of one request.
    pub max_request_chars: usize,
    /// Time to receive a request's headers, and the keep-alive wait for the
    /// next request on an HTTP/1 connection.
    pub header_timeout_secs: f64,
    /// Time to receive a request's body.
    pub body_timeout_secs: f64,
    /// A connection with no request in progress and no bytes moving is
    /// closed after this long (also bounds TLS handshakes).
    pub idle_timeout_secs: f64,
    /// Open connections; more are accepted and closed at once.
    pub max_connections: usize,
    /// After a shutdown signal, requests in flight get this long to finish;
    /// then every connection is dropped.
    pub shutdown_timeout_secs: f64,
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
            regions: Vec::new(),
            precision: None,
            max_body_bytes: 25_000_000,
            request_timeout_secs: 60.0,
            max_in_flight_texts: 1024,
            max_request_chars: 2_000_000,
            header_timeout_secs: 10.0,
            body_timeout_secs: 30.0,
            idle_timeout_secs: 60.0,
            max_connections: 512,
            shutdown_timeout_secs: 10.0,
            access_log: true,
            auth: AuthConfig::default(),
            faults: FaultConfig::default(),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// The names `precision` accepts.
    pub const PRECISIONS: [&'static str; 3] = ["fp32", "int8", "bf16"];

    /// Parses the YAML text of a configuration file.
    pub fn from_yaml(text: &str) -> Result<ServerConfig, ConfigError> {
        let c: ServerConfig = serde_norway::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.faults.validate()?;
        let secs = [
            ("request_timeout_secs", self.request_timeout_secs),
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("shutdown_timeout_secs", self.shutdown_timeout_secs),
        ];
        for (key, v) in secs {
            if !(v > 0.0 && v <= 86_400.0) {
                return Err(ConfigError::Limit {
                    key,
                    message: "must be more than 0 and at most 86400 seconds",
                });
            }
        }
        if let Some(p) = &self.precision {
            if !Self::PRECISIONS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(p.trim()))
            {
                return Err(ConfigError::Limit {
                    key: "precision",
                    message: "must be fp32, int8 or bf16",
                });
            }
        }
        for (key, v) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_request_chars", self.max_request_chars),
            ("max_connections", self.max_connections),
        ] {
            if v == 0 {
                return Err(ConfigError::Limit {
                    key,
                    message: "must be at least 1",
                });
            }
        }
        Ok(())
    }

    /// The regions a SigV4 credential scope may name: `region` and `regions`.
    pub fn signing_regions(&self) -> Vec<String> {
        let mut out = vec![self.region.clone()];
        out.extend(self.regions.iter().filter(|r| **r != self.region).cloned());
        out
    }

    /// The per-connection bounds, for [`crate::serve_with`].
    pub fn connection_limits(&self) -> ConnectionLimits {
        let d = |s: f64| {
            std::time::Duration::try_from_secs_f64(s).unwrap_or(std::time::Duration::from_secs(60))
        };
        ConnectionLimits {
            header_timeout: d(self.header_timeout_secs),
            idle_timeout: d(self.idle_timeout_secs),
            max_connections: self.max_connections,
            shutdown_timeout: d(self.shutdown_timeout_secs),
        }
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
    pub fn build_models<E: std::fmt::Display>(
        &self,
        mut open: impl FnMut(&str) -> Result<DynEmbedder, E>,
    ) -> Result<ModelMap, ConfigError> {
        let mut map = ModelMap::new();
        for name in self.backend_names() {
            let backend = open(&name).map_err(|e| ConfigError::Open {
                name: name.clone(),
                message: e.to_string(),
            })?;
            map.add_backend(&name, backend);
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
                .ok_or_else(|| ConfigError::NoBackend(r.id.clone()))?;
            let family = r
                .family
                .as_deref()
                .map(parse_family)
                .transpose()
                .map_err(ConfigError::Family)?;
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
    fn precision_is_one_of_three() {
        assert_eq!(ServerConfig::default().precision, None);
        let c = ServerConfig::from_yaml("precision: int8\n").unwrap();
        assert_eq!(c.precision.as_deref(), Some("int8"));
        assert!(ServerConfig::from_yaml("precision: FP32\n").is_ok());
        assert!(matches!(
            ServerConfig::from_yaml("precision: int4\n"),
            Err(ConfigError::Limit {
                key: "precision",
                ..
            })
        ));
    }

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
        assert!(matches!(
            ServerConfig::from_yaml("faults: {error_rate: 3}\n"),
            Err(ConfigError::Faults(_))
        ));
        assert!(matches!(
            ServerConfig::from_yaml("body_timeout_secs: 0\n"),
            Err(ConfigError::Limit {
                key: "body_timeout_secs",
                ..
            })
        ));
        let c = ServerConfig::from_yaml("regions: [eu-west-1, us-east-1]\n").unwrap();
        assert_eq!(c.signing_regions(), vec!["us-east-1", "eu-west-1"]);
        assert!(parse_family("cohere_v3").is_ok());
        assert!(parse_family("gpt").is_err());
    }
}
