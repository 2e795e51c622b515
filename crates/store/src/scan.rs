//! Exact search: the top `k` rows of a vector matrix by dot product, over
//! every core, with the kernel chosen at run time from the CPU's features.
//!
//! Exact search reads every allowed vector once, so it is bound by memory
//! bandwidth; the kernels keep several accumulators in flight so the adds
//! are never the limit. Binary vectors (one bit per dimension) are compared
//! by Hamming distance, a cheap first pass whose candidates are rescored with
//! the float vectors.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub use embedrock_core::kernels::Kernels;

/// Rows scored per call of a block kernel.
pub(crate) const BLOCK: usize = 256;

/// A row and its score; ordered so that a [`BinaryHeap`] of them keeps the
/// worst on top (lowest score, then highest row), which makes ties resolve
/// to the lower row and results deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Row index in the matrix.
    pub row: usize,
    /// Its score.
    pub score: f32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        // "Greater" means worse: lower score, then higher row.
        other
            .score
            .total_cmp(&self.score)
            .then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the best `k` of what it is offered.
struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, s: Scored) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(s);
        } else if let Some(worst) = self.heap.peek() {
            if s < *worst {
                self.heap.pop();
                self.heap.push(s);
            }
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<Scored> {
        self.heap.into_sorted_vec()
    }
}

