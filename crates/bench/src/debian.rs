//! A real labelled set that every Debian-like machine has offline: package
//! descriptions.
//!
//! APT's `Translation-en` index (after `apt-get update -o
//! Acquire::Languages=en`) holds a short and a long description per package.
//! The short description is the query; its package's long description is the
//! one relevant document. Sibling packages (`foo`, `foo-data`, `libfoo-dev`)
//! share most of their long description, which would make the judgements
//! wrong, so near duplicates are removed before sampling: packages whose
//! long description opens with the same paragraph, or whose short
//! descriptions are the same once parentheses, case and punctuation are
//! ignored, keep only the first by name. Transitional and dummy packages and
//! very short descriptions are left out. The sample is drawn with a seed, so
//! the same index and seed give the same set.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::dataset::DatasetError;

/// Where APT keeps its indexes.
pub const APT_LISTS: &str = "/var/lib/apt/lists";
/// Largest decompressed index read (1 GiB).
pub const MAX_INDEX_BYTES: u64 = 1 << 30;
/// Most documents a built set may have.
pub const MAX_SIZE: usize = 100_000;

type Result<T> = std::result::Result<T, DatasetError>;

/// How to build the set.
#[derive(Debug, Clone)]
pub struct DebianOptions {
    /// Documents (and queries) in the set.
    pub size: usize,
    /// Seed of the sample.
    pub seed: u64,
    /// The `Translation-en` files to read; empty means every one under
    /// [`APT_LISTS`].
    pub sources: Vec<PathBuf>,
    /// Fewest words a long description needs.
    pub min_words: usize,
}

impl Default for DebianOptions {
    fn default() -> Self {
        DebianOptions {
            size: 3000,
            seed: 42,
            sources: Vec::new(),
            min_words: 20,
        }
    }
}

/// One package's descriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// The one-line description.
    pub short: String,
    /// The long description, paragraphs separated by a blank line.
    pub long: String,
}

/// What [`build`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// Packages read from the indexes (distinct names).
    pub packages: usize,
    /// Left out as transitional, dummy or too short.
    pub filtered: usize,
    /// Left out as near duplicates of another package.
    pub duplicates: usize,
    /// Packages eligible for the sample.
    pub eligible: usize,
    /// Documents written.
    pub documents: usize,
}

/// The `Translation-en` indexes under [`APT_LISTS`], sorted by name.
pub fn discover() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(APT_LISTS)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("_i18n_Translation-en"))
        })
        .collect();
    found.sort();
    found
}

/// Reads one index, decompressing it with APT's own `apt-helper cat-file`
/// when it is compressed (APT stores them as lz4, gz, xz or zst).
pub fn read_index(path: &Path) -> Result<String> {
    let io = |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let compressed = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("lz4" | "gz" | "xz" | "zst" | "bz2" | "lzma")
    );
    let mut bytes = Vec::new();
    if compressed {
        let mut child = Command::new("/usr/lib/apt/apt-helper")
            .arg("cat-file")
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                DatasetError::Invalid(format!(
                    "{} is compressed and APT's apt-helper could not be run to read it: {e}",
                    path.display()
                ))
            })?;
        if let Some(out) = child.stdout.take() {
            out.take(MAX_INDEX_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(io)?;
        }
        // Past the limit the rest is not read: stop the reader.
        let _ = child.kill();
        let status = child.wait().map_err(io)?;
        if bytes.len() as u64 <= MAX_INDEX_BYTES && !status.success() {
            return Err(DatasetError::Invalid(format!(
                "apt-helper could not decompress {} ({status})",
                path.display()
            )));
        }
    } else {
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_INDEX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    if bytes.len() as u64 > MAX_INDEX_BYTES {
        return Err(DatasetError::Invalid(format!(
            "{} is over {MAX_INDEX_BYTES} bytes decompressed",
            path.display()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| DatasetError::Invalid(format!("{} is not UTF-8 text", path.display())))
}

/// Parses a `Translation-en` index: stanzas of `Package:`,
/// `Description-md5:` and `Description-en:` (the short description), then the
/// long description on lines starting with a space (` .` is a blank line).
pub fn parse(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut short = None;
        let mut paragraphs: Vec<String> = vec![String::new()];
        let mut in_description = false;
        for line in stanza.lines() {
            if let Some(rest) = line.strip_prefix(' ') {
                if !in_description {
                    continue;
                }
                let rest = rest.trim();
                if rest == "." {
                    paragraphs.push(String::new());
                } else if let Some(last) = paragraphs.last_mut() {
                    if !last.is_empty() {
                        last.push(' ');
                    }
                    last.push_str(rest);
                }
                continue;
            }
            in_description = false;
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Description-en:") {
                short = Some(v.trim().to_string());
                in_description = true;
            }
        }
        let long = paragraphs
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        if let (Some(name), Some(short)) = (name, short) {
            if !name.is_empty() && !short.is_empty() && !long.is_empty() {
                packages.push(Package { name, short, long });
            }
        }
    }
    packages
}

/// Lower-case words of `text`, letters and digits only, parentheses dropped.
fn key(text: &str) -> String {
    let mut depth = 0usize;
    let mut kept = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => kept.push(if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }),
            _ => {}
        }
    }
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn eligible(p: &Package, min_words: usize) -> bool {
    let short = p.short.to_ascii_lowercase();
    !(short.contains("transitional")
        || short.contains("dummy package")
        || p.name.ends_with("-dbg")
        || p.name.ends_with("-dbgsym")
        || p.short.split_whitespace().count() < 3
        || p.long.split_whitespace().count() < min_words)
}

