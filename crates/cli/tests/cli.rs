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
    // (Bedrock models are accepted by `similarity`: see tests/bedrock.rs.)
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

fn exit_code_2_naming(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn out_of_range_flags_are_refused_before_work() {
    for (flag, value, range) in [
        ("--threads", "0", "choose 1 to 256"),
        ("--threads", "100000", "choose 1 to 256"),
        ("--batch-size", "0", "choose 1 to 4096"),
        ("--batch-size", "4097", "choose 1 to 4096"),
        ("--concurrency", "0", "choose 1 to 1024"),
        ("--concurrency", "1025", "choose 1 to 1024"),
        ("--threads", "many", "not a whole number"),
    ] {
        let o = embedrock(&["embed", flag, value, "hi"], None);
        exit_code_2_naming(&o, flag);
        exit_code_2_naming(&o, range);
    }
    for cmd in [&["similarity", "a", "b"][..], &["quickstart"][..]] {
        let mut args = cmd.to_vec();
        args.extend(["--threads", "0"]);
        exit_code_2_naming(&embedrock(&args, None), "choose 1 to 256");
    }
    // EMBEDROCK_THREADS is the --threads default, with the same bounds.
    let o = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(["embed", "--quiet", "hi"])
        .env("EMBEDROCK_THREADS", "100000")
        .output()
        .unwrap();
    exit_code_2_naming(&o, "choose 1 to 256");
    let o = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(["embed", "--quiet", "hi"])
        .env("EMBEDROCK_THREADS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args([
            "embed",
            "--quiet",
            "--model",
            "amazon.titan-embed-text-v2:0",
            "hi",
        ])
        .env("EMBEDROCK_CONCURRENCY", "0")
        .output()
        .unwrap();
    fails_with(
        &o,
        "concurrency 0 (from env:EMBEDROCK_CONCURRENCY) is out of range",
    );
    for (flag, value) in [
        ("--repeat", "0"),
        ("--threads", "257"),
        ("--batch-size", "0"),
    ] {
        let o = embedrock(
            &["bench", "speed", "--data", "/nonexistent", flag, value],
            None,
        );
        exit_code_2_naming(&o, flag);
    }
}

