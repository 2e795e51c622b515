//! The Bedrock side of the command line: `embed` with a Bedrock model,
//! `models list --source bedrock` and `config check`.
//!
//! Settings come from flags, then the environment, then a YAML file
//! (`--config`, or `$EMBEDROCK_CONFIG`), then the AWS SDK's chain; see
//! `embedrock_bedrock::client::config`. An `embed --input` run with
//! `--output-file` keeps a state file (`--resume`, default `<output>.state`)
//! recording how many items are written, so an interrupted run continues
//! where it stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use embedrock_bedrock::client::config::{self, FileConfig, Flags, Resolved};
use embedrock_bedrock::client::{list_embedding_models, BedrockEmbedder, Totals};
use embedrock_core::{Catalogue, EmbedRequest};

use crate::input::InputText;
use crate::{EmbedArgs, OutputFormat};

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
    /// The most Bedrock calls in flight; the client adapts below it on throttling.
    #[arg(long)]
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

/// Whether `model` is served by Bedrock rather than a local model.
pub fn is_bedrock_model(model: &str) -> bool {
    if let Some(info) = Catalogue::get(model) {
        return info.is_bedrock();
    }
    embedrock_bedrock::ModelId::parse(model)
        .map(|id| id.raw.starts_with("arn:") || id.model_info().is_some())
        .unwrap_or(false)
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
    let mut flags = Flags::default();
    flags.model = model.map(str::to_string);
    flags.region = args.region.clone();
    flags.profile = args.profile.clone();
    flags.endpoint_url = args.endpoint_url.clone();
    flags.concurrency = args.concurrency;
    flags.cache_dir = args.cache_dir.clone();
    flags.no_cache = args.no_cache;
    flags.truncate = args.truncate;
    flags.chunk = args.chunk;
    flags.dimensions = dims;
    flags.family = args.family;
    config::resolve(&flags, file.as_ref(), &|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct ResumeState {
    model: String,
    input: String,
    items: usize,
    done: usize,
}

fn write_state(path: &Path, state: &ResumeState) -> Result<()> {
    let tmp = path.with_extension("state.tmp");
    std::fs::write(&tmp, serde_json::to_vec(state)?)
        .with_context(|| format!("cannot write resume state {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot write resume state {}", path.display()))?;
    Ok(())
}

/// Opens `path` for appending after its first `lines` lines, cutting off
/// anything an interrupted run wrote past the last recorded round.
fn open_after_lines(path: &Path, lines: usize) -> Result<std::fs::File> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {} to resume", path.display()))?;
    let mut seen = 0usize;
    let mut keep = None;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            seen += 1;
            if seen == lines {
                keep = Some(i + 1);
                break;
            }
        }
    }
    let Some(keep) = keep else {
        bail!(
            "{} holds fewer than the {lines} lines its resume state records; delete the state file to start again",
            path.display()
        );
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} to resume", path.display()))?;
    f.set_len(keep as u64)?;
    let mut f = f;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
    Ok(f)
}

/// Texts per round: output is written and the resume state saved after each.
const ROUND: usize = 512;

