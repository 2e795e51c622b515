//! One configuration as a file shaped like a retrieval task's file in MTEB's
//! results repository, so its scores sit beside published MTEB tables.
//! The field mapping is documented on [`mteb()`].

use serde_json::{json, Map, Value};

use super::table;
use crate::{ConfigResult, Results};

/// The MTEB release whose results-file layout these files follow.
pub const MTEB_LAYOUT_VERSION: &str = "1.14.17";

/// The MTEB-shaped JSON of one configuration of `results`, laid out as a
/// retrieval task's file in MTEB's results repository.
///
/// The mapping:
///
/// | MTEB field | from |
/// |---|---|
/// | `task_name` | the dataset's name |
/// | `dataset_revision` | `"local"`: a dataset read from a directory has no Hub revision |
/// | `mteb_version` | [`MTEB_LAYOUT_VERSION`], the MTEB release whose layout this follows |
/// | `evaluation_time` | seconds embedding the model's pass plus searching every query |
/// | `kg_co2_emissions` | `null` (not measured) |
/// | `scores.<split>[0]` | one entry for the split the run was scored on |
/// | `…hf_subset` | `"default"` |
/// | `…languages` | `["eng-Latn"]` |
/// | `…ndcg_at_K`, `recall_at_K`, `mrr_at_K`, `map_at_K`, `precision_at_K` | the metric `ndcg@K` (and so on) as a fraction in [0, 1], as MTEB writes them |
/// | `…main_score` | `ndcg_at_10`, MTEB's main score for retrieval |
/// | `embedrock` | what MTEB has no field for: model, provider, dimensions, output type, rescoring, size, search speed, cost, machine |
///
/// A metric that is not a finite number is written as `null`.
pub fn mteb(results: &Results, config: &ConfigResult) -> Value {
    let mut scores = Map::new();
    scores.insert("hf_subset".into(), json!("default"));
    scores.insert("languages".into(), json!(["eng-Latn"]));
    scores.insert("main_score".into(), number(config.metric("ndcg@10")));
    for (name, value) in &config.metrics {
        scores.insert(mteb_metric_name(name), number(Some(*value)));
    }
    let pass = table::pass_of(results, config);
    let search_s = config.search_ms_per_query * results.dataset.queries as f64 / 1000.0;
    let evaluation_time = pass.map_or(0.0, |p| p.embed_s) + search_s;
    json!({
        "dataset_revision": "local",
        "evaluation_time": number(Some(evaluation_time)),
        "kg_co2_emissions": null,
        "mteb_version": MTEB_LAYOUT_VERSION,
        "scores": { results.dataset.split.clone(): [Value::Object(scores)] },
        "task_name": results.dataset.name,
        "embedrock": {
            "label": config.label(),
            "model": config.model,
            "provider": pass.map(|p| p.provider.clone()),
            "dimensions": config.dimensions,
            "output_type": config.output_type,
            "rescore": config.rescore,
            "ndcg10_vs_float": number(Some(config.ndcg10_vs_float)),
            "bytes_per_vector": config.bytes_per_vector,
            "index_bytes": config.index_bytes,
            "search_ms_per_query": number(Some(config.search_ms_per_query)),
            "price_per_mtok": number(pass.and_then(|p| p.price_per_mtok)),
            "corpus_usd": number(config.corpus_usd),
            "corpus_batch_usd": number(config.corpus_batch_usd),
            "documents": results.dataset.documents,
            "queries": results.dataset.queries,
            "cpu": results.machine.cpu,
        },
    })
}

/// `ndcg@10` -> `ndcg_at_10`: MTEB's spelling of a metric at a cut-off.
pub(crate) fn mteb_metric_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('@', "_at_")
}

fn number(v: Option<f64>) -> Value {
    match v {
        Some(v) if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_mteb() {
        assert_eq!(mteb_metric_name("ndcg@10"), "ndcg_at_10");
        assert_eq!(mteb_metric_name("Recall@100"), "recall_at_100");
        assert_eq!(mteb_metric_name("precision@1"), "precision_at_1");
    }

    #[test]
    fn non_finite_numbers_become_null() {
        assert_eq!(number(Some(f64::NAN)), Value::Null);
        assert_eq!(number(None), Value::Null);
        assert_eq!(number(Some(0.5)), json!(0.5));
    }
}
