//! Matrix multiply in bfloat16 for the encoder's dense layers:
//! `C[m×n] += bf16(A)[m×k] · bf16(B)[k×n]`, each product summed into `f32`.
//! Two paths, chosen at load time: AMX tiles (`tdpbf16ps`, see
//! [`crate::amx`]) where the CPU and OS allow them, else AVX512_BF16's
//! `vdpbf16ps`; a CPU with neither cannot run bf16.
//!
//! bfloat16 keeps `f32`'s exponent and 8 bits of its significand, so
//! rounding each operand costs a relative error of at most 2^-9 and nothing
//! overflows; there is no scale to calibrate (unlike int8). The weights are
//! rounded once, at load time, and the activations per block at run time,
//! both to the nearest even.
//!
//! # Layout
//!
//! B is padded to a multiple of 32 rows (k) and of 32 columns, and stored in
//! panels of 16 columns. Inside a panel, group `g` (k values `2g` and
//! `2g + 1`) takes 64 bytes: column 0's two values, then column 1's, ...
//! column 15's. That is one row of an AMX B tile, and for AVX-512 one
//! `vdpbf16ps` over 16 columns against a 32-bit broadcast of an activation
//! row's two values. The AVX-512 tile is 8 rows × 32 columns (two panels),
//! its 16 accumulators in registers for the whole of k; the AMX block is
//! 32 × 32 (see [`crate::amx::micro`]).
//!
//! Intel documents both instructions with denormal inputs read as zero and
//! denormal results flushed to zero; the tests compare with an `f64`
//! product of the rounded operands within a relative bound, not bit for bit.

use crate::amx;

/// Columns of one packed panel.
const PANEL: usize = 16;
/// Columns are padded to this multiple (both paths' width).
const COL_ALIGN: usize = 32;
/// k is padded to this multiple (an AMX step), in groups of two.
const GROUP_ALIGN: usize = amx::STEP_K / 2;
/// Rows of an AVX-512 tile.
const TILE_ROWS: usize = 8;
/// Rows per parallel block on the AVX-512 path (a multiple of the tile's
/// rows), small enough that a block's rows of the result stay in cache
/// between column tiles.
const BLOCK_ROWS: usize = 24;

/// Which instructions run the multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// AMX tiles (`tdpbf16ps`).
    Amx,
    /// AVX512_BF16 (`vdpbf16ps`).
    Avx512,
}

impl Path {
    /// The widest path this CPU (and `EMBEDROCK_MAX_ISA`) allows, if any.
    pub(crate) fn best() -> Option<Path> {
        if amx::available() {
            Some(Path::Amx)
        } else if avx512_available() {
            Some(Path::Avx512)
        } else {
            None
        }
    }

    /// The kernel's name, as [`crate::Precision::kernel`] reports it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Path::Amx => "bf16 amx",
            Path::Avx512 => "bf16 avx512",
        }
    }
}

