//! `model_type: "bert"` (and RoBERTa, which shares the fields).

use serde::{Deserialize, Serialize};

use super::{ConfigError, HiddenAct, default_act, default_dropout, default_eps, default_init_range, default_max_positions, default_position_type, default_type_vocab, require_dropouts, require_pad_in_vocab, require_positive};

/// The fields of a Hugging Face `BertConfig` that the encoder uses.
/// Defaults are those of `transformers.BertConfig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Size of the WordPiece vocabulary: rows of `embeddings.word_embeddings`.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers (`encoder.layer.N`).
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    /// Longest input in tokens: rows of `embeddings.position_embeddings`.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Segment vocabulary (2 for sentence pairs).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Dropout after embeddings, attention output and feed-forward output, in training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities, in training.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Std of the normal initialiser for newly created weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Label names of a classification head, by class id ("0", "1", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
    /// Dropout before a classification head (`hidden_dropout_prob` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    /// Only "absolute" is implemented.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ])?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(ConfigError::Invalid {
                setting: "num_attention_heads",
                value: self.num_attention_heads.to_string(),
                reason: format!(
                    "it must divide hidden_size ({}) into equal heads",
                    self.hidden_size
                ),
            });
        }
        require_dropouts(&[
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ])?;
        // Written so that NaN is refused too.
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(ConfigError::Invalid {
                setting: "layer_norm_eps",
                value: self.layer_norm_eps.to_string(),
                reason: "it must be positive".into(),
            });
        }
        require_pad_in_vocab(self.pad_token_id, self.vocab_size)?;
        if self.position_embedding_type != "absolute" {
            return Err(ConfigError::Invalid {
                setting: "position_embedding_type",
                value: format!("\"{}\"", self.position_embedding_type),
                reason: "webtune implements \"absolute\" position embeddings only".into(),
            });
        }
        Ok(())
    }
}
