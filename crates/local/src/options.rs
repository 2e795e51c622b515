//! How a local model is run: batch size, threads, sequence length, kernels,
//! precision.

use crate::{Error, Precision, Result};

/// Options for loading a local model.
///
/// Nothing here reads the environment: the defaults are fixed (threads: every
/// core), and a program that wants `EMBEDROCK_THREADS` and friends calls
/// [`LocalOptions::from_env`]. Values are checked by [`LocalOptions::validate`],
/// which [`crate::LocalEmbedder::load`] calls: out-of-range values are refused,
/// never clamped.
///
/// ```
/// use embedrock_local::LocalOptions;
///
/// let options = LocalOptions::default().with_threads(2).with_batch_size(64);
/// assert!(options.validate().is_ok());
/// assert!(LocalOptions::default().with_threads(0).validate().is_err());
/// assert!(LocalOptions::default().with_batch_size(100_000).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalOptions {
    /// Texts per forward pass (default 32; 1 to [`LocalOptions::MAX_BATCH_SIZE`]).
    pub batch_size: usize,
    /// Worker threads (default: every core; 1 to [`LocalOptions::MAX_THREADS`]).
    pub threads: usize,
    /// Longest sequence in tokens; `None` reads `sentence_bert_config.json`.
    pub max_seq_length: Option<usize>,
    /// Use the portable matrix multiply even where the CPU has AVX-512
    /// (default false; for comparing kernels).
    pub portable_gemm: bool,
    /// The arithmetic of the dense layers (default [`Precision::Fp32`]).
    /// A precision the CPU cannot run is refused when the model loads.
    pub precision: Precision,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            batch_size: 32,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_seq_length: None,
            portable_gemm: false,
            precision: Precision::Fp32,
        }
    }
}

impl LocalOptions {
    /// The most worker threads a model may start.
    pub const MAX_THREADS: usize = 256;
    /// The most texts in one forward pass.
    pub const MAX_BATCH_SIZE: usize = 4096;

