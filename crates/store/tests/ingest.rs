//! Ingestion with the real local model, real files and a real HTTP server
//! on loopback: extraction, chunk offsets and sizes, overlap, dedupe,
//! replacement of changed sources, and every bad source reported with the
//! collection left as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use embedrock_core::DynEmbedder;
use embedrock_store::ingest::extract::{extract, Format};
use embedrock_store::ingest::{content_hash, Limits};
use embedrock_store::{
    Filter, IngestOptions, Memory, Outcome, Page, Record, Scope, Source, SourceReport, SqliteStore,
    VectorStore,
};

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

fn memory(dir: &tempfile::TempDir) -> Memory {
    let store: Arc<dyn VectorStore> = Arc::new(SqliteStore::open(dir.path().join("m.db")).unwrap());
    Memory::new(store, local(), None).unwrap()
}

async fn records(m: &Memory) -> Vec<Record> {
    match m.store().collection("docs").await.unwrap() {
        None => Vec::new(),
        Some(_) => m
            .store()
            .list("docs", &Filter::All, Page::first(10_000))
            .await
            .unwrap(),
    }
}

async fn ingest(m: &Memory, sources: &[Source], options: &IngestOptions) -> Vec<SourceReport> {
    m.ingest("docs", &Scope::user("alice"), sources, options, &|_| {})
        .await
        .unwrap()
}

fn added(report: &SourceReport) -> &[String] {
    match &report.outcome {
        Outcome::Added { ids, .. } => ids,
        other => panic!("{} was not added: {other:?}", report.source),
    }
}

fn error(report: &SourceReport) -> &str {
    match &report.outcome {
        Outcome::Failed { error, stored } => {
            assert!(stored.is_empty(), "{stored:?}");
            error
        }
        other => panic!("{} did not fail: {other:?}", report.source),
    }
}

const ESSAY: &str = "Green tea is made from the leaves of Camellia sinensis. \
    It is steamed or pan-fired soon after picking, which keeps it from oxidising. \
    Black tea, by contrast, is left to oxidise fully before it is dried.\n\n\
    Coffee comes from roasted seeds of the Coffea plant. Its caffeine content \
    is higher than tea's, and it is brewed hotter and for a shorter time. \
    Espresso forces hot water through finely ground coffee under pressure.\n\n\
    Both drinks are traded worldwide, and both have long histories of ritual, \
    from the Japanese tea ceremony to the coffee houses of Vienna and Istanbul.";

