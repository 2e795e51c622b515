//! `embedrock bench` as a user runs it: a labelled set built from this
//! machine's Debian package descriptions, runs with the real local model and
//! with Titan Text Embeddings V2 through a real Bedrock-compatible server
//! (SigV4, throttling and 5xx faults injected), resuming from the cache, and
//! the seed notebook as a command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

/// One server for the whole test binary; one request in ten fails with a 5xx.
fn server() -> &'static str {
    static SERVER: OnceLock<common::Server> = OnceLock::new();
    &SERVER.get_or_init(|| common::start(0.1, 5)).url
}

/// The runs embed with the real model on a machine of two cores; one at a
/// time keeps each within the server's request deadline.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

fn embedrock(args: &[&str]) -> Command {
    let mut cmd = common::command(args);
    cmd.env("EMBEDROCK_THREADS", "2")
        .env_remove("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
    cmd
}

fn ok(args: &[&str]) -> Output {
    let o = embedrock(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A labelled set of 100 packages from this machine's APT index.
fn debian_set() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep().join("debian");
        ok(&[
            "bench",
            "dataset",
            "debian",
            "--out",
            dir.to_str().unwrap(),
            "--size",
            "100",
            "--seed",
            "3",
        ]);
        dir
    })
}

fn results(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

fn config<'a>(r: &'a Value, dims: u64, kind: &str, rescore: Option<u64>) -> &'a Value {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["dimensions"] == dims && c["output_type"] == kind && c["rescore"].as_u64() == rescore
        })
        .unwrap_or_else(|| panic!("no {dims}d {kind} {rescore:?} in {r:#}"))
}

fn metric(c: &Value, name: &str) -> f64 {
    c[name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} missing in {c}"))
}

#[test]
fn a_debian_set_is_built_with_one_judgement_per_query() {
    let dir = debian_set();
    let corpus = std::fs::read_to_string(dir.join("corpus.jsonl")).unwrap();
    let queries = std::fs::read_to_string(dir.join("queries.jsonl")).unwrap();
    let qrels = std::fs::read_to_string(dir.join("qrels/test.tsv")).unwrap();
    assert_eq!(corpus.lines().count(), 100);
    assert_eq!(queries.lines().count(), 100);
    assert_eq!(qrels.lines().count(), 101);
    // The same seed gives the same set.
    let again = tempfile::tempdir().unwrap();
    ok(&[
        "bench",
        "dataset",
        "debian",
        "--out",
        again.path().to_str().unwrap(),
        "--size",
        "100",
        "--seed",
        "3",
    ]);
    assert_eq!(
        std::fs::read_to_string(again.path().join("corpus.jsonl")).unwrap(),
        corpus
    );
}

#[test]
fn a_local_run_scores_every_configuration_and_a_second_run_is_all_cached() {
    let _one = one_at_a_time();
    let out = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "run",
        "--dataset",
        debian_set().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--dimensions",
        "192,384",
        "--rescore",
        "20",
    ];
    let first = ok(&args);
    let r = results(out.path());
    // 2 sizes x (float, int8, int8 rescored, binary, binary rescored).
    assert_eq!(r["results"].as_array().unwrap().len(), 10);
    assert_eq!(r["dataset"]["documents"], 100);
    assert_eq!(r["dataset"]["queries"], 100);
    let float = config(&r, 384, "float", None);
    let ndcg = metric(float, "ndcg@10");
    // A short description finds its package's long description.
    assert!(ndcg > 0.5, "nDCG@10 {ndcg}");
    assert!(metric(float, "recall@100") >= metric(float, "recall@10"));
    assert_eq!(float["bytes_per_vector"], 1536);
    assert_eq!(config(&r, 384, "binary", None)["bytes_per_vector"], 48);
    assert_eq!(config(&r, 192, "int8", None)["index_bytes"], 19_200);
    // Rescoring binary's top 20 by float cosine gets closer to float.
    let binary = metric(config(&r, 384, "binary", None), "ndcg@10");
    let rescored = metric(config(&r, 384, "binary", Some(20)), "ndcg@10");
    assert!(rescored >= binary - 1e-9, "{binary} -> {rescored}");
    let pass = &r["embedding"][0];
    assert_eq!(pass["texts"], 200);
    assert_eq!(pass["cached_texts"], 0);
    assert!(pass["corpus_tokens"].as_u64().unwrap() > 1000);
    assert_eq!(pass["corpus_usd"], 0.0);
    for name in ["summary.md", "report.html"] {
        assert!(out.path().join(name).is_file(), "{name}");
    }
    let summary = String::from_utf8_lossy(&first.stdout);
    assert!(summary.contains("all-minilm-l6-v2"), "{summary}");

    ok(&args);
    let again = results(out.path());
    assert_eq!(again["embedding"][0]["cached_texts"], 200);
    // Nothing new was embedded; the speed is still the first run's.
    assert_eq!(again["embedding"][0]["calls"], r["embedding"][0]["calls"]);
    // (The call log keeps times to the microsecond.)
    let speed = |r: &Value| r["embedding"][0]["texts_per_s"].as_f64().unwrap();
    assert!(speed(&r) > 0.0);
    assert!(
        (speed(&again) / speed(&r) - 1.0).abs() < 1e-4,
        "{} {}",
        speed(&again),
        speed(&r)
    );
    // Search times differ from run to run; every score is the same.
    let strip = |r: &Value| -> Vec<Value> {
        let mut configs = r["results"].as_array().unwrap().clone();
        for c in &mut configs {
            c.as_object_mut().unwrap().remove("search_ms_per_query");
        }
        configs
    };
    assert_eq!(strip(&again), strip(&r));
}

