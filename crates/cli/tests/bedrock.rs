//! `embedrock embed` and `models list` with Bedrock models, run as a user
//! runs them, against a real Bedrock-compatible server (SigV4 on, 5xx
//! faults injected) with the local model behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;

use common::Server;

/// One server for the whole test binary.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| common::start(0.2, 11))
}

fn successes(s: &Server) -> u64 {
    let c = s.state.faults.counters();
    c.requests - c.internal_errors - c.unavailable
}

fn run(args: &[&str], endpoint_in_env: bool) -> Output {
    run_on(server(), args, endpoint_in_env)
}

fn run_on(s: &Server, args: &[&str], endpoint_in_env: bool) -> Output {
    let mut cmd = common::command(args);
    if endpoint_in_env {
        cmd.env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &s.url);
    } else {
        cmd.args(["--endpoint-url", &s.url]);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn embed_resumes_and_the_cache_pays_once() {
    // Its own server: this test counts the requests the server was paid
    // for, and the other tests of this binary run at the same time.
    let s = &common::start(0.2, 11);
    let run = |args: &[&str], endpoint_in_env: bool| run_on(s, args, endpoint_in_env);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    let body: String = (0..120)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"id": format!("doc-{i}"), "text": format!("passage {i} on topic {}", i % 9)})
            )
        })
        .collect();
    std::fs::write(&input, body).unwrap();
    let model = "amazon.titan-embed-text-v2:0";
    let (inp, a, b) = (
        input.to_str().unwrap(),
        dir.path().join("a.jsonl"),
        dir.path().join("b.jsonl"),
    );

    // A whole run: every item, in input order, through 5xx faults.
    run(
        &[
            "embed",
            "--model",
            model,
            "--input",
            inp,
            "--output-file",
            a.to_str().unwrap(),
            "--no-cache",
        ],
        false,
    );
    let full = lines(&a);
    assert_eq!(full.len(), 120);
    for (i, item) in full.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["id"], format!("doc-{i}"));
        assert_eq!(item["embedding"].as_array().unwrap().len(), 1024);
    }
    assert!(!Path::new(&format!("{}.state", a.display())).exists());

    // An interrupted run: 50 items written and recorded; the rest follows.
    let head: String = std::fs::read_to_string(&a)
        .unwrap()
        .lines()
        .take(50)
        .map(|l| format!("{l}\n"))
        .collect();
    // ...plus half a line the interrupted run had flushed past its last round.
    std::fs::write(&b, format!("{head}{{\"index\": 50, \"embe")).unwrap();
    std::fs::write(
        format!("{}.state", b.display()),
        serde_json::json!({"model": model, "input": inp, "items": 120, "done": 50}).to_string(),
    )
    .unwrap();
    let before = successes(s);
    run(
        &[
            "embed",
            "--model",
            model,
            "--input",
            inp,
            "--output-file",
            b.to_str().unwrap(),
            "--no-cache",
        ],
        true,
    );
    assert_eq!(
        successes(s) - before,
        70,
        "only the missing items are paid for"
    );
    assert_eq!(lines(&b), full);

    // The cache: a second run sends nothing.
    let cache = dir.path().join("cache");
    let c = dir.path().join("c.jsonl");
    let args = [
        "embed",
        "--model",
        model,
        "--input",
        inp,
        "--output-file",
        c.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    run(&args, false);
    let before = s.state.faults.counters().requests;
    run(&args, false);
    assert_eq!(
        s.state.faults.counters().requests,
        before,
        "all from the cache"
    );
    assert_eq!(lines(&c), full);
}

#[test]
fn models_list_and_config_check() {
    let o = run(&["models", "list", "--source", "bedrock", "--json"], false);
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"amazon.titan-embed-text-v2:0"), "{ids:?}");

    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("embedrock.yaml");
    std::fs::write(
        &yaml,
        "embedder:\n  provider: aws_bedrock\n  config:\n    model: cohere.embed-v4:0\n    aws_region: eu-west-1\n    api_key: sekrit-api-key\n    vector_dimension: 512\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(["config", "check", "--config", yaml.to_str().unwrap()])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_BEARER_TOKEN_BEDROCK")
        .env_remove("EMBEDROCK_MODEL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("sekrit"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "cohere.embed-v4:0");
    assert_eq!(v["dimensions"], 512);
    assert_eq!(v["settings"]["region"], "eu-west-1");
    assert_eq!(v["settings"]["api_key"], "<redacted>");
    assert_eq!(v["sources"]["region"], "file");
}

