//! Shared by the server's integration tests: the real local model, loaded
//! once per test binary, and servers from [`embedrock_server::testing`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use embedrock_core::DynEmbedder;
use embedrock_server::testing::{quiet_config, TestServer};
use embedrock_server::{ModelMap, ServerConfig};

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
    quiet_config()
}

/// A running server over the local model.
pub struct Server {
    pub url: String,
    pub inner: TestServer,
}

impl Server {
    /// Stops the server and waits until it has finished.
    pub async fn shutdown(self) {
        self.inner.stop().await.unwrap();
    }
}

/// Starts the local model's catalogue on 127.0.0.1:0.
pub async fn start(config: ServerConfig) -> Server {
    let inner = TestServer::start(models(), config).await.unwrap();
    Server {
        url: inner.url().to_string(),
        inner,
    }
}
