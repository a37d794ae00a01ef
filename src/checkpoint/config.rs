//! `config.json` (the architecture) and the sentence-transformers files around it
//! (`sentence_bert_config.json`, `1_Pooling/config.json`, `modules.json`).

use serde::{Deserialize, Serialize};

use super::ModelFiles;

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The file is not JSON, or a field has the wrong type.
    #[error("{file} is not a valid model configuration: {message} (line {line}, column {column})")]
    Json {
        /// The file name.
        file: String,
        /// What serde_json said.
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// `model_type` names an architecture webtune does not implement.
    #[error("config.json has model_type \"{found}\"; webtune supports: {supported}. Pick a checkpoint of a supported architecture (for example sentence-transformers/all-MiniLM-L6-v2)")]
    UnsupportedModelType {
        /// The model_type found.
        found: String,
        /// The model types webtune supports, comma-separated.
        supported: String,
    },
    /// `model_type` is absent.
    #[error("config.json has no \"model_type\"; is this a Hugging Face transformers config? webtune supports: {supported}")]
    MissingModelType {
        /// The model types webtune supports, comma-separated.
        supported: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("config.json: {setting} = {value} is impossible: {reason}")]
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// Its value, as written.
        value: String,
        /// Why it cannot work.
        reason: String,
    },
}

/// The model types webtune implements, by Hugging Face `model_type`.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["bert", "distilbert", "modernbert", "roberta", "xlm-roberta"];

/// An encoder family: which transformers modeling file a checkpoint follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// `model_type: "bert"`: BERT, MiniLM and other BERT-shaped encoders (modeling_bert.py).
    Bert,
    /// `model_type: "roberta"` (modeling_roberta.py).
    Roberta,
    /// `model_type: "xlm-roberta"`: RoBERTa's modeling under another name
    /// (modeling_xlm_roberta.py is a copy of modeling_roberta.py).
    XlmRoberta,
    /// `model_type: "distilbert"` (modeling_distilbert.py).
    DistilBert,
    /// `model_type: "modernbert"` (modeling_modernbert.py).
    ModernBert,
}

impl Family {
    /// The Hugging Face `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::XlmRoberta => "xlm-roberta",
            Family::DistilBert => "distilbert",
            Family::ModernBert => "modernbert",
        }
    }

    /// The attribute under which transformers' task models keep the encoder, which prefixes
    /// its tensor names in their checkpoints (`bert.encoder.layer.0…`).
    pub fn encoder_prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert.",
            Family::Roberta | Family::XlmRoberta => "roberta.",
            Family::DistilBert => "distilbert.",
            Family::ModernBert => "model.",
        }
    }

    /// The transformers class of the plain encoder (`BertModel`).
    pub fn encoder_class(self) -> &'static str {
        match self {
            Family::Bert => "BertModel",
            Family::Roberta => "RobertaModel",
            Family::XlmRoberta => "XLMRobertaModel",
            Family::DistilBert => "DistilBertModel",
            Family::ModernBert => "ModernBertModel",
        }
    }

    /// The transformers class of the sequence classifier (`BertForSequenceClassification`).
    pub fn classifier_class(self) -> &'static str {
        match self {
            Family::Bert => "BertForSequenceClassification",
            Family::Roberta => "RobertaForSequenceClassification",
            Family::XlmRoberta => "XLMRobertaForSequenceClassification",
            Family::DistilBert => "DistilBertForSequenceClassification",
            Family::ModernBert => "ModernBertForSequenceClassification",
        }
    }
}

/// A parsed `config.json`, one variant per implemented modeling file.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    /// `bert`: BERT, MiniLM and other BERT-shaped encoders.
    Bert(BertConfig),
    /// `roberta` and `xlm-roberta`: BERT's fields and layers, positions counted from
    /// `pad_token_id + 1`, and a two-layer classification head.
    Roberta {
        /// The fields, which RobertaConfig shares with BertConfig.
        config: BertConfig,
        /// Whether `model_type` is `xlm-roberta` (kept for the export's class names).
        xlm: bool,
    },
    /// `distilbert`.
    DistilBert(DistilBertConfig),
    /// `modernbert`.
    ModernBert(ModernBertConfig),
}

