//! A Bedrock-compatible embedding server over any [`Embedder`].
//!
//! Code written against Bedrock (boto3, the AWS SDKs, LangChain) runs
//! offline against it by changing only its endpoint URL. [`app`] builds one
//! axum router of two surfaces:
//!
//! - the **Bedrock surface**: the runtime's `POST /model/{modelId}/invoke`
//!   and the control plane's `GET /foundation-models[/{id}]`, checked with
//!   SigV4 or Bedrock API keys and answering errors in Bedrock's shape
//!   (`x-amzn-ErrorType` and `{"message"}`);
//! - **embedrock's own API**: OpenAI's `POST /v1/embeddings` and the admin
//!   routes under `/_embedrock/` (faults, health), checked with bearer API
//!   keys and answering errors as `{"error": {"message", "type", "code"}}`.
//!
//! Requests are decoded and answered by the same codecs the Bedrock client
//! uses ([`embedrock_bedrock::codec`]); the [`ModelMap`] says which embedder
//! answers which id, and vectors are fitted to the asked dimensions by the
//! policy in [`models`]. Every request's work is bounded before it starts
//! ([`limits`]), and [`serve`] bounds every connection.
//!
//! [`Embedder`]: embedrock_core::Embedder
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod config;
mod control;
mod error;
pub mod faults;
mod invoke;
pub mod limits;
pub mod memory;
pub mod models;
mod openai;
mod serve;
mod surface;
pub mod testing;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use embedrock_bedrock::ErrorKind;
use rand::Rng;

pub use auth::{AuthConfig, AuthMode};
pub use config::{ConfigError, RouteConfig, ServerConfig, TlsConfig};
pub use error::{ApiError, OwnError, OwnKind};
pub use faults::{FaultConfig, FaultCounters, FaultError, Faults, Latency};
pub use limits::{Admission, AdmissionReport};
pub use models::{fit_dimensions, ModelMap, Route, RouteError};
pub use serve::{serve, serve_with, shutdown_signal, ConnectionLimits, Listening, Tls};

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    /// Served ids and their embedders.
    pub models: ModelMap,
    /// The configuration.
    pub options: ServerConfig,
    /// The live faults.
    pub faults: Faults,
    /// The embedding work in flight.
    pub admission: Admission,
    /// The regions SigV4 credential scopes may name.
    pub signing_regions: Vec<String>,
    /// The memory API's store and embedder, when the server has one.
    pub memory: Option<memory::MemoryApi>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("models", &self.models)
            .field("options", &self.options)
            .finish()
    }
}

impl AppState {
    /// State over these models with this configuration.
    pub fn new(models: ModelMap, options: ServerConfig) -> Self {
        AppState::with_memory(models, options, None)
    }

    /// State over these models, with the memory API over `memory` when given.
    pub fn with_memory(
        models: ModelMap,
        options: ServerConfig,
        memory: Option<memory::MemoryApi>,
    ) -> Self {
        let faults = Faults::new(options.faults.clone());
        let admission = Admission::new(options.max_in_flight_texts);
        let signing_regions = options.signing_regions();
        AppState(Arc::new(Inner {
            models,
            options,
            faults,
            admission,
            signing_regions,
            memory,
        }))
    }
}

/// The id of the request being answered.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// Input tokens a response accounts for, for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputTokens(pub usize);

fn new_request_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h = embedrock_core::util::hex(&b);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        8 | (b[8] & 3),
        &h[17..20],
        &h[20..32]
    )
}

/// The router over `models`.
pub fn app(models: ModelMap, options: ServerConfig) -> Router {
    router(AppState::new(models, options))
}

/// The router over prepared state: both surfaces under one frame.
pub fn router(state: AppState) -> Router {
    surface::router(state)
}

/// The status of an [`ErrorKind`], for callers building their own answers.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
