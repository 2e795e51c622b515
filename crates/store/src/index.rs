//! The approximate index of the embedded store: an HNSW graph (the
//! `hnsw_rs` crate) over a collection's unit vectors, persisted beside the
//! SQLite file and kept in step with the collection.
//!
//! The graph knows its vectors by *slot*; each slot remembers the record id
//! and a fingerprint of the vector it was built from. When the collection
//! changes (its `version` moves, in this process or another), the index is
//! bound again to the current rows: rows whose id and fingerprint match a
//! slot keep it, new or changed rows are inserted as new slots, and slots
//! with no current row are dead and filtered out of every search. Once a
//! quarter of the slots are dead the graph is rebuilt. The graph is saved
//! after a build and whenever enough slots are not yet on disk, so another
//! process opens it instead of building it again.
//!
//! Files, in the directory `<store file>.hnsw/`: `<collection>.meta.json`
//! (the identity, the slots, and the base name of the graph files) and
//! `<base>.hnsw.graph` / `<base>.hnsw.data` as `hnsw_rs` writes them. The
//! meta file is replaced atomically (write then rename) and names the graph
//! files it belongs to, so a reader never pairs a meta file with another
//! process's half-written graph.
//!
//! Searches do not go through `hnsw_rs`: each bound index carries a flat
//! copy of the graph's links ([`crate::graph`]), taken again whenever the
//! graph gains slots.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use hnsw_rs::api::AnnT;
use hnsw_rs::prelude::{Distance, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};

use crate::graph::{FlatGraph, Vectors};
use crate::{Error, Result};

/// How a graph is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbours kept per node (twice that on the bottom layer), 4 to 128.
    pub m: usize,
    /// The candidate list while building, 8 to 2,000: larger builds slower
    /// and finds more.
    pub ef_construction: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 32,
            ef_construction: 100,
        }
    }
}

impl HnswParams {
    /// The parameters, or an error naming the one out of range.
    pub fn checked(self) -> Result<Self> {
        if !(4..=128).contains(&self.m) {
            return Err(Error::InvalidInput(format!(
                "HNSW m is 4 to 128, not {}",
                self.m
            )));
        }
        if !(8..=2_000).contains(&self.ef_construction) {
            return Err(Error::InvalidInput(format!(
                "HNSW ef_construction is 8 to 2000, not {}",
                self.ef_construction
            )));
        }
        Ok(self)
    }
}
/// Layers at most.
const MAX_LAYERS: usize = 16;
/// The graph is rebuilt once this fraction of its slots is dead.
const REBUILD_DEAD_FRACTION: f64 = 0.25;

/// `1 - a·b`, never below zero: the cosine distance of unit vectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct DotDistance;

impl Distance<f32> for DotDistance {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - (embedrock_core::kernels::detect().dot_f32)(va, vb)).max(0.0)
    }
}

/// A fingerprint of a vector's exact bits (FNV-1a over its words).
pub fn fingerprint(v: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in v {
        h ^= x.to_bits() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What a slot was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SlotKey {
    id: String,
    print: u64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    identity: String,
    dims: usize,
    basename: String,
    slots: Vec<SlotKey>,
    /// Size and hash of each graph file as written, checked before the
    /// files are read: a damaged file is never handed to the reader.
    #[serde(default)]
    files: Vec<FileCheck>,
}

/// What a saved file held when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileCheck {
    name: String,
    len: u64,
    hash: u64,
}

impl FileCheck {
    /// Reads `dir/name` and hashes it (FNV-1a over 64-bit words).
    fn of(dir: &Path, name: &str) -> Result<FileCheck> {
        use std::io::Read;
        let path = dir.join(name);
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        let (mut len, mut hash) = (0u64, 0xcbf2_9ce4_8422_2325u64);
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(&path, e))?;
            if n == 0 {
                break;
            }
            len += n as u64;
            for chunk in buf[..n].chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                hash ^= u64::from_le_bytes(word);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Ok(FileCheck {
            name: name.to_string(),
            len,
            hash,
        })
    }

    /// Whether the file is still what was written.
    fn holds(&self, dir: &Path) -> bool {
        let quick = std::fs::metadata(dir.join(&self.name)).is_ok_and(|m| m.len() == self.len);
        quick && FileCheck::of(dir, &self.name).is_ok_and(|now| now == *self)
    }
}

