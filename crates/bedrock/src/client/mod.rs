//! The Bedrock provider on the AWS SDK for Rust (feature `client`).
//!
//! [`BedrockEmbedder`] embeds with every Bedrock embedding family through
//! `InvokeModel`, encoding and decoding with the same [`crate::codec`] the
//! server uses. It is built for bulk work: batches where the model takes
//! them, concurrency bounded by an [`AdaptiveLimiter`] that backs off on
//! throttling and recovers, retries only for retryable errors, results in
//! input order with failed items kept and explained, token and dollar
//! [`Accounting`], and an on-disk [`Cache`]. [`config`] reads the YAML shapes
//! of embedchain and mem0.

pub mod accounting;
pub mod cache;
pub mod config;
mod item;
pub mod limiter;
pub mod models;
pub mod provider;
pub mod retry;
pub mod settings;

pub use accounting::{Accounting, Totals};
pub use cache::Cache;
pub use limiter::AdaptiveLimiter;
pub use models::{list_embedding_models, ListedModel};
pub use provider::{load_sdk_config, BedrockEmbedder, Item, ItemCode, ItemError};
pub use retry::{CallError, RetryPolicy};
pub use settings::{BedrockSettings, OverLong, Secret};
