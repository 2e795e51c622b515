//! The AWS SDK for Rust as the client, over real HTTP to a port-0 server
//! with the real local model behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_bedrock::types::ModelModality;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use embedrock_server::{AuthConfig, AuthMode, FaultConfig};
use serde_json::{json, Value};

async fn sdk_config(url: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_bedrockruntime::config::Credentials::new(key, secret, None, None, "test");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(creds)
        .load()
        .await
}

async fn runtime(url: &str) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::new(&sdk_config(url, "AKIDTEST", "dummy-secret").await)
}

async fn invoke(
    c: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: Value,
) -> Result<Value, InvokeModelError> {
    let out = c
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .map_err(|e| e.into_service_error())?;
    Ok(serde_json::from_slice(out.body().as_ref()).unwrap())
}

fn norm(v: &Value) -> f64 {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum::<f64>()
        .sqrt()
}

#[tokio::test]
async fn lists_and_gets_models() {
    let server = common::start(common::config()).await;
    let cfg = sdk_config(&server.url, "AKIDTEST", "dummy-secret").await;
    let c = aws_sdk_bedrock::Client::new(&cfg);
    let out = c
        .list_foundation_models()
        .by_output_modality(ModelModality::Embedding)
        .by_provider("Amazon")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = out.model_summaries().iter().map(|m| m.model_id()).collect();
    assert!(ids.contains(&"amazon.titan-embed-text-v2:0"), "{ids:?}");
    assert!(!ids.iter().any(|i| i.starts_with("cohere")));
    let all = c.list_foundation_models().send().await.unwrap();
    assert!(all
        .model_summaries()
        .iter()
        .any(|m| m.model_id() == "cohere.embed-v4:0"));
    let one = c
        .get_foundation_model()
        .model_identifier("arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-english-v3")
        .send()
        .await
        .unwrap();
    let d = one.model_details().unwrap();
    assert_eq!(d.provider_name(), Some("Cohere"));
    assert_eq!(d.output_modalities(), &[ModelModality::Embedding]);
    let missing = c
        .get_foundation_model()
        .model_identifier("amazon.nope-v9")
        .send()
        .await
        .unwrap_err();
    assert!(missing
        .into_service_error()
        .is_resource_not_found_exception());
    server.shutdown().await;
}

