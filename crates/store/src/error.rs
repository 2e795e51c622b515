//! The store's error type.

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the store. Each variant names what was asked and why
/// it cannot be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A collection was asked to hold vectors of another embedder.
    #[error("collection {collection} holds vectors of {holds}; this request uses {asked}")]
    IdentityMismatch {
        /// The collection.
        collection: String,
        /// What it holds.
        holds: Box<crate::Identity>,
        /// What was asked.
        asked: Box<crate::Identity>,
    },
    /// The input is not valid (a missing scope, an empty text, a page too large).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A collection or record that does not exist.
    #[error("no such {0}")]
    NotFound(String),
    /// The database failed (a locked file past the busy timeout, a full disk).
    #[error("store {path}: {source}")]
    Database {
        /// The store's file.
        path: String,
        /// What the database said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Stored data is not what the store wrote.
    #[error("the store holds damaged data: {0}")]
    Corrupt(String),
    /// The embedder failed or refused the texts.
    #[error("embedding failed: {0}")]
    Embedding(#[from] embedrock_core::Error),
    /// Any other failure of the backend.
    #[error("{0}")]
    Backend(String),
    /// A filter is not valid; `path` says where in the filter document.
    #[error("invalid filter at {path}: {message}")]
    InvalidFilter {
        /// Where in the filter, as a JSON-pointer-like path (`$.AND[1].age`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn db(
        path: &std::path::Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Database {
            path: path.display().to_string(),
            source: source.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn filter(path: &str, message: impl Into<String>) -> Self {
        Error::InvalidFilter {
            path: path.to_string(),
            message: message.into(),
        }
    }
}
