//! Texts per second and per CPU-second of the local engine on one text set,
//! for comparing two builds of this crate side by side with the same harness
//! (`embedrock bench speed` is the user-facing benchmark).
//!
//! ```console
//! $ cargo run -p embedrock-local --example speed -- MODEL_DIR TEXTS_FILE [THREADS] [BATCH] [LIMIT]
//! ```
//!
//! The other options come from the environment (`EMBEDROCK_PRECISION=int8`
//! and the rest of [`LocalOptions::from_env`]); the kernel path chosen is
//! printed with the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use embedrock_local::{LocalEmbedder, LocalOptions};

/// User + system CPU seconds of this process, from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime and
    // stime are the 12th and 13th, in clock ticks of 1/100 s.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let texts: Vec<String> = std::fs::read_to_string(&args[2])
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let threads: usize = args.get(3).map_or(2, |v| v.parse().unwrap());
    let batch: usize = args.get(4).map_or(32, |v| v.parse().unwrap());
    let limit: usize = args.get(5).map_or(texts.len(), |v| v.parse().unwrap());
    let texts = &texts[..limit.min(texts.len())];
    let options = LocalOptions::from_env()
        .unwrap()
        .with_threads(threads)
        .with_batch_size(batch);
    let model = LocalEmbedder::load(&dir, "all-minilm-l6-v2", options).unwrap();
    model
        .embed_sync(&texts[..batch.min(texts.len())], true)
        .unwrap();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let (vectors, tokens) = model.embed_sync(texts, true).unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(vectors.len(), texts.len());
    println!(
        "kernel {:?} texts {} tokens {} wall_s {wall:.2} cpu_s {cpu:.2} texts_per_s {:.1} texts_per_cpu_s {:.1}",
        model.kernel(),
        texts.len(),
        tokens.iter().sum::<usize>(),
        texts.len() as f64 / wall,
        texts.len() as f64 / cpu
    );
}
