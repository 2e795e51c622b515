//! `embedrock bench run | dataset | eval | report`: retrieval quality,
//! speed, storage and cost of models, dimensions and vector types on a
//! labelled set.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use embedrock_bench::dataset::Dataset;
use embedrock_bench::debian::{self, DebianOptions};
use embedrock_bench::{metrics, report, Progress, RunOptions, Target, VectorType};
use embedrock_core::Catalogue;
use embedrock_local::{LocalOptions, Precision};
use indicatif::ProgressBar;

use crate::bedrock::BedrockArgs;
use crate::open::OpenSettings;

/// `embedrock bench run`.
#[derive(Args)]
pub struct RunArgs {
    /// A BEIR-format directory (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv);
    /// `embedrock bench dataset debian` builds one.
    #[arg(long)]
    dataset: PathBuf,
    /// The split whose judgements score the run.
    #[arg(long, default_value = "test")]
    split: String,
    /// A model to run (repeat for several; default: the local default model).
    #[arg(long = "model", short)]
    models: Vec<String>,
    /// Dimensions to score, comma-separated (default: every size a Bedrock
    /// model accepts, a local model's native size). Local models are cut
    /// to smaller sizes (Matryoshka truncation).
    #[arg(long, value_delimiter = ',')]
    dimensions: Vec<usize>,
    /// Stored forms to score, comma-separated: float, int8, binary.
    #[arg(long, value_delimiter = ',', default_value = "float,int8,binary")]
    output_type: Vec<VectorType>,
    /// Also re-rank the top N of int8 and binary search by float cosine (1 to 10000).
    #[arg(long, value_parser = crate::ranged::<1, { embedrock_bench::run::MAX_RESCORE }>)]
    rescore: Option<usize>,
    /// Cut-offs of the metrics, comma-separated (1 to 1000).
    #[arg(long = "k", value_delimiter = ',', default_value = "1,3,5,10,100")]
    ks: Vec<usize>,
    /// Leave out retrieved documents whose id equals the query's id.
    #[arg(long)]
    ignore_identical_ids: bool,
    /// Where results.json, summary.md, report.html, mteb/ and the embedding
    /// cache go. Running again with the same directory resumes from the cache.
    #[arg(long)]
    out: PathBuf,
    /// Texts per call to a local model (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = crate::ranged::<1, { crate::MAX_BATCH_SIZE }>)]
    batch_size: usize,
    /// CPU threads for a local model and for search, 1 to 256 (default: every core).
    #[arg(long, env = "EMBEDROCK_THREADS", value_parser = crate::ranged::<1, { crate::MAX_THREADS }>)]
    threads: Option<usize>,
    /// The dense layers' arithmetic of local models: fp32 (default), int8 or
    /// bf16. Vectors of each precision have their own cache under --out.
    /// Default: $EMBEDROCK_PRECISION, else fp32.
    #[arg(long, value_parser = crate::open::parse_precision)]
    precision: Option<Precision>,
    #[command(flatten)]
    bedrock: BedrockArgs,
}

/// `embedrock bench dataset`.
#[derive(Subcommand)]
pub enum DatasetCommand {
    /// A labelled set from Debian's package descriptions: the short
    /// description is the query, its long description the relevant document.
    Debian(DebianArgs),
}

/// `embedrock bench dataset debian`.
#[derive(Args)]
pub struct DebianArgs {
    /// The directory to write (BEIR format).
    #[arg(long)]
    out: PathBuf,
    /// Documents (and queries), 1 to 100000.
    #[arg(long, default_value_t = 3000, value_parser = crate::ranged::<1, { debian::MAX_SIZE }>)]
    size: usize,
    /// Seed of the sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Translation-en index files to read (default: every one APT has).
    #[arg(long = "index")]
    indexes: Vec<PathBuf>,
    /// Fewest words of a long description, 1 to 1000.
    #[arg(long, default_value_t = 20, value_parser = crate::ranged::<1, 1000>)]
    min_words: usize,
}

/// `embedrock bench eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Judgements: TREC qrels (`qid 0 docid rel`) or BEIR TSV with a header.
    #[arg(long)]
    qrels: PathBuf,
    /// A TREC run file (`qid Q0 docid rank score tag`).
    #[arg(long)]
    run: PathBuf,
    /// Cut-offs, comma-separated (1 to 1000).
    #[arg(long = "k", value_delimiter = ',', default_value = "1,3,5,10,100")]
    ks: Vec<usize>,
    /// Leave out retrieved documents whose id equals the query's id.
    #[arg(long)]
    ignore_identical_ids: bool,
    /// Print each query's metrics too.
    #[arg(long)]
    per_query: bool,
}

/// `embedrock bench report`.
#[derive(Args)]
pub struct ReportArgs {
    /// A results.json written by `bench run`.
    #[arg(long)]
    results: PathBuf,
    /// The directory to write summary.md, report.html and mteb/ into.
    #[arg(long)]
    out: PathBuf,
}

/// The embedding cache's folder under `--out` for vectors of `precision`.
fn cache_name(precision: Precision) -> String {
    match precision {
        Precision::Fp32 => "cache".to_string(),
        p => format!("cache-{p}"),
    }
}

