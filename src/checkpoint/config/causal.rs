//! Generative (causal language model) configurations: `model_type` `gpt2`, `llama` and
//! `qwen2`.

use serde::{Deserialize, Serialize};

use super::{ConfigError, HiddenAct, default_init_range, parse_json, require_dropouts, require_positive};

/// The generative model types webtune implements, by Hugging Face `model_type`.
pub const CAUSAL_MODEL_TYPES: &[&str] = &["gpt2", "llama", "qwen2"];

/// A token id or a list of them, as `eos_token_id` is written (Llama 3 lists several).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// One id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids, in order.
    pub fn ids(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// The fields of a Hugging Face `GPT2Config` that the model uses, with its defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Rows of `wte` (and columns of the tied `lm_head`).
    #[serde(default = "default_gpt2_vocab")]
    pub vocab_size: usize,
    /// Rows of `wpe`: the longest input in tokens.
    #[serde(default = "default_gpt2_positions")]
    pub n_positions: usize,
    /// Hidden width.
    #[serde(default = "default_gpt2_embd")]
    pub n_embd: usize,
    /// Blocks (`h.N`).
    #[serde(default = "default_gpt2_layers")]
    pub n_layer: usize,
    /// Attention heads; must divide `n_embd`.
    #[serde(default = "default_gpt2_layers")]
    pub n_head: usize,
    /// Width of the feed-forward block; `None` means 4 × `n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// The feed-forward activation (GPT-2's own is `gelu_new`, the tanh form).
    #[serde(default = "default_gpt2_act")]
    pub activation_function: HiddenAct,
    /// Dropout after the attention and feed-forward blocks.
    #[serde(default = "default_gpt2_dropout")]
    pub resid_pdrop: f64,
    /// Dropout after the embeddings.
    #[serde(default = "default_gpt2_dropout")]
    pub embd_pdrop: f64,
    /// Dropout on the attention probabilities.
    #[serde(default = "default_gpt2_dropout")]
    pub attn_pdrop: f64,
    /// LayerNorm epsilon.
    #[serde(default = "default_gpt2_eps")]
    pub layer_norm_epsilon: f64,
    /// Std of the normal initialiser for newly created weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Whether the attention scores are divided by √(head width).
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Whether layer `n`'s scores are further divided by `n + 1`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Start-of-text id.
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    /// End-of-text id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding id, when the config names one (GPT-2's usually does not).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Whether `lm_head` is `wte` transposed (GPT-2's always is).
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
}

fn default_gpt2_vocab() -> usize {
    50257
}
fn default_gpt2_positions() -> usize {
    1024
}
fn default_gpt2_embd() -> usize {
    768
}
fn default_gpt2_layers() -> usize {
    12
}
fn default_gpt2_act() -> HiddenAct {
    HiddenAct::GeluNew
}
fn default_gpt2_dropout() -> f64 {
    0.1
}
fn default_gpt2_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

impl Gpt2Config {
    /// Width of the feed-forward block.
    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.inner()),
        ])?;
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(ConfigError::Invalid {
                setting: "n_head",
                value: self.n_head.to_string(),
                reason: format!("it must divide n_embd ({})", self.n_embd),
            });
        }
        if !self.tie_word_embeddings {
            return Err(ConfigError::Invalid {
                setting: "tie_word_embeddings",
                value: "false".into(),
                reason: "GPT2LMHeadModel always ties lm_head to wte".into(),
            });
        }
        require_dropouts(&[("resid_pdrop", self.resid_pdrop), ("embd_pdrop", self.embd_pdrop), ("attn_pdrop", self.attn_pdrop)])
    }
}

