//! `embedrock bench notebook`: the seed notebook's steps against any
//! provider (list the embedding models, embed its prompt at each size with
//! normalisation on and off, compare its sentences by cosine), then what it
//! could not show: the retrieval quality of each size on a labelled set.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use embedrock_bench::debian::{self, DebianOptions};
use embedrock_bench::{RunOptions, VectorType};
use embedrock_core::{math, Catalogue, DynEmbedder, EmbedRequest, Provider};

use crate::bedrock::BedrockArgs;

/// The notebook's prompt.
const PROMPT: &str =
    "Amazon Bedrock supports foundation models from industry-leading providers such as \
AI21 Labs, Anthropic, Stability AI, and Amazon. Choose the model that is best suited to achieving \
your unique goals.";

/// The notebook's sentences and the pairs it compares.
const TEXTS: [&str; 4] = [
    "Python is a programming language",
    "i have to go to the market",
    "Its a sunny day",
    "Today it may not be raining",
];
const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (2, 3)];

/// `embedrock bench notebook`.
#[derive(Args)]
pub struct NotebookArgs {
    /// The model (default: Titan Text Embeddings V2 when a Bedrock endpoint
    /// is given, else the local default model).
    #[arg(long, short)]
    model: Option<String>,
    /// A BEIR-format set for the quality step (default: a Debian set of
    /// --size documents built in a temporary directory).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Documents of the Debian set built for the quality step (10 to 100000).
    #[arg(long, default_value_t = 500, value_parser = crate::ranged::<10, { debian::MAX_SIZE }>)]
    size: usize,
    /// CPU threads for a local model and for search (default: every core).
    #[arg(long, value_parser = crate::ranged::<1, { crate::MAX_THREADS }>)]
    threads: Option<usize>,
    #[command(flatten)]
    bedrock: BedrockArgs,
}

fn sizes(embedder: &DynEmbedder) -> Vec<usize> {
    let facts = embedder.facts();
    let native = embedder.dimensions();
    if facts.provider == Provider::Local {
        // Local models: the native size and Matryoshka cuts of it.
        let mut sizes: Vec<usize> = [native / 3, 2 * native / 3, native]
            .into_iter()
            .filter(|d| *d > 0)
            .collect();
        sizes.dedup();
        sizes
    } else {
        facts.dimensions.clone()
    }
}

fn show(v: &[f32]) -> String {
    let f = |x: &[f32]| x.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>();
    if v.len() <= 6 {
        return format!("[{}]", f(v).join(", "));
    }
    format!(
        "[{}, ..., {}]",
        f(&v[..3]).join(", "),
        f(&v[v.len() - 3..]).join(", ")
    )
}

async fn list_models(args: &NotebookArgs, bedrock: bool, out: &mut impl Write) -> Result<()> {
    writeln!(out, "## Embedding models")?;
    if bedrock {
        let resolved = crate::bedrock::resolve(&args.bedrock, None, None)?;
        let models =
            embedrock_bedrock::client::list_embedding_models(&resolved.settings, None).await?;
        for m in models {
            writeln!(out, "{}", m.model_id)?;
        }
    } else {
        for m in Catalogue::local() {
            writeln!(out, "{} (local)", m.id)?;
        }
    }
    Ok(())
}

async fn embed_prompt(embedder: &DynEmbedder, out: &mut impl Write) -> Result<()> {
    writeln!(out, "\n## The prompt at each size, normalize on and off")?;
    let facts = embedder.facts();
    let local = facts.provider == Provider::Local;
    for d in sizes(embedder) {
        for normalize in [false, true] {
            if !local && !facts.normalize_option && !normalize {
                continue;
            }
            let asked = if local {
                (d < embedder.dimensions()).then_some(d)
            } else {
                (facts.dimensions.len() > 1).then_some(d)
            };
            let request = EmbedRequest::new([PROMPT])
                .with_dimensions(asked)
                .with_normalize(normalize);
            let response = embedder.embed(request).await?;
            let Some(v) = response.vectors.first() else {
                bail!("{} returned no vector", embedder.model_id());
            };
            writeln!(
                out,
                "dimensions {d:>4}, normalize {normalize:<5}: the embedding vector has {} values {}; norm {:.7}",
                v.len(),
                show(v),
                math::norm(v)
            )?;
        }
    }
    Ok(())
}

