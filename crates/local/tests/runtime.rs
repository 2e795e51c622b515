//! Tokenizing and encoding never hold an async worker thread: on a runtime
//! with one worker, other tasks keep running while a large input is counted
//! or embedded through the synchronous calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedrock_core::Embedder;
use embedrock_local::{LocalEmbedder, LocalOptions};

fn tiny() -> LocalEmbedder {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny-bert"
    ));
    LocalEmbedder::load(dir, "tiny-bert", LocalOptions::default().with_threads(1)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_only_worker_keeps_running_other_tasks() {
    let model = tiny();
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(2)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Let the ticker start.
    while ticks.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let big: Vec<String> = vec![(0..600_000).map(|i| format!("w{} ", i % 977)).collect()];
    let work = {
        let ticks = ticks.clone();
        // Spawned, so it runs on the runtime's one worker thread.
        tokio::spawn(async move {
            let t0 = Instant::now();
            let before = ticks.load(Ordering::Relaxed);
            let counted = model.count_tokens(&big).unwrap();
            let during_count = ticks.load(Ordering::Relaxed) - before;
            let count_took = t0.elapsed();
            let before = ticks.load(Ordering::Relaxed);
            let t1 = Instant::now();
            let texts = vec!["a short sentence to embed".to_string(); 20_000];
            model.embed_sync(&texts, true).unwrap();
            let during_embed = ticks.load(Ordering::Relaxed) - before;
            (
                counted[0],
                during_count,
                count_took,
                during_embed,
                t1.elapsed(),
            )
        })
    };
    let (tokens, during_count, count_took, during_embed, embed_took) = work.await.unwrap();
    ticker.abort();
    assert!(tokens > 600_000, "{tokens}");
    // Long enough that a blocked worker would have missed many ticks.
    assert!(count_took > Duration::from_millis(50), "{count_took:?}");
    assert!(embed_took > Duration::from_millis(50), "{embed_took:?}");
    assert!(during_count >= 3, "{during_count} ticks in {count_took:?}");
    assert!(during_embed >= 3, "{during_embed} ticks in {embed_took:?}");
}
