//! The reports drawn from a hand-written run of two models over several
//! dimensions in float, int8 and binary (with and without rescoring).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use embedrock_bench::report::{self, ReportError};
use embedrock_bench::{ConfigResult, Results};

const CHARTS: [&str; 3] = [
    "quality-vs-dimensions",
    "quality-vs-dollars",
    "quality-vs-bytes",
];

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results.json")
}

fn fixture() -> Results {
    report::read_results(&fixture_path()).unwrap()
}

/// The part of `html` inside the `<svg>` whose `data-chart` is `name`.
fn chart<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("data-chart=\"{name}\""))
        .unwrap_or_else(|| panic!("no chart {name}"));
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

fn points(svg: &str) -> usize {
    svg.matches("class=\"point\"").count()
}

fn lines(svg: &str) -> usize {
    svg.matches("class=\"series-line\"").count()
}

/// Distinct (model, output type, rescore) among configurations.
fn series_count(results: &Results) -> usize {
    let mut keys: Vec<(String, String, Option<usize>)> = results
        .results
        .iter()
        .map(|c| (c.model.clone(), c.output_type.clone(), c.rescore))
        .collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown row a configuration must have: dims, type, rescore and the
/// three headline metrics.
fn markdown_row_start(c: &ConfigResult) -> String {
    let rescore = c.rescore.map_or("no".to_string(), |n| format!("top {n}"));
    format!(
        "| {} | {} | {rescore} | {:.4} | {:.4} | {:.4} |",
        thousands(c.dimensions),
        c.output_type,
        c.metric("ndcg@10").unwrap(),
        c.metric("recall@10").unwrap(),
        c.metric("mrr@10").unwrap()
    )
}

#[test]
fn the_fixture_is_a_realistic_sweep() {
    let r = fixture();
    assert_eq!(r.results.len(), 24);
    let models: std::collections::BTreeSet<&str> =
        r.results.iter().map(|c| c.model.as_str()).collect();
    assert_eq!(models.len(), 2);
    for t in ["float", "int8", "binary"] {
        assert!(r.results.iter().any(|c| c.output_type == t));
    }
    assert!(r.results.iter().any(|c| c.rescore.is_some()));
}

#[test]
fn every_configuration_appears_in_the_markdown_under_its_model() {
    let r = fixture();
    let md = report::markdown(&r);
    for c in &r.results {
        let heading = format!("### {}", c.model.replace('_', "\\_"));
        let section_start = md
            .find(&heading)
            .unwrap_or_else(|| panic!("no section for {}", c.model));
        let section_end = md[section_start + 4..]
            .find("\n#")
            .map_or(md.len(), |i| section_start + 4 + i);
        let row = markdown_row_start(c);
        assert_eq!(
            md[section_start..section_end].matches(&row).count(),
            1,
            "row {row} missing or repeated under {heading}"
        );
    }
    assert!(md.contains("debian-descriptions-3k"));
    assert!(md.contains("AMD EPYC 7R13 Processor"));
    assert!(md.contains("24 min 44 s"), "run time missing");
    assert!(md.contains("## Embedding passes"));
    // Every embedding pass is one row of the last table.
    let passes = md.split("## Embedding passes").nth(1).unwrap();
    let rows = passes
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| model"))
        .count();
    assert_eq!(rows, r.embedding.len());
}

#[test]
fn markdown_puts_the_best_model_first_and_most_dimensions_first() {
    let r = fixture();
    let md = report::markdown(&r);
    let titan = md.find("### amazon.titan-embed-text-v2:0").unwrap();
    let minilm = md.find("### all-minilm-l6-v2").unwrap();
    assert!(
        titan < minilm,
        "Titan V2 has the higher nDCG@10 and must come first"
    );
    let d1024 = md.find("| 1,024 | float |").unwrap();
    let d512 = md.find("| 512 | float |").unwrap();
    assert!(d1024 < d512);
    // Same width on every metric: four decimals.
    assert!(md.contains("| 0.6587 |"));
}

#[test]
fn every_configuration_is_a_point_on_every_chart() {
    let r = fixture();
    let html = report::html(&r);
    for name in CHARTS {
        let svg = chart(&html, name);
        assert_eq!(points(svg), r.results.len(), "points on {name}");
        assert_eq!(lines(svg), series_count(&r), "lines on {name}");
    }
    for c in &r.results {
        let title = format!(
            "<title>{}: nDCG@10 {:.4}",
            c.label(),
            c.metric("ndcg@10").unwrap()
        );
        assert_eq!(html.matches(&title).count(), 3, "tooltips of {}", c.label());
    }
    // The tables: one row per configuration and per embedding pass.
    assert_eq!(
        html.matches("<tr>").count() - 3,
        r.results.len() + r.embedding.len()
    );
    // Local models cost $0 and are drawn in their own band, not on the log axis.
    assert!(chart(&html, "quality-vs-dollars").contains("zero-band"));
}

#[test]
fn html_loads_nothing_from_anywhere() {
    let html = report::html(&fixture());
    for forbidden in [
        "http://", "https://", "src=", "href=", "url(", "@import", "<script", "<link", "<img",
    ] {
        assert!(!html.contains(forbidden), "the page contains {forbidden}");
    }
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.starts_with("<!DOCTYPE html>"));
}