async fn compare(embedder: &DynEmbedder, out: &mut impl Write) -> Result<()> {
    writeln!(out, "\n## Cosine similarity of the notebook's sentences")?;
    let response = embedder.embed(EmbedRequest::new(TEXTS)).await?;
    for (a, b) in PAIRS {
        let (Some(x), Some(y)) = (response.vectors.get(a), response.vectors.get(b)) else {
            bail!("{} returned too few vectors", embedder.model_id());
        };
        writeln!(
            out,
            "{:>8.4}  {:?} / {:?}",
            math::cosine(x, y),
            TEXTS[a],
            TEXTS[b]
        )?;
    }
    Ok(())
}

pub async fn run(args: NotebookArgs, quiet: bool) -> Result<()> {
    let endpoint = args.bedrock.endpoint_url.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").is_some();
    let spec = args.model.clone().unwrap_or_else(|| {
        if endpoint {
            "amazon.titan-embed-text-v2:0".to_string()
        } else {
            Catalogue::LOCAL_DEFAULT.to_string()
        }
    });
    let threads = args.threads.unwrap_or_else(crate::default_threads);
    let target =
        crate::bench_run::open_target(&spec, &args.bedrock, 32, threads, None, quiet).await?;
    let bedrock = target.embedder.facts().provider != Provider::Local;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# The seed notebook with {}",
        target.embedder.model_id()
    )?;
    list_models(&args, bedrock, &mut out).await?;
    embed_prompt(&target.embedder, &mut out).await?;
    compare(&target.embedder, &mut out).await?;
    drop(out);
    quality(&args, target, threads, quiet).await
}

/// What the notebook could not show: nDCG@10 and Recall@10 per size.
async fn quality(
    args: &NotebookArgs,
    mut target: embedrock_bench::Target,
    threads: usize,
    quiet: bool,
) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let dir = match &args.dataset {
        Some(d) => d.clone(),
        None => {
            let dir = scratch.path().join("debian");
            let options = DebianOptions {
                size: args.size,
                ..DebianOptions::default()
            };
            if let Err(e) = debian::build(&options, &dir) {
                println!(
                    "\n## Retrieval quality per size\nnot measured: no labelled set ({e}); \
                     give one with --dataset DIR"
                );
                return Ok(());
            }
            dir
        }
    };
    let dataset = crate::bench_run::load_dataset(&dir, "test")?;
    target.dimensions = sizes(&target.embedder);
    let options = RunOptions {
        ks: vec![10],
        output_types: vec![VectorType::Float],
        rescore: None,
        cache_dir: scratch.path().join("cache"),
        ignore_identical_ids: false,
        threads,
    };
    let progress = crate::bench_run::progress_bars(crate::progress::enabled(quiet));
    let results = embedrock_bench::run(&dataset, &[target], &options, &progress).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n## Retrieval quality per size (what the notebook could not show)\n\
         {}: {} documents, {} queries, split {}",
        dataset.name, results.dataset.documents, results.dataset.queries, results.dataset.split
    )?;
    writeln!(
        out,
        "{:>10}  {:>8}  {:>9}",
        "dimensions", "nDCG@10", "Recall@10"
    )?;
    for r in &results.results {
        writeln!(
            out,
            "{:>10}  {:>8.4}  {:>9.4}",
            r.dimensions,
            r.metric("ndcg@10").unwrap_or(f64::NAN),
            r.metric("recall@10").unwrap_or(f64::NAN)
        )?;
    }
    Ok(())
}
