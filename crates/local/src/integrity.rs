//! Integrity of cached models: a quick check on every load and a full one on
//! demand.
//!
//! The quick check compares each file's size with the manifest and its
//! [`fingerprint`] — the sha256 of its size and of 16 evenly spaced 256 KiB
//! windows (the whole file when smaller than 4 MiB) — which costs about 4 MiB
//! of reading for any weights file. Damage that misses every window is left
//! to the full check, [`ModelFiles::verify`], which hashes every byte.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use embedrock_core::util::hex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::files::{published_checksums, read_manifest, write_manifest, FileEntry, ModelFiles};
use crate::{Error, Result};

const WINDOW: u64 = 256 << 10;
const WINDOWS: u64 = 16;

/// The quick fingerprint of a file: `v1:` and the sha256 of its size (8
/// bytes, little-endian) followed by 16 evenly spaced 256 KiB windows, the
/// first at the start and the last at the end; for files up to 4 MiB, of the
/// size and the whole file.
pub fn fingerprint(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut hasher = Sha256::new();
    hasher.update(size.to_le_bytes());
    if size <= WINDOW * WINDOWS {
        std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    } else {
        let mut buf = vec![0u8; WINDOW as usize];
        for i in 0..WINDOWS {
            let offset = (size - WINDOW) * i / (WINDOWS - 1);
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| Error::io(path, e))?;
            hasher.update(&buf);
        }
    }
    Ok(format!("v1:{}", hex(&hasher.finalize())))
}

/// The size and sha256 of a whole file.
pub(crate) fn full_sha256(path: &Path) -> Result<(u64, String)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok((size, hex(&hasher.finalize())))
}

/// The quick check run on every load of a directory that has a manifest:
/// every recorded file is present with its recorded size and fingerprint. A
/// manifest written before fingerprints existed gets a full sha256 check of
/// each file once, and the fingerprints are then recorded (when the cache is
/// writable). A directory without a manifest has nothing recorded and passes.
pub(crate) fn check_quick(dir: &Path, id: &str) -> Result<()> {
    let Some(mut manifest) = read_manifest(dir)? else {
        return Ok(());
    };
    let damaged = |file: &str, reason: String| Error::Damaged {
        model: if manifest.name.is_empty() {
            id
        } else {
            &manifest.name
        }
        .to_string(),
        dir: dir.to_path_buf(),
        file: dir.join(file),
        reason,
    };
    let mut upgraded = false;
    for entry in &mut manifest.files {
        let path = dir.join(&entry.path);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(_) => return Err(damaged(&entry.path, "the file is missing".into())),
        };
        if size != entry.size {
            return Err(damaged(
                &entry.path,
                format!("{size} bytes, the manifest records {}", entry.size),
            ));
        }
        match &entry.fingerprint {
            Some(recorded) => {
                if &fingerprint(&path)? != recorded {
                    return Err(damaged(
                        &entry.path,
                        "its contents differ from the fingerprint recorded when it was fetched"
                            .into(),
                    ));
                }
            }
            None => {
                let (_, sha256) = full_sha256(&path)?;
                if sha256 != entry.sha256 {
                    return Err(damaged(
                        &entry.path,
                        format!("sha256 {sha256}, the manifest records {}", entry.sha256),
                    ));
                }
                entry.fingerprint = Some(fingerprint(&path)?);
                upgraded = true;
            }
        }
    }
    if upgraded {
        // Best effort: a read-only cache is checked in full on every load.
        let _ = write_manifest(dir, &manifest);
    }
    Ok(())
}

/// What the full check found for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Size and sha256 as recorded.
    Ok,
    /// The file is gone.
    Missing,
    /// The size differs.
    SizeMismatch,
    /// The size is right, the contents are not.
    HashMismatch,
}

/// One file of a [`VerifyReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// Path inside the model directory.
    pub path: String,
    /// The verdict.
    pub status: FileStatus,
    /// The recorded size.
    pub expected_size: u64,
    /// The size on disk (absent when missing).
    pub actual_size: Option<u64>,
    /// The expected sha256: the published one for known models, else the
    /// one recorded at fetch time.
    pub expected_sha256: String,
    /// The sha256 on disk (absent when missing or of the wrong size).
    pub actual_sha256: Option<String>,
}

/// The result of [`ModelFiles::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The model's name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// One entry per file of the manifest.
    pub files: Vec<FileCheck>,
    /// Bytes read and hashed.
    pub bytes: u64,
}

impl VerifyReport {
    /// Whether every file is as recorded.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|f| f.status == FileStatus::Ok)
    }

    /// The files that are not.
    pub fn failures(&self) -> impl Iterator<Item = &FileCheck> {
        self.files.iter().filter(|f| f.status != FileStatus::Ok)
    }
}

fn check_file(dir: &Path, entry: &FileEntry, published: Option<&str>) -> Result<FileCheck> {
    let path = dir.join(&entry.path);
    let mut check = FileCheck {
        path: entry.path.clone(),
        status: FileStatus::Ok,
        expected_size: entry.size,
        actual_size: None,
        expected_sha256: published.unwrap_or(&entry.sha256).to_string(),
        actual_sha256: None,
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        check.status = FileStatus::Missing;
        return Ok(check);
    };
    check.actual_size = Some(meta.len());
    if meta.len() != entry.size {
        check.status = FileStatus::SizeMismatch;
        return Ok(check);
    }
    let (_, sha256) = full_sha256(&path)?;
    if sha256 != check.expected_sha256 || sha256 != entry.sha256 {
        check.status = FileStatus::HashMismatch;
    }
    check.actual_sha256 = Some(sha256);
    Ok(check)
}

impl ModelFiles {
    /// Checks every byte of an installed model against its manifest (and,
    /// for known models, against the published checksums): each file's size
    /// and full sha256. A damaged model is a report with failures, not an
    /// error; an error means the model is not installed or has no manifest.
    ///
    /// ```no_run
    /// use embedrock_local::ModelFiles;
    ///
    /// # fn run() -> Result<(), embedrock_local::Error> {
    /// let report = ModelFiles::from_env().verify("all-minilm-l6-v2")?;
    /// for f in report.failures() {
    ///     eprintln!("{}: {:?}", f.path, f.status);
    /// }
    /// println!("{} files, {} bytes, ok: {}", report.files.len(), report.bytes, report.is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn verify(&self, name: &str) -> Result<VerifyReport> {
        let dir = self.installed(name).ok_or_else(|| Error::NotInstalled {
            name: self.canonical_name(name),
            dir: self.model_dir(name),
        })?;
        let manifest = read_manifest(&dir)?.ok_or_else(|| Error::BadModelFile {
            path: dir.join(crate::files::MANIFEST),
            reason: "no manifest: the directory was not fetched into the cache, so nothing \
                     was recorded to verify against"
                .into(),
        })?;
        let published = published_checksums(&manifest.name);
        let mut files = Vec::with_capacity(manifest.files.len());
        let mut bytes = 0;
        for entry in &manifest.files {
            let known = published
                .iter()
                .find(|(f, _)| *f == entry.path)
                .map(|(_, s)| *s);
            let check = check_file(&dir, entry, known)?;
            if check.actual_sha256.is_some() {
                bytes += entry.size;
            }
            files.push(check);
        }
        Ok(VerifyReport {
            name: manifest.name,
            dir,
            files,
            bytes,
        })
    }
}
