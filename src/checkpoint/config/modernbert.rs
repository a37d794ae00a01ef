//! `model_type: "modernbert"`.

use serde::{Deserialize, Serialize};

use super::{ConfigError, HiddenAct, default_act, default_init_range, require_dropouts, require_pad_in_vocab, require_positive};

/// The fields of a Hugging Face `ModernBertConfig` that the encoder uses, with its defaults.
/// Both spellings of the attention layout are read: transformers 5 writes `layer_types` and
/// `rope_parameters`, published checkpoints carry `global_attn_every_n_layers`,
/// `global_rope_theta` and `local_rope_theta`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModernBertConfig {
    /// Rows of `embeddings.tok_embeddings`.
    #[serde(default = "default_modernbert_vocab")]
    pub vocab_size: usize,
    /// Hidden width.
    #[serde(default = "default_modernbert_hidden")]
    pub hidden_size: usize,
    /// Width of each half of the GeGLU block (`mlp.Wi` is hidden → 2 × this).
    #[serde(default = "default_modernbert_intermediate")]
    pub intermediate_size: usize,
    /// Transformer layers (`layers.N`).
    #[serde(default = "default_modernbert_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads; must divide `hidden_size`.
    #[serde(default = "default_modernbert_heads")]
    pub num_attention_heads: usize,
    /// The GeGLU's activation.
    #[serde(default = "default_act")]
    pub hidden_activation: HiddenAct,
    /// Longest input in tokens (rotary positions, no table).
    #[serde(default = "default_modernbert_positions")]
    pub max_position_embeddings: usize,
    /// Std of the normal initialiser for newly created weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    #[serde(default = "default_modernbert_eps")]
    pub norm_eps: f64,
    /// Whether the LayerNorms have a bias.
    #[serde(default)]
    pub norm_bias: bool,
    /// Id of the padding token.
    #[serde(default = "default_modernbert_pad")]
    pub pad_token_id: u32,
    /// Whether `attn.Wqkv` and `attn.Wo` have biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// Whether `mlp.Wi` and `mlp.Wo` have biases.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Whether `head.dense` has a bias.
    #[serde(default)]
    pub classifier_bias: bool,
    /// Dropout on attention probabilities and after `attn.Wo`.
    #[serde(default)]
    pub attention_dropout: f64,
    /// Dropout after the embedding norm.
    #[serde(default)]
    pub embedding_dropout: f64,
    /// Dropout inside the GeGLU block.
    #[serde(default)]
    pub mlp_dropout: f64,
    /// Dropout before `classifier`.
    #[serde(default)]
    pub classifier_dropout: f64,
    /// `head.act`.
    #[serde(default = "default_act")]
    pub classifier_activation: HiddenAct,
    /// `cls` (first token) or `mean` (over the attention mask) before the head.
    #[serde(default = "default_classifier_pooling")]
    pub classifier_pooling: String,
    /// Every this many layers (from layer 0) attention is global; the others are local.
    #[serde(default = "default_global_every")]
    pub global_attn_every_n_layers: usize,
    /// The local attention window in tokens: a token sees those within half of it on each side.
    #[serde(default = "default_local_attention")]
    pub local_attention: usize,
    /// Rotary base of global layers (older configs).
    #[serde(default)]
    pub global_rope_theta: Option<f64>,
    /// Rotary base of local layers (older configs).
    #[serde(default)]
    pub local_rope_theta: Option<f64>,
    /// `full_attention` / `sliding_attention` per layer (transformers 5).
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    /// Rotary settings per layer type (transformers 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    /// Label names of a classification head, by class id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
}

fn default_modernbert_vocab() -> usize {
    50368
}
fn default_modernbert_hidden() -> usize {
    768
}
fn default_modernbert_intermediate() -> usize {
    1152
}
fn default_modernbert_layers() -> usize {
    22
}
fn default_modernbert_heads() -> usize {
    12
}
fn default_modernbert_positions() -> usize {
    8192
}
fn default_modernbert_eps() -> f64 {
    1e-5
}
fn default_modernbert_pad() -> u32 {
    50283
}
fn default_classifier_pooling() -> String {
    "cls".into()
}
fn default_global_every() -> usize {
    3
}
fn default_local_attention() -> usize {
    128
}

impl ModernBertConfig {
    /// Whether layer `n` attends globally (`full_attention`) rather than in the local window.
    pub fn is_global(&self, n: usize) -> bool {
        match &self.layer_types {
            Some(types) => types.get(n).is_some_and(|t| t == "full_attention"),
            None => n.is_multiple_of(self.global_attn_every_n_layers),
        }
    }

    /// The rotary base of global (`true`) or local layers: `rope_parameters`, else the
    /// older fields, else transformers' defaults (160,000 and 10,000).
    pub fn rope_theta(&self, global: bool) -> f64 {
        let key = if global { "full_attention" } else { "sliding_attention" };
        let from_parameters = self.rope_parameters.as_ref().and_then(|p| p.get(key)?.get("rope_theta")?.as_f64());
        let older = if global { self.global_rope_theta } else { self.local_rope_theta };
        from_parameters.or(older).unwrap_or(if global { 160_000.0 } else { 10_000.0 })
    }

    /// Whether the classification head pools by the mean over the mask (else the first token).
    pub fn mean_pooling(&self) -> bool {
        self.classifier_pooling == "mean"
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("max_position_embeddings", self.max_position_embeddings),
            ("global_attn_every_n_layers", self.global_attn_every_n_layers),
        ])?;
        let head = self.hidden_size / self.num_attention_heads.max(1);
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) || head % 2 != 0 {
            return Err(ConfigError::Invalid {
                setting: "num_attention_heads",
                value: self.num_attention_heads.to_string(),
                reason: format!("it must divide hidden_size ({}) into heads of an even width (rotary embeddings rotate pairs)", self.hidden_size),
            });
        }
        if let Some(types) = &self.layer_types
            && (types.len() != self.num_hidden_layers || types.iter().any(|t| t != "full_attention" && t != "sliding_attention"))
        {
            return Err(ConfigError::Invalid {
                setting: "layer_types",
                value: format!("{types:?}"),
                reason: format!("it must name \"full_attention\" or \"sliding_attention\" for each of the {} layers", self.num_hidden_layers),
            });
        }
        if let Some(params) = &self.rope_parameters {
            for key in ["full_attention", "sliding_attention"] {
                let kind = params.get(key).and_then(|p| p.get("rope_type")).and_then(|t| t.as_str()).unwrap_or("default");
                if kind != "default" {
                    return Err(ConfigError::Invalid {
                        setting: "rope_parameters",
                        value: format!("{key}.rope_type = \"{kind}\""),
                        reason: "webtune implements the default rotary embedding only".into(),
                    });
                }
            }
        }
        if self.classifier_pooling != "cls" && self.classifier_pooling != "mean" {
            return Err(ConfigError::Invalid {
                setting: "classifier_pooling",
                value: format!("\"{}\"", self.classifier_pooling),
                reason: "it must be \"cls\" or \"mean\"".into(),
            });
        }
        require_dropouts(&[
            ("attention_dropout", self.attention_dropout),
            ("embedding_dropout", self.embedding_dropout),
            ("mlp_dropout", self.mlp_dropout),
            ("classifier_dropout", self.classifier_dropout),
        ])?;
        require_pad_in_vocab(self.pad_token_id, self.vocab_size)?;
        Ok(())
    }
}

