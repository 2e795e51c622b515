//! The numeric kernels of the encoder: matrix multiply (through `gemm`),
//! layer normalisation, GELU, softmax.
//!
//! The element-wise kernels are written as plain loops over `f32` slices with
//! independent accumulator lanes, so the compiler vectorises them; each is
//! compiled twice, once for the baseline target and once with AVX2 and FMA,
//! and the faster one is picked at run time. `exp` and `erf` are polynomial
//! and rational approximations (a few ulp in `f32`) because the library calls
//! cannot be vectorised and would otherwise cost as much as the matrix work.

use gemm::Parallelism;

/// One operand of [`MatMul`]: a slice and its strides, in elements (`row`
/// steps between rows, `col` between columns).
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub data: &'a [f32],
    pub row: usize,
    pub col: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix whose rows are `row` elements apart.
    pub(crate) fn rows(data: &'a [f32], row: usize) -> Self {
        Strided { data, row, col: 1 }
    }

    /// The transpose of a row-major matrix whose rows are `row` elements
    /// apart, read in place.
    pub(crate) fn transposed(data: &'a [f32], row: usize) -> Self {
        Strided {
            data,
            row: 1,
            col: row,
        }
    }

    /// Whether the slice covers every element of a `rows × cols` view.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || self.data.len() > (rows - 1) * self.row + (cols - 1) * self.col
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`: the shape, the operands and how to run.
pub(crate) struct MatMul<'a> {
    /// Rows of the result.
    pub m: usize,
    /// Columns of the result.
    pub n: usize,
    /// The shared inner dimension.
    pub k: usize,
    /// `m × k`.
    pub lhs: Strided<'a>,
    /// `k × n`.
    pub rhs: Strided<'a>,
    /// Add the product to what `dst` holds instead of overwriting it.
    pub accumulate: bool,
    /// Parallelism; 1 runs on the calling thread alone.
    pub threads: usize,
}

impl MatMul<'_> {
    /// Writes (or adds) the product into `dst`, row-major with rows
    /// `dst_row` elements apart.
    pub(crate) fn run(&self, dst: &mut [f32], dst_row: usize) {
        let (m, n, k) = (self.m, self.n, self.k);
        if m == 0 || n == 0 {
            return;
        }
        // The slices must cover every element the strides reach; checking
        // here keeps the unsafe call below sound.
        assert!(dst.len() > (m - 1) * dst_row + (n - 1), "dst too short");
        assert!(self.lhs.covers(m, k), "lhs too short");
        assert!(self.rhs.covers(k, n), "rhs too short");
        let parallelism = if self.threads > 1 {
            Parallelism::Rayon(self.threads)
        } else {
            Parallelism::None
        };
        // SAFETY: the bounds of every operand were checked above against its
        // strides, `dst` is uniquely borrowed and does not alias the inputs.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                dst_row as isize,
                self.accumulate,
                self.lhs.data.as_ptr(),
                self.lhs.col as isize,
                self.lhs.row as isize,
                self.rhs.data.as_ptr(),
                self.rhs.col as isize,
                self.rhs.row as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// The row split of every packed multiply `c[m × n] += a[m × k] · B`: runs
/// `work(a_rows, rows, c_rows)` over blocks of `block_rows` rows (the last
/// may be shorter), with the block's rows of `a` (`k` wide) and of `c` (`n`
/// wide), shared among rayon's threads when `threads > 1`. Checks that `a`
/// and `c` hold `m` rows first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn row_blocks<F>(
    m: usize,
    a: &[f32],
    k: usize,
    c: &mut [f32],
    n: usize,
    block_rows: usize,
    threads: usize,
    work: F,
) where
    F: Fn(&[f32], usize, &mut [f32]) + Send + Sync,
{
    use rayon::prelude::*;
    assert!(a.len() >= m * k && c.len() >= m * n, "operands too short");
    if m == 0 {
        return;
    }
    let block = |(i, c_rows): (usize, &mut [f32])| {
        let row0 = i * block_rows;
        let rows = c_rows.len() / n;
        work(&a[row0 * k..(row0 + rows) * k], rows, c_rows);
    };
    let c = &mut c[..m * n];
    if threads > 1 {
        c.par_chunks_mut(block_rows * n).enumerate().for_each(block);
    } else {
        c.chunks_mut(block_rows * n).enumerate().for_each(block);
    }
}

/// Runs `$generic` through a copy compiled for AVX2+FMA when the CPU has it.
macro_rules! dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),*) $(-> $ret:ty)? => $generic:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic($($arg),*)
                }
                if crate::isa::allows(crate::isa::Isa::Avx2)
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}

const LANES: usize = 16;

#[inline(always)]
fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    let mut s = 0f32;
    for v in rest {
        s += v;
    }
    acc.iter().sum::<f32>() + s
}

#[inline(always)]
fn layer_norm_rows_generic(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(width) {
        let mean = sum_lanes(row) / width as f32;
        let mut acc = [0f32; LANES];
        let chunks = row.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                let d = c[i] - mean;
                acc[i] += d * d;
            }
        }
        let mut var = acc.iter().sum::<f32>();
        for v in rest {
            var += (v - mean) * (v - mean);
        }
        let inv = 1.0 / (var / width as f32 + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

dispatch! {
    /// Normalises each row of `x` (rows of `width` values) to zero mean and unit
    /// variance, then scales by `gamma` and shifts by `beta`.
    pub(crate) fn layer_norm_rows(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) => layer_norm_rows_generic
}

/// `erf(x)` for `f32`: an odd rational function on [-4, 4], where the result
/// is within a few ulp; beyond, `erf` is ±1 in `f32`.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_2e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_2e-3;
    q = q * x2 - 1.426_474e-2;
    p / q
}

#[inline(always)]
fn gelu_generic(x: &mut [f32]) {
    const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * FRAC_1_SQRT_2));
    }
}

dispatch! {
    /// The exact (erf) GELU, in place: `x · Φ(x)`.
    pub(crate) fn gelu(x: &mut [f32]) => gelu_generic
}

/// `e^x` for `f32`, within about one ulp; 0 below -87.3, saturating at 88.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 rounds to the nearest integer in the FPU's own rounding
    // mode and leaves that integer in the low mantissa bits, so both the
    // rounded value and its integer form come without a call or a
    // saturating conversion, and the loop vectorises.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits((ni.wrapping_add(127) as u32) << 23)
}

#[inline(always)]
fn max_lanes(x: &[f32]) -> f32 {
    // A comparison rather than `f32::max`, whose NaN rules keep it scalar.
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for v in acc.iter().chain(rest) {
        m = if *v > m { *v } else { m };
    }
    m
}

#[inline(always)]
fn softmax_rows_generic(x: &mut [f32], width: usize, scale: f32) {
    for row in x.chunks_exact_mut(width) {
        let max = max_lanes(row);
        // Exponentials and their sum in one pass, in independent lanes, so
        // the loop vectorises (a plain loop over `exp` stays scalar).
        let mut acc = [0f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for i in 0..LANES {
                let e = exp((c[i] - max) * scale);
                c[i] = e;
                acc[i] += e;
            }
        }
        let mut sum = 0f32;
        for v in chunks.into_remainder() {
            *v = exp((*v - max) * scale);
            sum += *v;
        }
        let inv = 1.0 / (acc.iter().sum::<f32>() + sum);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

dispatch! {
    /// Softmax of `scale · x` over each row of `width` values, in place.
    pub(crate) fn softmax_rows(x: &mut [f32], width: usize, scale: f32) => softmax_rows_generic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive_with_strides() {
        let (m, n, k) = (5, 7, 3);
        let lhs: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        // rhs given transposed: element (kk, j) at j * k + kk.
        let rhs_t: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut dst = vec![1.0f32; m * n];
        let mut op = MatMul {
            m,
            n,
            k,
            lhs: Strided::rows(&lhs, k),
            rhs: Strided::transposed(&rhs_t, k),
            accumulate: true,
            threads: 1,
        };
        op.run(&mut dst, n);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0
                    + (0..k)
                        .map(|kk| lhs[i * k + kk] * rhs_t[j * k + kk])
                        .sum::<f32>();
                assert!((dst[i * n + j] - want).abs() < 1e-5, "{i},{j}");
            }
        }
        let mut fresh = vec![9.0f32; m * n];
        op.accumulate = false;
        op.threads = 2;
        op.run(&mut fresh, n);
        for (a, b) in fresh.iter().zip(&dst) {
            assert!((a + 1.0 - b).abs() < 1e-5);
        }
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert!(exp(-1000.0) < 1e-37);
    }

    #[test]
    fn erf_is_accurate() {
        let mut worst = 0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = libm_erf(x as f64);
            worst = worst.max((erf(x) as f64 - want).abs());
            x += 0.001;
        }
        assert!(worst < 1e-6, "absolute error {worst}");
    }

    /// erf by its Taylor series (small |x|) and continued fraction (large |x|),
    /// in f64, as an independent reference.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 2.5 {
            let mut sum = 0.0;
            let mut term = a;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -a * a / n;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc by Lentz's continued fraction.
            let mut f = a;
            let mut c = a;
            let mut d = 0.0;
            for i in 1..200 {
                let an = i as f64 / 2.0;
                d = a + an * d;
                d = 1.0 / d;
                c = a + an / c;
                let delta = c * d;
                f *= delta;
                if (delta - 1.0).abs() < 1e-16 {
                    break;
                }
            }
            1.0 - (-a * a).exp() / (f * std::f64::consts::PI.sqrt())
        };
        v.copysign(x)
    }

    #[test]
    fn layer_norm_and_softmax() {
        let mut x: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let gamma = vec![1.0f32; 20];
        let beta = vec![0.5f32; 20];
        layer_norm_rows(&mut x, 20, &gamma, &beta, 1e-12);
        for row in x.chunks(20) {
            let mean: f32 = row.iter().sum::<f32>() / 20.0;
            let var: f32 = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 20.0;
            assert!((mean - 0.5).abs() < 1e-5);
            assert!((var - 1.0).abs() < 1e-4);
        }
        let mut s = vec![1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0];
        softmax_rows(&mut s, 3, 1.0);
        let z: f32 = [1f32, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        assert!((s[2] - 3f32.exp() / z).abs() < 1e-6);
        assert!((s[3] - 1.0 / 3.0).abs() < 1e-6);
        let mut g = vec![-3.0f32, -1.0, 0.0, 1.0, 3.0];
        gelu(&mut g);
        let want = [-0.004_049_7, -0.158_655_26, 0.0, 0.841_344_7, 2.995_950_3];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
