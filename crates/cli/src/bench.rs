//! `embedrock bench`: retrieval benchmarks (`run`, `dataset`, `eval`,
//! `report`, `notebook`) and `speed`, texts per second and per CPU-second of
//! the local engine on two text sets, the figures `docs/benchmarks.md`
//! records.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Score models x dimensions x vector types on a labelled set: quality,
    /// speed, storage and cost, with a report (results.json, summary.md,
    /// report.html, MTEB-shaped JSON).
    Run(crate::bench_run::RunArgs),
    /// Build a labelled set.
    #[command(subcommand)]
    Dataset(crate::bench_run::DatasetCommand),
    /// Score a TREC run file against judgements as trec_eval does.
    Eval(crate::bench_run::EvalArgs),
    /// Write the reports again from a results.json.
    Report(crate::bench_run::ReportArgs),
    /// The seed notebook's steps against a provider, and the quality it
    /// could not show.
    Notebook(crate::notebook::NotebookArgs),
    /// Throughput of a local model on short sentences and 200-word passages.
    Speed(SpeedArgs),
}

#[derive(Args)]
pub struct SpeedArgs {
    /// Directory holding short.txt and passages.txt, one text per line
    /// (written by scripts/bench/make_texts.py).
    #[arg(long)]
    data: PathBuf,
    /// The model.
    #[arg(long, short, default_value = embedrock_core::Catalogue::LOCAL_DEFAULT)]
    model: String,
    /// Texts per batch (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = crate::ranged::<1, { crate::MAX_BATCH_SIZE }>)]
    batch_size: usize,
    /// Threads (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = crate::ranged::<1, { crate::MAX_THREADS }>)]
    threads: usize,
    /// Timed passes over each set, 1 to 1000; the best is reported.
    #[arg(long, default_value_t = 1, value_parser = crate::ranged::<1, 1000>)]
    repeat: usize,
    /// Precisions to time, comma-separated (fp32, int8, bf16), one row per
    /// precision and set. Default: $EMBEDROCK_PRECISION, else fp32.
    #[arg(long, value_delimiter = ',', value_parser = crate::open::parse_precision)]
    precision: Vec<embedrock_local::Precision>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Row {
    engine: String,
    set: String,
    texts: usize,
    tokens: usize,
    wall_s: f64,
    cpu_s: f64,
    texts_per_s: f64,
    texts_per_cpu_s: f64,
}

pub async fn run(cmd: BenchCommand, quiet: bool) -> Result<()> {
    match cmd {
        BenchCommand::Run(args) => crate::bench_run::run(args, quiet).await,
        BenchCommand::Dataset(cmd) => crate::bench_run::dataset(cmd, quiet),
        BenchCommand::Eval(args) => crate::bench_run::eval(args),
        BenchCommand::Report(args) => crate::bench_run::report(args),
        BenchCommand::Notebook(args) => crate::notebook::run(args, quiet).await,
        BenchCommand::Speed(args) => speed(args, quiet),
    }
}

/// CPU time of this process so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer is always a defined call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn read_set(dir: &Path, name: &str) -> Result<Vec<String>> {
    let path = dir.join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (make it with scripts/bench/make_texts.py)",
            path.display()
        )
    })?;
    let texts: Vec<String> = text.lines().map(str::to_string).collect();
    if texts.is_empty() {
        bail!("{} holds no texts", path.display());
    }
    Ok(texts)
}

fn speed(args: SpeedArgs, quiet: bool) -> Result<()> {
    let precisions = if args.precision.is_empty() {
        vec![None]
    } else {
        args.precision.iter().copied().map(Some).collect()
    };
    let sets = ["short", "passages"]
        .into_iter()
        .map(|set| Ok((set, read_set(&args.data, set)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    for precision in precisions {
        let settings = crate::open::OpenSettings {
            batch_size: args.batch_size,
            threads: args.threads,
            bedrock: Default::default(),
            quiet,
            precision,
        };
        let model = crate::open::open_local(&args.model, &settings)?;
        let engine = format!("embedrock {} ({} threads)", model.kernel(), args.threads);
        rows.extend(time_sets(&model, &engine, &sets, &args, quiet)?);
    }
    println!(
        "{:<40} {:<9} {:>6} {:>8} {:>8} {:>8} {:>10} {:>14}",
        "engine", "set", "texts", "tokens", "wall s", "cpu s", "texts/s", "texts/cpu-s"
    );
    for r in &rows {
        println!(
            "{:<40} {:<9} {:>6} {:>8} {:>8.2} {:>8.2} {:>10.1} {:>14.1}",
            r.engine, r.set, r.texts, r.tokens, r.wall_s, r.cpu_s, r.texts_per_s, r.texts_per_cpu_s
        );
    }
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Times `model` over each set: a warm-up batch, then `args.repeat` passes,
/// the fastest kept.
fn time_sets(
    model: &embedrock_local::LocalEmbedder,
    engine: &str,
    sets: &[(&str, Vec<String>)],
    args: &SpeedArgs,
    quiet: bool,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (set, texts) in sets {
        // Warm-up: one batch, so page faults and first-touch costs are not timed.
        model.embed_sync(&texts[..args.batch_size.min(texts.len())], true)?;
        let mut best: Option<Row> = None;
        for _ in 0..args.repeat.max(1) {
            let cpu0 = cpu_seconds();
            let t0 = Instant::now();
            let (vectors, tokens) = model.embed_sync(texts, true)?;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            if vectors.len() != texts.len() {
                bail!("got {} vectors for {} texts", vectors.len(), texts.len());
            }
            let row = Row {
                engine: engine.to_string(),
                set: set.to_string(),
                texts: texts.len(),
                tokens: tokens.iter().sum(),
                wall_s: wall,
                cpu_s: cpu,
                texts_per_s: texts.len() as f64 / wall,
                texts_per_cpu_s: texts.len() as f64 / cpu,
            };
            if best.as_ref().is_none_or(|b| row.wall_s < b.wall_s) {
                best = Some(row);
            }
        }
        if let Some(b) = best {
            if !quiet {
                eprintln!("{engine}, {set}: {:.1} texts/s", b.texts_per_s);
            }
            rows.push(b);
        }
    }
    Ok(rows)
}
