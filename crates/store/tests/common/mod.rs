//! One suite for every backend: each test takes a fresh, empty store.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use embedrock_core::OutputType;
use embedrock_store::{
    Event, Filter, Identity, NewRecord, Page, Patch, Scope, Search, SearchPath, Staged, VectorStore,
};
use serde_json::{json, Map, Value};

pub fn identity(dims: usize) -> Identity {
    Identity {
        provider: "Local".into(),
        model: "all-minilm-l6-v2".into(),
        dimensions: dims,
        normalize: true,
        output_type: OutputType::Float,
    }
}

fn meta(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// A unit vector pointing mostly along axis `i % dims`.
pub fn axis(i: usize, dims: usize) -> Vec<f32> {
    let mut v = vec![0.01f32; dims];
    v[i % dims] = 1.0;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

pub fn record(text: &str, user: &str, metadata: Value, vector: Vec<f32>) -> NewRecord {
    NewRecord {
        text: text.into(),
        scope: Scope::user(user),
        metadata: meta(metadata),
        origin: None,
        vector,
    }
}

pub async fn collections_are_bound_to_one_identity(store: &dyn VectorStore) {
    let c = store
        .ensure_collection("notes", &identity(8))
        .await
        .unwrap();
    assert_eq!((c.name.as_str(), c.records), ("notes", 0));
    store
        .ensure_collection("notes", &identity(8))
        .await
        .unwrap();
    let err = store
        .ensure_collection("notes", &identity(16))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds vectors of Local all-minilm-l6-v2 at 8 dimensions"),
        "{err}"
    );
    assert!(
        err.contains("this request uses Local all-minilm-l6-v2 at 16 dimensions"),
        "{err}"
    );
    let bad = store
        .insert("notes", vec![record("x", "u", json!({}), vec![0.5; 16])])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("holds 8 dimensions, got a vector of 16"),
        "{bad}"
    );
    assert!(store
        .ensure_collection("bad name!", &identity(8))
        .await
        .is_err());
    assert!(store.insert("missing", vec![]).await.is_err());
    assert_eq!(store.collections().await.unwrap().len(), 1);
    assert!(store.drop_collection("notes").await.unwrap());
    assert!(store.collection("notes").await.unwrap().is_none());
}

pub async fn a_failed_batch_writes_nothing(store: &dyn VectorStore) {
    store.ensure_collection("c", &identity(4)).await.unwrap();
    let mut bad = axis(0, 4);
    bad[2] = f32::NAN;
    let batch = vec![
        record("a", "u", json!({}), axis(0, 4)),
        record("b", "u", json!({}), axis(1, 4)),
        record("c", "u", json!({}), bad),
    ];
    let err = store.insert("c", batch).await.unwrap_err().to_string();
    assert!(err.contains("non-finite"), "{err}");
    assert_eq!(store.collection("c").await.unwrap().unwrap().records, 0);
}

