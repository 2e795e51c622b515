//! The `embedrock` binary as a user runs it: real model, real files, real
//! exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn embedrock(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(args)
        .arg("--quiet")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails_with(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn jsonl_output_keeps_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let texts = [
        "a long sentence about the weather being sunny today",
        "x",
        "",
        "deux",
    ];
    let body: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{}\n",
                serde_json::json!({"id": format!("doc-{i}"), "text": t})
            )
        })
        .collect();
    std::fs::write(&input, body).unwrap();
    let out = embedrock(
        &[
            "embed",
            "--input",
            input.to_str().unwrap(),
            "--output",
            "jsonl",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), texts.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i);
        assert_eq!(line["id"], format!("doc-{i}"));
        assert_eq!(line["embedding"].as_array().unwrap().len(), 384);
        assert!(line["tokens"].as_u64().unwrap() >= 2);
    }
    // Each line's vector is the text's own: compare with embedding it alone.
    let alone = embedrock(&["embed", "x"], None);
    let alone: serde_json::Value = serde_json::from_slice(&alone.stdout).unwrap();
    let a: Vec<f64> = serde_json::from_value(alone["embedding"].clone()).unwrap();
    let b: Vec<f64> = serde_json::from_value(lines[1]["embedding"].clone()).unwrap();
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-6, "{diff}");
}

#[test]
fn stdin_dimensions_and_npy() {
    let out = embedrock(
        &["embed", "--dimensions", "128", "--output", "json"],
        Some(b"one\ntwo\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["data"].as_array().unwrap().len(), 2);
    assert_eq!(doc["dimensions"], 128);
    let v: Vec<f64> = serde_json::from_value(doc["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(v.len(), 128);
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);

    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("v.npy");
    let out = embedrock(
        &[
            "embed",
            "a",
            "b",
            "c",
            "--output",
            "npy",
            "--output-file",
            npy.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&npy).unwrap();
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert!(std::str::from_utf8(&bytes[10..10 + hlen])
        .unwrap()
        .contains("(3, 384)"));
    assert_eq!(bytes.len(), 10 + hlen + 3 * 384 * 4);
}

#[test]
fn similarity_of_the_notebook_sentences() {
    let out = embedrock(
        &[
            "similarity",
            "Its a sunny day",
            "Today it may not be raining",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cos: f32 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(cos > 0.4 && cos < 0.7, "{cos}");
    let out = embedrock(&["similarity", "--json", "a", "b", "c"], None);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["matrix"].as_array().unwrap().len(), 3);
    assert!((doc["matrix"][1][1].as_f64().unwrap() - 1.0).abs() < 1e-5);
}

#[test]
fn models_list_filters() {
    let out = embedrock(&["models", "list", "--provider", "cohere", "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = doc.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "cohere.embed-english-v3",
            "cohere.embed-multilingual-v3",
            "cohere.embed-v4:0"
        ]
    );
    let out = embedrock(&["models", "list", "--embedding"], None);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("amazon.titan-embed-text-v2:0") && table.contains("256/512/1024*"));
    assert!(table.contains("all-minilm-l6-v2"));
    fails_with(
        &embedrock(&["models", "list", "--provider", "openai"], None),
        "unknown provider",
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    fails_with(
        &embedrock(&["embed", "--model", "no-such-model", "hi"], None),
        "unknown local model \"no-such-model\"",
    );
    fails_with(
        &embedrock(&["embed", "--input", "/no/such/file.txt"], None),
        "cannot read input file /no/such/file.txt",
    );
    fails_with(
        &embedrock(&["embed"], Some(b"fine\n\xc3\x28\n")),
        "standard input, line 2: invalid UTF-8",
    );
    fails_with(&embedrock(&["embed"], Some(b"")), "no input");
    fails_with(
        &embedrock(&["embed", "--dimensions", "1024", "hi"], None),
        "--dimensions 1024 is not possible",
    );
    fails_with(
        &embedrock(&["embed", "--dimensions", "0", "hi"], None),
        "--dimensions 0 is not possible",
    );
    fails_with(
        &embedrock(&["similarity", "only one"], None),
        "at least two texts",
    );
    fails_with(
        &embedrock(
            &[
                "similarity",
                "--model",
                "amazon.titan-embed-text-v2:0",
                "a",
                "b",
            ],
            None,
        ),
        "is an Amazon Bedrock model",
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n").unwrap();
    fails_with(
        &embedrock(&["embed", "--input", bad.to_str().unwrap()], None),
        "line 2: no \"text\" field",
    );
    // A usage error is clap's exit code 2, with its message.
    let o = embedrock(&["embed", "--output", "xml", "hi"], None);
    assert_eq!(o.status.code(), Some(2));
}
