//! Intel AMX tiles for the bf16 kernel: whether this CPU and its OS let the
//! process use them, and the tile micro-kernel.
//!
//! AMX adds eight tile registers (palette 1: up to 16 rows of 64 bytes
//! each) and `tdpbf16ps`, which multiplies a 16 × 32 bfloat16 tile by a
//! 16 × 16 tile of bfloat16 pairs into a 16 × 16 tile of `f32` sums. Linux
//! lets a process use the tiles' 8 KiB of register state only after it asks
//! with `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`; before that a
//! tile instruction faults. [`available`] asks once per process and says yes
//! only when the CPU has AMX-TILE and AMX-BF16 (and AVX-512 F/BW, which the
//! block around the micro-kernel uses) and the kernel granted it.
//!
//! # The micro-kernel
//!
//! [`micro`] computes one 32 × 32 block of `f32` sums: tiles 4 and 5 hold two
//! 16-row slices of A, 6 and 7 two 16-column panels of B, and 0–3 the four
//! sums, so each step of 32 k values is four loads and four `tdpbf16ps`. The
//! operands are laid out as [`crate::bf16`] packs them: A row-major in
//! bfloat16, B in panels of 16 columns whose group `g` (k values `2g` and
//! `2g + 1`) is 64 bytes, one tile row.
//!
//! [`model::micro`] runs the same steps on a software model of the tile
//! instructions written from Intel's description of them (the configuration
//! block, `tileloadd`'s strided rows, `tdpbf16ps`'s sums with denormals read
//! as zero and flushed, `tilestored`), so the packing, strides and
//! configuration are tested on every CPU; the instructions themselves run
//! only where the CPU has them.

/// Rows of one tile, and k values (bfloat16 pairs × 2) of an A tile's row.
pub(crate) const TILE_ROWS: usize = 16;
/// Rows (and columns) of the block [`micro`] computes.
pub(crate) const BLOCK: usize = 2 * TILE_ROWS;
/// k values consumed per step of [`micro`]: one A tile row of bfloat16.
pub(crate) const STEP_K: usize = 32;

/// The tile configuration [`micro`] loads: palette 1, tiles 0–7 all 16 rows
/// of 64 bytes. Layout (Intel SDM, LDTILECFG): byte 0 the palette, byte 1
/// the start row, bytes 16–47 each tile's bytes per row (`u16`, little
/// endian), bytes 48–63 each tile's rows.
pub(crate) static CONFIG: [u8; 64] = config();

const fn config() -> [u8; 64] {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64;
        c[48 + t] = TILE_ROWS as u8;
        t += 1;
    }
    c
}

/// The micro-kernel's signature: `out[32 × 32]` (row stride 32) = the
/// product of 32 rows of A at `a` (row stride `lda` bfloat16 values, the
/// first `32 · steps` of each row read) and the two panels at `b0` and `b1`
/// (`16 · steps` groups of 64 bytes each read).
pub(crate) type Micro = unsafe fn(
    a: *const u16,
    lda: usize,
    b0: *const u16,
    b1: *const u16,
    steps: usize,
    out: *mut f32,
);

/// Whether this process may run [`micro`]: the CPU has AMX-TILE, AMX-BF16,
/// AVX-512 F and BW, `EMBEDROCK_MAX_ISA` allows `amx`, and the OS granted
/// the tile state (asked once per process).
pub(crate) fn available() -> bool {
    crate::isa::allows(crate::isa::Isa::Amx) && granted()
}

/// Whether the CPU reports AMX-TILE and AMX-BF16 (CPUID leaf 7, EDX bits
/// 24 and 22), whatever the OS allows.
pub(crate) fn cpu_has_amx_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        // Leaf 7 is read only when leaf 0 says it exists.
        if __cpuid(0).eax < 7 {
            return false;
        }
        let edx = __cpuid_count(7, 0).edx;
        edx & (1 << 24) != 0 && edx & (1 << 22) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The CPU check and the OS's grant, once per process.