/// The `k` rows of `matrix` (row-major, `dims` floats a row) with the highest
/// dot product with `query`, best first, among the rows `allow` admits. Ties
/// go to the lower row. Rows are split over `threads` threads.
pub fn top_k(
    kernel: Kernels,
    matrix: &[f32],
    dims: usize,
    query: &[f32],
    k: usize,
    threads: usize,
    allow: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Scored> {
    if dims == 0 || query.len() != dims {
        return Vec::new();
    }
    let rows = matrix.len() / dims;
    let block = |start: usize, out: &mut [f32]| {
        (kernel.rows_f32)(
            &matrix[start * dims..(start + out.len()) * dims],
            query,
            out,
        );
    };
    let one = |row: usize| kernel.dot(&matrix[row * dims..(row + 1) * dims], query);
    parallel_top_k(rows, k, threads, allow, &block, &one)
}

/// The `k` rows of packed sign bits (`bytes` a row, as [`pack_signs`] packs
/// them) nearest to `query` by Hamming distance, scored as `bits - 2 *
/// distance` so that higher is closer, as with dot products.
pub fn top_k_binary(
    kernel: Kernels,
    bits: &[u8],
    bytes: usize,
    query: &[u8],
    k: usize,
    threads: usize,
    allow: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Scored> {
    if bytes == 0 || query.len() != bytes {
        return Vec::new();
    }
    let rows = bits.len() / bytes;
    let total = (bytes * 8) as f32;
    let block = |start: usize, out: &mut [f32]| {
        let mut distances = [0u32; BLOCK];
        let distances = &mut distances[..out.len()];
        let rows = &bits[start * bytes..(start + out.len()) * bytes];
        (kernel.rows_hamming)(rows, query, distances);
        for (o, d) in out.iter_mut().zip(distances.iter()) {
            *o = total - 2.0 * *d as f32;
        }
    };
    let one = |row: usize| {
        let d = (kernel.hamming)(&bits[row * bytes..(row + 1) * bytes], query);
        total - 2.0 * d as f32
    };
    parallel_top_k(rows, k, threads, allow, &block, &one)
}

/// Packs the signs of `v` into bytes, a multiple of eight of them (so rows
/// stay word-aligned): bit `i % 8` of byte `i / 8` set where `v[i] > 0`.
pub fn pack_signs(v: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; v.len().div_ceil(64) * 8];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// Scores a block of rows into `out`: rows `start..start + out.len()`.
pub(crate) type BlockScorer<'a> = dyn Fn(usize, &mut [f32]) + Sync + 'a;

/// The best `k` of `rows` rows. Runs of rows that `allow` all admits are
/// scored a block at a time by `block`; in a block with rows it rejects,
/// only the admitted rows are scored, one at a time by `one`, so a
/// selective filter reads only what it admits.
pub(crate) fn parallel_top_k(
    rows: usize,
    k: usize,
    threads: usize,
    allow: &(dyn Fn(usize) -> bool + Sync),
    block: &BlockScorer<'_>,
    one: &(dyn Fn(usize) -> f32 + Sync),
) -> Vec<Scored> {
    let scan = |range: std::ops::Range<usize>| {
        let mut top = TopK::new(k);
        let mut scores = [0f32; BLOCK];
        let mut start = range.start;
        while start < range.end {
            let end = (start + BLOCK).min(range.end);
            if (start..end).all(allow) {
                let out = &mut scores[..end - start];
                block(start, out);
                for (i, score) in out.iter().enumerate() {
                    top.offer(Scored {
                        row: start + i,
                        score: *score,
                    });
                }
            } else {
                for row in (start..end).filter(|r| allow(*r)) {
                    top.offer(Scored {
                        row,
                        score: one(row),
                    });
                }
            }
            start = end;
        }
        top
    };
    let threads = threads.clamp(1, 64);
    // Below a few thousand rows a thread costs more than it saves.
    let parts = if rows < 4096 { 1 } else { threads };
    let step = rows.div_ceil(parts.max(1)).max(1);
    let mut merged = TopK::new(k);
    if parts == 1 {
        merged = scan(0..rows);
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..rows)
                .step_by(step)
                .map(|start| s.spawn(move || scan(start..(start + step).min(rows))))
                .collect();
            for h in handles {
                // A scan cannot panic on valid ranges; a panicked part is
                // re-raised rather than silently dropped.
                match h.join() {
                    Ok(part) => part.heap.into_iter().for_each(|x| merged.offer(x)),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
    }
    merged.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedrock_core::kernels;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 20_001) as f32 / 10_000.0 - 1.0
            })
            .collect()
    }

    fn brute(
        matrix: &[f32],
        dims: usize,
        q: &[f32],
        k: usize,
        allow: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut all: Vec<(usize, f64)> = (0..matrix.len() / dims)
            .filter(|r| allow(*r))
            .map(|r| {
                let s: f64 = matrix[r * dims..(r + 1) * dims]
                    .iter()
                    .zip(q)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                (r, s)
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.into_iter().take(k).map(|(r, _)| r).collect()
    }

    #[test]
    fn top_k_matches_brute_force_with_filters_and_threads() {
        let dims = 48;
        let rows = 10_000;
        let m = random(rows * dims, 7);
        let q = random(dims, 8);
        for kernel in kernels::available() {
            for threads in [1, 2, 3] {
                let got = top_k(kernel, &m, dims, &q, 10, threads, &|_| true);
                let rows_got: Vec<usize> = got.iter().map(|s| s.row).collect();
                assert_eq!(
                    rows_got,
                    brute(&m, dims, &q, 10, |_| true),
                    "{kernel:?} {threads}"
                );
                assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
                // A selective filter still yields k results when k rows pass.
                let every_97th = |r: usize| r.is_multiple_of(97);
                let got = top_k(kernel, &m, dims, &q, 10, threads, &every_97th);
                assert_eq!(got.len(), 10);
                let rows_got: Vec<usize> = got.iter().map(|s| s.row).collect();
                assert_eq!(rows_got, brute(&m, dims, &q, 10, every_97th));
            }
        }
    }

    #[test]
    fn edge_cases() {
        let m = vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let q = [1.0, 0.0];
        let got = top_k(kernels::detect(), &m, 2, &q, 5, 2, &|_| true);
        // Rows 0 and 1 tie; the lower row comes first. Fewer rows than k.
        assert_eq!(got.iter().map(|s| s.row).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(top_k(kernels::portable(), &m, 2, &q, 0, 1, &|_| true).is_empty());
        assert!(top_k(kernels::portable(), &m, 2, &[1.0], 3, 1, &|_| true).is_empty());
        assert!(top_k(kernels::portable(), &[], 2, &q, 3, 1, &|_| true).is_empty());
    }

    #[test]
    fn binary_first_pass_finds_the_nearest_signs() {
        let dims = 128;
        let rows = 5000;
        let m = random(rows * dims, 3);
        let bits: Vec<u8> = m.chunks(dims).flat_map(pack_signs).collect();
        let bytes = dims / 8;
        // The query is row 1234 itself: distance 0, score = dims.
        let q = pack_signs(&m[1234 * dims..1235 * dims]);
        for kernel in kernels::available() {
            let got = top_k_binary(kernel, &bits, bytes, &q, 3, 2, &|_| true);
            assert_eq!(got[0].row, 1234, "{kernel:?}");
            assert_eq!(got[0].score, dims as f32);
            assert!(got[1].score < got[0].score);
            // Every score is bits - 2 * distance, checked against a count.
            for s in &got {
                let row = &bits[s.row * bytes..(s.row + 1) * bytes];
                let d: u32 = row.iter().zip(&q).map(|(a, b)| (a ^ b).count_ones()).sum();
                assert_eq!(s.score, dims as f32 - 2.0 * d as f32);
            }
            // Only admitted rows, scored one at a time past the filter.
            let odd = top_k_binary(kernel, &bits, bytes, &q, 3, 2, &|r| r % 2 == 1);
            assert!(odd.iter().all(|s| s.row % 2 == 1) && odd.len() == 3);
        }
        assert_eq!(
            pack_signs(&[1.0, -1.0, 0.0, 2.0]),
            vec![0b1001, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
