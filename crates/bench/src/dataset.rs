//! Labelled retrieval sets in BEIR's layout.
//!
//! A dataset is a directory holding:
//! - `corpus.jsonl`: one object per line with `_id`, `title` and `text`;
//! - `queries.jsonl`: one object per line with `_id` and `text`;
//! - `qrels/<split>.tsv`: a header line, then `query-id`, `corpus-id` and a
//!   graded relevance `score`, tab-separated.
//!
//! Every file is checked against limits before it is read, and every error
//! names the file and the line. Judgements that point at a missing document
//! or query are errors, not silently skipped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::metrics::Qrels;

/// Largest file of a dataset that is read (2 GiB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
/// Longest line of a dataset file (4 MiB).
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// Most documents or queries in a dataset.
pub const MAX_RECORDS: usize = 10_000_000;

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a file is not what the format says.
    #[error("{path} line {line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, counted from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The dataset as a whole is unusable (an empty split, a file over its limit).
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, DatasetError>;

/// A document of the corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its id.
    pub id: String,
    /// Its title (may be empty).
    pub title: String,
    /// Its text.
    pub text: String,
}

impl Document {
    /// The text that is embedded: the title and the text, as BEIR's
    /// sentence-transformers models read them.
    pub fn embed_text(&self) -> String {
        if self.title.trim().is_empty() {
            self.text.clone()
        } else {
            format!("{} {}", self.title, self.text)
        }
    }
}

/// A query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Its id.
    pub id: String,
    /// Its text.
    pub text: String,
}

/// A labelled set: the corpus, the queries that have judgements in the split,
/// and the judgements.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The directory's name.
    pub name: String,
    /// The split read.
    pub split: String,
    /// Every document of the corpus, in file order.
    pub corpus: Vec<Document>,
    /// The queries judged in the split, in file order.
    pub queries: Vec<Query>,
    /// The split's judgements.
    pub qrels: Qrels,
}

impl Dataset {
    /// Reads the dataset in `dir` with the judgements of `split`.
    pub fn load(dir: &Path, split: &str) -> Result<Dataset> {
        if split.is_empty() || split.contains(['/', '\\']) || split.starts_with('.') {
            return Err(DatasetError::Invalid(format!(
                "{split:?} is not a split name (expected a name such as test, dev or train)"
            )));
        }
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        if !qrels_path.is_file() {
            return Err(DatasetError::Invalid(format!(
                "{} has no split {split:?}: {} does not exist (splits found: {})",
                dir.display(),
                qrels_path.display(),
                splits(dir).join(", ")
            )));
        }
        let corpus = read_corpus(&dir.join("corpus.jsonl"))?;
        let all_queries = read_queries(&dir.join("queries.jsonl"))?;
        let doc_ids: HashSet<&str> = corpus.iter().map(|d| d.id.as_str()).collect();
        let query_ids: HashSet<&str> = all_queries.iter().map(|q| q.id.as_str()).collect();
        let qrels = read_qrels_tsv(&qrels_path, &doc_ids, &query_ids)?;
        if qrels.values().all(|docs| docs.is_empty()) {
            return Err(DatasetError::Invalid(format!(
                "{}: the split {split:?} has no judgements",
                qrels_path.display()
            )));
        }
        let queries = all_queries
            .into_iter()
            .filter(|q| qrels.contains_key(&q.id))
            .collect();
        Ok(Dataset {
            name: dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| dir.display().to_string()),
            split: split.to_string(),
            corpus,
            queries,
            qrels,
        })
    }

    /// The queries that have at least one relevant document: the ones scored.
    pub fn scored_queries(&self) -> Vec<&Query> {
        self.queries
            .iter()
            .filter(|q| {
                self.qrels
                    .get(&q.id)
                    .is_some_and(|docs| docs.values().any(|r| *r > 0))
            })
            .collect()
    }

    /// Judged (query, document) pairs.
    pub fn judgements(&self) -> usize {
        self.qrels.values().map(BTreeMap::len).sum()
    }
}

/// The split names under `dir/qrels`.
fn splits(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("qrels"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".tsv").map(str::to_string)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        names.push("none".into());
    }
    names
}

