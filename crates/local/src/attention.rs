//! Self-attention of one sequence and one head, fused: scores, softmax and
//! the weighted sum of values in one pass over blocks of query rows, with
//! the scores of a block kept in L1.
//!
//! For a block of query rows, the scores against every key are computed
//! from a transposed copy of the head's keys (one vector of keys per head
//! dimension, so each multiply-add covers 16 or 8 keys), scaled, turned into
//! unnormalised exponentials with their row sum, and multiplied into the
//! values row by row; each output row is divided by its sum at the end. That
//! is the softmax-weighted sum the unfused form (`Q·Kᵀ`, softmax, `P·V`)
//! computes, with the normalisation moved after the sum.
//!
//! Two builds, chosen at run time: AVX-512F (16 lanes, 8 query rows per
//! block) and AVX2 with FMA (8 lanes, 4 query rows for the scores and 2 for
//! the values, so the accumulators fit the 16 registers). A head width that
//! is not a multiple of the lane count or over 64, or a CPU with neither,
//! takes the unfused path of the caller.

use crate::kernels;

/// The widest head this module fuses.
const MAX_HEAD_DIM: usize = 64;

/// A fused kernel this CPU runs for heads of `head_dim`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fused {
    /// AVX-512F.
    Avx512,
    /// AVX2 and FMA.
    Avx2,
}

impl Fused {
    /// The fastest fused kernel this CPU runs for `head_dim`, or `None`.
    pub(crate) fn best(head_dim: usize) -> Option<Fused> {
        Self::available().into_iter().find(|f| f.fits(head_dim))
    }

    /// Every fused kernel this CPU runs, fastest first.
    pub(crate) fn available() -> Vec<Fused> {
        #[allow(unused_mut)]
        let mut out = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            use crate::isa::{allows, Isa};
            if allows(Isa::Avx512)
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                out.push(Fused::Avx512);
            }
            if allows(Isa::Avx2)
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                out.push(Fused::Avx2);
            }
        }
        out
    }

    fn lanes(self) -> usize {
        match self {
            Fused::Avx512 => 16,
            Fused::Avx2 => 8,
        }
    }

    /// Whether heads of `head_dim` fit this kernel.
    pub(crate) fn fits(self, head_dim: usize) -> bool {
        head_dim > 0 && head_dim <= MAX_HEAD_DIM && head_dim.is_multiple_of(self.lanes())
    }
}

/// Scratch space of one attention call, reused across heads and sequences.
#[derive(Default)]
pub(crate) struct Buffers {
    /// The head's keys transposed: `head_dim` rows of `padded(len)` keys.
    keys_t: Vec<f32>,
    /// One block's scores: `ROWS` rows of `padded(len)`.
    scores: Vec<f32>,
}

