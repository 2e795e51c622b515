//! The embedded store's search benchmark: loads vectors into a SQLite store,
//! then times top-k searches by every path (exact, int8 and binary with
//! rescoring, the approximate index at several search-list lengths) and
//! measures their recall against exact search. Also the machine's memory
//! read bandwidth, ingest rate and bytes on disk per vector.
//!
//! ```text
//! store_bench --vectors V.f32 --queries Q.f32 --dims 384 --db DIR \
//!             [--k 10] [--ef 32,48,64,128,256] [--m 32] [--ef-construction 100]
//!             [--truth TRUTH.json] [--out RESULTS.json]
//! ```
//!
//! Vector files are little-endian `f32`, row after row. `--truth` writes
//! the exact top-k rows of every query (for other engines' recall);
//! `--out` writes every figure as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use embedrock_core::OutputType;
use embedrock_store::{
    Filter, HnswParams, Identity, NewRecord, Scope, Search, SearchPath, SqliteStore, VectorStore,
};
use serde_json::{json, Value};

struct Args {
    vectors: PathBuf,
    queries: PathBuf,
    dims: usize,
    db: PathBuf,
    k: usize,
    efs: Vec<usize>,
    truth: Option<PathBuf>,
    out: Option<PathBuf>,
    hnsw: HnswParams,
    /// Skip the approximate index (build and searches).
    no_index: bool,
}

