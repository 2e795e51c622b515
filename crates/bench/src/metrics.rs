//! Retrieval metrics as `trec_eval` computes them.
//!
//! [`evaluate`] scores a run against relevance judgements with the measures
//! BEIR and MTEB report, computed the way `trec_eval` computes them (as run by
//! `pytrec_eval`, which BEIR calls):
//!
//! | name           | `trec_eval` measure | value at cut-off k                                   |
//! |----------------|---------------------|------------------------------------------------------|
//! | `ndcg@k`       | `ndcg_cut.k`        | DCG of the top k over the ideal DCG of the judgements |
//! | `recall@k`     | `recall.k`          | relevant in the top k / relevant judged              |
//! | `precision@k`  | `P.k`               | relevant in the top k / k                            |
//! | `map@k`        | `map_cut.k`         | sum of precision at each relevant rank ≤ k / relevant judged |
//! | `mrr@k`        | `recip_rank` on the top k | 1 / rank of the first relevant document in the top k, else 0 |
//!
//! Details that change numbers (as `trec_eval` has them unless said):
//!
//! - A document is relevant when its grade is 1 or more. Its gain in DCG is
//!   its grade; grades of 0 or below, and documents without a judgement, give
//!   nothing. The discount of rank r (from 1) is `log2(r + 1)`.
//! - The ideal DCG at k is built from the judged grades of 1 or more, highest
//!   first, over the first min(k, relevant judged) ranks. A cut-off deeper
//!   than the ranking counts the missing ranks as not relevant (so
//!   precision@k always divides by k).
//! - Ranking: scores descending, compared after rounding to single precision
//!   (`trec_eval` 9 keeps scores as C `float`, and `pytrec_eval-terrier`
//!   0.5.11, which BEIR calls, runs that code; `trec_eval` 10 compares
//!   doubles), ties broken by document id in *descending* byte order.
//!   A document listed twice for a query counts once, at its higher score.
//!   A NaN score ranks below every number.
//! - Everything is summed in `f64`, in rank order.
//! - `mrr@k` is `trec_eval`'s `recip_rank` on the run cut at k, which is
//!   BEIR's MRR@k except on ties (BEIR's own MRR code keeps tied documents in
//!   the run's order) and in the mean (BEIR's divides by every judged query).
//!
//! Which queries count: a query is scored when it is in both the judgements
//! and the run, and at least one of its judged documents is relevant.
//!
//! - Queries whose judgements are all below 1 are left out of the mean and
//!   of [`Evaluation::per_query`]. (`trec_eval`, and BEIR's `evaluate`
//!   through `pytrec_eval`, would score them 0 on every measure and average
//!   those zeros in.)
//! - Judged queries absent from the run are left out, as `pytrec_eval` and
//!   BEIR leave them out (`trec_eval -c` would count them as 0).
//! - Queries in the run without judgements are ignored, as in both.
//! - A query present in the run with no documents (or none left after
//!   [`EvalOptions::ignore_identical_ids`]) is scored, with zeros.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Relevance judgements: query id -> document id -> graded relevance.
pub type Qrels = BTreeMap<String, BTreeMap<String, i32>>;

/// A run: query id -> retrieved (document id, score), in any order.
pub type Run = BTreeMap<String, Vec<(String, f64)>>;

/// The cut-offs used when none are given: `1,3,5,10,100`.
pub const DEFAULT_KS: [usize; 5] = [1, 3, 5, 10, 100];

/// The largest file [`read_qrels`] and [`read_run`] accept: 1 GiB.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The longest line [`read_qrels`] and [`read_run`] accept: 64 KiB.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The largest cut-off [`parse_ks`] accepts.
pub const MAX_K: usize = 1_000_000;

/// The most cut-offs [`parse_ks`] accepts.
pub const MAX_KS: usize = 64;

/// The measures computed at every cut-off, in the order they are named.
pub const MEASURES: [&str; 5] = ["ndcg", "recall", "mrr", "map", "precision"];

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalOptions {
    /// The cut-offs. Each measure is computed at each of them; zeros and
    /// repeats are dropped.
    pub ks: Vec<usize>,
    /// Drop retrieved documents whose id equals the query's id before
    /// scoring (BEIR's option, for corpora that contain the queries).
    pub ignore_identical_ids: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            ks: DEFAULT_KS.to_vec(),
            ignore_identical_ids: false,
        }
    }
}

