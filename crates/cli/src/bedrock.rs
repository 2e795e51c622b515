//! How the command line reaches Bedrock: the flags, `models list --source
//! bedrock` and `config check`.
//!
//! Settings come from flags, then the environment, then a YAML file
//! (`--config`, or `$EMBEDROCK_CONFIG`), then the AWS SDK's chain; see
//! [`crate::settings`].

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use embedrock_bedrock::client::config::{self, FileConfig};
use embedrock_bedrock::client::list_embedding_models;

use crate::settings::{Flags, Resolved};

/// How to reach Bedrock (or `embedrock serve`).
#[derive(Args, Clone, Debug, Default)]
pub struct BedrockArgs {
    /// A YAML file in the embedchain/mem0 shape (`embedder: {provider: aws_bedrock, config: {...}}`).
    #[arg(long, env = "EMBEDROCK_CONFIG")]
    pub config: Option<PathBuf>,
    /// The Bedrock runtime endpoint, such as an `embedrock serve` URL
    /// (default: `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, then the regional host).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// The AWS region (default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile, us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// A profile of the shared AWS config files (default: `AWS_PROFILE`).
    #[arg(long)]
    pub profile: Option<String>,
    /// The most Bedrock calls in flight (1 to 1024); the client adapts below
    /// it on throttling.
    #[arg(long, value_parser = crate::ranged::<1, { crate::settings::MAX_CONCURRENCY }>)]
    pub concurrency: Option<usize>,
    /// Where to cache embeddings (default: ~/.cache/embedrock/embeddings).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Cut over-long texts to the model's limit instead of failing them.
    #[arg(long, conflicts_with = "chunk")]
    pub truncate: bool,
    /// Embed over-long texts in pieces within the limit and average the
    /// pieces' vectors (weighted by tokens) instead of failing them.
    #[arg(long)]
    pub chunk: bool,
    /// The body format of an ARN that does not name its model
    /// (titan-text-v1, titan-text-v2, titan-multimodal, cohere-v3, cohere-v4).
    #[arg(long, value_parser = config::parse_family)]
    pub family: Option<embedrock_core::Family>,
}

/// The settings after flags, environment and file.
pub fn resolve(args: &BedrockArgs, model: Option<&str>, dims: Option<usize>) -> Result<Resolved> {
    let file = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?;
            Some(
                FileConfig::from_yaml(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", p.display()))?,
            )
        }
        None => None,
    };
    let flags = Flags {
        model: model.map(str::to_string),
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        concurrency: args.concurrency,
        cache_dir: args.cache_dir.clone(),
        no_cache: args.no_cache,
        truncate: args.truncate,
        chunk: args.chunk,
        dimensions: dims,
        family: args.family,
    };
    crate::settings::resolve(&flags, file.as_ref(), &|k| std::env::var(k).ok())
        .map_err(anyhow::Error::msg)
}

/// `models list --source bedrock`.
pub async fn models_list(args: &BedrockArgs, provider: Option<&str>, json: bool) -> Result<()> {
    let resolved = resolve(args, None, None)?;
    let provider = provider.map(|p| {
        let mut c = p.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    });
    let models = list_embedding_models(&resolved.settings, provider.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &models)?;
        out.write_all(b"\n")?;
    } else {
        writeln!(
            out,
            "{:<36} {:<10} {:<8} name",
            "model id", "provider", "status"
        )?;
        for m in &models {
            writeln!(
                out,
                "{:<36} {:<10} {:<8} {}",
                m.model_id,
                m.provider.as_deref().unwrap_or("-"),
                m.lifecycle.as_deref().unwrap_or("-"),
                m.name.as_deref().unwrap_or("-")
            )?;
        }
    }
    Ok(())
}

/// `config check`: the resolved configuration, secrets redacted, with the
/// source of each value.
pub fn config_check(args: &BedrockArgs, model: Option<&str>) -> Result<()> {
    let resolved = resolve(args, model, None)?;
    let doc = serde_json::to_value(resolved.redacted())?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `embedrock config ...`.
#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved Bedrock configuration (secrets redacted) and where
    /// each value came from.
    Check(ConfigCheckArgs),
}

/// Arguments of `config check`.
#[derive(Args)]
pub struct ConfigCheckArgs {
    /// The model id (default: `EMBEDROCK_MODEL`, then the file's `model`).
    #[arg(long, short)]
    pub model: Option<String>,
    #[command(flatten)]
    pub bedrock: BedrockArgs,
}

/// Runs a `config` subcommand.
pub fn config_command(cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Check(a) => config_check(&a.bedrock, a.model.as_deref()),
    }
}
