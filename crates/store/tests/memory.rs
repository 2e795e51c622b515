//! Memory over the embedded store with the real local model: mem0's
//! operations on texts, queries embedded as queries, identities enforced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use embedrock_core::DynEmbedder;
use embedrock_store::{Filter, Item, Memory, Message, Page, Scope, SqliteStore, VectorStore};
use serde_json::{json, Map};

fn local() -> DynEmbedder {
    static MODEL: OnceLock<DynEmbedder> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(
                embedrock_local::LocalEmbedder::open("all-minilm-l6-v2")
                    .expect("the local model (run `embedrock models pull all-minilm-l6-v2`)"),
            )
        })
        .clone()
}

fn memory(dir: &tempfile::TempDir, dims: Option<usize>) -> Memory {
    let store: Arc<dyn VectorStore> = Arc::new(SqliteStore::open(dir.path().join("m.db")).unwrap());
    Memory::new(store, local(), dims).unwrap()
}

fn items(texts: &[&str]) -> Vec<Item> {
    texts.iter().map(|t| Item::text(*t)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_then_search_by_meaning_within_a_scope() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir, None);
    let alice = Scope::user("alice");
    let ids = m
        .add(
            "mem",
            &alice,
            items(&[
                "I drink green tea every morning",
                "My dog is called Rex",
                "I work as a nurse in Oslo",
            ]),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    m.add(
        "mem",
        &Scope::user("bob"),
        items(&["I drink black coffee"]),
        &|_| {},
    )
    .await
    .unwrap();
    let hits = m
        .search("mem", "what does she drink?", &alice, Filter::All, 2, None)
        .await
        .unwrap();
    assert_eq!(hits[0].record.text, "I drink green tea every morning");
    assert!(hits
        .iter()
        .all(|h| h.record.scope.user_id.as_deref() == Some("alice")));
    let everyone = m
        .search(
            "mem",
            "what does she drink?",
            &Scope::default(),
            Filter::All,
            2,
            None,
        )
        .await
        .unwrap();
    assert!(everyone
        .iter()
        .any(|h| h.record.text == "I drink black coffee"));
    let job = m
        .search("mem", "occupation", &alice, Filter::All, 1, None)
        .await
        .unwrap();
    assert_eq!(job[0].record.text, "I work as a nurse in Oslo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_reembeds_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir, None);
    let scope = Scope::user("u");
    let id = m
        .add("c", &scope, items(&["likes cats"]), &|_| {})
        .await
        .unwrap()
        .remove(0);
    m.update("c", &id, Some("is afraid of spiders".into()), None)
        .await
        .unwrap();
    let hits = m
        .search("c", "arachnophobia", &scope, Filter::All, 1, None)
        .await
        .unwrap();
    assert_eq!(hits[0].record.text, "is afraid of spiders");
    assert!(
        hits[0].score > 0.3,
        "re-embedded text must match: {}",
        hits[0].score
    );
    let history = m.history("c", &id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].old_memory.as_deref(), Some("likes cats"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_scopes_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let m = memory(&dir, None);
    let scope = Scope {
        agent_id: Some("bot".into()),
        run_id: Some("r1".into()),
        ..Scope::default()
    };
    let msgs = [
        Message {
            role: "user".into(),
            content: "I am vegetarian".into(),
        },
        Message {
            role: "assistant".into(),
            content: "Noted".into(),
        },
    ];
    let ids = m
        .add_messages("c", &scope, &msgs, &Map::new())
        .await
        .unwrap();
    let first = m.get("c", &ids[0]).await.unwrap().unwrap();
    assert_eq!(first.metadata["role"], "user");
    assert!(m
        .add("c", &Scope::default(), items(&["x"]), &|_| {})
        .await
        .is_err());
    assert!(m.add("c", &scope, items(&["   "]), &|_| {}).await.is_err());
    assert!(m.add("c", &scope, vec![], &|_| {}).await.is_err());
    assert!(m.delete_all("c", &Scope::default()).await.is_err());
    let listed = m
        .list(
            "c",
            &scope,
            Filter::parse(&json!({"role": "assistant"})).unwrap(),
            Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(m.delete_all("c", &scope).await.unwrap(), 2);
    assert!(m
        .list("c", &scope, Filter::All, Page::first(10))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_dimension_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let full = memory(&dir, None);
    full.add("c", &Scope::user("u"), items(&["hello"]), &|_| {})
        .await
        .unwrap();
    let small = memory(&dir, Some(128));
    let err = small
        .search("c", "hello", &Scope::default(), Filter::All, 1, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds vectors of Local all-minilm-l6-v2 at 384 dimensions"),
        "{err}"
    );
    assert!(err.contains("at 128 dimensions"), "{err}");
    assert!(small
        .add("c", &Scope::user("u"), items(&["x"]), &|_| {})
        .await
        .is_err());
    assert!(Memory::new(full.store().clone(), local(), Some(1024)).is_err());
}

/// The real model, failing every embedding call after the first `ok` ones:
/// an interruption in the middle of a long job.
struct FailsAfter {
    inner: DynEmbedder,
    ok: usize,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl embedrock_core::Embedder for FailsAfter {
    async fn embed(
        &self,
        request: embedrock_core::EmbedRequest,
    ) -> embedrock_core::Result<embedrock_core::EmbedResponse> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n >= self.ok {
            return Err(embedrock_core::Error::InvalidRequest("interrupted".into()));
        }
        self.inner.embed(request).await
    }
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }
    fn max_batch(&self) -> usize {
        2
    }
    fn facts(&self) -> embedrock_core::ModelFacts {
        self.inner.facts()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_reembed_serves_the_old_vectors_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let old = memory(&dir, None);
    let alice = Scope::user("alice");
    let texts = [
        "I drink green tea every morning",
        "My dog is called Rex",
        "I work as a nurse in Oslo",
        "I play the cello on Sundays",
        "My sister lives in Lisbon",
    ];
    let ids = old
        .add("mem", &alice, items(&texts), &|_| {})
        .await
        .unwrap();
    let flaky: DynEmbedder = Arc::new(FailsAfter {
        inner: local(),
        ok: 1,
        calls: Default::default(),
    });
    let store = old.store().clone();
    let broken = Memory::new(store.clone(), flaky, Some(64)).unwrap();
    assert!(broken.reembed("mem", &|_| {}).await.is_err());
    // Half done: the collection still holds 384 dimensions and answers.
    let info = store.collection("mem").await.unwrap().unwrap();
    assert_eq!(info.identity.dimensions, 384);
    assert_eq!(info.reembedding.as_ref().map(|t| t.dimensions), Some(64));
    let hits = old
        .search("mem", "which pet?", &alice, Filter::All, 1, None)
        .await
        .unwrap();
    assert_eq!(hits[0].record.id, ids[1]);
    assert_eq!(store.reembed_pending("mem", 100).await.unwrap().len(), 3);
    // Resumed with a working embedder: only the three left are embedded.
    let new = Memory::new(store.clone(), local(), Some(64)).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let info = new
        .reembed("mem", &|n| seen.lock().unwrap().push(n))
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&3));
    assert_eq!((info.identity.dimensions, info.records), (64, 5));
    let hits = new
        .search("mem", "which pet?", &alice, Filter::All, 1, None)
        .await
        .unwrap();
    assert_eq!(hits[0].record.id, ids[1]);
    assert!(old
        .search("mem", "which pet?", &alice, Filter::All, 1, None)
        .await
        .is_err());
}