/// Runs the binary against the server without asserting success.
fn run_any(args: &[&str]) -> Output {
    let s = server();
    Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(args)
        .args(["--quiet", "--endpoint-url", &s.url])
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "dummy-secret")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("EMBEDROCK_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn similarity_and_quickstart_take_bedrock_models() {
    let pair = ["Its a sunny day", "Today it may not be raining"];
    let cos = |o: &Output| -> f64 { String::from_utf8_lossy(&o.stdout).trim().parse().unwrap() };
    let local = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(["similarity", "--quiet", pair[0], pair[1]])
        .env_remove("EMBEDROCK_CONFIG")
        .output()
        .unwrap();
    assert!(local.status.success());
    // The server answers every id with the local model, so the cosine is the
    // local one, reached over SigV4-signed HTTP through 5xx faults.
    for model in ["amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"] {
        let o = run(&["similarity", "--model", model, pair[0], pair[1]], false);
        assert!(
            (cos(&o) - cos(&local)).abs() < 2e-3,
            "{model}: {} vs {}",
            cos(&o),
            cos(&local)
        );
    }
    let o = run(
        &[
            "similarity",
            "--json",
            "--model",
            "cohere.embed-v4:0",
            "--dimensions",
            "256",
            "a",
            "b",
            "c",
        ],
        true,
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["model"], "cohere.embed-v4:0");
    assert_eq!(doc["matrix"].as_array().unwrap().len(), 3);
    assert!((doc["matrix"][2][2].as_f64().unwrap() - 1.0).abs() < 1e-4);

    let o = run(&["quickstart", "--model", "cohere.embed-english-v3"], false);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("model cohere.embed-english-v3 (1024 dimensions) from http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("cosine similarity:") && text.contains("[5] Amazon Bedrock"),
        "{text}"
    );

    // A dimension the model does not offer is refused before any call.
    let o = run_any(&[
        "similarity",
        "--model",
        "amazon.titan-embed-text-v2:0",
        "--dimensions",
        "300",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--dimensions 300 is not possible") && err.contains("256, 512, 1024"),
        "{err}"
    );
}

/// Whether bit `i` (most significant first) of packed `bytes` is set.
fn bit(bytes: &[i64], i: usize) -> bool {
    (bytes[i / 8] as u8) >> (7 - i % 8) & 1 == 1
}

#[test]
fn cohere_int8_and_binary_reach_the_output() {
    for format in ["jsonl", "json"] {
        let o = run(
            &[
                "embed",
                "--model",
                "cohere.embed-english-v3",
                "--output-types",
                "int8,binary",
                "--output",
                format,
                "--no-cache",
                "sunny day",
                "rain tomorrow",
            ],
            false,
        );
        let items: Vec<serde_json::Value> = if format == "json" {
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            // The client's own totals, as before: calls and attempts through the faults.
            let (calls, attempts) = (
                doc["totals"]["calls"].as_u64().unwrap(),
                doc["totals"]["attempts"].as_u64().unwrap(),
            );
            assert!(calls >= 1 && attempts >= calls, "{}", doc["totals"]);
            assert_eq!(doc["dimensions"], 1024);
            doc["data"].as_array().unwrap().clone()
        } else {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        assert_eq!(items.len(), 2, "{format}");
        for item in &items {
            let f: Vec<f64> = serde_json::from_value(item["embedding"].clone()).unwrap();
            let int8: Vec<i64> = serde_json::from_value(item["int8"].clone()).unwrap();
            let binary: Vec<i64> = serde_json::from_value(item["binary"].clone()).unwrap();
            assert_eq!(
                (f.len(), int8.len(), binary.len()),
                (1024, 1024, 128),
                "{format}"
            );
            for (i, x) in f.iter().enumerate() {
                if x.abs() > 1e-3 {
                    assert_eq!(int8[i] > 0, *x > 0.0, "{format}: int8 sign at {i}");
                    assert_eq!(bit(&binary, i), *x > 0.0, "{format}: binary bit {i}");
                }
            }
        }
    }
}

#[test]
fn a_failed_item_is_reported_in_its_place() {
    let long = "word ".repeat(12_000);
    let o = run_any(&[
        "embed",
        "--model",
        "amazon.titan-embed-text-v2:0",
        "--no-cache",
        "first",
        &long,
        "third",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 of 3 texts failed"));
    let items: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["embedding"].as_array().unwrap().len(), 1024);
    assert_eq!(items[1]["index"], 1);
    assert_eq!(items[1]["error"]["code"], "InputTooLong");
    assert!(items[1].get("embedding").is_none());
    assert_eq!(items[2]["embedding"].as_array().unwrap().len(), 1024);
    // Where a failed item cannot be written in place, the command fails.
    let o = run_any(&[
        "similarity",
        "--model",
        "amazon.titan-embed-text-v2:0",
        "--no-cache",
        "first",
        &long,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("input 1: InputTooLong"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