/// The scores of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Queries scored (see the module documentation for which count).
    pub queries: usize,
    /// Metric name (`ndcg@10`) -> mean over the scored queries; 0 for every
    /// metric when no query was scored.
    pub mean: BTreeMap<String, f64>,
    /// Query id -> metric name -> value, for each scored query.
    pub per_query: BTreeMap<String, BTreeMap<String, f64>>,
}

/// A judgement or run file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{}: {size} bytes is more than the limit of {limit}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, as far as it was read.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// One line is malformed.
    #[error("{} line {line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The file holds no judgement or no result.
    #[error("{}: {what}", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// A cut-off list such as `1,3,5,10` is malformed.
    #[error("cut-offs {list:?}: {message}")]
    Cutoffs {
        /// The list as given.
        list: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The name of a measure at a cut-off: `metric_name("ndcg", 10)` is `ndcg@10`.
pub fn metric_name(measure: &str, k: usize) -> String {
    format!("{measure}@{k}")
}

/// Parses a comma-separated list of cut-offs (`1,3,5,10,100`): each from 1
/// to [`MAX_K`], at most [`MAX_KS`] of them. Returns them sorted, without
/// repeats.
pub fn parse_ks(list: &str) -> Result<Vec<usize>, MetricsError> {
    let fail = |message: String| MetricsError::Cutoffs {
        list: list.chars().take(200).collect(),
        message,
    };
    let parts: Vec<&str> = list.split(',').map(str::trim).collect();
    if parts.len() > MAX_KS {
        return Err(fail(format!(
            "{} cut-offs, at most {MAX_KS} allowed",
            parts.len()
        )));
    }
    let mut ks = Vec::with_capacity(parts.len());
    for part in parts {
        let k: usize = part
            .parse()
            .map_err(|_| fail(format!("{part:?} is not a whole number")))?;
        if k == 0 || k > MAX_K {
            return Err(fail(format!("{k} is not between 1 and {MAX_K}")));
        }
        ks.push(k);
    }
    ks.sort_unstable();
    ks.dedup();
    Ok(ks)
}

/// Scores `run` against `qrels` at each cut-off of `options` (see the module
/// documentation for the exact definitions and which queries count).
pub fn evaluate(qrels: &Qrels, run: &Run, options: &EvalOptions) -> Evaluation {
    let mut ks: Vec<usize> = options.ks.iter().copied().filter(|&k| k > 0).collect();
    ks.sort_unstable();
    ks.dedup();
    let mut per_query = BTreeMap::new();
    for (qid, retrieved) in run {
        let Some(judged) = qrels.get(qid) else {
            continue;
        };
        let skip = options.ignore_identical_ids.then_some(qid.as_str());
        let ranked: Vec<&str> = rank(retrieved, skip)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if let Some(scores) = score_query(judged, &ranked, &ks) {
            per_query.insert(qid.clone(), scores);
        }
    }
    let mut mean = BTreeMap::new();
    for &k in &ks {
        for measure in MEASURES {
            let name = metric_name(measure, k);
            let sum = per_query.values().fold(0.0, |sum, scores| {
                sum + scores.get(&name).copied().unwrap_or(0.0)
            });
            let value = if per_query.is_empty() {
                0.0
            } else {
                sum / per_query.len() as f64
            };
            mean.insert(name, value);
        }
    }
    Evaluation {
        queries: per_query.len(),
        mean,
        per_query,
    }
}

/// The JSON the `bench eval` command prints:
/// `{"queries": n, "mean": {...}}`, plus `"per_query": {...}` when asked.
pub fn evaluation_json(evaluation: &Evaluation, per_query: bool) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("queries".into(), evaluation.queries.into());
    out.insert("mean".into(), scores_json(&evaluation.mean));
    if per_query {
        let queries = evaluation
            .per_query
            .iter()
            .map(|(qid, scores)| (qid.clone(), scores_json(scores)))
            .collect();
        out.insert("per_query".into(), serde_json::Value::Object(queries));
    }
    serde_json::Value::Object(out)
}

