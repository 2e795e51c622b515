//! The command line's settings after every layer: flags, the environment,
//! the YAML file (`FileConfig`, embedchain's and mem0's shape), the AWS SDK's
//! chain, built-in defaults — highest precedence first.
//!
//! Environment variables: `EMBEDROCK_MODEL`, `AWS_REGION` (then
//! `AWS_DEFAULT_REGION`), `AWS_PROFILE`, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`
//! (then `AWS_ENDPOINT_URL`), `AWS_ENDPOINT_URL_BEDROCK` for the control
//! plane, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN`, `AWS_BEARER_TOKEN_BEDROCK`, `EMBEDROCK_CONCURRENCY`,
//! `EMBEDROCK_EMBED_CACHE`, and the cache root (`EMBEDROCK_CACHE_DIR`,
//! `XDG_CACHE_HOME`, `HOME`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use embedrock_bedrock::client::config::{parse_family, FileConfig};
use embedrock_bedrock::client::{BedrockSettings, OverLong, Secret};
use embedrock_core::util::{cache_root, redact_url};
use embedrock_core::{Family, InputType};

/// The most calls in flight a user may ask for.
pub const MAX_CONCURRENCY: usize = 1024;
/// The most attempts per call a file may ask for.
pub const MAX_ATTEMPTS: u32 = 100;

/// Settings given on the command line.
#[derive(Debug, Clone, Default, PartialEq)]
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

impl Resolved {
    /// A copy fit to print: user information in every URL replaced by `***`
    /// (secrets are already redacted by their type).
    pub fn redacted(&self) -> Resolved {
        let mut r = self.clone();
        r.settings.endpoint_url = r.settings.endpoint_url.as_deref().map(redact_url);
        r.settings.control_endpoint_url =
            r.settings.control_endpoint_url.as_deref().map(redact_url);
        r
    }
}

/// The environment as the resolver reads it: empty values count as unset.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where the embedding cache lives by default: `embeddings` under the cache root.
pub fn default_cache_dir(env: Env) -> Option<PathBuf> {
    cache_root(env).map(|root| root.join("embeddings"))
}

/// One setting's layers, highest first, each with the name of its source.
struct Layers<'a> {
    sources: &'a mut BTreeMap<&'static str, String>,
}

impl Layers<'_> {
    /// The first layer that has a value, recording its source (or `fallback`).
    fn pick<T>(
        &mut self,
        name: &'static str,
        layers: Vec<(&str, Option<T>)>,
        fallback: &str,
    ) -> Option<T> {
        for (from, v) in layers {
            if v.is_some() {
                self.sources.insert(name, from.to_string());
                return v;
            }
        }
        self.sources.insert(name, fallback.to_string());
        None
    }

    fn note(&mut self, name: &'static str, from: &str) {
        self.sources.insert(name, from.to_string());
    }
}

/// Merges flags, the environment (through `env`) and the file.
pub fn resolve(flags: &Flags, file: Option<&FileConfig>, env: Env) -> Result<Resolved, String> {
    let file = file.cloned().unwrap_or_default();
    let e = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut sources = BTreeMap::new();
    let mut layers = Layers {
        sources: &mut sources,
    };
    let mut s = BedrockSettings::default();
    let model = layers.pick(
        "model",
        vec![
            ("flag", flags.model.clone()),
            ("env:EMBEDROCK_MODEL", e("EMBEDROCK_MODEL")),
            ("file", file.model.clone()),
        ],
        "unset",
    );
    resolve_connection(&mut layers, &mut s, flags, &file, &e);
    resolve_credentials(&mut layers, &mut s, &file, &e);
    resolve_limits(&mut layers, &mut s, flags, &file, &e)?;
    s.cache_dir = resolve_cache(&mut layers, flags, &file, &e, env);
    resolve_over_long(&mut layers, &mut s, flags, &file);
    s.family = match (flags.family, &file.family) {
        (Some(f), _) => Some(f),
        (None, Some(f)) => Some(parse_family(f)?),
        _ => None,
    };
    let (dimensions, normalize, input_type) = resolve_request(&mut layers, flags, &file)?;
    Ok(Resolved {
        model,
        dimensions,
        normalize,
        input_type,
        settings: s,
        sources,
    })
}

