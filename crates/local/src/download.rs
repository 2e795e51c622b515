//! Atomic, checked downloads: a URL or a reader into a file with a size
//! limit and a sha256 check, written beside its destination and renamed into
//! place; and a directory staged whole, then renamed into place.
//!
//! Whatever fails midway leaves nothing at the destination: a reader of the
//! destination sees either nothing or the complete, checked file.
//!
//! ```no_run
//! use embedrock_local::download::{fetch_url, Limits};
//! use embedrock_local::NoProgress;
//!
//! # fn run() -> Result<(), embedrock_local::Error> {
//! let entry = fetch_url(
//!     "https://example.com/data/queries.jsonl",
//!     std::path::Path::new("/tmp/queries.jsonl"),
//!     &Limits::new(64 << 20).with_sha256("0123abcd..."),
//!     &NoProgress,
//! )?;
//! println!("{} bytes, sha256 {}", entry.size, entry.sha256);
//! # Ok(())
//! # }
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use embedrock_core::util::{hex, redact_url};
use sha2::{Digest, Sha256};

use crate::files::{FileEntry, Progress};
use crate::{Error, Result};

/// What a fetched file must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes accepted; a larger file is refused (before the
    /// transfer when the size is announced, else as soon as it is passed).
    pub max_bytes: u64,
    /// The expected sha256 (lower-case hex), when published.
    pub sha256: Option<String>,
    /// A bearer token sent with HTTP requests (never printed).
    pub bearer: Option<String>,
}

impl Limits {
    /// At most `max_bytes`, no checksum, no token.
    pub fn new(max_bytes: u64) -> Self {
        Limits {
            max_bytes,
            sha256: None,
            bearer: None,
        }
    }

