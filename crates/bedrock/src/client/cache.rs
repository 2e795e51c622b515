//! A content-addressed cache of embeddings on disk, so a text is never paid
//! for twice.
//!
//! The key is the SHA-256 of the model, every request parameter that
//! changes the vector (input type, dimensions, normalisation, output types,
//! truncation) and the text. Each entry is one small JSON file written to a
//! temporary name and renamed into place: a reader sees a whole entry or
//! none, and several processes can fill the same cache at once (two writers
//! of one key write the same bytes; the last rename wins). An unreadable
//! entry is a miss.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use embedrock_core::{EmbedRequest, TypedEmbeddings};
use sha2::{Digest, Sha256};

/// One cached item: the vector, its token count and any quantised forms
/// (each a one-row [`TypedEmbeddings`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The float vector.
    pub vector: Vec<f32>,
    /// Input tokens the service counted for it.
    pub tokens: usize,
    /// Quantised forms, one row each.
    #[serde(default)]
    pub typed: TypedEmbeddings,
}

impl Entry {
    /// The entry of an embedded item.
    pub fn of(item: &super::Item) -> Self {
        Entry {
            vector: item.vector.clone(),
            tokens: item.tokens,
            typed: item.typed.clone(),
        }
    }
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of `text` under `model` with `request`'s parameters.
    pub fn key(model: &str, request: &EmbedRequest, over_long: &str, text: &str) -> String {
        let params = serde_json::json!({
            "v": 1,
            "model": model,
            "input_type": request.input_type.as_str(),
            "dimensions": request.dimensions,
            "normalize": request.normalize,
            "output_types": request.output_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "over_long": over_long,
        });
        let mut h = Sha256::new();
        h.update(params.to_string().as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
        embedrock_core::util::hex(&h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        let (a, b) = key.split_at(key.len().min(2));
        self.dir.join("v1").join(a).join(format!("{b}.json"))
    }

    /// The entry under `key`, if there is a readable one.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores `entry` under `key`.
    pub fn put(&self, key: &str, entry: &Entry) -> std::io::Result<()> {
        let path = self.path(key);
        let parent = path
            .parent()
            .ok_or_else(|| std::io::Error::other("cache path has no parent"))?;
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let write = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)
        })();
        if write.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_parameters_and_entries_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::new(dir.path());
        let r = EmbedRequest::new(["x"]);
        let k1 = Cache::key("amazon.titan-embed-text-v2:0", &r, "error", "hello");
        let k2 = Cache::key(
            "amazon.titan-embed-text-v2:0",
            &r.clone().with_dimensions(Some(256)),
            "error",
            "hello",
        );
        let k3 = Cache::key("amazon.titan-embed-text-v2:0", &r, "error", "hello!");
        assert_ne!(k1, k2);
        assert_ne!(k1, k3);
        assert_eq!(
            k1,
            Cache::key("amazon.titan-embed-text-v2:0", &r, "error", "hello")
        );
        assert!(c.get(&k1).is_none());
        let e = Entry {
            vector: vec![0.1, -0.2, 1.0 / 3.0],
            tokens: 2,
            typed: TypedEmbeddings::default(),
        };
        c.put(&k1, &e).unwrap();
        assert_eq!(c.get(&k1), Some(e));
        // A torn or foreign file is a miss, not an error.
        std::fs::write(c.path(&k2), b"{not json").ok();
        assert!(c.get(&k2).is_none());
    }
}