/// `embed` with a Bedrock model.
pub async fn embed(
    args: &EmbedArgs,
    texts: Vec<InputText>,
    model: &str,
    quiet: bool,
) -> Result<()> {
    let resolved = resolve(&args.bedrock, Some(model), args.dimensions)?;
    let provider = BedrockEmbedder::connect(model, resolved.settings.clone()).await?;
    let total = texts.len();
    // Resuming needs a file to append to.
    let state_path = match (&args.resume, &args.output_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(out)) if args.output == OutputFormat::Jsonl => {
            Some(PathBuf::from(format!("{}.state", out.display())))
        }
        _ => None,
    };
    if state_path.is_some() && (args.output != OutputFormat::Jsonl || args.output_file.is_none()) {
        bail!("--resume needs --output jsonl and --output-file");
    }
    let input_name = args
        .input
        .as_ref()
        .map_or_else(|| "arguments".to_string(), |p| p.display().to_string());
    let mut done = 0usize;
    if let Some(sp) = &state_path {
        if let Ok(bytes) = std::fs::read(sp) {
            let st: ResumeState = serde_json::from_slice(&bytes)
                .with_context(|| format!("resume state {} is unreadable", sp.display()))?;
            if st.model != model || st.input != input_name || st.items != total {
                bail!(
                    "resume state {} belongs to another run ({} on {}, {} items); delete it to start again",
                    sp.display(),
                    st.model,
                    st.input,
                    st.items
                );
            }
            done = st.done.min(total);
        }
    }
    let mut out: Box<dyn Write> = match (&args.output_file, done > 0) {
        (Some(p), true) => Box::new(std::io::BufWriter::new(open_after_lines(p, done)?)),
        _ => crate::output_sink(args.output_file.as_ref(), args.output == OutputFormat::Npy)?,
    };
    if done > 0 && !quiet {
        eprintln!("resuming after {done} of {total} items already written");
    }

    let show = crate::progress::enabled(quiet);
    let bar = crate::progress::items(total as u64, "embedding", show);
    bar.set_position(done as u64);
    let started = Instant::now();
    let ticker = {
        let bar = bar.clone();
        let p = provider.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                bar.set_message(live_message(&p.totals(), p.concurrency()));
            }
        })
    };
    let mut request = EmbedRequest::new(Vec::<String>::new())
        .with_input_type(resolved.input_type.unwrap_or(args.input_type))
        .with_dimensions(resolved.dimensions)
        .with_normalize(!args.no_normalize && resolved.normalize.unwrap_or(true))
        .with_output_types(args.output_types.clone());
    let mut json_items = Vec::new();
    let mut all_vectors = Vec::new();
    let mut failed = 0usize;
    let mut index = done;
    for round in texts[done..].chunks(ROUND) {
        request.texts = round.iter().map(|t| t.text.clone()).collect();
        let results = provider.embed_items(&request).await;
        for (k, r) in results.into_iter().enumerate() {
            let mut item = match r {
                Ok(it) => {
                    let mut v = serde_json::json!({
                        "index": index,
                        "embedding": it.vector,
                        "tokens": it.tokens,
                    });
                    crate::add_typed(&mut v, &it.typed, 0);
                    if args.output == OutputFormat::Npy {
                        all_vectors.push(it.vector);
                    }
                    v
                }
                Err(e) => {
                    failed += 1;
                    if args.output == OutputFormat::Npy {
                        bail!(
                            "input {index}: {} (npy output cannot hold a failed item)",
                            e.message
                        );
                    }
                    serde_json::json!({
                        "index": index,
                        "error": {"code": e.code, "message": e.message, "attempts": e.attempts},
                    })
                }
            };
            if let Some(id) = &round[k].id {
                item["id"] = id.clone();
            }
            match args.output {
                OutputFormat::Jsonl => {
                    serde_json::to_writer(&mut out, &item)?;
                    out.write_all(b"\n")?;
                }
                OutputFormat::Json => json_items.push(item),
                OutputFormat::Npy => {}
            }
            index += 1;
        }
        out.flush()?;
        if let Some(sp) = &state_path {
            write_state(
                sp,
                &ResumeState {
                    model: model.to_string(),
                    input: input_name.clone(),
                    items: total,
                    done: index,
                },
            )?;
        }
        bar.set_position(index as u64);
    }
    ticker.abort();
    bar.finish_and_clear();
    match args.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "model": model,
                "data": json_items,
                "totals": provider.totals(),
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Npy => crate::output::write_npy(&mut out, &all_vectors)?,
        OutputFormat::Jsonl => {}
    }
    out.flush()?;
    if let Some(sp) = &state_path {
        let _ = std::fs::remove_file(sp);
    }
    let t = provider.totals();
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {} of {} texts with {model} in {secs:.2} s ({:.1} texts/s): {} calls, {} retries ({} throttled), {} tokens, ${:.6}; cache {} hits / {} lookups ({:.0}%)",
            total - done - failed,
            total - done,
            (total - done) as f64 / secs.max(1e-9),
            t.calls,
            t.retries,
            t.throttled,
            t.tokens,
            t.dollars,
            t.cache_hits,
            t.cache_hits + t.cache_misses,
            t.hit_rate() * 100.0,
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} texts failed; each is in the output with its reason",
            total - done
        );
    }
    Ok(())
}

fn live_message(t: &Totals, concurrency: usize) -> String {
    format!(
        "{} tok, ${:.4}, {} retries, {} in flight max",
        t.tokens, t.dollars, t.retries, concurrency
    )
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
    let doc = serde_json::to_value(&resolved)?;
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
