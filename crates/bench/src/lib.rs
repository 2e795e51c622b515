//! Retrieval benchmarks: which model, which dimensions, which vector type, at
//! what cost.
//!
//! - [`dataset`] reads BEIR-format datasets and builds a labelled set from
//!   Debian's package descriptions;
//! - [`metrics`] scores runs as `trec_eval` does (nDCG, Recall, MRR, MAP and
//!   precision at k);
//! - [`run`] embeds a dataset once per model and parameters (with a cache that
//!   an interrupted run resumes from), searches exactly in float, int8 and
//!   binary form with optional float rescoring, and measures speed, tokens,
//!   dollars and bytes;
//! - [`report`] writes `results.json`, a Markdown summary, MTEB-shaped JSON
//!   and a self-contained HTML page with charts.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cache;
pub mod dataset;
pub mod debian;
pub mod metrics;
pub mod report;
pub mod results;
pub mod run;
pub mod search;

pub use results::{ConfigResult, DatasetInfo, Machine, ModelRun, Results};
pub use run::{run, BenchError, Progress, RunOptions, Target};
pub use search::VectorType;
