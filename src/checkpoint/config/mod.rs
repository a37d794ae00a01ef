//! `config.json` (the architecture) and the sentence-transformers files around it
//! (`sentence_bert_config.json`, `1_Pooling/config.json`, `modules.json`).

use serde::{Deserialize, Serialize};

mod bert;
mod causal;
mod distilbert;
mod modernbert;
mod sentence;

pub use bert::BertConfig;
pub use causal::{CAUSAL_MODEL_TYPES, CausalConfig, Gpt2Config, LlamaConfig, Rope, RopeScaling, TokenIds, stop_token_ids};
pub use distilbert::DistilBertConfig;
pub use modernbert::ModernBertConfig;
pub use sentence::{Pooling, SentenceEmbeddingConfig};

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
    /// A generative model was given where an encoder is needed.
    #[error("config.json has model_type \"{found}\", a generative model; classification and embeddings need an encoder ({supported}). Continue text with it with `webtune generate`")]
    NotAnEncoder {
        /// The model_type found.
        found: String,
        /// The encoder types webtune supports, comma-separated.
        supported: String,
    },
    /// An encoder was given where a generative model is needed.
    #[error("config.json has model_type \"{found}\", an encoder, which cannot continue text; generation needs a generative model ({supported}), for example HuggingFaceTB/SmolLM2-135M")]
    NotGenerative {
        /// The model_type found.
        found: String,
        /// The generative types webtune supports, comma-separated.
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
            Some(other) if CAUSAL_MODEL_TYPES.contains(&other) => {
                return Err(ConfigError::NotAnEncoder { found: other.to_string(), supported });
            }
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

pub(super) fn parse_json<'a, T: Deserialize<'a>>(file: &str, bytes: &'a [u8]) -> Result<T, ConfigError> {
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
    /// SiLU (swish), `x · σ(x)`: the LLaMA family's SwiGLU activation.
    Silu,
}


pub(super) fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
pub(super) fn default_max_positions() -> usize {
    512
}
pub(super) fn default_type_vocab() -> usize {
    2
}
pub(super) fn default_eps() -> f64 {
    1e-12
}
pub(super) fn default_dropout() -> f64 {
    0.1
}
pub(super) fn default_init_range() -> f64 {
    0.02
}
pub(super) fn default_position_type() -> String {
    "absolute".to_string()
}

/// Refuses a size of 0 (`setting` names it).
pub(super) fn require_positive(sizes: &[(&'static str, usize)]) -> Result<(), ConfigError> {
    match sizes.iter().find(|(_, value)| *value == 0) {
        Some((setting, _)) => Err(ConfigError::Invalid { setting, value: "0".into(), reason: "it must be at least 1".into() }),
        None => Ok(()),
    }
}

/// Refuses a dropout probability outside [0, 1) (NaN included).
pub(super) fn require_dropouts(probabilities: &[(&'static str, f64)]) -> Result<(), ConfigError> {
    match probabilities.iter().find(|(_, p)| !(0.0..1.0).contains(p)) {
        Some((setting, p)) => Err(ConfigError::Invalid { setting, value: p.to_string(), reason: "a dropout probability must be in [0, 1)".into() }),
        None => Ok(()),
    }
}

/// Refuses a pad token outside the vocabulary.
pub(super) fn require_pad_in_vocab(pad_token_id: u32, vocab_size: usize) -> Result<(), ConfigError> {
    if pad_token_id as usize >= vocab_size {
        return Err(ConfigError::Invalid {
            setting: "pad_token_id",
            value: pad_token_id.to_string(),
            reason: format!("it must be below vocab_size ({vocab_size})"),
        });
    }
    Ok(())
}
