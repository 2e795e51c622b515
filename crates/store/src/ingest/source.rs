//! Where ingested text comes from: files, directories walked with a glob,
//! and http(s) URLs. Every limit is checked before the bytes it guards are
//! read: a directory's file count and total size from the walk, a file's
//! size from its metadata, a response's size from its header and again
//! while it streams.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use embedrock_core::util::redact_url;
use globset::{Glob, GlobMatcher};

use super::extract::{extract_bytes, Format, DEFAULT_GLOB};
use crate::{Error, Result};

/// Something to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, or a directory walked recursively for the files `glob`
    /// matches (relative to the directory; by default every text, Markdown,
    /// HTML and PDF file).
    Path {
        /// The file or directory.
        path: PathBuf,
        /// For a directory: which files, as a glob such as `**/*.md`
        /// (a file given directly is read whatever its name).
        glob: Option<String>,
    },
    /// An http or https URL.
    Url(String),
}

impl Source {
    /// A file or directory with no glob.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Source::Path {
            path: path.into(),
            glob: None,
        }
    }

    /// How reports and records name it (a URL with its password hidden).
    pub fn label(&self) -> String {
        match self {
            Source::Path { path, .. } => path.display().to_string(),
            Source::Url(url) => redact_url(url),
        }
    }
}

/// Bounds on what one ingest reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Files one directory may contribute.
    pub max_files: usize,
    /// Bytes of one file or one response.
    pub max_file_bytes: u64,
    /// Bytes of all the files of one directory.
    pub max_total_bytes: u64,
    /// Directory entries looked at while walking one directory.
    pub max_entries: usize,
    /// Directory levels below the one given.
    pub max_depth: usize,
    /// Time for one URL, from connecting to the last byte.
    pub url_timeout: Duration,
    /// Redirects one URL may follow.
    pub max_redirects: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 10_000,
            max_file_bytes: 10 << 20,
            max_total_bytes: 200 << 20,
            max_entries: 200_000,
            max_depth: 64,
            url_timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// One file or URL to load, or why a source gave nothing to load.
#[derive(Debug)]
pub(crate) enum Pending {
    File(PathBuf),
    Url(String),
    Failed(String, Error),
}

impl Pending {
    pub(crate) fn label(&self) -> String {
        match self {
            Pending::File(p) => p.display().to_string(),
            Pending::Url(u) => redact_url(u),
            Pending::Failed(label, _) => label.clone(),
        }
    }
}

/// The files and URLs `source` stands for. A directory that breaks a limit
/// stands for one failure naming the limit, and nothing of it is read.
pub(crate) fn expand(source: &Source, limits: &Limits) -> Vec<Pending> {
    match source {
        Source::Url(url) => vec![Pending::Url(url.clone())],
        Source::Path { path, glob } => match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => match walk(path, glob.as_deref(), limits) {
                Ok(files) => files.into_iter().map(Pending::File).collect(),
                Err(e) => vec![Pending::Failed(source.label(), e)],
            },
            Ok(_) => vec![Pending::File(path.clone())],
            Err(e) => vec![Pending::Failed(source.label(), Error::io(path, e))],
        },
    }
}

/// The files under `root` that `glob` matches, in path order. Symbolic
/// links are followed, each directory is entered once (so link loops end),
/// and the walk stops with an error at any limit.
fn walk(root: &Path, glob: Option<&str>, limits: &Limits) -> Result<Vec<PathBuf>> {
    let matcher = check_glob(glob.unwrap_or(DEFAULT_GLOB))?;
    let mut seen = HashSet::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let (mut files, mut entries, mut total) = (Vec::new(), 0usize, 0u64);
    while let Some((dir, depth)) = stack.pop() {
        let real = dir.canonicalize().map_err(|e| Error::io(&dir, e))?;
        if !seen.insert(real) {
            continue;
        }
        let mut children: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            entries += 1;
            if entries > limits.max_entries {
                return Err(Error::InvalidInput(format!(
                    "{} has more than {} entries to look at",
                    root.display(),
                    limits.max_entries
                )));
            }
            children.push(entry.map_err(|e| Error::io(&dir, e))?.path());
        }
        children.sort();
        for child in children.into_iter().rev() {
            let Ok(meta) = std::fs::metadata(&child) else {
                continue; // a dangling link: nothing to read
            };
            if meta.is_dir() {
                if depth + 1 > limits.max_depth {
                    return Err(Error::InvalidInput(format!(
                        "{} is nested deeper than {} levels",
                        root.display(),
                        limits.max_depth
                    )));
                }
                stack.push((child, depth + 1));
                continue;
            }
            let rel = child.strip_prefix(root).unwrap_or(&child);
            if !meta.is_file() || !matcher.is_match(rel) {
                continue;
            }
            total += meta.len();
            files.push(child);
            check_walk(root, files.len(), total, limits)?;
        }
    }
    files.sort();
    Ok(files)
}