fn graph_files(basename: &str) -> [String; 2] {
    ["hnsw.graph", "hnsw.data"].map(|ext| format!("{basename}.{ext}"))
}

/// The current rows of a collection, as the index sees them.
pub struct Rows<'a> {
    /// Record ids, in row order.
    pub ids: Vec<&'a str>,
    /// Row-major vectors.
    pub matrix: &'a [f32],
    /// Floats a row.
    pub dims: usize,
    /// The collection's identity, as JSON: an index built under another is
    /// never used.
    pub identity: &'a str,
}

impl Rows<'_> {
    fn vector(&self, row: usize) -> &[f32] {
        &self.matrix[row * self.dims..(row + 1) * self.dims]
    }
}

/// An HNSW graph and what its slots hold.
pub struct AnnIndex {
    hnsw: Hnsw<'static, f32, DotDistance>,
    identity: String,
    dims: usize,
    slots: RwLock<Vec<SlotKey>>,
    saved: AtomicUsize,
    /// The flat copy of the links searches use, while it covers every slot.
    flat: RwLock<Option<std::sync::Arc<FlatGraph>>>,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex")
            .field("dims", &self.dims)
            .field("slots", &self.slot_count())
            .finish()
    }
}

/// An index bound to one version of a collection: which row each slot is.
#[derive(Debug)]
pub struct Bound {
    /// The collection version it was bound at.
    pub version: i64,
    /// The graph.
    pub index: std::sync::Arc<AnnIndex>,
    /// Slot to row; `u32::MAX` for a dead slot.
    pub slot_row: Vec<u32>,
    /// How many slots are dead.
    pub dead: usize,
    /// The graph's links as searches read them.
    pub graph: std::sync::Arc<FlatGraph>,
}

impl Bound {
    /// Up to `k` slots nearest `query` among those `admit` lets through,
    /// with their distances (`1 - dot`), nearest first; `ef` is the
    /// search's candidate list. `matrix` holds the rows of the version the
    /// index is bound to, `dims` floats each.
    pub fn search(
        &self,
        (matrix, dims): (&[f32], usize),
        dot: fn(&[f32], &[f32]) -> f32,
        query: &[f32],
        k: usize,
        ef: usize,
        admit: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let vectors = Vectors {
            matrix,
            dims,
            slot_row: &self.slot_row,
        };
        self.graph.search(&vectors, dot, query, k, ef, admit)
    }
}

impl AnnIndex {
    fn empty(rows: usize, dims: usize, identity: &str, params: HnswParams) -> Self {
        AnnIndex {
            hnsw: Hnsw::new(
                params.m,
                rows.max(1),
                MAX_LAYERS,
                params.ef_construction,
                DotDistance,
            ),
            identity: identity.to_string(),
            dims,
            slots: RwLock::new(Vec::new()),
            saved: AtomicUsize::new(0),
            flat: RwLock::new(None),
        }
    }

    /// The flat copy of the links, taken again when slots were added
    /// since the last one.
    pub fn flat_graph(&self) -> std::sync::Arc<FlatGraph> {
        let slots = self.slot_count();
        if let Some(flat) = self
            .flat
            .read()
            .ok()
            .and_then(|f| f.clone())
            .filter(|f| f.slots() == slots)
        {
            return flat;
        }
        let flat = std::sync::Arc::new(FlatGraph::copy(self.hnsw.get_point_indexation(), slots));
        if let Ok(mut cached) = self.flat.write() {
            *cached = Some(flat.clone());
        }
        flat
    }

    /// Builds a graph over every row, on every core.
    pub fn build(rows: &Rows<'_>, params: HnswParams) -> Self {
        let index = AnnIndex::empty(rows.ids.len(), rows.dims, rows.identity, params);
        let all: Vec<usize> = (0..rows.ids.len()).collect();
        index.insert_rows(rows, &all);
        index
    }

    /// How many slots (live and dead) the graph holds.
    pub fn slot_count(&self) -> usize {
        self.slots.read().map_or(0, |s| s.len())
    }

    fn insert_rows(&self, rows: &Rows<'_>, which: &[usize]) -> Vec<usize> {
        let Ok(mut slots) = self.slots.write() else {
            return Vec::new();
        };
        let first = slots.len();
        for &row in which {
            slots.push(SlotKey {
                id: rows.ids[row].to_string(),
                print: fingerprint(rows.vector(row)),
            });
        }
        drop(slots);
        let items: Vec<(&[f32], usize)> = which
            .iter()
            .enumerate()
            .map(|(i, &row)| (rows.vector(row), first + i))
            .collect();
        self.hnsw.parallel_insert_slice(&items);
        (first..first + which.len()).collect()
    }