fn resolve_connection(
    layers: &mut Layers,
    s: &mut BedrockSettings,
    flags: &Flags,
    file: &FileConfig,
    e: &dyn Fn(&str) -> Option<String>,
) {
    s.region = layers.pick(
        "region",
        vec![
            ("flag", flags.region.clone()),
            ("env:AWS_REGION", e("AWS_REGION")),
            ("env:AWS_DEFAULT_REGION", e("AWS_DEFAULT_REGION")),
            ("file", file.region.clone().or(file.aws_region.clone())),
        ],
        "aws-chain (profile, IMDS), else us-east-1",
    );
    s.profile = layers.pick(
        "profile",
        vec![
            ("flag", flags.profile.clone()),
            ("env:AWS_PROFILE", e("AWS_PROFILE")),
            ("file", file.profile.clone()),
        ],
        "default",
    );
    s.endpoint_url = layers.pick(
        "endpoint_url",
        vec![
            ("flag", flags.endpoint_url.clone()),
            (
                "env:AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                e("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
            ),
            ("env:AWS_ENDPOINT_URL", e("AWS_ENDPOINT_URL")),
            ("file", file.endpoint_url.clone()),
        ],
        "default (regional host)",
    );
    s.control_endpoint_url = layers.pick(
        "control_endpoint_url",
        vec![
            ("flag", flags.endpoint_url.clone()),
            (
                "env:AWS_ENDPOINT_URL_BEDROCK",
                e("AWS_ENDPOINT_URL_BEDROCK"),
            ),
            ("env:AWS_ENDPOINT_URL", e("AWS_ENDPOINT_URL")),
            ("file", file.endpoint_url.clone()),
        ],
        "default (regional host)",
    );
}

/// Keys: environment keys are the SDK chain's first link, so file keys are
/// used only when the environment has none.
fn resolve_credentials(
    layers: &mut Layers,
    s: &mut BedrockSettings,
    file: &FileConfig,
    e: &dyn Fn(&str) -> Option<String>,
) {
    if e("AWS_ACCESS_KEY_ID").is_some() {
        layers.note("credentials", "env:AWS_ACCESS_KEY_ID");
    } else if let (Some(k), Some(sec)) = (&file.aws_access_key_id, &file.aws_secret_access_key) {
        s.access_key_id = Some(k.clone());
        s.secret_access_key = Some(sec.clone());
        s.session_token = file.aws_session_token.clone();
        layers.note("credentials", "file");
    } else {
        layers.note(
            "credentials",
            "aws-chain (profile files, SSO, web identity, ECS, IMDS)",
        );
    }
    if let Some(key) = e("AWS_BEARER_TOKEN_BEDROCK") {
        s.api_key = Some(Secret::new(key));
        layers.note("api_key", "env:AWS_BEARER_TOKEN_BEDROCK");
    } else if file.api_key.is_some() {
        s.api_key = file.api_key.clone();
        layers.note("api_key", "file");
    }
}

/// A count from `from` that must lie in `1..=max`.
fn in_range<T: PartialOrd + From<u8> + std::fmt::Display>(
    value: T,
    max: T,
    name: &str,
    from: &str,
) -> Result<T, String> {
    if value < T::from(1) || value > max {
        return Err(format!(
            "{name} {value} (from {from}) is out of range: choose 1 to {max}"
        ));
    }
    Ok(value)
}

fn resolve_limits(
    layers: &mut Layers,
    s: &mut BedrockSettings,
    flags: &Flags,
    file: &FileConfig,
    e: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let env_conc = e("EMBEDROCK_CONCURRENCY")
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("EMBEDROCK_CONCURRENCY={v:?} is not a number"))
        })
        .transpose()?;
    if let Some(c) = layers.pick(
        "concurrency",
        vec![
            ("flag", flags.concurrency),
            ("env:EMBEDROCK_CONCURRENCY", env_conc),
            ("file", file.concurrency),
        ],
        "default",
    ) {
        let from = layers
            .sources
            .get("concurrency")
            .cloned()
            .unwrap_or_default();
        s.max_concurrency = in_range(c, MAX_CONCURRENCY, "concurrency", &from)?;
        s.initial_concurrency = s.initial_concurrency.min(s.max_concurrency);
    }
    if let Some(a) = file.max_attempts {
        s.retry.max_attempts = in_range(a, MAX_ATTEMPTS, "max_attempts", "file")?;
        layers.note("max_attempts", "file");
    }
    Ok(())
}

fn resolve_cache(
    layers: &mut Layers,
    flags: &Flags,
    file: &FileConfig,
    e: &dyn Fn(&str) -> Option<String>,
    env: Env,
) -> Option<PathBuf> {
    let env_cache = e("EMBEDROCK_EMBED_CACHE");
    if flags.no_cache || env_cache.as_deref() == Some("off") {
        layers.note("cache_dir", "off");
        return None;
    }
    layers
        .pick(
            "cache_dir",
            vec![
                ("flag", flags.cache_dir.clone()),
                ("env:EMBEDROCK_EMBED_CACHE", env_cache.map(PathBuf::from)),
                ("file", file.cache_dir.clone()),
            ],
            "default",
        )
        .or_else(|| default_cache_dir(env))
}