#[test]
fn blank_lines_are_empty_input() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.txt");
    std::fs::write(&blank, "\n  \n\t\r\n\n").unwrap();
    fails_with(
        &embedrock(&["embed", "--input", blank.to_str().unwrap()], None),
        "no input",
    );
    fails_with(&embedrock(&["embed"], Some(b"\n\n  \n")), "no input");
    fails_with(
        &embedrock(&["similarity", "--input", blank.to_str().unwrap()], None),
        "no input",
    );
    // A blank line among texts is still a text, in its place.
    let o = embedrock(&["embed"], Some(b"a\n\nb\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
}

/// Whether bit `i` (most significant first) of packed `bytes` is set.
fn bit(bytes: &[i64], i: usize) -> bool {
    (bytes[i / 8] as u8) >> (7 - i % 8) & 1 == 1
}

#[test]
fn every_output_type_reaches_json_and_jsonl() {
    let types = ["--output-types", "int8,uint8,binary,ubinary"];
    for format in ["jsonl", "json"] {
        let mut args = vec!["embed", "--output", format, "sunny day", "rain"];
        args.extend(types);
        let o = embedrock(&args, None);
        assert!(o.status.success(), "{}", stderr(&o));
        let items: Vec<serde_json::Value> = if format == "json" {
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            doc["data"].as_array().unwrap().clone()
        } else {
            String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        assert_eq!(items.len(), 2);
        for item in &items {
            let f: Vec<f64> = serde_json::from_value(item["embedding"].clone()).unwrap();
            let int8: Vec<i64> = serde_json::from_value(item["int8"].clone()).unwrap();
            let uint8: Vec<i64> = serde_json::from_value(item["uint8"].clone()).unwrap();
            let binary: Vec<i64> = serde_json::from_value(item["binary"].clone()).unwrap();
            let ubinary: Vec<i64> = serde_json::from_value(item["ubinary"].clone()).unwrap();
            assert_eq!((int8.len(), uint8.len()), (384, 384), "{format}");
            assert_eq!((binary.len(), ubinary.len()), (48, 48), "{format}");
            for (i, x) in f.iter().enumerate() {
                if x.abs() > 1e-3 {
                    assert_eq!(int8[i] > 0, *x > 0.0, "int8 sign at {i}");
                }
                assert_eq!(bit(&ubinary, i), *x > 0.0, "ubinary bit {i}");
                assert_eq!(bit(&binary, i), *x > 0.0, "binary bit {i}");
            }
            assert!(binary.iter().all(|b| (-128..=127).contains(b)));
            assert!(ubinary.iter().all(|b| (0..=255).contains(b)));
        }
    }
}

#[test]
fn local_runs_resume_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let texts: Vec<String> = (0..6).map(|i| format!("sentence number {i}")).collect();
    std::fs::write(&input, texts.join("\n")).unwrap();
    let (inp, full, part) = (
        input.to_str().unwrap(),
        dir.path().join("full.jsonl"),
        dir.path().join("part.jsonl"),
    );
    let o = embedrock(
        &[
            "embed",
            "--input",
            inp,
            "--output-file",
            full.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let whole = std::fs::read_to_string(&full).unwrap();
    assert_eq!(whole.lines().count(), 6);
    assert!(!std::path::Path::new(&format!("{}.state", full.display())).exists());

    // Two items written and recorded, a half line past them; the two kept
    // lines are marked so a re-embedding of them would show.
    let kept: Vec<String> = whole
        .lines()
        .take(2)
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["kept"] = serde_json::json!(true);
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&part, format!("{}{{\"index\": 2, \"emb", kept.concat())).unwrap();
    let state = format!("{}.state", part.display());
    std::fs::write(
        &state,
        serde_json::json!({"model": "all-minilm-l6-v2", "input": inp, "items": 6, "done": 2})
            .to_string(),
    )
    .unwrap();
    let o = embedrock(
        &[
            "embed",
            "--input",
            inp,
            "--output-file",
            part.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed = std::fs::read_to_string(&part).unwrap();
    let got: Vec<serde_json::Value> = resumed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<serde_json::Value> = whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 6);
    assert_eq!(got[0]["kept"], true);
    assert_eq!(got[1]["kept"], true);
    assert_eq!(got[2..], want[2..]);
    assert!(!std::path::Path::new(&state).exists());

    // A state file of another run is refused, not silently overwritten.
    std::fs::write(
        &state,
        serde_json::json!({"model": "other", "input": inp, "items": 6, "done": 2}).to_string(),
    )
    .unwrap();
    fails_with(
        &embedrock(
            &[
                "embed",
                "--input",
                inp,
                "--output-file",
                part.to_str().unwrap(),
            ],
            None,
        ),
        "belongs to another run",
    );
}

#[test]
fn printed_urls_carry_no_password() {
    let o = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args([
            "config",
            "check",
            "--endpoint-url",
            "http://alice:hunter2@127.0.0.1:9/",
        ])
        .env_remove("EMBEDROCK_CONFIG")
        .env(
            "AWS_ENDPOINT_URL_BEDROCK",
            "https://bob:swordfish@127.0.0.1:9",
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        !text.contains("hunter2") && !text.contains("alice"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["settings"]["endpoint_url"], "http://***@127.0.0.1:9/");
    assert_eq!(v["sources"]["endpoint_url"], "flag");

    // Errors that name the endpoint do not print its password either.
    let o = Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args([
            "models",
            "list",
            "--source",
            "bedrock",
            "--quiet",
            "--endpoint-url",
            "http://alice:hunter2@127.0.0.1:9/",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "dummy-secret")
        .env("AWS_REGION", "us-east-1")
        .env_remove("EMBEDROCK_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("hunter2"), "{}", stderr(&o));
}

fn embed_json(texts: &[&str], extra: &[&str]) -> Vec<Vec<f64>> {
    let mut args = vec!["embed"];
    args.extend_from_slice(texts);
    args.extend_from_slice(&["--output", "json"]);
    args.extend_from_slice(extra);
    let out = embedrock(&args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
        .collect()
}

#[test]
fn precision_int8_is_close_to_fp32_and_others_are_refused_clearly() {
    let texts = [
        "The cat sat on the mat.",
        "Throttling errors are retried with jittered backoff.",
        "x",
    ];
    let fp32 = embed_json(&texts, &["--precision", "fp32"]);
    let default = embed_json(&texts, &[]);
    assert_eq!(fp32, default, "fp32 is the default");
    let int8 = embed_json(&texts, &["--precision", "int8"]);
    assert_eq!(int8.len(), texts.len());
    for (a, b) in fp32.iter().zip(&int8) {
        assert_eq!(a.len(), b.len());
        let cos: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        assert!(cos > 0.98 && cos < 1.0 + 1e-6, "cosine {cos}");
        assert_ne!(a, b, "int8 runs another arithmetic");
    }

    // A name that is no precision: a usage error naming it.
    let out = embedrock(&["embed", "a", "--precision", "int4"], None);
    exit_code_2_naming(&out, "int4");
    // bf16 runs where the CPU has AVX512_BF16 (very close to fp32; every CPU
    // with AMX-BF16 has it too), and is refused elsewhere with a message
    // naming the CPU's features.
    #[cfg(target_arch = "x86_64")]
    let bf16_here = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bf16")
        && !matches!(
            std::env::var("EMBEDROCK_MAX_ISA").as_deref(),
            Ok("avx2" | "portable")
        );
    #[cfg(not(target_arch = "x86_64"))]
    let bf16_here = false;
    if bf16_here {
        let bf16 = embed_json(&texts, &["--precision", "bf16"]);
        for (a, b) in fp32.iter().zip(&bf16) {
            let cos: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(cos > 0.999 && cos < 1.0 + 1e-6, "cosine {cos}");
        }
    } else {
        let out = embedrock(&["embed", "a", "--precision", "bf16"], None);
        fails_with(&out, "bf16");
        assert!(stderr(&out).contains("int8 or fp32"), "{}", stderr(&out));
    }
    // A Bedrock model computes its own vectors: refused before any call.
    let out = embedrock(
        &[
            "embed",
            "a",
            "--model",
            "amazon.titan-embed-text-v2:0",
            "--region",
            "us-east-1",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--precision",
            "int8",
        ],
        None,
    );
    fails_with(&out, "applies to local models");
}