/// One head of one sequence of `len` tokens: `q`, `k` and `v` start at the
/// head's first column of the sequence's first row, rows `stride` apart;
/// writes `len` rows of `head_dim` values at `out` (rows `out_stride`
/// apart). `kind.fits(head_dim)` must hold.
#[allow(clippy::too_many_arguments)]
pub(crate) fn head(
    kind: Fused,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    stride: usize,
    len: usize,
    head_dim: usize,
    scale: f32,
    out: &mut [f32],
    out_stride: usize,
    buf: &mut Buffers,
) {
    assert!(kind.fits(head_dim), "head width {head_dim} is not fused");
    if len == 0 {
        return;
    }
    let last = (len - 1) * stride + head_dim;
    assert!(
        q.len() >= last && k.len() >= last && v.len() >= last,
        "inputs too short"
    );
    assert!(
        out.len() >= (len - 1) * out_stride + head_dim,
        "output too short"
    );
    let lanes = kind.lanes();
    let padded = len.div_ceil(lanes) * lanes;
    // Keys transposed, the padding keys zero (their scores are never read).
    buf.keys_t.clear();
    buf.keys_t.resize(head_dim * padded, 0.0);
    for j in 0..len {
        let row = &k[j * stride..j * stride + head_dim];
        for (d, &x) in row.iter().enumerate() {
            buf.keys_t[d * padded + j] = x;
        }
    }
    buf.scores.clear();
    buf.scores.resize(8 * padded, 0.0);
    let args = Args {
        q: q.as_ptr(),
        v: v.as_ptr(),
        stride,
        len,
        padded,
        head_dim,
        scale,
        out: out.as_mut_ptr(),
        out_stride,
    };
    match kind {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Fused::available` lists this kernel only when the CPU has
        // its features; the asserts above bound every row read and written,
        // and the buffers are sized for `padded` keys and 8 rows.
        Fused::Avx512 => unsafe {
            let (kt, sc) = (&buf.keys_t, &mut buf.scores);
            // The head's width in vectors as a constant, so the output rows'
            // accumulators live in registers.
            match head_dim / 16 {
                1 => head_avx512::<1>(&args, kt, sc),
                2 => head_avx512::<2>(&args, kt, sc),
                3 => head_avx512::<3>(&args, kt, sc),
                _ => head_avx512::<4>(&args, kt, sc),
            }
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Fused::Avx2 => unsafe {
            let (kt, sc) = (&buf.keys_t, &mut buf.scores);
            match head_dim / 8 {
                1 => head_avx2::<1>(&args, kt, sc),
                2 => head_avx2::<2>(&args, kt, sc),
                3 => head_avx2::<3>(&args, kt, sc),
                4 => head_avx2::<4>(&args, kt, sc),
                5 => head_avx2::<5>(&args, kt, sc),
                6 => head_avx2::<6>(&args, kt, sc),
                7 => head_avx2::<7>(&args, kt, sc),
                _ => head_avx2::<8>(&args, kt, sc),
            }
        },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("no fused attention off x86-64"),
    }
}

/// The operands of one head, as raw pointers checked by [`head`].
struct Args {
    q: *const f32,
    v: *const f32,
    stride: usize,
    len: usize,
    padded: usize,
    head_dim: usize,
    scale: f32,
    out: *mut f32,
    out_stride: usize,
}

/// Turns the `len` scores of `row` into `exp(score - max)` and returns their
/// sum. Plain lanes, so it vectorises in whichever build inlines it.
#[inline(always)]
fn exponentials(row: &mut [f32]) -> f32 {
    const LANES: usize = 16;
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let mut max = f32::NEG_INFINITY;
    for v in hi.iter().chain(chunks.remainder()) {
        max = if *v > max { *v } else { max };
    }
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            let e = kernels::exp(c[i] - max);
            c[i] = e;
            acc[i] += e;
        }
    }
    let mut sum = 0f32;
    for v in chunks.into_remainder() {
        *v = kernels::exp(*v - max);
        sum += *v;
    }
    acc.iter().sum::<f32>() + sum
}

/// 8 query rows a block (the last block's missing rows repeat its last row
/// and are not written), 16 keys per multiply-add for the scores, `VECS`
/// vectors of 16 values per output row (`head_dim = 16 · VECS`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn head_avx512<const VECS: usize>(a: &Args, keys_t: &[f32], scores: &mut [f32]) {
    use std::arch::x86_64::*;
    const ROWS: usize = 8;
    let (len, padded, hd) = (a.len, a.padded, a.head_dim);
    debug_assert_eq!(hd, 16 * VECS);
    for r0 in (0..len).step_by(ROWS) {
        let rows = (len - r0).min(ROWS);
        let row_of = |r: usize| r0 + r.min(rows - 1);
        // Scores: s[r][j] = scale · Σ_d q[r][d] · kᵀ[d][j].
        let scale = _mm512_set1_ps(a.scale);
        for j in (0..padded).step_by(16) {
            let mut acc = [_mm512_setzero_ps(); ROWS];
            for d in 0..hd {
                // SAFETY: d < head_dim and j + 16 <= padded: inside `keys_t`.
                let kv = unsafe { _mm512_loadu_ps(keys_t.as_ptr().add(d * padded + j)) };
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: row_of(r) < len and d < head_dim (checked by `head`).
                    let x = unsafe { *a.q.add(row_of(r) * a.stride + d) };
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(x), kv, *acc);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                // SAFETY: r < 8 rows of `padded` scores.
                unsafe {
                    _mm512_storeu_ps(
                        scores.as_mut_ptr().add(r * padded + j),
                        _mm512_mul_ps(*acc, scale),
                    )
                };
            }
        }
        let mut inv = [0f32; ROWS];
        for (r, inv) in inv.iter_mut().enumerate().take(rows) {
            *inv = 1.0 / exponentials(&mut scores[r * padded..r * padded + len]);
        }
        // Values: o[r] = Σ_j p[r][j] · v[j], then divided by the row's sum.
        let mut acc = [[_mm512_setzero_ps(); VECS]; ROWS];
        for j in 0..len {
            // SAFETY: j < len rows of the values, `VECS` vectors of 16 each.
            let vrow = unsafe { a.v.add(j * a.stride) };
            let mut vv = [_mm512_setzero_ps(); VECS];
            for (t, vv) in vv.iter_mut().enumerate() {
                // SAFETY: as above.
                *vv = unsafe { _mm512_loadu_ps(vrow.add(16 * t)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: r < 8 rows and j < len scores.
                let p = _mm512_set1_ps(unsafe { *scores.as_ptr().add(r * padded + j) });
                for (acc, vv) in acc.iter_mut().zip(&vv) {
                    *acc = _mm512_fmadd_ps(p, *vv, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(rows) {
            let s = _mm512_set1_ps(inv[r]);
            // SAFETY: r0 + r < len output rows, `VECS` vectors each (checked
            // by `head`).
            let o = unsafe { a.out.add((r0 + r) * a.out_stride) };
            for (t, acc) in acc.iter().enumerate() {
                unsafe { _mm512_storeu_ps(o.add(16 * t), _mm512_mul_ps(*acc, s)) };
            }
        }
    }
}

/// [`head_avx512`] in 8 lanes: 4 query rows a block for the scores, the
/// values in two passes of 2 rows, `VECS` vectors of 8 values per row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn head_avx2<const VECS: usize>(a: &Args, keys_t: &[f32], scores: &mut [f32]) {
    use std::arch::x86_64::*;
    const ROWS: usize = 4;
    let (len, padded, hd) = (a.len, a.padded, a.head_dim);
    debug_assert_eq!(hd, 8 * VECS);
    for r0 in (0..len).step_by(ROWS) {
        let rows = (len - r0).min(ROWS);
        let row_of = |r: usize| r0 + r.min(rows - 1);
        let scale = _mm256_set1_ps(a.scale);
        for j in (0..padded).step_by(8) {
            let mut acc = [_mm256_setzero_ps(); ROWS];
            for d in 0..hd {
                // SAFETY: as in `head_avx512`.
                let kv = unsafe { _mm256_loadu_ps(keys_t.as_ptr().add(d * padded + j)) };
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: as in `head_avx512`.
                    let x = unsafe { *a.q.add(row_of(r) * a.stride + d) };
                    *acc = _mm256_fmadd_ps(_mm256_set1_ps(x), kv, *acc);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                // SAFETY: as in `head_avx512`.
                unsafe {
                    _mm256_storeu_ps(
                        scores.as_mut_ptr().add(r * padded + j),
                        _mm256_mul_ps(*acc, scale),
                    )
                };
            }
        }
        let mut inv = [0f32; ROWS];
        for (r, inv) in inv.iter_mut().enumerate().take(rows) {
            *inv = 1.0 / exponentials(&mut scores[r * padded..r * padded + len]);
        }
        for pair in (0..rows).step_by(2) {
            let mut acc = [[_mm256_setzero_ps(); VECS]; 2];
            for j in 0..len {
                // SAFETY: as in `head_avx512`.
                let vrow = unsafe { a.v.add(j * a.stride) };
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: pair + r < 4 rows of scores (a missing row
                    // reads its zeroed or stale scores and is not written).
                    let p =
                        _mm256_set1_ps(unsafe { *scores.as_ptr().add((pair + r) * padded + j) });
                    for (t, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: as in `head_avx512`.
                        let vv = unsafe { _mm256_loadu_ps(vrow.add(8 * t)) };
                        *acc = _mm256_fmadd_ps(p, vv, *acc);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(rows - pair) {
                let s = _mm256_set1_ps(inv[pair + r]);
                // SAFETY: as in `head_avx512`.
                let o = unsafe { a.out.add((r0 + pair + r) * a.out_stride) };
                for (t, acc) in acc.iter().enumerate() {
                    unsafe { _mm256_storeu_ps(o.add(8 * t), _mm256_mul_ps(*acc, s)) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unfused definition in f64: softmax(scale · Q·Kᵀ) · V.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        stride: usize,
        len: usize,
        hd: usize,
        scale: f32,
    ) -> Vec<f64> {
        let mut out = vec![0f64; len * hd];
        for i in 0..len {
            let s: Vec<f64> = (0..len)
                .map(|j| {
                    (0..hd)
                        .map(|d| f64::from(q[i * stride + d]) * f64::from(k[j * stride + d]))
                        .sum::<f64>()
                        * f64::from(scale)
                })
                .collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for d in 0..hd {
                out[i * hd + d] = (0..len)
                    .map(|j| e[j] / sum * f64::from(v[j * stride + d]))
                    .sum();
            }
        }
        out
    }

    #[test]
    fn every_fused_kernel_on_this_cpu_matches_the_definition() {
        let kinds = Fused::available();
        eprintln!("fused attention on this CPU: {kinds:?}");
        // Values in -2..2.
        let mut rng = crate::test_rng::Rng(0x2545_f491_4f6c_dd1d);
        let mut next = move || 2.0 * rng.next();
        for kind in kinds {
            for hd in [8, 16, 32, 48, 64] {
                if !kind.fits(hd) {
                    continue;
                }
                for len in [1, 2, 3, 7, 8, 9, 16, 17, 33, 130] {
                    // Q, K and V interleaved in rows, as the fused projection
                    // writes them, with some columns to spare.
                    let stride = 3 * hd + 5;
                    let qkv: Vec<f32> = (0..len * stride).map(|_| next()).collect();
                    let (q, k, v) = (&qkv[..], &qkv[hd..], &qkv[2 * hd..]);
                    let scale = 1.0 / (hd as f32).sqrt();
                    let out_stride = hd + 3;
                    let mut out = vec![7.0f32; len * out_stride];
                    let mut buf = Buffers::default();
                    head(
                        kind, q, k, v, stride, len, hd, scale, &mut out, out_stride, &mut buf,
                    );
                    let want = reference(q, k, v, stride, len, hd, scale);
                    for i in 0..len {
                        for d in 0..hd {
                            let got = f64::from(out[i * out_stride + d]);
                            let w = want[i * hd + d];
                            assert!(
                                (got - w).abs() <= 1e-5 * (1.0 + w.abs()),
                                "{kind:?} hd {hd} len {len} [{i},{d}]: {got} vs {w}"
                            );
                        }
                        // The columns between rows are left alone.
                        for d in hd..out_stride.min(out.len() - i * out_stride) {
                            assert_eq!(out[i * out_stride + d], 7.0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn only_fitting_widths_are_fused() {
        for kind in [Fused::Avx512, Fused::Avx2] {
            assert!(!kind.fits(0));
            assert!(!kind.fits(12));
            assert!(!kind.fits(80));
            assert!(kind.fits(32));
        }
        assert!(Fused::Avx2.fits(24));
        assert!(!Fused::Avx512.fits(24));
        if let Some(best) = Fused::best(32) {
            assert!(Fused::available().contains(&best));
        }
    }
}
