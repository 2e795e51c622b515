//! Shared by the server's integration tests: the real local model, loaded
//! once per test binary, and a server on a port-0 listener.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use embedrock_core::DynEmbedder;
use embedrock_server::{ModelMap, ServerConfig};
use tokio::sync::oneshot;

/// The local default model (fetched into the cache by the project's fetch
/// step, or on first use).
pub fn local() -> DynEmbedder {
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

/// Every catalogue id served by the local model.
pub fn models() -> ModelMap {
    ModelMap::catalogue("all-minilm-l6-v2", local())
}

/// A configuration without the access log (tests stay quiet).
pub fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.access_log = false;
    c
}

/// A running server; dropping `stop` shuts it down.
pub struct Server {
    pub addr: SocketAddr,
    pub url: String,
    pub stop: Option<oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops the server and waits until it has finished.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.done).await;
    }
}

/// Starts `app` on 127.0.0.1:0.
pub async fn start(config: ServerConfig) -> Server {
    start_with(models(), config, None).await
}

/// Starts a server over these models, optionally with TLS.
pub async fn start_with(
    models: ModelMap,
    config: ServerConfig,
    tls: Option<embedrock_server::Tls>,
) -> Server {
    let listening = embedrock_server::Listening::bind("127.0.0.1", 0)
        .await
        .unwrap();
    let addr = listening.addr;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (tx, rx) = oneshot::channel::<()>();
    let app = embedrock_server::app(models, config);
    let done = tokio::spawn(async move {
        embedrock_server::serve(listening, app, tls, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        addr,
        url: format!("{scheme}://{addr}"),
        stop: Some(tx),
        done,
    }
}
