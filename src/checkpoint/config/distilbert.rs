//! `model_type: "distilbert"`.

use serde::{Deserialize, Serialize};

use super::{ConfigError, HiddenAct, default_act, default_dropout, default_init_range, default_max_positions, require_dropouts, require_pad_in_vocab, require_positive};

/// The fields of a Hugging Face `DistilBertConfig` that the encoder uses, with its defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistilBertConfig {
    /// Rows of `embeddings.word_embeddings`.
    #[serde(default = "default_distil_vocab")]
    pub vocab_size: usize,
    /// Hidden width.
    #[serde(default = "default_distil_dim")]
    pub dim: usize,
    /// Transformer layers (`transformer.layer.N`).
    #[serde(default = "default_distil_layers")]
    pub n_layers: usize,
    /// Attention heads; must divide `dim`.
    #[serde(default = "default_distil_heads")]
    pub n_heads: usize,
    /// Width of the feed-forward block.
    #[serde(default = "default_distil_hidden")]
    pub hidden_dim: usize,
    /// Feed-forward activation (`activation`).
    #[serde(default = "default_act")]
    pub activation: HiddenAct,
    /// Rows of `embeddings.position_embeddings`.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Whether the position embeddings are fixed sinusoids (not trained).
    #[serde(default)]
    pub sinusoidal_pos_embds: bool,
    /// Dropout after embeddings and the feed-forward block.
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_dropout: f64,
    /// Dropout before the classification head's last layer.
    #[serde(default = "default_seq_classif_dropout")]
    pub seq_classif_dropout: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Std of the normal initialiser for newly created weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Label names of a classification head, by class id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
}


fn default_distil_vocab() -> usize {
    30522
}
fn default_distil_dim() -> usize {
    768
}
fn default_distil_layers() -> usize {
    6
}
fn default_distil_heads() -> usize {
    12
}
fn default_distil_hidden() -> usize {
    3072
}
fn default_seq_classif_dropout() -> f64 {
    0.2
}

impl DistilBertConfig {
    /// DistilBERT's LayerNorm epsilon, fixed in modeling_distilbert.py (`eps=1e-12`).
    pub const LAYER_NORM_EPS: f64 = 1e-12;

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("vocab_size", self.vocab_size),
            ("dim", self.dim),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("hidden_dim", self.hidden_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ])?;
        if !self.dim.is_multiple_of(self.n_heads) {
            return Err(ConfigError::Invalid {
                setting: "n_heads",
                value: self.n_heads.to_string(),
                reason: format!("it must divide dim ({}) into equal heads", self.dim),
            });
        }
        require_dropouts(&[("dropout", self.dropout), ("attention_dropout", self.attention_dropout), ("seq_classif_dropout", self.seq_classif_dropout)])?;
        require_pad_in_vocab(self.pad_token_id, self.vocab_size)?;
        Ok(())
    }
}