fn args() -> Args {
    let mut a = Args {
        vectors: PathBuf::new(),
        queries: PathBuf::new(),
        dims: 384,
        db: PathBuf::from("store-bench"),
        k: 10,
        efs: vec![32, 48, 64, 128, 256],
        truth: None,
        out: None,
        hnsw: HnswParams::default(),
        no_index: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-index" {
            a.no_index = true;
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--vectors" => a.vectors = value.into(),
            "--queries" => a.queries = value.into(),
            "--dims" => a.dims = value.parse().expect("--dims"),
            "--db" => a.db = value.into(),
            "--k" => a.k = value.parse().expect("--k"),
            "--ef" => a.efs = value.split(',').map(|x| x.parse().expect("--ef")).collect(),
            "--truth" => a.truth = Some(value.into()),
            "--out" => a.out = Some(value.into()),
            "--m" => a.hnsw.m = value.parse().expect("--m"),
            "--ef-construction" => {
                a.hnsw.ef_construction = value.parse().expect("--ef-construction")
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Read bandwidth in GB/s summing a 1 GiB buffer on `threads` threads.
fn bandwidth(threads: usize) -> f64 {
    let buf: Vec<f32> = (0..(1usize << 28)).map(|i| (i % 7) as f32).collect();
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        let step = buf.len() / threads;
        let total: f32 = std::thread::scope(|s| {
            let parts: Vec<_> = buf
                .chunks(step)
                .map(|part| {
                    s.spawn(move || {
                        let mut acc = [0f32; 16];
                        for c in part.chunks_exact(16) {
                            for l in 0..16 {
                                acc[l] += c[l];
                            }
                        }
                        acc.iter().sum::<f32>()
                    })
                })
                .collect();
            parts.into_iter().map(|p| p.join().unwrap()).sum()
        });
        std::hint::black_box(total);
        best = best.max((buf.len() * 4) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum()
    })
}

fn row_of(hit: &embedrock_store::Hit) -> usize {
    hit.record.text[4..].parse().unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times `path` over every query; returns (p50 ms, p99 ms, recall, rows).
async fn run(
    store: &SqliteStore,
    queries: &[&[f32]],
    k: usize,
    path: SearchPath,
    truth: Option<&[Vec<usize>]>,
) -> (f64, f64, f64, Vec<Vec<usize>>) {
    let mut times = Vec::with_capacity(queries.len());
    let mut rows = Vec::with_capacity(queries.len());
    for q in queries {
        let s = Search {
            vector: q.to_vec(),
            top_k: k,
            threshold: None,
            filter: Filter::All,
            path,
        };
        let t = Instant::now();
        let r = store.search_traced("bench", &s).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.path, path, "asked for {path:?}");
        rows.push(r.hits.iter().map(row_of).collect::<Vec<_>>());
    }
    times.sort_by(f64::total_cmp);
    let recall = truth.map_or(1.0, |truth| {
        let found: usize = truth
            .iter()
            .zip(&rows)
            .map(|(t, r)| {
                let t: HashSet<_> = t.iter().collect();
                r.iter().filter(|x| t.contains(x)).count()
            })
            .sum();
        found as f64 / (truth.len() * k) as f64
    });
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        recall,
        rows,
    )
}

async fn ingest(store: &SqliteStore, data: &[f32], dims: usize) -> f64 {
    let identity = Identity {
        provider: "Local".into(),
        model: "bench-vectors".into(),
        dimensions: dims,
        normalize: true,
        output_type: OutputType::Float,
    };
    store.ensure_collection("bench", &identity).await.unwrap();
    let t = Instant::now();
    for (b, chunk) in data.chunks(dims * 5000).enumerate() {
        let records = chunk
            .chunks_exact(dims)
            .enumerate()
            .map(|(i, v)| NewRecord {
                text: format!("row {}", b * 5000 + i),
                scope: Scope::user("bench"),
                metadata: Default::default(),
                origin: None,
                vector: v.to_vec(),
            })
            .collect();
        store.insert("bench", records).await.unwrap();
    }
    (data.len() / dims) as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let data = read_f32(&a.vectors);
    let qdata = read_f32(&a.queries);
    let n = data.len() / a.dims;
    let queries: Vec<&[f32]> = qdata.chunks_exact(a.dims).collect();
    eprintln!("{n} vectors, {} queries, {} dims", queries.len(), a.dims);
    let bw1 = bandwidth(1);
    let bw = bandwidth(std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!("read bandwidth: {bw1:.1} GB/s one thread, {bw:.1} GB/s all threads");

    std::fs::create_dir_all(&a.db).unwrap();
    let db = a.db.join("store.db");
    let _ = std::fs::remove_file(&db);
    let store = SqliteStore::open(&db).unwrap().with_hnsw(a.hnsw).unwrap();
    let ingest_rate = ingest(&store, &data, a.dims).await;
    drop(data);
    let t = Instant::now();
    let (_, _, _, _) = run(&store, &queries[..1], a.k, SearchPath::Exact, None).await;
    let load_s = t.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    eprintln!(
        "ingest {ingest_rate:.0} vectors/s, load {load_s:.2} s, {} bytes/vector",
        db_bytes / n as u64
    );

    let (p50, p99, _, truth) = run(&store, &queries, a.k, SearchPath::Exact, None).await;
    let gbs = (n * a.dims * 4) as f64 / (p50 / 1e3) / 1e9;
    let mut results = vec![
        json!({"engine": "embedded", "path": "exact", "p50_ms": p50, "p99_ms": p99, "recall": 1.0, "gb_s": gbs}),
    ];
    eprintln!("exact: p50 {p50:.2} ms p99 {p99:.2} ms ({gbs:.1} GB/s)");
    for path in [SearchPath::Int8, SearchPath::Binary] {
        let (p50, p99, recall, _) = run(&store, &queries, a.k, path, Some(&truth)).await;
        eprintln!(
            "{}: p50 {p50:.2} ms p99 {p99:.2} ms recall {recall:.4}",
            path.as_str()
        );
        results.push(json!({"engine": "embedded", "path": path.as_str(), "p50_ms": p50, "p99_ms": p99, "recall": recall}));
    }
    let (mut build_s, mut index_bytes, mut reopen_s) = (0.0, 0, 0.0);
    if !a.no_index {
        let t = Instant::now();
        store.build_index("bench").await.unwrap();
        build_s = t.elapsed().as_secs_f64();
        index_bytes = dir_bytes(store.index_dir());
        eprintln!(
            "index built in {build_s:.1} s, {} bytes/vector on disk",
            index_bytes / n as u64
        );
        for ef in &a.efs {
            let s = store.clone().with_ef(*ef);
            let (p50, p99, recall, _) =
                run(&s, &queries, a.k, SearchPath::Approximate, Some(&truth)).await;
            eprintln!("approximate ef={ef}: p50 {p50:.3} ms p99 {p99:.3} ms recall {recall:.4}");
            results.push(json!({"engine": "embedded", "path": format!("approximate ef={ef}"), "p50_ms": p50, "p99_ms": p99, "recall": recall}));
        }
        // A fresh handle opens the saved index instead of building it.
        let t = Instant::now();
        let reopened = SqliteStore::open(&db).unwrap();
        run(&reopened, &queries[..1], a.k, SearchPath::Approximate, None).await;
        reopen_s = t.elapsed().as_secs_f64();
        eprintln!("reopen (load rows + saved index): {reopen_s:.2} s");
    }
    // Bandwidth again at the end: the better of the two readings counts,
    // so a reading taken while something else ran does not flatter the scan.
    let bw_end = bandwidth(std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!("read bandwidth at the end: {bw_end:.1} GB/s all threads");

    if let Some(path) = &a.truth {
        std::fs::write(path, serde_json::to_vec(&truth).unwrap()).unwrap();
    }
    let report: Value = json!({
        "vectors": n, "dims": a.dims, "queries": queries.len(), "k": a.k,
        "read_gb_s_1_thread": bw1, "read_gb_s_all_threads": bw.max(bw_end),
        "read_gb_s_all_threads_start": bw, "read_gb_s_all_threads_end": bw_end,
        "ingest_vectors_per_s": ingest_rate, "load_s": load_s,
        "db_bytes_per_vector": db_bytes as f64 / n as f64,
        "index_bytes_per_vector": index_bytes as f64 / n as f64,
        "index_build_s": build_s, "reopen_s": reopen_s,
        "hnsw_m": a.hnsw.m, "hnsw_ef_construction": a.hnsw.ef_construction,
        "kernel": embedrock_core::kernels::detect().name,
        "results": results,
    });
    match &a.out {
        Some(p) => std::fs::write(p, serde_json::to_vec_pretty(&report).unwrap()).unwrap(),
        None => println!("{}", serde_json::to_string_pretty(&report).unwrap()),
    }
}
