//! A BERT encoder on the CPU, for sentence-transformers models of the BERT
//! family (all-MiniLM, bge, e5, gte ...).
//!
//! Sequences of a batch are **packed**, not padded: the dense layers run over
//! the concatenated tokens of every sequence, and attention runs per sequence
//! over its own tokens. The result is what a padded batch with an attention
//! mask computes (masked keys get exactly zero weight there), without the
//! work on padding. The layer structure follows Hugging Face's `BertModel`
//! (`modeling_bert.py`: embeddings, then per layer self-attention, output
//! dense + residual + LayerNorm, intermediate dense + GELU, output dense +
//! residual + LayerNorm).

use std::path::Path;

use serde::Deserialize;

use super::{Encoder, EncoderSettings};
use crate::attention::{self, Fused};
use crate::kernels::{self, MatMul, Strided};
use crate::{bf16, int8, sgemm};
use crate::{Error, Precision};

/// The fields of a model's `config.json` that the encoder reads.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Must be `bert` (or a BERT-compatible type).
    #[serde(default)]
    pub model_type: Option<String>,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// The activation; only the erf GELU is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Only absolute position embeddings are supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Reads and checks `config.json`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: BertConfig = serde_json::from_str(&text).map_err(|e| Error::BadModelFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| Error::BadModelFile {
            path: path.to_path_buf(),
            reason,
        };
        if !matches!(cfg.hidden_act.as_str(), "gelu") {
            return Err(bad(format!(
                "hidden_act {:?} is not supported (only the erf GELU \"gelu\")",
                cfg.hidden_act
            )));
        }
        if let Some(p) = cfg.position_embedding_type.as_deref() {
            if p != "absolute" {
                return Err(bad(format!(
                    "position_embedding_type {p:?} is not supported"
                )));
            }
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            )));
        }
        Ok(cfg)
    }
}

/// A dense layer: `out = x · W^T + b`.
struct Linear {
    bias: Vec<f32>,
    in_dim: usize,
    out_dim: usize,
    weights: Weights,
}

/// A dense layer's weight, in the form its precision multiplies.
enum Weights {
    /// Stored transposed (`in × out`, row-major), the layout the portable
    /// multiply reads fastest; also packed for the AVX-512 kernel, where the
    /// CPU has it.
    F32 {
        weight_t: Vec<f32>,
        packed: Option<sgemm::PackedB>,
    },
    /// Quantised per output channel and packed for the int8 kernel.
    Int8(int8::QuantizedB),
    /// Rounded to bfloat16 and packed for the bf16 kernel.
    Bf16(bf16::PackedB),
}

impl Linear {
    /// A layer from its transposed weight (`in_dim × out_dim`, row-major) and
    /// bias, in the precision `settings` asks for.
    fn new(
        weight_t: Vec<f32>,
        bias: Vec<f32>,
        in_dim: usize,
        out_dim: usize,
        settings: &EncoderSettings,
    ) -> Self {
        // Bf16 layers are rounded and packed here (the precision was checked
        // against the CPU before loading); a shape the kernel cannot take
        // stays in fp32.
        if settings.precision == Precision::Bf16 {
            if let Some(b) = bf16::PackedB::new(&weight_t, in_dim, out_dim) {
                return Linear {
                    bias,
                    in_dim,
                    out_dim,
                    weights: Weights::Bf16(b),
                };
            }
        }
        // Int8 layers are built in fp32 first, for the calibration run of
        // `BertModel::quantize_int8`, and quantised there: no AVX-512 packing
        // for them meanwhile.
        let packed = if settings.portable_gemm || settings.precision != Precision::Fp32 {
            None
        } else {
            sgemm::PackedB::new(&weight_t, in_dim, out_dim)
        };
        let weights = Weights::F32 { weight_t, packed };
        Linear {
            bias,
            in_dim,
            out_dim,
            weights,
        }
    }

    /// Replaces the fp32 weight by its int8 form, smoothed by `act_max` (the
    /// largest magnitude of each input channel on calibration inputs). A
    /// shape the int8 kernel cannot take stays in fp32.
    fn quantize_int8(&mut self, act_max: &[f32]) {
        if let Weights::F32 { weight_t, .. } = &self.weights {
            let path = int8::Path::best();
            if let Some(q) =
                int8::QuantizedB::smoothed(weight_t, self.in_dim, self.out_dim, path, act_max)
            {
                self.weights = Weights::Int8(q);
            }
        }
    }