    /// The defaults, overridden by the process environment:
    /// `EMBEDROCK_THREADS`, `EMBEDROCK_BATCH_SIZE` (positive integers) and
    /// `EMBEDROCK_PORTABLE_GEMM` (set and not `0`: use the portable kernel)
    /// and `EMBEDROCK_PRECISION` (`fp32`, `int8` or `bf16`); the kernels
    /// also read `EMBEDROCK_MAX_ISA` (`amx`, `avx512`, `avx2` or `portable`), which
    /// caps the instruction sets they choose from, checked here. A value
    /// that is not a number, not a precision or not a level is an error
    /// naming the variable.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(&|name| std::env::var(name).ok())
    }

    /// [`LocalOptions::from_env`] with the variables read through `env`.
    pub fn from_vars(env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let mut options = LocalOptions::default();
        let number = |name: &'static str| -> Result<Option<usize>> {
            match env(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::InvalidOption {
                        option: name,
                        value: v.clone(),
                        allowed: "a positive whole number".into(),
                    }),
            }
        };
        if let Some(n) = number("EMBEDROCK_THREADS")? {
            options.threads = n;
        }
        if let Some(n) = number("EMBEDROCK_BATCH_SIZE")? {
            options.batch_size = n;
        }
        if let Some(v) = env("EMBEDROCK_PORTABLE_GEMM") {
            options.portable_gemm = !v.is_empty() && v != "0";
        }
        if let Some(v) = env("EMBEDROCK_MAX_ISA").filter(|v| !v.trim().is_empty()) {
            if crate::isa::parse(&v).is_none() {
                return Err(Error::InvalidOption {
                    option: "EMBEDROCK_MAX_ISA",
                    value: v.clone(),
                    allowed: crate::isa::NAMES.into(),
                });
            }
        }
        if let Some(v) = env("EMBEDROCK_PRECISION").filter(|v| !v.trim().is_empty()) {
            options.precision = v.parse().map_err(|_| Error::InvalidOption {
                option: "EMBEDROCK_PRECISION",
                value: v.clone(),
                allowed: Precision::NAMES.into(),
            })?;
        }
        options.validate()?;
        Ok(options)
    }

    /// Sets the batch size (checked by [`LocalOptions::validate`]).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the thread count (checked by [`LocalOptions::validate`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Sets the longest sequence in tokens, overriding the model's files.
    pub fn with_max_seq_length(mut self, max_seq_length: Option<usize>) -> Self {
        self.max_seq_length = max_seq_length;
        self
    }

    /// Chooses the portable matrix multiply over the AVX-512 one.
    pub fn with_portable_gemm(mut self, portable: bool) -> Self {
        self.portable_gemm = portable;
        self
    }

    /// Sets the precision of the dense layers (checked against the CPU when
    /// the model loads).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Checks every value against its range; the error names the option,
    /// the value and the range.
    pub fn validate(&self) -> Result<()> {
        let range = |option: &'static str, value: usize, max: usize| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(Error::InvalidOption {
                    option,
                    value: value.to_string(),
                    allowed: format!("1 to {max}"),
                })
            }
        };
        range("threads", self.threads, Self::MAX_THREADS)?;
        range("batch_size", self.batch_size, Self::MAX_BATCH_SIZE)?;
        if let Some(n) = self.max_seq_length {
            range("max_seq_length", n, usize::MAX)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn out_of_range_values_are_refused_not_clamped() {
        let ok = LocalOptions::default()
            .with_threads(256)
            .with_batch_size(4096);
        assert!(ok.validate().is_ok());
        for bad in [
            LocalOptions::default().with_threads(0),
            LocalOptions::default().with_threads(257),
            LocalOptions::default().with_threads(100_000),
            LocalOptions::default().with_batch_size(0),
            LocalOptions::default().with_batch_size(4097),
            LocalOptions::default().with_max_seq_length(Some(0)),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("1 to"), "{err}");
        }
        let err = LocalOptions::default()
            .with_threads(100_000)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("threads") && err.contains("100000") && err.contains("256"),
            "{err}"
        );
    }

    #[test]
    fn environment_is_read_only_when_asked() {
        let o = LocalOptions::from_vars(&vars(&[
            ("EMBEDROCK_THREADS", "3"),
            ("EMBEDROCK_BATCH_SIZE", "7"),
            ("EMBEDROCK_PORTABLE_GEMM", "1"),
        ]))
        .unwrap();
        assert_eq!((o.threads, o.batch_size, o.portable_gemm), (3, 7, true));
        let d = LocalOptions::from_vars(&vars(&[])).unwrap();
        assert_eq!(d, LocalOptions::default());
        let err = LocalOptions::from_vars(&vars(&[("EMBEDROCK_THREADS", "lots")])).unwrap_err();
        assert!(err.to_string().contains("EMBEDROCK_THREADS"), "{err}");
        let err = LocalOptions::from_vars(&vars(&[("EMBEDROCK_THREADS", "0")])).unwrap_err();
        assert!(err.to_string().contains("threads"), "{err}");
        assert!(LocalOptions::from_vars(&vars(&[("EMBEDROCK_MAX_ISA", "avx2")])).is_ok());
        let err = LocalOptions::from_vars(&vars(&[("EMBEDROCK_MAX_ISA", "avx1024")])).unwrap_err();
        assert!(err.to_string().contains("EMBEDROCK_MAX_ISA"), "{err}");
        assert!(err.to_string().contains("avx1024"), "{err}");
    }

    #[test]
    fn precision_comes_from_the_environment() {
        assert_eq!(LocalOptions::default().precision, Precision::Fp32);
        let o = LocalOptions::from_vars(&vars(&[("EMBEDROCK_PRECISION", "int8")])).unwrap();
        assert_eq!(o.precision, Precision::Int8);
        let o = LocalOptions::from_vars(&vars(&[("EMBEDROCK_PRECISION", "BF16")])).unwrap();
        assert_eq!(o.precision, Precision::Bf16);
        let o = LocalOptions::from_vars(&vars(&[("EMBEDROCK_PRECISION", "")])).unwrap();
        assert_eq!(o.precision, Precision::Fp32);
        let err = LocalOptions::from_vars(&vars(&[("EMBEDROCK_PRECISION", "int4")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("EMBEDROCK_PRECISION") && err.contains("int4"),
            "{err}"
        );
        assert!(err.contains("fp32, int8 or bf16"), "{err}");
        assert_eq!(
            LocalOptions::default()
                .with_precision(Precision::Int8)
                .precision,
            Precision::Int8
        );
    }
}
