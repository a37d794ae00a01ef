//! ModernBERT encoder, following `transformers/models/modernbert/modeling_modernbert.py`
//! (eager attention).
//!
//! Pre-norm layers (layer 0 has no `attn_norm`), a fused `attn.Wqkv`, rotary position
//! embeddings with one base for global and another for local layers, global attention
//! every `global_attn_every_n_layers` layers and a sliding window (`|i − j| ≤
//! local_attention / 2`) in the others, a GeGLU feed-forward block (`mlp.Wi` gives input
//! and gate), bias switches for attention, MLP and norms, an embedding norm and a final
//! norm. The classification head is `head` (dense → activation → norm) → dropout →
//! `classifier`, on the first token or the masked mean (`classifier_pooling`).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use super::layers::{Activation, EncoderInput, LayerNorm, TensorLoader};
use super::trace::Trace;
use crate::checkpoint::{ModernBertConfig, WeightError};

fn dropout(p: f64) -> Dropout {
    DropoutConfig::new(p).init()
}

/// `attn`: fused query/key/value projection, rotary embeddings, (local) attention, `Wo`.
#[derive(Module, Debug)]
pub struct ModernBertAttention {
    /// `attn.Wqkv`, hidden → 3 × hidden (query, key, value).
    pub wqkv: Linear,
    /// `attn.Wo`, hidden → hidden.
    pub wo: Linear,
    /// `attention_dropout`, on the probabilities and after `Wo`.
    pub dropout: Dropout,
    /// Attention heads.
    pub num_heads: usize,
    /// Half the local window; `None` for a global layer.
    pub half_window: Option<usize>,
    /// The rotary base of this layer.
    pub rope_theta: f64,
}

/// `x` with its last axis' halves swapped and the new first half negated
/// (`rotate_half`): `[…, d]` → `[…, d]`.
fn rotate_half(x: Tensor<4>) -> Tensor<4> {
    let d = x.dims()[3];
    let first = x.clone().narrow(3, 0, d / 2);
    let second = x.narrow(3, d / 2, d / 2);
    Tensor::cat(vec![second.neg(), first], 3)
}

/// cos and sin of `position · θ^(−2i/d)` for positions `0..seq`, each half repeated
/// (`torch.cat((freqs, freqs))`), computed in f32 as transformers does: `[1, 1, seq, d]` each.
fn rotary_tables(theta: f64, head: usize, seq: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let inv_freq: Vec<f32> = (0..head / 2).map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head as f32)).collect();
    let mut cos = Vec::with_capacity(seq * head);
    let mut sin = Vec::with_capacity(seq * head);
    for pos in 0..seq {
        for _ in 0..2 {
            for f in &inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    let table = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, seq, head]), device);
    (table(cos), table(sin))
}

impl ModernBertAttention {
    /// # Shapes
    /// `hidden`: `[batch, seq, hidden]`; `keep`: `[batch, 1, 1, seq]` of 1 (token) / 0 (padding)
    /// → `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>, keep: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let [batch, seq, width] = hidden.dims();
        let head = width / self.num_heads;
        let device = hidden.device();
        let qkv = trace.record("attn.Wqkv", self.wqkv.forward(hidden));
        // view(batch, seq, 3, heads, head) then unbind the 3.
        let qkv = qkv.reshape([batch, seq, 3, self.num_heads, head]);
        let part = |i: usize| qkv.clone().narrow(2, i, 1).reshape([batch, seq, self.num_heads, head]).swap_dims(1, 2);
        let (q, k, v) = (part(0), part(1), part(2));
        let (cos, sin) = rotary_tables(self.rope_theta, head, seq, &device);
        let q = q.clone() * cos.clone() + rotate_half(q) * sin.clone();
        let k = k.clone() * cos + rotate_half(k) * sin;
        // One boolean mask (padding and, in local layers, the window), turned into the
        // additive bias once, as masking_utils.py does.
        let keep = match self.half_window {
            None => keep,
            Some(half) => {
                let window: Vec<f32> = (0..seq * seq).map(|ij| if (ij / seq).abs_diff(ij % seq) <= half { 1.0 } else { 0.0 }).collect();
                keep * Tensor::<4>::from_data(TensorData::new(window, [1, 1, seq, seq]), &device)
            }
        };
        let bias = (keep.neg() + 1.0) * f32::MIN;
        let scores = trace.record("attention scores (q·kᵀ/√d + mask)", q.matmul(k.swap_dims(2, 3)) / (head as f64).sqrt() + bias);
        let probs = trace.record("attention softmax", burn::tensor::activation::softmax(scores, 3));
        let context = self.dropout.forward(probs).matmul(v).swap_dims(1, 2).reshape([batch, seq, width]);
        self.dropout.forward(trace.record("attn.Wo", self.wo.forward(context)))
    }
}