/// How rotary frequencies are scaled for contexts longer than training's
/// (`rope_scaling` in older configs, `rope_parameters` in transformers 5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RopeScaling {
    /// The plain rotary embedding.
    Default,
    /// Positions divided by `factor` (equivalently, every frequency).
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Llama 3.1's rule (`_compute_llama3_parameters` in modeling_rope_utils.py): long
    /// wavelengths divided by `factor`, short ones kept, those between interpolated.
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` are scaled.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The context length of pretraining.
        original_max_position_embeddings: f64,
    },
}

/// The rotary embedding of a LLaMA-family model: base and scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rope {
    /// The base θ of the frequencies `θ^(−2i/d)`.
    pub theta: f64,
    /// The scaling rule.
    pub scaling: RopeScaling,
}

impl Rope {
    /// The inverse frequencies of a head of width `head_dim`, in f32 as transformers
    /// computes them: `[head_dim / 2]`.
    pub fn inv_freq(&self, head_dim: usize) -> Vec<f32> {
        let base: Vec<f32> =
            (0..head_dim / 2).map(|i| 1.0 / (self.theta as f32).powf((2 * i) as f32 / head_dim as f32)).collect();
        match self.scaling {
            RopeScaling::Default => base,
            RopeScaling::Linear { factor } => base.into_iter().map(|f| f / factor as f32).collect(),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } => {
                let (factor, low, high, old) =
                    (factor as f32, low_freq_factor as f32, high_freq_factor as f32, original_max_position_embeddings as f32);
                let (low_wavelen, high_wavelen) = (old / low, old / high);
                base.into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f32::consts::PI / f;
                        if wavelen > low_wavelen {
                            f / factor
                        } else if wavelen < high_wavelen {
                            f
                        } else {
                            let smooth = (old / wavelen - low) / (high - low);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        }
    }
}

/// The fields of a Hugging Face `LlamaConfig` (and `Qwen2Config`, which has the same
/// ones) that the model uses, with transformers' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Rows of `embed_tokens` and of `lm_head`.
    #[serde(default = "default_llama_vocab")]
    pub vocab_size: usize,
    /// Hidden width.
    #[serde(default = "default_llama_hidden")]
    pub hidden_size: usize,
    /// Width of the SwiGLU block.
    #[serde(default = "default_llama_intermediate")]
    pub intermediate_size: usize,
    /// Decoder layers (`layers.N`).
    #[serde(default = "default_llama_layers")]
    pub num_hidden_layers: usize,
    /// Query heads.
    #[serde(default = "default_llama_layers")]
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); `None` means one per query head.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of a head; `None` means `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// The SwiGLU's activation (`silu`).
    #[serde(default = "default_llama_act")]
    pub hidden_act: HiddenAct,
    /// Longest input in tokens.
    #[serde(default = "default_llama_positions")]
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_llama_eps")]
    pub rms_norm_eps: f64,
    /// Std of the normal initialiser for newly created weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Rotary base (older configs; transformers 5 puts it in `rope_parameters`).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Rotary scaling (older configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// Rotary base and scaling (transformers 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    /// Whether q/k/v/o have biases (llama; Qwen2 always has q/k/v biases and no o bias).
    #[serde(default)]
    pub attention_bias: bool,
    /// Whether the SwiGLU projections have biases.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Dropout on the attention probabilities.
    #[serde(default)]
    pub attention_dropout: f64,
    /// Whether `lm_head` is `embed_tokens` (SmolLM2, Qwen2.5 0.5B, Llama 3.2 1B).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Start-of-text id.
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    /// End-of-text id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding id, when the config names one.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Qwen2's sliding-window attention switch.
    #[serde(default)]
    pub use_sliding_window: bool,
}

fn default_llama_vocab() -> usize {
    32000
}
fn default_llama_hidden() -> usize {
    4096
}
fn default_llama_intermediate() -> usize {
    11008
}
fn default_llama_layers() -> usize {
    32
}
fn default_llama_act() -> HiddenAct {
    HiddenAct::Silu
}
fn default_llama_positions() -> usize {
    2048
}
fn default_llama_eps() -> f64 {
    1e-6
}

