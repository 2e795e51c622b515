//! The store suite on PostgreSQL + pgvector, plus what only a server shows:
//! the HNSW index (halfvec above 2,000 dimensions, filtered searches that
//! are not starved), the filter translation against the filter language,
//! concurrent writers and authentication errors.
//!
//! Needs a real PostgreSQL with pgvector at `EMBEDROCK_TEST_POSTGRES_URL`
//! (`scripts/test` starts one); each test works in a fresh schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use embedrock_store::{
    Filter, NewRecord, Page, PgOptions, PgStore, Scope, Search, SearchPath, VectorStore,
};
use serde_json::{json, Value};
use tokio_postgres::NoTls;

const URL_VAR: &str = "EMBEDROCK_TEST_POSTGRES_URL";

fn url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: run scripts/test (it starts PostgreSQL), or \
             `scripts/postgres start && export {URL_VAR}=$(scripts/postgres url)`"
        ),
    }
}

/// A schema of its own for one test, dropped when the test passes.
struct Fresh {
    schema: String,
}

impl Fresh {
    fn new(test: &str) -> Self {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        Fresh {
            schema: format!(
                "t_{}_{}",
                test.chars().take(30).collect::<String>(),
                &nonce[..8]
            ),
        }
    }

    fn store(&self, options: PgOptions) -> PgStore {
        PgStore::open_with(
            &url(),
            PgOptions {
                schema: self.schema.clone(),
                ..options
            },
        )
        .unwrap()
    }

    async fn sql(&self, statement: &str) -> Vec<tokio_postgres::Row> {
        let (client, conn) = tokio_postgres::connect(&url(), NoTls).await.unwrap();
        tokio::spawn(conn);
        client.query(statement, &[]).await.unwrap()
    }

    async fn drop(self) {
        self.sql(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.schema
        ))
        .await;
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let fresh = Fresh::new(stringify!($name));
            let store = fresh.store(PgOptions::default());
            common::$name(&store).await;
            fresh.drop().await;
        }
    )*};
}

suite!(
    collections_are_bound_to_one_identity,
    a_failed_batch_writes_nothing,
    crud_and_history,
    filtered_search_is_never_starved,
    a_reembed_switches_at_once_and_resumes,
);

/// Deterministic pseudo-random unit vectors.
fn random_unit(seed: u64, dims: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..dims)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.into_iter().map(|a| a / n).collect()
}

fn search(vector: Vec<f32>, top_k: usize, filter: Value, path: SearchPath) -> Search {
    Search {
        vector,
        top_k,
        threshold: None,
        filter: Filter::parse(&filter).unwrap(),
        path,
    }
}

