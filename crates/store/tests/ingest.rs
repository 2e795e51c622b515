//! Ingestion with the real local model, real files and a real HTTP server
//! on loopback: extraction, chunk offsets and sizes, overlap, dedupe,
//! replacement of changed sources, PDFs (built here, byte by byte), and
//! every bad source reported with the collection left as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use embedrock_core::DynEmbedder;
use embedrock_store::ingest::extract::{extract, Format};
use embedrock_store::ingest::{content_hash, pdf, Limits};
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

/// A PDF assembled from numbered objects (1 is the catalog), with a correct
/// cross-reference table and `trailer` added to the trailer dictionary.
fn pdf_file(objects: &[Vec<u8>], trailer: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn pdf_stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend(data);
    s.extend(b"\nendstream");
    s
}

/// A PDF whose pages hold these lines in Helvetica, one line under another.
fn text_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let n = pages.len();
    // 1 catalog, 2 page tree, 3 font, then a page and its content per page.
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
                 /Resources << /Font << /F1 3 0 R >> >> >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut content = b"BT /F1 12 Tf 72 720 Td 16 TL".to_vec();
        for line in lines.iter() {
            let escaped = line
                .replace('\\', "\\\\")
                .replace('(', "\\(")
                .replace(')', "\\)");
            content.extend(format!(" ({escaped}) Tj T*").as_bytes());
        }
        content.extend(b" ET");
        objects.push(pdf_stream("", &content));
    }
    pdf_file(&objects, "")
}

/// A one-page PDF that draws an image and has no text.
fn image_pdf() -> Vec<u8> {
    let pixels: Vec<u8> = (0..64u32 * 64).map(|i| (i * 7 % 251) as u8).collect();
    pdf_file(
        &[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
              /Resources << /XObject << /Im1 5 0 R >> >> >>"
                .to_vec(),
            pdf_stream("", b"q 300 0 0 300 72 400 cm /Im1 Do Q"),
            pdf_stream(
                "/Type /XObject /Subtype /Image /Width 64 /Height 64 \
                 /ColorSpace /DeviceGray /BitsPerComponent 8",
                &pixels,
            ),
        ],
        "",
    )
}

/// A text PDF whose trailer names a standard security handler with a user
/// password that is not empty.
fn encrypted_pdf() -> Vec<u8> {
    let hex = |b: u8| format!("<{}>", format!("{b:02x}").repeat(32));
    let objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_vec(),
        pdf_stream("", b"BT /F1 12 Tf 72 720 Td (x) Tj ET"),
        format!(
            "<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 /O {} /U {} >>",
            hex(0x3c),
            hex(0x5a)
        )
        .into_bytes(),
    ];
    let id = format!("<{}>", "ab".repeat(16));
    pdf_file(&objects, &format!("/Encrypt 5 0 R /ID [{id} {id}]"))
}

/// A PDF whose page draws a form XObject that draws itself.
fn form_loop_pdf() -> Vec<u8> {
    pdf_file(
        &[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
              /Resources << /XObject << /X1 5 0 R >> >> >>"
                .to_vec(),
            pdf_stream("", b"/X1 Do"),
            pdf_stream(
                "/Type /XObject /Subtype /Form /BBox [0 0 10 10] \
                 /Resources << /XObject << /X1 5 0 R >> >>",
                b"/X1 Do",
            ),
        ],
        "",
    )
}

