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
//! Precedence, highest first: command-line flags, environment variables,
//! the file, the AWS SDK's own chain (shared config and credentials files,
//! SSO, web identity, ECS, IMDS), built-in defaults. Environment variables:
//! `EMBEDROCK_MODEL`, `AWS_REGION` (then `AWS_DEFAULT_REGION`), `AWS_PROFILE`,
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (then `AWS_ENDPOINT_URL`),
//! `AWS_ENDPOINT_URL_BEDROCK` for the control plane, `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, `AWS_BEARER_TOKEN_BEDROCK`,
//! `EMBEDROCK_CONCURRENCY`, `EMBEDROCK_EMBED_CACHE`.

pub use crate::model_id::parse_family;
use std::collections::BTreeMap;
use std::path::PathBuf;

use embedrock_core::{Family, InputType};

use super::settings::{BedrockSettings, OverLong, Secret};

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

/// Settings given on the command line.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Flags {
    /// `--model`.
    pub model: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--truncate`.
    pub truncate: bool,
    /// `--chunk`.
    pub chunk: bool,
    /// `--dimensions`.
    pub dimensions: Option<usize>,
    /// `--family`.
    pub family: Option<Family>,
}

/// The configuration after every layer, with where each value came from.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Resolved {
    /// The model id.
    pub model: Option<String>,
    /// Output dimensions.
    pub dimensions: Option<usize>,
    /// Normalise vectors.
    pub normalize: Option<bool>,
    /// The input type.
    pub input_type: Option<InputType>,
    /// The provider settings.
    pub settings: BedrockSettings,
    /// For each setting, where its value came from: `flag`, `env:NAME`,
    /// `file`, `aws-chain` or `default`.
    pub sources: BTreeMap<&'static str, String>,
}

/// Where the embedding cache lives by default:
/// `$EMBEDROCK_CACHE_DIR/embeddings`, `$XDG_CACHE_HOME/embedrock/embeddings`,
/// or `~/.cache/embedrock/embeddings`.
pub fn default_cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(d) = env("EMBEDROCK_CACHE_DIR") {
        return Some(PathBuf::from(d).join("embeddings"));
    }
    if let Some(d) = env("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("embedrock").join("embeddings"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".cache/embedrock/embeddings"))
}

/// Merges flags, the environment (through `env`) and the file.
pub fn resolve(
    flags: &Flags,
    file: Option<&FileConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, String> {
    let file = file.cloned().unwrap_or_default();
    let mut sources = BTreeMap::new();
    let mut s = BedrockSettings::default();

    fn pick<T>(
        sources: &mut BTreeMap<&'static str, String>,
        name: &'static str,
        layers: Vec<(String, Option<T>)>,
        fallback: &str,
    ) -> Option<T> {
        for (from, v) in layers {
            if v.is_some() {
                sources.insert(name, from);
                return v;
            }
        }
        sources.insert(name, fallback.to_string());
        None
    }
    let e = |k: &str| env(k).filter(|v| !v.is_empty());

    let model = pick(
        &mut sources,
        "model",
        vec![
            ("flag".into(), flags.model.clone()),
            ("env:EMBEDROCK_MODEL".into(), e("EMBEDROCK_MODEL")),
            ("file".into(), file.model.clone()),
        ],
        "unset",
    );
    s.region = pick(
        &mut sources,
        "region",
        vec![
            ("flag".into(), flags.region.clone()),
            ("env:AWS_REGION".into(), e("AWS_REGION")),
            ("env:AWS_DEFAULT_REGION".into(), e("AWS_DEFAULT_REGION")),
            (
                "file".into(),
                file.region.clone().or(file.aws_region.clone()),
            ),
        ],
        "aws-chain (profile, IMDS), else us-east-1",
    );
    s.profile = pick(
        &mut sources,
        "profile",
        vec![
            ("flag".into(), flags.profile.clone()),
            ("env:AWS_PROFILE".into(), e("AWS_PROFILE")),
            ("file".into(), file.profile.clone()),
        ],
        "default",
    );
    s.endpoint_url = pick(
        &mut sources,
        "endpoint_url",
        vec![
            ("flag".into(), flags.endpoint_url.clone()),
            (
                "env:AWS_ENDPOINT_URL_BEDROCK_RUNTIME".into(),
                e("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
            ),
            ("env:AWS_ENDPOINT_URL".into(), e("AWS_ENDPOINT_URL")),
            ("file".into(), file.endpoint_url.clone()),
        ],
        "default (regional host)",
    );
    s.control_endpoint_url = pick(
        &mut sources,
        "control_endpoint_url",
        vec![
            ("flag".into(), flags.endpoint_url.clone()),
            (
                "env:AWS_ENDPOINT_URL_BEDROCK".into(),
                e("AWS_ENDPOINT_URL_BEDROCK"),
            ),
            ("env:AWS_ENDPOINT_URL".into(), e("AWS_ENDPOINT_URL")),
            ("file".into(), file.endpoint_url.clone()),
        ],
        "default (regional host)",
    );
    // Keys: environment keys are the SDK chain's first link, so file keys are
    // used only when the environment has none.
    if e("AWS_ACCESS_KEY_ID").is_some() {
        sources.insert("credentials", "env:AWS_ACCESS_KEY_ID".into());
    } else if let (Some(k), Some(sec)) = (&file.aws_access_key_id, &file.aws_secret_access_key) {
        s.access_key_id = Some(k.clone());
        s.secret_access_key = Some(sec.clone());
        s.session_token = file.aws_session_token.clone();
        sources.insert("credentials", "file".into());
    } else {
        sources.insert(
            "credentials",
            "aws-chain (profile files, SSO, web identity, ECS, IMDS)".into(),
        );
    }
    if e("AWS_BEARER_TOKEN_BEDROCK").is_some() {
        s.api_key = e("AWS_BEARER_TOKEN_BEDROCK").map(Secret::new);
        sources.insert("api_key", "env:AWS_BEARER_TOKEN_BEDROCK".into());
    } else if file.api_key.is_some() {
        s.api_key = file.api_key.clone();
        sources.insert("api_key", "file".into());
    }
    let env_conc = e("EMBEDROCK_CONCURRENCY")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| format!("EMBEDROCK_CONCURRENCY={v:?} is not a number"))
        })
        .transpose()?;
    if let Some(c) = pick(
        &mut sources,
        "concurrency",
        vec![
            ("flag".into(), flags.concurrency),
            ("env:EMBEDROCK_CONCURRENCY".into(), env_conc),
            ("file".into(), file.concurrency),
        ],
        "default",
    ) {
        s.max_concurrency = c.max(1);
        s.initial_concurrency = s.initial_concurrency.min(s.max_concurrency);
    }
    if let Some(a) = file.max_attempts {
        s.retry.max_attempts = a.max(1);
        sources.insert("max_attempts", "file".into());
    }
    let env_cache = e("EMBEDROCK_EMBED_CACHE");
    s.cache_dir = if flags.no_cache || env_cache.as_deref() == Some("off") {
        sources.insert("cache_dir", "off".into());
        None
    } else {
        pick(
            &mut sources,
            "cache_dir",
            vec![
                ("flag".into(), flags.cache_dir.clone()),
                (
                    "env:EMBEDROCK_EMBED_CACHE".into(),
                    env_cache.map(PathBuf::from),
                ),
                ("file".into(), file.cache_dir.clone()),
            ],
            "default",
        )
        .or_else(|| default_cache_dir(env))
    };
    if flags.truncate || flags.chunk {
        s.over_long = if flags.truncate {
            OverLong::Truncate
        } else {
            OverLong::Chunk
        };
        sources.insert("over_long", "flag".into());
    } else if file.chunk == Some(true) {
        s.over_long = OverLong::Chunk;
        sources.insert("over_long", "file".into());
    } else if let Some(t) = file.truncate {
        s.over_long = if t {
            OverLong::Truncate
        } else {
            OverLong::Error
        };
        sources.insert("over_long", "file".into());
    }
    s.family = match (flags.family, &file.family) {
        (Some(f), _) => Some(f),
        (None, Some(f)) => Some(parse_family(f)?),
        _ => None,
    };
    let kw_dims = file
        .model_kwargs
        .get("dimensions")
        .and_then(serde_json::Value::as_u64)
        .map(|d| d as usize);
    let dimensions = pick(
        &mut sources,
        "dimensions",
        vec![
            ("flag".into(), flags.dimensions),
            (
                "file".into(),
                file.vector_dimension.or(file.embedding_dims).or(kw_dims),
            ),
        ],
        "model default",
    );
    let normalize = file
        .model_kwargs
        .get("normalize")
        .and_then(serde_json::Value::as_bool);
    let input_type = match file.task_type.as_deref() {
        Some("retrieval_query" | "search_query" | "query") => Some(InputType::Query),
        Some("retrieval_document" | "search_document" | "document") => Some(InputType::Document),
        Some("classification") => Some(InputType::Classification),
        Some("clustering") => Some(InputType::Clustering),
        _ => None,
    };
    Ok(Resolved {
        model,
        dimensions,
        normalize,
        input_type,
        settings: s,
        sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMBEDCHAIN: &str = "llm:\n  provider: aws_bedrock\n  config:\n    model: amazon.titan-text-express-v1\n    temperature: 0.5\nembedder:\n  provider: aws_bedrock\n  config:\n    model: amazon.titan-embed-text-v2:0\n    deployment_name: my-deployment\n    vector_dimension: 512\n    model_kwargs: {normalize: false}\n";
    const MEM0: &str = "embedder:\n  provider: aws_bedrock\n  config:\n    model: amazon.titan-embed-text-v1\n    aws_region: us-west-2\n    aws_access_key_id: AKIDFILE\n    aws_secret_access_key: file-secret-value\n    embedding_dims: 1536\n";

    #[test]
    fn embedchain_and_mem0_shapes() {
        let f = FileConfig::from_yaml(EMBEDCHAIN).unwrap();
        let r = resolve(&Flags::default(), Some(&f), &|_| None).unwrap();
        assert_eq!(r.model.as_deref(), Some("amazon.titan-embed-text-v2:0"));
        assert_eq!(r.dimensions, Some(512));
        assert_eq!(r.normalize, Some(false));
        let f = FileConfig::from_yaml(MEM0).unwrap();
        let r = resolve(&Flags::default(), Some(&f), &|_| None).unwrap();
        assert_eq!(r.settings.region.as_deref(), Some("us-west-2"));
        assert_eq!(r.settings.access_key_id.as_deref(), Some("AKIDFILE"));
        assert_eq!(r.dimensions, Some(1536));
        let shown = format!("{r:?} {}", serde_json::to_string(&r).unwrap());
        assert!(!shown.contains("file-secret-value"), "{shown}");
        assert!(FileConfig::from_yaml("embedder:\n  provider: openai\n").is_err());
        assert!(FileConfig::from_yaml("llm: {}\n").is_err());
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let f = FileConfig::from_yaml(MEM0).unwrap();
        let env = |k: &str| match k {
            "AWS_DEFAULT_REGION" => Some("eu-west-1".to_string()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDENV".to_string()),
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" => Some("http://127.0.0.1:9".to_string()),
            "EMBEDROCK_CACHE_DIR" => Some("/tmp/er".to_string()),
            _ => None,
        };
        let r = resolve(&Flags::default(), Some(&f), &env).unwrap();
        assert_eq!(r.settings.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.sources["region"], "env:AWS_DEFAULT_REGION");
        assert_eq!(
            r.settings.access_key_id, None,
            "env keys win through the SDK chain"
        );
        assert_eq!(
            r.settings.endpoint_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(
            r.settings.cache_dir,
            Some(PathBuf::from("/tmp/er/embeddings"))
        );
        let flags = Flags {
            region: Some("ap-south-1".into()),
            no_cache: true,
            truncate: true,
            ..Flags::default()
        };
        let r = resolve(&flags, Some(&f), &env).unwrap();
        assert_eq!(r.settings.region.as_deref(), Some("ap-south-1"));
        assert_eq!(r.sources["region"], "flag");
        assert_eq!(r.settings.cache_dir, None);
        assert_eq!(r.settings.over_long, OverLong::Truncate);
    }
}