fn ids(hits: &[embedrock_store::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.record.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_2000_dimensions_the_index_is_halfvec() {
    let fresh = Fresh::new("halfvec");
    let store = fresh.store(PgOptions {
        index_threshold: None,
        ..PgOptions::default()
    });
    let dims = 3072;
    store
        .ensure_collection("big", &common::identity(dims))
        .await
        .unwrap();
    let records: Vec<NewRecord> = (0..200)
        .map(|i| common::record(&format!("t{i}"), "u", json!({"i": i}), random_unit(i, dims)))
        .collect();
    let ids_in = store.insert("big", records).await.unwrap();
    assert!(!store.has_index("big").await.unwrap());
    assert!(store.build_index("big").await.unwrap());
    assert!(!store.build_index("big").await.unwrap(), "already built");
    assert!(store.has_index("big").await.unwrap());
    let defs = fresh
        .sql(&format!(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = '{}' AND indexname LIKE 'records_hnsw_%'",
            fresh.schema
        ))
        .await;
    let def: String = defs[0].get(0);
    assert!(
        def.contains("halfvec(3072)") && def.contains("halfvec_ip_ops"),
        "{def}"
    );
    for probe in [7u64, 99, 150] {
        let q = random_unit(probe, dims);
        let approx = store
            .search(
                "big",
                &search(q.clone(), 5, json!({}), SearchPath::Approximate),
            )
            .await
            .unwrap();
        let exact = store
            .search("big", &search(q, 5, json!({}), SearchPath::Exact))
            .await
            .unwrap();
        assert_eq!(approx[0].record.id, ids_in[probe as usize]);
        assert!(
            (approx[0].score - 1.0).abs() < 1e-5,
            "rescored in full precision: {}",
            approx[0].score
        );
        assert_eq!(ids(&approx), ids(&exact));
    }
    fresh.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_filter_on_the_hnsw_index_still_returns_top_k() {
    let fresh = Fresh::new("hnsw_filter");
    let store = fresh.store(PgOptions {
        index_threshold: Some(2_000),
        ..PgOptions::default()
    });
    let dims = 32;
    store
        .ensure_collection("s", &common::identity(dims))
        .await
        .unwrap();
    // 3,000 records; 1 in 100 is "rare", and the rare ones lie away from
    // the query, so the index's nearest candidates hold none of them.
    let query = random_unit(1, dims);
    let records: Vec<NewRecord> = (0..3000u64)
        .map(|i| {
            let rare = i % 100 == 0;
            let v = if rare {
                random_unit(10_000 + i, dims)
            } else {
                let noise = random_unit(i, dims);
                let mixed: Vec<f32> = query.iter().zip(&noise).map(|(q, n)| q + 0.3 * n).collect();
                let n = mixed.iter().map(|a| a * a).sum::<f32>().sqrt();
                mixed.into_iter().map(|a| a / n).collect()
            };
            common::record(
                &format!("t{i}"),
                if rare { "rare" } else { "common" },
                json!({"i": i}),
                v,
            )
        })
        .collect();
    for chunk in records.chunks(1000) {
        store.insert("s", chunk.to_vec()).await.unwrap();
    }
    assert!(
        store.has_index("s").await.unwrap(),
        "built once the collection passed the threshold"
    );
    for path in [
        SearchPath::Approximate,
        SearchPath::Auto,
        SearchPath::Binary,
    ] {
        let got = store
            .search(
                "s",
                &search(query.clone(), 20, json!({"user_id": "rare"}), path),
            )
            .await
            .unwrap();
        let exact = store
            .search(
                "s",
                &search(
                    query.clone(),
                    20,
                    json!({"user_id": "rare"}),
                    SearchPath::Exact,
                ),
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 20, "{path:?}: 20 of the 30 rare records");
        assert!(got
            .iter()
            .all(|h| h.record.scope.user_id.as_deref() == Some("rare")));
        assert_eq!(ids(&got), ids(&exact), "{path:?}");
    }
    // Unfiltered, the index's results are the exact ones on this easy data.
    let approx = store
        .search(
            "s",
            &search(query.clone(), 10, json!({}), SearchPath::Approximate),
        )
        .await
        .unwrap();
    let exact = store
        .search(
            "s",
            &search(query.clone(), 10, json!({}), SearchPath::Exact),
        )
        .await
        .unwrap();
    let overlap = ids(&approx)
        .iter()
        .filter(|id| ids(&exact).contains(id))
        .count();
    assert!(overlap >= 9, "recall@10 {overlap}/10");
    let err = store
        .search("s", &search(query, 10, json!({}), SearchPath::Int8))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not available on PostgreSQL"), "{err}");
    fresh.drop().await;
}

/// Records with varied metadata, and filters over every operator: the rows
/// PostgreSQL admits must be exactly those `Filter::matches` admits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_filters_agree_with_the_filter_language() {
    let fresh = Fresh::new("filters");
    let store = fresh.store(PgOptions::default());
    store
        .ensure_collection("f", &common::identity(4))
        .await
        .unwrap();
    let metadata = [
        json!({"n": 5, "s": "Hello World", "tags": ["a", "b"], "b": true, "deep": {"x": {"y": 1}}}),
        json!({"n": 5.0, "s": "hello", "tags": [], "b": false, "deep": {"x": 2}}),
        json!({"n": -3.5, "s": "Ärger über ÖL", "tags": ["b", 3], "nil": null}),
        json!({"n": "5", "s": "zebra", "tags": "a,b", "deep": [1, 2], "a.b": "dotted"}),
        json!({"s": "", "user_id": "spoofed", "deep": {"x": {"y": "1"}}}),
        json!({"n": 1e10, "s": "Ω omega", "tags": [["a"]], "b": "true", "text": "shadowed"}),
    ];
    let records: Vec<NewRecord> = metadata
        .iter()
        .enumerate()
        .map(|(i, m)| NewRecord {
            text: format!("record {i} Über"),
            scope: if i == 4 {
                Scope {
                    agent_id: Some("bot".into()),
                    ..Scope::default()
                }
            } else {
                Scope::user(format!("u{}", i % 2))
            },
            metadata: m.as_object().cloned().unwrap(),
            origin: None,
            vector: common::axis(i, 4),
        })
        .collect();
    store.insert("f", records).await.unwrap();
    let all = store
        .list("f", &Filter::All, Page::first(100))
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let filters = [
        json!({"n": 5}),
        json!({"n": {"eq": 5.0}}),
        json!({"n": {"ne": 5}}),
        json!({"n": "5"}),
        json!({"n": {"in": [5, "5", -3.5]}}),
        json!({"n": {"nin": [5]}}),
        json!({"n": {"gt": 0}}),
        json!({"n": {"gte": 5}}),
        json!({"n": {"lt": 5}}),
        json!({"n": {"lte": -3.5}}),
        json!({"s": {"gt": "hello"}}),
        json!({"s": {"lt": "Zz"}}),
        json!({"s": {"gte": ""}}),
        json!({"s": {"contains": "o"}}),
        json!({"s": {"contains": "World"}}),
        json!({"s": {"contains": ""}}),
        json!({"s": {"icontains": "HELLO"}}),
        json!({"s": {"icontains": "ärger ÜBER"}}),
        json!({"s": {"icontains": "ω"}}),
        json!({"tags": {"contains": "b"}}),
        json!({"tags": {"contains": 3}}),
        json!({"tags": {"contains": "a"}}),
        json!({"b": true}),
        json!({"b": {"ne": true}}),
        json!({"nil": null}),
        json!({"nil": "*"}),
        json!({"b": "*"}),
        json!({"deep.x.y": 1}),
        json!({"deep.x": "*"}),
        json!({"deep.x.y": {"gte": "0"}}),
        json!({"a.b": "dotted"}),
        json!({"metadata.n": 5}),
        json!({"user_id": "u0"}),
        json!({"user_id": "spoofed"}),
        json!({"agent_id": "bot"}),
        json!({"user_id": {"ne": "u0"}}),
        json!({"text": {"contains": "Über"}}),
        json!({"text": "shadowed"}),
        json!({"OR": [{"n": {"lt": 0}}, {"s": "zebra"}]}),
        json!({"NOT": [{"n": 5}, {"s": "zebra"}]}),
        json!({"AND": [{"user_id": "u1"}, {"NOT": {"tags": {"contains": "b"}}}]}),
        json!({"missing": {"nin": [1]}}),
        json!({"missing": {"gt": 0}}),
        json!({"missing": {"ne": 1}}),
        json!({"tags": {"in": [[], ["a", "b"]]}}),
        json!({"deep": {"eq": null}}),
    ];
    for f in filters {
        let filter = Filter::parse(&f).unwrap();
        let expected: Vec<&str> = all
            .iter()
            .filter(|r| filter.matches(&r.filter_view()))
            .map(|r| r.text.as_str())
            .collect();
        let got = store.list("f", &filter, Page::first(100)).await.unwrap();
        let got: Vec<&str> = got.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(got, expected, "filter {f}");
        let hits = store
            .search(
                "f",
                &search(common::axis(0, 4), 10, f.clone(), SearchPath::Exact),
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), expected.len(), "search with filter {f}");
    }
    fresh.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_at_once_lose_nothing() {
    let fresh = Fresh::new("writers");
    let a = fresh.store(PgOptions::default());
    let b = fresh.store(PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    });
    a.ensure_collection("c", &common::identity(4))
        .await
        .unwrap();
    b.ensure_collection("c", &common::identity(4))
        .await
        .unwrap();
    let write = |store: PgStore, who: &'static str| async move {
        let mut ids = Vec::new();
        for i in 0..100 {
            let r = common::record(
                &format!("{who}{i}"),
                who,
                json!({"i": i}),
                common::axis(i, 4),
            );
            ids.extend(store.insert("c", vec![r]).await.unwrap());
        }
        ids
    };
    let (ia, ib) = tokio::join!(
        tokio::spawn(write(a.clone(), "a")),
        tokio::spawn(write(b.clone(), "b"))
    );
    let mut written = ia.unwrap();
    written.extend(ib.unwrap());
    let listed = a.list("c", &Filter::All, Page::first(1000)).await.unwrap();
    assert_eq!(listed.len(), 200);
    let mut listed: Vec<String> = listed.into_iter().map(|r| r.id).collect();
    listed.sort();
    written.sort();
    assert_eq!(listed, written);
    for who in ["a", "b"] {
        let mine = b
            .list(
                "c",
                &Filter::parse(&json!({"user_id": who})).unwrap(),
                Page::first(1000),
            )
            .await
            .unwrap();
        let texts: Vec<String> = mine.into_iter().map(|r| r.text).collect();
        let expected: Vec<String> = (0..100).map(|i| format!("{who}{i}")).collect();
        assert_eq!(texts, expected, "each writer's records in its order");
    }
    fresh.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_error_that_does_not_show_it() {
    let good = url();
    let parsed: tokio_postgres::Config = good.parse().unwrap();
    assert!(
        parsed.get_password().is_some(),
        "the test server uses passwords"
    );
    let secret = "wrong-Secret-7731";
    let (scheme, rest) = good.split_once("://").unwrap();
    let (_, host) = rest.rsplit_once('@').unwrap();
    let user = parsed.get_user().unwrap();
    let bad = format!("{scheme}://{user}:{secret}@{host}");
    let store = PgStore::open(&bad).unwrap();
    assert!(!format!("{store:?}").contains(secret));
    let err = store.collections().await.unwrap_err().to_string();
    assert!(!err.contains(secret), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        err.contains(&format!("postgres://{user}@")),
        "names the server: {err}"
    );
    // A bad value in the URL itself never echoes the password either.
    let err = PgStore::open(&format!(
        "{scheme}://{user}:{secret}@{host}?connect_timeout=x"
    ))
    .unwrap_err()
    .to_string();
    assert!(!err.contains(secret), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    let fresh = Fresh::new("bad_input");
    let store = fresh.store(PgOptions::default());
    store
        .ensure_collection("c", &common::identity(4))
        .await
        .unwrap();
    let ok = common::record("fine", "u", json!({}), common::axis(0, 4));
    let nul = common::record("nul\0byte", "u", json!({}), common::axis(1, 4));
    let err = store
        .insert("c", vec![ok.clone(), nul])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("NUL"), "{err}");
    let nul_meta = common::record("x", "u", json!({"k": ["a\0"]}), common::axis(1, 4));
    assert!(store.insert("c", vec![ok.clone(), nul_meta]).await.is_err());
    assert_eq!(store.collection("c").await.unwrap().unwrap().records, 0);
    let too_big = common::identity(16_001);
    assert!(store.ensure_collection("huge", &too_big).await.is_err());
    // Binary search over a collection with records works; the query must be finite.
    store.insert("c", vec![ok]).await.unwrap();
    let mut q = common::axis(0, 4);
    q[1] = f32::INFINITY;
    assert!(store
        .search("c", &search(q, 1, json!({}), SearchPath::Exact))
        .await
        .is_err());
    fresh.drop().await;
}

/// Figures, not a check: insert rate, index build time, search latency and
/// recall@10 of the HNSW path against the exact scan. Run with
/// `cargo test -p embedrock-store --test postgres -- --ignored --nocapture measure`
/// (`EMBEDROCK_PG_MEASURE_N` records, 20,000 by default, 384 dimensions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn measure_search_paths() {
    use std::time::Instant;
    let n: u64 = std::env::var("EMBEDROCK_PG_MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dims = 384;
    let fresh = Fresh::new("measure");
    let store = fresh.store(PgOptions {
        index_threshold: None,
        ..PgOptions::default()
    });
    store
        .ensure_collection("m", &common::identity(dims))
        .await
        .unwrap();
    let start = Instant::now();
    for lo in (0..n).step_by(1000) {
        let batch: Vec<NewRecord> = (lo..(lo + 1000).min(n))
            .map(|i| {
                common::record(
                    &format!("t{i}"),
                    &format!("u{}", i % 100),
                    json!({"i": i}),
                    random_unit(i, dims),
                )
            })
            .collect();
        store.insert("m", batch).await.unwrap();
    }
    let insert = start.elapsed();
    let start = Instant::now();
    store.build_index("m").await.unwrap();
    let build = start.elapsed();
    println!(
        "{n} x {dims}: insert {:.1} s ({:.0} records/s), HNSW build {:.1} s",
        insert.as_secs_f64(),
        n as f64 / insert.as_secs_f64(),
        build.as_secs_f64()
    );
    for (label, filter) in [
        ("unfiltered", json!({})),
        ("1% filter", json!({"user_id": "u7"})),
    ] {
        let (mut exact_ms, mut approx_ms, mut found) = (Vec::new(), Vec::new(), 0usize);
        let queries = 50u64;
        for q in 0..queries {
            let v = random_unit(1_000_000 + q, dims);
            let t = Instant::now();
            let exact = store
                .search(
                    "m",
                    &search(v.clone(), 10, filter.clone(), SearchPath::Exact),
                )
                .await
                .unwrap();
            exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let approx = store
                .search("m", &search(v, 10, filter.clone(), SearchPath::Approximate))
                .await
                .unwrap();
            approx_ms.push(t.elapsed().as_secs_f64() * 1e3);
            found += ids(&approx)
                .iter()
                .filter(|id| ids(&exact).contains(id))
                .count();
        }
        exact_ms.sort_by(f64::total_cmp);
        approx_ms.sort_by(f64::total_cmp);
        let p = |v: &[f64], q: f64| v[((v.len() - 1) as f64 * q) as usize];
        println!(
            "{label}: exact p50 {:.1} ms p99 {:.1} ms; approximate p50 {:.1} ms p99 {:.1} ms; recall@10 {:.3}",
            p(&exact_ms, 0.5), p(&exact_ms, 0.99), p(&approx_ms, 0.5), p(&approx_ms, 0.99),
            found as f64 / (queries * 10) as f64
        );
    }
    fresh.drop().await;
}
