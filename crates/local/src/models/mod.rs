//! The encoders, one file per architecture, behind one small trait.
//!
//! The engine tokenizes, batches and pools; an [`Encoder`] turns the token ids
//! of a batch into hidden states. Which encoder a model directory gets is
//! decided by `model_type` in its `config.json`; adding an architecture is a
//! new file here and one arm in [`load`].

pub mod bert;

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Precision, Result};

/// Settings every encoder is built with, passed down from `LocalOptions`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EncoderSettings {
    /// Use the portable matrix multiply even where the AVX-512 one applies.
    pub portable_gemm: bool,
    /// The arithmetic of the dense layers.
    pub precision: Precision,
}

/// A transformer encoder: token ids in, last hidden states out.
pub(crate) trait Encoder: Send + Sync {
    /// The width of the hidden states (the native embedding size).
    fn hidden_size(&self) -> usize;

    /// The longest sequence the model's position table covers.
    fn max_positions(&self) -> usize;

    /// Runs the encoder over `seqs` (token ids, special tokens included) and
    /// returns the hidden states of all tokens, packed: the rows of sequence
    /// 0, then of sequence 1, and so on, `hidden_size` values each.
    ///
    /// `threads` is the parallelism inside the matrix multiplies; 1 runs on
    /// the calling thread alone.
    fn forward(&self, seqs: &[&[u32]], threads: usize) -> Result<Vec<f32>>;

    /// Turns the dense layers loaded for [`Precision::Int8`] into int8 ones:
    /// runs `calibration` (token ids of a few texts) through the fp32 layers,
    /// notes how large each layer's input channels get, and quantises each
    /// layer with its channels smoothed by that (see
    /// `int8::QuantizedB::smoothed`). A model loaded for another precision
    /// is left as it is.
    fn quantize_int8(&mut self, calibration: &[&[u32]], threads: usize) -> Result<()>;
}

/// The architectures this crate runs, as `config.json` names them.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["bert"];

#[derive(Deserialize)]
struct ModelType {
    #[serde(default)]
    model_type: Option<String>,
}

/// Reads `config.json` in `dir` and loads the encoder its `model_type` names
/// (a config without one is taken as BERT, as older checkpoints are).
///
/// A precision the CPU cannot run is refused here, before any file is read.
pub(crate) fn load(dir: &Path, settings: &EncoderSettings) -> Result<Box<dyn Encoder>> {
    settings.precision.kernel_with(settings.portable_gemm)?;
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| Error::io(&config, e))?;
    let kind: ModelType = serde_json::from_str(&text).map_err(|e| Error::BadModelFile {
        path: config.clone(),
        reason: e.to_string(),
    })?;
    match kind.model_type.as_deref() {
        None | Some("bert") => {
            let cfg = bert::BertConfig::load(&config)?;
            let model = bert::BertModel::load(&dir.join("model.safetensors"), cfg, settings)?;
            Ok(Box::new(model))
        }
        Some(other) => Err(Error::BadModelFile {
            path: config,
            reason: format!(
                "model_type {other:?} is not supported (the local engine runs: {})",
                SUPPORTED_MODEL_TYPES.join(", ")
            ),
        }),
    }
}