impl ModelConfig {
    /// Parses `config.json`, dispatching on `model_type`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct Head {
            model_type: Option<String>,
            pad_token_id: Option<serde_json::Value>,
        }
        let head: Head = parse_json("config.json", bytes)?;
        let supported = SUPPORTED_MODEL_TYPES.join(", ");
        let config = match head.model_type.as_deref() {
            Some("bert") => ModelConfig::Bert(parse_json("config.json", bytes)?),
            Some(t @ ("roberta" | "xlm-roberta")) => {
                let mut config: BertConfig = parse_json("config.json", bytes)?;
                // RobertaConfig's default pad_token_id is 1 (`<pad>`), BertConfig's 0.
                if head.pad_token_id.is_none() {
                    config.pad_token_id = 1;
                }
                ModelConfig::Roberta { config, xlm: t == "xlm-roberta" }
            }
            Some("distilbert") => ModelConfig::DistilBert(parse_json("config.json", bytes)?),
            Some("modernbert") => ModelConfig::ModernBert(parse_json("config.json", bytes)?),
            Some(other) => {
                return Err(ConfigError::UnsupportedModelType {
                    found: other.to_string(),
                    supported,
                });
            }
            None => return Err(ConfigError::MissingModelType { supported }),
        };
        config.validate()?;
        Ok(config)
    }

    /// The encoder family.
    pub fn family(&self) -> Family {
        match self {
            ModelConfig::Bert(_) => Family::Bert,
            ModelConfig::Roberta { xlm: false, .. } => Family::Roberta,
            ModelConfig::Roberta { xlm: true, .. } => Family::XlmRoberta,
            ModelConfig::DistilBert(_) => Family::DistilBert,
            ModelConfig::ModernBert(_) => Family::ModernBert,
        }
    }

    /// The architecture's sizes, by the same names for every family.
    pub fn dims(&self) -> EncoderDims {
        match self {
            ModelConfig::Bert(c) | ModelConfig::Roberta { config: c, .. } => EncoderDims {
                vocab_size: c.vocab_size,
                hidden_size: c.hidden_size,
                layers: c.num_hidden_layers,
                heads: c.num_attention_heads,
                intermediate_size: c.intermediate_size,
                position_rows: c.max_position_embeddings,
                token_types: c.type_vocab_size,
            },
            ModelConfig::DistilBert(c) => EncoderDims {
                vocab_size: c.vocab_size,
                hidden_size: c.dim,
                layers: c.n_layers,
                heads: c.n_heads,
                intermediate_size: c.hidden_dim,
                position_rows: c.max_position_embeddings,
                token_types: 0,
            },
            ModelConfig::ModernBert(c) => EncoderDims {
                vocab_size: c.vocab_size,
                hidden_size: c.hidden_size,
                layers: c.num_hidden_layers,
                heads: c.num_attention_heads,
                intermediate_size: c.intermediate_size,
                // Rotary: no position table.
                position_rows: 0,
                token_types: 0,
            },
        }
    }

    /// The longest input in tokens, special tokens included: the position table's rows,
    /// less the `pad_token_id + 1` rows RoBERTa's position numbering skips.
    pub fn max_tokens(&self) -> usize {
        match self {
            ModelConfig::Roberta { config, .. } => config.max_position_embeddings.saturating_sub(config.pad_token_id as usize + 1),
            ModelConfig::ModernBert(c) => c.max_position_embeddings,
            other => other.dims().position_rows,
        }
    }

    /// Id of the padding token.
    pub fn pad_token_id(&self) -> u32 {
        match self {
            ModelConfig::Bert(c) | ModelConfig::Roberta { config: c, .. } => c.pad_token_id,
            ModelConfig::DistilBert(c) => c.pad_token_id,
            ModelConfig::ModernBert(c) => c.pad_token_id,
        }
    }

    /// Std of the normal initialiser for newly created weights.
    pub fn initializer_range(&self) -> f64 {
        match self {
            ModelConfig::Bert(c) | ModelConfig::Roberta { config: c, .. } => c.initializer_range,
            ModelConfig::DistilBert(c) => c.initializer_range,
            ModelConfig::ModernBert(c) => c.initializer_range,
        }
    }

    /// `id2label`, when the config has one.
    pub fn id2label(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        match self {
            ModelConfig::Bert(c) | ModelConfig::Roberta { config: c, .. } => c.id2label.as_ref(),
            ModelConfig::DistilBert(c) => c.id2label.as_ref(),
            ModelConfig::ModernBert(c) => c.id2label.as_ref(),
        }
    }

    /// The label names of `id2label`, in id order, when it names ids 0..n.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label()?;
        let mut pairs: Vec<(usize, String)> =
            map.iter().map(|(k, v)| k.parse::<usize>().ok().map(|k| (k, v.clone()))).collect::<Option<_>>()?;
        pairs.sort();
        pairs.iter().enumerate().all(|(i, (k, _))| i == *k).then(|| pairs.into_iter().map(|(_, v)| v).collect())
    }

    /// The dropout before the classification head's last layer, as each family's
    /// `…ForSequenceClassification` chooses it.
    pub fn classifier_dropout(&self) -> f64 {
        match self {
            ModelConfig::Bert(c) | ModelConfig::Roberta { config: c, .. } => c.classifier_dropout.unwrap_or(c.hidden_dropout_prob),
            ModelConfig::DistilBert(c) => c.seq_classif_dropout,
            ModelConfig::ModernBert(c) => c.classifier_dropout,
        }
    }

    /// Parameters of the family's sequence classifier with `labels` classes (transformers'
    /// `num_parameters()`), without building it.
    pub fn classifier_parameters(&self, labels: usize) -> u64 {
        let d = self.dims();
        let (h, i, l) = (d.hidden_size as u64, d.intermediate_size as u64, d.layers as u64);
        if let ModelConfig::ModernBert(c) = self {
            let norm = if c.norm_bias { 2 * h } else { h };
            let (attn_b, mlp_b) = (if c.attention_bias { 4 * h } else { 0 }, if c.mlp_bias { 2 * i + h } else { 0 });
            let layer = norm + 4 * h * h + attn_b + norm + 3 * h * i + mlp_b;
            // Layer 0 has no attn_norm.
            let layers = l * layer - norm;
            let head = h * h + if c.classifier_bias { h } else { 0 } + norm + h * labels as u64 + labels as u64;
            return d.vocab_size as u64 * h + norm + layers + norm + head;
        }
        let layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
        let embeddings = (d.vocab_size as u64 + d.position_rows as u64 + d.token_types as u64) * h + 2 * h;
        // Every family's head is one hidden → hidden layer (BERT's pooler.dense, RoBERTa's
        // classifier.dense, DistilBERT's pre_classifier) and one hidden → labels layer.
        let head = (h * h + h) + (h * labels as u64 + labels as u64);
        embeddings + l * layer + head
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            ModelConfig::Bert(c) | ModelConfig::Roberta { config: c, .. } => c.validate()?,
            ModelConfig::DistilBert(c) => c.validate()?,
            ModelConfig::ModernBert(c) => c.validate()?,
        }
        if let ModelConfig::Roberta { config, .. } = self
            && config.max_position_embeddings <= config.pad_token_id as usize + 1
        {
            return Err(ConfigError::Invalid {
                setting: "max_position_embeddings",
                value: config.max_position_embeddings.to_string(),
                reason: format!(
                    "RoBERTa numbers positions from pad_token_id + 1 = {}, so it must be larger than that",
                    config.pad_token_id + 1
                ),
            });
        }
        Ok(())
    }
}