fn granted() -> bool {
    static GRANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GRANTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            cpu_has_amx_bf16()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && request_tile_state()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Asks Linux for the tile data state (`ARCH_REQ_XCOMP_PERM` for
/// `XFEATURE_XTILEDATA`), after checking that the kernel supports it
/// (`ARCH_GET_XCOMP_SUPP`); true when granted. Other systems: false.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_state() -> bool {
    const SYS_ARCH_PRCTL: usize = 158;
    const ARCH_GET_XCOMP_SUPP: usize = 0x1021;
    const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
    const XFEATURE_XTILEDATA: usize = 18;
    /// `arch_prctl(code, arg)`; the raw return (negative errno on failure).
    fn arch_prctl(code: usize, arg: usize) -> isize {
        let ret: isize;
        // SAFETY: arch_prctl with these codes reads or writes only the u64
        // that `arg` points to (GET) or takes a feature number (REQ); the
        // syscall instruction clobbers rcx and r11 only.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL as isize => ret,
                in("rdi") code,
                in("rsi") arg,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
    let mut supported: u64 = 0;
    let got = arch_prctl(ARCH_GET_XCOMP_SUPP, &mut supported as *mut u64 as usize);
    if got != 0 || supported & (1 << XFEATURE_XTILEDATA) == 0 {
        return false;
    }
    arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0
}

#[cfg(all(target_arch = "x86_64", not(target_os = "linux")))]
fn request_tile_state() -> bool {
    false
}

/// The micro-kernel on the CPU's tiles (see [`Micro`]). Loads the
/// configuration, zeroes the four sums, runs `steps` steps, stores the sums
/// and releases the tiles, all in one `asm!` block, so no tile state lives
/// between calls.
///
/// # Safety
/// [`available`] must hold; `steps ≥ 1`; `a` must be readable for 32 rows of
/// `lda` values (the first `32 · steps` read), `b0` and `b1` for
/// `16 · steps` groups of 32 values, and `out` writable for 32 × 32 `f32`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn micro(
    a: *const u16,
    lda: usize,
    b0: *const u16,
    b1: *const u16,
    steps: usize,
    out: *mut f32,
) {
    debug_assert!(steps >= 1);
    let stride_a = lda * 2;
    // SAFETY: the caller's contract; every access is within the rows and
    // bytes described there (A: 16 rows of 64 bytes from `a` and from
    // `a + 16 rows`, advancing 64 bytes a step; B: 16 rows of 64 bytes from
    // each panel, advancing 1,024 bytes a step; out: four tiles of 16 rows
    // of 64 bytes at row stride 128).
    unsafe {
        std::arch::asm!(
            "ldtilecfg [{cfg}]",
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "2:",
            "tileloadd tmm4, [{a} + {sa}*1]",
            "tileloadd tmm5, [{a2} + {sa}*1]",
            "tileloadd tmm6, [{b0} + {sb}*1]",
            "tileloadd tmm7, [{b1} + {sb}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a}, 64",
            "add {a2}, 64",
            "add {b0}, 1024",
            "add {b1}, 1024",
            "dec {n}",
            "jnz 2b",
            "tilestored [{out} + {so}*1], tmm0",
            "tilestored [{out} + {so}*1 + 64], tmm1",
            "tilestored [{out} + {so}*1 + 2048], tmm2",
            "tilestored [{out} + {so}*1 + 2112], tmm3",
            "tilerelease",
            cfg = in(reg) CONFIG.as_ptr(),
            a = inout(reg) a => _,
            a2 = inout(reg) a.add(TILE_ROWS * lda) => _,
            sa = in(reg) stride_a,
            b0 = inout(reg) b0 => _,
            b1 = inout(reg) b1 => _,
            sb = in(reg) 64usize,
            n = inout(reg) steps => _,
            out = in(reg) out,
            so = in(reg) BLOCK * 4,
            out("tmm0") _,
            out("tmm1") _,
            out("tmm2") _,
            out("tmm3") _,
            out("tmm4") _,
            out("tmm5") _,
            out("tmm6") _,
            out("tmm7") _,
            options(nostack),
        );
    }
}

/// A software model of the tile instructions [`micro`] uses, and the
/// micro-kernel run on it, for tests on any CPU.
#[cfg(test)]
pub(crate) mod model {
    use super::{BLOCK, CONFIG, TILE_ROWS};

    /// Eight tiles of palette 1 and their configured shapes.
    struct Tiles {
        rows: [usize; 8],
        colsb: [usize; 8],
        data: [[u8; TILE_ROWS * 64]; 8],
    }

    impl Tiles {
        /// `ldtilecfg`: palette 1 only; rows ≤ 16, bytes per row ≤ 64.
        fn load_config(cfg: &[u8; 64]) -> Self {
            assert_eq!(cfg[0], 1, "palette");
            assert_eq!(cfg[1], 0, "start row");
            let mut t = Tiles {
                rows: [0; 8],
                colsb: [0; 8],
                data: [[0; TILE_ROWS * 64]; 8],
            };
            for i in 0..8 {
                t.colsb[i] = usize::from(u16::from_le_bytes([cfg[16 + 2 * i], cfg[17 + 2 * i]]));
                t.rows[i] = usize::from(cfg[48 + i]);
                assert!(
                    t.rows[i] <= TILE_ROWS && t.colsb[i] <= 64,
                    "tile {i} too large"
                );
            }
            assert!(
                cfg[32..48].iter().chain(&cfg[56..64]).all(|&b| b == 0),
                "reserved"
            );
            t
        }

        fn zero(&mut self, t: usize) {
            self.data[t] = [0; TILE_ROWS * 64];
        }

        /// `tileloadd`: row r from `base + r · stride`.
        unsafe fn load(&mut self, t: usize, base: *const u8, stride: usize) {
            for r in 0..self.rows[t] {
                for b in 0..self.colsb[t] {
                    // SAFETY: the caller's bounds, as for the instruction.
                    self.data[t][r * 64 + b] = unsafe { base.add(r * stride + b).read() };
                }
            }
        }

        /// `tilestored`: row r to `base + r · stride`.
        unsafe fn store(&self, t: usize, base: *mut u8, stride: usize) {
            for r in 0..self.rows[t] {
                for b in 0..self.colsb[t] {
                    // SAFETY: the caller's bounds, as for the instruction.
                    unsafe { base.add(r * stride + b).write(self.data[t][r * 64 + b]) };
                }
            }
        }

        fn u16_at(&self, t: usize, r: usize, i: usize) -> u16 {
            u16::from_le_bytes([
                self.data[t][r * 64 + 2 * i],
                self.data[t][r * 64 + 2 * i + 1],
            ])
        }

        /// `tdpbf16ps c, a, b`: for each row m of c and column n, over the
        /// pairs k of a's row: `c[m][n] += a[m].pair[k] · b[k].pair[n]`,
        /// each product added in turn, rounded to nearest even; denormal
        /// inputs read as zero, denormal results flushed. The shape checks
        /// are the instruction's own (#UD otherwise).
        fn dp_bf16(&mut self, c: usize, a: usize, b: usize) {
            assert_eq!(self.rows[c], self.rows[a], "c and a rows");
            assert_eq!(self.colsb[c], self.colsb[b], "c and b bytes per row");
            assert_eq!(self.colsb[a] / 4, self.rows[b], "a's pairs and b's rows");
            let daz = |h: u16| {
                let x = f32::from_bits(u32::from(h) << 16);
                if x.is_subnormal() {
                    0.0
                } else {
                    x
                }
            };
            let ftz = |x: f32| if x.is_subnormal() { 0.0 * x } else { x };
            for m in 0..self.rows[c] {
                for n in 0..self.colsb[c] / 4 {
                    let at = m * 64 + 4 * n;
                    let mut acc = f32::from_le_bytes(self.data[c][at..at + 4].try_into().unwrap());
                    for k in 0..self.colsb[a] / 4 {
                        for half in 0..2 {
                            let x = daz(self.u16_at(a, m, 2 * k + half));
                            let y = daz(self.u16_at(b, k, 2 * n + half));
                            acc = ftz(acc + x * y);
                        }
                    }
                    self.data[c][at..at + 4].copy_from_slice(&acc.to_le_bytes());
                }
            }
        }
    }

    /// [`super::micro`]'s steps, one for one, on the model.
    ///
    /// # Safety
    /// As for [`super::micro`] (bar the CPU).
    pub(crate) unsafe fn micro(
        a: *const u16,
        lda: usize,
        b0: *const u16,
        b1: *const u16,
        steps: usize,
        out: *mut f32,
    ) {
        assert!(steps >= 1);
        let mut t = Tiles::load_config(&CONFIG);
        for i in 0..4 {
            t.zero(i);
        }
        let stride_a = lda * 2;
        let (mut a, mut a2) = (a.cast::<u8>(), a.wrapping_add(TILE_ROWS * lda).cast::<u8>());
        let (mut b0, mut b1) = (b0.cast::<u8>(), b1.cast::<u8>());
        for _ in 0..steps {
            // SAFETY: the caller's bounds.
            unsafe {
                t.load(4, a, stride_a);
                t.load(5, a2, stride_a);
                t.load(6, b0, 64);
                t.load(7, b1, 64);
            }
            t.dp_bf16(0, 4, 6);
            t.dp_bf16(1, 4, 7);
            t.dp_bf16(2, 5, 6);
            t.dp_bf16(3, 5, 7);
            a = a.wrapping_add(64);
            a2 = a2.wrapping_add(64);
            b0 = b0.wrapping_add(1024);
            b1 = b1.wrapping_add(1024);
        }
        let out = out.cast::<u8>();
        let so = BLOCK * 4;
        // SAFETY: the caller's bounds.
        unsafe {
            t.store(0, out, so);
            t.store(1, out.add(64), so);
            t.store(2, out.add(2048), so);
            t.store(3, out.add(2112), so);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_palette_one_with_eight_full_tiles() {
        assert_eq!(CONFIG[0], 1);
        for t in 0..8 {
            assert_eq!(
                u16::from_le_bytes([CONFIG[16 + 2 * t], CONFIG[17 + 2 * t]]),
                64
            );
            assert_eq!(usize::from(CONFIG[48 + t]), TILE_ROWS);
        }
        assert!(CONFIG[16 + 16..48].iter().all(|&b| b == 0));
        // The store offsets in `micro` assume a 32-column block of f32.
        assert_eq!(BLOCK * 4 * TILE_ROWS, 2048);
    }

    #[test]
    fn asking_twice_gives_the_same_answer() {
        // On a CPU without AMX the answer is no without asking the OS.
        let first = available();
        assert_eq!(first, available());
        if !cpu_has_amx_bf16() {
            assert!(!first);
        }
        eprintln!("AMX bf16 tiles usable here: {first}");
    }
}
