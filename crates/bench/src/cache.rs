//! Embeddings kept on disk, so each text is embedded once per model and
//! parameters and an interrupted run resumes where it stopped.
//!
//! One append-only file per model, dimensions, normalisation and input type
//! (`<model>-<hash>.vectors`), of records: the text's SHA-256 (32 bytes),
//! its token count and the vector's length (`u32` little-endian each), then
//! the vector (`f32` little-endian). Records are appended and flushed after
//! every embedding call; a record cut short by a crash is dropped (and the
//! file cut back to its last whole record) when the file is next opened.
//!
//! Beside each, a call log (`<model>-<hash>.calls`, one line per embedding
//! call: latency, wall time, texts, tokens) keeps the speed of every call made
//! for those vectors, so a resumed run still reports the speed of the whole
//! pass.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Longest vector a record may hold.
pub const MAX_DIMENSIONS: usize = 65_536;

/// The SHA-256 of a text.
pub type Key = [u8; 32];

/// The key of a text.
pub fn key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

/// One cached embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Tokens the model counted.
    pub tokens: u32,
    /// The vector.
    pub vector: Vec<f32>,
}

/// The cache file of one model, parameters and input type.
pub struct Cache {
    path: PathBuf,
    writer: BufWriter<File>,
}

/// A readable file name for `identity` that no other identity shares.
pub fn file_name(identity: &str) -> String {
    format!("{}.vectors", stem(identity))
}

fn stem(identity: &str) -> String {
    let slug: String = identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let hash = embedrock_core::util::hex(&Sha256::digest(identity.as_bytes())[..6]);
    format!("{slug}-{hash}")
}

/// One embedding call, as the call log keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Call {
    /// From sending the call to its answer, in milliseconds.
    pub latency_ms: f64,
    /// Wall time the pass spent up to this answer since the previous one, in
    /// milliseconds (calls overlap when several are in flight).
    pub wall_ms: f64,
    /// Texts in the call.
    pub texts: u64,
    /// Tokens the model counted for them.
    pub tokens: u64,
}

/// The call log of one model, parameters and input type.
pub struct CallLog {
    file: File,
}