    /// `out[rows × out_dim] = x · W^T + b` (+ `residual`, when given).
    fn forward(
        &self,
        x: &[f32],
        rows: usize,
        residual: Option<&[f32]>,
        out: &mut Vec<f32>,
        threads: usize,
    ) {
        out.clear();
        out.reserve(rows * self.out_dim);
        match residual {
            Some(r) => {
                for row in r.chunks_exact(self.out_dim).take(rows) {
                    out.extend(row.iter().zip(&self.bias).map(|(a, b)| a + b));
                }
            }
            None => {
                for _ in 0..rows {
                    out.extend_from_slice(&self.bias);
                }
            }
        }
        match &self.weights {
            Weights::Int8(q) => int8::matmul_acc(rows, x, q, out, threads),
            Weights::Bf16(b) => bf16::matmul_acc(rows, x, b, out, threads),
            Weights::F32 {
                packed: Some(packed),
                ..
            } => sgemm::matmul_acc(rows, x, packed, out, threads),
            Weights::F32 {
                weight_t,
                packed: None,
            } => MatMul {
                m: rows,
                n: self.out_dim,
                k: self.in_dim,
                lhs: Strided::rows(x, self.in_dim),
                rhs: Strided::rows(weight_t, self.out_dim),
                accumulate: true,
                threads,
            }
            .run(out, self.out_dim),
        }
    }
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_norm: LayerNorm,
}

/// The encoder's weights, loaded from `model.safetensors`.
pub(crate) struct BertModel {
    cfg: BertConfig,
    precision: Precision,
    /// The fused attention kernel for this model's heads, where the CPU has
    /// one and the portable multiply is not forced.
    fused_attention: Option<Fused>,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    vocab_size: usize,
}

/// Reads tensors by name, accepting the `bert.` prefix some checkpoints carry.
struct Tensors<'a> {
    st: safetensors::SafeTensors<'a>,
    prefix: &'static str,
    path: &'a Path,
    settings: &'a EncoderSettings,
}

impl Tensors<'_> {
    fn get(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), Error> {
        let full = format!("{}{name}", self.prefix);
        let view = self.st.tensor(&full).map_err(|_| Error::BadModelFile {
            path: self.path.to_path_buf(),
            reason: format!("tensor {full} is missing"),
        })?;
        let shape = view.shape().to_vec();
        let data = view.data();
        let values = match view.dtype() {
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            safetensors::Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            safetensors::Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
                .collect(),
            other => {
                return Err(Error::BadModelFile {
                    path: self.path.to_path_buf(),
                    reason: format!("tensor {full} has unsupported dtype {other:?}"),
                })
            }
        };
        Ok((values, shape))
    }

    fn expect(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let (values, got) = self.get(name)?;
        if got != shape {
            return Err(Error::BadModelFile {
                path: self.path.to_path_buf(),
                reason: format!(
                    "tensor {}{name} has shape {got:?}, expected {shape:?}",
                    self.prefix
                ),
            });
        }
        Ok(values)
    }

    /// A dense layer's transposed weight (`in_dim × out_dim`) and bias.
    fn dense(
        &self,
        name: &str,
        out_dim: usize,
        in_dim: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), Error> {
        let w = self.expect(&format!("{name}.weight"), &[out_dim, in_dim])?;
        let bias = self.expect(&format!("{name}.bias"), &[out_dim])?;
        Ok((transpose(&w, out_dim, in_dim), bias))
    }

    fn linear(&self, name: &str, out_dim: usize, in_dim: usize) -> Result<Linear, Error> {
        let (weight_t, bias) = self.dense(name, out_dim, in_dim)?;
        Ok(Linear::new(weight_t, bias, in_dim, out_dim, self.settings))
    }

    fn norm(&self, name: &str, width: usize) -> Result<LayerNorm, Error> {
        // Old checkpoints name the LayerNorm parameters gamma/beta.
        let gamma = self
            .expect(&format!("{name}.weight"), &[width])
            .or_else(|_| self.expect(&format!("{name}.gamma"), &[width]))?;
        let beta = self
            .expect(&format!("{name}.bias"), &[width])
            .or_else(|_| self.expect(&format!("{name}.beta"), &[width]))?;
        Ok(LayerNorm { gamma, beta })
    }
}

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise the fraction.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Scratch buffers reused across layers of one forward pass.
#[derive(Default)]
struct Scratch {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    scores: Vec<f32>,
    attention: attention::Buffers,
    hidden2: Vec<f32>,
    inter: Vec<f32>,
}

