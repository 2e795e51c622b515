//! The Hugging Face hub source over real HTTP, against a small server on
//! loopback that answers the hub's `/<repo>/resolve/<revision>/<file>` URLs
//! from a model directory (the hub itself is not reachable from CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use embedrock_local::{ModelFiles, NoProgress, Source};

/// Serves files under `root` at `/owner/repo/resolve/main/<file>`; records
/// each request line and its Authorization header.
fn serve(root: PathBuf, log: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = line.trim().to_string();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            log.lock()
                .unwrap()
                .push(format!("{} {auth}", request_line.trim()));
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let file = path
                .strip_prefix("/owner/repo/resolve/main/")
                .map(|f| root.join(f));
            match file.filter(|f| f.is_file()) {
                Some(f) => {
                    let body = std::fs::read(f).unwrap();
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    stream.write_all(&body).unwrap();
                }
                None => {
                    write!(
                        stream,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .unwrap();
                }
            }
        }
    });
    format!("http://{addr}")
}

#[test]
fn fetches_a_model_from_a_hub_endpoint() {
    // The real default model, as the hub would serve it.
    let source_dir = ModelFiles::from_env()
        .ensure("all-minilm-l6-v2", &NoProgress)
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let endpoint = serve(source_dir.clone(), log.clone());
    let cache = tempfile::tempdir().unwrap();
    let store = ModelFiles::new(cache.path());
    let hub = Source::Hub {
        repo: "owner/repo".into(),
        revision: "main".into(),
        endpoint: Some(endpoint.clone()),
    };
    // The default model's published checksum applies whatever the source.
    let dir = store.pull("all-minilm-l6-v2", &[hub], &NoProgress).unwrap();
    let installed = &store.list()[0];
    assert!(installed.manifest.source.starts_with("hf:owner/repo@main"));
    // Every file was checked after the fetch and has its quick fingerprint.
    assert!(installed.manifest.files.iter().all(|f| f
        .fingerprint
        .as_deref()
        .is_some_and(|p| p.starts_with("v1:"))));
    assert!(store.verify("all-minilm-l6-v2").unwrap().is_ok());
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "1_Pooling/config.json",
        "modules.json",
    ] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(source_dir.join(f)).unwrap(),
            "{f}"
        );
    }
    let requests = log.lock().unwrap().clone();
    assert!(requests
        .iter()
        .any(|r| r.starts_with("GET /owner/repo/resolve/main/model.safetensors")));

    // A repository without the weights fails, names what is missing, and
    // leaves nothing in the cache.
    let store2 = ModelFiles::new(cache.path().join("other"));
    let missing = Source::Hub {
        repo: "nobody/nothing".into(),
        revision: "main".into(),
        endpoint: Some(endpoint),
    };
    let err = store2
        .pull("nobody/nothing", &[missing], &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("HTTP status 404"), "{err}");
    assert!(store2.list().is_empty());
}

#[test]
fn an_unreachable_hub_is_reported_per_source() {
    let cache = tempfile::tempdir().unwrap();
    let store = ModelFiles::new(cache.path());
    // A port nobody listens on: connection refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hub = Source::Hub {
        repo: "owner/repo".into(),
        revision: "main".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
    };
    let err = store
        .pull("owner/repo", &[hub], &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not get model owner/repo"), "{err}");
    assert!(err.contains("hf:owner/repo@main"), "{err}");
}

#[test]
fn fetch_url_is_limited_checked_and_atomic() {
    use embedrock_local::download::{fetch_url, Limits};
    let source_dir = ModelFiles::from_env()
        .ensure("all-minilm-l6-v2", &NoProgress)
        .unwrap();
    let endpoint = serve(source_dir.clone(), Arc::new(Mutex::new(Vec::new())));
    let url = format!("{endpoint}/owner/repo/resolve/main/config.json");
    let want = std::fs::read(source_dir.join("config.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("config.json");

    // Over the limit: refused from the announced length, nothing written.
    let err = fetch_url(&url, &dest, &Limits::new(10), &NoProgress).unwrap_err();
    assert!(err.to_string().contains("limit of 10 bytes"), "{err}");
    // A wrong checksum: refused, nothing written.
    let err = fetch_url(
        &url,
        &dest,
        &Limits::new(1 << 20).with_sha256("00"),
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    let first = fetch_url(&url, &dest, &Limits::new(1 << 20), &NoProgress).unwrap();
    let entry = fetch_url(
        &url,
        &dest,
        &Limits::new(1 << 20).with_sha256(first.sha256.clone()),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(entry.path, "config.json");
    assert_eq!(entry.size, want.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}