    /// Binds the graph to the current rows, inserting rows it lacks.
    pub fn bind(self: &std::sync::Arc<Self>, rows: &Rows<'_>, version: i64) -> Bound {
        let keys: HashMap<(String, u64), usize> = self
            .slots
            .read()
            .map(|s| {
                s.iter()
                    .enumerate()
                    .map(|(i, k)| ((k.id.clone(), k.print), i))
                    .collect()
            })
            .unwrap_or_default();
        let mut slot_row = vec![u32::MAX; keys.len()];
        let mut missing = Vec::new();
        for row in 0..rows.ids.len() {
            let key = (rows.ids[row].to_string(), fingerprint(rows.vector(row)));
            match keys.get(&key) {
                Some(&slot) if slot_row[slot] == u32::MAX => slot_row[slot] = row as u32,
                _ => missing.push(row),
            }
        }
        let added = self.insert_rows(rows, &missing);
        slot_row.resize(slot_row.len() + added.len(), u32::MAX);
        for (slot, row) in added.into_iter().zip(missing) {
            slot_row[slot] = row as u32;
        }
        let dead = slot_row.iter().filter(|r| **r == u32::MAX).count();
        Bound {
            version,
            index: self.clone(),
            slot_row,
            dead,
            graph: self.flat_graph(),
        }
    }

    /// Whether enough of the graph is dead that it should be rebuilt.
    pub fn worn(bound: &Bound) -> bool {
        bound.dead as f64 > REBUILD_DEAD_FRACTION * bound.slot_row.len().max(1) as f64
    }

    /// Whether the graph is built from vectors of this identity.
    pub fn fits(&self, identity: &str, dims: usize) -> bool {
        self.identity == identity && self.dims == dims
    }

    /// Whether enough slots are missing from the saved copy to save again.
    pub fn unsaved_enough(&self) -> bool {
        let total = self.slot_count();
        let saved = self.saved.load(Ordering::Relaxed);
        total > saved && (total - saved >= 10_000 || (total - saved) * 20 >= total)
    }

    /// As [`Bound::search`], through `hnsw_rs`'s own search: the reference
    /// the flat copy is tested against.
    pub fn search_hnsw_rs(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        admit: Option<&(dyn Fn(usize) -> bool + Sync)>,
    ) -> Vec<(usize, f32)> {
        let found = match admit {
            None => self.hnsw.search_filter(query, k, ef, None),
            Some(admit) => {
                let f = |id: &usize| admit(*id);
                self.hnsw.search_filter(query, k, ef, Some(&f))
            }
        };
        found.into_iter().map(|n| (n.d_id, n.distance)).collect()
    }

    /// Writes the graph and its meta file into `dir`.
    pub fn save(&self, dir: &Path, collection: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let wanted = format!("{collection}-{}-{stamp}", std::process::id());
        let slots = self
            .slots
            .read()
            .map_err(|_| Error::Backend("the index was poisoned".into()))?
            .clone();
        let basename = self
            .hnsw
            .file_dump(dir, &wanted)
            .map_err(|e| Error::Backend(format!("saving the index in {}: {e}", dir.display())))?;
        let files = graph_files(&basename)
            .iter()
            .map(|name| FileCheck::of(dir, name))
            .collect::<Result<Vec<_>>>()?;
        let meta = Meta {
            identity: self.identity.clone(),
            dims: self.dims,
            basename: basename.clone(),
            slots,
            files,
        };
        let count = meta.slots.len();
        let json = serde_json::to_vec(&meta).map_err(|e| Error::Backend(e.to_string()))?;
        let old = read_meta(dir, collection).map(|m| m.basename);
        let tmp = dir.join(format!("{wanted}.meta.tmp"));
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        let meta_path = meta_path(dir, collection);
        std::fs::rename(&tmp, &meta_path).map_err(|e| Error::io(&meta_path, e))?;
        self.saved.store(count, Ordering::Relaxed);
        if let Some(old) = old.filter(|o| *o != basename) {
            remove_graph(dir, &old);
        }
        Ok(())
    }

