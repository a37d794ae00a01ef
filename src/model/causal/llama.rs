//! LLaMA-family decoders, following `transformers/models/llama/modeling_llama.py`, and
//! Qwen2 (`models/qwen2/modeling_qwen2.py`), which is the same network with biases on
//! the query, key and value projections.
//!
//! Pre-norm layers with RMSNorm (`input_layernorm` → attention → residual,
//! `post_attention_layernorm` → SwiGLU → residual), rotary position embeddings (with the
//! `linear` or `llama3` frequency scaling), grouped-query attention (`num_key_value_heads`
//! key/value heads, each serving a group of query heads), a final `norm`, and an `lm_head`
//! that is its own matrix or, with `tie_word_embeddings`, `embed_tokens` transposed.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::Tensor;

use super::{CausalInput, KvCache, cached_attention, rotary_tables, rotate_half, tied_logits};
use crate::checkpoint::{LlamaConfig, Rope, WeightError};
use crate::model::layers::{Activation, RmsNorm, TensorLoader};
use crate::model::trace::Trace;

/// `self_attn`: `q_proj`, `k_proj`, `v_proj` (biased in Qwen2), rotary embeddings,
/// grouped-query causal attention, `o_proj`.
#[derive(Module, Debug)]
pub struct LlamaAttention {
    /// `self_attn.q_proj`, hidden → heads × head.
    pub q_proj: Linear,
    /// `self_attn.k_proj`, hidden → kv_heads × head.
    pub k_proj: Linear,
    /// `self_attn.v_proj`, hidden → kv_heads × head.
    pub v_proj: Linear,
    /// `self_attn.o_proj`, heads × head → hidden.
    pub o_proj: Linear,
    /// `attention_dropout`.
    pub dropout: Dropout,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// The layer's index, which names its cache slot.
    pub layer: usize,
}

impl LlamaAttention {
    /// `[batch, new, hidden]` → `[batch, new, hidden]`; `cos`, `sin`: `[batch, 1, new, head]`.
    fn forward(&self, x: Tensor<3>, rotary: &(Tensor<4>, Tensor<4>), input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let [batch, new, _] = x.dims();
        let heads = |t: Tensor<3>, n: usize| t.reshape([batch, new, n, self.head_dim]).swap_dims(1, 2);
        let q = heads(trace.record("self_attn.q_proj", self.q_proj.forward(x.clone())), self.num_heads);
        let k = heads(trace.record("self_attn.k_proj", self.k_proj.forward(x.clone())), self.num_kv_heads);
        let v = heads(trace.record("self_attn.v_proj", self.v_proj.forward(x)), self.num_kv_heads);
        let (cos, sin) = rotary;
        let q = q.clone() * cos.clone() + rotate_half(q) * sin.clone();
        let k = k.clone() * cos.clone() + rotate_half(k) * sin.clone();
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let context = cached_attention(q, k, v, self.layer, cache, input.mask_bias.clone(), scale, &self.dropout, trace);
        trace.record("self_attn.o_proj", self.o_proj.forward(context))
    }
}

/// `mlp`: SwiGLU, `down_proj(act(gate_proj(x)) · up_proj(x))`.
#[derive(Module, Debug)]
pub struct LlamaMlp {
    /// `mlp.gate_proj`, hidden → intermediate.
    pub gate_proj: Linear,
    /// `mlp.up_proj`, hidden → intermediate.
    pub up_proj: Linear,
    /// `mlp.down_proj`, intermediate → hidden.
    pub down_proj: Linear,
    /// `hidden_act` (SiLU).
    pub act: Activation,
}

/// One decoder layer, `layers.N`.
#[derive(Module, Debug)]
pub struct LlamaDecoderLayer {
    /// `input_layernorm`.
    pub input_layernorm: RmsNorm,
    /// `self_attn`.
    pub self_attn: LlamaAttention,
    /// `post_attention_layernorm`.
    pub post_attention_layernorm: RmsNorm,
    /// `mlp`.
    pub mlp: LlamaMlp,
}

