//! A load generator for the server: requests per second and p50/p99 latency
//! under concurrent load over loopback HTTP, and the same texts embedded in
//! process with the same concurrency, so the HTTP layer's cost shows as a
//! ratio.
//!
//! Run with `cargo run --release -p embedrock-server --example load --
//! [--texts FILE] [--concurrency 8] [--requests 2000] [--model amazon.titan-embed-text-v2:0]
//! [--batch 1] [--url http://127.0.0.1:8765]`. Without `--url` it starts its own server on
//! port 0 over the local default model.
//!
//! Two more modes, each starting its own servers:
//! - `--mode admission --concurrency 50 --seconds 60 [--limit 16]`: the same
//!   closed-loop load for the same time against a server with admission
//!   control off and one with a limit of `--limit` texts, one after the
//!   other in one run; p50/p99 of the answered requests and the count of
//!   429s;
//! - `--mode health --seconds 20 [--concurrency 4]`: clients sending 20 MB
//!   bodies (refused by the character caps) in a loop while a prober times
//!   `GET /_embedrock/health`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedrock_core::{DynEmbedder, EmbedRequest};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Opts {
    mode: String,
    seconds: f64,
    limit: usize,
    texts: Option<String>,
    concurrency: usize,
    requests: usize,
    model: String,
    batch: usize,
    url: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        mode: "throughput".into(),
        seconds: 60.0,
        limit: 16,
        texts: None,
        concurrency: 8,
        requests: 2000,
        model: "amazon.titan-embed-text-v2:0".into(),
        batch: 1,
        url: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--texts" => o.texts = Some(v),
            "--concurrency" => o.concurrency = v.parse().unwrap(),
            "--requests" => o.requests = v.parse().unwrap(),
            "--model" => o.model = v,
            "--batch" => o.batch = v.parse().unwrap(),
            "--url" => o.url = Some(v),
            "--mode" => o.mode = v,
            "--seconds" => o.seconds = v.parse().unwrap(),
            "--limit" => o.limit = v.parse().unwrap(),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn texts(path: Option<&str>) -> Vec<String> {
    if let Some(p) = path {
        return std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
    }
    // Twelve-word sentences built from a fixed vocabulary, deterministic.
    let words = [
        "model",
        "vector",
        "search",
        "query",
        "document",
        "fast",
        "local",
        "server",
        "cloud",
        "token",
        "embedding",
        "retrieval",
        "answer",
        "question",
        "memory",
        "store",
        "index",
        "similar",
        "text",
        "language",
    ];
    (0..1000)
        .map(|i: usize| {
            (0..12)
                .map(|j| words[(i * 7 + j * 13 + i / 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn body(model: &str, batch: &[String]) -> String {
    if model.contains("cohere") {
        serde_json::json!({"texts": batch, "input_type": "search_document"}).to_string()
    } else {
        serde_json::json!({"inputText": batch[0]}).to_string()
    }
}

async fn post(stream: &mut BufReader<TcpStream>, host: &str, path: &str, body: &str) -> u16 {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(req.as_bytes()).await.unwrap();
    let mut status_line = String::new();
    stream.read_line(&mut status_line).await.unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).await.unwrap();
    status
}

struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
    texts_per_s: f64,
}

fn stats(mut lat: Vec<Duration>, took: Duration, batch: usize) -> Stats {
    lat.sort();
    let n = lat.len();
    Stats {
        rps: n as f64 / took.as_secs_f64(),
        p50: lat[n / 2],
        p99: lat[(n * 99 / 100).min(n - 1)],
        texts_per_s: (n * batch) as f64 / took.as_secs_f64(),
    }
}

async fn over_http(url: &str, o: &Opts, batches: Arc<Vec<Vec<String>>>) -> Stats {
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let path = format!(
        "/model/{}/invoke",
        embedrock_bedrock::model_id::percent_encode(&o.model)
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (host, path, next, batches, model, total) = (
            host.clone(),
            path.clone(),
            next.clone(),
            batches.clone(),
            o.model.clone(),
            o.requests,
        );
        tasks.push(tokio::spawn(async move {
            let mut stream = BufReader::new(TcpStream::connect(&host).await.unwrap());
            stream.get_ref().set_nodelay(true).unwrap();
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let b = body(&model, &batches[i % batches.len()]);
                let t = Instant::now();
                let status = post(&mut stream, &host, &path, &b).await;
                assert_eq!(status, 200);
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    stats(lat, started.elapsed(), o.batch)
}

async fn in_process(e: DynEmbedder, o: &Opts, batches: Arc<Vec<Vec<String>>>) -> Stats {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (e, next, batches, total) = (e.clone(), next.clone(), batches.clone(), o.requests);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                e.embed(EmbedRequest::new(batches[i % batches.len()].clone()))
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    stats(lat, started.elapsed(), o.batch)
}

fn show(name: &str, s: &Stats) {
    println!(
        "{name:<11} {:>9.1} req/s {:>9.1} texts/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        s.rps,
        s.texts_per_s,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3
    );
}

/// Starts a quiet server over `local` with this admission limit and the
/// default limits otherwise.
async fn start(
    local: DynEmbedder,
    max_in_flight_texts: usize,
) -> embedrock_server::testing::TestServer {
    let mut cfg = embedrock_server::testing::quiet_config();
    cfg.max_in_flight_texts = max_in_flight_texts;
    let models = embedrock_server::ModelMap::catalogue("all-minilm-l6-v2", local);
    embedrock_server::testing::TestServer::start(models, cfg)
        .await
        .unwrap()
}

/// Closed-loop clients on keep-alive connections for `seconds`: the
/// latencies of 200s, and the counts of 429s and of anything else.
async fn timed(
    url: &str,
    path: &str,
    bodies: Arc<Vec<String>>,
    clients: usize,
    seconds: f64,
) -> (Vec<Duration>, usize, usize) {
    let host = url.trim_start_matches("http://").to_string();
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (host, path, bodies, next) =
            (host.clone(), path.to_string(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = BufReader::new(TcpStream::connect(&host).await.unwrap());
            stream.get_ref().set_nodelay(true).unwrap();
            let (mut ok, mut throttled, mut other) = (Vec::new(), 0, 0);
            while Instant::now() < until {
                let b = &bodies[next.fetch_add(1, Ordering::Relaxed) % bodies.len()];
                let t = Instant::now();
                match post(&mut stream, &host, &path, b).await {
                    200 => ok.push(t.elapsed()),
                    429 => throttled += 1,
                    _ => other += 1,
                }
            }
            (ok, throttled, other)
        }));
    }
    let (mut ok, mut throttled, mut other) = (Vec::new(), 0, 0);
    for t in tasks {
        let (o, th, ot) = t.await.unwrap();
        ok.extend(o);
        throttled += th;
        other += ot;
    }
    ok.sort();
    (ok, throttled, other)
}

fn pct(lat: &[Duration], p: usize) -> f64 {
    if lat.is_empty() {
        return f64::NAN;
    }
    lat[(lat.len() * p / 100).min(lat.len() - 1)].as_secs_f64() * 1e3
}

async fn admission(o: &Opts, local: DynEmbedder, batches: Arc<Vec<Vec<String>>>) {
    let path = format!(
        "/model/{}/invoke",
        embedrock_bedrock::model_id::percent_encode(&o.model)
    );
    let bodies: Arc<Vec<String>> = Arc::new(batches.iter().map(|b| body(&o.model, b)).collect());
    println!(
        "admission: model {} | {} text(s) a request | {} clients | {} s each",
        o.model, o.batch, o.concurrency, o.seconds
    );
    for (name, limit) in [("off", 0), ("on", o.limit)] {
        let server = start(local.clone(), limit).await;
        let _ = timed(server.url(), &path, bodies.clone(), o.concurrency, 2.0).await;
        let (ok, throttled, other) = timed(
            server.url(),
            &path,
            bodies.clone(),
            o.concurrency,
            o.seconds,
        )
        .await;
        println!(
            "admission {name:<3} (limit {limit:>4} texts): {:>6} ok ({:>7.1}/s)  p50 {:>8.1} ms  p99 {:>8.1} ms  429s {:>6}  other {}",
            ok.len(),
            ok.len() as f64 / o.seconds,
            pct(&ok, 50),
            pct(&ok, 99),
            throttled,
            other
        );
        server.stop().await.unwrap();
    }
}

async fn health(o: &Opts, local: DynEmbedder) {
    let server = start(local, 1024).await;
    let big = Arc::new(vec![
        serde_json::json!({"inputText": "word ".repeat(4_000_000)}).to_string(),
    ]);
    println!(
        "health: {} clients sending {} MB Titan v1 bodies for {} s",
        o.concurrency,
        big[0].len() / 1_000_000,
        o.seconds
    );
    let url = server.url().to_string();
    let senders = {
        let (url, big, n, s) = (url.clone(), big.clone(), o.concurrency, o.seconds);
        tokio::spawn(async move {
            timed(&url, "/model/amazon.titan-embed-text-v1/invoke", big, n, s).await
        })
    };
    let host = url.trim_start_matches("http://").to_string();
    let until = Instant::now() + Duration::from_secs_f64(o.seconds);
    let mut lat = Vec::new();
    while Instant::now() < until {
        let mut stream = BufReader::new(TcpStream::connect(&host).await.unwrap());
        let t = Instant::now();
        stream
            .get_mut()
            .write_all(
                format!("GET /_embedrock/health HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        lat.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, refused) = senders.await.unwrap();
    lat.sort();
    println!(
        "health: {} probes  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms | oversized bodies refused: {refused}",
        lat.len(),
        pct(&lat, 50),
        pct(&lat, 99),
        lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    );
    server.stop().await.unwrap();
}

/// The admission and health modes.
async fn other_mode(o: &Opts) {
    let local: DynEmbedder =
        Arc::new(embedrock_local::LocalEmbedder::open("all-minilm-l6-v2").unwrap());
    let all = texts(o.texts.as_deref());
    let batches: Arc<Vec<Vec<String>>> = Arc::new(
        all.chunks(o.batch)
            .filter(|c| c.len() == o.batch)
            .map(<[String]>::to_vec)
            .collect(),
    );
    match o.mode.as_str() {
        "admission" => admission(o, local, batches).await,
        "health" => health(o, local).await,
        other => panic!("unknown mode {other} (throughput, admission, health)"),
    }
}

#[tokio::main]
async fn main() {
    let o = opts();
    if o.mode != "throughput" {
        return other_mode(&o).await;
    }
    let all = texts(o.texts.as_deref());
    let batches: Arc<Vec<Vec<String>>> = Arc::new(
        all.chunks(o.batch)
            .filter(|c| c.len() == o.batch)
            .map(<[String]>::to_vec)
            .collect(),
    );
    let local: DynEmbedder =
        Arc::new(embedrock_local::LocalEmbedder::open("all-minilm-l6-v2").unwrap());
    let (url, stop) = match &o.url {
        Some(u) => (u.clone(), None),
        None => {
            let listening = embedrock_server::Listening::bind("127.0.0.1", 0)
                .await
                .unwrap();
            let url = format!("http://{}", listening.addr);
            let mut cfg = embedrock_server::ServerConfig::default();
            cfg.access_log = false;
            let app = embedrock_server::app(
                embedrock_server::ModelMap::catalogue("all-minilm-l6-v2", local.clone()),
                cfg,
            );
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(embedrock_server::serve(listening, app, None, async {
                let _ = rx.await;
            }));
            (url, Some(tx))
        }
    };
    println!(
        "model {} | {} requests of {} text(s) | concurrency {} | {} distinct batches",
        o.model,
        o.requests,
        o.batch,
        o.concurrency,
        batches.len()
    );
    // Warm up both paths.
    let warm = Opts {
        requests: 50,
        texts: None,
        model: o.model.clone(),
        url: None,
        ..o
    };
    let _ = in_process(local.clone(), &warm, batches.clone()).await;
    let _ = over_http(&url, &warm, batches.clone()).await;
    let o = Opts {
        texts: None,
        model: warm.model,
        url: None,
        ..warm
    };
    let o = Opts {
        requests: opts().requests,
        ..o
    };
    let inproc = in_process(local.clone(), &o, batches.clone()).await;
    let http = over_http(&url, &o, batches.clone()).await;
    show("in-process", &inproc);
    show("http", &http);
    println!(
        "ratio http/in-process throughput: {:.3}",
        http.rps / inproc.rps
    );
    if let Some(tx) = stop {
        let _ = tx.send(());
    }
}
