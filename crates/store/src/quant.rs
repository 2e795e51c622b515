//! Quantised scans: int8 codes with one scale per vector, and the rescoring
//! of a quantised scan's candidates in full precision.
//!
//! An int8 vector is `round(x / scale)` with `scale = max |x| / 127`, so the
//! dot product of two vectors is about `scale_a * scale_b * Σ a_i b_i`, the
//! sum taken exactly in 32-bit integers. That reads a quarter of the bytes of
//! a float scan; its ranking is close to the exact one but not equal, which
//! is why its best candidates (an oversampled set) are rescored with the
//! float vectors before anything is returned.

use crate::scan::{self, Kernel, Scored};

/// An int8 kernel. [`I8Kernel::detect`] picks the best one this CPU runs;
/// every kernel returns the same integer sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I8Kernel {
    /// Plain Rust, any CPU.
    Scalar,
    /// AVX2 (x86-64): sign-extend to 16 bits, multiply-add pairs to 32 bits.
    Avx2,
}

impl I8Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> I8Kernel {
        I8Kernel::available()
            .last()
            .copied()
            .unwrap_or(I8Kernel::Scalar)
    }

    /// Every kernel this CPU supports, slowest first.
    pub fn available() -> Vec<I8Kernel> {
        #[allow(unused_mut)]
        let mut out = vec![I8Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            out.push(I8Kernel::Avx2);
        }
        out
    }

    /// The kernel's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            I8Kernel::Scalar => "scalar",
            I8Kernel::Avx2 => "avx2",
        }
    }

    /// The exact integer dot product of `a` and `b` (equal lengths). A
    /// kernel the CPU lacks falls back to [`I8Kernel::Scalar`].
    pub fn dot(self, a: &[i8], b: &[i8]) -> i32 {
        debug_assert_eq!(a.len(), b.len());
        #[cfg(target_arch = "x86_64")]
        if self == I8Kernel::Avx2 && is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { x86::dot_i8_avx2(a, b) };
        }
        dot_i8_scalar(a, b)
    }
}