fn scores_json(scores: &BTreeMap<String, f64>) -> serde_json::Value {
    serde_json::Value::Object(
        scores
            .iter()
            .map(|(name, value)| (name.clone(), (*value).into()))
            .collect(),
    )
}

/// Orders two scores as `trec_eval` 9 does: higher first, compared in
/// single precision, NaN last.
fn compare_scores(a: f64, b: f64) -> Ordering {
    let (a, b) = (a as f32, b as f32);
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// The retrieved documents in `trec_eval`'s order, each id once, without
/// `skip` (the query's own id when identical ids are ignored).
fn rank<'a>(retrieved: &'a [(String, f64)], skip: Option<&str>) -> Vec<(&'a str, f64)> {
    let mut hits: Vec<(&str, f64)> = retrieved
        .iter()
        .map(|(id, score)| (id.as_str(), *score))
        .filter(|(id, _)| Some(*id) != skip)
        .collect();
    hits.sort_by(|a, b| compare_scores(a.1, b.1).then_with(|| b.0.cmp(a.0)));
    let mut seen = HashSet::with_capacity(hits.len());
    hits.retain(|(id, _)| seen.insert(*id));
    hits
}

/// Every measure at every cut-off for one query, or `None` when the query
/// has no relevant judgement.
fn score_query(
    judged: &BTreeMap<String, i32>,
    ranked: &[&str],
    ks: &[usize],
) -> Option<BTreeMap<String, f64>> {
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&g| g >= 1).collect();
    if ideal.is_empty() {
        return None;
    }
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let relevant = ideal.len() as f64;
    let depth = ks.last().copied().unwrap_or(0).min(ranked.len());
    let grades: Vec<i32> = ranked[..depth]
        .iter()
        .map(|id| judged.get(*id).copied().unwrap_or(0))
        .collect();
    let mut scores = BTreeMap::new();
    for &k in ks {
        let top = &grades[..k.min(grades.len())];
        let ideal_dcg = dcg(&ideal[..k.min(ideal.len())]);
        let ndcg = if ideal_dcg > 0.0 {
            dcg(top) / ideal_dcg
        } else {
            0.0
        };
        let mut found = 0usize;
        let mut precision_sum = 0.0;
        let mut first = None;
        for (i, &grade) in top.iter().enumerate() {
            if grade >= 1 {
                found += 1;
                precision_sum += found as f64 / (i + 1) as f64;
                first.get_or_insert(i + 1);
            }
        }
        let mrr = first.map_or(0.0, |rank| 1.0 / rank as f64);
        scores.insert(metric_name("ndcg", k), ndcg);
        scores.insert(metric_name("recall", k), found as f64 / relevant);
        scores.insert(metric_name("mrr", k), mrr);
        scores.insert(metric_name("map", k), precision_sum / relevant);
        scores.insert(metric_name("precision", k), found as f64 / k as f64);
    }
    Some(scores)
}

/// Discounted cumulative gain of grades in rank order: grade / log2(rank + 1)
/// for each positive grade.
fn dcg(grades: &[i32]) -> f64 {
    grades
        .iter()
        .enumerate()
        .filter(|(_, &g)| g > 0)
        .fold(0.0, |sum, (i, &g)| {
            sum + f64::from(g) / ((i + 2) as f64).log2()
        })
}

