//! Generative decoders (causal language models): GPT-2 ([`gpt2`]) and the LLaMA family
//! with Qwen2 ([`llama`]), behind one [`CausalLm`], with a key/value cache
//! ([`KvCache`]) and generation ([`generate`]).
//!
//! A forward pass takes the new tokens of every row and the attention mask over the
//! cached and new positions ([`CausalInput`]); positions count the real tokens before each
//! one, so left-padded, right-padded and unpadded rows get the same positions for the
//! same text, and a batch gives each row what it would get alone.

use std::sync::Arc;

use burn::module::Module;
use burn::nn::Dropout;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::ModelError;
use super::layers::{NamedTensor, ParamNames, TensorLoader};
use super::trace::Trace;
use crate::checkpoint::{CausalConfig, ModelFiles, Weights};

mod generate;
pub mod gpt2;
pub mod llama;

pub use generate::{GenerationSettings, Sampling, generate, generate_streaming, warp};

/// The inputs of one decoder forward pass, made on the host.
#[derive(Clone, Debug)]
pub struct CausalInput {
    /// The new tokens, `[batch, new]`.
    pub input_ids: Tensor<2, Int>,
    /// Each new token's position (real tokens before it in its row), row-major `[batch, new]`.
    pub positions: Vec<i64>,
    /// Causal and padding mask as an additive bias, `[batch, 1, new, past + new]`: 0 where
    /// query `i` may see key `j` (`j ≤ past + i` and `j` is a real token), `f32::MIN` elsewhere.
    pub mask_bias: Tensor<4>,
    /// Rows.
    pub batch: usize,
    /// New tokens per row.
    pub new: usize,
}

impl CausalInput {
    /// `input_ids` (row-major `[batch, new]`) follow `past` cached positions;
    /// `attention_mask` (row-major `[batch, past + new]`) is 1 for real tokens, 0 for padding.
    pub fn new(input_ids: &[u32], attention_mask: &[i64], batch: usize, past: usize, device: &Device) -> Self {
        let new = input_ids.len() / batch.max(1);
        let total = past + new;
        debug_assert_eq!(attention_mask.len(), batch * total);
        let mut positions = Vec::with_capacity(batch * new);
        let mut bias = Vec::with_capacity(batch * new * total);
        for row in attention_mask.chunks(total.max(1)) {
            let before: i64 = row[..past].iter().sum();
            let mut count = before;
            for (i, &keep) in row[past..].iter().enumerate() {
                positions.push(count);
                count += keep;
                bias.extend((0..total).map(|j| if j <= past + i && row[j] == 1 { 0.0 } else { f32::MIN }));
            }
        }
        let ids: Vec<i64> = input_ids.iter().map(|&id| id as i64).collect();
        Self {
            input_ids: Tensor::from_data(TensorData::new(ids, [batch, new]), device),
            positions,
            mask_bias: Tensor::from_data(TensorData::new(bias, [batch, 1, new, total]), device),
            batch,
            new,
        }
    }

    /// The positions as a device tensor `[batch, new]` (GPT-2's `wpe` rows).
    pub fn position_tensor(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(self.positions.clone(), [self.batch, self.new]), device)
    }
}

/// Keys and values of the positions seen so far, per layer: `[batch, kv_heads, past, head]` each.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends layer `n`'s new keys and values and returns all of them.
    fn extend(&mut self, n: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        if self.layers.len() <= n {
            self.layers.resize(n + 1, None);
        }
        let (k, v) = match self.layers[n].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[n] = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// Scaled dot-product attention of new queries over the cached and new keys, as
/// transformers' `eager_attention_forward` computes it: `softmax(q·kᵀ·scale + mask)·v`,
/// with each key/value head serving `heads / kv_heads` query heads (`repeat_kv`).
///
/// # Shapes
/// `q`: `[batch, heads, new, head]`; `k`, `v`: `[batch, kv_heads, new, head]`; `mask_bias`:
/// `[batch, 1, new, past + new]` → `[batch, new, heads × head]`.
#[allow(clippy::too_many_arguments)]
fn cached_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    layer: usize,
    cache: &mut KvCache,
    mask_bias: Tensor<4>,
    scale: f64,
    dropout: &Dropout,
    trace: &mut Trace,
) -> Tensor<3> {
    let [batch, heads, new, head] = q.dims();
    let (k, v) = cache.extend(layer, k, v);
    let [_, kv_heads, total, _] = k.dims();
    let repeat = |x: Tensor<4>| {
        if kv_heads == heads {
            x
        } else {
            x.unsqueeze_dim::<5>(2).repeat_dim(2, heads / kv_heads).reshape([batch, heads, total, head])
        }
    };
    let (k, v) = (repeat(k), repeat(v));
    let scores = trace.record("attention scores (q·kᵀ·scale + mask)", q.matmul(k.swap_dims(2, 3)) * scale + mask_bias);
    let probs = trace.record("attention softmax", softmax(scores, 3));
    dropout.forward(probs).matmul(v).swap_dims(1, 2).reshape([batch, new, heads * head])
}