fn dot_i8_scalar(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(x, y)| *x as i32 * *y as i32).sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n, so both 16-byte halves are inside both slices.
            let (xa, xb, ya, yb) = unsafe {
                (
                    _mm_loadu_si128(pa.add(i) as *const __m128i),
                    _mm_loadu_si128(pa.add(i + 16) as *const __m128i),
                    _mm_loadu_si128(pb.add(i) as *const __m128i),
                    _mm_loadu_si128(pb.add(i + 16) as *const __m128i),
                )
            };
            // Products of two i8 fit i16 and a pair of them fits i32.
            let p0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(xa), _mm256_cvtepi8_epi16(ya));
            let p1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(xb), _mm256_cvtepi8_epi16(yb));
            acc0 = _mm256_add_epi32(acc0, p0);
            acc1 = _mm256_add_epi32(acc1, p1);
            i += 32;
        }
        let s = _mm256_add_epi32(acc0, acc1);
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` holds 8 i32.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, s) };
        let mut sum: i32 = lanes.iter().sum();
        while i < n {
            sum += a[i] as i32 * b[i] as i32;
            i += 1;
        }
        sum
    }
}

/// Int8 codes of a vector and its scale: `v[i] ≈ codes[i] * scale`.
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    let codes = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (codes, scale)
}

/// A matrix of int8 codes, one scale a row.
#[derive(Debug, Clone, Default)]
pub struct Int8Matrix {
    dims: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl Int8Matrix {
    /// Quantises a row-major float matrix of `dims` columns.
    pub fn build(matrix: &[f32], dims: usize) -> Self {
        let mut out = Int8Matrix {
            dims,
            codes: Vec::with_capacity(matrix.len()),
            scales: Vec::with_capacity(matrix.len() / dims.max(1)),
        };
        if dims == 0 {
            return out;
        }
        for row in matrix.chunks_exact(dims) {
            let (codes, scale) = quantize(row);
            out.codes.extend_from_slice(&codes);
            out.scales.push(scale);
        }
        out
    }

    /// How many rows it holds.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    /// Bytes it takes in memory.
    pub fn bytes(&self) -> usize {
        self.codes.len() + 4 * self.scales.len()
    }

    /// The `k` rows with the highest approximate dot product with `query`
    /// among the rows `allow` admits, best first.
    pub fn top_k(
        &self,
        kernel: I8Kernel,
        query: &[f32],
        k: usize,
        threads: usize,
        allow: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Scored> {
        if self.dims == 0 || query.len() != self.dims {
            return Vec::new();
        }
        let (q, qscale) = quantize(query);
        let dims = self.dims;
        let score = |row: usize| {
            let codes = &self.codes[row * dims..(row + 1) * dims];
            kernel.dot(codes, &q) as f32 * self.scales[row] * qscale
        };
        scan::parallel_top_k(self.rows(), k, threads, &|row| {
            allow(row).then(|| score(row))
        })
    }
}

/// Rescores candidate rows with the float vectors and keeps the best `k`,
/// best first (ties to the lower row).
pub fn rescore(
    kernel: Kernel,
    matrix: &[f32],
    dims: usize,
    query: &[f32],
    candidates: &[Scored],
    k: usize,
) -> Vec<Scored> {
    let mut out: Vec<Scored> = candidates
        .iter()
        .filter(|c| (c.row + 1) * dims <= matrix.len())
        .map(|c| Scored {
            row: c.row,
            score: kernel.dot(&matrix[c.row * dims..(c.row + 1) * dims], query),
        })
        .collect();
    out.sort();
    out.dedup_by_key(|s| s.row);
    out.truncate(k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
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
    fn every_int8_kernel_this_cpu_has_agrees_with_scalar() {
        println!("int8 kernels on this CPU: {:?}", I8Kernel::available());
        for n in [0, 1, 15, 16, 31, 32, 33, 63, 64, 100, 384, 1024, 1536] {
            let (a, _) = quantize(&random(n, n as u64 + 3));
            let (b, _) = quantize(&random(n, n as u64 + 77));
            // Extremes too: -127 * -127 summed over every lane.
            let lo = vec![-127i8; n];
            for k in I8Kernel::available() {
                assert_eq!(k.dot(&a, &b), dot_i8_scalar(&a, &b), "{k:?} n={n}");
                assert_eq!(k.dot(&lo, &lo), 16129 * n as i32, "{k:?} n={n}");
            }
        }
    }

    #[test]
    fn quantised_dot_is_close_to_the_float_dot() {
        let a = random(384, 1);
        let b = random(384, 2);
        let (qa, sa) = quantize(&a);
        let (qb, sb) = quantize(&b);
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let approx = I8Kernel::detect().dot(&qa, &qb) as f32 * sa * sb;
        assert!(
            (exact - approx).abs() < 0.05 * (1.0 + exact.abs()),
            "{exact} vs {approx}"
        );
        assert_eq!(quantize(&[0.0, 0.0]), (vec![0, 0], 0.0));
        let (codes, scale) = quantize(&[0.5, -1.0, 0.25]);
        assert_eq!(codes, vec![64, -127, 32]);
        assert!((scale - 1.0 / 127.0).abs() < 1e-7);
    }

    #[test]
    fn int8_scan_then_rescore_matches_exact_with_a_filter() {
        let dims = 64;
        let rows = 6000;
        let m = random(rows * dims, 11);
        let q = random(dims, 12);
        let int8 = Int8Matrix::build(&m, dims);
        assert_eq!(int8.rows(), rows);
        let odd = |r: usize| r % 2 == 1;
        let exact = scan::top_k(Kernel::Scalar, &m, dims, &q, 10, 1, &odd);
        for kernel in I8Kernel::available() {
            let cands = int8.top_k(kernel, &q, 40, 2, &odd);
            assert!(cands.iter().all(|c| odd(c.row)));
            let got = rescore(Kernel::detect(), &m, dims, &q, &cands, 10);
            let want: Vec<usize> = exact.iter().map(|s| s.row).collect();
            let have: Vec<usize> = got.iter().map(|s| s.row).collect();
            assert_eq!(have, want, "{kernel:?}");
        }
    }
}