impl LlamaConfig {
    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of a head.
    pub fn head_width(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// The rotary embedding, from `rope_parameters`, else `rope_theta` and `rope_scaling`.
    pub fn rope(&self) -> Result<Rope, ConfigError> {
        let (setting, params) = match (&self.rope_parameters, &self.rope_scaling) {
            (Some(p), _) => ("rope_parameters", Some(p)),
            (None, Some(p)) if !p.is_null() => ("rope_scaling", Some(p)),
            _ => ("rope_scaling", None),
        };
        let number = |key: &str| params.and_then(|p| p.get(key)).and_then(|v| v.as_f64());
        let theta = number("rope_theta").or(self.rope_theta).unwrap_or(10_000.0);
        let kind = params
            .and_then(|p| p.get("rope_type").or_else(|| p.get("type")))
            .and_then(|t| t.as_str())
            .unwrap_or("default");
        let required = |key: &'static str| {
            number(key).filter(|v| *v > 0.0).ok_or_else(|| ConfigError::Invalid {
                setting,
                value: format!("{kind} without {key}"),
                reason: format!("rope_type \"{kind}\" needs a positive {key}"),
            })
        };
        let scaling = match kind {
            "default" => RopeScaling::Default,
            "linear" => RopeScaling::Linear { factor: required("factor")? },
            "llama3" => RopeScaling::Llama3 {
                factor: required("factor")?,
                low_freq_factor: required("low_freq_factor")?,
                high_freq_factor: required("high_freq_factor")?,
                original_max_position_embeddings: required("original_max_position_embeddings")?,
            },
            other => {
                return Err(ConfigError::Invalid {
                    setting,
                    value: format!("rope_type \"{other}\""),
                    reason: "webtune implements the default, \"linear\" and \"llama3\" rotary embeddings".into(),
                });
            }
        };
        if let RopeScaling::Llama3 { low_freq_factor, high_freq_factor, .. } = scaling
            && high_freq_factor <= low_freq_factor
        {
            return Err(ConfigError::Invalid {
                setting,
                value: format!("high_freq_factor {high_freq_factor}"),
                reason: format!("it must be larger than low_freq_factor ({low_freq_factor})"),
            });
        }
        if !(theta > 0.0) {
            return Err(ConfigError::Invalid { setting: "rope_theta", value: theta.to_string(), reason: "it must be positive".into() });
        }
        Ok(Rope { theta, scaling })
    }

    fn validate(&self, qwen2: bool) -> Result<(), ConfigError> {
        require_positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_width()),
            ("max_position_embeddings", self.max_position_embeddings),
        ])?;
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err(ConfigError::Invalid {
                setting: "num_key_value_heads",
                value: self.kv_heads().to_string(),
                reason: format!("it must divide num_attention_heads ({}): each key/value head serves a group of query heads", self.num_attention_heads),
            });
        }
        if self.head_width() % 2 != 0 {
            return Err(ConfigError::Invalid {
                setting: "head_dim",
                value: self.head_width().to_string(),
                reason: "it must be even: rotary embeddings rotate pairs".into(),
            });
        }
        if qwen2 && self.use_sliding_window {
            return Err(ConfigError::Invalid {
                setting: "use_sliding_window",
                value: "true".into(),
                reason: "webtune implements Qwen2's full attention only; set it to false (the released Qwen2 and Qwen2.5 checkpoints do)".into(),
            });
        }
        require_dropouts(&[("attention_dropout", self.attention_dropout)])?;
        self.rope().map(|_| ())
    }
}

