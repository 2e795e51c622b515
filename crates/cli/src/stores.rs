//! Opening the memory store a `--store` value names: `postgres://...` or
//! `postgresql://...` for PostgreSQL, else a SQLite file (`sqlite://` is
//! optional), by default `embedrock/store.db` under the user's data folder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use embedrock_store::{SqliteStore, VectorStore};

/// The store file a `--store` value names.
pub fn store_path(spec: Option<&str>) -> Result<PathBuf> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .context("no store given and neither XDG_DATA_HOME nor HOME is set")?;
        return Ok(data.join("embedrock").join("store.db"));
    };
    Ok(PathBuf::from(
        spec.strip_prefix("sqlite://").unwrap_or(spec),
    ))
}

/// Opens the store a `--store` value names: `postgres://...` or
/// `postgresql://...` for PostgreSQL, else a SQLite file.
pub fn open_store_at(spec: Option<&str>) -> Result<Arc<dyn VectorStore>> {
    if let Some(url) =
        spec.filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
    {
        // Messages name the server without its password.
        return Ok(Arc::new(embedrock_store::PgStore::open(url)?));
    }
    let path = store_path(spec)?;
    Ok(Arc::new(SqliteStore::open(&path).with_context(|| {
        format!("opening the memory store {}", path.display())
    })?))
}