    /// The saved graph of `collection`, if there is one built under
    /// `identity`. A damaged or mismatched file is treated as absent.
    pub fn open(dir: &Path, collection: &str, identity: &str, dims: usize) -> Option<AnnIndex> {
        let meta = read_meta(dir, collection)?;
        if meta.identity != identity || meta.dims != dims {
            return None;
        }
        // Files written before checks were recorded, or damaged since, are
        // not read: the index is rebuilt instead.
        let names = graph_files(&meta.basename);
        let checked = names
            .iter()
            .all(|n| meta.files.iter().any(|f| f.name == *n));
        if !checked || !meta.files.iter().all(|f| f.holds(dir)) {
            return None;
        }
        let dir: PathBuf = dir.to_path_buf();
        let basename = meta.basename.clone();
        // The files are as written (checked above); should the reader still
        // assert on one, the panic means "no index", not a dead process.
        let hnsw = std::panic::catch_unwind(move || {
            // The graph borrows from its reader for as long as it lives; the
            // reader is small (paths and options, the points are copied out
            // of the file), so it is kept for the life of the process.
            let reader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&dir, &basename)));
            reader.load_hnsw::<f32, DotDistance>().ok()
        })
        .ok()
        .flatten()?;
        if hnsw.get_nb_point() != meta.slots.len() {
            return None;
        }
        let count = meta.slots.len();
        Some(AnnIndex {
            hnsw,
            identity: meta.identity,
            dims: meta.dims,
            slots: RwLock::new(meta.slots),
            saved: AtomicUsize::new(count),
            flat: RwLock::new(None),
        })
    }

    /// Removes a collection's saved index.
    pub fn remove(dir: &Path, collection: &str) {
        if let Some(meta) = read_meta(dir, collection) {
            remove_graph(dir, &meta.basename);
        }
        let _ = std::fs::remove_file(meta_path(dir, collection));
    }

    /// Whether a saved index of `collection` exists.
    pub fn saved(dir: &Path, collection: &str) -> bool {
        meta_path(dir, collection).is_file()
    }
}

fn meta_path(dir: &Path, collection: &str) -> PathBuf {
    dir.join(format!("{collection}.meta.json"))
}

