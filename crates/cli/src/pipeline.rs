//! The one embedding pipeline every command runs: texts in rounds through a
//! [`Model`], progress on standard error, each result handed to a [`Sink`]
//! in input order (failed items in their place), and a resume state saved
//! after every round.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use embedrock_core::{EmbedRequest, TypedEmbeddings, Usage};

use crate::input::InputText;
use crate::open::{Embedded, Failure, Model};

/// Where results go.
pub trait Sink {
    /// Takes the result of text `index`.
    fn item(
        &mut self,
        index: usize,
        input: &InputText,
        result: Result<Embedded, Failure>,
    ) -> Result<()>;
    /// Makes everything taken so far durable (called before the resume
    /// state records it).
    fn flush(&mut self) -> Result<()>;
}

/// A resumable run's state file: how many items of which run are written.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Clone)]
pub struct ResumeState {
    pub model: String,
    pub input: String,
    pub items: usize,
    pub done: usize,
}

/// A state file and the run it belongs to.
pub struct Resume {
    pub path: PathBuf,
    pub model: String,
    pub input: String,
    pub items: usize,
}

impl Resume {
    /// Items already written by an earlier run of the same command (0 when
    /// there is no state file); a state file of another run is an error.
    pub fn done(&self) -> Result<usize> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Ok(0);
        };
        let st: ResumeState = serde_json::from_slice(&bytes)
            .with_context(|| format!("resume state {} is unreadable", self.path.display()))?;
        if st.model != self.model || st.input != self.input || st.items != self.items {
            bail!(
                "resume state {} belongs to another run ({} on {}, {} items); delete it to start again",
                self.path.display(),
                st.model,
                st.input,
                st.items
            );
        }
        Ok(st.done.min(self.items))
    }

    fn save(&self, done: usize) -> Result<()> {
        let state = ResumeState {
            model: self.model.clone(),
            input: self.input.clone(),
            items: self.items,
            done,
        };
        let tmp = self.path.with_extension("state.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&state)?)
            .with_context(|| format!("cannot write resume state {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write resume state {}", self.path.display()))?;
        Ok(())
    }

    /// Removes the state file after a complete run.
    pub fn finish(&self) {
        // A state file left behind only makes the next run check it.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Opens `path` for appending after its first `lines` lines, cutting off
/// anything an interrupted run wrote past the last recorded round.
pub fn open_after_lines(path: &Path, lines: usize) -> Result<std::fs::File> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {} to resume", path.display()))?;
    let keep = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(lines.saturating_sub(1))
        .map(|(i, _)| i + 1);
    let Some(keep) = keep.filter(|_| lines > 0) else {
        bail!(
            "{} holds fewer than the {lines} lines its resume state records; delete the state file to start again",
            path.display()
        );
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} to resume", path.display()))?;
    f.set_len(keep as u64)?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
    Ok(f)
}

/// One run of the pipeline.
pub struct Run<'a> {
    /// Every text of the input.
    pub texts: &'a [InputText],
    /// The request's options; its texts are replaced round by round.
    pub template: EmbedRequest,
    /// Texts already done by an earlier run.
    pub start: usize,
    /// The state file to keep, if the run is resumable.
    pub resume: Option<&'a Resume>,
    /// Draw a progress bar.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Texts embedded or failed in this run.
    pub texts: usize,
    /// Of those, failed.
    pub failed: usize,
    /// Tokens of the embedded texts.
    pub tokens: usize,
    /// The model's usage during the run.
    pub usage: Usage,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs `run` through `model` into `sink`.
pub async fn run(model: &Model, run: Run<'_>, sink: &mut dyn Sink) -> Result<Report> {
    let total = run.texts.len();
    let bar = crate::progress::items(total as u64, "embedding", run.progress);
    bar.set_position(run.start as u64);
    // Bedrock's live counters (tokens, dollars, retries, concurrency) beside the bar.
    let ticker = (run.progress && model.is_bedrock()).then(|| {
        let (bar, model) = (bar.clone(), model.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                bar.set_message(live_message(&model.usage(), model.concurrency()));
            }
        })
    });
    let before = model.usage();
    let started = Instant::now();
    let mut request = run.template;
    let (mut index, mut failed, mut tokens) = (run.start, 0usize, 0usize);
    let step = model.round_size();
    let result: Result<()> = async {
        for round in run.texts[run.start.min(total)..].chunks(step) {
            request.texts = round.iter().map(|t| t.text.clone()).collect();
            let results = model.embed_items(&request).await;
            if results.len() != round.len() {
                bail!(
                    "the model answered {} results for {} texts",
                    results.len(),
                    round.len()
                );
            }
            for (input, r) in round.iter().zip(results) {
                match &r {
                    Ok(e) => tokens += e.tokens,
                    Err(_) => failed += 1,
                }
                sink.item(index, input, r)?;
                index += 1;
            }
            sink.flush()?;
            if let Some(resume) = run.resume {
                resume.save(index)?;
            }
            bar.set_position(index as u64);
        }
        Ok(())
    }
    .await;
    if let Some(t) = ticker {
        t.abort();
    }
    bar.finish_and_clear();
    result?;
    Ok(Report {
        texts: total - run.start.min(total),
        failed,
        tokens,
        usage: model.usage().since(&before),
        elapsed: started.elapsed(),
    })
}

fn live_message(u: &Usage, concurrency: usize) -> String {
    format!(
        "{} tok, ${:.4}, {} retries, {} in flight max",
        u.tokens, u.dollars, u.retries, concurrency
    )
}

