//! Every search path of the embedded store: recall against exact search on
//! clustered 384-d unit vectors, filters on every forced path, the choice
//! `auto` makes, and the approximate index kept in step with writes from
//! this handle and others, saved and reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use embedrock_core::OutputType;
use embedrock_store::{
    Filter, Identity, NewRecord, Patch, Scope, Search, SearchPath, SqliteStore, VectorStore,
};
use serde_json::json;

const DIMS: usize = 384;

fn identity(normalize: bool) -> Identity {
    Identity {
        provider: "Local".into(),
        model: "clustered-test-vectors".into(),
        dimensions: DIMS,
        normalize,
        output_type: OutputType::Float,
    }
}

/// Deterministic xorshift numbers, roughly normal (sum of four uniforms).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f32 / (1u64 << 53) as f32
    }
    fn normal(&mut self) -> f32 {
        (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0
    }
    fn unit(&mut self, spread: f32) -> Vec<f32> {
        let v: Vec<f32> = (0..DIMS).map(|_| spread * self.normal()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

/// `n` unit vectors like embeddings of texts: 50 themes, a topic for every
/// four vectors, each vector its theme plus its topic plus noise of varying
/// strength; queries are drawn the same way (not in the data). A vector's
/// nearest neighbours then reach across topics of its theme (cosine about
/// 0.7 for the first and 0.45 for the tenth), as sentence embeddings do.
fn clustered(n: usize, queries: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = Rng(seed | 1);
    let themes: Vec<Vec<f32>> = (0..50).map(|_| rng.unit(1.0)).collect();
    let topics: Vec<Vec<f32>> = (0..(n / 4).max(50)).map(|_| rng.unit(1.0)).collect();
    let mut draw = || {
        let t = (rng.uniform() * topics.len() as f32) as usize % topics.len();
        let w = 0.5 + rng.uniform();
        let noise = rng.unit(1.0);
        let v: Vec<f32> = (0..DIMS)
            .map(|i| 0.6 * themes[t % 50][i] + 0.6 * topics[t][i] + 0.6 * w * noise[i])
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let data = (0..n).map(|_| draw()).collect();
    let qs = (0..queries).map(|_| draw()).collect();
    (data, qs)
}

async fn filled(n: usize, normalize: bool, seed: u64) -> Filled {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    store
        .ensure_collection("c", &identity(normalize))
        .await
        .unwrap();
    let (data, queries) = clustered(n, 50, seed);
    let mut ids = Vec::with_capacity(n);
    for (b, chunk) in data.chunks(2000).enumerate() {
        let records = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| NewRecord {
                text: format!("text {}", b * 2000 + i),
                scope: Scope::user(if (b * 2000 + i) % 4 == 0 {
                    "alice"
                } else {
                    "bob"
                }),
                metadata: json!({"n": b * 2000 + i, "rare": (b * 2000 + i) % 500 == 0})
                    .as_object()
                    .cloned()
                    .unwrap(),
                origin: None,
                vector: v.clone(),
            })
            .collect();
        ids.extend(store.insert("c", records).await.unwrap());
    }
    Filled {
        _dir: dir,
        store,
        data,
        queries,
        ids,
    }
}

struct Filled {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    data: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    ids: Vec<String>,
}

fn search(q: &[f32], k: usize, filter: Filter, path: SearchPath) -> Search {
    Search {
        vector: q.to_vec(),
        top_k: k,
        threshold: None,
        filter,
        path,
    }
}

fn hit_ids(hits: &[embedrock_store::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.record.id.clone()).collect()
}

/// Mean recall@k of `path` against exact search over `queries`.
async fn recall(
    store: &SqliteStore,
    queries: &[Vec<f32>],
    k: usize,
    filter: &Filter,
    path: SearchPath,
) -> f64 {
    let mut found = 0usize;
    for q in queries {
        let exact = store
            .search_traced("c", &search(q, k, filter.clone(), SearchPath::Exact))
            .await
            .unwrap();
        let got = store
            .search_traced("c", &search(q, k, filter.clone(), path))
            .await
            .unwrap();
        assert_eq!(got.path, path, "{path:?} was forced");
        assert_eq!(
            got.hits.len(),
            k,
            "{path:?} returned {} of {k}",
            got.hits.len()
        );
        let truth: HashSet<String> = hit_ids(&exact.hits).into_iter().collect();
        found += hit_ids(&got.hits)
            .iter()
            .filter(|id| truth.contains(*id))
            .count();
        // Scores come back exact (rescored), best first.
        assert!(got.hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    found as f64 / (queries.len() * k) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_at_10_on_20k_clustered_vectors_and_the_auto_choice() {
    let Filled {
        _dir,
        store,
        queries,
        ..
    } = filled(20_000, true, 42).await;
    // Before any index exists, auto takes the binary scan at this size.
    let auto = store
        .search_traced("c", &search(&queries[0], 10, Filter::All, SearchPath::Auto))
        .await
        .unwrap();
    assert_eq!(auto.path, SearchPath::Binary);
    let built = store.build_index("c").await.unwrap();
    assert_eq!(built, 20_000);
    for path in [
        SearchPath::Approximate,
        SearchPath::Binary,
        SearchPath::Int8,
    ] {
        let r = recall(&store, &queries, 10, &Filter::All, path).await;
        println!("recall@10 {path:?}: {r:.4}");
        assert!(r >= 0.95, "recall@10 of {path:?} is {r:.4}, below 0.95");
    }
    // A filter admitting a quarter of the rows: still top 10, still recall.
    let alice = Filter::from_json_str(r#"{"user_id": "alice"}"#).unwrap();
    for path in [SearchPath::Approximate, SearchPath::Binary] {
        let r = recall(&store, &queries[..10], 10, &alice, path).await;
        println!("recall@10 {path:?} with a 25% filter: {r:.4}");
        assert!(r >= 0.95, "filtered recall@10 of {path:?} is {r:.4}");
    }
    // With the index, auto takes it; a selective filter goes exact.
    let auto = store
        .search_traced("c", &search(&queries[0], 10, Filter::All, SearchPath::Auto))
        .await
        .unwrap();
    assert_eq!(auto.path, SearchPath::Approximate);
    let rare = Filter::from_json_str(r#"{"rare": true}"#).unwrap();
    let auto = store
        .search_traced("c", &search(&queries[0], 10, rare, SearchPath::Auto))
        .await
        .unwrap();
    assert_eq!(
        (auto.path, auto.admitted, auto.hits.len()),
        (SearchPath::Exact, 40, 10)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forced_path_returns_filtered_top_k() {
    let Filled {
        _dir,
        store,
        data,
        queries,
        ..
    } = filled(3000, true, 7).await;
    let queries = &queries[..5];
    let filters = [
        r#"{"user_id": "alice"}"#,
        r#"{"AND": [{"user_id": "bob"}, {"n": {"lt": 1500}}]}"#,
        r#"{"rare": true}"#,
    ];
    for f in filters {
        let filter = Filter::from_json_str(f).unwrap();
        for q in queries.iter().chain([&data[10]]) {
            let exact = store
                .search_traced("c", &search(q, 10, filter.clone(), SearchPath::Exact))
                .await
                .unwrap();
            // Brute force in the test: every admitted row scored.
            let mut all: Vec<(f32, usize)> = (0..data.len())
                .filter(|n| match f {
                    r#"{"user_id": "alice"}"# => n % 4 == 0,
                    r#"{"rare": true}"# => n % 500 == 0,
                    _ => n % 4 != 0 && *n < 1500,
                })
                .map(|n| (data[n].iter().zip(q).map(|(a, b)| a * b).sum(), n))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0));
            let want: Vec<String> = all
                .iter()
                .take(10)
                .map(|(_, n)| format!("text {n}"))
                .collect();
            let got: Vec<String> = exact.hits.iter().map(|h| h.record.text.clone()).collect();
            assert_eq!(got, want, "exact with {f}");
            for path in [
                SearchPath::Int8,
                SearchPath::Binary,
                SearchPath::Approximate,
                SearchPath::Auto,
            ] {
                let r = store
                    .search_traced("c", &search(q, 10, filter.clone(), path))
                    .await
                    .unwrap();
                assert_eq!(r.hits.len(), want.len().min(10), "{path:?} with {f}");
                assert!(
                    r.hits
                        .iter()
                        .all(|h| filter.matches(&h.record.filter_view())),
                    "{path:?} {f}"
                );
                // Fewer than 10 admitted: every one of them comes back.
                let need = if want.len() < 10 { want.len() } else { 9 };
                let overlap = r
                    .hits
                    .iter()
                    .filter(|h| want.contains(&h.record.text))
                    .count();
                assert!(
                    overlap >= need,
                    "{path:?} with {f}: {overlap} of {} right",
                    want.len()
                );
            }
        }
    }
    // Six admitted rows of 3000: a forced approximate search scans them exactly.
    let rare = Filter::from_json_str(r#"{"rare": true}"#).unwrap();
    let r = store
        .search_traced("c", &search(&queries[0], 10, rare, SearchPath::Approximate))
        .await
        .unwrap();
    assert_eq!(
        (r.path, r.admitted, r.hits.len()),
        (SearchPath::Exact, 6, 6)
    );
    // Auto on a small collection scans exactly.
    let r = store
        .search_traced("c", &search(&queries[0], 10, Filter::All, SearchPath::Auto))
        .await
        .unwrap();
    assert_eq!(r.path, SearchPath::Exact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_writes_here_and_in_another_handle_and_is_reopened() {
    let Filled {
        _dir: dir,
        store,
        data,
        queries,
        ids,
    } = filled(3000, true, 9).await;
    let approx = |q: &[f32]| search(q, 5, Filter::All, SearchPath::Approximate);
    let first = store.search_traced("c", &approx(&data[100])).await.unwrap();
    assert_eq!(first.hits[0].record.id, ids[100]);
    let meta = store.index_dir().join("c.meta.json");
    assert!(meta.is_file(), "the index was saved at {}", meta.display());

    // A deleted record is never returned.
    assert!(store.delete("c", &ids[100]).await.unwrap());
    let after = store.search_traced("c", &approx(&data[100])).await.unwrap();
    assert!(!hit_ids(&after.hits).contains(&ids[100]));
    assert_eq!(after.hits.len(), 5);

    // An updated vector is found where it now points.
    let target = data[2500].clone();
    store
        .update(
            "c",
            &ids[7],
            Patch {
                text: Some("moved".into()),
                metadata: None,
                vector: Some(target.clone()),
            },
        )
        .await
        .unwrap();
    let moved = store.search_traced("c", &approx(&target)).await.unwrap();
    let top2: HashSet<String> = hit_ids(&moved.hits[..2]).into_iter().collect();
    assert!(
        top2.contains(&ids[7]) && top2.contains(&ids[2500]),
        "{:?}",
        hit_ids(&moved.hits)
    );
    let old = store.search_traced("c", &approx(&data[7])).await.unwrap();
    assert!(old
        .hits
        .iter()
        .all(|h| h.record.id != ids[7] || h.record.text == "moved"));
    assert!(
        old.hits[0].score < 0.999,
        "the old vector of the record is gone"
    );

    // Another handle (as another process would) adds a record; this one sees it.
    let other = SqliteStore::open(dir.path().join("store.db")).unwrap();
    let fresh = &queries[..1];
    let new_id = other
        .insert(
            "c",
            vec![NewRecord {
                text: "from elsewhere".into(),
                scope: Scope::user("carol"),
                metadata: Default::default(),
                origin: None,
                vector: fresh[0].clone(),
            }],
        )
        .await
        .unwrap();
    let seen = store.search_traced("c", &approx(&fresh[0])).await.unwrap();
    assert_eq!(seen.hits[0].record.id, new_id[0]);

    // A third handle opens the saved graph instead of building it again:
    // the few changed rows are patched in memory and the file is not
    // rewritten.
    let stamp = std::fs::metadata(&meta).unwrap().modified().unwrap();
    let third = SqliteStore::open(dir.path().join("store.db")).unwrap();
    let again = third.search_traced("c", &approx(&fresh[0])).await.unwrap();
    assert_eq!(again.hits[0].record.id, new_id[0]);
    assert_eq!(std::fs::metadata(&meta).unwrap().modified().unwrap(), stamp);

    // A damaged graph file is rebuilt, not trusted and not fatal.
    for entry in std::fs::read_dir(store.index_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".hnsw.graph") {
            std::fs::write(&path, b"not a graph").unwrap();
        }
    }
    let fourth = SqliteStore::open(dir.path().join("store.db")).unwrap();
    let rebuilt = fourth
        .search_traced("c", &approx(&data[200]))
        .await
        .unwrap();
    assert_eq!(rebuilt.hits[0].record.id, ids[200]);

    // Dropping the collection removes its index.
    assert!(fourth.drop_collection("c").await.unwrap());
    assert!(!fourth.index_dir().join("c.meta.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approximate_search_needs_unit_vectors() {
    let Filled {
        _dir, store, data, ..
    } = filled(50, false, 3).await;
    let err = store
        .search_traced(
            "c",
            &search(&data[0], 3, Filter::All, SearchPath::Approximate),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not unit length"), "{err}");
    for path in [
        SearchPath::Exact,
        SearchPath::Int8,
        SearchPath::Binary,
        SearchPath::Auto,
    ] {
        let r = store
            .search_traced("c", &search(&data[0], 3, Filter::All, path))
            .await
            .unwrap();
        assert_eq!(r.hits[0].record.text, "text 0", "{path:?}");
    }
    let bad = store
        .search_traced(
            "c",
            &search(&[f32::NAN; DIMS], 3, Filter::All, SearchPath::Exact),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(bad.contains("non-finite"), "{bad}");
}