fn read_meta(dir: &Path, collection: &str) -> Option<Meta> {
    let bytes = std::fs::read(meta_path(dir, collection)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn remove_graph(dir: &Path, basename: &str) {
    for name in graph_files(basename) {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Unit vectors in `dims` dimensions around a few centres, from a fixed
    /// seed, so neighbours are not all equally far.
    fn vectors(n: usize, dims: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let centres: Vec<f32> = (0..8 * dims).map(|_| next()).collect();
        let mut out = Vec::with_capacity(n * dims);
        for i in 0..n {
            let c = &centres[(i % 8) * dims..(i % 8 + 1) * dims];
            let v: Vec<f32> = c.iter().map(|x| x + 0.8 * next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            out.extend(v.iter().map(|x| x / norm));
        }
        out
    }

    fn exact(
        matrix: &[f32],
        dims: usize,
        q: &[f32],
        k: usize,
        admit: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let dot = embedrock_core::kernels::detect().dot_f32;
        let mut scored: Vec<(f32, usize)> = (0..matrix.len() / dims)
            .filter(|r| admit(*r))
            .map(|r| (dot(q, &matrix[r * dims..(r + 1) * dims]), r))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(k).map(|(_, r)| r).collect()
    }

    fn recall(found: &[usize], truth: &[usize]) -> f64 {
        found.iter().filter(|f| truth.contains(f)).count() as f64 / truth.len().max(1) as f64
    }

    #[test]
    fn the_flat_copy_finds_what_hnsw_rs_finds() {
        let (n, dims, k) = (4_000, 48, 10);
        let matrix = vectors(n, dims, 7);
        let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let rows = Rows {
            ids: names.iter().map(String::as_str).collect(),
            matrix: &matrix,
            dims,
            identity: "{}",
        };
        let index = Arc::new(AnnIndex::build(&rows, HnswParams::default()));
        let bound = index.bind(&rows, 1);
        assert_eq!(bound.graph.slots(), n);
        let queries = vectors(100, dims, 99);
        let dot = embedrock_core::kernels::detect().dot_f32;
        let (mut flat, mut theirs) = (0.0, 0.0);
        for q in queries.chunks(dims) {
            let truth = exact(&matrix, dims, q, k, |_| true);
            let found = bound.search((&matrix, dims), dot, q, k, 64, &|_| true);
            assert_eq!(found.len(), k);
            assert!(found.windows(2).all(|w| w[0].1 <= w[1].1), "nearest first");
            let rows_found: Vec<usize> = found
                .iter()
                .map(|(s, _)| bound.slot_row[*s] as usize)
                .collect();
            flat += recall(&rows_found, &truth);
            let reference: Vec<usize> = index
                .search_hnsw_rs(q, k, 64, None)
                .iter()
                .map(|(s, _)| bound.slot_row[*s] as usize)
                .collect();
            theirs += recall(&reference, &truth);
        }
        let (flat, theirs) = (flat / 100.0, theirs / 100.0);
        // Near-uniform 48-dimensional data is hard for any graph: hnsw_rs's
        // own search is at about 0.87 here.
        assert!(flat >= 0.8, "recall@10 of the flat search {flat}");
        assert!(
            flat >= theirs - 0.01,
            "flat {flat} against hnsw_rs {theirs}"
        );
    }

    #[test]
    fn filters_and_gone_rows_are_walked_through_but_never_returned() {
        let (n, dims, k) = (3_000, 32, 10);
        let matrix = vectors(n, dims, 3);
        let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let rows = Rows {
            ids: names.iter().map(String::as_str).collect(),
            matrix: &matrix,
            dims,
            identity: "{}",
        };
        let index = Arc::new(AnnIndex::build(&rows, HnswParams::default()));
        // Every third row deleted: the graph keeps their slots, dead.
        let kept: Vec<usize> = (0..n).filter(|r| !r.is_multiple_of(3)).collect();
        let kept_matrix: Vec<f32> = kept
            .iter()
            .flat_map(|r| matrix[r * dims..(r + 1) * dims].iter().copied())
            .collect();
        let kept_rows = Rows {
            ids: kept.iter().map(|r| names[*r].as_str()).collect(),
            matrix: &kept_matrix,
            dims,
            identity: "{}",
        };
        let bound = index.bind(&kept_rows, 2);
        assert_eq!(bound.dead, n - kept.len());
        let dot = embedrock_core::kernels::detect().dot_f32;
        let even = |row: usize| row.is_multiple_of(2);
        let admit = |slot: usize| {
            bound
                .slot_row
                .get(slot)
                .is_some_and(|r| *r != u32::MAX && even(*r as usize))
        };
        let queries = vectors(50, dims, 11);
        let mut total = 0.0;
        for q in queries.chunks(dims) {
            let found = bound.search((&kept_matrix, dims), dot, q, k, 64, &admit);
            assert_eq!(found.len(), k);
            let found_rows: Vec<usize> = found
                .iter()
                .map(|(s, _)| {
                    let row = bound.slot_row[*s];
                    assert_ne!(row, u32::MAX, "a deleted row came back");
                    row as usize
                })
                .collect();
            assert!(found_rows.iter().all(|r| even(*r)), "{found_rows:?}");
            total += recall(&found_rows, &exact(&kept_matrix, dims, q, k, even));
        }
        assert!(total / 50.0 >= 0.9, "filtered recall {}", total / 50.0);
    }

    #[test]
    fn the_copy_is_taken_again_when_the_graph_grows() {
        let dims = 16;
        let matrix = vectors(600, dims, 5);
        let names: Vec<String> = (0..600).map(|i| format!("r{i}")).collect();
        let first = Rows {
            ids: names[..500].iter().map(String::as_str).collect(),
            matrix: &matrix[..500 * dims],
            dims,
            identity: "{}",
        };
        let index = Arc::new(AnnIndex::build(&first, HnswParams::default()));
        assert_eq!(index.bind(&first, 1).graph.slots(), 500);
        let all = Rows {
            ids: names.iter().map(String::as_str).collect(),
            matrix: &matrix,
            dims,
            identity: "{}",
        };
        let bound = index.bind(&all, 2);
        assert_eq!(bound.graph.slots(), 600);
        let dot = embedrock_core::kernels::detect().dot_f32;
        // A row added after the build is found as its own nearest.
        let q = &matrix[550 * dims..551 * dims];
        let found = bound.search((&matrix, dims), dot, q, 1, 32, &|_| true);
        assert_eq!(bound.slot_row[found[0].0], 550);
    }
}