#[test]
fn an_interrupted_run_resumes_from_what_it_embedded() {
    let _one = one_at_a_time();
    let out = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "run",
        "--dataset",
        debian_set().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--output-type",
        "float",
        "--batch-size",
        "8",
    ];
    let mut child = embedrock(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cache = out.path().join("cache");
    let deadline = Instant::now() + Duration::from_secs(300);
    let cached_bytes = || -> u64 {
        std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    // Stop it hard once a few calls are on disk.
    while cached_bytes() < 20 * 1576 {
        assert!(Instant::now() < deadline, "no embeddings were cached");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.path().join("results.json").exists());

    ok(&args);
    let r = results(out.path());
    let cached = r["embedding"][0]["cached_texts"].as_u64().unwrap();
    assert!((20..200).contains(&cached), "cached {cached}");
    assert!(metric(config(&r, 384, "float", None), "ndcg@10") > 0.5);
}

#[test]
fn bedrock_models_through_the_server_run_once_per_size_and_match_the_local_model() {
    let _one = one_at_a_time();
    let url = server();
    let out = tempfile::tempdir().unwrap();
    let dataset = debian_set().to_str().unwrap();
    ok(&[
        "bench",
        "run",
        "--dataset",
        dataset,
        "--out",
        out.path().to_str().unwrap(),
        "--model",
        "amazon.titan-embed-text-v2:0",
        "--model",
        "cohere.embed-v4:0",
        "--dimensions",
        "256,1024",
        "--output-type",
        "float",
        "--endpoint-url",
        url,
    ]);
    let r = results(out.path());
    let passes = r["embedding"].as_array().unwrap();
    assert_eq!(passes.len(), 4, "one embedding pass per model and size");
    assert_eq!(passes[0]["provider"], "amazon");
    assert_eq!(passes[0]["batch_size"], 1, "Titan takes one text per call");
    assert_eq!(passes[2]["provider"], "cohere");
    assert_eq!(
        passes[2]["batch_size"], 96,
        "Cohere takes up to 96 texts per call"
    );
    let usd = |pass: &Value, key: &str| pass[key].as_f64().unwrap();
    let tokens = usd(&passes[0], "corpus_tokens");
    assert!((usd(&passes[0], "corpus_usd") - tokens * 0.02 / 1e6).abs() < 1e-12);
    assert!((usd(&passes[0], "corpus_batch_usd") - tokens * 0.01 / 1e6).abs() < 1e-12);
    let tokens = usd(&passes[2], "corpus_tokens");
    assert!((usd(&passes[2], "corpus_usd") - tokens * 0.12 / 1e6).abs() < 1e-12);
    assert!(
        passes[2]["corpus_batch_usd"].is_null(),
        "no batch price is known"
    );

    // The server answers with the local model: cut to 256 it is the local
    // model cut to 256; padded to 1024 it is the local model's 384.
    let local = tempfile::tempdir().unwrap();
    ok(&[
        "bench",
        "run",
        "--dataset",
        dataset,
        "--out",
        local.path().to_str().unwrap(),
        "--dimensions",
        "256,384",
        "--output-type",
        "float",
    ]);
    let l = results(local.path());
    let served = |model: &str, dims: u64| {
        let c = r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["model"] == model && c["dimensions"] == dims)
            .unwrap();
        metric(c, "ndcg@10")
    };
    for model in ["amazon.titan-embed-text-v2:0", "cohere.embed-v4:0"] {
        for (asked, mini) in [(256, 256), (1024, 384)] {
            let a = served(model, asked);
            let b = metric(config(&l, mini, "float", None), "ndcg@10");
            assert!(
                (a - b).abs() < 1e-3,
                "{model} {asked}: {a}, local {mini}: {b}"
            );
        }
    }
}

#[test]
fn the_notebook_runs_its_steps_and_scores_each_size() {
    let _one = one_at_a_time();
    let url = server();
    let o = ok(&[
        "bench",
        "notebook",
        "--endpoint-url",
        url,
        "--dataset",
        debian_set().to_str().unwrap(),
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("amazon.titan-embed-text-v2:0"), "{text}");
    for d in [256, 512, 1024] {
        assert!(
            text.contains(&format!("the embedding vector has {d} values")),
            "{text}"
        );
    }
    assert!(
        text.contains("normalize false") && text.contains("normalize true"),
        "{text}"
    );
    assert!(
        text.contains("\"Its a sunny day\" / \"Today it may not be raining\""),
        "{text}"
    );
    let quality = text.split("Retrieval quality per size").nth(1).unwrap();
    let rows: Vec<&str> = quality
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert_eq!(rows.len(), 3, "{quality}");
}

#[test]
fn a_malformed_dataset_is_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        debian_set().join("corpus.jsonl"),
        dir.path().join("corpus.jsonl"),
    )
    .unwrap();
    std::fs::copy(
        debian_set().join("queries.jsonl"),
        dir.path().join("queries.jsonl"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("qrels")).unwrap();
    std::fs::write(
        dir.path().join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq-x\tno-such-document\t1\n",
    )
    .unwrap();
    let o = embedrock(&[
        "bench",
        "run",
        "--dataset",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("test.tsv line 2"), "{err}");
    assert!(err.contains("no-such-document"), "{err}");
}