/// Keeps one package per distinct description: see the module's notes.
/// Returns the kept packages (sorted by name) and the numbers filtered and
/// removed as duplicates.
pub fn deduplicate(packages: Vec<Package>, min_words: usize) -> (Vec<Package>, usize, usize) {
    let mut by_name: BTreeMap<String, Package> = BTreeMap::new();
    for p in packages {
        by_name.entry(p.name.clone()).or_insert(p);
    }
    let mut filtered = 0;
    let mut duplicates = 0;
    let mut longs = HashSet::new();
    let mut shorts = HashSet::new();
    let mut kept = Vec::new();
    for p in by_name.into_values() {
        if !eligible(&p, min_words) {
            filtered += 1;
            continue;
        }
        let first_paragraph = key(p.long.split("\n\n").next().unwrap_or_default());
        let short = key(&p.short);
        if longs.contains(&first_paragraph) || shorts.contains(&short) {
            duplicates += 1;
            continue;
        }
        longs.insert(first_paragraph);
        shorts.insert(short);
        kept.push(p);
    }
    (kept, filtered, duplicates)
}

/// A small, fixed pseudo-random sequence (SplitMix64), so a seed gives the
/// same sample on every machine.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Draws `size` packages with `seed` (a seeded Fisher-Yates shuffle).
pub fn sample(mut packages: Vec<Package>, size: usize, seed: u64) -> Vec<Package> {
    let mut rng = SplitMix(seed);
    for i in (1..packages.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        packages.swap(i, j);
    }
    packages.truncate(size);
    packages
}

/// Builds a BEIR-format set in `out` (`corpus.jsonl`, `queries.jsonl`,
/// `qrels/test.tsv`, and `dataset.json` saying how it was made).
pub fn build(options: &DebianOptions, out: &Path) -> Result<Built> {
    if options.size == 0 || options.size > MAX_SIZE {
        return Err(DatasetError::Invalid(format!(
            "the size must be 1 to {MAX_SIZE}, not {}",
            options.size
        )));
    }
    let sources = if options.sources.is_empty() {
        discover()
    } else {
        options.sources.clone()
    };
    if sources.is_empty() {
        return Err(DatasetError::Invalid(format!(
            "no Translation-en index under {APT_LISTS}: run `apt-get update -o Acquire::Languages=en` first"
        )));
    }
    let mut packages = Vec::new();
    for path in &sources {
        packages.extend(parse(&read_index(path)?));
    }
    let distinct: HashSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let read = distinct.len();
    let (kept, filtered, duplicates) = deduplicate(packages, options.min_words);
    let eligible = kept.len();
    if eligible < options.size {
        return Err(DatasetError::Invalid(format!(
            "only {eligible} distinct packages are eligible, fewer than the {} asked for",
            options.size
        )));
    }
    let chosen = sample(kept, options.size, options.seed);
    write_set(out, &chosen, options, &sources)?;
    Ok(Built {
        packages: read,
        filtered,
        duplicates,
        eligible,
        documents: chosen.len(),
    })
}