/// Calls `each(line_number, line)` for every line of `path`, after checking
/// the file's size and each line's length.
fn for_each_line(path: &Path, mut each: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let io = |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(DatasetError::Invalid(format!(
            "{} is {size} bytes, over the limit of {MAX_FILE_BYTES}",
            path.display()
        )));
    }
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        number += 1;
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if read == 0 {
            return Ok(());
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(malformed(
                path,
                number,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        let line = std::str::from_utf8(&buf)
            .map_err(|_| malformed(path, number, "the line is not UTF-8".into()))?;
        each(number, line.trim_end_matches(['\n', '\r']))?;
    }
}

fn malformed(path: &Path, line: usize, message: String) -> DatasetError {
    DatasetError::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// An id as BEIR files write it: a string, or a number in some sets.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(serde_json::Number),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(s) => s,
            Id::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "_id")]
    id: Id,
    #[serde(default)]
    title: Option<String>,
    text: String,
}

/// One line of `corpus.jsonl` or `queries.jsonl`: id, title, text.
type Line = (String, Option<String>, String);

fn read_records(path: &Path, what: &str) -> Result<Vec<Line>> {
    let mut records = Vec::new();
    let mut seen = HashMap::new();
    for_each_line(path, |number, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        if records.len() >= MAX_RECORDS {
            return Err(malformed(
                path,
                number,
                format!("more than {MAX_RECORDS} {what}s"),
            ));
        }
        let record: Record = serde_json::from_str(line).map_err(|e| {
            malformed(
                path,
                number,
                format!("expected a JSON object with \"_id\" and \"text\": {e}"),
            )
        })?;
        let id = record.id.into_string();
        if id.is_empty() {
            return Err(malformed(
                path,
                number,
                format!("the {what} has an empty _id"),
            ));
        }
        if let Some(first) = seen.insert(id.clone(), number) {
            return Err(malformed(
                path,
                number,
                format!("the {what} id {id:?} is also on line {first}"),
            ));
        }
        records.push((id, record.title, record.text));
        Ok(())
    })?;
    if records.is_empty() {
        return Err(DatasetError::Invalid(format!(
            "{} holds no {what}s",
            path.display()
        )));
    }
    Ok(records)
}

/// Reads `corpus.jsonl`.
pub fn read_corpus(path: &Path) -> Result<Vec<Document>> {
    Ok(read_records(path, "document")?
        .into_iter()
        .map(|(id, title, text)| Document {
            id,
            title: title.unwrap_or_default(),
            text,
        })
        .collect())
}

/// Reads `queries.jsonl`.
pub fn read_queries(path: &Path) -> Result<Vec<Query>> {
    Ok(read_records(path, "query")?
        .into_iter()
        .map(|(id, _, text)| Query { id, text })
        .collect())
}