fn with_model_id(mut r: Results, from: &str, to: &str) -> Results {
    for c in &mut r.results {
        if c.model == from {
            c.model = to.to_string();
        }
    }
    for e in &mut r.embedding {
        if e.model == from {
            e.model = to.to_string();
        }
    }
    r
}

#[test]
fn strings_from_the_data_are_escaped() {
    let evil = "evil<&\">model</svg><script>x</script>";
    let mut r = with_model_id(fixture(), "all-minilm-l6-v2", evil);
    r.dataset.name = "set<b>&amp;".into();
    let html = report::html(&r);
    assert!(!html.contains("<&\">"));
    assert!(!html.contains("<script>"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("evil&lt;&amp;&quot;&gt;model&lt;/svg&gt;&lt;script&gt;x&lt;/script&gt;"));
    assert!(html.contains("set&lt;b&gt;&amp;amp;"));
    // The charts still close where they should: three svg elements.
    assert_eq!(html.matches("<svg").count(), 3);
    assert_eq!(html.matches("</svg>").count(), 3);
    for name in CHARTS {
        assert_eq!(points(chart(&html, name)), r.results.len());
    }
    let md = report::markdown(&r);
    assert!(md.contains("evil\\<\\&\"\\>model\\</svg\\>\\<script\\>x\\</script\\>"));
    assert!(!md.contains("<script>"));
}

#[test]
fn mteb_files_carry_ndcg10_as_main_score() {
    let r = fixture();
    for c in &r.results {
        let v = report::mteb(&r, c);
        let scores = &v["scores"]["test"][0];
        let ndcg = c.metric("ndcg@10").unwrap();
        assert_eq!(scores["main_score"].as_f64(), Some(ndcg), "{}", c.label());
        assert_eq!(scores["ndcg_at_10"].as_f64(), Some(ndcg));
        for (name, value) in &c.metrics {
            let key = name.replace('@', "_at_");
            assert_eq!(scores[&key].as_f64(), Some(*value), "{key}");
        }
        assert_eq!(scores["hf_subset"], "default");
        assert_eq!(scores["languages"][0], "eng-Latn");
        assert_eq!(v["task_name"], "debian-descriptions-3k");
        assert!(v["dataset_revision"].is_string());
        assert!(v["mteb_version"].is_string());
        assert!(v["evaluation_time"].as_f64().unwrap() > 0.0);
        assert_eq!(v["embedrock"]["model"], c.model.as_str());
        assert_eq!(v["embedrock"]["dimensions"], c.dimensions);
        assert_eq!(v["embedrock"]["output_type"], c.output_type.as_str());
        assert_eq!(
            v["embedrock"]["rescore"].as_u64(),
            c.rescore.map(|n| n as u64)
        );
    }
}

#[test]
fn write_all_writes_every_file_and_reads_back() {
    let r = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let written = report::write_all(&r, &out).unwrap();
    assert_eq!(report::read_results(&written.results_json).unwrap(), r);
    let md = std::fs::read_to_string(&written.summary_md).unwrap();
    assert_eq!(md, report::markdown(&r));
    let html = std::fs::read_to_string(&written.report_html).unwrap();
    assert_eq!(html, report::html(&r));
    assert_eq!(written.mteb.len(), r.results.len());
    let mut names: Vec<String> = written
        .mteb
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"all-minilm-l6-v2-256d-binary-rescore100.json".to_string()));
    assert!(names.contains(&"amazon-titan-embed-text-v2-0-1024d-float.json".to_string()));
    names.sort();
    names.dedup();
    assert_eq!(names.len(), r.results.len(), "file names must be unique");
    for (path, c) in written.mteb.iter().zip(&r.results) {
        assert_eq!(path.parent().unwrap(), out.join("mteb"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            v["scores"]["test"][0]["main_score"].as_f64(),
            c.metric("ndcg@10")
        );
    }
}

