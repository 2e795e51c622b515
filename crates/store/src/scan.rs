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

/// A dot-product kernel. [`Kernel::detect`] picks the best one this CPU runs;
/// every kernel gives the same ranking (sums may differ in the last bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, any CPU.
    Scalar,
    /// AVX2 and FMA (x86-64).
    Avx2,
    /// AVX-512F (x86-64).
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        Kernel::available()
            .last()
            .copied()
            .unwrap_or(Kernel::Scalar)
    }

    /// Every kernel this CPU supports, slowest first.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut out = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                out.push(Kernel::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                out.push(Kernel::Avx512);
            }
        }
        out
    }

    /// The kernel's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// The dot product of `a` and `b` (equal lengths).
    ///
    /// A kernel the CPU lacks falls back to [`Kernel::Scalar`], so this is
    /// safe to call with any value.
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        #[cfg(target_arch = "x86_64")]
        {
            if self == Kernel::Avx512 && is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                return unsafe { x86::dot_avx512(a, b) };
            }
            if self != Kernel::Scalar
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { x86::dot_avx2(a, b) };
            }
        }
        dot_scalar(a, b)
    }
}

fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` and `b` have equal lengths.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, slot) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 <= n, inside both slices.
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * k)),
                        _mm256_loadu_ps(pb.add(i + 8 * k)),
                    )
                };
                *slot = _mm256_fmadd_ps(x, y, *slot);
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), s) };
        let mut sum: f32 = lanes.iter().sum();
        while i < n {
            sum += a[i] * b[i];
            i += 1;
        }
        sum
    }

    /// # Safety
    /// The CPU must support AVX-512F; `a` and `b` have equal lengths.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (k, slot) in acc.iter_mut().enumerate() {
                // SAFETY: i + 16k + 16 <= n, inside both slices.
                let (x, y) = unsafe {
                    (
                        _mm512_loadu_ps(pa.add(i + 16 * k)),
                        _mm512_loadu_ps(pb.add(i + 16 * k)),
                    )
                };
                *slot = _mm512_fmadd_ps(x, y, *slot);
            }
            i += 64;
        }
        while i + 16 <= n {
            // SAFETY: i + 16 <= n.
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc[0] = _mm512_fmadd_ps(x, y, acc[0]);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as __mmask16;
            // SAFETY: masked loads read only the n - i remaining floats.
            let (x, y) = unsafe {
                (
                    _mm512_maskz_loadu_ps(mask, pa.add(i)),
                    _mm512_maskz_loadu_ps(mask, pb.add(i)),
                )
            };
            acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
        }
        let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(s)
    }
}

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
    kernel: Kernel,
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
    let score = |row: usize| kernel.dot(&matrix[row * dims..(row + 1) * dims], query);
    parallel_top_k(rows, k, threads, &|row| allow(row).then(|| score(row)))
}

/// The `k` rows of packed sign bits (`words` u64 a row) nearest to `query` by
/// Hamming distance, scored as `dims - 2 * distance` so that higher is closer,
/// as with dot products.
pub fn top_k_binary(
    bits: &[u64],
    words: usize,
    query: &[u64],
    k: usize,
    threads: usize,
    allow: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Scored> {
    if words == 0 || query.len() != words {
        return Vec::new();
    }
    let rows = bits.len() / words;
    let dims = (words * 64) as f32;
    let score = |row: usize| {
        let d: u32 = bits[row * words..(row + 1) * words]
            .iter()
            .zip(query)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        dims - 2.0 * d as f32
    };
    parallel_top_k(rows, k, threads, &|row| allow(row).then(|| score(row)))
}

/// Packs the signs of `v` into u64 words, bit `i % 64` of word `i / 64` set
/// where `v[i] > 0`.
pub fn pack_signs(v: &[f32]) -> Vec<u64> {
    let mut out = vec![0u64; v.len().div_ceil(64)];
    for (i, x) in v.iter().enumerate() {
        if *x > 0.0 {
            out[i / 64] |= 1 << (i % 64);
        }
    }
    out
}

pub(crate) fn parallel_top_k(
    rows: usize,
    k: usize,
    threads: usize,
    score: &(dyn Fn(usize) -> Option<f32> + Sync),
) -> Vec<Scored> {
    let scan = |range: std::ops::Range<usize>| {
        let mut top = TopK::new(k);
        for row in range {
            if let Some(s) = score(row) {
                top.offer(Scored { row, score: s });
            }
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

    #[test]
    fn every_kernel_this_cpu_has_agrees_with_scalar() {
        let kernels = Kernel::available();
        println!("kernels on this CPU: {kernels:?}");
        for n in [
            0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 384, 1000, 1536,
        ] {
            let a = random(n, n as u64 + 1);
            let b = random(n, n as u64 + 1000);
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            for k in &kernels {
                let got = k.dot(&a, &b) as f64;
                assert!(
                    (got - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                    "{k:?} n={n}: {got} vs {exact}"
                );
            }
        }
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
        for kernel in Kernel::available() {
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
        let got = top_k(Kernel::detect(), &m, 2, &q, 5, 2, &|_| true);
        // Rows 0 and 1 tie; the lower row comes first. Fewer rows than k.
        assert_eq!(got.iter().map(|s| s.row).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(top_k(Kernel::Scalar, &m, 2, &q, 0, 1, &|_| true).is_empty());
        assert!(top_k(Kernel::Scalar, &m, 2, &[1.0], 3, 1, &|_| true).is_empty());
        assert!(top_k(Kernel::Scalar, &[], 2, &q, 3, 1, &|_| true).is_empty());
    }

    #[test]
    fn binary_first_pass_finds_the_nearest_signs() {
        let dims = 128;
        let rows = 5000;
        let m = random(rows * dims, 3);
        let bits: Vec<u64> = m.chunks(dims).flat_map(pack_signs).collect();
        let words = dims / 64;
        // The query is row 1234 itself: distance 0, score = dims.
        let q = pack_signs(&m[1234 * dims..1235 * dims]);
        let got = top_k_binary(&bits, words, &q, 3, 2, &|_| true);
        assert_eq!(got[0].row, 1234);
        assert_eq!(got[0].score, dims as f32);
        assert!(got[1].score < got[0].score);
        assert_eq!(pack_signs(&[1.0, -1.0, 0.0, 2.0]), vec![0b1001]);
    }
}
