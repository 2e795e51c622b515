//! Configuration from a YAML file, the environment and command-line flags.
//!
//! The file takes the shape embedchain and mem0 use, so their
//! configurations work as they are:
//!
//! ```yaml
//! embedder:
//!   provider: aws_bedrock
//!   config:
//!     model: amazon.titan-embed-text-v2:0
//!     aws_region: us-west-2            # mem0; `region` also works
//!     aws_access_key_id: AKID...       # mem0 (better: the AWS chain)
//!     aws_secret_access_key: ...
//!     vector_dimension: 512            # embedchain; mem0: embedding_dims
//!     model_kwargs: {normalize: true}  # embedchain
//!     # embedrock's own keys:
//!     endpoint_url: http://127.0.0.1:8080
//!     profile: dev
//!     api_key: ...                     # a Bedrock API key
//!     family: cohere-v4                # for ARNs that do not name a model
//!     concurrency: 64
//!     max_attempts: 10
//!     cache_dir: ~/.cache/embedrock/embeddings
//!     truncate: false                  # or chunk: true
//! ```
//!
//! The file is one layer of a program's settings; merging it with flags,
//! the environment and the AWS SDK's chain is the program's part (the
//! `embedrock` command line does it in its `settings` module).

pub use crate::model_id::parse_family;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::settings::Secret;

/// The file's `embedder.config` block: embedchain's, mem0's and embedrock's keys.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FileConfig {
    /// The model id.
    pub model: Option<String>,
    /// embedchain's deployment name (kept, not used by Bedrock).
    pub deployment_name: Option<String>,
    /// embedchain: output dimensions.
    pub vector_dimension: Option<usize>,
    /// mem0: output dimensions.
    pub embedding_dims: Option<usize>,
    /// embedchain: `retrieval_document` or `retrieval_query`.
    pub task_type: Option<String>,
    /// embedchain: extra model parameters (`dimensions`, `normalize`).
    pub model_kwargs: BTreeMap<String, serde_json::Value>,
    /// mem0: the region.
    pub aws_region: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// mem0: the access key id.
    pub aws_access_key_id: Option<String>,
    /// mem0: the secret access key.
    pub aws_secret_access_key: Option<Secret>,
    /// mem0: the session token.
    pub aws_session_token: Option<Secret>,
    /// A profile of the shared config files.
    pub profile: Option<String>,
    /// The runtime endpoint.
    pub endpoint_url: Option<String>,
    /// A Bedrock API key.
    pub api_key: Option<Secret>,
    /// The family of an opaque id.
    pub family: Option<String>,
    /// The most calls in flight.
    pub concurrency: Option<usize>,
    /// Attempts per call.
    pub max_attempts: Option<u32>,
    /// The embedding cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Truncate over-long input instead of failing it.
    pub truncate: Option<bool>,
    /// Embed over-long input in pieces and average them.
    pub chunk: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct FileRoot {
    #[serde(default)]
    embedder: Option<EmbedderSection>,
}

#[derive(Debug, serde::Deserialize)]
struct EmbedderSection {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    config: FileConfig,
}

impl FileConfig {
    /// Parses a YAML file's text: the `embedder` section, whose provider must
    /// be `aws_bedrock` (or `bedrock`). Other top-level keys (`llm`,
    /// `vector_store`, ...) are ignored.
    pub fn from_yaml(text: &str) -> Result<FileConfig, String> {
        let root: FileRoot = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let Some(section) = root.embedder else {
            return Err("the file has no `embedder:` section".into());
        };
        match section.provider.as_deref() {
            None | Some("aws_bedrock" | "bedrock" | "aws-bedrock") => Ok(section.config),
            Some(other) => Err(format!("embedder provider {other:?} is not aws_bedrock")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMBEDCHAIN: &str = "llm:\n  provider: aws_bedrock\n  config:\n    model: amazon.titan-text-express-v1\n    temperature: 0.5\nembedder:\n  provider: aws_bedrock\n  config:\n    model: amazon.titan-embed-text-v2:0\n    deployment_name: my-deployment\n    vector_dimension: 512\n    model_kwargs: {normalize: false}\n";
    const MEM0: &str = "embedder:\n  provider: aws_bedrock\n  config:\n    model: amazon.titan-embed-text-v1\n    aws_region: us-west-2\n    aws_access_key_id: AKIDFILE\n    aws_secret_access_key: file-secret-value\n    embedding_dims: 1536\n";

    #[test]
    fn embedchain_and_mem0_shapes() {
        let f = FileConfig::from_yaml(EMBEDCHAIN).unwrap();
        assert_eq!(f.model.as_deref(), Some("amazon.titan-embed-text-v2:0"));
        assert_eq!(f.vector_dimension, Some(512));
        assert_eq!(
            f.model_kwargs.get("normalize"),
            Some(&serde_json::Value::Bool(false))
        );
        let f = FileConfig::from_yaml(MEM0).unwrap();
        assert_eq!(f.aws_region.as_deref(), Some("us-west-2"));
        assert_eq!(f.aws_access_key_id.as_deref(), Some("AKIDFILE"));
        assert_eq!(f.embedding_dims, Some(1536));
        assert!(!format!("{f:?}").contains("file-secret-value"));
        assert!(FileConfig::from_yaml("embedder:\n  provider: openai\n").is_err());
        assert!(FileConfig::from_yaml("llm: {}\n").is_err());
    }
}