#[test]
fn labels_that_slug_alike_get_distinct_files() {
    let mut r = fixture();
    r.results.truncate(1);
    let mut twin = r.results[0].clone();
    twin.model = twin.model.replace('-', "_");
    r.results.push(twin);
    let names = report::mteb_file_names(&r);
    assert_eq!(names[0], "all-minilm-l6-v2-384d-float.json");
    assert_eq!(names[1], "all-minilm-l6-v2-384d-float-2.json");
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_malformed_results_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture_path()).unwrap();
    // A wrong type on a known line.
    let broken = text.replacen("\"documents\": 3000", "\"documents\": \"many\"", 1);
    let line = broken.lines().position(|l| l.contains("\"many\"")).unwrap() + 1;
    let path = write_file(dir.path(), "results.json", &broken);
    match report::read_results(&path) {
        Err(ReportError::Malformed {
            path: p, line: l, ..
        }) => {
            assert_eq!(p, path);
            assert_eq!(l, line);
        }
        other => panic!("expected a malformed file error, got {other:?}"),
    }
    let err = report::read_results(&path).unwrap_err().to_string();
    assert!(
        err.contains("results.json") && err.contains(&format!("line {line}")),
        "{err}"
    );
    // Cut short.
    let path = write_file(dir.path(), "short.json", &text[..text.len() / 2]);
    assert!(matches!(
        report::read_results(&path),
        Err(ReportError::Malformed { .. })
    ));
    // Not UTF-8.
    let path = dir.path().join("binary.json");
    std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
    assert!(report::read_results(&path)
        .unwrap_err()
        .to_string()
        .contains("binary.json"));
}

#[test]
fn results_files_have_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(report::MAX_RESULTS_BYTES + 1).unwrap();
    assert!(matches!(
        report::read_results(&path),
        Err(ReportError::TooLarge { .. })
    ));
    let missing = dir.path().join("missing.json");
    let err = report::read_results(&missing).unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }));
    assert!(err.to_string().contains("missing.json"));
    let mut r = fixture();
    r.schema = 2;
    let path = write_file(dir.path(), "v2.json", &serde_json::to_string(&r).unwrap());
    let err = report::read_results(&path).unwrap_err().to_string();
    assert!(
        err.contains("v2.json") && err.contains("version 2"),
        "{err}"
    );
    let mut r = fixture();
    let one = r.results[0].clone();
    r.results = vec![one; report::MAX_CONFIGS + 1];
    assert!(matches!(
        report::write_all(&r, dir.path()),
        Err(ReportError::Invalid { .. })
    ));
}

#[test]
fn missing_and_non_finite_values_are_left_off_the_charts() {
    let mut r = fixture();
    r.results[0].metrics.insert("ndcg@10".into(), f64::NAN);
    r.results[1].corpus_usd = None;
    let html = report::html(&r);
    let n = r.results.len();
    assert_eq!(points(chart(&html, "quality-vs-dimensions")), n - 1);
    assert_eq!(points(chart(&html, "quality-vs-bytes")), n - 1);
    assert_eq!(points(chart(&html, "quality-vs-dollars")), n - 2);
    assert!(html.contains("1 configuration not drawn: no nDCG@10."));
    assert!(html.contains("1 configuration not drawn: no known price."));
    assert!(!html.contains("NaN"));
    let md = report::markdown(&r);
    assert!(!md.contains("NaN"));
    assert!(md.contains("| – |"));
}

#[test]
fn a_run_without_prices_says_so() {
    let mut r = fixture();
    for c in &mut r.results {
        c.corpus_usd = None;
        c.corpus_batch_usd = None;
    }
    let html = report::html(&r);
    let dollars = chart(&html, "quality-vs-dollars");
    assert_eq!(points(dollars), 0);
    assert!(dollars.contains("No configuration has a value"));
    assert!(html.contains("No configuration in this run has a known price."));
    assert_eq!(
        points(chart(&html, "quality-vs-dimensions")),
        r.results.len()
    );
}

#[test]
fn a_single_configuration_draws_one_point_and_no_line() {
    let mut r = fixture();
    r.results.truncate(1);
    r.embedding.truncate(1);
    let html = report::html(&r);
    for name in CHARTS {
        let svg = chart(&html, name);
        assert_eq!(points(svg), 1, "{name}");
        assert_eq!(lines(svg), 0, "{name}");
        assert!(!svg.contains("NaN") && !svg.contains("inf\""), "{name}");
    }
    let md = report::markdown(&r);
    assert!(md.contains(&markdown_row_start(&r.results[0])));
}

#[test]
fn an_empty_run_still_renders() {
    let mut r = fixture();
    r.results.clear();
    r.embedding.clear();
    let html = report::html(&r);
    for name in CHARTS {
        assert_eq!(points(chart(&html, name)), 0);
    }
    assert!(html.contains("No configuration was scored."));
    assert!(report::markdown(&r).contains("No configuration was scored."));
}
