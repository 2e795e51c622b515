//! The dot products and bit counts of exact search, chosen at run time for
//! the CPU: an AVX-512 build (AVX-512F/BW) and an AVX2 + FMA + POPCNT build
//! on x86-64 CPUs that have them, the portable build elsewhere.
//!
//! Each kernel comes twice: for one pair of vectors, and for a block of rows
//! against one query (`rows_*`), which keeps the loop over rows inside the
//! CPU-specific code so a scan pays one indirect call per block instead of
//! one per row. A scan is bound by memory bandwidth; the block form leaves
//! the loads as the only limit.
//!
//! Every path is tested against a scalar reference on whatever CPU runs the
//! tests ([`available`] lists them).

/// The kernels of one build. Plain function pointers: copy it freely.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Which build: `avx512`, `avx2+fma` or `portable`.
    pub name: &'static str,
    /// Dot product of two float vectors.
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// Dot product of two signed-byte vectors (exact in 32 bits below
    /// 133,000 elements).
    pub dot_i8: fn(&[i8], &[i8]) -> i32,
    /// Differing bits of two packed bit vectors.
    pub hamming: fn(&[u8], &[u8]) -> u32,
    /// `out[r]` = dot product of row `r` of a row-major matrix (rows of
    /// `query.len()` floats) with `query`, for `r < out.len()`.
    pub rows_f32: fn(&[f32], &[f32], &mut [f32]),
    /// As `rows_f32`, for signed bytes.
    pub rows_i8: fn(&[i8], &[i8], &mut [i32]),
    /// `out[r]` = differing bits of row `r` (rows of `query.len()` bytes)
    /// and `query`.
    pub rows_hamming: fn(&[u8], &[u8], &mut [u32]),
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Kernels {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Kernels {}

impl Kernels {
    /// The dot product of two float vectors.
    #[inline]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.dot_f32)(a, b)
    }
}

/// `L` independent lanes with fused multiply-adds, so the compiler
/// vectorises the reduction to the widest registers the caller enables.
#[inline(always)]
fn dot_f32_fma<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; L];
    let whole = n - n % L;
    for (x, y) in a[..whole].chunks_exact(L).zip(b[..whole].chunks_exact(L)) {
        for i in 0..L {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        sum += x * y;
    }
    sum
}

/// Without hardware FMA, `mul_add` would be a slow library call.
#[inline(always)]
fn dot_f32_plain(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; 8];
    let whole = n - n % 8;
    for (x, y) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a[whole..n].iter().zip(&b[whole..n]) {
        sum += x * y;
    }
    sum
}

#[inline(always)]
fn dot_i8_lanes(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; 32];
    let whole = n - n % 32;
    // Wrapping arithmetic lets the compiler vectorise with overflow checks
    // on; |x * y| <= 128^2, so no sum of fewer than 131,000 pairs can wrap.
    for (x, y) in a[..whole].chunks_exact(32).zip(b[..whole].chunks_exact(32)) {
        for i in 0..32 {
            acc[i] = acc[i].wrapping_add(i32::from(x[i]).wrapping_mul(i32::from(y[i])));
        }
    }
    let mut sum = acc.iter().fold(0i32, |s, v| s.wrapping_add(*v));
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        sum = sum.wrapping_add(i32::from(*x) * i32::from(*y));
    }
    sum
}

/// Eight bytes at a time, as 64-bit words.
#[inline(always)]
fn hamming_words(a: &[u8], b: &[u8]) -> u32 {
    let n = a.len().min(b.len());
    let whole = n - n % 8;
    let mut sum = 0u32;
    for (x, y) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
        let mut wx = [0u8; 8];
        let mut wy = [0u8; 8];
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        sum = sum.wrapping_add((u64::from_le_bytes(wx) ^ u64::from_le_bytes(wy)).count_ones());
    }
    for (x, y) in a[whole..n].iter().zip(&b[whole..n]) {
        sum = sum.wrapping_add((x ^ y).count_ones());
    }
    sum
}

