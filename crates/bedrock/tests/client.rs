//! The Bedrock provider over real HTTP, SigV4-signed, against a real
//! `embedrock serve` app on a port-0 listener with the local model behind
//! it, under injected faults: throttling, latency, bursts of 5xx,
//! model-not-ready.
//!
//! Run with `cargo test -p embedrock-bedrock --features client --test client`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use embedrock_bedrock::client::{BedrockEmbedder, BedrockSettings, OverLong, RetryPolicy};
use embedrock_core::{DynEmbedder, EmbedRequest, Embedder, Family};
use embedrock_server::testing::TestServer;
use embedrock_server::{AuthConfig, AuthMode, FaultConfig, ModelMap};

const KEY: &str = "AKIDTEST";
const SECRET: &str = "dummy-secret";
const API_KEY: &str = "bedrock-api-key-test-0123";

fn local() -> DynEmbedder {
    static MODEL: OnceLock<DynEmbedder> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(
                embedrock_local::LocalEmbedder::open("all-minilm-l6-v2")
                    .expect("the local model (run `embedrock models pull all-minilm-l6-v2`)"),
            )
        })
        .clone()
}

/// How many requests the server has answered.
fn requests(server: &TestServer) -> u64 {
    server.state().faults.counters().requests
}

/// A server that checks SigV4 signatures (and accepts one API key), with
/// these faults.
async fn start(faults: FaultConfig) -> TestServer {
    let mut config = embedrock_server::testing::quiet_config();
    config.auth = AuthConfig::new(AuthMode::Any)
        .with_credential(KEY, SECRET)
        .with_api_key(API_KEY);
    config.faults = faults;
    let mut models = ModelMap::catalogue("all-minilm-l6-v2", local());
    models
        .route(
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
            Some(Family::CohereV4),
            "all-minilm-l6-v2",
        )
        .unwrap();
    TestServer::start(models, config).await.unwrap()
}

fn settings(url: &str) -> BedrockSettings {
    BedrockSettings::default()
        .with_region("us-east-1")
        .with_endpoint_url(url)
        .with_keys(KEY, SECRET)
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    let mut r = RetryPolicy::default();
    r.max_attempts = max_attempts;
    r.max_throttled_attempts = max_attempts * 5;
    r.base = Duration::from_millis(20);
    r.cap = Duration::from_millis(500);
    r
}