fn resolve_over_long(
    layers: &mut Layers,
    s: &mut BedrockSettings,
    flags: &Flags,
    file: &FileConfig,
) {
    if flags.truncate || flags.chunk {
        s.over_long = if flags.truncate {
            OverLong::Truncate
        } else {
            OverLong::Chunk
        };
        layers.note("over_long", "flag");
    } else if file.chunk == Some(true) {
        s.over_long = OverLong::Chunk;
        layers.note("over_long", "file");
    } else if let Some(t) = file.truncate {
        s.over_long = if t {
            OverLong::Truncate
        } else {
            OverLong::Error
        };
        layers.note("over_long", "file");
    }
}

/// Dimensions, normalisation and input type: the request's own settings.
type RequestSettings = (Option<usize>, Option<bool>, Option<InputType>);

fn resolve_request(
    layers: &mut Layers,
    flags: &Flags,
    file: &FileConfig,
) -> Result<RequestSettings, String> {
    let kw_dims = match file.model_kwargs.get("dimensions") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| format!("model_kwargs.dimensions {v} is not a whole number"))?,
        ),
    };
    let dimensions = layers.pick(
        "dimensions",
        vec![
            ("flag", flags.dimensions),
            (
                "file",
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
        None => None,
        Some("retrieval_query" | "search_query" | "query") => Some(InputType::Query),
        Some("retrieval_document" | "search_document" | "document") => Some(InputType::Document),
        Some("classification") => Some(InputType::Classification),
        Some("clustering") => Some(InputType::Clustering),
        Some(other) => return Err(format!("task_type {other:?} is not one embedrock knows (retrieval_query, retrieval_document, classification, clustering)")),
    };
    Ok((dimensions, normalize, input_type))
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

    #[test]
    fn cache_dir_follows_the_cache_root() {
        let env = |k: &str| match k {
            "XDG_CACHE_HOME" => Some("/x".to_string()),
            "HOME" => Some("/h".to_string()),
            _ => None,
        };
        let r = resolve(&Flags::default(), None, &env).unwrap();
        assert_eq!(
            r.settings.cache_dir,
            Some(PathBuf::from("/x/embedrock/embeddings"))
        );
        assert_eq!(r.sources["cache_dir"], "default");
        let off = |k: &str| (k == "EMBEDROCK_EMBED_CACHE").then(|| "off".to_string());
        assert_eq!(
            resolve(&Flags::default(), None, &off)
                .unwrap()
                .settings
                .cache_dir,
            None
        );
    }

    #[test]
    fn out_of_range_counts_are_refused() {
        let zero = |k: &str| (k == "EMBEDROCK_CONCURRENCY").then(|| "0".to_string());
        let e = resolve(&Flags::default(), None, &zero).unwrap_err();
        assert!(
            e.contains("concurrency 0 (from env:EMBEDROCK_CONCURRENCY)"),
            "{e}"
        );
        let huge = |k: &str| (k == "EMBEDROCK_CONCURRENCY").then(|| "5000".to_string());
        assert!(resolve(&Flags::default(), None, &huge).is_err());
        let f = FileConfig::from_yaml(
            "embedder:\n  provider: aws_bedrock\n  config:\n    max_attempts: 0\n",
        )
        .unwrap();
        let e = resolve(&Flags::default(), Some(&f), &|_| None).unwrap_err();
        assert!(e.contains("max_attempts 0"), "{e}");
        let ok = |k: &str| (k == "EMBEDROCK_CONCURRENCY").then(|| "16".to_string());
        let r = resolve(&Flags::default(), None, &ok).unwrap();
        assert_eq!(r.settings.max_concurrency, 16);
        assert!(r.settings.initial_concurrency <= 16);
    }

    #[test]
    fn printed_urls_carry_no_password() {
        let flags = Flags {
            endpoint_url: Some("http://user:hunter2@127.0.0.1:8765/".into()),
            ..Flags::default()
        };
        let r = resolve(&flags, None, &|_| None).unwrap();
        let shown = serde_json::to_string(&r.redacted()).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("http://***@127.0.0.1:8765/"), "{shown}");
        // The connection itself keeps the URL as given.
        assert_eq!(r.settings.endpoint_url, flags.endpoint_url);
    }
}