/// The glob compiled, or an error naming it.
pub(crate) fn check_glob(pattern: &str) -> Result<GlobMatcher> {
    if pattern.len() > 1024 {
        return Err(Error::InvalidInput("a glob is at most 1024 bytes".into()));
    }
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::InvalidInput(format!("glob {pattern:?}: {e}")))
}

fn check_walk(root: &Path, files: usize, total: u64, limits: &Limits) -> Result<()> {
    if files > limits.max_files {
        return Err(Error::InvalidInput(format!(
            "{} has more than {} matching files",
            root.display(),
            limits.max_files
        )));
    }
    if total > limits.max_total_bytes {
        return Err(Error::InvalidInput(format!(
            "the matching files of {} hold more than {} bytes",
            root.display(),
            limits.max_total_bytes
        )));
    }
    Ok(())
}

/// A file's extracted text. Its type and size are checked before it is read.
pub(crate) fn load_file(path: &Path, limits: &Limits) -> Result<String> {
    let label = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str());
    let format = Format::from_extension(&label, ext)?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::InvalidInput(format!("{label} is not a file")));
    }
    if meta.len() > limits.max_file_bytes {
        return Err(too_large(&label, limits.max_file_bytes));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large(&label, limits.max_file_bytes));
    }
    extract_bytes(&label, format, &bytes)
}

fn too_large(label: &str, max: u64) -> Error {
    Error::InvalidInput(format!("{label} is larger than the limit of {max} bytes"))
}

/// A URL's extracted text: fetched with a timeout and a bounded number of
/// redirects; any status but 200 is an error; the body is refused when its
/// announced length, or the bytes received, pass the limit.
pub(crate) fn fetch_url(url: &str, limits: &Limits) -> Result<String> {
    let label = redact_url(url);
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(Error::InvalidInput(format!(
            "{label}: only http and https URLs can be fetched"
        )));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(limits.url_timeout))
        .max_redirects(limits.max_redirects)
        .http_status_as_error(false)
        .build()
        .into();
    let failed = |reason: String| Error::Backend(format!("fetching {label}: {reason}"));
    let mut resp = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(failed(format!("HTTP status {status}")));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type");
    let announced = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limits.max_file_bytes) {
        return Err(too_large(&label, limits.max_file_bytes));
    }
    let path_ext = url_extension(url);
    let format = Format::from_content_type(&label, content_type.as_deref(), path_ext.as_deref())?;
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(limits.max_file_bytes)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => too_large(&label, limits.max_file_bytes),
            other => failed(other.to_string()),
        })?;
    extract_bytes(&label, format, &bytes)
}

/// The extension of a URL's last path segment.
fn url_extension(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let (_, path) = path.split_once('/')?;
    let last = path.rsplit('/').next()?;
    let (_, ext) = last.rsplit_once('.')?;
    Some(ext.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_extensions() {
        assert_eq!(url_extension("http://h/a/b.md?x=1").as_deref(), Some("md"));
        assert_eq!(url_extension("https://h.example.com"), None);
        assert_eq!(url_extension("http://h/dir.d/file"), None);
    }

    #[test]
    fn walks_with_a_glob_and_survives_link_loops() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("top.md"), "x").unwrap();
        std::fs::write(root.join("a/b/deep.md"), "y").unwrap();
        std::fs::write(root.join("a/skip.txt"), "z").unwrap();
        std::os::unix::fs::symlink(root, root.join("a/b/loop")).unwrap();
        let got = walk(root, Some("**/*.md"), &Limits::default()).unwrap();
        let rel: Vec<_> = got
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(rel, [PathBuf::from("a/b/deep.md"), PathBuf::from("top.md")]);
        let few = Limits {
            max_files: 1,
            ..Limits::default()
        };
        let err = walk(root, None, &few).unwrap_err().to_string();
        assert!(err.contains("more than 1 matching files"), "{err}");
        let small = Limits {
            max_total_bytes: 1,
            ..Limits::default()
        };
        assert!(walk(root, None, &small).is_err());
    }
}