pub async fn crud_and_history(store: &dyn VectorStore) {
    store.ensure_collection("m", &identity(4)).await.unwrap();
    let ids = store
        .insert(
            "m",
            vec![
                record("likes tea", "alice", json!({"topic": "food"}), axis(0, 4)),
                record(
                    "lives in Oslo",
                    "alice",
                    json!({"topic": "place"}),
                    axis(1, 4),
                ),
                record("likes coffee", "bob", json!({"topic": "food"}), axis(2, 4)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    let got = store.get("m", &ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (got.text.as_str(), got.scope.user_id.as_deref()),
        ("likes tea", Some("alice"))
    );
    assert!(store.get("m", "no-such-id").await.unwrap().is_none());

    let alice = Filter::parse(&json!({"user_id": "alice"})).unwrap();
    let listed = store.list("m", &alice, Page::first(10)).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        ["likes tea", "lives in Oslo"]
    );
    let second = store
        .list(
            "m",
            &Filter::All,
            Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(second[0].text, "lives in Oslo");
    assert!(store.list("m", &Filter::All, Page::first(0)).await.is_err());

    let updated = store
        .update(
            "m",
            &ids[0],
            Patch {
                text: Some("likes green tea".into()),
                vector: Some(axis(3, 4)),
                metadata: Some(meta(json!({"topic": "drink"}))),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.text, "likes green tea");
    assert_eq!(updated.metadata["topic"], "drink");
    let half = Patch {
        text: Some("x".into()),
        ..Patch::default()
    };
    assert!(store.update("m", &ids[0], half).await.is_err());
    assert!(store.update("m", "nope", Patch::default()).await.is_err());

    assert!(store.delete("m", &ids[0]).await.unwrap());
    assert!(!store.delete("m", &ids[0]).await.unwrap());
    let history = store.history("m", &ids[0]).await.unwrap();
    let events: Vec<Event> = history.iter().map(|c| c.event).collect();
    assert_eq!(events, [Event::Add, Event::Update, Event::Delete]);
    assert_eq!(history[1].old_memory.as_deref(), Some("likes tea"));
    assert_eq!(history[1].new_memory.as_deref(), Some("likes green tea"));

    let removed = store.delete_where("m", &alice).await.unwrap();
    assert_eq!(removed, 1);
    let left = store
        .list("m", &Filter::All, Page::first(10))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].scope.user_id.as_deref(), Some("bob"));
}

pub async fn filtered_search_is_never_starved(store: &dyn VectorStore) {
    let dims = 16;
    store.ensure_collection("s", &identity(dims)).await.unwrap();
    // 600 records; only every 50th belongs to bob, and bob's lie far from the query.
    let records: Vec<NewRecord> = (0..600)
        .map(|i| {
            let user = if i % 50 == 0 { "bob" } else { "alice" };
            let v = if user == "bob" {
                axis(1 + i % 3, dims)
            } else {
                axis(0, dims)
            };
            record(&format!("t{i}"), user, json!({"n": i}), v)
        })
        .collect();
    store.insert("s", records).await.unwrap();
    let query = axis(0, dims);
    let search = |filter: Value, top_k: usize, threshold: Option<f32>| Search {
        vector: query.clone(),
        top_k,
        threshold,
        filter: Filter::parse(&filter).unwrap(),
        path: SearchPath::Auto,
    };
    let bob = store
        .search("s", &search(json!({"user_id": "bob"}), 10, None))
        .await
        .unwrap();
    assert_eq!(bob.len(), 10, "10 of bob's 12 records must come back");
    assert!(bob
        .iter()
        .all(|h| h.record.scope.user_id.as_deref() == Some("bob")));
    assert!(bob.windows(2).all(|w| w[0].score >= w[1].score));
    let all = store
        .search("s", &search(json!({}), 5, None))
        .await
        .unwrap();
    assert!(all.iter().all(|h| h.score > 0.99));
    let some = store
        .search(
            "s",
            &search(json!({"n": {"gte": 100, "lt": 103}}), 10, None),
        )
        .await
        .unwrap();
    assert_eq!(some.len(), 3);
    let none = store
        .search("s", &search(json!({"user_id": "bob"}), 10, Some(0.5)))
        .await
        .unwrap();
    assert!(none.is_empty(), "bob's vectors score below 0.5");
    let wrong = Search {
        vector: vec![1.0; 3],
        ..search(json!({}), 1, None)
    };
    assert!(store.search("s", &wrong).await.is_err());
}

fn stage(id: &str, text: &str, dims: usize, i: usize) -> Staged {
    Staged {
        id: id.into(),
        text: text.into(),
        vector: axis(i, dims),
    }
}

pub async fn a_reembed_switches_at_once_and_resumes(store: &dyn VectorStore) {
    store.ensure_collection("r", &identity(4)).await.unwrap();
    let ids = store
        .insert(
            "r",
            (0..5)
                .map(|i| record(&format!("t{i}"), "u", json!({}), axis(i, 4)))
                .collect(),
        )
        .await
        .unwrap();
    assert!(
        store.reembed_pending("r", 10).await.is_err(),
        "no re-embed yet"
    );
    let info = store.begin_reembed("r", &identity(6)).await.unwrap();
    assert_eq!(info.reembedding, Some(identity(6)));
    assert!(store.begin_reembed("r", &identity(8)).await.is_err());
    let pending = store.reembed_pending("r", 2).await.unwrap();
    assert_eq!(
        pending,
        vec![(ids[0].clone(), "t0".into()), (ids[1].clone(), "t1".into())]
    );
    // A vector of the old size is refused; a stale text is skipped.
    assert!(store
        .stage_vectors("r", vec![stage(&ids[0], "t0", 4, 0)])
        .await
        .is_err());
    let kept = store
        .stage_vectors(
            "r",
            vec![stage(&ids[0], "t0", 6, 0), stage(&ids[1], "stale", 6, 1)],
        )
        .await
        .unwrap();
    assert_eq!(kept, 1);
    // Searches still run under the old identity.
    let q4 = Search {
        vector: axis(2, 4),
        top_k: 1,
        threshold: None,
        filter: Filter::All,
        path: SearchPath::Auto,
    };
    assert_eq!(store.search("r", &q4).await.unwrap()[0].record.id, ids[2]);
    // Changes during the re-embed: an update clears its staged vector, an
    // insert is pending too.
    store
        .update(
            "r",
            &ids[0],
            Patch {
                text: Some("t0 again".into()),
                vector: Some(axis(0, 4)),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let late = store
        .insert("r", vec![record("t5", "u", json!({}), axis(5, 4))])
        .await
        .unwrap();
    // A second begin with the same target resumes, keeping staged work.
    store.begin_reembed("r", &identity(6)).await.unwrap();
    let pending = store.reembed_pending("r", 100).await.unwrap();
    assert_eq!(
        pending.len(),
        6,
        "t0 changed, t1..t4 and t5 are new: {pending:?}"
    );
    let err = store.finish_reembed("r").await.unwrap_err().to_string();
    assert!(err.contains("6 records"), "{err}");
    let all: Vec<Staged> = pending
        .iter()
        .enumerate()
        .map(|(i, (id, text))| stage(id, text, 6, i))
        .collect();
    assert_eq!(store.stage_vectors("r", all).await.unwrap(), 6);
    let done = store.finish_reembed("r").await.unwrap();
    assert_eq!(
        (done.identity.dimensions, done.reembedding, done.records),
        (6, None, 6)
    );
    assert!(
        store.search("r", &q4).await.is_err(),
        "4-dimension queries are refused now"
    );
    let q6 = Search {
        vector: axis(5, 6),
        ..q4.clone()
    };
    let hits = store.search("r", &q6).await.unwrap();
    assert_eq!(hits[0].record.id, late[0]);
    assert!(
        !store.abort_reembed("r").await.unwrap(),
        "nothing in progress"
    );
    store.begin_reembed("r", &identity(4)).await.unwrap();
    assert!(store.abort_reembed("r").await.unwrap());
    assert_eq!(
        store.collection("r").await.unwrap().unwrap().identity,
        identity(6)
    );
}