/// Reads a BEIR qrels file (a header, then `query-id  corpus-id  score`),
/// checking every id against the corpus and the queries.
pub fn read_qrels_tsv(
    path: &Path,
    doc_ids: &HashSet<&str>,
    query_ids: &HashSet<&str>,
) -> Result<Qrels> {
    let mut qrels = Qrels::new();
    for_each_line(path, |number, line| {
        if number == 1 {
            if !line.to_ascii_lowercase().starts_with("query") {
                return Err(malformed(
                    path,
                    number,
                    format!(
                        "expected the header \"query-id\\tcorpus-id\\tscore\", found {:?}",
                        truncate(line)
                    ),
                ));
            }
            return Ok(());
        }
        if line.trim().is_empty() {
            return Ok(());
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let [query, doc, score] = fields[..] else {
            return Err(malformed(
                path,
                number,
                format!(
                    "expected 3 tab-separated fields (query-id, corpus-id, score), found {}",
                    fields.len()
                ),
            ));
        };
        let score: i32 = score.parse().map_err(|_| {
            malformed(
                path,
                number,
                format!("the score {score:?} is not an integer"),
            )
        })?;
        if !doc_ids.contains(doc) {
            return Err(malformed(
                path,
                number,
                format!("the document {doc:?} is not in corpus.jsonl"),
            ));
        }
        if !query_ids.contains(query) {
            return Err(malformed(
                path,
                number,
                format!("the query {query:?} is not in queries.jsonl"),
            ));
        }
        qrels
            .entry(query.to_string())
            .or_default()
            .insert(doc.to_string(), score);
        Ok(())
    })?;
    Ok(qrels)
}

fn truncate(line: &str) -> String {
    line.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "corpus.jsonl",
            "{\"_id\": \"d1\", \"title\": \"Rust\", \"text\": \"a language\"}\n\
             {\"_id\": 2, \"text\": \"numbers as ids\"}\n",
        );
        write(
            dir.path(),
            "queries.jsonl",
            "{\"_id\": \"q1\", \"text\": \"what is rust\"}\n\
             {\"_id\": \"q2\", \"text\": \"unjudged\"}\n\
             {\"_id\": \"q3\", \"text\": \"judged, nothing relevant\"}\n",
        );
        write(
            dir.path(),
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t2\t0\nq3\td1\t0\n",
        );
        dir
    }

    #[test]
    fn a_beir_directory_loads_with_graded_judgements() {
        let dir = fixture();
        let set = Dataset::load(dir.path(), "test").unwrap();
        assert_eq!(set.corpus.len(), 2);
        assert_eq!(set.corpus[0].embed_text(), "Rust a language");
        assert_eq!(set.corpus[1].id, "2");
        assert_eq!(set.corpus[1].embed_text(), "numbers as ids");
        let ids: Vec<&str> = set.queries.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q1", "q3"]);
        assert_eq!(set.qrels["q1"]["d1"], 2);
        assert_eq!(set.judgements(), 3);
        let scored: Vec<&str> = set.scored_queries().iter().map(|q| q.id.as_str()).collect();
        assert_eq!(scored, ["q1"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = fixture();
        write(
            dir.path(),
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tmissing\t1\n",
        );
        let err = Dataset::load(dir.path(), "test").unwrap_err().to_string();
        assert!(err.contains("test.tsv line 3"), "{err}");
        assert!(err.contains("\"missing\" is not in corpus.jsonl"), "{err}");

        write(
            dir.path(),
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\n",
        );
        let err = Dataset::load(dir.path(), "test").unwrap_err().to_string();
        assert!(
            err.contains("line 2: expected 3 tab-separated fields"),
            "{err}"
        );

        write(
            dir.path(),
            "corpus.jsonl",
            "{\"_id\": \"d1\", \"text\": \"x\"}\n{\"id\": \"d2\"}\n",
        );
        let err = Dataset::load(dir.path(), "test").unwrap_err().to_string();
        assert!(err.contains("corpus.jsonl line 2"), "{err}");
    }

    #[test]
    fn an_empty_or_missing_split_is_refused() {
        let dir = fixture();
        let err = Dataset::load(dir.path(), "dev").unwrap_err().to_string();
        assert!(
            err.contains("no split \"dev\"") && err.contains("test"),
            "{err}"
        );
        write(dir.path(), "qrels/dev.tsv", "query-id\tcorpus-id\tscore\n");
        let err = Dataset::load(dir.path(), "dev").unwrap_err().to_string();
        assert!(err.contains("has no judgements"), "{err}");
        let err = Dataset::load(dir.path(), "../x").unwrap_err().to_string();
        assert!(err.contains("not a split name"), "{err}");
    }

    #[test]
    fn duplicate_ids_and_long_lines_are_refused() {
        let dir = fixture();
        write(
            dir.path(),
            "queries.jsonl",
            "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q1\", \"text\": \"b\"}\n",
        );
        let err = Dataset::load(dir.path(), "test").unwrap_err().to_string();
        assert!(
            err.contains("queries.jsonl line 2") && err.contains("line 1"),
            "{err}"
        );
        let long = format!(
            "{{\"_id\": \"q1\", \"text\": \"{}\"}}\n",
            "x".repeat(MAX_LINE_BYTES)
        );
        write(dir.path(), "queries.jsonl", &long);
        let err = Dataset::load(dir.path(), "test").unwrap_err().to_string();
        assert!(err.contains("longer than"), "{err}");
    }
}
