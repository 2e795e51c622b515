//! Matrix multiply in 8-bit integers for the encoder's dense layers:
//! `C[m×n] += dequant(quant(A)[m×k] · quant(B)[k×n])`, where B is a weight
//! matrix quantised and packed once, at load time.
//!
//! # Quantisation
//!
//! * **Weights**: symmetric, per output column `j`: `scale_j = max|w_·j| / 127`,
//!   `q = round(w / scale_j)` in `-127..=127`.
//! * **Activations**: asymmetric, per row (per token), computed at run time:
//!   the row's range `[min(x, 0), max(x, 0)]` is mapped onto `0..=254` with
//!   `scale = range / 254` and a zero point `z = round(-min / scale)`, so
//!   `x ≈ scale · (u - z)`.
//!
//! Products are summed in `i32`: `acc = Σ_k u_k · q_kj`, exact. The result is
//! `scale_row · scale_j · (acc - z · Σ_k q_kj)`, where the column sums
//! `Σ_k q_kj` are computed at load time; bias and residual are added in `f32`
//! by the caller.
//!
//! Why 255 levels and not 256: the AVX2 kernel multiplies with `vpmaddubsw`
//! (unsigned byte × signed byte, adjacent pairs summed into a *saturating*
//! `i16`), and `u · q` pairs of up to `2 · 254 · 127` would saturate. It
//! therefore multiplies `s = u - 127` (in `-127..=127`) instead: with `|q|`
//! as the unsigned operand and `s` carrying `q`'s sign (`vpsignb`), a pair
//! sums to at most `2 · 127 · 127 = 32258 < 32767`, so nothing saturates,
//! and `Σ u · q = Σ s · q + 127 · Σ q` is recovered exactly with the column
//! sums. `s = 128` would not fit a signed byte, hence the 255th level is the
//! last. (An earlier 7-bit scheme, `0..=127` multiplied directly, lost about
//! 1% of cosine on the output layer of the feed-forward block, whose inputs
//! after GELU are nearly all small with a few large values.) Every path
//! (scalar, AVX2, AVX-512 VNNI) computes the same exact integer sums and
//! rescales them with the same float operations, so a dense layer's output
//! does not depend on which path runs it (the f32 parts of the encoder,
//! attention among them, may still round differently from CPU to CPU).
//!
//! # Layout
//!
//! B is padded to a multiple of 4 rows (k) and [`COL_ALIGN`] columns, and
//! stored in panels of [`PANEL`] = 16 columns. Inside a panel, each group of 4
//! consecutive k values takes 64 bytes: column 0's four weights, then column
//! 1's, ... column 15's. So a 32-bit broadcast of a row's 4 activation bytes
//! against 32 bytes of a panel multiplies 4 k values × 8 columns (AVX2), and
//! against all 64 bytes 4 × 16 columns (AVX-512), each `i32` lane ending up
//! with one column's dot product over those 4 values.
//!
//! # Blocking and threads
//!
//! Rows are split into blocks shared among rayon's threads; each block
//! quantises its own rows, then for each column tile walks its rows in
//! strips of a path-specific height, so one panel's weights (`k × 16` bytes)
//! stay in L1 while the strips pass over them. A tile's `i32` accumulators
//! live in registers for the whole of k (no overflow: `2 · k · 254 · 127`
//! stays below `2^31` for k up to 33 000), and are rescaled once at the end.

/// Columns of one packed panel.
pub(crate) const PANEL: usize = 16;
/// k values per packed group (one 32-bit broadcast of activations).
const GROUP: usize = 4;
/// Columns are padded to this multiple (the widest tile).
const COL_ALIGN: usize = 32;
/// Rows of activations are padded to this multiple (a multiple of every
/// strip height).
const ROW_ALIGN: usize = 24;
/// Rows of the tallest strip.
const TILE_ROWS: usize = 8;
/// Row stride of a tile's accumulators, in `i32`.
const TILE_STRIDE: usize = 32;
/// Largest activation code: 255 levels (see the module documentation).
const ACT_MAX: f32 = 254.0;
/// The offset the AVX2 kernel subtracts from each code to make it a signed
/// byte.
const ACT_OFFSET: i32 = 127;
/// The largest k whose sums cannot overflow `i32`: the raw sum and the
/// zero-point term are each within `k · 254 · 127`, their difference within
/// twice that.
const MAX_K: usize = (i32::MAX as usize) / (2 * 254 * 127);

/// A kernel path: which instructions multiply the integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Plain Rust; the reference and the fallback.
    Scalar,
    /// `vpsignb` + `vpmaddubsw` + `vpmaddwd` on 256-bit vectors (AVX2).
    Avx2,
    /// `vpdpbusd` on 512-bit vectors (AVX-512F/BW + AVX-512 VNNI).
    Avx512Vnni,
}

impl Path {
    /// Every path, slowest first.
    pub(crate) const ALL: [Path; 3] = [Path::Scalar, Path::Avx2, Path::Avx512Vnni];