/// Calls `each` with every line of `path` (numbered from 1, without its line
/// end), after checking the file's size and each line's length.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(usize, &str) -> Result<(), String>,
) -> Result<(), MetricsError> {
    let io = |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |size| MetricsError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit: MAX_FILE_BYTES,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut reader = BufReader::new(file.take(MAX_FILE_BYTES + 1));
    let mut buf = Vec::new();
    let mut total = 0u64;
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > MAX_FILE_BYTES {
            return Err(too_large(total));
        }
        line += 1;
        let fail = |message: String| MetricsError::Line {
            path: path.to_path_buf(),
            line,
            message,
        };
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(fail(format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        let text = std::str::from_utf8(&buf).map_err(|e| fail(format!("not UTF-8 ({e})")))?;
        each(line, text).map_err(fail)?;
    }
}

/// The layout of a judgement file, told from its first line.
#[derive(Clone, Copy, PartialEq)]
enum QrelsForm {
    /// `query 0 document relevance`, separated by white space.
    Trec,
    /// `query-id<TAB>corpus-id<TAB>score`, after a header line.
    Beir,
}

/// Reads relevance judgements in either form: TREC qrels
/// (`qid 0 docid rel`, fields separated by white space) or BEIR's TSV
/// (`query-id<TAB>corpus-id<TAB>score`, with a header line). The form is told
/// from the first non-blank line: three tab-separated fields make it BEIR's.
/// Blank lines are skipped. A document judged twice for one query is an
/// error.
pub fn read_qrels(path: impl AsRef<Path>) -> Result<Qrels, MetricsError> {
    let path = path.as_ref();
    let mut qrels = Qrels::new();
    let mut form = None;
    let mut judgements = 0usize;
    for_each_line(path, |_, line| {
        let Some((qid, docid, grade)) = parse_judgement(line, &mut form)? else {
            return Ok(());
        };
        let judged = qrels.entry(qid.to_string()).or_default();
        if judged.insert(docid.to_string(), grade).is_some() {
            return Err(format!("document {docid:?} judged twice for query {qid:?}"));
        }
        judgements += 1;
        Ok(())
    })?;
    if judgements == 0 {
        return Err(MetricsError::Empty {
            path: path.to_path_buf(),
            what: "no judgements",
        });
    }
    Ok(qrels)
}

/// One judgement line as (query, document, grade); `None` for a blank line
/// or BEIR's header. The first non-blank line sets `form`.
fn parse_judgement<'a>(
    line: &'a str,
    form: &mut Option<QrelsForm>,
) -> Result<Option<(&'a str, &'a str, i32)>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let tabbed: Vec<&str> = line.split('\t').collect();
    let first = form.is_none();
    let layout = *form.get_or_insert(if tabbed.len() == 3 {
        QrelsForm::Beir
    } else {
        QrelsForm::Trec
    });
    let (qid, docid, grade) = match layout {
        QrelsForm::Beir => {
            let [qid, docid, grade] = tabbed[..] else {
                return Err(format!(
                    "expected 3 tab-separated fields (query-id, corpus-id, score), found {}",
                    tabbed.len()
                ));
            };
            if first && grade.trim().parse::<i64>().is_err() {
                return Ok(None); // the header
            }
            (qid.trim(), docid.trim(), grade.trim())
        }
        QrelsForm::Trec => {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [qid, _, docid, grade] = fields[..] else {
                return Err(format!(
                    "expected 4 fields (query 0 document relevance), found {}",
                    fields.len()
                ));
            };
            (qid, docid, grade)
        }
    };
    if qid.is_empty() || docid.is_empty() {
        return Err("empty query or document id".into());
    }
    let grade: i32 = grade
        .parse()
        .map_err(|_| format!("relevance {grade:?} is not a whole number"))?;
    Ok(Some((qid, docid, grade)))
}

/// Reads a TREC run file: `qid Q0 docid rank score tag` per line, fields
/// separated by white space. The rank and tag are not used (`trec_eval`
/// ranks by score); the score must be a number, not NaN. Blank lines are
/// skipped. A document listed twice for one query is an error.
pub fn read_run(path: impl AsRef<Path>) -> Result<Run, MetricsError> {
    let path = path.as_ref();
    let mut lines: BTreeMap<String, Vec<(String, f64, usize)>> = BTreeMap::new();
    for_each_line(path, |line_no, line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            return Ok(());
        }
        let [qid, _, docid, _, score, _] = fields[..] else {
            return Err(format!(
                "expected 6 fields (query Q0 document rank score tag), found {}",
                fields.len()
            ));
        };
        let score: f64 = score
            .parse()
            .map_err(|_| format!("score {score:?} is not a number"))?;
        if score.is_nan() {
            return Err("score is NaN".into());
        }
        lines
            .entry(qid.to_string())
            .or_default()
            .push((docid.to_string(), score, line_no));
        Ok(())
    })?;
    if lines.is_empty() {
        return Err(MetricsError::Empty {
            path: path.to_path_buf(),
            what: "no results",
        });
    }
    let mut run = Run::new();
    for (qid, mut hits) in lines {
        hits.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        if let Some(pair) = hits.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(MetricsError::Line {
                path: path.to_path_buf(),
                line: pair[1].2,
                message: format!(
                    "document {:?} listed twice for query {qid:?} (first on line {})",
                    pair[0].0, pair[0].2
                ),
            });
        }
        run.insert(
            qid,
            hits.into_iter().map(|(id, score, _)| (id, score)).collect(),
        );
    }
    Ok(run)
}