/// `x` with its last axis' halves swapped and the new first half negated (`rotate_half`).
fn rotate_half(x: Tensor<4>) -> Tensor<4> {
    let d = x.dims()[3];
    let first = x.clone().narrow(3, 0, d / 2);
    let second = x.narrow(3, d / 2, d / 2);
    Tensor::cat(vec![second.neg(), first], 3)
}

/// cos and sin of `position · inv_freq`, each half repeated (`torch.cat((freqs, freqs))`),
/// in f32 as transformers computes them: `[batch, 1, new, 2 × inv_freq.len()]` each.
fn rotary_tables(inv_freq: &[f32], input: &CausalInput, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let d = 2 * inv_freq.len();
    let mut cos = Vec::with_capacity(input.positions.len() * d);
    let mut sin = Vec::with_capacity(input.positions.len() * d);
    for &pos in &input.positions {
        for _ in 0..2 {
            for f in inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    let shape = [input.batch, 1, input.new, d];
    (Tensor::from_data(TensorData::new(cos, shape), device), Tensor::from_data(TensorData::new(sin, shape), device))
}

/// A decoder of one of the supported families.
#[derive(Module, Debug)]
pub enum CausalModel {
    /// `gpt2`.
    Gpt2(gpt2::Gpt2LmHeadModel),
    /// `llama` and `qwen2`.
    Llama(llama::LlamaForCausalLm),
}

/// A causal language model with the layout and names of its transformers `…LMHeadModel` /
/// `…ForCausalLM`.
#[derive(Module, Debug)]
pub struct CausalLm {
    /// The network.
    pub model: CausalModel,
    /// Every parameter's checkpoint name, written by the loader.
    #[module(skip)]
    names: Arc<ParamNames>,
    /// The longest sequence in tokens.
    #[module(skip)]
    max_tokens: usize,
    /// Columns of the logits.
    #[module(skip)]
    vocab_size: usize,
}

/// What loading a causal model found.
#[derive(Clone, Debug, PartialEq)]
pub struct CausalLoadReport {
    /// The transformers class (`LlamaForCausalLM`).
    pub class_name: String,
    /// Tensors in the file that the model does not use (buffers such as GPT-2's
    /// `attn.bias` mask, or a stored copy of a tied `lm_head`).
    pub ignored_tensors: Vec<String>,
    /// Parameters, as transformers' `num_parameters()` counts them (a tied head once).
    pub parameters: usize,
}

impl CausalLm {
    /// Loads `config`'s architecture from the model's `model.safetensors` onto `device`.
    pub fn load(files: &ModelFiles, config: &CausalConfig, device: &Device) -> Result<(Self, CausalLoadReport), ModelError> {
        let mut weights = Weights::from_bytes("model.safetensors", files.require("model.safetensors")?.into())?;
        let mut load = TensorLoader::new(&mut weights, device);
        let model = match config {
            CausalConfig::Gpt2(c) => CausalModel::Gpt2(gpt2::Gpt2LmHeadModel::load(c, &mut load)?),
            CausalConfig::Llama(c) => CausalModel::Llama(llama::LlamaForCausalLm::load(c, &c.rope()?, false, &mut load)?),
            CausalConfig::Qwen2(c) => CausalModel::Llama(llama::LlamaForCausalLm::load(c, &c.rope()?, true, &mut load)?),
        };
        let names = load.into_names();
        let ignored_tensors = weights.finish(config.class_name())?;
        let model = Self { model, names: Arc::new(names), max_tokens: config.max_tokens(), vocab_size: config.vocab_size() };
        let report = CausalLoadReport { class_name: config.class_name().to_string(), ignored_tensors, parameters: model.num_params() };
        Ok((model, report))
    }

    /// Logits `[batch, new, vocab]` of the input's new tokens, appending their keys and
    /// values to `cache` (pass an empty one to run without history).
    pub fn forward(&self, input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let hidden = self.hidden(input, cache, trace);
        let [batch, new, width] = hidden.dims();
        let logits = self.head(hidden.reshape([batch * new, width]));
        trace.record("lm_head (logits)", logits.reshape([batch, new, self.vocab_size]))
    }

    /// The last hidden state `[batch, new, hidden]`, appending keys and values to `cache`.
    pub fn hidden(&self, input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        match &self.model {
            CausalModel::Gpt2(m) => m.hidden(input, cache, trace),
            CausalModel::Llama(m) => m.hidden(input, cache, trace),
        }
    }

    /// The language-model head: hidden states `[rows, hidden]` → logits `[rows, vocab]`
    /// (so that a loss can score only the positions it needs).
    pub fn head(&self, hidden: Tensor<2>) -> Tensor<2> {
        match &self.model {
            CausalModel::Gpt2(m) => m.head(hidden),
            CausalModel::Llama(m) => m.head(hidden),
        }
    }

    /// The checkpoint name of parameter `id` (`lm_head.weight`), if it is one of this model's.
    pub fn parameter_name(&self, id: burn::module::ParamId) -> Option<&str> {
        self.names.name(id)
    }

    /// The longest sequence, prompt and generation together, in tokens.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Columns of the logits.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Every parameter under its transformers name, for export.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        self.names.tensors(self)
    }
}

/// `[rows, width]` through `weight` `[vocab, width]` transposed (a tied `lm_head`) →
/// `[rows, vocab]`.
fn tied_logits(hidden: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
    hidden.matmul(weight.transpose())
}