/// Whether the AVX512_BF16 path may run here.
fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::isa::allows(crate::isa::Isa::Avx512)
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x` rounded to the nearest bfloat16, ties to even (a NaN stays a NaN);
/// branch-free, so loops over it vectorise.
#[inline(always)]
pub(crate) fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let quiet = ((bits >> 16) | 0x40) as u16;
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    if x.is_nan() {
        quiet
    } else {
        rounded
    }
}

/// The `f32` a bfloat16 stands for.
#[cfg(test)]
fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// A `k × n` weight matrix rounded to bfloat16 and packed for
/// [`matmul_acc`], with the path that will multiply it.
pub(crate) struct PackedB {
    k: usize,
    n: usize,
    /// Pairs of k values (k padded to a multiple of 32).
    groups: usize,
    /// Panel `p` starts at `p * groups * 32`; in it, group `g` at `g * 32`,
    /// column `c` at `2c` (its even k value) and `2c + 1` (its odd one).
    data: Vec<u16>,
    path: Path,
}

impl PackedB {
    /// Rounds and packs the row-major `k × n` matrix `b` for the best path
    /// here; `None` when the shapes do not fit or the CPU has no path.
    pub(crate) fn new(b: &[f32], k: usize, n: usize) -> Option<Self> {
        Self::for_path(b, k, n, Path::best()?)
    }

    /// [`PackedB::new`] for a given path (which must be able to run here,
    /// checked again).
    pub(crate) fn for_path(b: &[f32], k: usize, n: usize, path: Path) -> Option<Self> {
        let runs = match path {
            Path::Amx => amx::available(),
            Path::Avx512 => avx512_available(),
        };
        if b.len() != k * n || k == 0 || n == 0 || !runs {
            return None;
        }
        Some(Self::pack(b, k, n, path))
    }

    fn pack(b: &[f32], k: usize, n: usize, path: Path) -> Self {
        let groups = k.div_ceil(2 * GROUP_ALIGN) * GROUP_ALIGN;
        let n_pad = n.div_ceil(COL_ALIGN) * COL_ALIGN;
        let mut data = vec![0u16; n_pad * groups * 2];
        for kk in 0..k {
            let (g, t) = (kk / 2, kk % 2);
            for j in 0..n {
                let (p, c) = (j / PANEL, j % PANEL);
                data[(p * groups + g) * PANEL * 2 + c * 2 + t] = to_bf16(b[kk * n + j]);
            }
        }
        PackedB {
            k,
            n,
            groups,
            data,
            path,
        }
    }

    /// The path that multiplies this matrix.
    #[cfg(test)]
    pub(crate) fn path(&self) -> Path {
        self.path
    }
}

/// `c[m × n] += a[m × k] · b` with `a` and `c` row-major and contiguous (`k`
/// and `n` from `b`); blocks of rows are shared among rayon's threads when
/// `threads > 1`.
pub(crate) fn matmul_acc(m: usize, a: &[f32], b: &PackedB, c: &mut [f32], threads: usize) {
    use crate::kernels::row_blocks;
    let (k, n) = (b.k, b.n);
    match b.path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `PackedB` for AMX exists only where `amx::available()`
        // held, so the tiles and AVX-512 F/BW may be used.
        Path::Amx => row_blocks(m, a, k, c, n, amx::BLOCK, threads, |a, rows, c| unsafe {
            block_amx_avx512(b, a, rows, c)
        }),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `PackedB` for AVX-512 exists only where AVX512_BF16 does.
        Path::Avx512 => row_blocks(m, a, k, c, n, BLOCK_ROWS, threads, |a, rows, c| unsafe {
            block_avx512(b, a, rows, c)
        }),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("no bf16 path exists off x86-64"),
    }
}

/// `a`'s `rows` rows of `k` values rounded to bfloat16 into rows of `lda`
/// values, zero past `k` and past `rows` up to a multiple of `pad_rows`.
#[inline(always)]
fn round_rows(a: &[f32], k: usize, rows: usize, lda: usize, pad_rows: usize) -> Vec<u16> {
    let padded = rows.div_ceil(pad_rows) * pad_rows;
    let mut codes = vec![0u16; padded * lda];
    for (row, out) in a.chunks_exact(k).zip(codes.chunks_exact_mut(lda)) {
        for (o, &x) in out.iter_mut().zip(row) {
            *o = to_bf16(x);
        }
    }
    codes
}

/// The AMX block, its rounding and adding compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn block_amx_avx512(b: &PackedB, a: &[f32], rows: usize, c: &mut [f32]) {
    // SAFETY: the caller checked `amx::available()`.
    unsafe { block_amx(b, a, rows, c, amx::micro) }
}

/// One block of up to 32 rows through an AMX micro-kernel (the CPU's, or
/// the model's in tests): its rows of `a` rounded to bfloat16 (padded to 32
/// rows with zeros), then per 32 columns one micro-kernel call into a
/// scratch block, whose valid rows and columns are added to `c`.
///
/// # Safety
/// `micro` must be able to run here.
#[inline(always)]
unsafe fn block_amx(b: &PackedB, a: &[f32], rows: usize, c: &mut [f32], micro: amx::Micro) {
    let (k, n, groups) = (b.k, b.n, b.groups);
    assert!(rows <= amx::BLOCK && groups % GROUP_ALIGN == 0);
    let lda = groups * 2;
    let codes = round_rows(a, k, rows, lda, amx::BLOCK);
    let steps = groups / GROUP_ALIGN;
    let panel_len = groups * PANEL * 2;
    let mut out = [0f32; amx::BLOCK * amx::BLOCK];
    for col0 in (0..n).step_by(COL_ALIGN) {
        let cols = (n - col0).min(COL_ALIGN);
        let panels = &b.data[col0 / PANEL * panel_len..];
        assert!(panels.len() >= 2 * panel_len && codes.len() >= amx::BLOCK * lda);
        // SAFETY: 32 rows of `lda` codes, two panels of `groups` groups and
        // a 32 × 32 scratch block, as the micro-kernel reads and writes
        // (asserted above); `micro` runs here (the caller's contract).
        unsafe {
            micro(
                codes.as_ptr(),
                lda,
                panels.as_ptr(),
                panels.as_ptr().add(panel_len),
                steps,
                out.as_mut_ptr(),
            )
        };
        for (c_row, sums) in c
            .chunks_exact_mut(n)
            .zip(out.chunks_exact(amx::BLOCK))
            .take(rows)
        {
            for (x, s) in c_row[col0..col0 + cols].iter_mut().zip(sums) {
                *x += s;
            }
        }
    }
}

/// One block: its rows of `a` rounded to bfloat16 (rows padded to a tile's
/// height with zeros), then every tile, added into `c`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn block_avx512(b: &PackedB, a: &[f32], rows: usize, c: &mut [f32]) {
    let (k, n, groups) = (b.k, b.n, b.groups);
    let lda = groups * 2;
    let codes = round_rows(a, k, rows, lda, TILE_ROWS);
    let panel_len = groups * PANEL * 2;
    for col0 in (0..n).step_by(COL_ALIGN) {
        let cols = (n - col0).min(COL_ALIGN);
        let panels = &b.data[col0 / PANEL * panel_len..];
        for row0 in (0..rows).step_by(TILE_ROWS) {
            let valid = (rows - row0).min(TILE_ROWS);
            assert!(panels.len() >= 2 * panel_len);
            assert!(codes.len() >= (row0 + TILE_ROWS) * lda);
            assert!(c.len() >= (row0 + valid - 1) * n + col0 + cols);
            // SAFETY: the asserts bound every read of the codes (8 rows of
            // `lda`) and the panels (two of `panel_len`), and every write of
            // `c` (`valid` rows, `cols` columns); the CPU has the features.
            unsafe {
                tile(
                    groups,
                    codes.as_ptr().add(row0 * lda),
                    lda,
                    panels.as_ptr(),
                    panel_len,
                    valid,
                    cols,
                    c.as_mut_ptr().add(row0 * n + col0),
                    n,
                )
            };
        }
    }
}

/// 8 rows × 32 columns: per group, one 512-bit load of each panel, and per
/// row one 32-bit broadcast of its two activations and two `vdpbf16ps`; the
/// first `rows` rows and `cols` columns of the sums are added to `c`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    groups: usize,
    a: *const u16,
    lda: usize,
    b: *const u16,
    panel_len: usize,
    rows: usize,
    cols: usize,
    c: *mut f32,
    ldc: usize,
) {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 2 * TILE_ROWS];
    for g in 0..groups {
        // SAFETY: group g < groups of both panels (checked by the caller).
        let (w0, w1): (__m512bh, __m512bh) = unsafe {
            let p = b.add(g * PANEL * 2);
            (
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())),
                std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                    p.add(panel_len).cast(),
                )),
            )
        };
        for i in 0..TILE_ROWS {
            // SAFETY: row i < 8 and values 2g, 2g + 1 lie within each row
            // (checked by the caller); the read may be unaligned.
            let x = unsafe { a.add(i * lda + 2 * g).cast::<i32>().read_unaligned() };
            // SAFETY: a plain reinterpretation of 16 lanes of 32 bits.
            let av: __m512bh =
                unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(x)) };
            acc[2 * i] = _mm512_dpbf16_ps(acc[2 * i], av, w0);
            acc[2 * i + 1] = _mm512_dpbf16_ps(acc[2 * i + 1], av, w1);
        }
    }
    let mask = |from: usize| -> __mmask16 {
        let valid = cols.saturating_sub(from).min(16);
        if valid == 16 {
            0xffff
        } else {
            (1u16 << valid) - 1
        }
    };
    let (m0, m1) = (mask(0), mask(16));
    for (i, pair) in acc.chunks_exact(2).enumerate().take(rows) {
        // SAFETY: row i < rows and the masked columns < cols lie inside `c`
        // (checked by the caller).
        unsafe {
            let o = c.add(i * ldc);
            let cur = _mm512_maskz_loadu_ps(m0, o);
            _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(cur, pair[0]));
            if m1 != 0 {
                let o = o.add(16);
                let cur = _mm512_maskz_loadu_ps(m1, o);
                _mm512_mask_storeu_ps(o, m1, _mm512_add_ps(cur, pair[1]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_the_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(to_bf16(-2.0), 0xc000);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3 · 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0 + 1e-6), 0x3f81);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
        for x in [0.1f32, -3.7, 1e-3, 6.5e4, 123.456] {
            let back = from_bf16(to_bf16(x));
            assert!(((back - x) / x).abs() <= 1.0 / 256.0, "{x} -> {back}");
        }
    }

    /// Checks `c = base + a · w` against an `f64` product of the rounded
    /// operands, within f32 accumulation error.
    #[allow(clippy::too_many_arguments)]
    fn check(
        what: &str,
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        w: &[f32],
        base: &[f32],
        c: &[f32],
    ) {
        for i in 0..m {
            for j in 0..n {
                let (mut want, mut size) = (f64::from(base[i * n + j]), 0f64);
                for kk in 0..k {
                    let x = f64::from(from_bf16(to_bf16(a[i * k + kk])));
                    let y = f64::from(from_bf16(to_bf16(w[kk * n + j])));
                    want += x * y;
                    size += (x * y).abs();
                }
                let bound = 1e-6 * (1.0 + size) * (k as f64).sqrt().max(1.0);
                let got = f64::from(c[i * n + j]);
                assert!(
                    (got - want).abs() <= bound,
                    "{what} {m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                );
            }
        }
    }

    /// Shapes with ragged rows, columns and k on both paths' blocks.
    const SHAPES: [(usize, usize, usize); 6] = [
        (1, 1, 1),
        (3, 7, 33),
        (9, 384, 17),
        (25, 385, 64),
        (33, 64, 40),
        (70, 1536, 40),
    ];

    #[test]
    fn every_path_here_matches_the_rounded_operands() {
        let paths: Vec<Path> = [Path::Amx, Path::Avx512]
            .into_iter()
            .filter(|&p| PackedB::for_path(&[1.0; 4], 2, 2, p).is_some())
            .collect();
        eprintln!("bf16 paths on this CPU: {paths:?}");
        assert_eq!(paths.first().copied(), Path::best());
        if paths.is_empty() {
            assert!(PackedB::new(&[1.0; 4], 2, 2).is_none());
            return;
        }
        let mut rng = crate::test_rng::Rng(0x9e37_79b9_7f4a_7c15);
        for (m, k, n) in SHAPES {
            let a = rng.matrix(m * k, 0.0);
            let w = rng.matrix(k * n, 0.0);
            let base = rng.matrix(m * n, 0.0);
            for &path in &paths {
                let b = PackedB::for_path(&w, k, n, path).unwrap();
                assert_eq!(b.path(), path);
                for threads in [1, 2] {
                    let mut c = base.clone();
                    matmul_acc(m, &a, &b, &mut c, threads);
                    check(path.name(), m, k, n, &a, &w, &base, &c);
                }
            }
        }
    }

    /// The AMX block on the software model of the tile instructions: the
    /// packing, strides, padding and tile configuration, on any CPU.
    #[test]
    fn amx_blocks_on_the_tile_model_match_the_rounded_operands() {
        let mut rng = crate::test_rng::Rng(0x2545_f491_4f6c_dd1d);
        for (m, k, n) in SHAPES {
            let a = rng.matrix(m * k, 0.0);
            let w = rng.matrix(k * n, 0.0);
            let base = rng.matrix(m * n, 0.0);
            let b = PackedB::pack(&w, k, n, Path::Amx);
            let mut c = base.clone();
            crate::kernels::row_blocks(m, &a, k, &mut c, n, amx::BLOCK, 2, |a, rows, c| {
                // SAFETY: the model runs on any CPU.
                unsafe { block_amx(&b, a, rows, c, amx::model::micro) }
            });
            check("amx model", m, k, n, &a, &w, &base, &c);
            if amx::available() {
                // The CPU's tiles against the model: the same sums but for
                // the order of rounding inside each instruction.
                let hw = PackedB::for_path(&w, k, n, Path::Amx).unwrap();
                let mut c_hw = base.clone();
                matmul_acc(m, &a, &hw, &mut c_hw, 1);
                for (x, y) in c.iter().zip(&c_hw) {
                    assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{x} vs {y}");
                }
            }
        }
    }
}
