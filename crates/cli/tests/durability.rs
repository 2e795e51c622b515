//! What survives a crash and what two writers do to one store: the real
//! binary, the real local model, a store file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn embedrock(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_embedrock"));
    c.env("EMBEDROCK_STORE", store)
        .env_remove("EMBEDROCK_MODEL")
        .arg("--quiet");
    c
}

fn write_texts(path: &Path, prefix: &str, n: usize) -> Vec<String> {
    let texts: Vec<String> = (0..n)
        .map(|i| format!("{prefix} note number {i} about topic {}", i % 17))
        .collect();
    let body: String = texts
        .iter()
        .map(|t| format!("{}\n", serde_json::json!({"text": t})))
        .collect();
    std::fs::write(path, body).unwrap();
    texts
}

/// Every record of the collection, oldest first, as (id, text).
fn stored(store: &Path) -> Vec<(String, String)> {
    let out = embedrock(store)
        .args(["list", "--limit", "10000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_killed_ingest_keeps_every_acknowledged_record_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let input = dir.path().join("texts.jsonl");
    let texts = write_texts(&input, "kill", 20_000);
    let mut child = embedrock(&store)
        .args(["add", "--input", input.to_str().unwrap(), "--user-id", "u"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acknowledged.len() < 200 {
        let line = lines
            .next()
            .expect("add stopped before 200 records")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        acknowledged.push((
            v["id"].as_str().unwrap().to_string(),
            v["memory"].as_str().unwrap().to_string(),
        ));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no rollback.
    child.wait().unwrap();

    let records = stored(&store);
    assert!(records.len() >= acknowledged.len());
    assert!(
        records.len() < texts.len(),
        "the kill came too late to test anything"
    );
    let by_id: HashMap<&str, &str> = records
        .iter()
        .map(|(id, t)| (id.as_str(), t.as_str()))
        .collect();
    for (id, text) in &acknowledged {
        assert_eq!(by_id.get(id.as_str()), Some(&text.as_str()), "lost {id}");
    }
    // Nothing half-written: the store holds a prefix of the input, in order.
    for (i, (_, text)) in records.iter().enumerate() {
        assert_eq!(text, &texts[i]);
    }
    // Every stored vector is whole: a search over all of them loads and
    // scores each one.
    let out = embedrock(&store)
        .args(["search", "topic 3", "--limit", "10000", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits["results"].as_array().unwrap().len(), records.len());
    // And the store takes writes again after the crash.
    let out = embedrock(&store)
        .args(["add", "after the crash", "--user-id", "u"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&store).len(), records.len() + 1);
}

#[test]
fn two_processes_adding_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.db");
    let spawn = |who: &str| {
        let input = dir.path().join(format!("{who}.jsonl"));
        write_texts(&input, who, 400);
        embedrock(&store)
            .args(["add", "--input", input.to_str().unwrap(), "--user-id", who])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("ann"), spawn("bea"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let records = stored(&store);
    assert_eq!(records.len(), 800);
    for who in ["ann", "bea"] {
        let mine: Vec<&String> = records
            .iter()
            .map(|(_, t)| t)
            .filter(|t| t.starts_with(who))
            .collect();
        assert_eq!(mine.len(), 400, "{who}");
        for (i, t) in mine.iter().enumerate() {
            assert!(t.starts_with(&format!("{who} note number {i} ")), "{t}");
        }
    }
}
