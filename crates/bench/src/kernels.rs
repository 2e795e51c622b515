//! The dot products and bit counts of exact search, chosen at run time for
//! the CPU: an AVX2 + FMA + POPCNT build of each on x86-64 CPUs that have
//! them, the portable
//! build elsewhere. Every path is tested against a scalar reference on
//! whatever CPU runs the tests.

/// The kernels chosen for this CPU.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Which build: `avx2+fma` or `portable`.
    pub name: &'static str,
    /// Dot product of two float vectors.
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// Dot product of two signed-byte vectors.
    pub dot_i8: fn(&[i8], &[i8]) -> i32,
    /// Differing bits of two packed bit vectors.
    pub hamming: fn(&[u8], &[u8]) -> u32,
}

/// Sixteen independent lanes, so the compiler vectorises the reduction.
#[inline(always)]
fn dot_f32_lanes(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let whole = n - n % 16;
    for (x, y) in a[..whole].chunks_exact(16).zip(b[..whole].chunks_exact(16)) {
        for i in 0..16 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
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
    // on; |x * y| <= 127^2, so no sum of fewer than 133,000 pairs can wrap.
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

fn hamming_portable(a: &[u8], b: &[u8]) -> u32 {
    hamming_words(a, b)
}

fn dot_f32_portable(a: &[f32], b: &[f32]) -> f32 {
    // Without hardware FMA, `mul_add` would be a slow library call.
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

fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        super::dot_f32_lanes(a, b)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        super::dot_i8_lanes(a, b)
    }

    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn hamming(a: &[u8], b: &[u8]) -> u32 {
        super::hamming_words(a, b)
    }

    /// Only handed out by [`super::detect`] when the CPU has AVX2 and POPCNT.
    pub fn hamming_avx2(a: &[u8], b: &[u8]) -> u32 {
        // SAFETY: chosen only after the CPU reported AVX2 and POPCNT.
        unsafe { hamming(a, b) }
    }

    /// Only handed out by [`super::detect`] when the CPU has AVX2 and FMA.
    pub fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: chosen only after the CPU reported AVX2 and FMA.
        unsafe { dot_f32(a, b) }
    }

    /// Only handed out by [`super::detect`] when the CPU has AVX2.
    pub fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
        // SAFETY: chosen only after the CPU reported AVX2.
        unsafe { dot_i8(a, b) }
    }
}

/// The portable kernels, which run on any CPU.
pub fn portable() -> Kernels {
    Kernels {
        name: "portable",
        dot_f32: dot_f32_portable,
        dot_i8: dot_i8_portable,
        hamming: hamming_portable,
    }
}

/// Every path this CPU can run, fastest first.
pub fn available() -> Vec<Kernels> {
    let mut paths = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        paths.push(Kernels {
            name: "avx2+fma",
            dot_f32: x86::dot_f32_avx2,
            dot_i8: x86::dot_i8_avx2,
            hamming: x86::hamming_avx2,
        });
    }
    paths.push(portable());
    paths
}

/// The fastest kernels this CPU can run.
pub fn detect() -> Kernels {
    available().into_iter().next().unwrap_or_else(portable)
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

    #[test]
    fn every_path_on_this_cpu_matches_a_scalar_reference() {
        let paths = available();
        assert!(paths.iter().any(|k| k.name == "portable"));
        for n in [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 384, 1024, 1536] {
            let (a, b) = (values(n, 1), values(n, 7));
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let qa: Vec<i8> = a.iter().map(|x| (x * 127.0) as i8).collect();
            let qb: Vec<i8> = b.iter().map(|x| (x * 127.0) as i8).collect();
            let want_i8: i32 = qa
                .iter()
                .zip(&qb)
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
            for k in &paths {
                let got = f64::from((k.dot_f32)(&a, &b));
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{} n={n}: {got} {want}",
                    k.name
                );
                assert_eq!((k.dot_i8)(&qa, &qb), want_i8, "{} n={n}", k.name);
                let (ba, bb) = (
                    embedrock_core::math::binarize(&a),
                    embedrock_core::math::binarize(&b),
                );
                assert_eq!(
                    (k.hamming)(&ba, &bb),
                    embedrock_core::math::hamming(&ba, &bb),
                    "{} n={n}",
                    k.name
                );
                // Extreme bytes do not overflow the accumulators.
                let ones = vec![-127i8; n];
                assert_eq!((k.dot_i8)(&ones, &ones), 127 * 127 * n as i32, "{}", k.name);
            }
        }
        println!(
            "kernels on this CPU: {:?}",
            paths.iter().map(|k| k.name).collect::<Vec<_>>()
        );
    }
}
