//! A seeded mutation fuzz of the server's request handling, with the real
//! local model behind every route. Valid bodies of every family and of the
//! OpenAI route are mutated (byte flips, truncation, type swaps, huge
//! numbers, missing and unknown fields); every answer must be a client
//! error or a success, never a 5xx; every error must carry its surface's
//! shape; and no success may hold a non-finite (null) value in an array.
//! The run is bounded in cases and in time; the seed is printed on failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tower::ServiceExt;

const SEED: u64 = 0x5eed_2026;
const MAX_CASES: usize = 1500;
const TIME_BOX: Duration = Duration::from_secs(15);

fn bases() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/model/amazon.titan-embed-text-v1/invoke",
            json!({"inputText": "hello there"}),
        ),
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            json!({"inputText": "hi", "dimensions": 256, "normalize": false, "embeddingTypes": ["float", "binary"]}),
        ),
        (
            "/model/amazon.titan-embed-image-v1/invoke",
            json!({"inputText": "a red shoe", "embeddingConfig": {"outputEmbeddingLength": 384}}),
        ),
        (
            "/model/cohere.embed-english-v3/invoke",
            json!({"texts": ["a", "b c"], "input_type": "search_document", "truncate": "END", "embedding_types": ["float", "int8", "ubinary"]}),
        ),
        (
            "/model/us.cohere.embed-v4:0/invoke",
            json!({"texts": ["one"], "input_type": "search_query", "output_dimension": 512, "embedding_types": ["float"], "max_tokens": 100, "truncate": "RIGHT"}),
        ),
        (
            "/v1/embeddings",
            json!({"input": ["a", "b"], "model": "all-minilm-l6-v2", "dimensions": 128, "encoding_format": "float"}),
        ),
        (
            "/v1/embeddings",
            json!({"input": "x", "model": "amazon.titan-embed-text-v2:0"}),
        ),
    ]
}

fn odd_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(1e308),
        5 => json!(u64::MAX),
        6 => json!(i64::MIN),
        7 => json!(""),
        8 => json!("search_query"),
        9 => json!([]),
        10 => json!({}),
        11 => json!([1, 2.5, "x"]),
        12 => json!("é".repeat(rng.random_range(1..3000))),
        13 => json!([["nested"]]),
        14 => json!(0.5),
        _ => json!(vec!["t"; rng.random_range(0..200)]),
    }
}

/// One mutation of a valid body, as the bytes to send.
fn mutate(base: &Value, rng: &mut StdRng) -> Vec<u8> {
    let mut v = base.clone();
    let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    let key = keys[rng.random_range(0..keys.len())].clone();
    match rng.random_range(0..8) {
        0 => {
            let mut b = serde_json::to_vec(&v).unwrap();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            return b;
        }
        1 => {
            let b = serde_json::to_vec(&v).unwrap();
            return b[..rng.random_range(0..b.len())].to_vec();
        }
        2 => {
            v.as_object_mut().unwrap().remove(&key);
        }
        3 => {
            v["unexpectedField"] = odd_value(rng);
        }
        4 => {
            // A huge number written out, beyond every integer type.
            let text = serde_json::to_string(&v).unwrap();
            let with = text.replacen(':', ": 123456789012345678901234567890e5,\"k\":", 1);
            return with.into_bytes();
        }
        5 => {
            if let Some(items) = v[&key].as_array_mut() {
                if !items.is_empty() {
                    let i = rng.random_range(0..items.len());
                    items[i] = odd_value(rng);
                }
            } else {
                v[&key] = odd_value(rng);
            }
        }
        6 => return serde_json::to_vec(&odd_value(rng)).unwrap(),
        _ => v[&key] = odd_value(rng),
    }
    serde_json::to_vec(&v).unwrap()
}

fn has_null_in_array(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|x| x.is_null() || has_null_in_array(x)),
        Value::Object(m) => m.values().any(has_null_in_array),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_bodies_get_client_errors_in_the_surface_shape() {
    let app = embedrock_server::app(common::models(), common::config());
    let bases = bases();
    let mut rng = StdRng::seed_from_u64(SEED);
    let started = Instant::now();
    let (mut cases, mut ok, mut errors) = (0usize, 0usize, 0usize);
    while cases < MAX_CASES && started.elapsed() < TIME_BOX {
        let (path, base) = &bases[rng.random_range(0..bases.len())];
        let body = mutate(base, &mut rng);
        let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
        let req = Request::post(*path).body(Body::from(body)).unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let error_type = r.headers().get("x-amzn-errortype").cloned();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("seed {SEED} case {cases}: not JSON for {path} {shown}"));
        let ctx = format!("seed {SEED} case {cases}: {status} {path} {shown} -> {v}");
        assert!(status < 500, "{ctx}");
        let bedrock = path.starts_with("/model/");
        if status == 200 {
            assert!(!has_null_in_array(&v), "{ctx}");
            ok += 1;
        } else if bedrock {
            assert!(error_type.is_some(), "{ctx}");
            assert!(
                v["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{ctx}"
            );
            errors += 1;
        } else {
            assert!(error_type.is_none(), "{ctx}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{ctx}"
            );
            assert!(v["error"]["type"].is_string(), "{ctx}");
            errors += 1;
        }
        cases += 1;
    }
    eprintln!(
        "fuzz: {cases} cases ({ok} ok, {errors} client errors) in {:?}",
        started.elapsed()
    );
    assert!(cases >= 100, "too few cases in the time box: {cases}");
    assert!(ok > 0 && errors > 0, "{ok} ok, {errors} errors");
}