/// The end-of-sequence ids generation stops at: those of `generation_config.json` (when
/// the model has one; Llama 3 lists `<|eot_id|>` there) and of `config.json`, in that
/// order, without repeats.
pub fn stop_token_ids(config: &CausalConfig, generation_config: Option<&[u8]>) -> Result<Vec<u32>, ConfigError> {
    #[derive(Deserialize)]
    struct Generation {
        #[serde(default)]
        eos_token_id: Option<TokenIds>,
    }
    let mut ids = match generation_config {
        Some(bytes) => parse_json::<Generation>("generation_config.json", bytes)?.eos_token_id.map(|t| t.ids()).unwrap_or_default(),
        None => Vec::new(),
    };
    for id in config.eos_token_ids() {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// A parsed `config.json` of a generative model, one variant per modeling file.
#[derive(Clone, Debug, PartialEq)]
pub enum CausalConfig {
    /// `gpt2` (modeling_gpt2.py).
    Gpt2(Gpt2Config),
    /// `llama` (modeling_llama.py): SmolLM2, TinyLlama, Llama 3.2 and kin.
    Llama(LlamaConfig),
    /// `qwen2` (modeling_qwen2.py): LLaMA's layers with q/k/v biases.
    Qwen2(LlamaConfig),
}

impl CausalConfig {
    /// Parses `config.json` of a generative model, dispatching on `model_type`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct Head {
            model_type: Option<String>,
        }
        let head: Head = parse_json("config.json", bytes)?;
        let supported = CAUSAL_MODEL_TYPES.join(", ");
        let config = match head.model_type.as_deref() {
            Some("gpt2") => CausalConfig::Gpt2(parse_json("config.json", bytes)?),
            Some("llama") => CausalConfig::Llama(parse_json("config.json", bytes)?),
            Some("qwen2") => CausalConfig::Qwen2(parse_json("config.json", bytes)?),
            Some(other) if super::SUPPORTED_MODEL_TYPES.contains(&other) => {
                return Err(ConfigError::NotGenerative { found: other.to_string(), supported });
            }
            Some(other) => return Err(ConfigError::UnsupportedModelType { found: other.to_string(), supported }),
            None => return Err(ConfigError::MissingModelType { supported }),
        };
        match &config {
            CausalConfig::Gpt2(c) => c.validate()?,
            CausalConfig::Llama(c) => c.validate(false)?,
            CausalConfig::Qwen2(c) => c.validate(true)?,
        }
        Ok(config)
    }

    /// The Hugging Face `model_type`.
    pub fn model_type(&self) -> &'static str {
        match self {
            CausalConfig::Gpt2(_) => "gpt2",
            CausalConfig::Llama(_) => "llama",
            CausalConfig::Qwen2(_) => "qwen2",
        }
    }

    /// The transformers class of the language model (`GPT2LMHeadModel`).
    pub fn class_name(&self) -> &'static str {
        match self {
            CausalConfig::Gpt2(_) => "GPT2LMHeadModel",
            CausalConfig::Llama(_) => "LlamaForCausalLM",
            CausalConfig::Qwen2(_) => "Qwen2ForCausalLM",
        }
    }

    /// Rows of the token embeddings, columns of the logits.
    pub fn vocab_size(&self) -> usize {
        match self {
            CausalConfig::Gpt2(c) => c.vocab_size,
            CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => c.vocab_size,
        }
    }

    /// The longest sequence, prompt and generation together, in tokens.
    pub fn max_tokens(&self) -> usize {
        match self {
            CausalConfig::Gpt2(c) => c.n_positions,
            CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => c.max_position_embeddings,
        }
    }

    /// Parameters, as transformers' `num_parameters()` counts them (a tied `lm_head` once).
    pub fn parameters(&self) -> u64 {
        match self {
            CausalConfig::Gpt2(c) => {
                let (v, p, h, i) = (c.vocab_size as u64, c.n_positions as u64, c.n_embd as u64, c.inner() as u64);
                let layer = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (h * i + i) + (i * h + h);
                (v + p) * h + c.n_layer as u64 * layer + 2 * h
            }
            CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => {
                let qwen2 = matches!(self, CausalConfig::Qwen2(_));
                let (v, h, i) = (c.vocab_size as u64, c.hidden_size as u64, c.intermediate_size as u64);
                let (q, kv) = ((c.num_attention_heads * c.head_width()) as u64, (c.kv_heads() * c.head_width()) as u64);
                let qkv_bias = if qwen2 || c.attention_bias { q + 2 * kv } else { 0 };
                let o_bias = if !qwen2 && c.attention_bias { h } else { 0 };
                let mlp_bias = if c.mlp_bias { 2 * i + h } else { 0 };
                let layer = 2 * h + h * (q + 2 * kv) + qkv_bias + q * h + o_bias + 3 * h * i + mlp_bias;
                let head = if c.tie_word_embeddings { 0 } else { v * h };
                v * h + c.num_hidden_layers as u64 * layer + h + head
            }
        }
    }

    /// Hidden width, layers, query heads and feed-forward width, by the same names for
    /// every family: `(hidden, layers, heads, intermediate)`.
    pub fn shape(&self) -> (usize, usize, usize, usize) {
        match self {
            CausalConfig::Gpt2(c) => (c.n_embd, c.n_layer, c.n_head, c.inner()),
            CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size),
        }
    }

    /// The end-of-sequence ids config.json names (generation_config.json may name more).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        let ids = match self {
            CausalConfig::Gpt2(c) => c.eos_token_id.as_ref(),
            CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => c.eos_token_id.as_ref(),
        };
        ids.map(TokenIds::ids).unwrap_or_default()
    }

    /// The padding id: `pad_token_id`, else the first end-of-sequence id (what transformers'
    /// `generate` falls back to), else 0. Padding is masked, so its value never matters.
    pub fn pad_token_id(&self) -> u32 {
        let pad = match self {
            CausalConfig::Gpt2(c) => c.pad_token_id,
            CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => c.pad_token_id,
        };
        pad.or_else(|| self.eos_token_ids().first().copied()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama(extra: &str) -> Result<CausalConfig, ConfigError> {
        let json = format!(
            r#"{{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2{extra}}}"#
        );
        CausalConfig::from_json(json.as_bytes())
    }

    #[test]
    fn reads_both_spellings_of_the_rotary_settings() {
        let CausalConfig::Llama(old) = llama(r#", "rope_theta": 500000.0, "rope_scaling": {"type": "linear", "factor": 2.0}"#).unwrap() else { panic!() };
        assert_eq!(old.rope().unwrap(), Rope { theta: 500000.0, scaling: RopeScaling::Linear { factor: 2.0 } });
        let CausalConfig::Llama(new) = llama(r#", "rope_parameters": {"rope_type": "default", "rope_theta": 1000.0}"#).unwrap() else { panic!() };
        assert_eq!(new.rope().unwrap(), Rope { theta: 1000.0, scaling: RopeScaling::Default });
        let CausalConfig::Llama(plain) = llama("").unwrap() else { panic!() };
        assert_eq!(plain.rope().unwrap().theta, 10000.0);
        assert_eq!((plain.kv_heads(), plain.head_width()), (2, 4));
    }

    #[test]
    fn refuses_what_it_cannot_compute_with_the_setting_named() {
        let err = llama(r#", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#).unwrap_err().to_string();
        assert_eq!(err, "config.json: rope_scaling = rope_type \"yarn\" is impossible: webtune implements the default, \"linear\" and \"llama3\" rotary embeddings");
        let err = llama(r#", "rope_scaling": {"rope_type": "llama3", "factor": 8.0}"#).unwrap_err().to_string();
        assert!(err.contains("needs a positive low_freq_factor"), "{err}");
        let err = llama(r#", "num_key_value_heads": 3, "num_attention_heads": 4"#.replace(r#", "num_attention_heads": 4"#, "").as_str());
        assert!(err.unwrap_err().to_string().contains("num_key_value_heads = 3 is impossible"));
        let err = CausalConfig::from_json(br#"{"model_type": "mistral"}"#).unwrap_err().to_string();
        assert!(err.contains("webtune supports: gpt2, llama, qwen2"), "{err}");
        let err = CausalConfig::from_json(br#"{"model_type": "qwen2", "use_sliding_window": true}"#).unwrap_err().to_string();
        assert!(err.contains("use_sliding_window = true is impossible"), "{err}");
    }

    /// Llama 3.1's frequencies for head width 8, θ 10,000, factor 4, low 0.25, high 4 and
    /// an original context of 32 tokens: wavelengths 6.3 (kept), 62.8 (interpolated), 628
    /// and 6283 (divided by 4), as `_compute_llama3_parameters` in transformers computes them.
    #[test]
    fn llama3_scaling_keeps_scales_and_interpolates() {
        let rope = Rope {
            theta: 10_000.0,
            scaling: RopeScaling::Llama3 { factor: 4.0, low_freq_factor: 0.25, high_freq_factor: 4.0, original_max_position_embeddings: 32.0 },
        };
        let got = rope.inv_freq(8);
        let want = [1.0f32, 0.030185916, 0.0025, 0.00025];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-6 * w.max(1e-3), "{got:?}");
        }
    }

    #[test]
    fn eos_may_be_a_list_and_pad_falls_back_to_it() {
        let c = llama(r#", "eos_token_id": [7, 9]"#).unwrap();
        assert_eq!((c.eos_token_ids(), c.pad_token_id()), (vec![7, 9], 7));
        let gpt2 = CausalConfig::from_json(br#"{"model_type": "gpt2", "n_embd": 8, "n_head": 2, "n_layer": 1, "vocab_size": 5, "eos_token_id": 4}"#).unwrap();
        assert_eq!((gpt2.pad_token_id(), gpt2.class_name(), gpt2.max_tokens()), (4, "GPT2LMHeadModel", 1024));
        assert_eq!(stop_token_ids(&c, Some(br#"{"eos_token_id": [9, 11]}"#)).unwrap(), vec![9, 11, 7]);
        let err = stop_token_ids(&c, Some(b"{\n \"eos_token_id\": \"x\"}")).unwrap_err().to_string();
        assert!(err.starts_with("generation_config.json is not a valid model configuration") && err.ends_with("(line 2, column 21)"), "{err}");
    }
}