/// `mlp`: GeGLU, `Wo(drop(act(input) · gate))` with `input, gate = Wi(x).chunk(2)`.
#[derive(Module, Debug)]
pub struct ModernBertMlp {
    /// `mlp.Wi`, hidden → 2 × intermediate.
    pub wi: Linear,
    /// `hidden_activation`.
    pub act: Activation,
    /// `mlp_dropout`.
    pub drop: Dropout,
    /// `mlp.Wo`, intermediate → hidden.
    pub wo: Linear,
}

impl ModernBertMlp {
    /// `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>, trace: &mut Trace) -> Tensor<3> {
        let both = trace.record("mlp.Wi", self.wi.forward(x));
        let half = both.dims()[2] / 2;
        let input = both.clone().narrow(2, 0, half);
        let gate = both.narrow(2, half, half);
        let gated = trace.record("mlp GeGLU", self.act.forward(input) * gate);
        trace.record("mlp.Wo", self.wo.forward(self.drop.forward(gated)))
    }
}

/// One pre-norm layer (`ModernBertEncoderLayer`).
#[derive(Module, Debug)]
pub struct ModernBertEncoderLayer {
    /// `attn_norm`; layer 0 has none (`nn.Identity`).
    pub attn_norm: Option<LayerNorm>,
    /// `attn`.
    pub attn: ModernBertAttention,
    /// `mlp_norm`.
    pub mlp_norm: LayerNorm,
    /// `mlp`.
    pub mlp: ModernBertMlp,
}

impl ModernBertEncoderLayer {
    fn forward(&self, hidden: Tensor<3>, keep: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let normed = match &self.attn_norm {
            Some(norm) => trace.record("attn_norm", norm.forward(hidden.clone())),
            None => hidden.clone(),
        };
        let hidden = hidden + self.attn.forward(normed, keep, trace);
        let normed = trace.record("mlp_norm", self.mlp_norm.forward(hidden.clone()));
        hidden + self.mlp.forward(normed, trace)
    }

    fn load(n: usize, c: &ModernBertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let p = format!("layers.{n}.");
        let (h, i, eps, nb) = (c.hidden_size, c.intermediate_size, c.norm_eps, c.norm_bias);
        let global = c.is_global(n);
        Ok(Self {
            attn_norm: if n == 0 { None } else { Some(load.layer_norm_with(&format!("{p}attn_norm"), h, eps, nb)?) },
            attn: ModernBertAttention {
                wqkv: load.linear_with(&format!("{p}attn.Wqkv"), h, 3 * h, c.attention_bias)?,
                wo: load.linear_with(&format!("{p}attn.Wo"), h, h, c.attention_bias)?,
                dropout: dropout(c.attention_dropout),
                num_heads: c.num_attention_heads,
                half_window: if global { None } else { Some(c.local_attention / 2) },
                rope_theta: c.rope_theta(global),
            },
            mlp_norm: load.layer_norm_with(&format!("{p}mlp_norm"), h, eps, nb)?,
            mlp: ModernBertMlp {
                wi: load.linear_with(&format!("{p}mlp.Wi"), h, 2 * i, c.mlp_bias)?,
                act: Activation { kind: c.hidden_activation },
                drop: dropout(c.mlp_dropout),
                wo: load.linear_with(&format!("{p}mlp.Wo"), i, h, c.mlp_bias)?,
            },
        })
    }
}