#[tokio::test]
async fn titan_v2_dimensions_and_normalize() {
    let server = common::start(common::config()).await;
    let c = runtime(&server.url).await;
    for dims in [256, 512, 1024] {
        for normalize in [true, false] {
            let r = invoke(
                &c,
                "amazon.titan-embed-text-v2:0",
                json!({"inputText": "hello world", "dimensions": dims, "normalize": normalize}),
            )
            .await
            .unwrap();
            let e = &r["embedding"];
            assert_eq!(e.as_array().unwrap().len(), dims);
            let n = norm(e);
            if normalize {
                assert!((n - 1.0).abs() < 1e-4, "dims {dims}: norm {n}");
            } else {
                assert!(
                    n > 0.0 && (n - 1.0).abs() > 1e-3,
                    "dims {dims}: raw norm {n}"
                );
            }
            assert!(r["inputTextTokenCount"].as_u64().unwrap() >= 2);
            assert_eq!(r["embeddingsByType"]["float"], *e);
        }
    }
    // Zero-padding keeps similarities exact: 1024 and 384-native agree.
    let a = invoke(
        &c,
        "us.amazon.titan-embed-text-v2:0",
        json!({"inputText": "Python is a programming language"}),
    )
    .await
    .unwrap();
    let b = invoke(
        &c,
        "amazon.titan-embed-text-v2:0",
        json!({"inputText": "I write code in Python"}),
    )
    .await
    .unwrap();
    let dot: f64 = a["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["embedding"].as_array().unwrap())
        .map(|(x, y)| x.as_f64().unwrap() * y.as_f64().unwrap())
        .sum();
    assert!(dot > 0.4, "related sentences: cosine {dot}");
    server.shutdown().await;
}

#[tokio::test]
async fn cohere_input_and_embedding_types() {
    let server = common::start(common::config()).await;
    let c = runtime(&server.url).await;
    for input_type in [
        "search_document",
        "search_query",
        "classification",
        "clustering",
    ] {
        let r = invoke(
            &c,
            "cohere.embed-english-v3",
            json!({"texts": ["a", "b c"], "input_type": input_type}),
        )
        .await
        .unwrap();
        assert_eq!(r["response_type"], "embeddings_floats");
        assert_eq!(r["embeddings"].as_array().unwrap().len(), 2);
        assert_eq!(r["embeddings"][0].as_array().unwrap().len(), 1024);
    }
    let r = invoke(
        &c,
        "cohere.embed-multilingual-v3",
        json!({"texts": ["hola"], "input_type": "search_query", "embedding_types": ["float", "int8", "uint8", "binary", "ubinary"]}),
    )
    .await
    .unwrap();
    assert_eq!(r["response_type"], "embeddings_by_type");
    for t in ["float", "int8", "uint8"] {
        assert_eq!(r["embeddings"][t][0].as_array().unwrap().len(), 1024, "{t}");
    }
    for t in ["binary", "ubinary"] {
        assert_eq!(r["embeddings"][t][0].as_array().unwrap().len(), 128, "{t}");
    }
    let r = invoke(
        &c,
        "global.cohere.embed-v4:0",
        json!({"texts": ["x"], "input_type": "search_document", "output_dimension": 256}),
    )
    .await
    .unwrap();
    assert_eq!(r["embeddings"]["float"][0].as_array().unwrap().len(), 256);
    server.shutdown().await;
}

#[tokio::test]
async fn errors_reach_the_sdk_as_bedrock_exceptions() {
    let server = common::start(common::config()).await;
    let c = runtime(&server.url).await;
    let e = invoke(
        &c,
        "amazon.titan-embed-text-v2:0",
        json!({"inputText": "x", "dimensions": 384}),
    )
    .await
    .unwrap_err();
    assert!(e.is_validation_exception(), "{e:?}");
    assert!(e
        .message()
        .unwrap()
        .contains("384 is not a valid enum value"));
    let e = invoke(&c, "amazon.nova-lite-v1:0", json!({}))
        .await
        .unwrap_err();
    assert!(e.is_validation_exception());
    assert_eq!(
        e.message(),
        Some("The provided model identifier is invalid.")
    );
    let e = invoke(
        &c,
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/zzz",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn throttling_is_retried_then_surfaces() {
    let mut cfg = common::config();
    cfg.faults = FaultConfig::parse_spec(&["rpm=2".into()]).unwrap();
    let server = common::start(cfg).await;
    let c = runtime(&server.url).await;
    let body = json!({"inputText": "x"});
    invoke(&c, "amazon.titan-embed-text-v2:0", body.clone())
        .await
        .unwrap();
    invoke(&c, "amazon.titan-embed-text-v2:0", body.clone())
        .await
        .unwrap();
    let e = invoke(&c, "amazon.titan-embed-text-v2:0", body)
        .await
        .unwrap_err();
    assert!(e.is_throttling_exception(), "{e:?}");
    let counters: Value = reqwest_get(&format!("{}/_embedrock/faults", server.url)).await;
    // The SDK's standard mode tried three times.
    assert_eq!(counters["counters"]["throttled_requests"], 3, "{counters}");
    server.shutdown().await;
}

async fn reqwest_get(url: &str) -> Value {
    // A plain HTTP/1.1 GET over a TCP stream: enough for the admin route.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn sigv4_good_and_bad_signatures() {
    let mut cfg = common::config();
    cfg.auth = AuthConfig::new(AuthMode::Sigv4).with_credential("AKIDTEST", "dummy-secret");
    let server = common::start(cfg).await;
    let good = runtime(&server.url).await;
    invoke(
        &good,
        "amazon.titan-embed-text-v2:0",
        json!({"inputText": "signed"}),
    )
    .await
    .unwrap();
    // An ARN id: the canonical path is encoded twice.
    invoke(
        &good,
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
        json!({"inputText": "signed"}),
    )
    .await
    .unwrap();
    let listed =
        aws_sdk_bedrock::Client::new(&sdk_config(&server.url, "AKIDTEST", "dummy-secret").await)
            .list_foundation_models()
            .by_provider("Cohere")
            .send()
            .await
            .unwrap();
    assert!(!listed.model_summaries().is_empty());
    let bad = aws_sdk_bedrockruntime::Client::new(
        &sdk_config(&server.url, "AKIDTEST", "wrong-secret").await,
    );
    let e = invoke(
        &bad,
        "amazon.titan-embed-text-v2:0",
        json!({"inputText": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"), "{e:?}");
    let unknown = aws_sdk_bedrockruntime::Client::new(
        &sdk_config(&server.url, "AKIDOTHER", "dummy-secret").await,
    );
    let e = invoke(
        &unknown,
        "amazon.titan-embed-text-v2:0",
        json!({"inputText": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"), "{e:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn in_flight_requests_finish_on_shutdown() {
    let mut cfg = common::config();
    cfg.faults = FaultConfig::parse_spec(&["latency=600ms".into()]).unwrap();
    let server = common::start(cfg).await;
    let c = runtime(&server.url).await;
    let call = tokio::spawn(async move {
        invoke(
            &c,
            "amazon.titan-embed-text-v2:0",
            json!({"inputText": "slow"}),
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    server.shutdown().await;
    let r = call.await.unwrap().unwrap();
    assert_eq!(r["embedding"].as_array().unwrap().len(), 1024);
}
