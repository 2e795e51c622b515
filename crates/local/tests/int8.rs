//! The int8 and bf16 fast modes against fp32, on the real weights and the parity texts
//! (`fixtures/minilm_reference.json`, as in `parity.rs`): the quantised dense
//! layers must keep every vector within a cosine of 0.99 of fp32's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedrock_core::math;
use embedrock_local::{LocalEmbedder, LocalOptions, Precision};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    embedding: Vec<f32>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_reference.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn open(precision: Precision) -> LocalEmbedder {
    LocalEmbedder::open_with(
        "all-minilm-l6-v2",
        LocalOptions::default().with_precision(precision),
    )
    .expect("the default local model must be fetchable")
}

/// (min, mean) cosine of corresponding vectors.
fn cosines(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let all: Vec<f32> = a.iter().zip(b).map(|(x, y)| math::cosine(x, y)).collect();
    let min = all.iter().copied().fold(1.0, f32::min);
    (min, all.iter().sum::<f32>() / all.len() as f32)
}

#[test]
fn int8_stays_close_to_fp32() {
    let fx = fixture();
    let texts: Vec<String> = fx.items.iter().map(|i| i.text.clone()).collect();
    let fp32 = open(Precision::Fp32);
    let int8 = open(Precision::Int8);
    assert_eq!(int8.precision(), Precision::Int8);
    assert!(int8.kernel().starts_with("int8 "), "{}", int8.kernel());
    assert!(fp32.kernel().starts_with("fp32 "), "{}", fp32.kernel());
    assert_eq!(int8.kernel(), Precision::Int8.kernel().unwrap());

    let (want, want_tokens) = fp32.embed_sync(&texts, true).unwrap();
    let (got, got_tokens) = int8.embed_sync(&texts, true).unwrap();
    assert_eq!(got_tokens, want_tokens);
    for v in &got {
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let (min, mean) = cosines(&got, &want);
    let reference: Vec<Vec<f32>> = fx.items.iter().map(|i| i.embedding.clone()).collect();
    let (ref_min, ref_mean) = cosines(&got, &reference);
    eprintln!(
        "{} vs fp32 over {} texts: min cosine {min:.5}, mean {mean:.5}; \
         vs sentence-transformers: min {ref_min:.5}, mean {ref_mean:.5}",
        int8.kernel(),
        texts.len()
    );
    assert!(min >= 0.99, "min cosine {min}");
    assert!(mean >= 0.995, "mean cosine {mean}");

    // The quantisation is per token and deterministic: a text alone gives
    // what it gives inside a batch.
    for (i, text) in texts.iter().enumerate().step_by(7) {
        let (alone, _) = int8.embed_sync(std::slice::from_ref(text), true).unwrap();
        assert_eq!(alone[0], got[i], "item {i} alone vs in the batch");
    }
}

#[test]
fn int8_ranks_like_fp32() {
    // Nearest neighbours among the parity texts: each text's closest other
    // text should be the same under both precisions for nearly all texts.
    let fx = fixture();
    let texts: Vec<String> = fx.items.iter().map(|i| i.text.clone()).collect();
    let (a, _) = open(Precision::Fp32).embed_sync(&texts, true).unwrap();
    let (b, _) = open(Precision::Int8).embed_sync(&texts, true).unwrap();
    let nearest = |vs: &[Vec<f32>], i: usize| {
        (0..vs.len())
            .filter(|&j| j != i)
            .max_by(|&x, &y| math::cosine(&vs[i], &vs[x]).total_cmp(&math::cosine(&vs[i], &vs[y])))
            .unwrap()
    };
    let same = (0..texts.len())
        .filter(|&i| nearest(&a, i) == nearest(&b, i))
        .count();
    eprintln!(
        "nearest neighbour unchanged for {same} of {} texts",
        texts.len()
    );
    assert!(same * 10 >= texts.len() * 9, "{same} of {}", texts.len());
}

#[test]
fn bf16_runs_close_to_fp32_where_the_cpu_has_it_and_is_refused_clearly_elsewhere() {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny-bert"
    ));
    let options = LocalOptions::default().with_precision(Precision::Bf16);
    let loaded = LocalEmbedder::load(dir, "tiny-bert", options);
    if Precision::Bf16.kernel().is_err() {
        match loaded {
            Ok(model) => panic!("bf16 loaded with kernel {}", model.kernel()),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("bf16 precision needs "), "{msg}");
                assert!(msg.contains("this CPU has: "), "{msg}");
                assert!(msg.ends_with("use --precision int8 or fp32"), "{msg}");
                eprintln!("{msg}");
            }
        }
        return;
    }
    let tiny = loaded.unwrap();
    // AMX tiles where the CPU and OS allow them, else AVX512_BF16.
    assert_eq!(tiny.kernel(), Precision::Bf16.kernel().unwrap());
    assert!(
        ["bf16 amx", "bf16 avx512"].contains(&tiny.kernel()),
        "{}",
        tiny.kernel()
    );
    let amx_flag = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.split_whitespace().any(|w| w == "amx_bf16"))
        .unwrap_or(false);
    if !amx_flag {
        assert_eq!(tiny.kernel(), "bf16 avx512");
    }
    let (v, _) = tiny.embed_sync(&["a tiny test".to_string()], true).unwrap();
    assert!(v[0].iter().all(|x| x.is_finite()));

    // The real model: bfloat16 keeps 8 bits of each operand, so the vectors
    // stay very close to fp32's.
    let fx = fixture();
    let texts: Vec<String> = fx.items.iter().map(|i| i.text.clone()).collect();
    let bf16 = open(Precision::Bf16);
    assert_eq!(bf16.precision(), Precision::Bf16);
    let (want, want_tokens) = open(Precision::Fp32).embed_sync(&texts, true).unwrap();
    let (got, got_tokens) = bf16.embed_sync(&texts, true).unwrap();
    assert_eq!(got_tokens, want_tokens);
    let (min, mean) = cosines(&got, &want);
    eprintln!(
        "{} vs fp32 over {} texts: min cosine {min:.5}, mean {mean:.5}",
        bf16.kernel(),
        texts.len()
    );
    assert!(min >= 0.999, "min cosine {min}");
    assert!(mean >= 0.9995, "mean cosine {mean}");
}
