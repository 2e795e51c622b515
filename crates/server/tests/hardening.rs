//! Bounded work and bounded connections, over real sockets: admission
//! control, deadlines and disconnects dropping the work, header, body and
//! idle timeouts, the connection cap, the shutdown deadline, the limits of
//! each route, and each surface's error shape and auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedrock_core::{DynEmbedder, EmbedRequest, EmbedResponse, Embedder};
use embedrock_server::testing::{quiet_config, TestServer};
use embedrock_server::{AuthConfig, AuthMode, ModelMap, ServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A unit double of the server's embedder: each call waits `delay` and
/// records when it started and when its future was dropped.
struct Slow {
    delay: Duration,
    started: AtomicUsize,
    dropped: AtomicUsize,
    finished: AtomicUsize,
}

struct OnDrop<'a>(&'a AtomicUsize);
impl Drop for OnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Embedder for Slow {
    async fn embed(&self, request: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let _guard = OnDrop(&self.dropped);
        tokio::time::sleep(self.delay).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        let n = request.texts.len();
        Ok(EmbedResponse::new(
            "slow",
            vec![vec![0.6, 0.8, 0.0, 0.0]; n],
            vec![1; n],
        ))
    }
    fn model_id(&self) -> &str {
        "slow"
    }
    fn dimensions(&self) -> usize {
        4
    }
    fn max_batch(&self) -> usize {
        96
    }
    fn count_tokens(&self, texts: &[String]) -> embedrock_core::Result<Vec<usize>> {
        Ok(texts.iter().map(|t| t.split_whitespace().count()).collect())
    }
}

fn slow(delay: Duration) -> Arc<Slow> {
    Arc::new(Slow {
        delay,
        started: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
    })
}

async fn start_slow(s: &Arc<Slow>, config: ServerConfig) -> TestServer {
    let e: DynEmbedder = s.clone();
    TestServer::start(ModelMap::catalogue("slow", e), config)
        .await
        .unwrap()
}

/// One HTTP/1.1 request over a fresh socket; the status, headers and body.
async fn send(
    url: &str,
    method: &str,
    path: &str,
    body: &str,
    extra: &str,
) -> (u16, String, Value) {
    let host = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    parse(&buf)
}