impl BertModel {
    /// Loads the weights of a model whose `config.json` is `cfg`.
    pub(crate) fn load(
        weights_path: &Path,
        cfg: BertConfig,
        settings: &EncoderSettings,
    ) -> Result<Self, Error> {
        let bytes = std::fs::read(weights_path).map_err(|e| Error::io(weights_path, e))?;
        let st =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::BadModelFile {
                path: weights_path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let prefix = if st.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let t = Tensors {
            st,
            prefix,
            path: weights_path,
            settings,
        };
        let h = cfg.hidden_size;
        let (word, word_shape) = t.get("embeddings.word_embeddings.weight")?;
        if word_shape.len() != 2 || word_shape[1] != h {
            return Err(Error::BadModelFile {
                path: weights_path.to_path_buf(),
                reason: format!("word embeddings have shape {word_shape:?}, expected [vocab, {h}]"),
            });
        }
        let vocab_size = word_shape[0];
        let position = t.expect(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let token_type = t.expect(
            "embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, h],
        )?;
        let emb_norm = t.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let q = t.dense(&format!("{p}.attention.self.query"), h, h)?;
            let k = t.dense(&format!("{p}.attention.self.key"), h, h)?;
            let v = t.dense(&format!("{p}.attention.self.value"), h, h)?;
            // Fuse Q, K and V into one `h × 3h` projection: one matrix multiply
            // instead of three, over the same input rows.
            let mut weight_t = Vec::with_capacity(h * 3 * h);
            for r in 0..h {
                for part in [&q.0, &k.0, &v.0] {
                    weight_t.extend_from_slice(&part[r * h..(r + 1) * h]);
                }
            }
            let bias = [q.1, k.1, v.1].concat();
            layers.push(Layer {
                qkv: Linear::new(weight_t, bias, h, 3 * h, settings),
                attn_out: t.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attn_norm: t.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                intermediate: t.linear(
                    &format!("{p}.intermediate.dense"),
                    cfg.intermediate_size,
                    h,
                )?,
                output: t.linear(&format!("{p}.output.dense"), h, cfg.intermediate_size)?,
                out_norm: t.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        let fused_attention = if settings.portable_gemm {
            None
        } else {
            Fused::best(cfg.hidden_size / cfg.num_attention_heads.max(1))
        };
        Ok(BertModel {
            cfg,
            precision: settings.precision,
            fused_attention,
            word,
            position,
            token_type,
            emb_norm,
            layers,
            vocab_size,
        })
    }

    /// Word + position + token-type-0 embeddings of the packed sequences,
    /// layer-normalised.
    fn embed(&self, seqs: &[&[u32]], total: usize) -> Result<Vec<f32>, Error> {
        let h = self.cfg.hidden_size;
        let mut hidden = Vec::with_capacity(total * h);
        for seq in seqs {
            if seq.len() > self.cfg.max_position_embeddings {
                return Err(Error::SequenceTooLong {
                    length: seq.len(),
                    max: self.cfg.max_position_embeddings,
                });
            }
            for (pos, &id) in seq.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab_size {
                    return Err(Error::TokenOutOfRange {
                        id,
                        vocab: self.vocab_size,
                    });
                }
                let w = &self.word[id * h..(id + 1) * h];
                let p = &self.position[pos * h..(pos + 1) * h];
                let t = &self.token_type[..h];
                hidden.extend(w.iter().zip(p).zip(t).map(|((a, b), c)| a + b + c));
            }
        }
        let eps = self.cfg.layer_norm_eps as f32;
        let norm = &self.emb_norm;
        kernels::layer_norm_rows(&mut hidden, h, &norm.gamma, &norm.beta, eps);
        Ok(hidden)
    }

    /// Self-attention of each sequence over its own tokens: reads the fused
    /// Q/K/V rows in `s.qkv`, writes the context rows to `s.ctx`; one fused
    /// pass per head where the CPU has a kernel for the head width
    /// (`attention.rs`), else `Q·Kᵀ`, softmax and `P·V` one after another.
    fn attention(&self, seqs: &[&[u32]], s: &mut Scratch) {
        let h = self.cfg.hidden_size;
        let heads = self.cfg.num_attention_heads;
        let head_dim = h / heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        s.ctx.clear();
        s.ctx.resize(total * h, 0.0);
        let mut offset = 0;
        for seq in seqs {
            let len = seq.len();
            if let Some(kind) = self.fused_attention {
                for head in 0..heads {
                    let base = offset * 3 * h + head * head_dim;
                    attention::head(
                        kind,
                        &s.qkv[base..],
                        &s.qkv[base + h..],
                        &s.qkv[base + 2 * h..],
                        3 * h,
                        len,
                        head_dim,
                        scale,
                        &mut s.ctx[offset * h + head * head_dim..],
                        h,
                        &mut s.attention,
                    );
                }
                offset += len;
                continue;
            }
            s.scores.resize(len * len, 0.0);
            for head in 0..heads {
                let base = offset * 3 * h + head * head_dim;
                let q = &s.qkv[base..];
                let k = &s.qkv[base + h..];
                let v = &s.qkv[base + 2 * h..];
                // scores[len × len] = Q · Kᵀ, reading K transposed in place.
                MatMul {
                    m: len,
                    n: len,
                    k: head_dim,
                    lhs: Strided::rows(q, 3 * h),
                    rhs: Strided::transposed(k, 3 * h),
                    accumulate: false,
                    threads: 1,
                }
                .run(&mut s.scores, len);
                kernels::softmax_rows(&mut s.scores, len, scale);
                // ctx[rows of seq, head columns] = P · V.
                MatMul {
                    m: len,
                    n: head_dim,
                    k: len,
                    lhs: Strided::rows(&s.scores, len),
                    rhs: Strided::rows(v, 3 * h),
                    accumulate: false,
                    threads: 1,
                }
                .run(&mut s.ctx[offset * h + head * head_dim..], h);
            }
            offset += len;
        }
    }
}

impl Encoder for BertModel {
    fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    /// Returns the last hidden states of all tokens, packed: the rows of
    /// sequence 0, then of sequence 1, and so on.
    fn forward(&self, seqs: &[&[u32]], threads: usize) -> Result<Vec<f32>, Error> {
        self.run(seqs, threads, None)
    }

    fn quantize_int8(&mut self, calibration: &[&[u32]], threads: usize) -> Result<(), Error> {
        if self.precision != Precision::Int8 {
            return Ok(());
        }
        let mut observed: Vec<Vec<f32>> = self
            .layers
            .iter()
            .flat_map(|l| [&l.qkv, &l.attn_out, &l.intermediate, &l.output])
            .map(|linear| vec![0f32; linear.in_dim])
            .collect();
        self.run(calibration, threads, Some(&mut observed))?;
        let mut observed = observed.into_iter();
        for layer in &mut self.layers {
            for linear in [
                &mut layer.qkv,
                &mut layer.attn_out,
                &mut layer.intermediate,
                &mut layer.output,
            ] {
                if let Some(act_max) = observed.next() {
                    linear.quantize_int8(&act_max);
                }
            }
        }
        Ok(())
    }
}

/// Raises `act_max[c]` to the largest `|x|` of column `c` over the rows of `x`.
fn observe(act_max: &mut [f32], x: &[f32], rows: usize) {
    let width = act_max.len();
    for row in x.chunks_exact(width).take(rows) {
        for (m, v) in act_max.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
}

impl BertModel {
    /// The forward pass; with `observed` (one vector per dense layer, in the
    /// order qkv, attention output, intermediate, output of each layer), it
    /// also records how large each layer's input channels get.
    fn run(
        &self,
        seqs: &[&[u32]],
        threads: usize,
        mut observed: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<Vec<f32>, Error> {
        let h = self.cfg.hidden_size;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let eps = self.cfg.layer_norm_eps as f32;
        let mut hidden = self.embed(seqs, total)?;
        let mut s = Scratch::default();
        for (i, layer) in self.layers.iter().enumerate() {
            let mut watch = |slot: usize, x: &[f32]| {
                if let Some(obs) = observed.as_deref_mut() {
                    observe(&mut obs[4 * i + slot], x, total);
                }
            };
            watch(0, &hidden);
            layer.qkv.forward(&hidden, total, None, &mut s.qkv, threads);
            self.attention(seqs, &mut s);
            watch(1, &s.ctx);
            layer
                .attn_out
                .forward(&s.ctx, total, Some(&hidden), &mut s.hidden2, threads);
            let norm = &layer.attn_norm;
            kernels::layer_norm_rows(&mut s.hidden2, h, &norm.gamma, &norm.beta, eps);
            watch(2, &s.hidden2);
            layer
                .intermediate
                .forward(&s.hidden2, total, None, &mut s.inter, threads);
            kernels::gelu(&mut s.inter);
            watch(3, &s.inter);
            layer
                .output
                .forward(&s.inter, total, Some(&s.hidden2), &mut hidden, threads);
            let norm = &layer.out_norm;
            kernels::layer_norm_rows(&mut hidden, h, &norm.gamma, &norm.beta, eps);
        }
        Ok(hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn transpose_swaps_axes() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(transpose(&w, 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