impl LlamaDecoderLayer {
    fn load(n: usize, c: &LlamaConfig, qwen2: bool, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let p = format!("layers.{n}.");
        let (h, i, d) = (c.hidden_size, c.intermediate_size, c.head_width());
        let (heads, kv) = (c.num_attention_heads, c.kv_heads());
        let qkv_bias = qwen2 || c.attention_bias;
        Ok(Self {
            input_layernorm: load.rms_norm(&format!("{p}input_layernorm"), h, c.rms_norm_eps)?,
            self_attn: LlamaAttention {
                q_proj: load.linear_with(&format!("{p}self_attn.q_proj"), h, heads * d, qkv_bias)?,
                k_proj: load.linear_with(&format!("{p}self_attn.k_proj"), h, kv * d, qkv_bias)?,
                v_proj: load.linear_with(&format!("{p}self_attn.v_proj"), h, kv * d, qkv_bias)?,
                o_proj: load.linear_with(&format!("{p}self_attn.o_proj"), heads * d, h, !qwen2 && c.attention_bias)?,
                dropout: DropoutConfig::new(c.attention_dropout).init(),
                num_heads: heads,
                num_kv_heads: kv,
                head_dim: d,
                layer: n,
            },
            post_attention_layernorm: load.rms_norm(&format!("{p}post_attention_layernorm"), h, c.rms_norm_eps)?,
            mlp: LlamaMlp {
                gate_proj: load.linear_with(&format!("{p}mlp.gate_proj"), h, i, c.mlp_bias)?,
                up_proj: load.linear_with(&format!("{p}mlp.up_proj"), h, i, c.mlp_bias)?,
                down_proj: load.linear_with(&format!("{p}mlp.down_proj"), i, h, c.mlp_bias)?,
                act: Activation { kind: c.hidden_act },
            },
        })
    }

    fn forward(&self, hidden: Tensor<3>, rotary: &(Tensor<4>, Tensor<4>), input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let normed = trace.record("input_layernorm", self.input_layernorm.forward(hidden.clone()));
        let hidden = hidden + self.self_attn.forward(normed, rotary, input, cache, trace);
        let normed = trace.record("post_attention_layernorm", self.post_attention_layernorm.forward(hidden.clone()));
        let gate = self.mlp.act.forward(trace.record("mlp.gate_proj", self.mlp.gate_proj.forward(normed.clone())));
        let up = trace.record("mlp.up_proj", self.mlp.up_proj.forward(normed));
        hidden + trace.record("mlp.down_proj", self.mlp.down_proj.forward(gate * up))
    }
}

/// `LlamaForCausalLM` / `Qwen2ForCausalLM`: the `model.` body and `lm_head`.
#[derive(Module, Debug)]
pub struct LlamaForCausalLm {
    /// `model.embed_tokens`.
    pub embed_tokens: Embedding,
    /// `model.layers.N`.
    pub layers: Vec<LlamaDecoderLayer>,
    /// `model.norm`.
    pub norm: RmsNorm,
    /// `lm_head`, hidden → vocab; `None` when tied to `embed_tokens`.
    pub lm_head: Option<Linear>,
    /// The rotary inverse frequencies, `[head / 2]` (f32, as transformers computes them).
    #[module(skip)]
    pub inv_freq: Vec<f32>,
}

impl LlamaForCausalLm {
    /// Reads every tensor of `config` (its rotary embedding is `rope`); `qwen2` adds the
    /// q/k/v biases.
    pub(crate) fn load(c: &LlamaConfig, rope: &Rope, qwen2: bool, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        load.scope = "model.".into();
        let embed_tokens = load.embedding("embed_tokens", c.vocab_size, c.hidden_size)?;
        let layers = (0..c.num_hidden_layers).map(|n| LlamaDecoderLayer::load(n, c, qwen2, load)).collect::<Result<_, _>>()?;
        let norm = load.rms_norm("norm", c.hidden_size, c.rms_norm_eps)?;
        load.scope.clear();
        let lm_head = if c.tie_word_embeddings { None } else { Some(load.linear_with("lm_head", c.hidden_size, c.vocab_size, false)?) };
        Ok(Self { embed_tokens, layers, norm, lm_head, inv_freq: rope.inv_freq(c.head_width()) })
    }

    /// The last hidden state `[batch, new, hidden]` (after `norm`).
    pub fn hidden(&self, input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let device = input.input_ids.device();
        let rotary = rotary_tables(&self.inv_freq, input, &device);
        let mut hidden = trace.record("model.embed_tokens", self.embed_tokens.forward(input.input_ids.clone()));
        for (n, layer) in self.layers.iter().enumerate() {
            trace.enter(format!("model.layers.{n}."));
            hidden = layer.forward(hidden, &rotary, input, cache, trace);
            trace.exit();
        }
        trace.record("model.norm", self.norm.forward(hidden))
    }

    /// `lm_head` (or `embed_tokens` transposed, when tied): `[rows, hidden]` → `[rows, vocab]`.
    pub fn head(&self, hidden: Tensor<2>) -> Tensor<2> {
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => tied_logits(hidden, self.embed_tokens.weight.val()),
        }
    }
}