fn long_text(paragraphs: usize) -> String {
    (0..paragraphs)
        .map(|i| format!("Paragraph {i}. {ESSAY}"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Every stored chunk is its source's extracted text at its offsets, within
/// the token limit, with the hash of the whole extracted text.
fn check_chunks(recs: &[Record], extracted: &str, limit: usize) {
    let hash = content_hash(extracted);
    let texts: Vec<String> = recs.iter().map(|r| r.text.clone()).collect();
    let counts = local().count_tokens(&texts).unwrap();
    for (i, (r, n)) in recs.iter().zip(counts).enumerate() {
        let o = r.origin.as_ref().unwrap();
        assert_eq!(o.chunk, i);
        assert_eq!(&extracted[o.start..o.end], r.text);
        assert_eq!(o.content_hash, hash);
        assert!(n <= limit, "chunk {i} has {n} tokens, over {limit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_markdown_and_html_files_keep_offsets_and_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let txt = dir.path().join("essay.txt");
    std::fs::write(&txt, long_text(6)).unwrap();
    let md = dir.path().join("notes.md");
    let md_src = format!(
        "# Tea\n\nSome *green* tea, see [the list](http://x.y).\n\n{}",
        long_text(2)
    );
    std::fs::write(&md, &md_src).unwrap();
    let html = dir.path().join("page.html");
    let html_src = format!(
        "<html><head><style>p {{color: red}}</style><script>alert(1)</script></head>\
         <body><h1>Tea &amp; Coffee</h1><p>{}</p></body></html>",
        long_text(2)
    );
    std::fs::write(&html, &html_src).unwrap();
    let options = IngestOptions {
        chunk_tokens: Some(96),
        chunk_overlap: Some(12),
        ..IngestOptions::default()
    };
    let reports = ingest(
        &m,
        &[Source::path(&txt), Source::path(&md), Source::path(&html)],
        &options,
    )
    .await;
    assert_eq!(reports.len(), 3);
    let all = records(&m).await;
    for (report, (format, src)) in reports.iter().zip([
        (Format::Text, long_text(6)),
        (Format::Markdown, md_src.clone()),
        (Format::Html, html_src.clone()),
    ]) {
        let ids = added(report);
        assert!(ids.len() > 1, "{} gave {} chunks", report.source, ids.len());
        let recs: Vec<Record> = ids
            .iter()
            .map(|id| all.iter().find(|r| &r.id == id).unwrap().clone())
            .collect();
        check_chunks(&recs, &extract(format, &src), 96);
        assert_eq!(recs[0].origin.as_ref().unwrap().source, report.source);
    }
    let html_text: Vec<&Record> = all
        .iter()
        .filter(|r| r.origin.as_ref().unwrap().source.ends_with("page.html"))
        .collect();
    assert!(html_text[0]
        .text
        .starts_with("Tea & Coffee\n\nParagraph 0."));
    assert!(all
        .iter()
        .all(|r| !r.text.contains("alert") && !r.text.contains("color")));
    let md_first = all
        .iter()
        .find(|r| r.origin.as_ref().unwrap().source.ends_with("notes.md"))
        .unwrap();
    assert!(md_first
        .text
        .starts_with("Tea\n\nSome green tea, see the list."));
    // Searchable by meaning.
    let hits = m
        .search(
            "docs",
            "espresso pressure",
            &Scope::user("alice"),
            Filter::All,
            1,
            None,
        )
        .await
        .unwrap();
    assert!(
        hits[0].record.text.contains("Espresso"),
        "{}",
        hits[0].record.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_overlap_and_cover_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let text = long_text(4);
    let path = dir.path().join("a.txt");
    std::fs::write(&path, &text).unwrap();
    let options = IngestOptions {
        chunk_tokens: Some(64),
        chunk_overlap: Some(16),
        ..IngestOptions::default()
    };
    let reports = ingest(&m, &[Source::path(&path)], &options).await;
    let ids = added(&reports[0]);
    let all = records(&m).await;
    assert_eq!(all.len(), ids.len());
    check_chunks(&all, &text, 64);
    let spans: Vec<(usize, usize)> = all
        .iter()
        .map(|r| r.origin.as_ref().map(|o| (o.start, o.end)).unwrap())
        .collect();
    assert_eq!(spans[0].0, 0);
    assert_eq!(spans.last().unwrap().1, text.len());
    let mut overlapped = 0;
    for w in spans.windows(2) {
        assert!(w[1].0 > w[0].0, "chunks move forward: {w:?}");
        // No gap between chunks but whitespace.
        assert!(text[w[0].1.min(w[1].0)..w[1].0].trim().is_empty(), "{w:?}");
        if w[1].0 < w[0].1 {
            overlapped += 1;
            let shared = text[w[1].0..w[0].1].to_string();
            let n = local().count_tokens(&[shared]).unwrap()[0] - 2;
            assert!(n <= 16, "overlap of {n} tokens");
        }
    }
    assert!(
        overlapped * 2 >= spans.len() - 1,
        "{overlapped} of {} overlap",
        spans.len() - 1
    );

    // Without overlap, chunks touch but never share text.
    let dir2 = tempfile::tempdir().unwrap();
    let m2 = memory(&dir2);
    let none = IngestOptions {
        chunk_tokens: Some(64),
        chunk_overlap: Some(0),
        ..IngestOptions::default()
    };
    ingest(&m2, &[Source::path(&path)], &none).await;
    let plain = records(&m2).await;
    for w in plain.windows(2) {
        let (a, b) = (w[0].origin.as_ref().unwrap(), w[1].origin.as_ref().unwrap());
        assert!(b.start >= a.end);
    }
    assert!(plain.len() < all.len(), "overlap makes more chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_with_a_glob() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let root = dir.path().join("docs");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("one.md"), "# One\n\nThe first note is about tea.").unwrap();
    std::fs::write(
        root.join("sub/deeper/two.md"),
        "The second note is about coffee.",
    )
    .unwrap();
    std::fs::write(root.join("sub/three.txt"), "Not matched by the glob.").unwrap();
    std::fs::write(root.join("sub/image.png"), [0x89, b'P', b'N', b'G', 0]).unwrap();
    let source = Source::Path {
        path: root.clone(),
        glob: Some("**/*.md".into()),
    };
    let reports = ingest(&m, &[source], &IngestOptions::default()).await;
    let names: Vec<&str> = reports.iter().map(|r| r.source.as_str()).collect();
    assert_eq!(
        names,
        [
            root.join("one.md").display().to_string(),
            root.join("sub/deeper/two.md").display().to_string()
        ]
    );
    assert!(reports.iter().all(|r| added(r).len() == 1));
    // Without a glob: every text, Markdown and HTML file (not the image).
    let reports = ingest(&m, &[Source::path(&root)], &IngestOptions::default()).await;
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0].outcome, Outcome::Duplicate { chunks: 1 });
    assert_eq!(reports[1].outcome, Outcome::Duplicate { chunks: 1 });
    assert!(reports[2].source.ends_with("sub/three.txt"));
    assert_eq!(added(&reports[2]).len(), 1);
    // Too many files: nothing of the directory is read.
    let before = records(&m).await.len();
    let tight = IngestOptions {
        limits: Limits {
            max_files: 1,
            ..Limits::default()
        },
        ..IngestOptions::default()
    };
    let reports = ingest(&m, &[Source::path(&root)], &tight).await;
    assert_eq!(reports.len(), 1);
    assert!(error(&reports[0]).contains("more than 1 matching files"));
    assert_eq!(records(&m).await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_content_is_stored_once_and_changes_replace() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let path = dir.path().join("a.txt");
    std::fs::write(&path, long_text(3)).unwrap();
    let options = IngestOptions {
        chunk_tokens: Some(128),
        ..IngestOptions::default()
    };
    let first = ingest(&m, &[Source::path(&path)], &options).await;
    let n = added(&first[0]).len();
    assert!(n >= 2, "{n} chunks");
    let again = ingest(&m, &[Source::path(&path)], &options).await;
    assert_eq!(again[0].outcome, Outcome::Duplicate { chunks: n });
    assert_eq!(records(&m).await.len(), n);

    // An interrupted ingest (here: some of its chunks missing) is not taken
    // for a duplicate: ingesting again stores the whole source and drops the
    // partial one.
    let kept = records(&m).await;
    for r in &kept[..n / 2] {
        assert!(m.delete("docs", &r.id).await.unwrap());
    }
    let resumed = ingest(&m, &[Source::path(&path)], &options).await;
    match &resumed[0].outcome {
        Outcome::Added { ids, replaced } => assert_eq!((ids.len(), *replaced), (n, n - n / 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(records(&m).await.len(), n);

    // Another user's copy is theirs.
    let bob = m
        .ingest(
            "docs",
            &Scope::user("bob"),
            &[Source::path(&path)],
            &options,
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(added(&bob[0]).len(), n);

    // Changed content at the same path: new chunks in, old ones out (alice's only).
    std::fs::write(
        &path,
        "Entirely new text about rooibos, which is not tea at all.",
    )
    .unwrap();
    let changed = ingest(&m, &[Source::path(&path)], &options).await;
    match &changed[0].outcome {
        Outcome::Added { ids, replaced } => {
            assert_eq!((ids.len(), *replaced), (1, n));
        }
        other => panic!("{other:?}"),
    }
    let all = records(&m).await;
    let alice: Vec<&Record> = all
        .iter()
        .filter(|r| r.scope.user_id.as_deref() == Some("alice"))
        .collect();
    assert_eq!(alice.len(), 1);
    assert!(alice[0].text.contains("rooibos"));
    assert_eq!(all.len(), 1 + n);
}

/// A one-thread HTTP/1.1 server on loopback with fixed routes.
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
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let respond = |status: &str, headers: &str, body: &[u8]| {
                let mut s = stream.try_clone().unwrap();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(body);
            };
            match path.as_str() {
                "/page.html" => respond(
                    "200 OK",
                    "Content-Type: text/html; charset=utf-8\r\n",
                    b"<html><body><h1>Herbal infusions</h1><script>x()</script>\
                      <p>Chamomile is brewed from dried flowers.</p></body></html>",
                ),
                "/notes.md" => respond(
                    "200 OK",
                    "Content-Type: text/markdown\r\n",
                    b"# Mate\n\nYerba *mate* is drunk from a gourd.",
                ),
                "/redirect" => respond("302 Found", "Location: /page.html\r\n", b""),
                "/loop" => respond("302 Found", "Location: /loop\r\n", b""),
                "/big" => respond(
                    "200 OK",
                    "Content-Type: text/plain\r\n",
                    &vec![b'a'; 300_000],
                ),
                "/stream" => {
                    // No length announced: the limit must hold while reading.
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                    );
                    for _ in 0..300 {
                        let _ = stream.write_all(&[b'b'; 1000]);
                    }
                }
                "/binary" => respond(
                    "200 OK",
                    "Content-Type: text/plain\r\n",
                    &[b'x', 0, 1, 2, 3],
                ),
                "/image" => respond("200 OK", "Content-Type: image/png\r\n", &[0x89, b'P']),
                _ => respond("404 Not Found", "Content-Type: text/plain\r\n", b"no"),
            }
        }
    });
    base
}

fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/page.html")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_are_fetched_and_bad_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let base = serve();
    let options = IngestOptions {
        limits: Limits {
            max_file_bytes: 100_000,
            max_redirects: 3,
            url_timeout: std::time::Duration::from_secs(10),
            ..Limits::default()
        },
        ..IngestOptions::default()
    };
    let good = ingest(
        &m,
        &[
            Source::Url(format!("{base}/page.html")),
            Source::Url(format!("{base}/notes.md")),
            Source::Url(format!("{base}/redirect")),
        ],
        &options,
    )
    .await;
    let page = &records(&m).await;
    assert_eq!(added(&good[0]).len(), 1);
    assert_eq!(
        page[0].text,
        "Herbal infusions\n\nChamomile is brewed from dried flowers."
    );
    assert_eq!(
        page[0].origin.as_ref().unwrap().source,
        format!("{base}/page.html")
    );
    assert_eq!(page[1].text, "Mate\n\nYerba mate is drunk from a gourd.");
    // The redirect lands on the same content: already present.
    assert_eq!(good[2].outcome, Outcome::Duplicate { chunks: 1 });

    let before = records(&m).await;
    let bad = [
        ("/missing", "HTTP status 404"),
        ("/loop", "redirect"),
        ("/big", "larger than the limit of 100000 bytes"),
        ("/stream", "larger than the limit of 100000 bytes"),
        ("/binary", "is a binary file"),
        ("/image", "unsupported content type image/png"),
    ];
    let mut sources: Vec<Source> = bad
        .iter()
        .map(|(p, _)| Source::Url(format!("{base}{p}")))
        .collect();
    sources.push(Source::Url(closed_port()));
    sources.push(Source::Url("ftp://example.com/a.txt".into()));
    let reports = ingest(&m, &sources, &options).await;
    assert_eq!(reports.len(), sources.len());
    for ((path, expected), report) in bad.iter().zip(&reports) {
        let e = error(report);
        assert!(e.contains(expected), "{path}: {e}");
        assert!(
            e.contains(&format!("{base}{path}")),
            "{path}: the error names the URL: {e}"
        );
    }
    assert!(error(&reports[6]).contains("fetching http://127.0.0.1:"));
    assert!(error(&reports[7]).contains("only http and https"));
    assert_eq!(
        records(&m).await,
        before,
        "failed URLs leave the collection as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_reported_and_the_rest_go_in() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "A perfectly ordinary sentence about oolong tea.").unwrap();
    let binary = dir.path().join("data.txt");
    std::fs::write(&binary, [b'a', b'b', 0, 0xff]).unwrap();
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    let pdf = dir.path().join("paper.pdf");
    std::fs::write(&pdf, b"%PDF-1.4").unwrap();
    let exe = dir.path().join("tool.exe");
    std::fs::write(&exe, b"MZ").unwrap();
    let empty = dir.path().join("empty.md");
    std::fs::write(&empty, "   \n\n").unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "word ".repeat(1000)).unwrap();
    let missing = dir.path().join("missing.txt");
    let options = IngestOptions {
        limits: Limits {
            max_file_bytes: 2000,
            ..Limits::default()
        },
        ..IngestOptions::default()
    };
    let sources: Vec<Source> = [&binary, &latin1, &pdf, &exe, &empty, &big, &missing, &good]
        .iter()
        .map(|p| Source::path(*p))
        .collect();
    let reports = ingest(&m, &sources, &options).await;
    let expected = [
        "is a binary file (NUL byte at offset 2)",
        "is not UTF-8 text (invalid byte at offset 3)",
        "PDF is not supported",
        "unsupported file type .exe",
        "has no text to add",
        "larger than the limit of 2000 bytes",
        "No such file",
    ];
    for ((e, report), path) in expected.iter().zip(&reports).zip(&sources) {
        let msg = error(report);
        assert!(msg.contains(e), "{msg}");
        let Source::Path { path, .. } = path else {
            unreachable!()
        };
        assert!(
            msg.contains(&path.display().to_string()),
            "names the file: {msg}"
        );
    }
    assert_eq!(added(&reports[7]).len(), 1);
    assert_eq!(records(&m).await.len(), 1);

    // Stopping at the first error: the rest are reported, not attempted.
    let stop = IngestOptions {
        stop_on_error: true,
        ..IngestOptions::default()
    };
    let fresh = tempfile::tempdir().unwrap();
    let m2 = memory(&fresh);
    let reports = ingest(&m2, &[Source::path(&missing), Source::path(&good)], &stop).await;
    assert!(matches!(reports[0].outcome, Outcome::Failed { .. }));
    assert_eq!(reports[1].outcome, Outcome::NotAttempted);
    assert!(records(&m2).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "Some text.").unwrap();
    let src = [Source::path(&path)];
    for (tokens, overlap, msg) in [
        (Some(1000), None, "the size must be 8 to 256"),
        (Some(4), None, "the size must be 8 to 256"),
        (Some(64), Some(32), "less than half the chunk size"),
    ] {
        let options = IngestOptions {
            chunk_tokens: tokens,
            chunk_overlap: overlap,
            ..IngestOptions::default()
        };
        let err = m
            .ingest("docs", &Scope::user("alice"), &src, &options, &|_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(msg), "{err}");
    }
    let err = m
        .ingest(
            "docs",
            &Scope::default(),
            &src,
            &IngestOptions::default(),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("user_id"));
    assert!(m.store().collection("docs").await.unwrap().is_none());
}
