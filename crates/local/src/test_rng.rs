//! A reproducible generator for the kernels' tests (xorshift64), so every
//! test draws its matrices the same way.

/// Values uniform in `-1..1` from a 64-bit seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next value, in `-1..1`.
    pub(crate) fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `len` values, each plus `offset`.
    pub(crate) fn matrix(&mut self, len: usize, offset: f32) -> Vec<f32> {
        (0..len).map(|_| self.next() + offset).collect()
    }
}
