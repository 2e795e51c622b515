//! Retrieval metrics as `trec_eval` computes them.

use std::collections::BTreeMap;

/// Judgements: query id -> document id -> graded relevance.
pub type Qrels = BTreeMap<String, BTreeMap<String, i32>>;

/// Retrieved documents: query id -> (document id, score).
pub type Run = BTreeMap<String, Vec<(String, f64)>>;

/// What to compute.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Cut-offs.
    pub ks: Vec<usize>,
    /// Drop retrieved documents whose id is the query's.
    pub ignore_identical_ids: bool,
}

/// Scores.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Queries scored.
    pub queries: usize,
    /// Means.
    pub mean: BTreeMap<String, f64>,
    /// Per query.
    pub per_query: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Placeholder until the trec_eval implementation lands.
pub fn evaluate(_qrels: &Qrels, _run: &Run, _options: &EvalOptions) -> Evaluation {
    Evaluation::default()
}
