//! A real Bedrock-compatible server for the command's tests: every Bedrock
//! id answered by the local model, SigV4 required (key `AKIDTEST`, secret
//! `dummy-secret`), a share of requests failing with a 5xx.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

use embedrock_server::testing::TestServer;
use embedrock_server::{AppState, AuthConfig, AuthMode, FaultConfig, ModelMap};

/// A running server.
pub struct Server {
    pub url: String,
    pub state: AppState,
}

/// Starts a server on its own thread and runtime; it serves until the test
/// binary exits. `error_rate` of the requests fail with a 5xx (seeded).
pub fn start(error_rate: f64, seed: u64) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let local: embedrock_core::DynEmbedder =
                Arc::new(embedrock_local::LocalEmbedder::open("all-minilm-l6-v2").unwrap());
            let mut config = embedrock_server::testing::quiet_config();
            config.auth =
                AuthConfig::new(AuthMode::Sigv4).with_credential("AKIDTEST", "dummy-secret");
            let mut faults = FaultConfig::default();
            faults.error_rate = error_rate;
            faults.seed = seed;
            config.faults = faults;
            let models = ModelMap::catalogue("all-minilm-l6-v2", local);
            let running = TestServer::start(models, config).await.unwrap();
            tx.send(Server {
                url: running.url().to_string(),
                state: running.state().clone(),
            })
            .unwrap();
            std::future::pending::<()>().await;
            drop(running);
        });
    });
    rx.recv().unwrap()
}

/// `embedrock ARGS --quiet` with this server's credentials and region, and
/// no AWS profile or embedrock config file from the environment.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_embedrock"));
    cmd.args(args)
        .arg("--quiet")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "dummy-secret")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("EMBEDROCK_CONFIG");
    cmd
}
