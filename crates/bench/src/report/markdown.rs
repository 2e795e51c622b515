//! The Markdown summary (`summary.md`).

use std::fmt::Write as _;

use super::format;
use super::table::{self, Align, Table};
use crate::Results;

/// The run as Markdown a person can read: the dataset, the machine and the
/// run time, one table per model (best model first) of quality, size, search
/// speed and cost, then the embedding passes.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let d = &results.dataset;
    let _ = writeln!(out, "# Retrieval benchmark: {}\n", format::md_cell(&d.name));
    for line in header_lines(results) {
        let _ = writeln!(out, "- {}", format::md_cell(&line));
    }
    out.push_str("\n## Quality, size, search speed and cost\n\n");
    out.push_str(
        "nDCG@10, Recall@10 and MRR@10 are means over the scored queries. \
         \"% of float\" compares nDCG@10 with the same model and dimensions \
         in float. Dollars are for embedding the whole corpus once.\n",
    );
    let tables = table::config_tables(results);
    if tables.is_empty() {
        out.push_str("\nNo configuration was scored.\n");
    }
    for (model, t) in &tables {
        let _ = writeln!(out, "\n### {}\n", format::md_cell(model));
        out.push_str(&render(t));
    }
    out.push_str("\n## Embedding passes\n\n");
    out.push_str(
        "One pass per model and dimensions over the corpus and the queries; \
         speed is over every embedding call made for the pass (a resumed run counts the calls of the runs it resumes; cached texts cost nothing).\n\n",
    );
    let passes = table::embedding_table(results);
    if passes.rows.is_empty() {
        out.push_str("No embedding pass was recorded.\n");
    } else {
        out.push_str(&render(&passes));
    }
    out
}

/// The facts above the tables, shared with the HTML page (unescaped).
pub(crate) fn header_lines(results: &Results) -> Vec<String> {
    let d = &results.dataset;
    let m = &results.machine;
    let features = if m.features.is_empty() {
        String::new()
    } else {
        format!("; {}", m.features.join(", "))
    };
    let ks: Vec<String> = results.ks.iter().map(|k| k.to_string()).collect();
    vec![
        format!(
            "Dataset: {}, split {}: {} documents, {} queries scored, {} judgements",
            d.name,
            d.split,
            format::int(d.documents as u64),
            format::int(d.queries as u64),
            format::int(d.judgements as u64)
        ),
        format!("Machine: {} ({} CPUs{features})", m.cpu, m.cpus),
        format!(
            "Run: finished {}, took {}",
            format::utc(results.finished_unix),
            format::duration(results.elapsed_s)
        ),
        format!("Cut-offs k: {}", ks.join(", ")),
    ]
}

fn render(t: &Table) -> String {
    let mut out = String::new();
    let header: Vec<String> = t.headers.iter().map(|h| format::md_cell(h)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = t
        .align
        .iter()
        .map(|a| match a {
            Align::Left => ":---",
            Align::Right => "---:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| format::md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}
