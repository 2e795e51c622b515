//! The self-contained HTML report: inline CSS, charts as inline SVG, the
//! tables of the Markdown summary. No script, font, image or any other
//! resource is loaded, and a content security policy forbids loading one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::chart::{self, Chart, Datum, Series, XKind};
use super::format::{self, esc};
use super::markdown::header_lines;
use super::table::{self, Align, Table};
use crate::{ConfigResult, Results};

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222;background:#fff}\
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2.2rem}h3{font-size:1.05rem;margin-top:1.6rem}\
ul.facts{padding-left:1.2rem;line-height:1.6}\
figure{margin:1.5rem 0}figcaption{color:#555;font-size:.9rem;max-width:900px}\
svg.chart{max-width:100%;height:auto;display:block;background:#fff}\
svg .plot-area{fill:#fafafa;stroke:#bbb}svg .grid{stroke:#e4e4e4}\
svg .tick,svg .legend{font-size:12px;fill:#333}svg .axis-label,svg .legend-head{font-size:13px;font-weight:600;fill:#222}\
svg .empty{font-size:14px;fill:#777}svg .zero-band{fill:#eef3f8}svg .band-edge{stroke:#99a;stroke-dasharray:3 3}\
svg .series-line{fill:none;stroke-width:2}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}\
th,td{border-bottom:1px solid #ddd;padding:.3rem .55rem;white-space:nowrap}\
th{background:#f3f3f3;text-align:left;white-space:normal;vertical-align:bottom;max-width:7.5em}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
p.note{color:#555;font-size:.9rem}";

/// The run as one self-contained HTML page: the facts of the run, three
/// charts (nDCG@10 against dimensions, corpus dollars on demand and bytes per
/// vector), then the tables of [`super::markdown`]. Every string taken from
/// the results is escaped.
pub fn html(results: &Results) -> String {
    let title = format!("Retrieval benchmark: {}", results.dataset.name);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n<ul class=\"facts\">",
        t = esc(&title)
    );
    for line in header_lines(results) {
        let _ = write!(out, "<li>{}</li>", esc(&line));
    }
    out.push_str("</ul>\n<h2>Quality against dimensions, cost and size</h2>\n");
    charts(&mut out, results);
    out.push_str("<h2>Quality, size, search speed and cost</h2>\n");
    out.push_str(
        "<p class=\"note\">nDCG@10, Recall@10 and MRR@10 are means over the scored queries. \
         &ldquo;% of float&rdquo; compares nDCG@10 with the same model and dimensions in float. \
         Dollars are for embedding the whole corpus once.</p>\n",
    );
    let tables = table::config_tables(results);
    if tables.is_empty() {
        out.push_str("<p class=\"note\">No configuration was scored.</p>\n");
    }
    for (model, t) in &tables {
        let _ = writeln!(out, "<h3>{}</h3>", esc(model));
        render(&mut out, t);
    }
    out.push_str("<h2>Embedding passes</h2>\n<p class=\"note\">One pass per model and dimensions over the corpus and the queries; speed is over every embedding call made for the pass (a resumed run counts the calls of the runs it resumes; cached texts cost nothing).</p>\n");
    let passes = table::embedding_table(results);
    if passes.rows.is_empty() {
        out.push_str("<p class=\"note\">No embedding pass was recorded.</p>\n");
    } else {
        render(&mut out, &passes);
    }
    out.push_str("</body></html>\n");
    out
}

/// The series of the charts: one per model, output type and rescoring, in
/// legend order; and for each configuration, the index of its series.
fn series_of(results: &Results, models: &[String]) -> (Vec<Series>, Vec<usize>) {
    type Key = (usize, u8, String, Option<usize>);
    let model_index: BTreeMap<&str, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let key = |c: &ConfigResult| -> Key {
        let model = model_index.get(c.model.as_str()).copied().unwrap_or(0);
        (
            model,
            table::type_rank(&c.output_type),
            c.output_type.clone(),
            c.rescore,
        )
    };
    let mut numbered: BTreeMap<Key, usize> = results.results.iter().map(|c| (key(c), 0)).collect();
    for (i, n) in numbered.values_mut().enumerate() {
        *n = i;
    }
    let index = results
        .results
        .iter()
        .map(|c| numbered.get(&key(c)).copied().unwrap_or(0))
        .collect();
    let keys: Vec<Key> = numbered.into_keys().collect();
    let series = keys
        .into_iter()
        .map(|(model, _, output_type, rescore)| {
            let mut name = format!("{} {output_type}", models.get(model).map_or("", |m| m));
            if let Some(n) = rescore {
                name.push_str(&format!(" + float rescoring of the top {n}"));
            }
            Series {
                name,
                model,
                output_type,
                rescored: rescore.is_some(),
            }
        })
        .collect();
    (series, index)
}

/// The x value of a configuration on a chart, or why it is not drawn.
fn x_value(kind: XKind, c: &ConfigResult) -> Result<f64, &'static str> {
    match kind {
        XKind::Dimensions if c.dimensions > 0 => Ok(c.dimensions as f64),
        XKind::Dimensions => Err("0 dimensions"),
        XKind::Bytes if c.bytes_per_vector > 0 => Ok(c.bytes_per_vector as f64),
        XKind::Bytes => Err("0 bytes per vector"),
        XKind::Dollars => match c.corpus_usd {
            Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
            Some(_) => Err("an invalid price"),
            None => Err("no known price"),
        },
    }
}

fn tip(c: &ConfigResult, y: f64) -> String {
    format!(
        "{}: nDCG@10 {y:.4}; {} B/vector; corpus {}",
        c.label(),
        c.bytes_per_vector,
        format::usd(c.corpus_usd)
    )
}

fn charts(out: &mut String, results: &Results) {
    let models = table::models(results);
    let (series, index) = series_of(results, &models);
    let specs = [
        (
            XKind::Dimensions,
            "quality-vs-dimensions",
            "nDCG@10 against dimensions",
            "dimensions (log scale)",
        ),
        (
            XKind::Dollars,
            "quality-vs-dollars",
            "nDCG@10 against the dollars to embed the corpus on demand",
            "corpus $ on demand (log scale)",
        ),
        (
            XKind::Bytes,
            "quality-vs-bytes",
            "nDCG@10 against bytes per stored vector",
            "bytes per vector (log scale)",
        ),
    ];
    for (kind, name, title, x_label) in specs {
        let mut data = Vec::new();
        let mut skipped: Vec<(&str, usize)> = Vec::new();
        for (c, s) in results.results.iter().zip(&index) {
            let reason = match (table::ndcg10(c), x_value(kind, c)) {
                (Some(y), Ok(x)) => {
                    data.push(Datum {
                        series: *s,
                        x,
                        y,
                        tip: tip(c, y),
                    });
                    continue;
                }
                (None, _) => "no nDCG@10",
                (_, Err(reason)) => reason,
            };
            match skipped.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => skipped.push((reason, 1)),
            }
        }
        let svg = chart::svg(&Chart {
            name,
            title,
            x_label,
            kind,
            models: &models,
            series: &series,
            data: &data,
        });
        let _ = write!(out, "<figure>{svg}<figcaption>{}.", esc(title));
        if kind == XKind::Dollars {
            out.push_str(&dollar_note(&data));
        }
        for (reason, n) in skipped {
            let noun = if n == 1 {
                "configuration"
            } else {
                "configurations"
            };
            let _ = write!(out, " {n} {noun} not drawn: {}.", esc(reason));
        }
        out.push_str("</figcaption></figure>\n");
    }
}

fn dollar_note(data: &[Datum]) -> String {
    let priced = data.iter().filter(|d| d.x > 0.0).count();
    let free = data.len() - priced;
    let mut note = String::from(
        " Bedrock charges per token, so every dimension and vector type of a model costs the same \
         and its points stand in one column.",
    );
    if data.is_empty() {
        note.push_str(" No configuration in this run has a known price.");
    } else if priced == 0 {
        note.push_str(" Every model in this run is free (local): all points stand in the $0 band.");
    } else if free > 0 {
        note.push_str(
            " Free (local) models are drawn in the $0 band at the left, outside the log scale.",
        );
    }
    note
}

fn render(out: &mut String, t: &Table) {
    let class = |a: &Align| match a {
        Align::Left => "",
        Align::Right => " class=\"num\"",
    };
    out.push_str("<div class=\"scroll\"><table><thead><tr>");
    for (h, a) in t.headers.iter().zip(&t.align) {
        let _ = write!(out, "<th{}>{}</th>", class(a), esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        out.push_str("<tr>");
        for (cell, a) in row.iter().zip(&t.align) {
            let _ = write!(out, "<td{}>{}</td>", class(a), esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
}