/// Writes `run` as a TREC run file (`qid Q0 docid rank score tag`) that
/// `trec_eval` and [`read_run`] read back to the same scores: each query's
/// documents in the order [`evaluate`] ranks them, ranks from 1, scores in
/// the shortest form that reads back exactly. Ids and the tag must be
/// non-empty and free of white space, and no score may be NaN.
pub fn write_run(path: impl AsRef<Path>, run: &Run, tag: &str) -> Result<(), MetricsError> {
    let path = path.as_ref();
    let io = |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let check = |what: &str, id: &str| {
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            let message = format!("{what} {id:?} is empty or contains white space");
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                message,
            )));
        }
        Ok(())
    };
    check("tag", tag)?;
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    for (qid, retrieved) in run {
        check("query id", qid)?;
        for (i, (docid, score)) in rank(retrieved, None).into_iter().enumerate() {
            check("document id", docid)?;
            if score.is_nan() {
                let message = format!("query {qid:?}, document {docid:?}: score is NaN");
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    message,
                )));
            }
            writeln!(out, "{qid} Q0 {docid} {} {score:?} {tag}", i + 1).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(entries: &[(&str, &str, i32)]) -> Qrels {
        let mut q = Qrels::new();
        for (qid, docid, grade) in entries {
            q.entry(qid.to_string())
                .or_default()
                .insert(docid.to_string(), *grade);
        }
        q
    }

    fn run(entries: &[(&str, &str, f64)]) -> Run {
        let mut r = Run::new();
        for (qid, docid, score) in entries {
            r.entry(qid.to_string())
                .or_default()
                .push((docid.to_string(), *score));
        }
        r
    }

    fn options(ks: &[usize]) -> EvalOptions {
        EvalOptions {
            ks: ks.to_vec(),
            ignore_identical_ids: false,
        }
    }

    fn get(e: &Evaluation, qid: &str, name: &str) -> f64 {
        e.per_query[qid][name]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Ranked grades 0, 3, unjudged, 1, 2 against judged grades 3, 2, 1, 0.
    #[test]
    fn graded_relevance_and_fewer_relevant_than_k() {
        let q = qrels(&[
            ("q", "d1", 3),
            ("q", "d2", 2),
            ("q", "d3", 0),
            ("q", "d4", 1),
        ]);
        let r = run(&[
            ("q", "d2", 0.5),
            ("q", "d4", 0.6),
            ("q", "d1", 0.8),
            ("q", "d3", 0.9),
            ("q", "d5", 0.7),
        ]);
        let e = evaluate(&q, &r, &options(&[3, 5, 1]));
        assert!(get(&e, "q", "ndcg@1").is_sign_positive());
        let l3 = 3f64.log2();
        let ideal = 3.0 + 2.0 / l3 + 1.0 / 2.0; // only three relevant documents
        assert!(close(get(&e, "q", "ndcg@3"), (3.0 / l3) / ideal));
        let dcg5 = 3.0 / l3 + 1.0 / 5f64.log2() + 2.0 / 6f64.log2();
        assert!(close(get(&e, "q", "ndcg@5"), dcg5 / ideal));
        assert!(close(get(&e, "q", "ndcg@1"), 0.0));
        assert!(close(get(&e, "q", "recall@3"), 1.0 / 3.0));
        assert!(close(get(&e, "q", "recall@5"), 1.0));
        assert!(close(get(&e, "q", "precision@3"), 1.0 / 3.0));
        assert!(close(get(&e, "q", "precision@5"), 3.0 / 5.0));
        assert!(close(get(&e, "q", "mrr@1"), 0.0));
        assert!(close(get(&e, "q", "mrr@3"), 0.5));
        assert!(close(get(&e, "q", "map@3"), 0.5 / 3.0));
        assert!(close(
            get(&e, "q", "map@5"),
            (1.0 / 2.0 + 2.0 / 4.0 + 3.0 / 5.0) / 3.0
        ));
        assert_eq!(e.queries, 1);
        assert_eq!(e.mean.len(), 15);
        assert!(close(e.mean["ndcg@5"], dcg5 / ideal));
    }

    /// Equal scores: the higher document id ranks first.
    #[test]
    fn ties_break_by_descending_document_id() {
        let q = qrels(&[("q", "b", 1)]);
        let r = run(&[("q", "a", 0.5), ("q", "b", 0.5), ("q", "c", 0.5)]);
        let e = evaluate(&q, &r, &options(&[1, 2, 3]));
        assert!(close(get(&e, "q", "mrr@1"), 0.0));
        assert!(close(get(&e, "q", "mrr@2"), 0.5));
        assert!(close(get(&e, "q", "ndcg@2"), 1.0 / 3f64.log2()));
        assert!(close(get(&e, "q", "map@3"), 0.5));
    }

    /// Scores equal in single precision tie; scores that differ in it do not.
    #[test]
    fn scores_compare_in_single_precision() {
        let q = qrels(&[("q", "b", 1)]);
        let tied = run(&[("q", "a", 0.5 + 1e-9), ("q", "b", 0.5)]);
        assert!(close(
            get(&evaluate(&q, &tied, &options(&[1])), "q", "mrr@1"),
            1.0
        ));
        let apart = run(&[("q", "a", 0.5 + 1e-6), ("q", "b", 0.5)]);
        assert!(close(
            get(&evaluate(&q, &apart, &options(&[1])), "q", "mrr@1"),
            0.0
        ));
        let nan = run(&[("q", "a", f64::NAN), ("q", "b", -1.0)]);
        assert!(close(
            get(&evaluate(&q, &nan, &options(&[1])), "q", "mrr@1"),
            1.0
        ));
    }

    /// A cut-off deeper than the ranking counts the missing ranks as not
    /// relevant.
    #[test]
    fn fewer_retrieved_than_k() {
        let q = qrels(&[("q", "d1", 2), ("q", "d2", 1)]);
        let r = run(&[("q", "d1", 1.0)]);
        let e = evaluate(&q, &r, &options(&[10]));
        assert!(close(get(&e, "q", "precision@10"), 0.1));
        assert!(close(get(&e, "q", "recall@10"), 0.5));
        assert!(close(
            get(&e, "q", "ndcg@10"),
            2.0 / (2.0 + 1.0 / 3f64.log2())
        ));
        assert!(close(get(&e, "q", "map@10"), 0.5));
        assert!(close(get(&e, "q", "mrr@10"), 1.0));
    }

    #[test]
    fn ignore_identical_ids_drops_the_query_itself() {
        let q = qrels(&[("q1", "d1", 1)]);
        let r = run(&[("q1", "q1", 0.9), ("q1", "d1", 0.8)]);
        let kept = evaluate(&q, &r, &options(&[1]));
        assert!(close(get(&kept, "q1", "mrr@1"), 0.0));
        let dropped = evaluate(
            &q,
            &r,
            &EvalOptions {
                ks: vec![1],
                ignore_identical_ids: true,
            },
        );
        assert!(close(get(&dropped, "q1", "mrr@1"), 1.0));
        assert!(close(get(&dropped, "q1", "precision@1"), 1.0));
    }

    /// Queries without a relevant judgement (only 0 or negative grades),
    /// judged queries missing from the run and run queries without
    /// judgements are all left out of the mean.
    #[test]
    fn which_queries_count() {
        let q = qrels(&[
            ("q1", "d1", 1),
            ("q2", "d1", 0),
            ("q3", "d1", -1),
            ("q4", "d1", 1),
            ("q6", "d1", 1),
        ]);
        let mut r = run(&[
            ("q1", "d1", 1.0),
            ("q2", "d1", 1.0),
            ("q3", "d1", 1.0),
            ("q5", "d1", 1.0),
            ("q6", "d2", 1.0),
        ]);
        r.insert("q7".into(), Vec::new());
        let e = evaluate(&q, &r, &options(&[1]));
        assert_eq!(e.per_query.keys().collect::<Vec<_>>(), ["q1", "q6"]);
        assert_eq!(e.queries, 2);
        assert!(close(e.mean["ndcg@1"], 0.5));
        assert!(close(e.mean["recall@1"], 0.5));
    }

    /// A negative grade is neither relevant nor a (negative) gain.
    #[test]
    fn negative_grades_give_nothing() {
        let q = qrels(&[("q", "bad", -2), ("q", "good", 1)]);
        let r = run(&[("q", "bad", 0.9), ("q", "good", 0.8)]);
        let e = evaluate(&q, &r, &options(&[2]));
        assert!(close(get(&e, "q", "ndcg@2"), 1.0 / 3f64.log2()));
        assert!(close(get(&e, "q", "precision@2"), 0.5));
    }

    #[test]
    fn a_document_listed_twice_counts_once_at_its_higher_score() {
        let q = qrels(&[("q", "d1", 1), ("q", "d2", 1)]);
        let r = run(&[("q", "d1", 0.1), ("q", "d2", 0.5), ("q", "d1", 0.9)]);
        let e = evaluate(&q, &r, &options(&[3]));
        assert!(close(get(&e, "q", "precision@3"), 2.0 / 3.0));
        assert!(close(get(&e, "q", "map@3"), 1.0));
    }

    #[test]
    fn no_scored_query_gives_zero_means() {
        let q = qrels(&[("q", "d", 0)]);
        let r = run(&[("q", "d", 1.0)]);
        let e = evaluate(&q, &r, &options(&[0, 10, 10]));
        assert_eq!(e.queries, 0);
        assert_eq!(e.mean.len(), 5);
        assert!(e.mean.values().all(|v| *v == 0.0));
    }

    #[test]
    fn cut_off_lists() {
        assert_eq!(parse_ks("10, 1,3,10").unwrap(), vec![1, 3, 10]);
        for bad in ["", "1,,3", "0", "x", "-1", "1000001"] {
            let err = parse_ks(bad).unwrap_err().to_string();
            assert!(err.starts_with("cut-offs"), "{bad}: {err}");
        }
        let many = (1..=65)
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_ks(&many)
            .unwrap_err()
            .to_string()
            .contains("at most 64"));
    }

    #[test]
    fn json_shape() {
        let q = qrels(&[("q", "d", 1)]);
        let r = run(&[("q", "d", 1.0)]);
        let e = evaluate(&q, &r, &options(&[1]));
        let short = evaluation_json(&e, false);
        assert_eq!(short["queries"], 1);
        assert_eq!(short["mean"]["ndcg@1"], 1.0);
        assert!(short.get("per_query").is_none());
        let long = evaluation_json(&e, true);
        assert_eq!(long["per_query"]["q"]["mrr@1"], 1.0);
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_both_qrels_forms() {
        let dir = tempfile::tempdir().unwrap();
        let trec = write(&dir, "q.txt", "q1 0 d1 2\n\nq1 0 d2 0\r\nq2\t0\td1\t1\n");
        let beir = write(
            &dir,
            "q.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td1\t1\n",
        );
        let a = read_qrels(&trec).unwrap();
        assert_eq!(a, read_qrels(&beir).unwrap());
        assert_eq!(a["q1"]["d1"], 2);
        assert_eq!(a["q1"].len(), 2);
        let doc_with_space = write(&dir, "s.tsv", "query-id\tcorpus-id\tscore\nq 1\td 1\t1\n");
        assert_eq!(read_qrels(&doc_with_space).unwrap()["q 1"]["d 1"], 1);
    }

    #[test]
    fn qrels_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("a.txt", "q1 0 d1 1\nq1 0 d2\n", "line 2: expected 4 fields"),
            (
                "b.txt",
                "q1 0 d1 1\nq1 0 d2 high\n",
                "line 2: relevance \"high\"",
            ),
            (
                "c.txt",
                "q1 0 d1 1\nq1 0 d1 2\n",
                "line 2: document \"d1\" judged twice",
            ),
            (
                "d.tsv",
                "query-id\tcorpus-id\tscore\nq1\td1\n",
                "line 2: expected 3 tab",
            ),
            (
                "e.tsv",
                "query-id\tcorpus-id\tscore\nq1\td1\tx\n",
                "line 2: relevance \"x\"",
            ),
            ("f.txt", "\n\n", "no judgements"),
            ("g.tsv", "query-id\tcorpus-id\tscore\n", "no judgements"),
            ("h.txt", "q1 0 d1 99999999999\n", "line 1: relevance"),
        ];
        for (name, text, want) in cases {
            let path = write(&dir, name, text);
            let err = read_qrels(&path).unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(err.contains(want), "{name}: {err}");
        }
        let missing = read_qrels(dir.path().join("none")).unwrap_err();
        assert!(matches!(missing, MetricsError::Io { .. }));
    }

    #[test]
    fn reads_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "run.txt",
            "q1 Q0 d1 1 0.5 sys\nq1 Q0 d2 2 -inf sys\n\nq2 Q0 d1 1 1e-3 sys\n",
        );
        let r = read_run(&path).unwrap();
        assert_eq!(
            r["q1"],
            vec![("d1".into(), 0.5), ("d2".into(), f64::NEG_INFINITY)]
        );
        assert_eq!(r["q2"], vec![("d1".to_string(), 1e-3)]);
    }

    #[test]
    fn written_runs_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.txt");
        let r = run(&[
            ("q1", "a", 0.1 + 0.2),
            ("q1", "b", 0.5),
            ("q1", "c", 0.5),
            ("q2", "x", -1e-300),
        ]);
        write_run(&path, &r, "sys").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let first: Vec<&str> = text.lines().next().unwrap().split(' ').collect();
        assert_eq!(first, ["q1", "Q0", "c", "1", "0.5", "sys"]);
        let back = read_run(&path).unwrap();
        assert_eq!(back["q1"].len(), 3);
        assert!(back["q1"].contains(&("a".to_string(), 0.1 + 0.2)));
        assert_eq!(back["q2"], r["q2"]);
        let bad = run(&[("q 1", "a", 1.0)]);
        let err = write_run(&path, &bad, "sys").unwrap_err().to_string();
        assert!(err.contains("query id \"q 1\""), "{err}");
    }

    #[test]
    fn run_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "run.txt", "q1 Q0 d1 1 0.5 s\nq1 Q0 d2 2\n");
        assert_eq!(
            read_run(&path).unwrap_err().to_string(),
            format!(
                "{} line 2: expected 6 fields (query Q0 document rank score tag), found 4",
                path.display()
            )
        );
        let cases = [
            ("a.txt", "q1 Q0 d1 1 high s\n", "line 1: score \"high\""),
            ("b.txt", "q1 Q0 d1 1 NaN s\n", "line 1: score is NaN"),
            (
                "c.txt",
                "q1 Q0 d1 1 1 s\nq2 Q0 d1 1 1 s\nq1 Q0 d1 2 0 s\n",
                "line 3: document \"d1\" listed twice for query \"q1\" (first on line 1)",
            ),
            ("d.txt", "", "no results"),
        ];
        for (name, text, want) in cases {
            let path = write(&dir, name, text);
            let err = read_run(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"q1 Q0 d1 1 1 s\nq1 Q0 d\xe9 1 1 s\n").unwrap();
        let err = read_run(&latin1).unwrap_err().to_string();
        assert!(err.contains("line 2: not UTF-8"), "{err}");
    }

    #[test]
    fn limits_are_checked_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("q1 Q0 {} 1 1 s\n", "d".repeat(MAX_LINE_BYTES));
        let path = write(&dir, "long.txt", &format!("q1 Q0 d1 1 1 s\n{long}"));
        let err = read_run(&path).unwrap_err().to_string();
        assert!(err.contains("line 2: longer than 65536 bytes"), "{err}");
        let just_fits = format!("q1 Q0 {} 1 1 s\n", "d".repeat(MAX_LINE_BYTES - 13));
        let path = write(&dir, "fits.txt", &just_fits);
        assert_eq!(read_run(&path).unwrap()["q1"].len(), 1);
        let big = dir.path().join("big.txt");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let err = read_qrels(&big).unwrap_err();
        assert!(matches!(err, MetricsError::TooLarge { .. }), "{err}");
    }
}