/// The ModernBERT encoder (`ModernBertModel`).
#[derive(Module, Debug)]
pub struct ModernBertModel {
    /// `embeddings.tok_embeddings`.
    pub tok_embeddings: Embedding,
    /// `embeddings.norm`.
    pub embedding_norm: LayerNorm,
    /// `embedding_dropout`.
    pub embedding_drop: Dropout,
    /// `layers.N`.
    pub layers: Vec<ModernBertEncoderLayer>,
    /// `final_norm`.
    pub final_norm: LayerNorm,
}

impl ModernBertModel {
    /// Reads every encoder tensor of `config`.
    pub(crate) fn load(c: &ModernBertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let h = c.hidden_size;
        Ok(Self {
            tok_embeddings: load.embedding("embeddings.tok_embeddings", c.vocab_size, h)?,
            embedding_norm: load.layer_norm_with("embeddings.norm", h, c.norm_eps, c.norm_bias)?,
            embedding_drop: dropout(c.embedding_dropout),
            layers: (0..c.num_hidden_layers).map(|n| ModernBertEncoderLayer::load(n, c, load)).collect::<Result<_, _>>()?,
            final_norm: load.layer_norm_with("final_norm", h, c.norm_eps, c.norm_bias)?,
        })
    }

    /// Runs the encoder → last hidden state `[batch, seq, hidden]` (after `final_norm`).
    /// Positions are `0..seq`; token types are not used.
    pub fn forward(&self, input: &EncoderInput, trace: &mut Trace) -> Tensor<3> {
        let [batch, seq] = input.attention_mask.dims();
        let keep = input.attention_mask.clone().float().reshape([batch, 1, 1, seq]);
        let embedded = trace.record("embeddings.tok_embeddings", self.tok_embeddings.forward(input.input_ids.clone()));
        let mut hidden = self.embedding_drop.forward(trace.record("embeddings.norm", self.embedding_norm.forward(embedded)));
        for (n, layer) in self.layers.iter().enumerate() {
            trace.enter(format!("layers.{n}."));
            hidden = layer.forward(hidden, keep.clone(), trace);
            trace.exit();
        }
        trace.record("final_norm", self.final_norm.forward(hidden))
    }
}

/// `ModernBertForSequenceClassification`'s head: pooled state → `head.dense` → activation →
/// `head.norm` → dropout → `classifier`.
#[derive(Module, Debug)]
pub struct ModernBertClassificationHead {
    /// `head.dense`, hidden → hidden.
    pub dense: Linear,
    /// `classifier_activation`.
    pub act: Activation,
    /// `head.norm`.
    pub norm: LayerNorm,
    /// `classifier_dropout`.
    pub drop: Dropout,
    /// `classifier`, hidden → labels.
    pub classifier: Linear,
    /// `classifier_pooling == "mean"`.
    pub mean_pooling: bool,
}

impl ModernBertClassificationHead {
    /// `hidden`: `[batch, seq, hidden]`, `attention_mask`: `[batch, seq]` → logits `[batch, labels]`.
    pub fn forward(&self, hidden: Tensor<3>, attention_mask: burn::tensor::Tensor<2, burn::tensor::Int>, trace: &mut Trace) -> Tensor<2> {
        let [batch, seq, width] = hidden.dims();
        let pooled = if self.mean_pooling {
            let keep = attention_mask.float().reshape([batch, seq, 1]);
            ((hidden * keep.clone()).sum_dim(1) / keep.sum_dim(1)).reshape([batch, width])
        } else {
            hidden.narrow(1, 0, 1).reshape([batch, width])
        };
        let dense = trace.record("head.dense", self.dense.forward(pooled));
        let normed = trace.record("head.norm", self.norm.forward(self.act.forward(dense)));
        trace.record("classifier (logits)", self.classifier.forward(self.drop.forward(normed)))
    }
}
