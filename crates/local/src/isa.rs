//! How wide the kernels may go: every instruction set the CPU has, or less
//! when `EMBEDROCK_MAX_ISA` caps it, so the narrower paths can be measured
//! and tested on a wider CPU (`avx512`: no AMX tiles; `avx2`: no AVX-512
//! kernel either; `portable`: none of the x86 vector kernels chosen at run
//! time).

use std::sync::OnceLock;

/// An instruction-set level, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// The build's baseline only.
    Portable,
    /// AVX2 (with FMA where a kernel needs it).
    Avx2,
    /// AVX-512 and its extensions.
    Avx512,
    /// AMX tiles (with AVX-512 around them).
    Amx,
}

/// The accepted values of `EMBEDROCK_MAX_ISA`.
pub(crate) const NAMES: &str = "amx, avx512, avx2 or portable";

/// Parses a level name (`amx`, `avx512`, `avx2`, `portable`).
pub(crate) fn parse(s: &str) -> Option<Isa> {
    match s.trim().to_ascii_lowercase().as_str() {
        "amx" => Some(Isa::Amx),
        "avx512" => Some(Isa::Avx512),
        "avx2" => Some(Isa::Avx2),
        "portable" => Some(Isa::Portable),
        _ => None,
    }
}

/// The widest level the kernels may use: `EMBEDROCK_MAX_ISA` as read once per
/// process (an unknown value is refused by `LocalOptions::from_env`, and
/// caps nothing here), else no cap.
fn cap() -> Isa {
    static CAP: OnceLock<Isa> = OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("EMBEDROCK_MAX_ISA")
            .ok()
            .and_then(|v| parse(&v))
            .unwrap_or(Isa::Amx)
    })
}

/// Whether kernels of `level` may run (the CPU must still have the
/// features, which each kernel checks).
pub(crate) fn allows(level: Isa) -> bool {
    level <= cap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(parse("AVX2 "), Some(Isa::Avx2));
        assert_eq!(parse("avx512"), Some(Isa::Avx512));
        assert_eq!(parse("portable"), Some(Isa::Portable));
        assert_eq!(parse("amx"), Some(Isa::Amx));
        assert_eq!(parse("sse9"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512 && Isa::Avx512 < Isa::Amx);
        assert!(allows(Isa::Portable));
    }
}
