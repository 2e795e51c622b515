//! Errors of the local engine and of model files.

use std::path::{Path, PathBuf};

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong loading or running a local model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A model file is present but not what the engine expects.
    #[error("{}: {reason}", path.display())]
    BadModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A required model file is absent.
    #[error("model directory {} has no {file}", dir.display())]
    MissingFile {
        /// The model directory.
        dir: PathBuf,
        /// The file name.
        file: String,
    },
    /// The name is not a known local model, a hub repository or a directory.
    #[error("unknown local model {name:?} (known: {known}); pass a directory with config.json, tokenizer.json and model.safetensors, or a Hugging Face repository id such as BAAI/bge-small-en-v1.5")]
    UnknownModel {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A download or copy produced a file whose checksum is wrong.
    #[error("checksum mismatch for {file}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// The file.
        file: String,
        /// The published checksum.
        expected: String,
        /// The checksum of what arrived.
        actual: String,
    },
    /// Fetching model files failed.
    #[error("fetching {what} failed: {reason}")]
    Fetch {
        /// What was being fetched.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// Every source of a model failed.
    #[error("could not get model {name}:\n{}", attempts.iter().map(|a| format!("  - {a}")).collect::<Vec<_>>().join("\n"))]
    AllSourcesFailed {
        /// The model.
        name: String,
        /// One line per source tried.
        attempts: Vec<String>,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A sequence is longer than the position table.
    #[error("sequence of {length} tokens exceeds the model's {max} positions")]
    SequenceTooLong {
        /// Its length.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A token id is outside the vocabulary (tokenizer and weights disagree).
    #[error("token id {id} is outside the model's vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The id.
        id: usize,
        /// The vocabulary size.
        vocab: usize,
    },
    /// An option is out of its range (or not a number).
    #[error("{option} = {value} is not allowed: give {allowed}")]
    InvalidOption {
        /// The option or environment variable.
        option: &'static str,
        /// The value given.
        value: String,
        /// The values allowed.
        allowed: String,
    },
    /// The requested precision cannot run on this CPU (or in this build).
    #[error(
        "{precision} precision needs {needs}; this CPU has: {cpu}; use --precision {alternatives}"
    )]
    UnsupportedPrecision {
        /// The precision asked for (`bf16`, ...).
        precision: &'static str,
        /// What it needs.
        needs: &'static str,
        /// The CPU's relevant features, comma separated.
        cpu: String,
        /// The precisions to use instead.
        alternatives: &'static str,
    },
    /// The caller went away or its deadline passed; the work was stopped.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// The model produced NaN or infinity: its weights are damaged or the
    /// model overflows on this input. No vector is returned.
    #[error("model {model} produced a non-finite value (NaN or infinity) for input {index}; its weights may be damaged: check them with `embedrock models verify {model}`")]
    NonFinite {
        /// The model's id.
        model: String,
        /// The input whose vector was not finite.
        index: usize,
    },
    /// A cached model file differs from what its manifest recorded.
    #[error("{}: {reason}; the cached model {model} is damaged: check every file with `embedrock models verify {model}`, then delete {} and run `embedrock models pull {model}`", file.display(), dir.display())]
    Damaged {
        /// The model's name.
        model: String,
        /// The model directory.
        dir: PathBuf,
        /// The damaged file.
        file: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The model is not in the cache.
    #[error("model {name} is not installed (expected in {}): fetch it with `embedrock models pull {name}`", dir.display())]
    NotInstalled {
        /// The model's name.
        name: String,
        /// Where it would be.
        dir: PathBuf,
    },
    /// The request cannot be served by this model.
    #[error(transparent)]
    Request(#[from] embedrock_core::Error),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<Error> for embedrock_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Request(inner) => inner,
            Error::Cancelled(reason) => embedrock_core::Error::Cancelled(reason),
            other => embedrock_core::Error::backend(other.to_string(), other),
        }
    }
}