fn write_set(
    out: &Path,
    chosen: &[Package],
    options: &DebianOptions,
    sources: &[PathBuf],
) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    let qrels_dir = out.join("qrels");
    std::fs::create_dir_all(&qrels_dir).map_err(io(&qrels_dir))?;
    let mut corpus = String::new();
    let mut queries = String::new();
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for p in chosen {
        let doc = json!({"_id": p.name, "title": "", "text": p.long});
        let query = json!({"_id": format!("q-{}", p.name), "text": p.short});
        corpus.push_str(&format!("{doc}\n"));
        queries.push_str(&format!("{query}\n"));
        qrels.push_str(&format!("q-{}\t{}\t1\n", p.name, p.name));
    }
    let about = json!({
        "source": "Debian package descriptions (APT Translation-en)",
        "indexes": sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "size": chosen.len(),
        "seed": options.seed,
        "min_words": options.min_words,
        "query": "the package's short description",
        "relevant": "the package's long description (one document per query)",
    });
    for (name, text) in [
        ("corpus.jsonl", corpus),
        ("queries.jsonl", queries),
        ("qrels/test.tsv", qrels),
        ("dataset.json", format!("{about:#}\n")),
    ] {
        let path = out.join(name);
        let mut file = std::fs::File::create(&path).map_err(io(&path))?;
        file.write_all(text.as_bytes()).map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "Package: 0ad\n\
Description-md5: d943033bedada21853d2ae54a2578a7b\n\
Description-en: Real-time strategy game of ancient warfare\n \
0 A.D. is a free, open-source real-time strategy game\n \
of ancient warfare.\n\n\
Package: 0ad-data\n\
Description-md5: 26581e685027d5ae84824362a4ba59ee\n\
Description-en: Real-time strategy game of ancient warfare (data files)\n \
0 A.D. is a free, open-source real-time strategy game\n \
of ancient warfare.\n .\n \
This package contains the main data files.\n\n\
Package: foo-transitional\n\
Description-en: transitional package for foo\n \
This is a transitional package and can be removed safely.\n\n\
Package: zsh\n\
Description-en: shell with lots of features\n \
Zsh is a UNIX command interpreter (shell) usable as an\n \
interactive login shell.\n";

    #[test]
    fn stanzas_parse_into_short_and_long_descriptions() {
        let packages = parse(INDEX);
        assert_eq!(packages.len(), 4);
        assert_eq!(packages[1].name, "0ad-data");
        assert_eq!(
            packages[1].short,
            "Real-time strategy game of ancient warfare (data files)"
        );
        assert_eq!(
            packages[1].long,
            "0 A.D. is a free, open-source real-time strategy game of ancient warfare.\n\n\
             This package contains the main data files."
        );
    }

    #[test]
    fn siblings_and_transitional_packages_are_left_out() {
        let (kept, filtered, duplicates) = deduplicate(parse(INDEX), 5);
        let names: Vec<&str> = kept.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["0ad", "zsh"]);
        assert_eq!((filtered, duplicates), (1, 1));
    }

    #[test]
    fn a_seed_gives_the_same_sample_and_another_seed_another() {
        let packages: Vec<Package> = (0..50)
            .map(|i| Package {
                name: format!("p{i}"),
                short: "s".into(),
                long: "l".into(),
            })
            .collect();
        let a = sample(packages.clone(), 10, 7);
        let b = sample(packages.clone(), 10, 7);
        let c = sample(packages, 10, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 10);
    }

    #[test]
    fn a_built_set_loads_as_a_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("Translation-en");
        std::fs::write(&index, INDEX).unwrap();
        let options = DebianOptions {
            size: 2,
            seed: 1,
            sources: vec![index],
            min_words: 5,
        };
        let out = dir.path().join("set");
        let built = build(&options, &out).unwrap();
        assert_eq!((built.packages, built.eligible, built.documents), (4, 2, 2));
        let set = crate::dataset::Dataset::load(&out, "test").unwrap();
        assert_eq!(set.corpus.len(), 2);
        assert_eq!(set.scored_queries().len(), 2);
        assert_eq!(set.qrels["q-zsh"]["zsh"], 1);
        let too_many = DebianOptions { size: 3, ..options };
        let err = build(&too_many, &out).unwrap_err().to_string();
        assert!(err.contains("only 2 distinct packages"), "{err}");
    }
}
