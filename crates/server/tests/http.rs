//! The router driven in process (`oneshot`, no socket) with the real local
//! model: headers, error shapes, hostile bodies, the control plane, the
//! OpenAI route and the admin route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

fn app() -> axum::Router {
    embedrock_server::app(common::models(), common::config())
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: impl Into<Body>) -> Response {
    app.clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(body.into())
                .unwrap(),
        )
        .await
        .unwrap()
}

async fn json_of(r: Response) -> Value {
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn invoke_answers_with_bedrock_headers() {
    let app = app();
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2%3A0/invoke",
        r#"{"inputText":"hello world","dimensions":512}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(header(&r, "x-amzn-requestid").len(), 36);
    let tokens: usize = header(&r, "x-amzn-bedrock-input-token-count")
        .parse()
        .unwrap();
    assert_eq!(tokens, 4, "[CLS] hello world [SEP]");
    assert_eq!(header(&r, "x-amzn-bedrock-output-token-count"), "0");
    assert!(header(&r, "x-amzn-bedrock-invocation-latency")
        .parse::<u64>()
        .is_ok());
    let v = json_of(r).await;
    assert_eq!(v["embedding"].as_array().unwrap().len(), 512);
    assert_eq!(v["inputTextTokenCount"], 4);
}

#[tokio::test]
async fn padding_preserves_the_models_vector() {
    let app = app();
    let local = common::local();
    let native = local.embed_one("a sunny day").await.unwrap();
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2:0/invoke",
        r#"{"inputText":"a sunny day"}"#,
    )
    .await;
    let v = json_of(r).await;
    let e: Vec<f32> = v["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(e.len(), 1024);
    assert_eq!(&e[..native.len()], native.as_slice());
    assert!(e[native.len()..].iter().all(|x| *x == 0.0));
}

#[tokio::test]
async fn errors_have_bedrock_shape() {
    let app = app();
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            "{not json",
            400,
            "ValidationException",
        ),
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            "",
            400,
            "ValidationException",
        ),
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            r#"{"inputText":["a"]}"#,
            400,
            "ValidationException",
        ),
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            "\u{0}\u{1}binary",
            400,
            "ValidationException",
        ),
        (
            "/model/amazon.titan-embed-text-v2:0/invoke",
            r#"{"inputText":"x","dimensions":1e400}"#,
            400,
            "ValidationException",
        ),
        (
            "/model/no.such-model/invoke",
            r#"{}"#,
            400,
            "ValidationException",
        ),
        ("/model/%ZZ/invoke", r#"{}"#, 400, "ValidationException"),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fx/invoke",
            r#"{}"#,
            404,
            "ResourceNotFoundException",
        ),
        (
            "/model/amazon.titan-embed-image-v1/invoke",
            r#"{"inputImage":"iVBORw0KGgo="}"#,
            400,
            "ValidationException",
        ),
        (
            "/model/cohere.embed-english-v3/invoke",
            r#"{"texts":["a"],"input_type":"image"}"#,
            200,
            "",
        ),
    ];
    for (uri, body, status, kind) in cases {
        let r = call(&app, "POST", uri, body.to_string()).await;
        assert_eq!(r.status().as_u16(), *status, "{uri} {body}");
        assert_eq!(header(&r, "x-amzn-errortype"), *kind, "{uri} {body}");
        assert!(!header(&r, "x-amzn-requestid").is_empty());
        let v = json_of(r).await;
        if *status != 200 {
            assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        }
    }
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2:0/converse",
        "{}",
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn huge_bodies_are_refused() {
    let mut cfg = common::config();
    cfg.max_body_bytes = 1000;
    let app = embedrock_server::app(common::models(), cfg);
    let big = format!(r#"{{"inputText":"{}"}}"#, "a".repeat(5000));
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2:0/invoke",
        big,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "x-amzn-errortype"), "ValidationException");
    assert!(json_of(r).await["message"]
        .as_str()
        .unwrap()
        .contains("1000"));
}

#[tokio::test]
async fn strict_mode_refuses_padding() {
    let mut cfg = common::config();
    cfg.strict_dimensions = true;
    let app = embedrock_server::app(common::models(), cfg);
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2:0/invoke",
        r#"{"inputText":"x","dimensions":256}"#,
    )
    .await;
    assert_eq!(header(&r, "x-amzn-errortype"), "ValidationException");
    assert!(json_of(r).await["message"]
        .as_str()
        .unwrap()
        .contains("strict"));
}

