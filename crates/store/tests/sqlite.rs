//! The store suite on the embedded SQLite backend, plus what only a file
//! shared between handles (and processes) can show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use embedrock_store::{Filter, Page, Search, SearchPath, SqliteStore, VectorStore};
use serde_json::json;

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("nested/store.db")).unwrap();
    (dir, store)
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_dir, store) = fresh();
            common::$name(&store).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_write_at_once_and_see_each_other() {
    let (dir, a) = fresh();
    let b = SqliteStore::open(dir.path().join("nested/store.db")).unwrap();
    a.ensure_collection("c", &common::identity(4))
        .await
        .unwrap();
    // Search through `a` first so it caches the (empty) collection.
    let q = Search {
        vector: common::axis(0, 4),
        top_k: 1000,
        threshold: None,
        filter: Filter::All,
        path: SearchPath::Auto,
    };
    assert!(a.search("c", &q).await.unwrap().is_empty());
    let write = |store: SqliteStore, who: &'static str| async move {
        for i in 0..50 {
            let r = common::record(&format!("{who}{i}"), who, json!({}), common::axis(i, 4));
            store.insert("c", vec![r]).await.unwrap();
        }
    };
    tokio::join!(write(a.clone(), "a"), write(b.clone(), "b"));
    // `a`'s cache must notice `b`'s writes.
    assert_eq!(a.search("c", &q).await.unwrap().len(), 100);
    let listed = b.list("c", &Filter::All, Page::first(1000)).await.unwrap();
    assert_eq!(listed.len(), 100);
}

/// Handles opening a new file at the same moment (each its own connection,
/// as separate processes would) all succeed: none gets "database is locked"
/// while another sets up WAL and the schema.
#[test]
fn handles_racing_to_create_one_file_all_open_it() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("race-{round}.db"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}