    /// The name benchmarks print: `"int8 scalar"`, `"int8 avx2"`, ...
    pub(crate) fn name(self) -> &'static str {
        match self {
            Path::Scalar => "int8 scalar",
            Path::Avx2 => "int8 avx2",
            Path::Avx512Vnni => "int8 avx512-vnni",
        }
    }

    /// Whether this CPU runs the path.
    pub(crate) fn available(self) -> bool {
        match self {
            Path::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => {
                crate::isa::allows(crate::isa::Isa::Avx2)
                    && std::arch::is_x86_feature_detected!("avx2")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512Vnni => {
                crate::isa::allows(crate::isa::Isa::Avx512)
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU runs.
    pub(crate) fn best() -> Path {
        Path::ALL
            .into_iter()
            .rev()
            .find(|p| p.available())
            .unwrap_or(Path::Scalar)
    }

    /// Rows of one strip (the register tile's height).
    fn rows(self) -> usize {
        match self {
            Path::Scalar => 4,
            Path::Avx2 => 4,
            Path::Avx512Vnni => 8,
        }
    }

    /// Columns of one tile (a multiple of [`PANEL`], at most [`COL_ALIGN`]).
    fn cols(self) -> usize {
        match self {
            Path::Scalar | Path::Avx2 => 16,
            Path::Avx512Vnni => 32,
        }
    }
}

/// A `k × n` weight matrix quantised per column and packed for
/// [`matmul_acc`].
pub(crate) struct QuantizedB {
    k: usize,
    n: usize,
    /// k groups of [`GROUP`] values (k padded up).
    groups: usize,
    /// Panel `p` starts at `p * groups * 64`; in it, group `g` at `g * 64`,
    /// column `c` of the panel at `c * 4`, k offset `t` at `t`.
    data: Vec<i8>,
    /// Per column: `w ≈ scale · q` (0 for padding and all-zero columns).
    scales: Vec<f32>,
    /// Per column: `Σ_k q`, for the activations' zero point.
    col_sums: Vec<i32>,
    /// Per input channel, what its values are multiplied by before
    /// quantisation (the inverse of the factor folded into the weight row),
    /// when the matrix is [smoothed](QuantizedB::smoothed).
    inv_smooth: Option<Vec<f32>>,
    /// The kernel that multiplies.
    path: Path,
}

impl QuantizedB {
    /// Quantises and packs the row-major `k × n` matrix `b` for `path`
    /// (which must be available on this CPU; [`Path::best`] is).
    ///
    /// Returns `None` when the shapes do not fit (`b.len() != k · n`, an
    /// empty matrix, or k beyond what `i32` sums can hold).
    #[cfg(test)]
    pub(crate) fn new(b: &[f32], k: usize, n: usize, path: Path) -> Option<Self> {
        Self::build(b, k, n, path, None)
    }

    /// [`QuantizedB::new`] with the input channels smoothed: `act_max[kk]`
    /// is how large input `kk` gets (its largest magnitude over calibration
    /// inputs). Weight row `kk` is multiplied by `s_kk = sqrt(act_max[kk] /
    /// max_j |b[kk][j]|)` before quantisation and input `kk` divided by it
    /// before its row is quantised, which leaves the product unchanged but
    /// evens out the channels: a few inputs much larger than the rest (as
    /// BERT's LayerNorm outputs have) would otherwise take most of a row's
    /// 255 levels and leave the other inputs a handful each.
    pub(crate) fn smoothed(
        b: &[f32],
        k: usize,
        n: usize,
        path: Path,
        act_max: &[f32],
    ) -> Option<Self> {
        if act_max.len() != k || b.len() != k * n {
            return None;
        }
        let factors: Vec<f32> = b
            .chunks_exact(n.max(1))
            .zip(act_max)
            .map(|(row, &x)| {
                let w = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                let s = (x / w).sqrt();
                if s.is_finite() && s > 0.0 {
                    s.clamp(1e-3, 1e3)
                } else {
                    1.0
                }
            })
            .collect();
        let scaled: Vec<f32> = b
            .chunks_exact(n.max(1))
            .zip(&factors)
            .flat_map(|(row, &f)| row.iter().map(move |w| w * f))
            .collect();
        let inv: Vec<f32> = factors.iter().map(|f| 1.0 / f).collect();
        Self::build(&scaled, k, n, path, Some(inv))
    }

    fn build(
        b: &[f32],
        k: usize,
        n: usize,
        path: Path,
        inv_smooth: Option<Vec<f32>>,
    ) -> Option<Self> {
        if b.len() != k * n || k == 0 || n == 0 || k > MAX_K || !path.available() {
            return None;
        }
        let groups = k.div_ceil(GROUP);
        let n_pad = n.div_ceil(COL_ALIGN) * COL_ALIGN;
        let mut scales = vec![0f32; n_pad];
        for row in b.chunks_exact(n) {
            for (s, w) in scales.iter_mut().zip(row) {
                *s = s.max(w.abs());
            }
        }
        for s in &mut scales {
            *s /= 127.0;
        }
        let mut data = vec![0i8; n_pad * groups * GROUP];
        let mut col_sums = vec![0i32; n_pad];
        for kk in 0..k {
            let (g, t) = (kk / GROUP, kk % GROUP);
            for j in 0..n {
                let q = quantize_weight(b[kk * n + j], scales[j]);
                let (p, c) = (j / PANEL, j % PANEL);
                data[(p * groups + g) * PANEL * GROUP + c * GROUP + t] = q;
                col_sums[j] += i32::from(q);
            }
        }
        Some(QuantizedB {
            k,
            n,
            groups,
            data,
            scales,
            col_sums,
            inv_smooth,
            path,
        })
    }

    /// The packed panels from column `col0` (a multiple of [`PANEL`]) on.
    fn panels_from(&self, col0: usize) -> &[i8] {
        &self.data[col0 / PANEL * self.groups * PANEL * GROUP..]
    }
}

/// `round(w / scale)` in `-127..=127`; 0 when the column is all zeros.
fn quantize_weight(w: f32, scale: f32) -> i8 {
    if scale > 0.0 {
        (w / scale).round_ties_even().clamp(-127.0, 127.0) as i8
    } else {
        0
    }
}

/// One row's activation quantisation: `x ≈ scale · (u - zero)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RowQuant {
    scale: f32,
    zero: i32,
}

/// Quantises the row `x` into `out` (its first `x.len()` bytes; the rest,
/// padding, set to 0). Every path quantises through this one function, and
/// each build of it performs the same operations in the same order, so the
/// codes do not depend on the CPU.
#[inline(always)]
fn quantize_row_generic(x: &[f32], out: &mut [u8]) -> RowQuant {
    const LANES: usize = 8;
    let mut lo = [0f32; LANES];
    let mut hi = [0f32; LANES];
    let mut sum = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
            // Only to notice NaN and infinity, which comparisons skip.
            sum[i] += c[i] * 0.0;
        }
    }
    let (mut l, mut h, mut s) = (0f32, 0f32, 0f32);
    for v in lo.iter().chain(rest) {
        l = if *v < l { *v } else { l };
    }
    for v in hi.iter().chain(rest) {
        h = if *v > h { *v } else { h };
    }
    for v in sum.iter().chain(rest) {
        s += v * 0.0;
    }
    let range = h - l;
    if !s.is_finite() || !range.is_finite() {
        // A NaN scale makes every output of the row NaN, which the engine
        // reports as a non-finite vector instead of returning garbage.
        out.fill(0);
        return RowQuant {
            scale: f32::NAN,
            zero: 0,
        };
    }
    if range == 0.0 {
        out.fill(0);
        return RowQuant {
            scale: 0.0,
            zero: 0,
        };
    }
    let inv = ACT_MAX / range;
    let zero = (-l * inv).round_ties_even().clamp(0.0, ACT_MAX);
    // A whole number in 0..=254 plus 1.5 · 2^23 keeps that number in the
    // low mantissa bits: read there, the conversion vectorises (Rust's
    // saturating float-to-int casts do not).
    const MAGIC: f32 = 12_582_912.0;
    for (o, v) in out.iter_mut().zip(x) {
        let q = (*v * inv + zero).round_ties_even().clamp(0.0, ACT_MAX) + MAGIC;
        *o = q.to_bits().wrapping_sub(MAGIC.to_bits()) as u8;
    }
    out[x.len()..].fill(0);
    RowQuant {
        scale: range / ACT_MAX,
        zero: zero as i32,
    }
}

