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
    let settings = crate::open::OpenSettings {
        batch_size: args.batch_size,
        threads: args.threads,
        bedrock: Default::default(),
        quiet,
    };
    let model = crate::open::open_local(&args.model, &settings)?;
    let mut rows = Vec::new();
    for set in ["short", "passages"] {
        let texts = read_set(&args.data, set)?;
        // Warm-up: one batch, so page faults and first-touch costs are not timed.
        model.embed_sync(&texts[..args.batch_size.min(texts.len())], true)?;
        let mut best: Option<Row> = None;
        for _ in 0..args.repeat.max(1) {
            let cpu0 = cpu_seconds();
            let t0 = Instant::now();
            let (vectors, tokens) = model.embed_sync(&texts, true)?;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            if vectors.len() != texts.len() {
                bail!("got {} vectors for {} texts", vectors.len(), texts.len());
            }
            let row = Row {
                engine: format!("embedrock ({} threads)", args.threads),
                set: set.into(),
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
                eprintln!("{set}: {:.1} texts/s", b.texts_per_s);
            }
            rows.push(b);
        }
    }
    println!(
        "{:<24} {:<9} {:>6} {:>8} {:>8} {:>8} {:>10} {:>14}",
        "engine", "set", "texts", "tokens", "wall s", "cpu s", "texts/s", "texts/cpu-s"
    );
    for r in &rows {
        println!(
            "{:<24} {:<9} {:>6} {:>8} {:>8.2} {:>8.2} {:>10.1} {:>14.1}",
            r.engine, r.set, r.texts, r.tokens, r.wall_s, r.cpu_s, r.texts_per_s, r.texts_per_cpu_s
        );
    }
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
