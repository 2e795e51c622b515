//! Vector arithmetic shared by every part: similarity, normalisation,
//! Matryoshka truncation and quantisation.

/// The dot product of two vectors of the same length.
///
/// Vectors of different lengths are compared over their common prefix.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent lanes let the compiler vectorise the reduction.
    let mut acc = [0f32; 8];
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].split_at(n - n % 8);
    let (cb, rb) = b[..n].split_at(n - n % 8);
    for (x, y) in ca.chunks_exact(8).zip(cb.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// The Euclidean length of a vector.
pub fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// The cosine of the angle between two vectors; 0 when either is all zeros.
///
/// ```
/// use embedrock_core::math::{cosine, l2_normalize, norm};
/// assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f32.sqrt()).abs() < 1e-6);
/// assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
/// let mut v = vec![3.0, 4.0];
/// l2_normalize(&mut v);
/// assert_eq!(v, vec![0.6, 0.8]);
/// assert!((norm(&v) - 1.0).abs() < 1e-6);
/// ```
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d = norm(a) * norm(b);
    if d == 0.0 {
        0.0
    } else {
        dot(a, b) / d
    }
}

/// Scales a vector to unit length in place; an all-zero vector stays as it is.
pub fn l2_normalize(v: &mut [f32]) {
    let n = norm(v);
    if n > 0.0 {
        let inv = 1.0 / n;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Keeps the first `dimensions` values and scales the result back to unit
/// length (Matryoshka truncation). A `dimensions` at or above the length
/// leaves the vector's values as they are.
pub fn truncate_normalized(v: &mut Vec<f32>, dimensions: usize) {
    if dimensions < v.len() {
        v.truncate(dimensions);
        l2_normalize(v);
    }
}

/// Signed bytes scaled by the largest magnitude: `round(x / max|x| * 127)`.
///
/// ```
/// use embedrock_core::math::{quantize_int8, quantize_uint8};
/// assert_eq!(quantize_int8(&[0.5, -1.0, 0.0]), vec![64, -127, 0]);
/// assert_eq!(quantize_uint8(&[0.5, -1.0, 0.0]), vec![192, 1, 128]);
/// ```
pub fn quantize_int8(v: &[f32]) -> Vec<i8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return vec![0; v.len()];
    }
    let scale = 127.0 / max;
    v.iter()
        .map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// Unsigned bytes: the signed form shifted by 128.
pub fn quantize_uint8(v: &[f32]) -> Vec<u8> {
    quantize_int8(v)
        .into_iter()
        .map(|x| (x as i16 + 128) as u8)
        .collect()
}

/// One bit per value (1 where it is positive), packed eight to a byte, most
/// significant bit first. The last byte is padded with zero bits.
///
/// ```
/// use embedrock_core::math::{binarize, pack_bits, unpack_bits};
/// let v = [0.3, -0.1, 0.0, 2.0, 1.0, -5.0, 0.1, 0.2, 0.9];
/// let packed = binarize(&v);
/// assert_eq!(packed, vec![0b1001_1011, 0b1000_0000]);
/// let bits = unpack_bits(&packed, v.len());
/// assert_eq!(bits, vec![1, 0, 0, 1, 1, 0, 1, 1, 1]);
/// assert_eq!(pack_bits(&bits), packed);
/// ```
pub fn binarize(v: &[f32]) -> Vec<u8> {
    v.chunks(8)
        .map(|chunk| {
            chunk.iter().enumerate().fold(
                0u8,
                |byte, (i, x)| if *x > 0.0 { byte | (0x80 >> i) } else { byte },
            )
        })
        .collect()
}

/// Unpacks [`binarize`]'s bytes into `dimensions` values of 0 or 1.
pub fn unpack_bits(bytes: &[u8], dimensions: usize) -> Vec<u8> {
    (0..dimensions)
        .map(|i| bytes.get(i / 8).map_or(0, |b| (b >> (7 - i % 8)) & 1))
        .collect()
}

/// Packs one 0/1 value per dimension (Titan's binary form; any non-zero
/// value counts as 1) into [`binarize`]'s bytes.
pub fn pack_bits(bits: &[u8]) -> Vec<u8> {
    bits.chunks(8)
        .map(|chunk| {
            chunk.iter().enumerate().fold(
                0u8,
                |byte, (i, b)| if *b != 0 { byte | (0x80 >> i) } else { byte },
            )
        })
        .collect()
}

/// The number of differing bits between two packed bit vectors.
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-7);
        assert!((cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-7);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        // Long enough to use the vector lanes and the remainder.
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let expected: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), expected);
    }

    #[test]
    fn normalise_and_truncate() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
        let mut w = vec![3.0, 4.0, 12.0];
        truncate_normalized(&mut w, 2);
        assert_eq!(w, vec![0.6, 0.8]);
        let mut same = vec![1.0, 2.0];
        truncate_normalized(&mut same, 5);
        assert_eq!(same, vec![1.0, 2.0]);
    }

    #[test]
    fn quantisation() {
        assert_eq!(quantize_int8(&[1.0, -0.5, 0.0]), vec![127, -64, 0]);
        assert_eq!(quantize_uint8(&[1.0, -1.0, 0.0]), vec![255, 1, 128]);
        assert_eq!(quantize_int8(&[0.0, 0.0]), vec![0, 0]);
        let bits = binarize(&[1.0, -1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
        assert_eq!(bits, vec![0b1010_0000, 0b1000_0000]);
        assert_eq!(unpack_bits(&bits, 9), vec![1, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(hamming(&[0b1111_0000], &[0b0000_0000]), 4);
        assert_eq!(hamming(&bits, &bits), 0);
    }
}
