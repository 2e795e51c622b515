//! A server on a port-0 loopback listener, for tests of this crate and of
//! its clients (the Bedrock client, the CLI).
//!
//! ```no_run
//! # async fn demo(models: embedrock_server::ModelMap) -> std::io::Result<()> {
//! use embedrock_server::testing::{quiet_config, TestServer};
//! let server = TestServer::start(models, quiet_config()).await?;
//! println!("{}", server.url());          // http://127.0.0.1:PORT
//! server.state().faults.counters();      // live state, shared with the server
//! server.stop().await?;                  // graceful; dropping also stops it
//! # Ok(()) }
//! ```

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{AppState, Listening, ModelMap, ServerConfig, Tls};

/// The default configuration without the access log, so tests stay quiet.
pub fn quiet_config() -> ServerConfig {
    ServerConfig {
        access_log: false,
        ..ServerConfig::default()
    }
}

/// A running server on 127.0.0.1 with a free port. Dropping it signals
/// shutdown; [`TestServer::stop`] also waits until the server has finished.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    url: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    done: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `models` with `config` over plain HTTP.
    pub async fn start(models: ModelMap, config: ServerConfig) -> std::io::Result<TestServer> {
        TestServer::start_state(AppState::new(models, config), None).await
    }

    /// Serves prepared state, over HTTPS when `tls` is given, with the
    /// connection limits of its configuration.
    pub async fn start_state(state: AppState, tls: Option<Tls>) -> std::io::Result<TestServer> {
        let listening = Listening::bind("127.0.0.1", 0).await?;
        let addr = listening.addr;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (tx, rx) = oneshot::channel::<()>();
        let app = crate::router(state.clone());
        let limits = state.options.connection_limits();
        let done = tokio::spawn(crate::serve_with(listening, app, tls, limits, async {
            let _ = rx.await;
        }));
        Ok(TestServer {
            addr,
            url: format!("{scheme}://{addr}"),
            state,
            stop: Some(tx),
            done: Some(done),
        })
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state the server answers from (models, options, faults, admission).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Signals shutdown without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Signals shutdown and waits until the server has returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.signal_stop();
        match self.done.take() {
            Some(done) => done.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}