    /// Requires this sha256.
    pub fn with_sha256(mut self, sha256: impl Into<String>) -> Self {
        self.sha256 = Some(sha256.into().to_ascii_lowercase());
        self
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn with_bearer(mut self, token: Option<String>) -> Self {
        self.bearer = token;
        self
    }
}

/// A staging path beside `dest`, unique to this process and moment.
fn staging_path(dest: &Path, tag: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dest.with_file_name(format!(".{tag}-{name}-{}-{nanos}", std::process::id()))
}

/// Copies `reader` into `dest` atomically: written and synced beside it,
/// hashed as it goes, checked against `limits`, then renamed into place.
/// `label` names the content in errors and is the returned entry's `path`.
pub fn copy_to_file(
    reader: impl Read,
    dest: &Path,
    label: &str,
    limits: &Limits,
    progress: &dyn Progress,
) -> Result<FileEntry> {
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let partial = staging_path(dest, "partial");
    let result = write_checked(reader, &partial, label, limits, progress).and_then(|entry| {
        std::fs::rename(&partial, dest).map_err(|e| Error::io(dest, e))?;
        Ok(entry)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Streams `reader` into a new file at `path`, enforcing the size limit and
/// the checksum; the file is synced before this returns.
pub(crate) fn write_checked(
    mut reader: impl Read,
    path: &Path,
    label: &str,
    limits: &Limits,
    progress: &dyn Progress,
) -> Result<FileEntry> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut out = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| Error::Fetch {
            what: label.into(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > limits.max_bytes {
            return Err(too_large(label, limits.max_bytes));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(path, e))?;
        progress.advance(n as u64);
    }
    out.sync_all().map_err(|e| Error::io(path, e))?;
    let sha256 = hex(&hasher.finalize());
    if let Some(expected) = &limits.sha256 {
        if &sha256 != expected {
            return Err(Error::Checksum {
                file: label.into(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
    }
    Ok(FileEntry {
        path: label.into(),
        size,
        sha256,
        fingerprint: None,
    })
}

fn too_large(label: &str, max: u64) -> Error {
    Error::Fetch {
        what: label.into(),
        reason: format!("larger than the limit of {max} bytes"),
    }
}

/// An HTTP agent with connect and response timeouts; statuses are returned,
/// not raised, so the caller can name them.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Outcome of [`get`]: the response, or the HTTP status when it was not 200.
pub(crate) enum Got {
    /// Status 200.
    Body(ureq::http::Response<ureq::Body>),
    /// Any other status.
    Status(u16),
}

/// Sends a GET (with the bearer token of `limits`, if any).
pub(crate) fn get(agent: &ureq::Agent, url: &str, limits: &Limits) -> Result<Got> {
    let mut req = agent.get(url);
    if let Some(t) = &limits.bearer {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let resp = req.call().map_err(|e| Error::Fetch {
        what: redact_url(url),
        reason: e.to_string(),
    })?;
    match resp.status().as_u16() {
        200 => Ok(Got::Body(resp)),
        status => Ok(Got::Status(status)),
    }
}

/// Streams a 200 response into `dest` atomically (see [`copy_to_file`]),
/// refusing it up front when its announced length is over the limit.
pub(crate) fn save_response(
    mut resp: ureq::http::Response<ureq::Body>,
    dest: &Path,
    label: &str,
    limits: &Limits,
    progress: &dyn Progress,
) -> Result<FileEntry> {
    let total: Option<u64> = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if total.is_some_and(|t| t > limits.max_bytes) {
        return Err(too_large(label, limits.max_bytes));
    }
    progress.begin(label, total);
    let reader = resp
        .body_mut()
        .with_config()
        .limit(limits.max_bytes.saturating_add(1))
        .reader();
    let result = copy_to_file(reader, dest, label, limits, progress);
    progress.end();
    result
}

/// Fetches `url` into `dest` atomically: the announced size and the bytes
/// received are held to `limits.max_bytes`, the sha256 is checked when
/// given, and `dest` appears only once the whole file is checked. The URL is
/// printed in errors with any user information redacted. The returned
/// entry's `path` is `dest`'s file name.
pub fn fetch_url(
    url: &str,
    dest: &Path,
    limits: &Limits,
    progress: &dyn Progress,
) -> Result<FileEntry> {
    let label = redact_url(url);
    match get(&agent(), url, limits)? {
        Got::Body(resp) => {
            let mut entry = save_response(resp, dest, &label, limits, progress)?;
            entry.path = dest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(entry)
        }
        Got::Status(status) => Err(Error::Fetch {
            what: label,
            reason: format!("HTTP status {status}"),
        }),
    }
}

/// A directory being filled beside its final place; removed on drop unless
/// [`StagedDir::commit`] renamed it into place.
///
/// ```
/// use embedrock_local::download::StagedDir;
///
/// let root = tempfile::tempdir().unwrap();
/// let target = root.path().join("dataset");
/// let staged = StagedDir::new(&target).unwrap();
/// std::fs::write(staged.path().join("a.txt"), "a").unwrap();
/// assert!(!target.exists());
/// staged.commit().unwrap();
/// assert!(target.join("a.txt").is_file());
/// ```
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Creates an empty staging directory beside `target`.
    pub fn new(target: &Path) -> Result<Self> {
        let staging = staging_path(target, "staging");
        std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        Ok(StagedDir {
            staging,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Where to write the files.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final place.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the staging directory into place. If the target already
    /// exists, nothing is replaced: the staged copy is dropped and
    /// [`Committed::AlreadyThere`] says so.
    pub fn commit(mut self) -> Result<Committed> {
        if self.target.exists() {
            return Ok(Committed::AlreadyThere);
        }
        match std::fs::rename(&self.staging, &self.target) {
            Ok(()) => {
                self.committed = true;
                Ok(Committed::Renamed)
            }
            // Another process renamed its copy in first.
            Err(_) if self.target.exists() => Ok(Committed::AlreadyThere),
            Err(e) => Err(Error::io(&self.target, e)),
        }
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// What [`StagedDir::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The staged directory is now the target.
    Renamed,
    /// The target existed already and was kept; the staged copy is gone.
    AlreadyThere,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;

    #[test]
    fn copy_is_checked_limited_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/data.bin");
        let data = b"hello, checked world";
        let want = hex(&Sha256::digest(data));
        let entry = copy_to_file(
            &data[..],
            &dest,
            "data",
            &Limits::new(100).with_sha256(want.to_uppercase()),
            &NoProgress,
        )
        .unwrap();
        assert_eq!((entry.size, entry.sha256.as_str()), (20, want.as_str()));
        assert_eq!(std::fs::read(&dest).unwrap(), data);

        let other = dir.path().join("other.bin");
        let err =
            copy_to_file(&data[..], &other, "data", &Limits::new(10), &NoProgress).unwrap_err();
        assert!(err.to_string().contains("limit of 10 bytes"), "{err}");
        let err = copy_to_file(
            &data[..],
            &other,
            "data",
            &Limits::new(100).with_sha256("00"),
            &NoProgress,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        // Neither failure left a file or a partial one behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["sub".to_string()]);
    }

    #[test]
    fn staged_dir_is_removed_unless_committed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("t");
        let staged = StagedDir::new(&target).unwrap();
        let staging = staged.path().to_path_buf();
        std::fs::write(staging.join("x"), "x").unwrap();
        drop(staged);
        assert!(!staging.exists() && !target.exists());

        let first = StagedDir::new(&target).unwrap();
        let second = StagedDir::new(&target).unwrap();
        std::fs::write(first.path().join("x"), "1").unwrap();
        std::fs::write(second.path().join("x"), "2").unwrap();
        assert_eq!(first.commit().unwrap(), Committed::Renamed);
        assert_eq!(second.commit().unwrap(), Committed::AlreadyThere);
        assert_eq!(std::fs::read_to_string(target.join("x")).unwrap(), "1");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
