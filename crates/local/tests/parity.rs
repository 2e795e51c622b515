//! The local engine against sentence-transformers, on the real weights.
//!
//! `fixtures/minilm_reference.json` holds vectors computed by
//! sentence-transformers (see `scripts/parity/gen_reference.py`). The model
//! files come through the project's own fetch step (`ModelFiles::ensure`),
//! exactly as a first use on a fresh machine gets them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedrock_core::{math, EmbedRequest, Embedder};
use embedrock_local::LocalEmbedder;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    max_seq_length: usize,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    tokens: usize,
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

/// One model for every test of this binary: fetched (on a fresh machine) and
/// loaded once.
fn model() -> LocalEmbedder {
    static MODEL: std::sync::OnceLock<LocalEmbedder> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            LocalEmbedder::open("all-minilm-l6-v2")
                .expect("the default local model must be fetchable")
        })
        .clone()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[tokio::test(flavor = "multi_thread")]
async fn matches_sentence_transformers() {
    let fx = fixture();
    assert!(fx.items.len() >= 50);
    let model = model();
    assert_eq!(model.max_seq_length(), fx.max_seq_length);
    let texts: Vec<String> = fx.items.iter().map(|i| i.text.clone()).collect();
    let response = model.embed(EmbedRequest::new(texts.clone())).await.unwrap();
    assert_eq!(response.vectors.len(), fx.items.len());
    let mut worst_cos = 1.0f32;
    let mut worst_diff = 0.0f32;
    for (i, (item, got)) in fx.items.iter().zip(&response.vectors).enumerate() {
        assert_eq!(
            response.tokens[i], item.tokens,
            "token count of item {i} ({:?})",
            item.text
        );
        let cos = math::cosine(got, &item.embedding);
        let diff = max_abs_diff(got, &item.embedding);
        assert!(cos >= 0.9999, "item {i} ({:?}): cosine {cos}", item.text);
        assert!(
            diff <= 1e-4,
            "item {i} ({:?}): max abs diff {diff}",
            item.text
        );
        worst_cos = worst_cos.min(cos);
        worst_diff = worst_diff.max(diff);
    }
    eprintln!(
        "parity over {} texts: min cosine {worst_cos}, max abs diff {worst_diff:e}",
        fx.items.len()
    );
    // Texts over the limit are truncated, as sentence-transformers does, while
    // counting reports what the whole text holds.
    let long: Vec<String> = fx
        .items
        .iter()
        .filter(|i| i.tokens == fx.max_seq_length)
        .map(|i| i.text.clone())
        .collect();
    assert!(!long.is_empty());
    for n in model.count_tokens(&long).unwrap() {
        assert!(n > fx.max_seq_length, "{n}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alone_equals_in_a_mixed_batch() {
    let fx = fixture();
    let model = model();
    let texts: Vec<String> = fx.items.iter().map(|i| i.text.clone()).collect();
    let (batch, _) = model.embed_sync(&texts, true).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let (alone, _) = model.embed_sync(std::slice::from_ref(text), true).unwrap();
        let diff = max_abs_diff(&alone[0], &batch[i]);
        assert!(
            diff <= 1e-6,
            "item {i} ({text:?}): alone vs batch differ by {diff}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn options_dimensions_and_normalisation() {
    let model = model();
    assert_eq!(model.dimensions(), 384);
    // In the catalogue: its row answers.
    let facts = model.facts();
    assert_eq!(facts.id, "all-minilm-l6-v2");
    assert!(facts
        .catalogue
        .is_some_and(|row| row.id == "all-minilm-l6-v2"));
    assert_eq!(facts.max_tokens, Some(model.max_seq_length()));
    assert_eq!(facts.output_types.len(), 5);
    let texts = vec![
        "Its a sunny day".to_string(),
        "Today it may not be raining".to_string(),
    ];
    let full = model.embed(EmbedRequest::new(texts.clone())).await.unwrap();
    assert!((math::norm(&full.vectors[0]) - 1.0).abs() < 1e-5);

    // Matryoshka: truncate, then renormalise.
    let short = model
        .embed(EmbedRequest::new(texts.clone()).with_dimensions(Some(128)))
        .await
        .unwrap();
    assert_eq!(short.dimensions(), 128);
    let mut expected = full.vectors[0].clone();
    math::truncate_normalized(&mut expected, 128);
    assert!(max_abs_diff(&short.vectors[0], &expected) < 1e-6);

    // Unnormalised: the raw mean-pooled vector, same direction.
    let raw = model
        .embed(EmbedRequest::new(texts.clone()).with_normalize(false))
        .await
        .unwrap();
    assert!((math::norm(&raw.vectors[0]) - 1.0).abs() > 1e-3);
    assert!(math::cosine(&raw.vectors[0], &full.vectors[0]) > 0.99999);

    // More dimensions than the model has is a clear error.
    let err = model
        .embed(EmbedRequest::new(texts.clone()).with_dimensions(Some(1024)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("384"), "{err}");
    let err = model
        .embed(EmbedRequest::new(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, embedrock_core::Error::EmptyInput));

    // Token counts from the real tokenizer, [CLS] and [SEP] included.
    assert_eq!(model.count_tokens(&texts).unwrap(), full.tokens);
    assert_eq!(full.tokens, vec![6, 8]);
}

#[tokio::test(flavor = "multi_thread")]
async fn similar_sentences_score_higher() {
    let model = model();
    let texts: Vec<String> = [
        "Python is a programming language",
        "i have to go to the market",
        "Its a sunny day",
        "Today it may not be raining",
    ]
    .map(String::from)
    .to_vec();
    let v = model.embed(EmbedRequest::new(texts)).await.unwrap().vectors;
    // The weather sentences are closer to each other than to programming.
    assert!(math::cosine(&v[2], &v[3]) > math::cosine(&v[0], &v[2]));
    assert!(math::cosine(&v[2], &v[3]) > math::cosine(&v[0], &v[1]));
}
