//! The report's tables as plain text cells, rendered to Markdown and HTML by
//! their own modules, so both formats show the same rows in the same order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::format;
use crate::{ConfigResult, ModelRun, Results};

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// Rows of unescaped text cells under a header.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Column titles.
    pub headers: Vec<&'static str>,
    /// One alignment per column.
    pub align: Vec<Align>,
    /// The cells, one row per entry.
    pub rows: Vec<Vec<String>>,
}

/// The models of a run, best nDCG@10 first (models with no finite value
/// last, then by name).
pub(crate) fn models(results: &Results) -> Vec<String> {
    let mut by_model: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for config in &results.results {
        let value = ndcg10(config);
        let best = by_model.entry(config.model.as_str()).or_insert(None);
        if let Some(v) = value {
            *best = Some(best.map_or(v, |b| b.max(v)));
        }
    }
    let mut best: Vec<(&str, Option<f64>)> = by_model.into_iter().collect();
    best.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.0.cmp(b.0)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.0.cmp(b.0),
    });
    best.into_iter().map(|(m, _)| m.to_string()).collect()
}

/// nDCG@10 of a configuration when it is a finite number.
pub(crate) fn ndcg10(config: &ConfigResult) -> Option<f64> {
    config.metric("ndcg@10").filter(|v| v.is_finite())
}

/// The rank of an output type in tables and legends: float, int8, binary,
/// then anything else.
pub(crate) fn type_rank(output_type: &str) -> u8 {
    match output_type {
        "float" => 0,
        "int8" => 1,
        "uint8" => 2,
        "binary" => 3,
        "ubinary" => 4,
        _ => 5,
    }
}

/// The configurations of each model, each list in reading order: most
/// dimensions first, then float, int8, binary, then without rescoring before
/// with it.
pub(crate) fn configs_by_model(results: &Results) -> BTreeMap<&str, Vec<&ConfigResult>> {
    let mut by_model: BTreeMap<&str, Vec<&ConfigResult>> = BTreeMap::new();
    for c in &results.results {
        by_model.entry(c.model.as_str()).or_default().push(c);
    }
    for configs in by_model.values_mut() {
        configs.sort_by(|a, b| {
            b.dimensions
                .cmp(&a.dimensions)
                .then_with(|| type_rank(&a.output_type).cmp(&type_rank(&b.output_type)))
                .then_with(|| a.output_type.cmp(&b.output_type))
                .then_with(|| a.rescore.cmp(&b.rescore))
        });
    }
    by_model
}

/// The embedding pass a configuration's vectors came from: the same model
/// and dimensions, else the model's first pass.
pub(crate) fn pass_of<'a>(results: &'a Results, config: &ConfigResult) -> Option<&'a ModelRun> {
    let same_model = || results.embedding.iter().filter(|r| r.model == config.model);
    same_model()
        .find(|r| r.dimensions == config.dimensions)
        .or_else(|| same_model().next())
}

/// How a configuration's rescoring reads in a table.
pub(crate) fn rescore_text(rescore: Option<usize>) -> String {
    match rescore {
        Some(n) => format!("top {}", format::int(n as u64)),
        None => "no".to_string(),
    }
}

/// One table per model (in [`models`] order) of quality, size, speed and cost.
pub(crate) fn config_tables(results: &Results) -> Vec<(String, Table)> {
    use Align::{Left, Right};
    let mut by_model = configs_by_model(results);
    models(results)
        .into_iter()
        .map(|model| {
            let rows = by_model
                .remove(model.as_str())
                .unwrap_or_default()
                .into_iter()
                .map(|c| config_row(results, c))
                .collect();
            let table = Table {
                headers: vec![
                    "dims",
                    "type",
                    "rescore",
                    "nDCG@10",
                    "Recall@10",
                    "MRR@10",
                    "% of float nDCG@10",
                    "bytes/vector",
                    "index",
                    "search ms/query",
                    "$/Mtok",
                    "$ corpus on demand",
                    "$ corpus batch",
                ],
                align: vec![
                    Right, Left, Left, Right, Right, Right, Right, Right, Right, Right, Right,
                    Right, Right,
                ],
                rows,
            };
            (model, table)
        })
        .collect()
}

fn config_row(results: &Results, c: &ConfigResult) -> Vec<String> {
    let price = pass_of(results, c).and_then(|p| p.price_per_mtok);
    vec![
        format::int(c.dimensions as u64),
        c.output_type.clone(),
        rescore_text(c.rescore),
        format::metric(c.metric("ndcg@10")),
        format::metric(c.metric("recall@10")),
        format::metric(c.metric("mrr@10")),
        format::percent(c.ndcg10_vs_float),
        format::int(c.bytes_per_vector as u64),
        format::bytes(c.index_bytes),
        format::ms(c.search_ms_per_query),
        format::usd(price),
        format::usd(c.corpus_usd),
        format::usd(c.corpus_batch_usd),
    ]
}

/// The embedding passes: speed, latency, tokens and the cache.
pub(crate) fn embedding_table(results: &Results) -> Table {
    use Align::{Left, Right};
    let order = models(results);
    let mut passes: Vec<&ModelRun> = results.embedding.iter().collect();
    passes.sort_by_key(|r| {
        let rank = order
            .iter()
            .position(|m| *m == r.model)
            .unwrap_or(order.len());
        (rank, std::cmp::Reverse(r.dimensions))
    });
    let rows = passes
        .into_iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.provider.clone(),
                format::int(r.dimensions as u64),
                format::int(r.texts as u64),
                format::int(r.cached_texts as u64),
                format::int(r.corpus_tokens),
                format::int(r.query_tokens),
                format::rate(r.texts_per_s),
                format::rate(r.tokens_per_s),
                format::ms(r.latency_p50_ms),
                format::ms(r.latency_p95_ms),
                format::int(r.calls),
                format::int(r.batch_size as u64),
                format::duration(r.embed_s),
            ]
        })
        .collect();
    Table {
        headers: vec![
            "model",
            "provider",
            "dims",
            "texts",
            "cached",
            "corpus tokens",
            "query tokens",
            "texts/s",
            "tokens/s",
            "p50 ms",
            "p95 ms",
            "calls",
            "batch",
            "embedding time",
        ],
        align: vec![
            Left, Left, Right, Right, Right, Right, Right, Right, Right, Right, Right, Right,
            Right, Right,
        ],
        rows,
    }
}