fn parse(buf: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

/// Reads until the peer closes; the time it took, or `None` after `limit`.
async fn time_to_close(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

const TITAN: &str = "/model/amazon.titan-embed-text-v2:0/invoke";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_control_refuses_at_once_and_reports() {
    let s = slow(Duration::from_millis(1500));
    let mut cfg = quiet_config();
    cfg.max_in_flight_texts = 3;
    let server = start_slow(&s, cfg).await;
    let url = server.url().to_string();
    let busy = {
        let url = url.clone();
        let body = json!({"texts": ["a", "b", "c"], "input_type": "search_query"}).to_string();
        tokio::spawn(async move {
            send(
                &url,
                "POST",
                "/model/cohere.embed-english-v3/invoke",
                &body,
                "",
            )
            .await
        })
    };
    while s.started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = Instant::now();
    let (status, head, body) = send(&url, "POST", TITAN, r#"{"inputText":"x"}"#, "").await;
    assert_eq!(status, 429);
    assert!(
        head.contains("x-amzn-errortype: throttlingexception"),
        "{head}"
    );
    assert_eq!(
        body["message"],
        "Too many requests, please wait before trying again."
    );
    let (status, _, body) = send(
        &url,
        "POST",
        "/v1/embeddings",
        r#"{"input":"x","model":"slow"}"#,
        "",
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "refused at once, not queued"
    );
    let (_, _, health) = send(&url, "GET", "/_embedrock/health", "", "").await;
    assert_eq!(
        health["admission"],
        json!({"in_flight_texts": 3, "limit": 3, "rejected": 2})
    );
    assert_eq!(busy.await.unwrap().0, 200);
    let (status, _, _) = send(&url, "POST", TITAN, r#"{"inputText":"x"}"#, "").await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_drops_the_embedding() {
    let s = slow(Duration::from_secs(30));
    let mut cfg = quiet_config();
    cfg.request_timeout_secs = 0.3;
    let server = start_slow(&s, cfg).await;
    let t = Instant::now();
    let (status, head, _) = send(server.url(), "POST", TITAN, r#"{"inputText":"x"}"#, "").await;
    assert_eq!(status, 408);
    assert!(
        head.contains("x-amzn-errortype: modeltimeoutexception"),
        "{head}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(s.started.load(Ordering::SeqCst), 1);
    assert_eq!(
        s.dropped.load(Ordering::SeqCst),
        1,
        "the embed future was dropped"
    );
    assert_eq!(s.finished.load(Ordering::SeqCst), 0);
    let (_, _, health) = send(server.url(), "GET", "/_embedrock/health", "", "").await;
    assert_eq!(
        health["admission"]["in_flight_texts"], 0,
        "permits given back"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_disconnect_drops_the_embedding() {
    let s = slow(Duration::from_secs(30));
    let server = start_slow(&s, quiet_config()).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let body = r#"{"inputText":"going away"}"#;
    let mut sock = TcpStream::connect(&host).await.unwrap();
    let req = format!(
        "POST {TITAN} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    while s.started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(sock);
    let t = Instant::now();
    while s.dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "work still running after the client left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.finished.load(Ordering::SeqCst), 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_an_oversized_request_is_refused() {
    let server = TestServer::start(common::models(), quiet_config())
        .await
        .unwrap();
    let url = server.url().to_string();
    // 20 MB of text: under the 25 MB body cap, far over every per-text cap.
    let big = json!({"inputText": "word ".repeat(4_000_000)}).to_string();
    let big_task = {
        let url = url.clone();
        tokio::spawn(async move {
            send(
                &url,
                "POST",
                "/model/amazon.titan-embed-text-v1/invoke",
                &big,
                "",
            )
            .await
        })
    };
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    while !big_task.is_finished() || probes < 5 {
        let t = Instant::now();
        let (status, _, _) = send(&url, "GET", "/_embedrock/health", "", "").await;
        assert_eq!(status, 200);
        worst = worst.max(t.elapsed());
        probes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, head, body) = big_task.await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(head.contains("x-amzn-errortype: validationexception"));
    assert!(
        body["message"].as_str().unwrap().contains("131072"),
        "{body}"
    );
    assert!(worst < Duration::from_secs(1), "health took {worst:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn per_family_character_caps() {
    let server = TestServer::start(common::models(), quiet_config())
        .await
        .unwrap();
    let cases = [
        (
            "amazon.titan-embed-text-v1",
            json!({"inputText": "a".repeat(131_073)}),
        ),
        (
            "amazon.titan-embed-image-v1",
            json!({"inputText": "a".repeat(4_097)}),
        ),
        (
            "cohere.embed-v4:0",
            json!({"texts": ["a".repeat(2_048_001)], "input_type": "search_query"}),
        ),
        (
            "cohere.embed-v4:0",
            json!({"texts": vec!["a".repeat(30_000); 70], "input_type": "search_query"}),
        ),
    ];
    for (model, body) in cases {
        let (status, head, v) = send(
            server.url(),
            "POST",
            &format!("/model/{model}/invoke"),
            &body.to_string(),
            "",
        )
        .await;
        assert_eq!(status, 400, "{model}: {v}");
        assert!(head.contains("x-amzn-errortype: validationexception"));
        // The codec's maxLength wording, or the server's per-request cap.
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains("maxLength") || message.contains("characters"),
            "{v}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn openai_caps_inputs_and_dimensions() {
    let s = slow(Duration::ZERO);
    let server = start_slow(&s, quiet_config()).await;
    let many: Vec<String> = vec!["x".into(); 2049];
    let cases = [
        (json!({"input": many, "model": "slow"}), "too_many_inputs"),
        (
            json!({"input": "x", "model": "slow", "dimensions": 5}),
            "invalid_dimensions",
        ),
        (
            json!({"input": "x", "model": "slow", "dimensions": 0}),
            "invalid_dimensions",
        ),
        (
            json!({"input": "x", "model": "cohere.embed-v4:0", "dimensions": 1537}),
            "invalid_dimensions",
        ),
        (
            json!({"input": "x".repeat(50_001), "model": "slow"}),
            "input_too_long",
        ),
    ];
    for (body, code) in cases {
        let (status, head, v) = send(
            server.url(),
            "POST",
            "/v1/embeddings",
            &body.to_string(),
            "",
        )
        .await;
        assert_eq!(status, 400, "{v}");
        assert!(!head.contains("x-amzn-errortype"));
        assert_eq!(v["error"]["code"], code, "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
    assert_eq!(
        s.started.load(Ordering::SeqCst),
        0,
        "no work for refused requests"
    );
    let ok = json!({"input": vec!["x"; 2048], "model": "slow", "dimensions": 4});
    let (status, _, v) = send(server.url(), "POST", "/v1/embeddings", &ok.to_string(), "").await;
    assert_eq!(status, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 2048);
    let wide = json!({"input": "x", "model": "cohere.embed-v4:0", "dimensions": 1536});
    let (status, _, v) = send(
        server.url(),
        "POST",
        "/v1/embeddings",
        &wide.to_string(),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 1536);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_methods_and_routes_get_the_surface_shape() {
    let s = slow(Duration::ZERO);
    let server = start_slow(&s, quiet_config()).await;
    for (method, path) in [
        ("GET", TITAN),
        ("DELETE", "/foundation-models"),
        ("GET", "/nope"),
    ] {
        let (status, head, v) = send(server.url(), method, path, "", "").await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(
            head.contains("x-amzn-errortype: resourcenotfoundexception"),
            "{head}"
        );
        assert!(v["message"].as_str().unwrap().contains("Unknown operation"));
    }
    for (method, path, status) in [
        ("GET", "/v1/embeddings", 405),
        ("POST", "/_embedrock/health", 405),
        ("GET", "/_embedrock/nope", 404),
    ] {
        let (got, head, v) = send(server.url(), method, path, "", "").await;
        assert_eq!(got, status, "{method} {path}");
        assert!(!head.contains("x-amzn-errortype"));
        assert!(v["error"]["message"].is_string(), "{v}");
        assert!(v["error"]["type"].is_string(), "{v}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_own_api_takes_bearer_keys() {
    let s = slow(Duration::ZERO);
    let mut cfg = quiet_config();
    cfg.auth = AuthConfig::new(AuthMode::Sigv4)
        .with_credential("AKID", "secret")
        .with_api_key("key-1");
    let server = start_slow(&s, cfg).await;
    let body = r#"{"input":"x","model":"slow"}"#;
    let (status, _, v) = send(server.url(), "POST", "/v1/embeddings", body, "").await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
    let (status, _, _) = send(
        server.url(),
        "POST",
        "/v1/embeddings",
        body,
        "Authorization: Bearer key-2\r\n",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = send(
        server.url(),
        "POST",
        "/v1/embeddings",
        body,
        "Authorization: Bearer key-1\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = send(server.url(), "GET", "/_embedrock/faults", "", "").await;
    assert_eq!(status, 401);
    let (status, _, _) = send(server.url(), "GET", "/_embedrock/health", "", "").await;
    assert_eq!(status, 200, "health is open");
    // The Bedrock surface still answers in its own shape.
    let (status, head, _) = send(server.url(), "POST", TITAN, r#"{"inputText":"x"}"#, "").await;
    assert_eq!(status, 403);
    assert!(head.contains("x-amzn-errortype: missingauthenticationtokenexception"));
    server.stop().await.unwrap();
}

fn timeouts() -> ServerConfig {
    let mut cfg = quiet_config();
    cfg.header_timeout_secs = 0.5;
    cfg.body_timeout_secs = 0.5;
    cfg.idle_timeout_secs = 0.5;
    cfg.shutdown_timeout_secs = 0.5;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_body_is_cut_off() {
    let s = slow(Duration::ZERO);
    let server = start_slow(&s, timeouts()).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let mut sock = TcpStream::connect(&host).await.unwrap();
    let head = format!("POST {TITAN} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\n{{");
    sock.write_all(head.as_bytes()).await.unwrap();
    let t = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // A byte every 100 ms: never idle, but the body never completes.
    loop {
        tokio::select! {
            n = sock.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                let _ = sock.write_all(b" ").await;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(5), "slow body still open");
    }
    let (status, head, v) = parse(&answer);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    assert!(head.contains("x-amzn-errortype: validationexception"));
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("not received within"));
    assert_eq!(s.started.load(Ordering::SeqCst), 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_sockets_are_closed() {
    let s = slow(Duration::ZERO);
    let server = start_slow(&s, timeouts()).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let mut half = TcpStream::connect(&host).await.unwrap();
    half.write_all(format!("POST {TITAN} HTTP/1.1\r\nHost: {host}\r\n").as_bytes())
        .await
        .unwrap();
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(&host).await.unwrap());
    }
    // A kept-alive connection after one answered request.
    let mut kept = TcpStream::connect(&host).await.unwrap();
    kept.write_all(format!("GET /_embedrock/health HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let limit = Duration::from_secs(4);
    assert!(
        time_to_close(&mut half, limit).await.is_some(),
        "half-sent headers still open"
    );
    for s in &mut silent {
        assert!(
            time_to_close(s, limit).await.is_some(),
            "silent socket still open"
        );
    }
    assert!(
        time_to_close(&mut kept, limit).await.is_some(),
        "idle keep-alive still open"
    );
    let (status, _, _) = send(server.url(), "GET", "/_embedrock/health", "", "").await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_above_the_cap_are_closed_at_once() {
    let s = slow(Duration::ZERO);
    let mut cfg = quiet_config();
    cfg.max_connections = 4;
    let server = start_slow(&s, cfg).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&host).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(&host).await.unwrap();
    let _ = extra
        .write_all(b"GET /_embedrock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let closed = time_to_close(&mut extra, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "a fifth connection was served");
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, _) = send(server.url(), "GET", "/_embedrock/health", "", "").await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_half_sent_request() {
    let s = slow(Duration::ZERO);
    let mut cfg = timeouts();
    cfg.body_timeout_secs = 60.0;
    cfg.idle_timeout_secs = 60.0;
    let server = start_slow(&s, cfg).await;
    let host = server.url().trim_start_matches("http://").to_string();
    let mut sock = TcpStream::connect(&host).await.unwrap();
    sock.write_all(
        format!("POST {TITAN} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n{{")
            .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("shutdown held by a half-sent request")
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(time_to_close(&mut sock, Duration::from_secs(2))
        .await
        .is_some());
}

/// A unit double whose vectors hold a NaN.
struct Broken;

#[async_trait::async_trait]
impl Embedder for Broken {
    async fn embed(&self, request: EmbedRequest) -> embedrock_core::Result<EmbedResponse> {
        let n = request.texts.len();
        Ok(EmbedResponse::new(
            "broken",
            vec![vec![0.5, f32::NAN]; n],
            vec![1; n],
        ))
    }
    fn model_id(&self) -> &str {
        "broken"
    }
    fn dimensions(&self) -> usize {
        2
    }
    fn max_batch(&self) -> usize {
        8
    }
}

#[tokio::test]
async fn a_non_finite_vector_is_an_error_not_a_200() {
    let e: DynEmbedder = Arc::new(Broken);
    let server = TestServer::start(ModelMap::catalogue("broken", e), quiet_config())
        .await
        .unwrap();
    let (status, head, v) = send(server.url(), "POST", TITAN, r#"{"inputText":"x"}"#, "").await;
    assert_eq!(status, 424, "{v}");
    assert!(head.contains("x-amzn-errortype: modelerrorexception"));
    assert!(v["message"].as_str().unwrap().contains("broken"));
    let (status, _, v) = send(
        server.url(),
        "POST",
        "/v1/embeddings",
        r#"{"input":"x","model":"broken"}"#,
        "",
    )
    .await;
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["error"]["code"], "ModelErrorException");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_gives_back_the_real_models_permits() {
    let server = TestServer::start(common::models(), quiet_config())
        .await
        .unwrap();
    let host = server.url().trim_start_matches("http://").to_string();
    let texts: Vec<String> = (0..96)
        .map(|i| format!("passage {i} {}", "words and more words ".repeat(80)))
        .collect();
    let body = json!({"texts": texts, "input_type": "search_document"}).to_string();
    let mut sock = TcpStream::connect(&host).await.unwrap();
    let req = format!(
        "POST /model/cohere.embed-english-v3/invoke HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let t = Instant::now();
    loop {
        let (_, _, h) = send(server.url(), "GET", "/_embedrock/health", "", "").await;
        if h["admission"]["in_flight_texts"] == 96 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the request never started: {h}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(sock);
    let t = Instant::now();
    loop {
        let (_, _, h) = send(server.url(), "GET", "/_embedrock/health", "", "").await;
        if h["admission"]["in_flight_texts"] == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the request's work was not dropped: {h}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await.unwrap();
}
