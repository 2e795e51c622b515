//! Quantised scans: int8 codes with one scale per vector, and the rescoring
//! of a quantised scan's candidates in full precision.
//!
//! An int8 vector is `round(x / scale)` with `scale = max |x| / 127`, so the
//! dot product of two vectors is about `scale_a * scale_b * Σ a_i b_i`, the
//! sum taken exactly in 32-bit integers. That reads a quarter of the bytes of
//! a float scan; its ranking is close to the exact one but not equal, which
//! is why its best candidates (an oversampled set) are rescored with the
//! float vectors before anything is returned.

use crate::scan::{self, Kernels, Scored};

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
        kernel: Kernels,
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
        let block = |start: usize, out: &mut [f32]| {
            let mut dots = [0i32; scan::BLOCK];
            let dots = &mut dots[..out.len().min(scan::BLOCK)];
            let codes = &self.codes[start * dims..(start + dots.len()) * dims];
            (kernel.rows_i8)(codes, &q, dots);
            let scales = &self.scales[start..start + dots.len()];
            for ((o, dot), scale) in out.iter_mut().zip(dots.iter()).zip(scales) {
                *o = *dot as f32 * scale * qscale;
            }
        };
        let one = |row: usize| {
            let codes = &self.codes[row * dims..(row + 1) * dims];
            (kernel.dot_i8)(codes, &q) as f32 * self.scales[row] * qscale
        };
        scan::parallel_top_k(self.rows(), k, threads, allow, &block, &one)
    }
}

/// Rescores candidate rows with the float vectors and keeps the best `k`,
/// best first (ties to the lower row).
pub fn rescore(
    kernel: Kernels,
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
    use embedrock_core::kernels;

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
    fn quantised_dot_is_close_to_the_float_dot() {
        let a = random(384, 1);
        let b = random(384, 2);
        let (qa, sa) = quantize(&a);
        let (qb, sb) = quantize(&b);
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let approx = (kernels::detect().dot_i8)(&qa, &qb) as f32 * sa * sb;
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
        let exact = scan::top_k(kernels::portable(), &m, dims, &q, 10, 1, &odd);
        for kernel in kernels::available() {
            let cands = int8.top_k(kernel, &q, 40, 2, &odd);
            assert!(cands.iter().all(|c| odd(c.row)));
            let got = rescore(kernels::detect(), &m, dims, &q, &cands, 10);
            let want: Vec<usize> = exact.iter().map(|s| s.row).collect();
            let have: Vec<usize> = got.iter().map(|s| s.row).collect();
            assert_eq!(have, want, "{kernel:?}");
        }
    }
}
