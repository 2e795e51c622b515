//! Work stops when its caller is gone: a dropped `embed` future, a passed
//! deadline or a cancelled token ends the blocking work at the next batch
//! boundary. On the real weights; no timing bound tighter than seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use embedrock_core::{EmbedRequest, Embedder};
use embedrock_local::{CancelToken, Error, LocalEmbedder, LocalOptions};

/// A one-thread engine: work left running would hold its only thread.
fn model() -> LocalEmbedder {
    LocalEmbedder::open_with("all-minilm-l6-v2", LocalOptions::default().with_threads(1))
        .expect("the default local model must be fetchable")
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("sentence number {i} is about the weather, cats and the sea"))
        .collect()
}

/// Waits until the batch counter stops moving (checked two seconds apart),
/// failing if it still moves after `limit`.
async fn wait_until_idle(model: &LocalEmbedder, limit: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let before = model.usage().calls;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = model.usage().calls;
        if before == after {
            return after;
        }
        assert!(
            start.elapsed() < limit,
            "batches still running after {limit:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_stops_the_work() {
    let model = model();
    let all = texts(20_000);

    // Dropped after 100 ms, whatever stage the work is at.
    let first = tokio::time::timeout(
        Duration::from_millis(100),
        model.embed(EmbedRequest::new(all.clone())),
    )
    .await;
    assert!(first.is_err(), "20,000 texts cannot finish in 100 ms");
    let stopped_at = wait_until_idle(&model, Duration::from_secs(20)).await;
    assert!(model.usage().texts < 20_000);

    // Dropped in the middle of the forward batches.
    // A boxed future (as `async_trait` returns it): dropping it drops the work's guard.
    let mut request = model.embed(EmbedRequest::new(all));
    loop {
        tokio::select! {
            _ = &mut request => panic!("20,000 texts finished before being dropped"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if model.usage().calls >= stopped_at + 2 {
                    break;
                }
            }
        }
    }
    drop(request);
    let idle = wait_until_idle(&model, Duration::from_secs(20)).await;
    let usage = model.usage();
    assert!(usage.texts < 20_000, "{usage:?}");
    assert!(idle < 20_000 / 32, "{usage:?}");

    // The only worker thread is free again: a small request answers at once.
    let t0 = Instant::now();
    let one = tokio::time::timeout(
        Duration::from_secs(10),
        model.embed(EmbedRequest::new(["still answering"])),
    )
    .await
    .expect("a second request must not wait for cancelled work")
    .unwrap();
    assert_eq!(one.vectors.len(), 1);
    assert!(t0.elapsed() < Duration::from_secs(10));
    // One call for it; at most one straggler of the cancelled work besides,
    // on a loaded machine where a batch outlasted the idle check.
    let calls = model.usage().calls;
    assert!(
        (idle + 1..=idle + 2).contains(&calls),
        "{idle} then {calls}"
    );
}

#[test]
fn a_deadline_or_a_cancelled_token_stops_sync_work() {
    let model = model();
    let all = texts(20_000);
    let t0 = Instant::now();
    let deadline = CancelToken::new().with_deadline(Instant::now() + Duration::from_millis(300));
    let err = model.embed_with(&all, true, &deadline).unwrap_err();
    assert!(matches!(err, Error::Cancelled(_)), "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());

    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            token.cancel();
        })
    };
    let err = model.embed_with(&all, true, &token).unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled(_)), "{err}");
    assert!(model.usage().texts < 20_000);
    // The core error callers see for it.
    let core: embedrock_core::Error = err.into();
    assert!(matches!(core, embedrock_core::Error::Cancelled(_)));
}