/// An encoder's sizes under one set of names, whatever config.json calls them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderDims {
    /// Rows of the word embeddings.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Rows of the position embeddings.
    pub position_rows: usize,
    /// Rows of the token-type embeddings (0: the family has none).
    pub token_types: usize,
}

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

    fn validate(&self) -> Result<(), ConfigError> {
        for (setting, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("max_position_embeddings", self.max_position_embeddings),
            ("global_attn_every_n_layers", self.global_attn_every_n_layers),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid { setting, value: "0".into(), reason: "it must be at least 1".into() });
            }
        }
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
        for (setting, p) in [
            ("attention_dropout", self.attention_dropout),
            ("embedding_dropout", self.embedding_dropout),
            ("mlp_dropout", self.mlp_dropout),
            ("classifier_dropout", self.classifier_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(ConfigError::Invalid { setting, value: p.to_string(), reason: "a dropout probability must be in [0, 1)".into() });
            }
        }
        if self.pad_token_id as usize >= self.vocab_size {
            return Err(ConfigError::Invalid {
                setting: "pad_token_id",
                value: self.pad_token_id.to_string(),
                reason: format!("it must be below vocab_size ({})", self.vocab_size),
            });
        }
        Ok(())
    }
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

    fn validate(&self) -> Result<(), ConfigError> {
        for (setting, value) in [
            ("vocab_size", self.vocab_size),
            ("dim", self.dim),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("hidden_dim", self.hidden_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid { setting, value: "0".into(), reason: "it must be at least 1".into() });
            }
        }
        if !self.dim.is_multiple_of(self.n_heads) {
            return Err(ConfigError::Invalid {
                setting: "n_heads",
                value: self.n_heads.to_string(),
                reason: format!("it must divide dim ({}) into equal heads", self.dim),
            });
        }
        for (setting, p) in [("dropout", self.dropout), ("attention_dropout", self.attention_dropout), ("seq_classif_dropout", self.seq_classif_dropout)] {
            if !(0.0..1.0).contains(&p) {
                return Err(ConfigError::Invalid { setting, value: p.to_string(), reason: "a dropout probability must be in [0, 1)".into() });
            }
        }
        if self.pad_token_id as usize >= self.vocab_size {
            return Err(ConfigError::Invalid {
                setting: "pad_token_id",
                value: self.pad_token_id.to_string(),
                reason: format!("it must be below vocab_size ({})", self.vocab_size),
            });
        }
        Ok(())
    }
}