/// Opens one model for a benchmark: the Bedrock client's own cache is off,
/// so throughput is measured against the model (the run has its own cache).
pub async fn open_target(
    spec: &str,
    bedrock: &BedrockArgs,
    batch_size: usize,
    threads: usize,
    precision: Option<Precision>,
    quiet: bool,
) -> Result<Target> {
    let mut bedrock = bedrock.clone();
    bedrock.no_cache = true;
    let resolved = crate::bedrock::resolve(&bedrock, Some(spec), None)?;
    let settings = OpenSettings {
        batch_size,
        threads,
        bedrock: resolved.settings.clone(),
        quiet,
        precision,
    };
    let model = crate::open::open(spec, &settings).await?;
    let (batch_size, concurrency) = if model.is_bedrock() {
        (model.facts().max_batch.max(1), model.concurrency().max(1))
    } else {
        (batch_size, 1)
    };
    Ok(Target {
        embedder: model.embedder().clone(),
        dimensions: Vec::new(),
        batch_size,
        concurrency,
    })
}

/// A progress callback drawing one bar per embedding pass.
pub fn progress_bars(show: bool) -> impl Fn(Progress) + Send + Sync {
    let current: Mutex<Option<(String, ProgressBar)>> = Mutex::new(None);
    move |event| {
        let Ok(mut current) = current.lock() else {
            return;
        };
        match event {
            Progress::Embedding { label, done, total } => {
                let fresh = current.as_ref().is_none_or(|(l, _)| *l != label);
                if fresh {
                    if let Some((_, bar)) = current.take() {
                        bar.finish_and_clear();
                    }
                    let bar = crate::progress::items(total as u64, &label, show);
                    *current = Some((label, bar));
                }
                if let Some((_, bar)) = current.as_ref() {
                    bar.set_position(done as u64);
                }
            }
            Progress::Scoring { label } => {
                if let Some((_, bar)) = current.take() {
                    bar.finish_and_clear();
                }
                if show {
                    eprintln!("scoring {label}");
                }
            }
        }
    }
}

pub async fn run(args: RunArgs, quiet: bool) -> Result<()> {
    let dataset = load_dataset(&args.dataset, &args.split)?;
    let threads = args.threads.unwrap_or_else(crate::default_threads);
    let specs = if args.models.is_empty() {
        vec![Catalogue::LOCAL_DEFAULT.to_string()]
    } else {
        args.models.clone()
    };
    // The cache is keyed by model: vectors of another precision go apart.
    let precision = match args.precision {
        Some(p) => p,
        None => LocalOptions::from_env()?.precision,
    };
    let mut targets = Vec::new();
    for spec in &specs {
        let mut target = open_target(
            spec,
            &args.bedrock,
            args.batch_size,
            threads,
            args.precision,
            quiet,
        )
        .await?;
        target.dimensions = args.dimensions.clone();
        targets.push(target);
    }
    let options = RunOptions {
        ks: args.ks.clone(),
        output_types: args.output_type.clone(),
        rescore: args.rescore,
        cache_dir: args.out.join(cache_name(precision)),
        ignore_identical_ids: args.ignore_identical_ids,
        threads,
    };
    if !quiet {
        eprintln!(
            "{}: {} documents, {} scored queries; {} model(s), local ones at {precision}; cache in {}",
            dataset.name,
            dataset.corpus.len(),
            dataset.scored_queries().len(),
            targets.len(),
            options.cache_dir.display()
        );
    }
    let progress = progress_bars(crate::progress::enabled(quiet));
    let results = embedrock_bench::run(&dataset, &targets, &options, &progress).await?;
    let written = report::write_all(&results, &args.out)
        .with_context(|| format!("cannot write the report into {}", args.out.display()))?;
    print!("{}", report::markdown(&results));
    if !quiet {
        eprintln!(
            "ran in {:.1} s; wrote {}, {}, {} and {} MTEB files in {}",
            results.elapsed_s,
            written.results_json.display(),
            written.summary_md.display(),
            written.report_html.display(),
            written.mteb.len(),
            args.out.join("mteb").display()
        );
    }
    Ok(())
}

pub fn load_dataset(dir: &Path, split: &str) -> Result<Dataset> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory (build a set with `embedrock bench dataset debian --out DIR`)",
            dir.display()
        );
    }
    Ok(Dataset::load(dir, split)?)
}

pub fn dataset(cmd: DatasetCommand, quiet: bool) -> Result<()> {
    let DatasetCommand::Debian(args) = cmd;
    let options = DebianOptions {
        size: args.size,
        seed: args.seed,
        sources: args.indexes,
        min_words: args.min_words,
    };
    let built = debian::build(&options, &args.out)?;
    if !quiet {
        eprintln!(
            "read {} packages; left out {} (transitional, dummy or short) and {} near duplicates; \
             {} eligible; wrote {} documents and queries to {}",
            built.packages,
            built.filtered,
            built.duplicates,
            built.eligible,
            built.documents,
            args.out.display()
        );
    }
    Ok(())
}

pub fn eval(args: EvalArgs) -> Result<()> {
    if args.ks.is_empty()
        || args
            .ks
            .iter()
            .any(|k| !(1..=embedrock_bench::run::MAX_K).contains(k))
    {
        bail!("every --k must be 1 to {}", embedrock_bench::run::MAX_K);
    }
    let qrels = metrics::read_qrels(&args.qrels)?;
    let run = metrics::read_run(&args.run)?;
    let options = metrics::EvalOptions {
        ks: args.ks,
        ignore_identical_ids: args.ignore_identical_ids,
    };
    let evaluation = metrics::evaluate(&qrels, &run, &options);
    let json = metrics::evaluation_json(&evaluation, args.per_query);
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

pub fn report(args: ReportArgs) -> Result<()> {
    let results = report::read_results(&args.results)?;
    let written = report::write_all(&results, &args.out)
        .with_context(|| format!("cannot write the report into {}", args.out.display()))?;
    for f in [
        &written.results_json,
        &written.summary_md,
        &written.report_html,
    ]
    .into_iter()
    .chain(&written.mteb)
    {
        println!("{}", f.display());
    }
    Ok(())
}