/// A PDF whose page is its own parent.
fn parent_loop_pdf() -> Vec<u8> {
    pdf_file(
        &[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>".to_vec(),
            pdf_stream("", b"BT 72 720 Td (loop) Tj ET"),
        ],
        "",
    )
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
                "/report" => respond(
                    "200 OK",
                    "Content-Type: application/pdf\r\n",
                    &text_pdf(&[&["Rooibos grows only in the Cederberg mountains."]]),
                ),
                "/scan.pdf" => respond(
                    "200 OK",
                    "Content-Type: application/octet-stream\r\n",
                    &image_pdf(),
                ),
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
        "is a damaged or truncated PDF",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdfs_are_read_page_by_page_and_bad_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let one = dir.path().join("lighthouse.pdf");
    std::fs::write(
        &one,
        text_pdf(&[&[
            "The lighthouse keeper polished the brass lamp",
            "every evening before the ships came in.",
        ]]),
    )
    .unwrap();
    let pages: &[&[&str]] = &[
        &[
            "Chapter one: the harbour.",
            "Fishing boats (small ones) leave at dawn.",
        ],
        &["Chapter two: the market.", "Fish is sold by weight."],
        &[
            "Chapter three: the storm.",
            "Nobody sails when the barometer falls.",
        ],
    ];
    let three = dir.path().join("chapters.pdf");
    std::fs::write(&three, text_pdf(pages)).unwrap();
    // No extension: the %PDF- header says what it is.
    let bare = dir.path().join("scan-0001");
    std::fs::write(&bare, text_pdf(&[&["Oolong is partly oxidised."]])).unwrap();
    let reports = ingest(
        &m,
        &[
            Source::path(&one),
            Source::path(&three),
            Source::path(&bare),
        ],
        &IngestOptions::default(),
    )
    .await;
    for r in &reports {
        assert_eq!(added(r).len(), 1, "{r:?}");
    }
    let all = records(&m).await;
    let chapters = all
        .iter()
        .find(|r| r.origin.as_ref().unwrap().source.ends_with("chapters.pdf"))
        .unwrap();
    let expected = "Chapter one: the harbour.\nFishing boats (small ones) leave at dawn.\n\n\
                    Chapter two: the market.\nFish is sold by weight.\n\n\
                    Chapter three: the storm.\nNobody sails when the barometer falls.";
    assert_eq!(chapters.text, expected);
    let extracted = pdf::text("x", &std::fs::read(&three).unwrap()).unwrap();
    check_chunks(std::slice::from_ref(chapters), &extracted, 256);
    assert!(all.iter().any(|r| r.text == "Oolong is partly oxidised."));
    let hits = m
        .search(
            "docs",
            "who looks after the lamp in the lighthouse",
            &Scope::user("alice"),
            Filter::All,
            1,
            None,
        )
        .await
        .unwrap();
    assert!(
        hits[0]
            .record
            .origin
            .as_ref()
            .unwrap()
            .source
            .ends_with("lighthouse.pdf"),
        "{:?}",
        hits[0].record
    );
    // The same PDF again is already present.
    let again = ingest(&m, &[Source::path(&one)], &IngestOptions::default()).await;
    assert_eq!(again[0].outcome, Outcome::Duplicate { chunks: 1 });

    // Broken, encrypted and image-only PDFs: clear errors naming the file,
    // nothing stored.
    let before = records(&m).await;
    let full = text_pdf(pages);
    let bad: [(&str, Vec<u8>, &str); 7] = [
        (
            "forms.pdf",
            form_loop_pdf(),
            "page 1 cannot be read: form XObjects are drawn inside each other more than 32 deep",
        ),
        (
            "tree.pdf",
            parent_loop_pdf(),
            "page 1 cannot be read: its page tree has a loop",
        ),
        (
            "truncated.pdf",
            full[..full.len() / 2].to_vec(),
            "is a damaged or truncated PDF",
        ),
        (
            "garbage.pdf",
            b"%PDF-1.7\n\x00\x01 obj << endobj".to_vec(),
            "is a damaged or truncated PDF",
        ),
        (
            "locked.pdf",
            encrypted_pdf(),
            "is an encrypted PDF that needs a password",
        ),
        (
            "scanned.pdf",
            image_pdf(),
            "no text layer (scanned pages or images only); OCR is not supported",
        ),
        ("notes.pdf", b"just some text".to_vec(), "is not a PDF"),
    ];
    let mut sources = Vec::new();
    for (name, bytes, _) in &bad {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        sources.push(Source::path(path));
    }
    let reports = ingest(&m, &sources, &IngestOptions::default()).await;
    for ((name, _, expected), report) in bad.iter().zip(&reports) {
        let e = error(report);
        assert!(e.contains(expected), "{name}: {e}");
        assert!(
            e.contains(&dir.path().join(name).display().to_string()),
            "{e}"
        );
    }
    assert_eq!(
        records(&m).await,
        before,
        "bad PDFs leave the collection as it was"
    );

    // The byte limit holds for PDFs too, before they are read.
    let tight = IngestOptions {
        limits: Limits {
            max_file_bytes: 100,
            ..Limits::default()
        },
        ..IngestOptions::default()
    };
    let reports = ingest(&m, &[Source::path(&three)], &tight).await;
    assert!(error(&reports[0]).contains("larger than the limit of 100 bytes"));

    // A directory takes its PDFs by default.
    let sub = dir.path().join("library");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(&one, sub.join("a.pdf")).unwrap();
    let reports = ingest(&m, &[Source::path(&sub)], &IngestOptions::default()).await;
    assert_eq!(reports[0].outcome, Outcome::Duplicate { chunks: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdf_urls_are_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir);
    let base = serve();
    let reports = ingest(
        &m,
        &[
            Source::Url(format!("{base}/report")),
            Source::Url(format!("{base}/scan.pdf")),
        ],
        &IngestOptions::default(),
    )
    .await;
    assert_eq!(added(&reports[0]).len(), 1);
    let recs = records(&m).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].text,
        "Rooibos grows only in the Cederberg mountains."
    );
    assert_eq!(
        recs[0].origin.as_ref().unwrap().source,
        format!("{base}/report")
    );
    // Served as application/octet-stream, read as a PDF by its header.
    let e = error(&reports[1]);
    assert!(e.contains(&format!("{base}/scan.pdf")), "{e}");
    assert!(e.contains("OCR is not supported"), "{e}");
}