fn parse_json<'a, T: Deserialize<'a>>(file: &str, bytes: &'a [u8]) -> Result<T, ConfigError> {
    serde_json::from_slice(bytes).map_err(|e| ConfigError::Json {
        file: file.to_string(),
        message: strip_position(&e.to_string()),
        line: e.line(),
        column: e.column(),
    })
}

/// serde_json appends " at line L column C"; the error prints the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The activation of the feed-forward block (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// GELU, erf form: what `transformers` means by "gelu" (`GELUActivation`).
    Gelu,
    /// GELU, tanh approximation ("gelu_new").
    GeluNew,
    /// GELU, tanh approximation as PyTorch computes it ("gelu_pytorch_tanh").
    GeluPytorchTanh,
    /// ReLU.
    Relu,
}

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

fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_init_range() -> f64 {
    0.02
}
fn default_position_type() -> String {
    "absolute".to_string()
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    setting,
                    value: "0".into(),
                    reason: "it must be at least 1".into(),
                });
            }
        }
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
        for (setting, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(ConfigError::Invalid {
                    setting,
                    value: p.to_string(),
                    reason: "a dropout probability must be in [0, 1)".into(),
                });
            }
        }
        // Written so that NaN is refused too.
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(ConfigError::Invalid {
                setting: "layer_norm_eps",
                value: self.layer_norm_eps.to_string(),
                reason: "it must be positive".into(),
            });
        }
        if self.pad_token_id as usize >= self.vocab_size {
            return Err(ConfigError::Invalid {
                setting: "pad_token_id",
                value: self.pad_token_id.to_string(),
                reason: format!("it must be below vocab_size ({})", self.vocab_size),
            });
        }
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