/// [`quantize_row_generic`] through its AVX2 build where the CPU has AVX2,
/// as the blocks of every path run it (compiled inside [`run_block`] for
/// the path's instructions): the tests check that each build gives the same
/// codes.
#[cfg(test)]
fn quantize_row(x: &[f32], out: &mut [u8]) -> RowQuant {
    assert!(out.len() >= x.len());
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2(x: &[f32], out: &mut [u8]) -> RowQuant {
            quantize_row_generic(x, out)
        }
        if crate::isa::allows(crate::isa::Isa::Avx2) && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU has AVX2, the only feature `avx2` is built for.
            return unsafe { avx2(x, out) };
        }
    }
    quantize_row_generic(x, out)
}

/// Accumulators of one tile: row `i`, column `j` at `i * TILE_STRIDE + j`.
type Tile = [i32; TILE_ROWS * TILE_STRIDE];

/// Computes one tile: `path.rows()` rows of quantised activations starting at
/// `a[0]` (row stride `lda`, `groups * 4` bytes each) times `path.cols()`
/// columns of packed panels starting at `b[0]`, into `tile` (raw `i32` sums,
/// zero point not yet subtracted). `sums` are the columns' weight sums from
/// the tile's first column on.
fn run_tile(
    path: Path,
    groups: usize,
    a: &[u8],
    lda: usize,
    b: &[i8],
    sums: &[i32],
    tile: &mut Tile,
) {
    let rows = path.rows();
    let panel_len = groups * PANEL * GROUP;
    assert!(lda >= groups * GROUP && a.len() >= (rows - 1) * lda + groups * GROUP);
    assert!(b.len() >= path.cols() / PANEL * panel_len);
    assert!(sums.len() >= path.cols());
    match path {
        Path::Scalar => tile_scalar(groups, a, lda, b, tile),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a matrix is packed for a path only when the CPU has it
        // (`QuantizedB::new` checks), and the asserts above bound every read
        // of `a` and `b`; `tile` holds every row and column written.
        Path::Avx2 => unsafe { tile_avx2(groups, a.as_ptr(), lda, b.as_ptr(), sums, tile) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Path::Avx512Vnni => unsafe {
            tile_avx512_vnni(groups, a.as_ptr(), lda, b.as_ptr(), panel_len, tile)
        },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the scalar path is available off x86-64"),
    }
}

/// The reference: `path.rows() = 4` rows × 16 columns, in plain integers.
fn tile_scalar(groups: usize, a: &[u8], lda: usize, b: &[i8], tile: &mut Tile) {
    const ROWS: usize = 4;
    tile.fill(0);
    for g in 0..groups {
        let w = &b[g * PANEL * GROUP..(g + 1) * PANEL * GROUP];
        for i in 0..ROWS {
            let av = &a[i * lda + g * GROUP..i * lda + (g + 1) * GROUP];
            let acc = &mut tile[i * TILE_STRIDE..i * TILE_STRIDE + PANEL];
            for (c, out) in acc.iter_mut().enumerate() {
                let wc = &w[c * GROUP..(c + 1) * GROUP];
                *out += av
                    .iter()
                    .zip(wc)
                    .map(|(&x, &y)| i32::from(x) * i32::from(y))
                    .sum::<i32>();
            }
        }
    }
}

/// 4 rows × 16 columns: per group of 4 k values, two 256-bit loads of the
/// panel and their absolute values, and per row one 32-bit broadcast of its 4
/// activation codes less 127 (`s`, signed bytes), `vpsignb` giving `s` the
/// weights' signs, `vpmaddubsw` of `|q|` with that (pairs summed to `i16`,
/// exact: see the module documentation), then `vpmaddwd` with ones (pairs of
/// `i16` summed to `i32`). The tile holds `Σ s · q + 127 · Σ q = Σ u · q`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(
    groups: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    sums: &[i32],
    tile: &mut Tile,
) {
    use std::arch::x86_64::*;
    // Four rows: 8 accumulators, the panel and its absolute values (4), the
    // ones and the offset fit AVX2's 16 registers with the temporaries; at
    // six rows the accumulators spilled to the stack, which made the whole
    // int8 encoder 1.7x slower on passages.
    const ROWS: usize = 4;
    let ones = _mm256_set1_epi16(1);
    let offset = _mm256_set1_epi8(ACT_OFFSET as i8);
    let mut acc = [_mm256_setzero_si256(); 2 * ROWS];
    for g in 0..groups {
        // SAFETY: group g < groups of the panel, 64 bytes each (checked by
        // `run_tile`).
        let (w0, w1) = unsafe {
            let p = b.add(g * PANEL * GROUP);
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
            )
        };
        let (m0, m1) = (_mm256_abs_epi8(w0), _mm256_abs_epi8(w1));
        for i in 0..ROWS {
            // SAFETY: row i < ROWS and bytes 4g..4g+4 lie within each row
            // (checked by `run_tile`); the read may be unaligned.
            let x = unsafe { a.add(i * lda + g * GROUP).cast::<i32>().read_unaligned() };
            // Codes 0..=254 less 127: -127..=127, a signed byte each.
            let sv = _mm256_sub_epi8(_mm256_set1_epi32(x), offset);
            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(m0, _mm256_sign_epi8(sv, w0)), ones);
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(m1, _mm256_sign_epi8(sv, w1)), ones);
            acc[2 * i] = _mm256_add_epi32(acc[2 * i], p0);
            acc[2 * i + 1] = _mm256_add_epi32(acc[2 * i + 1], p1);
        }
    }
    // SAFETY: `sums` holds at least 16 values (checked by `run_tile`).
    let (c0, c1) = unsafe {
        let k = _mm256_set1_epi32(ACT_OFFSET);
        (
            _mm256_mullo_epi32(_mm256_loadu_si256(sums.as_ptr().cast()), k),
            _mm256_mullo_epi32(_mm256_loadu_si256(sums.as_ptr().add(8).cast()), k),
        )
    };
    for i in 0..ROWS {
        let row = &mut tile[i * TILE_STRIDE..i * TILE_STRIDE + PANEL];
        // SAFETY: `row` holds 16 i32, the two 8-lane stores.
        unsafe {
            _mm256_storeu_si256(row.as_mut_ptr().cast(), _mm256_add_epi32(acc[2 * i], c0));
            _mm256_storeu_si256(
                row.as_mut_ptr().add(8).cast(),
                _mm256_add_epi32(acc[2 * i + 1], c1),
            );
        }
    }
}

