//! `embedrock add --file/--url` as a user runs it: the real binary, the real
//! local model, files in a temporary directory and a real HTTP server on
//! loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_embedrock"))
        .args(args)
        .arg("--quiet")
        .env("EMBEDROCK_STORE", store)
        .env_remove("EMBEDROCK_MODEL")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ok(o: &Output) -> Vec<Value> {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

fn failed(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn count(store: &Path) -> usize {
    let o = run(store, &["list", "--collection", "docs", "--limit", "10000"]);
    if !o.status.success() {
        return 0; // no collection yet
    }
    String::from_utf8(o.stdout).unwrap().lines().count()
}

fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let (status, body): (&str, &[u8]) = match head.split_whitespace().nth(1) {
                Some("/guide.html") => (
                    "200 OK",
                    b"<html><body><h1>Brewing guide</h1><p>Steep green tea at 80 degrees \
                      for two minutes.</p><style>h1{}</style></body></html>",
                ),
                _ => ("404 Not Found", b"not here"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    base
}

#[test]
fn files_directories_and_urls_are_chunked_and_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(docs.join("tea.md"), "# Tea\n\nOolong is partly oxidised.").unwrap();
    std::fs::write(
        docs.join("sub/coffee.md"),
        "Arabica beans grow at altitude.",
    )
    .unwrap();
    std::fs::write(docs.join("skip.txt"), "Not matched.").unwrap();
    let long = dir.path().join("long.txt");
    let text = "Sentence number one is here. ".repeat(60);
    std::fs::write(&long, &text).unwrap();
    let base = serve();
    let url = format!("{base}/guide.html");
    let docs_s = docs.display().to_string();
    let long_s = long.display().to_string();
    let o = run(
        &store,
        &[
            "add",
            "--file",
            &docs_s,
            "--glob",
            "**/*.md",
            "--file",
            &long_s,
            "--url",
            &url,
            "--collection",
            "docs",
            "--user-id",
            "alice",
            "--chunk-tokens",
            "64",
            "--chunk-overlap",
            "8",
            "--metadata",
            r#"{"kind": "kb"}"#,
        ],
    );
    let reports = ok(&o);
    let statuses: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| (r["source"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    assert!(statuses.iter().all(|(_, s)| *s == "added"), "{statuses:?}");
    assert!(statuses[0].0.ends_with("sub/coffee.md"));
    assert!(statuses[1].0.ends_with("tea.md"));
    assert_eq!(statuses[3].0, url);
    let long_ids = reports[2]["ids"].as_array().unwrap().len();
    assert!(
        long_ids > 3,
        "{long_ids} chunks of a {}-byte text",
        text.len()
    );

    let listed = run(
        &store,
        &["list", "--collection", "docs", "--user-id", "alice"],
    );
    let records: Vec<Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3 + long_ids);
    for r in &records {
        assert_eq!(r["metadata"]["kind"], "kb");
        let o = &r["origin"];
        let (start, end) = (
            o["start"].as_u64().unwrap() as usize,
            o["end"].as_u64().unwrap() as usize,
        );
        if o["source"] == long_s.as_str() {
            assert_eq!(&text[start..end], r["text"].as_str().unwrap());
        }
    }
    let hits = run(
        &store,
        &[
            "search",
            "how hot should the water be",
            "--collection",
            "docs",
            "--limit",
            "1",
            "--output",
            "json",
        ],
    );
    let hits: Value = serde_json::from_slice(&hits.stdout).unwrap();
    let first = &hits["results"][0];
    assert!(
        first["text"].as_str().unwrap().contains("80 degrees"),
        "{first}"
    );

    // The same sources again: nothing stored twice.
    let again = ok(&run(
        &store,
        &[
            "add",
            "--file",
            &long_s,
            "--url",
            &url,
            "--collection",
            "docs",
            "--user-id",
            "alice",
            "--chunk-tokens",
            "64",
            "--chunk-overlap",
            "8",
        ],
    ));
    assert_eq!(again[0]["status"], "duplicate");
    assert_eq!(again[0]["chunks"].as_u64().unwrap() as usize, long_ids);
    assert_eq!(again[1]["status"], "duplicate");
    assert_eq!(count(&store), 3 + long_ids);
}

#[test]
fn failed_sources_are_named_and_the_rest_go_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "Jasmine tea is scented with flowers.").unwrap();
    let binary = dir.path().join("blob.txt");
    std::fs::write(&binary, [1u8, 2, 0, 3]).unwrap();
    let missing = dir.path().join("nope.md");
    let base = serve();
    let gone = format!("{base}/gone.html");
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/x.html", l.local_addr().unwrap())
    };
    let (good_s, binary_s, missing_s) = (
        good.display().to_string(),
        binary.display().to_string(),
        missing.display().to_string(),
    );
    let o = run(
        &store,
        &[
            "add",
            "--file",
            &binary_s,
            "--file",
            &missing_s,
            "--url",
            &gone,
            "--url",
            &closed,
            "--file",
            &good_s,
            "--collection",
            "docs",
            "--user-id",
            "alice",
        ],
    );
    let e = failed(&o);
    let reports = stdout(&o);
    let statuses: Vec<&str> = reports
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    // Files first, then URLs, each in the order given.
    assert_eq!(statuses, ["failed", "failed", "added", "failed", "failed"]);
    assert_eq!(reports[3]["source"], gone.as_str());
    assert!(e.contains(&format!("{binary_s} is a binary file")), "{e}");
    assert!(e.contains(&missing_s) && e.contains("No such file"), "{e}");
    assert!(
        e.contains(&format!("fetching {gone}: HTTP status 404")),
        "{e}"
    );
    assert!(e.contains(&format!("fetching {closed}")), "{e}");
    assert!(e.contains("4 of 5 sources failed"), "{e}");
    assert_eq!(count(&store), 1);
}

#[test]
fn bad_flags_leave_the_collection_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let file = dir.path().join("a.txt");
    std::fs::write(&file, "Pu-erh is aged.").unwrap();
    let f = file.display().to_string();
    ok(&run(
        &store,
        &[
            "add",
            "--file",
            &f,
            "--collection",
            "docs",
            "--user-id",
            "u",
        ],
    ));
    let before = count(&store);
    let other = dir.path().join("b.txt");
    std::fs::write(&other, "Sencha is steamed.").unwrap();
    let b = other.display().to_string();
    let cases: [(&[&str], &str); 4] = [
        (&["--metadata", "{not json"], "--metadata is not valid JSON"),
        (&["--chunk-tokens", "1000"], "the size must be 8 to 256"),
        (
            &["--chunk-tokens", "64", "--chunk-overlap", "40"],
            "less than half the chunk size",
        ),
        (&["--glob", "[", "--file", &f], "glob"),
    ];
    for (extra, msg) in cases {
        let mut args = vec![
            "add",
            "--file",
            &b,
            "--collection",
            "docs",
            "--user-id",
            "u",
        ];
        args.extend_from_slice(extra);
        let o = run(&store, &args);
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success() && e.contains(msg), "{extra:?}: {e}");
        assert_eq!(count(&store), before, "{extra:?}");
    }
    // A scope is required, and texts and files do not mix.
    assert!(
        failed(&run(&store, &["add", "--file", &b, "--collection", "docs"])).contains("user_id")
    );
    let mixed = run(&store, &["add", "hello", "--file", &b, "--user-id", "u"]);
    assert_eq!(mixed.status.code(), Some(2));
    assert_eq!(count(&store), before);
}