#[tokio::test]
async fn control_plane_filters_and_errors() {
    let app = app();
    let v = json_of(
        call(
            &app,
            "GET",
            "/foundation-models?byProvider=cohere",
            Body::empty(),
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = v["modelSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["modelId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "cohere.embed-english-v3",
            "cohere.embed-multilingual-v3",
            "cohere.embed-v4:0"
        ]
    );
    let v = json_of(
        call(
            &app,
            "GET",
            "/foundation-models?byInferenceType=PROVISIONED",
            Body::empty(),
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = v["modelSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["modelId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "amazon.titan-embed-text-v1:2:8k",
            "amazon.titan-embed-image-v1:0"
        ]
    );
    let r = call(
        &app,
        "GET",
        "/foundation-models?byOutputModality=VIDEO",
        Body::empty(),
    )
    .await;
    assert_eq!(header(&r, "x-amzn-errortype"), "ValidationException");
    let r = call(
        &app,
        "GET",
        "/foundation-models/amazon.titan-embed-text-v2%3A0",
        Body::empty(),
    )
    .await;
    assert_eq!(
        json_of(r).await["modelDetails"]["modelName"],
        "Titan Text Embeddings V2"
    );
    let r = call(&app, "GET", "/foundation-models/amazon.nope", Body::empty()).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "x-amzn-errortype"), "ResourceNotFoundException");
}

#[tokio::test]
async fn openai_route() {
    let app = app();
    let r = call(
        &app,
        "POST",
        "/v1/embeddings",
        r#"{"input":"hello","model":"all-minilm-l6-v2"}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = json_of(r).await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 384);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let r = call(
        &app,
        "POST",
        "/v1/embeddings",
        r#"{"input":["a","b"],"model":"cohere.embed-v4:0"}"#,
    )
    .await;
    let v = json_of(r).await;
    assert_eq!(v["data"][1]["embedding"].as_array().unwrap().len(), 1536);
    let r = call(
        &app,
        "POST",
        "/v1/embeddings",
        r#"{"input":"a","model":"gpt-4"}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(json_of(r).await["error"]["message"].is_string());
    let huge = r#"{"input":"a","model":"all-minilm-l6-v2","dimensions":1000000000000}"#;
    let r = call(&app, "POST", "/v1/embeddings", huge).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = call(&app, "POST", "/v1/embeddings", r#"{"input":5}"#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_route_sets_and_counts_faults() {
    let app = app();
    let r = call(
        &app,
        "PUT",
        "/_embedrock/faults",
        r#"{"error_rate": 1.0, "unavailable_share": 1.0, "seed": 4}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2:0/invoke",
        r#"{"inputText":"x"}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        header(&r, "x-amzn-errortype"),
        "ServiceUnavailableException"
    );
    let r = call(&app, "PUT", "/_embedrock/faults", r#"{"error_rate": 7}"#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v = json_of(call(&app, "GET", "/_embedrock/faults", Body::empty()).await).await;
    assert_eq!(v["config"]["error_rate"], 1.0);
    assert_eq!(v["counters"]["unavailable"], 1);
    // Neither an empty object nor an array silently clears the faults.
    for body in ["{}", "[]", "[0.5]", "null"] {
        let r = call(&app, "PUT", "/_embedrock/faults", body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            json_of(r).await["error"]["type"],
            "invalid_request_error",
            "{body}"
        );
    }
    let v = json_of(call(&app, "GET", "/_embedrock/faults", Body::empty()).await).await;
    assert_eq!(v["config"]["error_rate"], 1.0);
    let r = call(&app, "DELETE", "/_embedrock/faults", Body::empty()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["config"]["error_rate"], 0.0);
    let r = call(
        &app,
        "POST",
        "/model/amazon.titan-embed-text-v2:0/invoke",
        r#"{"inputText":"x"}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_requests_keep_order_and_shape() {
    let app = app();
    let texts: Vec<String> = (0..40).map(|i| format!("text number {i}")).collect();
    let body = json!({"texts": texts, "input_type": "search_document"}).to_string();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, body) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            json_of(call(&app, "POST", "/model/cohere.embed-english-v3/invoke", body).await).await
        }));
    }
    let first = tasks.remove(0).await.unwrap();
    for t in tasks {
        assert_eq!(t.await.unwrap()["embeddings"], first["embeddings"]);
    }
    let one = common::local().embed_one("text number 7").await.unwrap();
    let got: Vec<f32> = first["embeddings"][7].as_array().unwrap()[..384]
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert!(embedrock_core::math::cosine(&one, &got) > 0.9999);
}