/// The closing summary line.
pub fn summary(model: &Model, report: &Report) -> String {
    let secs = report.elapsed.as_secs_f64();
    let u = &report.usage;
    // An embedder that does not count its own work is priced from the
    // pipeline's token count.
    let (tokens, dollars) = if u.calls == 0 && u.tokens == 0 {
        (
            report.tokens as u64,
            model.facts().cost(report.tokens as u64),
        )
    } else {
        (u.tokens, u.dollars)
    };
    let mut line = format!(
        "embedded {} of {} texts ({tokens} tokens) with {} in {secs:.2} s ({:.1} texts/s), cost ${dollars:.6}",
        report.texts - report.failed,
        report.texts,
        model.id(),
        report.texts as f64 / secs.max(1e-9),
    );
    if model.is_bedrock() {
        line.push_str(&format!(
            "; {} calls, {} retries ({} throttled); cache {} hits / {} lookups ({:.0}%)",
            u.calls,
            u.retries,
            u.throttled,
            u.cache_hits,
            u.cache_hits + u.cache_misses,
            u.hit_rate() * 100.0
        ));
    }
    line
}

/// One result as a JSON object: `index`, `embedding`, `tokens`, every
/// quantised form the response carries, and the input's `id`; or `index`
/// and `error` for a failed item.
pub fn item_json(
    index: usize,
    input: &InputText,
    result: &Result<Embedded, Failure>,
) -> serde_json::Value {
    let mut item = match result {
        Ok(e) => {
            let mut v = serde_json::json!({
                "index": index,
                "embedding": e.vector,
                "tokens": e.tokens,
            });
            add_typed(&mut v, &e.typed);
            v
        }
        Err(f) => serde_json::json!({
            "index": index,
            "error": {"code": f.code, "message": f.message, "attempts": f.attempts},
        }),
    };
    if let Some(id) = &input.id {
        item["id"] = id.clone();
    }
    item
}

/// Adds the first row of every form `typed` holds to `item`.
pub fn add_typed(item: &mut serde_json::Value, typed: &TypedEmbeddings) {
    fn first<T: serde::Serialize>(rows: &Option<Vec<Vec<T>>>) -> Option<serde_json::Value> {
        rows.as_ref()
            .and_then(|r| r.first())
            .map(|row| serde_json::json!(row))
    }
    let forms = [
        ("int8", first(&typed.int8)),
        ("uint8", first(&typed.uint8)),
        ("binary", first(&typed.binary)),
        ("ubinary", first(&typed.ubinary)),
    ];
    for (name, value) in forms {
        if let Some(v) = value {
            item[name] = v;
        }
    }
}

/// JSON Lines: one object per text, written as it comes.
pub struct JsonlSink<W: Write> {
    pub out: W,
}

impl<W: Write> Sink for JsonlSink<W> {
    fn item(
        &mut self,
        index: usize,
        input: &InputText,
        result: Result<Embedded, Failure>,
    ) -> Result<()> {
        // An I/O error stays one, so a closed pipe is recognised as such.
        serde_json::to_writer(&mut self.out, &item_json(index, input, &result))
            .map_err(std::io::Error::from)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }
}

/// Results kept in memory: JSON objects for one document, or bare vectors
/// (for `.npy`, a similarity matrix), where a failed item is an error.
#[derive(Default)]
pub struct Collect {
    /// Keep JSON objects (else bare vectors).
    pub json: bool,
    pub items: Vec<serde_json::Value>,
    pub vectors: Vec<Vec<f32>>,
    pub tokens: Vec<usize>,
}

impl Sink for Collect {
    fn item(
        &mut self,
        index: usize,
        input: &InputText,
        result: Result<Embedded, Failure>,
    ) -> Result<()> {
        if self.json {
            self.items.push(item_json(index, input, &result));
            return Ok(());
        }
        match result {
            Ok(e) => {
                self.vectors.push(e.vector);
                self.tokens.push(e.tokens);
                Ok(())
            }
            Err(f) => bail!("input {index}: {}: {}", f.code, f.message),
        }
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_form_reaches_the_item() {
        let typed = TypedEmbeddings {
            int8: Some(vec![vec![-3, 4]]),
            uint8: Some(vec![vec![1, 250]]),
            binary: Some(vec![vec![-128]]),
            ubinary: Some(vec![vec![128]]),
        };
        let input = InputText {
            text: "t".into(),
            id: Some(serde_json::json!("a")),
        };
        let ok = Ok(Embedded {
            vector: vec![0.5, -0.5],
            tokens: 3,
            typed,
        });
        let v = item_json(7, &input, &ok);
        assert_eq!(v["index"], 7);
        assert_eq!(v["id"], "a");
        assert_eq!(v["int8"], serde_json::json!([-3, 4]));
        assert_eq!(v["uint8"], serde_json::json!([1, 250]));
        assert_eq!(v["binary"], serde_json::json!([-128]));
        assert_eq!(v["ubinary"], serde_json::json!([128]));
        let failed = Err(Failure {
            code: "ThrottlingException".into(),
            message: "slow down".into(),
            attempts: 10,
        });
        let v = item_json(8, &input, &failed);
        assert_eq!(v["error"]["code"], "ThrottlingException");
        assert_eq!(v["error"]["attempts"], 10);
        assert!(v.get("embedding").is_none());
    }

    #[test]
    fn resume_cuts_a_half_written_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(&p, "a\nb\nc\nhalf").unwrap();
        let mut f = open_after_lines(&p, 2).unwrap();
        f.write_all(b"z\n").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\nz\n");
        assert!(open_after_lines(&p, 5).is_err());
    }
}