/// Applies `one` to each row of `matrix` (rows of `query.len()` elements).
#[inline(always)]
fn rows<T, R>(matrix: &[T], query: &[T], out: &mut [R], one: impl Fn(&[T], &[T]) -> R) {
    let dims = query.len();
    if dims == 0 {
        return;
    }
    for (row, o) in matrix.chunks_exact(dims).zip(out.iter_mut()) {
        *o = one(row, query);
    }
}

fn dot_f32_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_f32_plain(a, b)
}

fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_lanes(a, b)
}

fn hamming_portable(a: &[u8], b: &[u8]) -> u32 {
    hamming_words(a, b)
}

fn rows_f32_portable(m: &[f32], q: &[f32], out: &mut [f32]) {
    rows(m, q, out, dot_f32_plain);
}

fn rows_i8_portable(m: &[i8], q: &[i8], out: &mut [i32]) {
    rows(m, q, out, dot_i8_lanes);
}

fn rows_hamming_portable(m: &[u8], q: &[u8], out: &mut [u32]) {
    rows(m, q, out, hamming_words);
}

/// One x86-64 build: the generic code compiled with `$features` enabled,
/// behind safe wrappers that [`available`] hands out only after the CPU
/// reported those features.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_build {
    ($module:ident, $features:literal, $lanes:literal) => {
        mod $module {
            #[target_feature(enable = $features)]
            unsafe fn dot_f32_tf(a: &[f32], b: &[f32]) -> f32 {
                super::dot_f32_fma::<$lanes>(a, b)
            }
            #[target_feature(enable = $features)]
            unsafe fn dot_i8_tf(a: &[i8], b: &[i8]) -> i32 {
                super::dot_i8_lanes(a, b)
            }
            #[target_feature(enable = $features)]
            unsafe fn hamming_tf(a: &[u8], b: &[u8]) -> u32 {
                super::hamming_words(a, b)
            }
            #[target_feature(enable = $features)]
            unsafe fn rows_f32_tf(m: &[f32], q: &[f32], out: &mut [f32]) {
                super::rows(m, q, out, super::dot_f32_fma::<$lanes>)
            }
            #[target_feature(enable = $features)]
            unsafe fn rows_i8_tf(m: &[i8], q: &[i8], out: &mut [i32]) {
                super::rows(m, q, out, super::dot_i8_lanes)
            }
            #[target_feature(enable = $features)]
            unsafe fn rows_hamming_tf(m: &[u8], q: &[u8], out: &mut [u32]) {
                super::rows(m, q, out, super::hamming_words)
            }

            pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: handed out only after the CPU reported the features.
                unsafe { dot_f32_tf(a, b) }
            }
            pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
                // SAFETY: handed out only after the CPU reported the features.
                unsafe { dot_i8_tf(a, b) }
            }
            pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
                // SAFETY: handed out only after the CPU reported the features.
                unsafe { hamming_tf(a, b) }
            }
            pub fn rows_f32(m: &[f32], q: &[f32], out: &mut [f32]) {
                // SAFETY: handed out only after the CPU reported the features.
                unsafe { rows_f32_tf(m, q, out) }
            }
            pub fn rows_i8(m: &[i8], q: &[i8], out: &mut [i32]) {
                // SAFETY: handed out only after the CPU reported the features.
                unsafe { rows_i8_tf(m, q, out) }
            }
            pub fn rows_hamming(m: &[u8], q: &[u8], out: &mut [u32]) {
                // SAFETY: handed out only after the CPU reported the features.
                unsafe { rows_hamming_tf(m, q, out) }
            }

            pub fn kernels(name: &'static str) -> super::Kernels {
                super::Kernels {
                    name,
                    dot_f32,
                    dot_i8,
                    hamming,
                    rows_f32,
                    rows_i8,
                    rows_hamming,
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
x86_build!(avx2, "avx2,fma,popcnt", 16);
#[cfg(target_arch = "x86_64")]
x86_build!(avx512, "avx512f,avx512bw,avx2,fma,popcnt", 32);

/// The portable kernels, which run on any CPU.
pub fn portable() -> Kernels {
    Kernels {
        name: "portable",
        dot_f32: dot_f32_portable,
        dot_i8: dot_i8_portable,
        hamming: hamming_portable,
        rows_f32: rows_f32_portable,
        rows_i8: rows_i8_portable,
        rows_hamming: rows_hamming_portable,
    }
}

/// Every build this CPU can run, fastest first; the portable one is last.
pub fn available() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut paths = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma") && has!("popcnt");
        if avx2 && has!("avx512f") && has!("avx512bw") {
            paths.push(avx512::kernels("avx512"));
        }
        if avx2 {
            paths.push(avx2::kernels("avx2+fma"));
        }
    }
    paths.push(portable());
    paths
}

