//! A load generator for the server: requests per second and p50/p99 latency
//! under concurrent load over loopback HTTP, and the same texts embedded in
//! process with the same concurrency, so the HTTP layer's cost shows as a
//! ratio.
//!
//! Run with `cargo run --release -p embedrock-server --example load --
//! [--texts FILE] [--concurrency 8] [--requests 2000] [--model amazon.titan-embed-text-v2:0]
//! [--batch 1] [--url http://127.0.0.1:8765]`. Without `--url` it starts its own server on
//! port 0 over the local default model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedrock_core::{DynEmbedder, EmbedRequest};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Opts {
    texts: Option<String>,
    concurrency: usize,
    requests: usize,
    model: String,
    batch: usize,
    url: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
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

#[tokio::main]
async fn main() {
    let o = opts();
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