/// 8 rows × 32 columns (two panels, `panel_len` bytes apart): per group, one
/// 512-bit load of each panel and per row one 32-bit broadcast and two
/// `vpdpbusd` (u8 × i8, four products summed straight into `i32`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_avx512_vnni(
    groups: usize,
    a: *const u8,
    lda: usize,
    b: *const i8,
    panel_len: usize,
    tile: &mut Tile,
) {
    use std::arch::x86_64::*;
    const ROWS: usize = 8;
    let mut acc = [_mm512_setzero_si512(); 2 * ROWS];
    for g in 0..groups {
        // SAFETY: group g < groups of both panels (checked by `run_tile`).
        let (w0, w1) = unsafe {
            let p = b.add(g * PANEL * GROUP);
            (
                _mm512_loadu_si512(p.cast()),
                _mm512_loadu_si512(p.add(panel_len).cast()),
            )
        };
        for i in 0..ROWS {
            // SAFETY: as in `tile_avx2`.
            let x = unsafe { a.add(i * lda + g * GROUP).cast::<i32>().read_unaligned() };
            let av = _mm512_set1_epi32(x);
            acc[2 * i] = _mm512_dpbusd_epi32(acc[2 * i], av, w0);
            acc[2 * i + 1] = _mm512_dpbusd_epi32(acc[2 * i + 1], av, w1);
        }
    }
    for i in 0..ROWS {
        let row = &mut tile[i * TILE_STRIDE..(i + 1) * TILE_STRIDE];
        // SAFETY: `row` holds 32 i32, the two 16-lane stores.
        unsafe {
            _mm512_storeu_si512(row.as_mut_ptr().cast(), acc[2 * i]);
            _mm512_storeu_si512(row.as_mut_ptr().add(16).cast(), acc[2 * i + 1]);
        }
    }
}

/// Rows per parallel block: [`ROW_ALIGN`] (24). A block's rows of the
/// result are read and written once per column tile, rows `n` floats apart;
/// at 24 rows they stay in L1/L2 between tiles (at 144 rows, 884 KB for the
/// feed-forward layer, every tile's first touch of a row missed the caches,
/// 9% slower on 256-token passages), while the weights, re-read once per
/// block, stream from L2.
fn block_rows() -> usize {
    ROW_ALIGN
}