fn texts(n: usize) -> Vec<String> {
    const TOPICS: [&str; 6] = [
        "the weather is sunny and warm",
        "Python is a programming language",
        "i have to go to the market",
        "stock prices fell sharply today",
        "the cat sleeps on the sofa",
        "Amazon Bedrock serves foundation models",
    ];
    (0..n)
        .map(|i| format!("item {i}: {}", TOPICS[i % TOPICS.len()]))
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Each vector is the local model's vector of the text at the same
/// position (the server pads to the asked dimensions): order is kept.
async fn assert_in_order(texts: &[String], vectors: &[Vec<f32>]) {
    let expected = local()
        .embed(EmbedRequest::new(texts.to_vec()))
        .await
        .unwrap();
    assert_eq!(vectors.len(), texts.len());
    for (i, (got, want)) in vectors.iter().zip(&expected.vectors).enumerate() {
        let c = cosine(&got[..want.len()], want);
        assert!(c > 0.999, "item {i}: cosine {c} to its own text");
    }
}

#[tokio::test]
async fn every_family_and_id_form_over_sigv4() {
    let server = start(FaultConfig::default()).await;
    let t = texts(7);
    let cases: [(&str, Option<Family>, usize); 8] = [
        ("amazon.titan-embed-text-v1", None, 1536),
        ("amazon.titan-embed-text-v2:0", None, 1024),
        ("us.amazon.titan-embed-text-v2:0", None, 1024),
        ("amazon.titan-embed-image-v1", None, 1024),
        ("cohere.embed-english-v3", None, 1024),
        ("cohere.embed-multilingual-v3", None, 1024),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-v4:0",
            None,
            1536,
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
            Some(Family::CohereV4),
            1536,
        ),
    ];
    for (model, family, dims) in cases {
        let p = BedrockEmbedder::connect(model, settings(server.url()).with_family(family))
            .await
            .unwrap();
        let r = p.embed(EmbedRequest::new(t.clone())).await.unwrap();
        assert_eq!(r.vectors.len(), t.len(), "{model}");
        assert!(r.vectors.iter().all(|v| v.len() == dims), "{model}");
        assert_in_order(&t, &r.vectors).await;
        let totals = p.totals();
        assert!(totals.tokens > 0, "{model}: {totals:?}");
        assert_eq!(r.total_tokens() as u64, totals.tokens, "{model}");
        // The header and the body agree where the body counts (Titan).
        if totals.body_tokens > 0 {
            assert_eq!(totals.body_tokens, totals.header_tokens, "{model}");
        }
        assert!(totals.dollars > 0.0, "{model}");
        assert_eq!(totals.retries, 0);
        let calls = if model.contains("cohere") || family.is_some() {
            1
        } else {
            t.len() as u64
        };
        assert_eq!(totals.calls, calls, "{model}");
    }
    // Titan v2's options reach the wire.
    let p = BedrockEmbedder::connect("amazon.titan-embed-text-v2:0", settings(server.url()))
        .await
        .unwrap();
    let r = p
        .embed(EmbedRequest::new(["a"]).with_dimensions(Some(256)))
        .await
        .unwrap();
    assert_eq!(r.vectors[0].len(), 256);
    let e = p
        .embed(EmbedRequest::new(["a"]).with_dimensions(Some(384)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("384"), "{e}");
    // An opaque id without a family hint is refused up front.
    let e = BedrockEmbedder::connect(
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
        settings(server.url()),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("family"), "{e}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_secret_and_api_keys() {
    let server = start(FaultConfig::default()).await;
    let bad = BedrockEmbedder::connect(
        "amazon.titan-embed-text-v2:0",
        settings(server.url()).with_keys(KEY, "not-the-secret"),
    )
    .await
    .unwrap();
    let items = bad.embed_items(&EmbedRequest::new(["x", "y"])).await;
    for (i, r) in items.iter().enumerate() {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.index, i);
        assert_eq!(e.code, "InvalidSignatureException", "{e}");
        assert_eq!(e.attempts, 1, "auth errors are not retried");
    }
    assert!(!format!("{bad:?}").contains("not-the-secret"));
    // A Bedrock API key, as `Authorization: Bearer`.
    let mut s = BedrockSettings::default()
        .with_region("us-east-1")
        .with_endpoint_url(server.url())
        .with_api_key(API_KEY);
    s.access_key_id = None;
    let p = BedrockEmbedder::connect("cohere.embed-english-v3", s)
        .await
        .unwrap();
    assert!(!format!("{p:?}").contains(API_KEY));
    let r = p.embed(EmbedRequest::new(["x"])).await.unwrap();
    assert_eq!(r.vectors.len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn throttling_backs_off_and_loses_nothing() {
    // The request bucket starts full (300): once the client has emptied it
    // (in a few seconds, at any speed above about 45 requests/s), the rest
    // goes at 5 requests per second and meets throttling.
    let mut faults = FaultConfig::default();
    faults.requests_per_minute = Some(300);
    faults.latency = Some(embedrock_server::Latency::Fixed { ms: 5 });
    let server = start(faults).await;
    let t = texts(360);
    let p = BedrockEmbedder::connect(
        "amazon.titan-embed-text-v2:0",
        settings(server.url())
            .with_concurrency(16, 32)
            .with_retry(fast_retries(20)),
    )
    .await
    .unwrap();
    let items = p.embed_items(&EmbedRequest::new(t.clone())).await;
    let vectors: Vec<Vec<f32>> = items
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("item {i} lost: {e}")).vector)
        .collect();
    assert_in_order(&t, &vectors).await;
    let totals = p.totals();
    assert!(totals.throttled > 0, "{totals:?}");
    assert_eq!(totals.calls, 360);
    assert_eq!(totals.items_done, 360);
    assert_eq!(totals.attempts, totals.calls + totals.retries);
    assert_eq!(totals.attempts, requests(&server), "every attempt counted");
    assert!(totals.retries <= 360 * 99, "retries bounded: {totals:?}");
    assert!(
        p.concurrency() < 32,
        "the limit came down: {}",
        p.concurrency()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bursts_of_5xx_and_model_not_ready_are_retried() {
    let mut faults = FaultConfig::default();
    faults.error_rate = 0.3;
    faults.not_ready_seconds = 0.2;
    faults.seed = 7;
    faults.latency = Some(embedrock_server::Latency::Uniform {
        min_ms: 1,
        max_ms: 20,
    });
    let server = start(faults).await;
    let before = server.state().faults.counters();
    assert_eq!(before.requests, 0);
    let t = texts(120);
    let mut retries = 0;
    for model in ["amazon.titan-embed-text-v2:0", "cohere.embed-v4:0"] {
        let p =
            BedrockEmbedder::connect(model, settings(server.url()).with_retry(fast_retries(20)))
                .await
                .unwrap();
        let mut req = EmbedRequest::new(t.clone());
        if model.starts_with("cohere") {
            req = req.with_dimensions(Some(512));
        }
        let r = p.embed(req).await.unwrap();
        assert_in_order(&t, &r.vectors).await;
        let totals = p.totals();
        retries += totals.retries;
        assert_eq!(totals.attempts, totals.calls + totals.retries);
        assert!(totals.attempts <= totals.calls * 20, "{model}: {totals:?}");
    }
    assert!(retries > 0);
    let c = server.state().faults.counters();
    assert!(c.internal_errors + c.unavailable > 0, "{c:?}");
    assert!(c.not_ready > 0, "{c:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_failures_keep_their_place() {
    let mut faults = FaultConfig::default();
    faults.error_rate = 1.0;
    faults.unavailable_share = Some(1.0);
    let server = start(faults).await;
    let p = BedrockEmbedder::connect(
        "amazon.titan-embed-text-v2:0",
        settings(server.url()).with_retry(fast_retries(3)),
    )
    .await
    .unwrap();
    let items = p.embed_items(&EmbedRequest::new(texts(5))).await;
    assert_eq!(items.len(), 5);
    for (i, r) in items.iter().enumerate() {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.index, i);
        assert_eq!(e.code, "ServiceUnavailableException");
        assert_eq!(e.attempts, 3);
        assert!(e.retryable);
        assert!(e.to_string().starts_with(&format!("item {i}: ")), "{e}");
    }
    assert_eq!(requests(&server), 15, "exactly three attempts per item");
    let e = p.embed(EmbedRequest::new(["x"])).await.unwrap_err();
    assert!(e.to_string().contains("item 0"), "{e}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn over_long_input_is_named_or_truncated_on_request() {
    let server = start(FaultConfig::default()).await;
    let long_cohere = "word ".repeat(600); // 3,000 characters: over Cohere v3's 2,048
    let long_titan = "words ".repeat(10_000); // 60,000 characters: over Titan v2's 50,000
    let batch = vec![
        "short one".to_string(),
        long_cohere.clone(),
        "short two".into(),
    ];
    let p = BedrockEmbedder::connect("cohere.embed-english-v3", settings(server.url()))
        .await
        .unwrap();
    let items = p.embed_items(&EmbedRequest::new(batch.clone())).await;
    assert!(
        items[0].is_ok() && items[2].is_ok(),
        "neighbours are not dropped"
    );
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(
        (e.index, e.code.as_str(), e.attempts),
        (1, "InputTooLong", 0)
    );
    let err = p.embed(EmbedRequest::new(batch.clone())).await.unwrap_err();
    assert!(
        matches!(err, embedrock_core::Error::InputTooLong { index: 1, .. }),
        "{err}"
    );
    let p = BedrockEmbedder::connect(
        "cohere.embed-english-v3",
        settings(server.url()).with_over_long(OverLong::Truncate),
    )
    .await
    .unwrap();
    assert_eq!(
        p.embed(EmbedRequest::new(batch.clone()))
            .await
            .unwrap()
            .vectors
            .len(),
        3
    );
    // Chunking: two pieces of at most 1,536 characters, one vector.
    let p = BedrockEmbedder::connect(
        "cohere.embed-english-v3",
        settings(server.url()).with_over_long(OverLong::Chunk),
    )
    .await
    .unwrap();
    let items = p.embed_items(&EmbedRequest::new(batch)).await;
    let whole = items[1].as_ref().unwrap();
    assert_eq!(whole.vector.len(), 1024);
    let norm: f32 = whole.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    let piece = p
        .embed(EmbedRequest::new(vec![long_cohere[..1500].to_string()]))
        .await
        .unwrap();
    assert!(cosine(&whole.vector, &piece.vectors[0]) > 0.9);
    assert!(items[0].is_ok() && items[2].is_ok());
    assert_eq!(
        p.totals().calls,
        2,
        "one call for the three texts' pieces, one for the check"
    );

    // Titan v2: 50,000 characters at most.
    let p = BedrockEmbedder::connect("amazon.titan-embed-text-v2:0", settings(server.url()))
        .await
        .unwrap();
    let items = p
        .embed_items(&EmbedRequest::new(vec![
            "ok".to_string(),
            long_titan.clone(),
        ]))
        .await;
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(
        (e.index, e.code.as_str(), e.attempts),
        (1, "InputTooLong", 0),
        "{e}"
    );
    assert!(e.message.contains("60000 characters"), "{e}");
    let p = BedrockEmbedder::connect(
        "amazon.titan-embed-text-v2:0",
        settings(server.url()).with_over_long(OverLong::Truncate),
    )
    .await
    .unwrap();
    let r = p.embed(EmbedRequest::new(vec![long_titan])).await.unwrap();
    assert_eq!(r.vectors.len(), 1);

    // Under 50,000 characters but over 8,192 tokens: only the service can
    // tell, with "Too many input tokens"; truncation retries shorter.
    let many_tokens = "word ".repeat(9_000);
    let p = BedrockEmbedder::connect("amazon.titan-embed-text-v2:0", settings(server.url()))
        .await
        .unwrap();
    let items = p
        .embed_items(&EmbedRequest::new(vec![many_tokens.clone()]))
        .await;
    let e = items[0].as_ref().unwrap_err();
    assert_eq!((e.code.as_str(), e.attempts), ("InputTooLong", 1), "{e}");
    assert!(e.message.contains("Max input tokens: 8192"), "{e}");
    let p = BedrockEmbedder::connect(
        "amazon.titan-embed-text-v2:0",
        settings(server.url()).with_over_long(OverLong::Truncate),
    )
    .await
    .unwrap();
    let r = p.embed(EmbedRequest::new(vec![many_tokens])).await.unwrap();
    assert!(r.tokens[0] <= 8192 && r.tokens[0] > 6000, "{:?}", r.tokens);
    assert_eq!(
        p.totals().retries,
        0,
        "a shorter retry is not a fault retry"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_cache_pays_once_across_runs_and_concurrent_users() {
    let server = start(FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let t = texts(40);
    let make = || {
        BedrockEmbedder::connect(
            "amazon.titan-embed-text-v2:0",
            settings(server.url()).with_cache_dir(Some(dir.path().to_path_buf())),
        )
    };
    // Two users filling one cache at once.
    let (a, b) = (make().await.unwrap(), make().await.unwrap());
    let (ra, rb) = tokio::join!(
        a.embed(EmbedRequest::new(t.clone())),
        b.embed(EmbedRequest::new(t.clone()))
    );
    assert_eq!(ra.unwrap().vectors, rb.unwrap().vectors);
    let paid = requests(&server);
    assert!(paid >= 40);
    // A second run: everything from the cache, nothing sent.
    let c = make().await.unwrap();
    let r = c.embed(EmbedRequest::new(t.clone())).await.unwrap();
    assert_in_order(&t, &r.vectors).await;
    let totals = c.totals();
    assert_eq!((totals.cache_hits, totals.cache_misses), (40, 0));
    assert!((totals.hit_rate() - 1.0).abs() < 1e-12);
    assert_eq!(totals.calls, 0);
    assert_eq!(requests(&server), paid);
    // Other parameters are other entries.
    let r = c
        .embed(EmbedRequest::new(t[..3].to_vec()).with_dimensions(Some(256)))
        .await
        .unwrap();
    assert_eq!(r.vectors[0].len(), 256);
    assert_eq!(requests(&server), paid + 3);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn lists_embedding_models() {
    let server = start(FaultConfig::default()).await;
    let all = embedrock_bedrock::client::list_embedding_models(&settings(server.url()), None)
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|m| m.model_id.as_str()).collect();
    assert!(ids.contains(&"amazon.titan-embed-text-v2:0"), "{ids:?}");
    assert!(ids.contains(&"cohere.embed-english-v3"), "{ids:?}");
    let cohere =
        embedrock_bedrock::client::list_embedding_models(&settings(server.url()), Some("Cohere"))
            .await
            .unwrap();
    assert!(!cohere.is_empty());
    assert!(cohere
        .iter()
        .all(|m| m.provider.as_deref() == Some("Cohere")));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn every_output_type_reaches_the_response() {
    use embedrock_core::{math, OutputType, TypedEmbeddings};
    let server = start(FaultConfig::default()).await;
    let t = texts(3);
    let p = BedrockEmbedder::connect("amazon.titan-embed-text-v2:0", settings(server.url()))
        .await
        .unwrap();
    for types in [
        vec![OutputType::Binary],
        vec![OutputType::Float, OutputType::Binary],
        vec![OutputType::Ubinary],
        vec![OutputType::Binary, OutputType::Ubinary],
    ] {
        let r = p
            .embed(EmbedRequest::new(t.clone()).with_output_types(types.clone()))
            .await
            .unwrap();
        assert_in_order(&t, &r.vectors).await;
        let packed: Vec<Vec<u8>> = r.vectors.iter().map(|v| math::binarize(v)).collect();
        assert_eq!(packed[0].len(), 1024 / 8);
        let want_binary = types.contains(&OutputType::Binary).then(|| {
            packed
                .iter()
                .map(|p| p.iter().map(|&b| b as i8).collect::<Vec<i8>>())
                .collect::<Vec<_>>()
        });
        let want_ubinary = types.contains(&OutputType::Ubinary).then(|| packed.clone());
        assert_eq!(r.typed.binary, want_binary, "{types:?}");
        assert_eq!(r.typed.ubinary, want_ubinary, "{types:?}");
        assert!(r.typed.int8.is_none() && r.typed.uint8.is_none());
    }
    let quantised = vec![
        OutputType::Int8,
        OutputType::Uint8,
        OutputType::Binary,
        OutputType::Ubinary,
    ];
    for model in ["cohere.embed-english-v3", "cohere.embed-v4:0"] {
        let p = BedrockEmbedder::connect(model, settings(server.url()))
            .await
            .unwrap();
        let r = p
            .embed(EmbedRequest::new(t.clone()).with_output_types(quantised.clone()))
            .await
            .unwrap();
        assert_in_order(&t, &r.vectors).await;
        let want = TypedEmbeddings::from_floats(&r.vectors, &quantised);
        assert!(want.int8.is_some() && want.ubinary.is_some());
        assert_eq!(r.typed, want, "{model}");
        assert_eq!(r.typed.int8.as_ref().unwrap().len(), t.len());
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn chunked_cohere_is_the_size_weighted_mean_of_its_pieces() {
    use embedrock_bedrock::client::provider::{chunk_text, weighted_mean};
    let server = start(FaultConfig::default()).await;
    let long = format!(
        "{}{}",
        "the weather is sunny and warm today. ".repeat(30),
        "stock prices fell sharply on the exchange. ".repeat(50)
    );
    let chunker = BedrockEmbedder::connect(
        "cohere.embed-english-v3",
        settings(server.url()).with_over_long(OverLong::Chunk),
    )
    .await
    .unwrap();
    let plain = BedrockEmbedder::connect("cohere.embed-english-v3", settings(server.url()))
        .await
        .unwrap();
    let pieces = chunk_text(&long, chunker.chunk_chars().unwrap());
    assert!(pieces.len() >= 2, "{}", pieces.len());
    let whole = chunker
        .embed(EmbedRequest::new(vec![long.clone()]))
        .await
        .unwrap();
    let parts = plain
        .embed(EmbedRequest::new(pieces.clone()))
        .await
        .unwrap();
    let weights: Vec<f64> = pieces.iter().map(|p| p.chars().count() as f64).collect();
    let refs: Vec<&[f32]> = parts.vectors.iter().map(Vec::as_slice).collect();
    let mut want = weighted_mean(&refs, &weights);
    embedrock_core::math::l2_normalize(&mut want);
    let got = &whole.vectors[0];
    assert!(cosine(got, &want) > 0.999, "{}", cosine(got, &want));
    assert!(
        cosine(got, &parts.vectors[0]) < 0.99,
        "the mean is not the first piece: {}",
        cosine(got, &parts.vectors[0])
    );
    // Per-item shares add up to exactly what was billed.
    assert_eq!(whole.tokens[0] as u64, chunker.totals().tokens);
    assert_eq!(parts.total_tokens() as u64, plain.totals().tokens);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_embedder_reports_its_facts_and_usage() {
    let server = start(FaultConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p: DynEmbedder = Arc::new(
        BedrockEmbedder::connect(
            "us.amazon.titan-embed-text-v2:0",
            settings(server.url()).with_cache_dir(Some(dir.path().to_path_buf())),
        )
        .await
        .unwrap(),
    );
    let facts = p.facts();
    assert_eq!(facts.id, "us.amazon.titan-embed-text-v2:0");
    assert_eq!(facts.family, Family::TitanTextV2);
    assert_eq!(facts.dimensions, vec![256, 512, 1024]);
    assert_eq!(facts.price_per_mtok, Some(0.02));
    let t = texts(4);
    p.embed(EmbedRequest::new(t.clone())).await.unwrap();
    let first = p.usage();
    assert_eq!((first.calls, first.texts, first.cache_misses), (4, 4, 4));
    assert!(first.tokens > 0 && first.dollars > 0.0);
    p.embed(EmbedRequest::new(t.clone())).await.unwrap();
    let second = p.usage().since(&first);
    assert_eq!((second.calls, second.cache_hits, second.texts), (0, 4, 4));
    let app = BedrockEmbedder::connect(
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
        settings(server.url()).with_family(Some(Family::CohereV4)),
    )
    .await
    .unwrap();
    let f = app.facts();
    assert_eq!(
        (f.family, f.max_batch, f.default_dimensions),
        (Family::CohereV4, 96, 1536)
    );
    assert!(f.id.starts_with("arn:aws:bedrock"));
    server.stop().await.unwrap();
}
