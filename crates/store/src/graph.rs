//! The search side of the approximate index: a read-only copy of the HNSW
//! graph's links in flat arrays, searched without locks or allocation per
//! visited node.
//!
//! `hnsw_rs` keeps each point's links behind a lock, as reference-counted
//! pointers, and its search allocates a hash map of visited points and a
//! reference-counted entry per candidate: at a few thousand distance
//! evaluations a query, that bookkeeping costs as much as the arithmetic.
//! Here the bottom layer's links are one `u32` array with offsets (the
//! upper layers, a small fraction of the points, are maps), visited marks
//! are a per-thread array of epochs, and a live slot's vector is read from
//! the collection's own row-major matrix, so the vectors a query touches
//! sit in one allocation. The graph itself is still built and grown by
//! `hnsw_rs`; this copy is taken again whenever the graph gains slots.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use hnsw_rs::prelude::Point;

/// A slot and its distance to the query, ordered by distance.
#[derive(Debug, Clone, Copy)]
struct Near {
    d: f32,
    slot: u32,
}

impl PartialEq for Near {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d.total_cmp(&other.d).then(self.slot.cmp(&other.slot))
    }
}

/// Which slots a search has reached: a mark per slot, equal to the current
/// epoch when visited, so a new search clears nothing.
#[derive(Default)]
struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn start(&mut self, slots: usize) {
        if self.marks.len() < slots {
            self.marks.resize(slots, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }

    /// Marks `slot`; true when it was not marked yet.
    fn first_visit(&mut self, slot: u32) -> bool {
        match self.marks.get_mut(slot as usize) {
            Some(m) if *m != self.epoch => {
                *m = self.epoch;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}

/// Where a search reads a slot's vector.
pub struct Vectors<'a> {
    /// The collection's rows, row-major.
    pub matrix: &'a [f32],
    /// Floats a row.
    pub dims: usize,
    /// Slot to row; `u32::MAX` for a slot whose row is gone.
    pub slot_row: &'a [u32],
}

/// The graph's links, flat.
pub struct FlatGraph {
    /// How many slots the graph had when copied.
    slots: usize,
    /// The entry point and its layer; `None` for an empty graph.
    entry: Option<(u32, usize)>,
    /// Bottom-layer links of slot `s`: `links[offsets[s]..offsets[s + 1]]`.
    offsets: Vec<u32>,
    links: Vec<u32>,
    /// Links on layer `l >= 1`, at `upper[l - 1]`, of the points on it.
    upper: Vec<HashMap<u32, Box<[u32]>>>,
    /// Every slot's point, for the vectors of slots whose row is gone (they
    /// still carry links that searches walk through).
    points: Vec<Option<Arc<Point<'static, f32>>>>,
}

impl std::fmt::Debug for FlatGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatGraph")
            .field("slots", &self.slots)
            .field("links", &self.links.len())
            .field("layers", &(self.upper.len() + 1))
            .finish()
    }
}

impl FlatGraph {
    /// Copies the links of `points` (all the graph's points, any order),
    /// whose data ids are slots below `slots`.
    pub fn copy(points: impl IntoIterator<Item = Arc<Point<'static, f32>>>, slots: usize) -> Self {
        let mut bottom: Vec<Vec<u32>> = vec![Vec::new(); slots];
        let mut upper: Vec<HashMap<u32, Box<[u32]>>> = Vec::new();
        let mut all: Vec<Option<Arc<Point<'static, f32>>>> = vec![None; slots];
        let mut entry: Option<(u32, usize)> = None;
        for point in points {
            let slot = point.get_origin_id();
            if slot >= slots {
                continue;
            }
            let level = point.get_point_id().0 as usize;
            let layers = point.get_neighborhood_id();
            let ids = |l: usize| -> Box<[u32]> {
                layers.get(l).map_or_else(Box::default, |ns| {
                    ns.iter()
                        .filter(|n| n.d_id < slots)
                        .map(|n| n.d_id as u32)
                        .collect()
                })
            };
            bottom[slot] = ids(0).into_vec();
            for l in 1..=level {
                if upper.len() < l {
                    upper.resize_with(l, HashMap::new);
                }
                upper[l - 1].insert(slot as u32, ids(l));
            }
            if entry.is_none_or(|(_, top)| level > top) {
                entry = Some((slot as u32, level));
            }
            all[slot] = Some(point);
        }
        let mut offsets = Vec::with_capacity(slots + 1);
        let mut links = Vec::with_capacity(bottom.iter().map(Vec::len).sum());
        offsets.push(0);
        for l in &bottom {
            links.extend_from_slice(l);
            offsets.push(links.len() as u32);
        }
        FlatGraph {
            slots,
            entry,
            offsets,
            links,
            upper,
            points: all,
        }
    }

    /// How many slots the copy covers.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn bottom(&self, slot: u32) -> &[u32] {
        let s = slot as usize;
        match (self.offsets.get(s), self.offsets.get(s + 1)) {
            (Some(&a), Some(&b)) => &self.links[a as usize..b as usize],
            _ => &[],
        }
    }

    fn vector<'v>(&'v self, vectors: &'v Vectors<'_>, slot: u32) -> &'v [f32] {
        match vectors.slot_row.get(slot as usize) {
            Some(&row) if row != u32::MAX => {
                let start = row as usize * vectors.dims;
                vectors
                    .matrix
                    .get(start..start + vectors.dims)
                    .unwrap_or(&[])
            }
            _ => self
                .points
                .get(slot as usize)
                .and_then(Option::as_ref)
                .map_or(&[], |p| p.get_v()),
        }
    }

    /// Up to `k` slots nearest `query` (by `1 - dot`) among those `admit`
    /// lets through, nearest first, searching the bottom layer with a
    /// candidate list of `ef`. Slots that are not admitted are still walked
    /// through, so a filter never cuts the graph apart.
    pub fn search(
        &self,
        vectors: &Vectors<'_>,
        dot: fn(&[f32], &[f32]) -> f32,
        query: &[f32],
        k: usize,
        ef: usize,
        admit: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let Some((entry, top_layer)) = self.entry else {
            return Vec::new();
        };
        let dist = |slot: u32| 1.0 - dot(query, self.vector(vectors, slot));
        // Greedy descent through the upper layers.
        let (mut at, mut at_d) = (entry, dist(entry));
        for layer in (1..=top_layer).rev() {
            let Some(links) = self.upper.get(layer - 1) else {
                continue;
            };
            loop {
                let mut moved = false;
                for &n in links.get(&at).map_or(&[][..], |l| &l[..]) {
                    let d = dist(n);
                    if d < at_d {
                        (at, at_d) = (n, d);
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        let ef = ef.max(k).max(1);
        VISITED.with(|cell| {
            let mut visited = cell.borrow_mut();
            visited.start(self.slots);
            visited.first_visit(at);
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut found: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            candidates.push(Reverse(Near { d: at_d, slot: at }));
            if admit(at as usize) {
                found.push(Near { d: at_d, slot: at });
            }
            let mut fresh: Vec<u32> = Vec::with_capacity(128);
            while let Some(Reverse(c)) = candidates.pop() {
                let worst = |found: &BinaryHeap<Near>| {
                    if found.len() >= ef {
                        found.peek().map_or(f32::INFINITY, |n| n.d)
                    } else {
                        f32::INFINITY
                    }
                };
                if c.d > worst(&found) {
                    break;
                }
                fresh.clear();
                for &n in self.bottom(c.slot) {
                    if visited.first_visit(n) {
                        prefetch(self.vector(vectors, n));
                        fresh.push(n);
                    }
                }
                for &n in &fresh {
                    let d = dist(n);
                    if d < worst(&found) {
                        candidates.push(Reverse(Near { d, slot: n }));
                        if admit(n as usize) {
                            found.push(Near { d, slot: n });
                            if found.len() > ef {
                                found.pop();
                            }
                        }
                    }
                }
            }
            found
                .into_sorted_vec()
                .into_iter()
                .take(k)
                .map(|n| (n.slot as usize, n.d.max(0.0)))
                .collect()
        })
    }
}

/// Asks for the first cache lines of a vector about to be read: the links
/// of a node point all over the matrix, and loading a row's start early
/// lets the hardware stream the rest.
#[inline]
fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE_FLOATS: usize = 16;
        for line in v.chunks(LINE_FLOATS).take(4) {
            // SAFETY: prefetching is a hint that never faults; SSE is part
            // of every x86-64 CPU.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_first_and_ties_ordered_by_slot() {
        let mut heap = BinaryHeap::new();
        for (d, slot) in [(0.5, 3), (0.1, 7), (0.5, 1), (0.9, 2)] {
            heap.push(Near { d, slot });
        }
        let order: Vec<u32> = heap.into_sorted_vec().iter().map(|n| n.slot).collect();
        assert_eq!(order, vec![7, 1, 3, 2]);
    }

    #[test]
    fn visited_marks_reset_with_each_search() {
        let mut v = Visited::default();
        v.start(4);
        assert!(v.first_visit(2));
        assert!(!v.first_visit(2));
        assert!(!v.first_visit(9), "a slot past the graph is never visited");
        v.start(4);
        assert!(v.first_visit(2));
        v.epoch = u32::MAX;
        v.start(4);
        assert_eq!(v.epoch, 1);
        assert!(v.first_visit(2));
    }
}