/// Quantises `rows` rows of `a` (row-major, `k` wide) into `codes` (row
/// stride `lda`, rows padded up to [`ROW_ALIGN`] with zeros) and `quants`.
/// Each row is first multiplied by `inv_smooth`, when given.
#[inline(always)]
fn quantize_block(
    a: &[f32],
    rows: usize,
    k: usize,
    lda: usize,
    inv_smooth: Option<&[f32]>,
    codes: &mut Vec<u8>,
    quants: &mut Vec<RowQuant>,
) {
    let padded = rows.div_ceil(ROW_ALIGN) * ROW_ALIGN;
    codes.clear();
    codes.resize(padded * lda, 0);
    quants.clear();
    let mut scratch = Vec::new();
    for (r, out) in codes.chunks_exact_mut(lda).take(rows).enumerate() {
        let row = &a[r * k..(r + 1) * k];
        let q = match inv_smooth {
            Some(f) => {
                scratch.clear();
                scratch.extend(row.iter().zip(f).map(|(x, f)| x * f));
                quantize_row_generic(&scratch, out)
            }
            None => quantize_row_generic(row, out),
        };
        quants.push(q);
    }
}

/// Runs every tile of the rows `codes` holds (`rows` of them, quantised)
/// against `b`, handing each tile to `sink(first row, first column, tile)`.
#[inline(always)]
fn for_each_tile(
    b: &QuantizedB,
    codes: &[u8],
    rows: usize,
    mut sink: impl FnMut(usize, usize, &Tile),
) {
    let path = b.path;
    let lda = b.groups * GROUP;
    let mut tile: Tile = [0; TILE_ROWS * TILE_STRIDE];
    for col0 in (0..b.n).step_by(path.cols()) {
        let panels = b.panels_from(col0);
        for row0 in (0..rows).step_by(path.rows()) {
            let sums = &b.col_sums[col0..];
            run_tile(
                path,
                b.groups,
                &codes[row0 * lda..],
                lda,
                panels,
                sums,
                &mut tile,
            );
            sink(row0, col0, &tile);
        }
    }
}

/// `c[m × n] += a[m × k] · b`, dequantised, with `a` and `c` row-major and
/// contiguous (`k` and `n` from `b`). With `threads > 1`, blocks of rows are
/// shared among rayon's threads.
pub(crate) fn matmul_acc(m: usize, a: &[f32], b: &QuantizedB, c: &mut [f32], threads: usize) {
    crate::kernels::row_blocks(m, a, b.k, c, b.n, block_rows(), threads, |a, rows, c| {
        run_block(b, a, rows, c)
    });
}

/// One block of `rows` rows of `a`: quantised, multiplied and dequantised
/// into `c` (the block's rows of the result). The whole block is compiled for
/// the path's instruction set, so quantising and rescaling vectorise as wide
/// as the multiply does; the operations, and so the results, are the same on
/// every path.
fn run_block(b: &QuantizedB, a: &[f32], rows: usize, c: &mut [f32]) {
    match b.path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512Vnni => {
            #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2")]
            fn wide(b: &QuantizedB, a: &[f32], rows: usize, c: &mut [f32]) {
                block_generic(b, a, rows, c);
            }
            // SAFETY: a matrix is packed for this path only when the CPU has
            // its features (`QuantizedB::build` checks `available`).
            unsafe { wide(b, a, rows, c) }
        }
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => {
            #[target_feature(enable = "avx2")]
            fn wide(b: &QuantizedB, a: &[f32], rows: usize, c: &mut [f32]) {
                block_generic(b, a, rows, c);
            }
            // SAFETY: as above.
            unsafe { wide(b, a, rows, c) }
        }
        _ => block_generic(b, a, rows, c),
    }
}

#[inline(always)]
fn block_generic(b: &QuantizedB, a: &[f32], rows: usize, c: &mut [f32]) {
    let lda = b.groups * GROUP;
    let mut codes = Vec::new();
    let mut quants = Vec::new();
    quantize_block(
        a,
        rows,
        b.k,
        lda,
        b.inv_smooth.as_deref(),
        &mut codes,
        &mut quants,
    );
    for_each_tile(b, &codes, rows, |r0, col0, tile| {
        dequantize_tile(b, &quants, r0, col0, tile, c);
    });
}

/// Adds the rescaled tile at rows `r0..`, columns `col0..` to `c` (the rows of
/// one block, `b.n` wide), skipping padding rows and columns: each element
/// gains `(acc - zero · Σq) as f32 · (scale_row · scale_col)`. The vector
/// builds perform the same operations in the same order as the scalar one,
/// so every path gives the same floats.
#[inline(always)]
fn dequantize_tile(
    b: &QuantizedB,
    quants: &[RowQuant],
    r0: usize,
    col0: usize,
    tile: &Tile,
    c: &mut [f32],
) {
    let n = b.n;
    let cols = b.path.cols().min(n - col0);
    let rows = quants.len().saturating_sub(r0).min(b.path.rows());
    // Every element written lies inside `c`, and the 16-column reads of
    // scales and sums stay inside the padded columns.
    assert!(rows == 0 || c.len() >= (r0 + rows - 1) * n + col0 + cols);
    assert!(col0 + b.path.cols() <= b.scales.len() && col0 + b.path.cols() <= b.col_sums.len());
    // The next strip's rows of these columns are far apart in `c` and the
    // hardware does not see them coming: ask for them while the next tile
    // multiplies.
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let next = (quants.len().saturating_sub(r0 + rows)).min(rows);
        for i in r0 + rows..r0 + rows + next {
            let start = i * n + col0;
            for j in (0..cols).step_by(16) {
                if let Some(p) = c.get(start + j) {
                    // SAFETY: a prefetch of an address inside `c`; it reads
                    // nothing and cannot fault.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>((p as *const f32).cast()) };
                }
            }
        }
    }
    match b.path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the path is packed only where the CPU has its features;
        // the asserts above bound every access.
        Path::Avx512Vnni => unsafe { dequantize_avx512(b, quants, r0, col0, rows, cols, tile, c) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Path::Avx2 => unsafe { dequantize_avx2(b, quants, r0, col0, rows, cols, tile, c) },
        _ => dequantize_scalar(b, quants, r0, col0, rows, cols, tile, c),
    }
}

