//! Matrix multiply for the encoder's dense layers on AVX-512:
//! `C[m×n] += A[m×k] · B[k×n]`, where B is a weight matrix packed once, at
//! load time, into the layout the inner kernel streams.
//!
//! The structure is the classic blocked one: the k dimension is cut into
//! blocks of [`KC`], rows of A into blocks of [`MC`] that are packed into
//! [`MR`]-row strips, and the kernel multiplies one strip by one packed
//! [`NR`]-column panel of B, holding the `MR × NR` tile of C in registers
//! (24 of the 32 vector registers). Weights never change, so B's packing is
//! paid once per model instead of once per call.
//!
//! Only used where the CPU has AVX-512F and `n` is a multiple of [`NR`];
//! elsewhere the encoder uses the portable `gemm` crate.

/// Rows of the register tile.
const MR: usize = 12;
/// Columns of the register tile: two 16-lane vectors.
const NR: usize = 32;
/// Depth of a k block: one packed B panel (`KC × NR` floats, 32 KiB) stays in L1.
const KC: usize = 256;
/// Rows of A packed at a time (a multiple of `MR`): 192 × 256 floats, 192 KiB, in L2.
const MC: usize = 192;

/// A `k × n` matrix packed for [`matmul_acc`].
pub(crate) struct PackedB {
    k: usize,
    n: usize,
    /// Block `pc` (k rows from `pc`) starts at `pc * n`; within it, panel `j`
    /// (columns `j*NR ..`) is `kc × NR` values, row by row.
    data: Vec<f32>,
}

impl PackedB {
    /// Packs the row-major `k × n` matrix `b`, or returns `None` when the
    /// fast path does not apply (no AVX-512F, or `n` not a multiple of `NR`).
    pub(crate) fn new(b: &[f32], k: usize, n: usize) -> Option<Self> {
        if !available() || !n.is_multiple_of(NR) || b.len() != k * n || k == 0 {
            return None;
        }
        let mut data = Vec::with_capacity(k * n);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            for j in 0..n / NR {
                for kk in 0..kc {
                    let row = (pc + kk) * n + j * NR;
                    data.extend_from_slice(&b[row..row + NR]);
                }
            }
        }
        Some(PackedB { k, n, data })
    }
}

/// Whether this CPU runs the kernel.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::isa::allows(crate::isa::Isa::Avx512)
            && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `c[m × n] += a[m × k] · b`, with `a` and `c` row-major and contiguous.
/// With `threads > 1`, blocks of rows are shared among rayon's threads.
pub(crate) fn matmul_acc(m: usize, a: &[f32], b: &PackedB, c: &mut [f32], threads: usize) {
    let (k, n) = (b.k, b.n);
    let work = |a_rows: &[f32], mc: usize, c_rows: &mut [f32]| {
        let mut apack = vec![0f32; MC.div_ceil(MR) * MR * KC];
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_a(a_rows, mc, k, pc, kc, &mut apack);
            for j in 0..n / NR {
                let panel = &b.data[pc * n + j * kc * NR..pc * n + (j + 1) * kc * NR];
                for strip in 0..mc.div_ceil(MR) {
                    let rows = MR.min(mc - strip * MR);
                    let a_strip = &apack[strip * kc * MR..(strip + 1) * kc * MR];
                    let c_tile = &mut c_rows[strip * MR * n + j * NR..];
                    kernel(kc, a_strip, panel, c_tile, n, rows);
                }
            }
        }
    };
    crate::kernels::row_blocks(m, a, k, c, n, MC, threads, work);
}

/// Packs rows of `a` (row-major, `rows × k`), columns `pc .. pc + kc`, into
/// strips of `MR` rows stored column by column; rows past the end are zeros.
fn pack_a(a: &[f32], rows: usize, k: usize, pc: usize, kc: usize, out: &mut [f32]) {
    for strip in 0..rows.div_ceil(MR) {
        let dst = &mut out[strip * kc * MR..(strip + 1) * kc * MR];
        for i in 0..MR {
            let r = strip * MR + i;
            if r < rows {
                let src = &a[r * k + pc..r * k + pc + kc];
                for (kk, v) in src.iter().enumerate() {
                    dst[kk * MR + i] = *v;
                }
            } else {
                for kk in 0..kc {
                    dst[kk * MR + i] = 0.0;
                }
            }
        }
    }
}

/// Adds the product of an `MR × kc` strip and a `kc × NR` panel to the first
/// `rows` rows of the tile of `c` that starts at `c[0]` with row stride `ldc`.
fn kernel(kc: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, rows: usize) {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR && rows <= MR);
    assert!(rows == 0 || c.len() >= (rows - 1) * ldc + NR);
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: callers reach here only through `PackedB::new`, which checked
        // for AVX-512F; the asserts above bound every pointer the kernel reads
        // or writes.
        unsafe { kernel_avx512(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ldc, rows) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kc, a, b, c, ldc, rows);
        unreachable!("PackedB is never built without AVX-512F");
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel_avx512(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
) {
    use std::arch::x86_64::*;
    let mut lo = [_mm512_setzero_ps(); MR];
    let mut hi = [_mm512_setzero_ps(); MR];
    for kk in 0..kc {
        // SAFETY: kk < kc, and b holds kc × NR values, a holds kc × MR.
        let (b0, b1) = unsafe {
            (
                _mm512_loadu_ps(b.add(kk * NR)),
                _mm512_loadu_ps(b.add(kk * NR + 16)),
            )
        };
        for i in 0..MR {
            // SAFETY: as above.
            let av = _mm512_set1_ps(unsafe { *a.add(kk * MR + i) });
            lo[i] = _mm512_fmadd_ps(av, b0, lo[i]);
            hi[i] = _mm512_fmadd_ps(av, b1, hi[i]);
        }
    }
    for i in 0..rows {
        // SAFETY: row i < rows of the tile, whose extent the caller checked.
        unsafe {
            let p = c.add(i * ldc);
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), lo[i]));
            _mm512_storeu_ps(p.add(16), _mm512_add_ps(_mm512_loadu_ps(p.add(16)), hi[i]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_on_ragged_shapes() {
        if !available() {
            eprintln!("no AVX-512F on this CPU: the kernel is not used here");
            assert!(PackedB::new(&[0.0; 64], 2, 32).is_none());
            return;
        }
        // Rows not a multiple of MR or MC, k not a multiple of KC.
        for (m, k, n) in [(1, 3, 32), (13, 300, 64), (250, 600, 96), (MC + 5, KC, 32)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1)
                .collect();
            let packed = PackedB::new(&b, k, n).unwrap();
            for threads in [1, 2] {
                let mut c: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
                matmul_acc(m, &a, &packed, &mut c, threads);
                for i in 0..m {
                    for j in 0..n {
                        let want = (i * n + j) as f32 * 0.01
                            + (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum::<f32>();
                        let got = c[i * n + j];
                        assert!(
                            (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                            "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
        assert!(PackedB::new(&[0.0; 48], 2, 24).is_none());
    }
}