/// The fastest kernels this CPU can run, detected once.
pub fn detect() -> Kernels {
    static BEST: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    *BEST.get_or_init(|| available().into_iter().next().unwrap_or_else(portable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    }

    fn scalar_f32(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    fn scalar_i8(a: &[i8], b: &[i8]) -> i32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum()
    }

    fn scalar_hamming(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    }

    #[test]
    fn every_path_on_this_cpu_matches_a_scalar_reference() {
        let paths = available();
        assert_eq!(paths.last().map(|k| k.name), Some("portable"));
        assert_eq!(detect(), paths[0]);
        for n in [
            0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 384, 1024, 1536,
        ] {
            let (a, b) = (values(n, 1), values(n, 7));
            let want = scalar_f32(&a, &b);
            let qa: Vec<i8> = a.iter().map(|x| (x * 127.0) as i8).collect();
            let qb: Vec<i8> = b.iter().map(|x| (x * 127.0) as i8).collect();
            let (ba, bb) = (crate::math::binarize(&a), crate::math::binarize(&b));
            for k in &paths {
                let got = f64::from((k.dot_f32)(&a, &b));
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{} n={n}: {got} {want}",
                    k.name
                );
                assert_eq!(
                    (k.dot_i8)(&qa, &qb),
                    scalar_i8(&qa, &qb),
                    "{} n={n}",
                    k.name
                );
                assert_eq!(
                    (k.hamming)(&ba, &bb),
                    scalar_hamming(&ba, &bb),
                    "{}",
                    k.name
                );
                // Extreme bytes do not overflow the accumulators.
                let low = vec![-128i8; n];
                assert_eq!((k.dot_i8)(&low, &low), 16384 * n as i32, "{}", k.name);
            }
        }
        println!(
            "kernels on this CPU: {:?}",
            paths.iter().map(|k| k.name).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_row_kernel_on_this_cpu_matches_the_pair_kernel_row_by_row() {
        for dims in [1, 8, 33, 384] {
            let rows = 37;
            let m = values(rows * dims, 3);
            let q = values(dims, 9);
            let mi: Vec<i8> = m.iter().map(|x| (x * 127.0) as i8).collect();
            let qi: Vec<i8> = q.iter().map(|x| (x * 127.0) as i8).collect();
            let mb = crate::math::binarize(&m);
            let bytes = dims.div_ceil(8);
            // Rows of whole bytes: binarize each row on its own.
            let mb: Vec<u8> = if dims % 8 == 0 {
                mb
            } else {
                m.chunks(dims).flat_map(crate::math::binarize).collect()
            };
            let qb = crate::math::binarize(&q);
            for k in available() {
                let mut f = vec![f32::NAN; rows];
                (k.rows_f32)(&m, &q, &mut f);
                let mut i = vec![0i32; rows];
                (k.rows_i8)(&mi, &qi, &mut i);
                let mut h = vec![u32::MAX; rows];
                (k.rows_hamming)(&mb, &qb, &mut h);
                for r in 0..rows {
                    let row = &m[r * dims..(r + 1) * dims];
                    let want = scalar_f32(row, &q);
                    assert!((f64::from(f[r]) - want).abs() < 1e-4 * (1.0 + want.abs()));
                    assert_eq!(i[r], scalar_i8(&mi[r * dims..(r + 1) * dims], &qi));
                    let rb = &mb[r * bytes..(r + 1) * bytes];
                    assert_eq!(h[r], scalar_hamming(rb, &qb), "{} dims={dims}", k.name);
                }
                // A shorter output reads only that many rows.
                let mut two = vec![0f32; 2];
                (k.rows_f32)(&m, &q, &mut two);
                assert!((f64::from(two[1]) - scalar_f32(&m[dims..2 * dims], &q)).abs() < 1e-3);
            }
        }
    }
}