#[allow(clippy::too_many_arguments)]
fn dequantize_scalar(
    b: &QuantizedB,
    quants: &[RowQuant],
    r0: usize,
    col0: usize,
    rows: usize,
    cols: usize,
    tile: &Tile,
    c: &mut [f32],
) {
    let n = b.n;
    let scales = &b.scales[col0..col0 + cols];
    let sums = &b.col_sums[col0..col0 + cols];
    for (i, q) in quants[r0..r0 + rows].iter().enumerate() {
        let acc = &tile[i * TILE_STRIDE..i * TILE_STRIDE + cols];
        let out = &mut c[(r0 + i) * n + col0..(r0 + i) * n + col0 + cols];
        let (zero, scale) = (q.zero, q.scale);
        // Wrapping operations: the sums cannot overflow (`MAX_K`).
        for (((o, &t), &s), &z) in out.iter_mut().zip(acc).zip(scales).zip(sums) {
            *o += t.wrapping_sub(zero.wrapping_mul(z)) as f32 * (scale * s);
        }
    }
}

/// [`dequantize_scalar`] 16 columns at a time, the last ones masked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn dequantize_avx512(
    b: &QuantizedB,
    quants: &[RowQuant],
    r0: usize,
    col0: usize,
    rows: usize,
    cols: usize,
    tile: &Tile,
    c: &mut [f32],
) {
    use std::arch::x86_64::*;
    let n = b.n;
    for j0 in (0..cols).step_by(16) {
        let valid = (cols - j0).min(16);
        let mask: __mmask16 = if valid == 16 {
            0xffff
        } else {
            (1u16 << valid) - 1
        };
        // SAFETY: columns col0 + j0 .. + 16 lie inside the padded scales and
        // sums (checked by `dequantize_tile`).
        let (scales, sums) = unsafe {
            (
                _mm512_loadu_ps(b.scales.as_ptr().add(col0 + j0)),
                _mm512_loadu_si512(b.col_sums.as_ptr().add(col0 + j0).cast()),
            )
        };
        for (i, q) in quants[r0..r0 + rows].iter().enumerate() {
            // SAFETY: the tile holds TILE_ROWS rows of TILE_STRIDE values; the
            // masked load and store touch only the row's valid columns,
            // inside `c` (checked by `dequantize_tile`).
            unsafe {
                let t = _mm512_loadu_si512(tile.as_ptr().add(i * TILE_STRIDE + j0).cast());
                let zs = _mm512_mullo_epi32(_mm512_set1_epi32(q.zero), sums);
                let f = _mm512_cvtepi32_ps(_mm512_sub_epi32(t, zs));
                let v = _mm512_mul_ps(f, _mm512_mul_ps(_mm512_set1_ps(q.scale), scales));
                let o = c.as_mut_ptr().add((r0 + i) * n + col0 + j0);
                let cur = _mm512_maskz_loadu_ps(mask, o);
                _mm512_mask_storeu_ps(o, mask, _mm512_add_ps(cur, v));
            }
        }
    }
}

