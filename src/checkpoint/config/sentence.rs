//! The sentence-transformers files around the encoder: `sentence_bert_config.json`,
//! `1_Pooling/config.json`, `modules.json`.

use serde::Deserialize;

use super::{ConfigError, parse_json};
use crate::checkpoint::ModelFiles;

/// How token states become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps.
    Mean,
    /// The first token's ([CLS]) state.
    Cls,
    /// Element-wise maximum over the kept tokens.
    Max,
}

/// The sentence-embedding pipeline around the encoder, read from the sentence-transformers
/// files when present. A plain transformers folder gets what sentence-transformers gives
/// one (`SentenceTransformer("plain-checkpoint")`): mean pooling over the attention mask,
/// not normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceEmbeddingConfig {
    /// `max_seq_length` from `sentence_bert_config.json`, if the folder has one.
    pub max_seq_length: Option<usize>,
    /// The pooling mode of `1_Pooling/config.json` (mean when absent).
    pub pooling: Pooling,
    /// Whether `modules.json` lists a `Normalize` module (false when there is no modules.json).
    pub normalize: bool,
}

impl SentenceEmbeddingConfig {
    /// Reads the optional sentence-transformers files from `files`.
    pub fn from_files(files: &ModelFiles) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct SentenceBert {
            max_seq_length: Option<usize>,
        }
        /// Both spellings: sentence-transformers up to 5 writes one boolean per mode,
        /// version 6 writes `"pooling_mode": "mean"`.
        #[derive(Deserialize)]
        struct PoolingFile {
            pooling_mode: Option<String>,
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
        struct ModuleEntry {
            #[serde(rename = "type")]
            kind: String,
        }

        let max_seq_length = match files.get("sentence_bert_config.json") {
            Some(bytes) => parse_json::<SentenceBert>("sentence_bert_config.json", bytes)?.max_seq_length,
            None => None,
        };
        let pooling = match files.get("1_Pooling/config.json") {
            None => Pooling::Mean,
            Some(bytes) => {
                let p: PoolingFile = parse_json("1_Pooling/config.json", bytes)?;
                let modes = match &p.pooling_mode {
                    Some(mode) => vec![mode.clone()],
                    None => [
                        (p.pooling_mode_mean_tokens, "mean"),
                        (p.pooling_mode_cls_token, "cls"),
                        (p.pooling_mode_max_tokens, "max"),
                        (p.pooling_mode_mean_sqrt_len_tokens, "mean_sqrt_len_tokens"),
                    ]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, m)| m.to_string())
                    .collect(),
                };
                match modes.as_slice() {
                    [mode] if mode == "mean" => Pooling::Mean,
                    [mode] if mode == "cls" => Pooling::Cls,
                    [mode] if mode == "max" => Pooling::Max,
                    _ => {
                        return Err(ConfigError::Invalid {
                            setting: "1_Pooling/config.json pooling mode",
                            value: format!("{modes:?}"),
                            reason: "webtune pools with exactly one of mean, cls or max".into(),
                        });
                    }
                }
            }
        };
        let normalize = match files.get("modules.json") {
            None => false,
            Some(bytes) => parse_json::<Vec<ModuleEntry>>("modules.json", bytes)?
                .iter()
                .any(|m| m.kind.ends_with(".Normalize")),
        };
        Ok(Self {
            max_seq_length,
            pooling,
            normalize,
        })
    }
}

