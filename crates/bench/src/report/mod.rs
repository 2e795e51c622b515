//! Reports drawn from [`crate::Results`]: `results.json`, a Markdown summary,
//! one MTEB-shaped JSON file per configuration and a self-contained HTML page
//! with charts.
//!
//! [`write_all`] writes them all into a directory; [`markdown`], [`mteb()`]
//! and [`html`] render one part each; [`read_results`] reads a
//! `results.json` back so a report can be drawn again.

mod chart;
mod format;
mod html;
mod markdown;
mod mteb;
mod table;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use html::html;
pub use markdown::markdown;
pub use mteb::{mteb, MTEB_LAYOUT_VERSION};

use crate::Results;

/// The layout version of `results.json` this build reads and writes.
pub const SCHEMA: u32 = 1;
/// The largest `results.json` [`read_results`] reads, in bytes.
pub const MAX_RESULTS_BYTES: u64 = 64 * 1024 * 1024;
/// The most configurations a report is drawn for.
pub const MAX_CONFIGS: usize = 10_000;
/// The most embedding passes a report is drawn for.
pub const MAX_MODEL_RUNS: usize = 1_000;

/// Why a report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The results file is larger than [`MAX_RESULTS_BYTES`].
    #[error("{}: {size} bytes is more than the {limit} bytes a results file may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes (at least).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The results file is not valid JSON of the results layout.
    #[error("{}: line {line}, column {column}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line of the fault (1-based).
        line: usize,
        /// The column of the fault (1-based).
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The results are well-formed but cannot be reported on.
    #[error("{source_name}: {message}")]
    Invalid {
        /// The file, or `results` for results given in memory.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// The files [`write_all`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `results.json`: the results themselves.
    pub results_json: PathBuf,
    /// `summary.md`: the Markdown summary.
    pub summary_md: PathBuf,
    /// `mteb/<label>.json`: one MTEB-shaped file per configuration, in the
    /// order of [`Results::results`].
    pub mteb: Vec<PathBuf>,
    /// `report.html`: the self-contained page with charts.
    pub report_html: PathBuf,
}

/// Checks the limits and the schema version of results before any work.
pub fn check(results: &Results, source_name: &str) -> Result<(), ReportError> {
    let invalid = |message: String| ReportError::Invalid {
        source_name: source_name.to_string(),
        message,
    };
    if results.schema != SCHEMA {
        return Err(invalid(format!(
            "results layout version {} is not supported (this build reads version {SCHEMA})",
            results.schema
        )));
    }
    if results.results.len() > MAX_CONFIGS {
        return Err(invalid(format!(
            "{} configurations is more than the {MAX_CONFIGS} a report is drawn for",
            results.results.len()
        )));
    }
    if results.embedding.len() > MAX_MODEL_RUNS {
        return Err(invalid(format!(
            "{} embedding passes is more than the {MAX_MODEL_RUNS} a report is drawn for",
            results.embedding.len()
        )));
    }
    Ok(())
}

/// Reads a `results.json` written by a run (or by [`write_all`]). A file
/// larger than [`MAX_RESULTS_BYTES`], not UTF-8, not JSON of the results
/// layout, or of another layout version is an error naming the file (and
/// the line and column of a syntax or type fault).
pub fn read_results(path: &Path) -> Result<Results, ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = fs::metadata(path).map_err(io)?.len();
    let too_large = |size| ReportError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit: MAX_RESULTS_BYTES,
    };
    if size > MAX_RESULTS_BYTES {
        return Err(too_large(size));
    }
    let mut text = String::new();
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_RESULTS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_RESULTS_BYTES {
        return Err(too_large(text.len() as u64));
    }
    let results: Results = serde_json::from_str(&text).map_err(|e| ReportError::Malformed {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    check(&results, &path.display().to_string())?;
    Ok(results)
}

/// The MTEB file name of each configuration, in the order of
/// [`Results::results`]: the slug of its label (`all-minilm-l6-v2-384d-int8`),
/// with `-2`, `-3`, ... added where two labels give the same slug.
pub fn mteb_file_names(results: &Results) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    let mut names = Vec::with_capacity(results.results.len());
    for config in &results.results {
        let base = format::slug(&config.label());
        let mut name = format!("{base}.json");
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}-{n}.json");
            n += 1;
        }
        taken.insert(name.clone());
        names.push(name);
    }
    names
}

/// Writes every report of `results` into the directory `out` (created if
/// missing): `results.json` (pretty-printed), `summary.md`,
/// `mteb/<label>.json` per configuration and `report.html`. Existing files of
/// those names are replaced.
pub fn write_all(results: &Results, out: &Path) -> Result<Written, ReportError> {
    check(results, "results")?;
    let mteb_dir = out.join("mteb");
    fs::create_dir_all(&mteb_dir).map_err(|source| ReportError::Io {
        path: mteb_dir.clone(),
        source,
    })?;
    let json = serde_json::to_string_pretty(results).map_err(|e| ReportError::Invalid {
        source_name: "results".into(),
        message: format!("cannot be written as JSON: {e}"),
    })?;
    let results_json = write(out.join("results.json"), json + "\n")?;
    let summary_md = write(out.join("summary.md"), markdown(results))?;
    let mut mteb_files = Vec::with_capacity(results.results.len());
    for (config, name) in results.results.iter().zip(mteb_file_names(results)) {
        let value = mteb(results, config);
        let text = serde_json::to_string_pretty(&value).map_err(|e| ReportError::Invalid {
            source_name: config.label(),
            message: format!("cannot be written as JSON: {e}"),
        })?;
        mteb_files.push(write(mteb_dir.join(name), text + "\n")?);
    }
    let report_html = write(out.join("report.html"), html(results))?;
    Ok(Written {
        results_json,
        summary_md,
        mteb: mteb_files,
        report_html,
    })
}

fn write(path: PathBuf, contents: String) -> Result<PathBuf, ReportError> {
    match fs::write(&path, contents) {
        Ok(()) => Ok(path),
        Err(source) => Err(ReportError::Io { path, source }),
    }
}
