//! The numeric precision of the encoder's dense layers, and which kernel of
//! this CPU runs it.
//!
//! [`Precision::Fp32`] is the default and gives sentence-transformers' vectors
//! (within float rounding). [`Precision::Int8`] quantises the dense layers'
//! weights per output channel and their inputs per token, multiplies in
//! integers and rescales to `f32`; layer norm, GELU, softmax and attention
//! stay in `f32`. [`Precision::Bf16`] rounds the dense layers' weights and
//! inputs to bfloat16 and sums their products in `f32`, on AMX tiles
//! (`tdpbf16ps`) where the CPU and OS allow them, else with AVX512_BF16's
//! `vdpbf16ps`; where the CPU has neither, it is refused at load time with an
//! error naming what the CPU has, never emulated in `f32`.

use std::fmt;
use std::str::FromStr;

use crate::{int8, Error, Result};

/// The arithmetic of the encoder's dense layers.
///
/// ```
/// use embedrock_local::Precision;
///
/// let p: Precision = "int8".parse().unwrap();
/// assert_eq!(p, Precision::Int8);
/// assert_eq!(p.to_string(), "int8");
/// assert_eq!(Precision::default(), Precision::Fp32);
/// assert!("fp16".parse::<Precision>().is_err());
/// // Int8 runs everywhere (the scalar path is the fallback).
/// assert!(Precision::Int8.kernel().unwrap().starts_with("int8 "));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Precision {
    /// 32-bit floats throughout (the default): the reference vectors.
    #[default]
    Fp32,
    /// Dense layers in 8-bit integers: weights quantised symmetrically per
    /// output channel at load time, activations per token at run time.
    /// Faster, with vectors within a cosine of about 0.997 of `Fp32`'s.
    Int8,
    /// Dense layers in bfloat16: weights rounded at load time, inputs per
    /// call, products summed in `f32`. Needs a CPU with AMX-BF16 or
    /// AVX512_BF16 (AMX first where the OS grants its tiles); elsewhere
    /// asking for it is an error at load time, never a silent fallback.
    Bf16,
}

impl Precision {
    /// Every precision, in the order of [`Precision::NAMES`].
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Int8, Precision::Bf16];
    /// The accepted spellings, as a CLI would list them.
    pub const NAMES: &'static str = "fp32, int8 or bf16";

    /// The lower-case name (`fp32`, `int8`, `bf16`), as parsed by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
            Precision::Bf16 => "bf16",
        }
    }

    /// The kernel path this CPU runs for this precision, e.g. `"int8 avx2"`,
    /// `"int8 avx512-vnni"`, `"int8 scalar"`, `"fp32 avx512"`, `"bf16 amx"`,
    /// `"bf16 avx512"`, or an error when the CPU (or this build) cannot run
    /// it.
    ///
    /// For `Fp32` this is the path with the portable multiply not forced;
    /// [`crate::LocalEmbedder::kernel`] reports what a loaded model uses.
    pub fn kernel(self) -> Result<&'static str> {
        self.kernel_with(false)
    }

    /// [`Precision::kernel`], with `portable_gemm` as in
    /// [`crate::LocalOptions::portable_gemm`].
    pub(crate) fn kernel_with(self, portable_gemm: bool) -> Result<&'static str> {
        match self {
            Precision::Fp32 => Ok(if !portable_gemm && crate::sgemm::available() {
                "fp32 avx512"
            } else {
                "fp32 portable"
            }),
            Precision::Int8 => Ok(int8::Path::best().name()),
            Precision::Bf16 => crate::bf16::Path::best().map(|p| p.name()).ok_or_else(|| {
                Error::UnsupportedPrecision {
                    precision: self.name(),
                    needs: bf16_needs(),
                    cpu: cpu_features(),
                    alternatives: "int8 or fp32",
                }
            }),
        }
    }
}

/// What bf16 needs, worded for what this CPU lacks.
fn bf16_needs() -> &'static str {
    if cpu_has_avx512_bf16() || crate::amx::cpu_has_amx_bf16() {
        // The CPU could run it, but EMBEDROCK_MAX_ISA turns AVX-512 off (or
        // the OS refused the AMX tiles on a CPU without AVX512_BF16).
        "AVX-512 and AVX512_BF16 or AMX-BF16, which EMBEDROCK_MAX_ISA (or the OS) turns off here"
    } else {
        "a CPU with AVX512_BF16 or AMX-BF16"
    }
}

fn cpu_has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The vector features of this CPU that the kernels care about, comma
/// separated (`"avx2, fma"`), or `"none of avx2, avx512f, ..."` when it has
/// none of them.
pub fn cpu_features() -> String {
    #[allow(unused_mut)]
    let mut have: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($name) {
                    have.push($name);
                })*
            };
        }
        probe!(
            "avx2",
            "fma",
            "avx512f",
            "avx512bw",
            "avx512vnni",
            "avx512bf16"
        );
        if crate::amx::cpu_has_amx_bf16() {
            have.push("amx-bf16");
        }
    }
    if have.is_empty() {
        "none of avx2, fma, avx512f, avx512bw, avx512vnni, avx512bf16, amx-bf16".into()
    } else {
        have.join(", ")
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;

    /// Parses `fp32`, `int8` or `bf16` (any case, surrounding spaces
    /// ignored); anything else is an error listing those.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        Precision::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| Error::InvalidOption {
                option: "precision",
                value: s.to_string(),
                allowed: Precision::NAMES.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
            assert_eq!(p.name().to_uppercase().parse::<Precision>().unwrap(), p);
        }
        assert_eq!(" int8 ".parse::<Precision>().unwrap(), Precision::Int8);
        let err = "int4".parse::<Precision>().unwrap_err().to_string();
        assert!(
            err.contains("int4") && err.contains("fp32, int8 or bf16"),
            "{err}"
        );
    }

    #[test]
    fn bf16_runs_where_the_cpu_has_it_and_is_refused_clearly_elsewhere() {
        match Precision::Bf16.kernel() {
            Ok(kernel) => {
                let best = crate::bf16::Path::best().unwrap();
                assert_eq!(kernel, best.name());
                if crate::amx::available() {
                    assert_eq!(kernel, "bf16 amx");
                } else {
                    assert_eq!(kernel, "bf16 avx512");
                }
            }
            Err(e) => {
                // A message saying what is needed, what the CPU has and what
                // to use instead.
                let err = e.to_string();
                assert!(crate::bf16::Path::best().is_none());
                assert!(err.starts_with("bf16 precision needs "), "{err}");
                assert!(err.contains("AVX512_BF16"), "{err}");
                assert!(
                    err.contains(&format!("this CPU has: {}", cpu_features())),
                    "{err}"
                );
                assert!(err.ends_with("use --precision int8 or fp32"), "{err}");
                eprintln!("{err}");
            }
        }
        assert!(Precision::Int8.kernel().is_ok());
        assert!(Precision::Fp32.kernel().unwrap().starts_with("fp32 "));
    }
}
