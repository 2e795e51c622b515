//! Sentence-transformers' modules after the transformer: pooling and
//! normalisation, read from `1_Pooling/config.json` and `modules.json`.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over the tokens (the attention mask: every real token).
    Mean,
    /// The state of the first token (`[CLS]`).
    Cls,
    /// The element-wise maximum over the tokens.
    Max,
    /// The sum divided by the square root of the token count.
    MeanSqrtLen,
}

#[derive(Deserialize)]
struct PoolingFile {
    /// sentence-transformers 6 names the mode in one field.
    #[serde(default)]
    pooling_mode: Option<String>,
    /// Earlier versions set one boolean per mode.
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// The post-transformer steps of a sentence-transformers model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The pooling mode.
    pub pooling: Pooling,
    /// Whether `modules.json` ends with a Normalize module.
    pub normalize: bool,
}

impl Head {
    /// Reads the head from a model directory. Without `modules.json` the
    /// defaults of sentence-transformers apply: mean pooling, no Normalize.
    pub fn load(dir: &Path) -> Result<Self> {
        let modules_path = dir.join("modules.json");
        let mut pooling_dir = dir.join("1_Pooling");
        let mut normalize = false;
        if modules_path.exists() {
            let text =
                std::fs::read_to_string(&modules_path).map_err(|e| Error::io(&modules_path, e))?;
            let modules: Vec<Module> =
                serde_json::from_str(&text).map_err(|e| Error::BadModelFile {
                    path: modules_path.clone(),
                    reason: e.to_string(),
                })?;
            for m in &modules {
                // sentence-transformers names modules by their Python path:
                // `sentence_transformers.models.Pooling` before version 6,
                // `sentence_transformers.sentence_transformer.modules.pooling.Pooling` after.
                match m.kind.rsplit('.').next() {
                    Some("Pooling") => pooling_dir = dir.join(&m.path),
                    Some("Normalize") => normalize = true,
                    _ => {}
                }
            }
        }
        let pooling_path = pooling_dir.join("config.json");
        let pooling = if pooling_path.exists() {
            let text =
                std::fs::read_to_string(&pooling_path).map_err(|e| Error::io(&pooling_path, e))?;
            let p: PoolingFile = serde_json::from_str(&text).map_err(|e| Error::BadModelFile {
                path: pooling_path.clone(),
                reason: e.to_string(),
            })?;
            let unsupported = |reason: String| Error::BadModelFile {
                path: pooling_path.clone(),
                reason,
            };
            if let Some(mode) = p.pooling_mode.as_deref() {
                match mode {
                    "cls" => Pooling::Cls,
                    "mean" => Pooling::Mean,
                    "max" => Pooling::Max,
                    "mean_sqrt_len_tokens" | "mean_sqrt_len" => Pooling::MeanSqrtLen,
                    other => {
                        return Err(unsupported(format!(
                            "pooling mode {other:?} is not supported (cls, mean, max or mean_sqrt_len_tokens)"
                        )))
                    }
                }
            } else {
                match (
                    p.pooling_mode_cls_token,
                    p.pooling_mode_mean_tokens,
                    p.pooling_mode_max_tokens,
                    p.pooling_mode_mean_sqrt_len_tokens,
                ) {
                    (true, false, false, false) => Pooling::Cls,
                    (false, true, false, false) => Pooling::Mean,
                    (false, false, true, false) => Pooling::Max,
                    (false, false, false, true) => Pooling::MeanSqrtLen,
                    _ => return Err(unsupported(
                        "exactly one pooling mode must be set (cls, mean, max or mean_sqrt_len)"
                            .into(),
                    )),
                }
            }
        } else {
            Pooling::Mean
        };
        Ok(Head { pooling, normalize })
    }

    /// Pools the `rows × width` token states of one sequence into a vector.
    pub fn pool(&self, states: &[f32], width: usize) -> Vec<f32> {
        let rows = states.len() / width;
        if rows == 0 {
            return vec![0.0; width];
        }
        match self.pooling {
            Pooling::Cls => states[..width].to_vec(),
            Pooling::Max => {
                let mut out = states[..width].to_vec();
                for row in states.chunks_exact(width).skip(1) {
                    for (o, v) in out.iter_mut().zip(row) {
                        *o = o.max(*v);
                    }
                }
                out
            }
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let mut out = vec![0f32; width];
                for row in states.chunks_exact(width) {
                    for (o, v) in out.iter_mut().zip(row) {
                        *o += v;
                    }
                }
                let div = if self.pooling == Pooling::Mean {
                    rows as f32
                } else {
                    (rows as f32).sqrt()
                };
                out.iter_mut().for_each(|o| *o /= div);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_modes() {
        let states = [1.0, 2.0, 3.0, -4.0];
        let head = |pooling| Head {
            pooling,
            normalize: false,
        };
        assert_eq!(head(Pooling::Mean).pool(&states, 2), vec![2.0, -1.0]);
        assert_eq!(head(Pooling::Cls).pool(&states, 2), vec![1.0, 2.0]);
        assert_eq!(head(Pooling::Max).pool(&states, 2), vec![3.0, 2.0]);
        let s = head(Pooling::MeanSqrtLen).pool(&states, 2);
        assert!((s[0] - 4.0 / 2f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn head_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(
            dir.path().join("1_Pooling/config.json"),
            r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("modules.json"),
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.sentence_transformer.modules.normalize.Normalize"}]"#,
        )
        .unwrap();
        let h = Head::load(dir.path()).unwrap();
        assert_eq!(h.pooling, Pooling::Cls);
        assert!(h.normalize);
        std::fs::write(dir.path().join("1_Pooling/config.json"), r#"{}"#).unwrap();
        assert!(matches!(
            Head::load(dir.path()),
            Err(Error::BadModelFile { .. })
        ));
    }
}