/// [`dequantize_scalar`] 8 columns at a time, the last ones masked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn dequantize_avx2(
    b: &QuantizedB,
    quants: &[RowQuant],
    r0: usize,
    col0: usize,
    rows: usize,
    cols: usize,
    tile: &Tile,
    c: &mut [f32],
) {
    use std::arch::x86_64::*;
    let n = b.n;
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for j0 in (0..cols).step_by(8) {
        let valid = (cols - j0).min(8) as i32;
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lanes);
        // SAFETY: as in `dequantize_avx512`.
        let (scales, sums) = unsafe {
            (
                _mm256_loadu_ps(b.scales.as_ptr().add(col0 + j0)),
                _mm256_loadu_si256(b.col_sums.as_ptr().add(col0 + j0).cast()),
            )
        };
        for (i, q) in quants[r0..r0 + rows].iter().enumerate() {
            // SAFETY: as in `dequantize_avx512`.
            unsafe {
                let t = _mm256_loadu_si256(tile.as_ptr().add(i * TILE_STRIDE + j0).cast());
                let zs = _mm256_mullo_epi32(_mm256_set1_epi32(q.zero), sums);
                let f = _mm256_cvtepi32_ps(_mm256_sub_epi32(t, zs));
                let v = _mm256_mul_ps(f, _mm256_mul_ps(_mm256_set1_ps(q.scale), scales));
                let o = c.as_mut_ptr().add((r0 + i) * n + col0 + j0);
                let cur = _mm256_maskload_ps(o, mask);
                _mm256_maskstore_ps(o, mask, _mm256_add_ps(cur, v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::Rng;

    /// Shapes with m, k and n off every blocking multiple, and 1s.
    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 5, 17),
        (3, 7, 33),
        (5, 384, 16),
        (9, 13, 31),
        (13, 130, 47),
        (37, 385, 100),
        (130, 67, 1),
        (200, 1536, 40),
    ];

    /// The raw `i32` sums (zero point not subtracted) of every row and
    /// column, through the tiles of `b`'s path.
    fn sums(b: &QuantizedB, codes: &[u8], rows: usize) -> Vec<i32> {
        let n = b.n;
        let mut out = vec![0i32; rows * n];
        for_each_tile(b, codes, rows, |r0, col0, tile| {
            for i in r0..(r0 + b.path.rows()).min(rows) {
                for j in col0..(col0 + b.path.cols()).min(n) {
                    out[i * n + j] = tile[(i - r0) * TILE_STRIDE + j - col0];
                }
            }
        });
        out
    }

    #[test]
    fn every_available_path_matches_the_scalar_sums_exactly() {
        let available: Vec<Path> = Path::ALL.into_iter().filter(|p| p.available()).collect();
        eprintln!(
            "int8 paths on this CPU: {:?}",
            available.iter().map(|p| p.name()).collect::<Vec<_>>()
        );
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for &(m, k, n) in SHAPES {
            let a = rng.matrix(m * k, 0.3);
            let w = rng.matrix(k * n, 0.0);
            let reference = QuantizedB::new(&w, k, n, Path::Scalar).unwrap();
            let lda = reference.groups * GROUP;
            let (mut codes, mut quants) = (Vec::new(), Vec::new());
            quantize_block(&a, m, k, lda, None, &mut codes, &mut quants);
            let want = sums(&reference, &codes, m);
            // The scalar tiles against a direct triple loop over the codes.
            for i in 0..m {
                for j in 0..n {
                    let direct: i32 = (0..k)
                        .map(|kk| {
                            let q = quantize_weight(w[kk * n + j], reference.scales[j]);
                            i32::from(codes[i * lda + kk]) * i32::from(q)
                        })
                        .sum();
                    assert_eq!(want[i * n + j], direct, "{m}x{k}x{n} [{i},{j}]");
                }
            }
            // Extreme codes: the largest pair sums must not saturate.
            let mut extreme = codes.clone();
            for (r, row) in extreme.chunks_exact_mut(lda).enumerate() {
                row[..k].fill(if r % 2 == 0 { 254 } else { 0 });
            }
            let extreme_want = sums(&reference, &extreme, m);
            // Weights of ±1 quantise to ±127 everywhere: with codes of 254
            // (and of 0, which the AVX2 kernel turns into -127), every pair
            // sums to ±2·127·127, the most an i16 must hold.
            let signs: Vec<f32> = w
                .iter()
                .map(|v| if *v < 0.0 { -1.0 } else { 1.0 })
                .collect();
            let signs_ref = QuantizedB::new(&signs, k, n, Path::Scalar).unwrap();
            let signs_want = sums(&signs_ref, &extreme, m);
            for i in 0..m {
                for j in 0..n {
                    let direct: i32 = (0..k)
                        .map(|kk| i32::from(extreme[i * lda + kk]) * 127 * signs[kk * n + j] as i32)
                        .sum();
                    assert_eq!(signs_want[i * n + j], direct);
                }
            }
            for &path in &available {
                let b = QuantizedB::new(&w, k, n, path).unwrap();
                assert_eq!(b.data, reference.data);
                assert_eq!(sums(&b, &codes, m), want, "{} {m}x{k}x{n}", path.name());
                assert_eq!(
                    sums(&b, &extreme, m),
                    extreme_want,
                    "{} extreme",
                    path.name()
                );
                let s = QuantizedB::new(&signs, k, n, path).unwrap();
                assert_eq!(sums(&s, &extreme, m), signs_want, "{} ±127", path.name());
            }
        }
    }

    #[test]
    fn every_available_path_gives_the_same_floats() {
        // Quantising, multiplying and rescaling are the same operations on
        // every path, so a product (smoothed or not, any thread count) is
        // bit-identical to the scalar path's.
        let mut rng = Rng(11);
        for &(m, k, n) in SHAPES {
            let a = rng.matrix(m * k, 0.1);
            let w = rng.matrix(k * n, 0.0);
            let base = rng.matrix(m * n, 0.0);
            let act: Vec<f32> = (0..k).map(|i| 0.5 + (i % 7) as f32).collect();
            let product = |path: Path, smooth: bool, threads: usize| {
                let b = if smooth {
                    QuantizedB::smoothed(&w, k, n, path, &act).unwrap()
                } else {
                    QuantizedB::new(&w, k, n, path).unwrap()
                };
                let mut c = base.clone();
                matmul_acc(m, &a, &b, &mut c, threads);
                c
            };
            for smooth in [false, true] {
                let want = product(Path::Scalar, smooth, 1);
                for path in Path::ALL.into_iter().filter(|p| p.available()) {
                    for threads in [1, 2] {
                        let got = product(path, smooth, threads);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(x, y)| x.to_bits() == y.to_bits());
                        assert!(same, "{} {m}x{k}x{n} smooth {smooth}", path.name());
                    }
                }
            }
        }
    }

    #[test]
    fn dequantised_product_is_within_the_rounding_bound() {
        // Each factor is off by at most half its step, so an element is off
        // by at most Σ_k (|a|·Δw + |w|·Δa + Δa·Δw) with Δ = step / 2; the
        // test allows that bound plus 1% and 1e-5 for float rounding.
        let mut rng = Rng(42);
        for &(m, k, n) in SHAPES {
            let a = rng.matrix(m * k, 0.2);
            let w = rng.matrix(k * n, 0.0);
            let base = rng.matrix(m * n, 0.0);
            for path in Path::ALL.into_iter().filter(|p| p.available()) {
                let b = QuantizedB::new(&w, k, n, path).unwrap();
                for threads in [1, 3] {
                    let mut c = base.clone();
                    matmul_acc(m, &a, &b, &mut c, threads);
                    for i in 0..m {
                        let row = &a[i * k..(i + 1) * k];
                        let lo = row.iter().fold(0f32, |x, &y| x.min(y));
                        let hi = row.iter().fold(0f32, |x, &y| x.max(y));
                        let da = (hi - lo) / ACT_MAX / 2.0;
                        for j in 0..n {
                            let dw = b.scales[j] / 2.0;
                            let mut want = f64::from(base[i * n + j]);
                            let mut bound = 0f64;
                            for kk in 0..k {
                                let (x, y) = (row[kk], w[kk * n + j]);
                                want += f64::from(x) * f64::from(y);
                                bound += f64::from(x.abs() * dw + y.abs() * da + da * dw);
                            }
                            let got = f64::from(c[i * n + j]);
                            assert!(
                                (got - want).abs() <= bound * 1.01 + 1e-5,
                                "{} {m}x{k}x{n} [{i},{j}]: {got} vs {want} (bound {bound})",
                                path.name()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn quantisation_round_trips() {
        let mut rng = Rng(7);
        // Activations: every value comes back within half a step.
        for (len, offset) in [(1, 0.0), (7, 0.5), (384, -0.2), (1536, 3.0)] {
            let x = rng.matrix(len, offset);
            let mut codes = vec![0xffu8; len + 3];
            let q = quantize_row(&x, &mut codes);
            assert!((0..=254).contains(&q.zero));
            assert!(codes[len..].iter().all(|&c| c == 0), "padding zeroed");
            for (v, &u) in x.iter().zip(&codes) {
                assert!(u <= 254);
                let back = q.scale * (i32::from(u) - q.zero) as f32;
                assert!((back - v).abs() <= q.scale * 0.5001, "{v} -> {u} -> {back}");
            }
            // The generic and the dispatched builds agree exactly.
            let mut generic = vec![0u8; len + 3];
            assert_eq!(quantize_row_generic(&x, &mut generic), q);
            assert_eq!(generic, codes);
        }
        // Zero rows quantise to zero; non-finite rows poison their outputs.
        let mut codes = [9u8; 4];
        assert_eq!(quantize_row(&[0.0; 4], &mut codes).scale, 0.0);
        assert_eq!(codes, [0; 4]);
        assert!(quantize_row(&[1.0, f32::NAN, 0.0, 2.0], &mut codes)
            .scale
            .is_nan());
        assert!(quantize_row(&[1.0, f32::INFINITY], &mut codes[..2])
            .scale
            .is_nan());
        // Weights: per column, within half a step, the largest at ±127.
        let (k, n) = (37, 5);
        let w = rng.matrix(k * n, 0.0);
        let b = QuantizedB::new(&w, k, n, Path::Scalar).unwrap();
        for j in 0..n {
            let mut top = 0;
            for kk in 0..k {
                let q = quantize_weight(w[kk * n + j], b.scales[j]);
                top = top.max(i32::from(q).abs());
                let back = f32::from(q) * b.scales[j];
                assert!((back - w[kk * n + j]).abs() <= b.scales[j] * 0.5001);
            }
            assert_eq!(top, 127);
        }
        assert!(b.scales[n..].iter().all(|&s| s == 0.0));
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(QuantizedB::new(&[1.0; 6], 2, 2, Path::Scalar).is_none());
        assert!(QuantizedB::new(&[], 0, 0, Path::Scalar).is_none());
        for path in Path::ALL {
            assert_eq!(
                QuantizedB::new(&[1.0; 4], 2, 2, path).is_some(),
                path.available()
            );
        }
        assert!(Path::best().available());
    }

    #[test]
    fn non_finite_inputs_give_non_finite_outputs() {
        let w = vec![0.5f32; 8 * 4];
        let b = QuantizedB::new(&w, 8, 4, Path::best()).unwrap();
        let mut a = vec![1.0f32; 2 * 8];
        a[3] = f32::NAN;
        let mut c = vec![0f32; 2 * 4];
        matmul_acc(2, &a, &b, &mut c, 1);
        assert!(c[..4].iter().all(|v| v.is_nan()));
        assert!(c[4..].iter().all(|v| (v - 4.0).abs() < 0.05), "{c:?}");
    }

    /// Throughput of the int8 paths against the fp32 multiply on the
    /// encoder's shapes; run with `cargo test --release -p embedrock-local
    /// --lib -- --ignored --nocapture int8_speed`.
    #[test]
    #[ignore = "a timing report, not a check"]
    fn int8_speed() {
        use crate::kernels::{MatMul, Strided};
        use std::time::Instant;
        let mut rng = Rng(3);
        for threads in [1, 2] {
            for (m, k, n) in [
                (512, 384, 1152),
                (512, 384, 1536),
                (512, 1536, 384),
                (32, 384, 1536),
            ] {
                let a = rng.matrix(m * k, 0.1);
                let w = rng.matrix(k * n, 0.0);
                let mut c = vec![0f32; m * n];
                let reps = (2_000_000_000 / (m * k * n)).max(3);
                let time = |f: &mut dyn FnMut()| {
                    f();
                    let t = Instant::now();
                    for _ in 0..reps {
                        f();
                    }
                    let s = t.elapsed().as_secs_f64() / reps as f64;
                    (s * 1e3, 2.0 * (m * k * n) as f64 / s / 1e9)
                };
                let (ms, gf) = time(&mut || {
                    MatMul {
                        m,
                        n,
                        k,
                        lhs: Strided::rows(&a, k),
                        rhs: Strided::rows(&w, n),
                        accumulate: true,
                        threads,
                    }
                    .run(&mut c, n)
                });
                eprintln!("{threads}t {m}x{k}x{n} fp32 gemm: {ms:.3} ms, {gf:.1} GFLOP/s");
                for path in Path::ALL.into_iter().filter(|p| p.available()) {
                    let b = QuantizedB::new(&w, k, n, path).unwrap();
                    let (ms, gf) = time(&mut || matmul_acc(m, &a, &b, &mut c, threads));
                    eprintln!(
                        "{threads}t {m}x{k}x{n} {}: {ms:.3} ms, {gf:.1} GOP/s",
                        path.name()
                    );
                }
            }
        }
    }
}
