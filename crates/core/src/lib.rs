//! The shared vocabulary of embedrock.
//!
//! Every other crate speaks in these terms: an [`EmbedRequest`] goes into an
//! [`Embedder`] and an [`EmbedResponse`] comes out, whatever answers it (a local
//! model on the CPU or a Bedrock model over HTTP). The [`catalogue`] holds the
//! facts about each model as data, and [`math`] the vector arithmetic that the
//! rest of the project shares. This crate depends on nothing internal.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod catalogue;
mod embedder;
mod error;
mod facts;
pub mod kernels;
pub mod math;
mod types;
pub mod util;

pub use catalogue::{Catalogue, Family, Modality, ModelInfo, Provider};
pub use embedder::{DynEmbedder, Embedder};
pub use error::{Error, Result, UnknownName};
pub use facts::{ModelFacts, Usage};
pub use types::{EmbedRequest, EmbedResponse, InputType, OutputType, TypedEmbeddings};
