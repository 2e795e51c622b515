//! A BERT-family model other than the default loads from its folder with no
//! code change: a tiny random model (hidden size 48, 3 heads, 2 layers,
//! weights under a `bert.` prefix beside a masked-LM head, CLS pooling, no
//! Normalize, `max_seq_length` 40 in sentence-transformers 6's file layout),
//! checked against sentence-transformers' vectors for it
//! (`scripts/parity/gen_tiny_bert.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use embedrock_core::{math, Embedder};
use embedrock_local::{LocalEmbedder, LocalOptions, Pooling};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

#[test]
fn tiny_bert_matches_sentence_transformers() {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny-bert"
    ));
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let head = embedrock_local::Head::load(dir).unwrap();
    assert_eq!(head.pooling, Pooling::Cls);
    assert!(!head.normalize);

    let model = LocalEmbedder::load(dir, "tiny-bert", LocalOptions::default()).unwrap();
    assert_eq!(model.dimensions(), 48);
    assert_eq!(model.max_seq_length(), 40);
    let texts: Vec<String> = reference.items.iter().map(|i| i.text.clone()).collect();
    // The model has no Normalize module: compare the raw pooled vectors.
    let (vectors, tokens) = model.embed_sync(&texts, false).unwrap();
    for (i, item) in reference.items.iter().enumerate() {
        assert_eq!(tokens[i], item.tokens, "tokens of {:?}", item.text);
        let diff = vectors[i]
            .iter()
            .zip(&item.embedding)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let cos = math::cosine(&vectors[i], &item.embedding);
        assert!(
            diff <= 1e-4 && cos >= 0.9999,
            "{:?}: max abs diff {diff}, cosine {cos}",
            item.text
        );
    }
    // The long text was cut at the model's own limit.
    assert!(tokens.contains(&40));

    // Not in the catalogue: the facts come from its own files.
    let facts = model.facts();
    assert_eq!(facts.id, "tiny-bert");
    assert_eq!(facts.dimensions, vec![48]);
    assert_eq!(facts.default_dimensions, 48);
    assert_eq!(facts.max_tokens, Some(40));
    assert_eq!(facts.output_types.len(), 5);
    assert_eq!(facts.price_per_mtok, Some(0.0));
    assert!(facts.catalogue.is_none());
    // Usage counts the forward batches, texts and (truncated) tokens.
    let usage = model.usage();
    assert_eq!(usage.texts, texts.len() as u64);
    assert_eq!(usage.tokens, tokens.iter().sum::<usize>() as u64);
    assert!(usage.calls >= 1 && usage.calls <= texts.len() as u64);
    let before = model.usage();
    model.embed_sync(&texts[..1], false).unwrap();
    let step = model.usage().since(&before);
    assert_eq!((step.calls, step.texts), (1, 1));
    assert_eq!(step.tokens, tokens[0] as u64);
}