impl CallLog {
    /// Opens (or creates) the log of `identity` in `dir` and reads its calls;
    /// a line cut short by an interruption is ignored.
    pub fn open(dir: &Path, identity: &str) -> std::io::Result<(CallLog, Vec<Call>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.calls", stem(identity)));
        let mut calls = Vec::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                let f: Vec<f64> = line
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if let [latency_ms, wall_ms, texts, tokens] = f[..] {
                    calls.push(Call {
                        latency_ms,
                        wall_ms,
                        texts: texts as u64,
                        tokens: tokens as u64,
                    });
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((CallLog { file }, calls))
    }

    /// Appends one call.
    pub fn append(&mut self, call: &Call) -> std::io::Result<()> {
        // A torn line from an earlier interruption ends here; start afresh.
        let line = format!(
            "\n{:.3} {:.3} {} {}\n",
            call.latency_ms, call.wall_ms, call.texts, call.tokens
        );
        self.file.write_all(line.as_bytes())
    }
}

impl Cache {
    /// Opens (or creates) the cache of `identity` in `dir` and reads the
    /// entries whose keys are in `wanted`.
    pub fn open(
        dir: &Path,
        identity: &str,
        wanted: &HashSet<Key>,
    ) -> std::io::Result<(Cache, HashMap<Key, Entry>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(file_name(identity));
        let (found, whole) = if path.exists() {
            read(&path, wanted)?
        } else {
            (HashMap::new(), 0)
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        if file.metadata()?.len() != whole {
            // A record cut short by an interruption: drop it.
            file.set_len(whole)?;
        }
        Ok((
            Cache {
                path,
                writer: BufWriter::new(file),
            },
            found,
        ))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends entries and flushes them to the file.
    pub fn append<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a Key, u32, &'a [f32])>,
    ) -> std::io::Result<()> {
        for (key, tokens, vector) in entries {
            self.writer.write_all(key)?;
            self.writer.write_all(&tokens.to_le_bytes())?;
            self.writer
                .write_all(&(vector.len() as u32).to_le_bytes())?;
            for x in vector {
                self.writer.write_all(&x.to_le_bytes())?;
            }
        }
        self.writer.flush()
    }
}

/// Reads the whole records of `path`; returns the wanted entries and the
/// length of the file's whole records.
fn read(path: &Path, wanted: &HashSet<Key>) -> std::io::Result<(HashMap<Key, Entry>, u64)> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut found = HashMap::new();
    let mut whole = 0u64;
    let mut head = [0u8; 40];
    loop {
        if read_full(&mut reader, &mut head)? < head.len() {
            break;
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&head[..32]);
        let tokens = u32::from_le_bytes([head[32], head[33], head[34], head[35]]);
        let dims = u32::from_le_bytes([head[36], head[37], head[38], head[39]]) as usize;
        if dims > MAX_DIMENSIONS {
            // Not a record this code wrote: keep what came before it.
            break;
        }
        let mut body = vec![0u8; dims * 4];
        if read_full(&mut reader, &mut body)? < body.len() {
            break;
        }
        whole += (head.len() + body.len()) as u64;
        if wanted.contains(&key) {
            let vector = body
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            found.insert(key, Entry { tokens, vector });
        }
    }
    Ok((found, whole))
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (key("a"), key("b"), key("c"));
        let wanted: HashSet<Key> = [a, b, c].into();
        let (mut cache, found) = Cache::open(dir.path(), "m|384|doc", &wanted).unwrap();
        assert!(found.is_empty());
        cache
            .append([(&a, 3, &[1.0f32, 2.0][..]), (&b, 4, &[3.0f32, 4.0][..])].into_iter())
            .unwrap();
        let path = cache.path().to_path_buf();
        drop(cache);
        // A third record cut short, as a crash mid-write leaves it.
        let mut torn = c.to_vec();
        torn.extend_from_slice(&5u32.to_le_bytes());
        torn.extend_from_slice(&2u32.to_le_bytes());
        torn.extend_from_slice(&1.0f32.to_le_bytes());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn).unwrap();
        drop(file);

        let only_a: HashSet<Key> = [a, c].into();
        let (mut cache, found) = Cache::open(dir.path(), "m|384|doc", &only_a).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[&a],
            Entry {
                tokens: 3,
                vector: vec![1.0, 2.0]
            }
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * (40 + 8));
        cache
            .append([(&c, 5, &[7.0f32, 8.0][..])].into_iter())
            .unwrap();
        drop(cache);
        let (_, found) = Cache::open(dir.path(), "m|384|doc", &wanted).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[&c].vector, vec![7.0, 8.0]);
    }

    #[test]
    fn the_call_log_reads_back_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, calls) = CallLog::open(dir.path(), "m").unwrap();
        assert!(calls.is_empty());
        let call = Call {
            latency_ms: 12.5,
            wall_ms: 13.0,
            texts: 8,
            tokens: 120,
        };
        log.append(&call).unwrap();
        drop(log);
        let path = dir.path().join(format!("{}.calls", stem("m")));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"4.0 5.").unwrap();
        drop(f);
        let (mut log, calls) = CallLog::open(dir.path(), "m").unwrap();
        assert_eq!(calls, vec![call]);
        log.append(&call).unwrap();
        let (_, calls) = CallLog::open(dir.path(), "m").unwrap();
        assert_eq!(calls, vec![call, call]);
    }

    #[test]
    fn identities_get_their_own_files() {
        assert_ne!(file_name("m|256|query"), file_name("m|256|document"));
        assert!(file_name("amazon.titan-embed-text-v2:0|256").starts_with("amazon.titan"));
    }
}
