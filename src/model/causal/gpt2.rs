//! GPT-2, following `transformers/models/gpt2/modeling_gpt2.py` (eager attention).
//!
//! Learned token (`wte`) and position (`wpe`) embeddings, pre-norm blocks (`ln_1` →
//! attention → residual, `ln_2` → MLP → residual), a final `ln_f`, and `lm_head` tied to
//! `wte`. Its linear layers are `Conv1D`s, which store weights as `[in, out]` (burn's own
//! layout, so nothing is transposed), and the attention's query, key and value come from
//! one fused `c_attn`.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::Tensor;

use super::{CausalInput, KvCache, cached_attention, tied_logits};
use crate::checkpoint::{Gpt2Config, WeightError};
use crate::model::layers::{Activation, LayerNorm, TensorLoader};
use crate::model::trace::Trace;

/// `attn`: fused `c_attn` (hidden → 3 × hidden), causal attention, `c_proj`.
#[derive(Module, Debug)]
pub struct Gpt2Attention {
    /// `attn.c_attn`.
    pub c_attn: Linear,
    /// `attn.c_proj`.
    pub c_proj: Linear,
    /// `attn_pdrop`, on the probabilities.
    pub attn_dropout: Dropout,
    /// `resid_pdrop`, after `c_proj`.
    pub resid_dropout: Dropout,
    /// Attention heads.
    pub num_heads: usize,
    /// The score scale: 1/√head (when `scale_attn_weights`), further 1/(layer + 1) (when
    /// `scale_attn_by_inverse_layer_idx`).
    pub scale: f64,
    /// The block's index, which names its cache slot.
    pub layer: usize,
}

impl Gpt2Attention {
    /// `[batch, new, hidden]` → `[batch, new, hidden]`, attending over the cache and the new positions.
    fn forward(&self, x: Tensor<3>, input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let [batch, new, width] = x.dims();
        let head = width / self.num_heads;
        let qkv = trace.record("attn.c_attn", self.c_attn.forward(x));
        let part = |i: usize| qkv.clone().narrow(2, i * width, width).reshape([batch, new, self.num_heads, head]).swap_dims(1, 2);
        let (q, k, v) = (part(0), part(1), part(2));
        let context = cached_attention(q, k, v, self.layer, cache, input.mask_bias.clone(), self.scale, &self.attn_dropout, trace);
        self.resid_dropout.forward(trace.record("attn.c_proj", self.c_proj.forward(context)))
    }
}

/// `mlp`: `c_fc` → activation → `c_proj` → dropout.
#[derive(Module, Debug)]
pub struct Gpt2Mlp {
    /// `mlp.c_fc`, hidden → inner.
    pub c_fc: Linear,
    /// `activation_function`.
    pub act: Activation,
    /// `mlp.c_proj`, inner → hidden.
    pub c_proj: Linear,
    /// `resid_pdrop`.
    pub dropout: Dropout,
}

/// One block, `h.N`.
#[derive(Module, Debug)]
pub struct Gpt2Block {
    /// `ln_1`.
    pub ln_1: LayerNorm,
    /// `attn`.
    pub attn: Gpt2Attention,
    /// `ln_2`.
    pub ln_2: LayerNorm,
    /// `mlp`.
    pub mlp: Gpt2Mlp,
}

impl Gpt2Block {
    fn load(n: usize, c: &Gpt2Config, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let p = format!("h.{n}.");
        let (h, eps) = (c.n_embd, c.layer_norm_epsilon);
        let mut scale = if c.scale_attn_weights { 1.0 / ((h / c.n_head) as f64).sqrt() } else { 1.0 };
        if c.scale_attn_by_inverse_layer_idx {
            scale /= (n + 1) as f64;
        }
        Ok(Self {
            ln_1: load.layer_norm(&format!("{p}ln_1"), h, eps)?,
            attn: Gpt2Attention {
                c_attn: load.conv1d(&format!("{p}attn.c_attn"), h, 3 * h)?,
                c_proj: load.conv1d(&format!("{p}attn.c_proj"), h, h)?,
                attn_dropout: DropoutConfig::new(c.attn_pdrop).init(),
                resid_dropout: DropoutConfig::new(c.resid_pdrop).init(),
                num_heads: c.n_head,
                scale,
                layer: n,
            },
            ln_2: load.layer_norm(&format!("{p}ln_2"), h, eps)?,
            mlp: Gpt2Mlp {
                c_fc: load.conv1d(&format!("{p}mlp.c_fc"), h, c.inner())?,
                act: Activation { kind: c.activation_function },
                c_proj: load.conv1d(&format!("{p}mlp.c_proj"), c.inner(), h)?,
                dropout: DropoutConfig::new(c.resid_pdrop).init(),
            },
        })
    }

    fn forward(&self, hidden: Tensor<3>, input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let normed = trace.record("ln_1", self.ln_1.forward(hidden.clone()));
        let hidden = hidden + self.attn.forward(normed, input, cache, trace);
        let normed = trace.record("ln_2", self.ln_2.forward(hidden.clone()));
        let inner = trace.record("mlp.c_fc", self.mlp.c_fc.forward(normed));
        let out = trace.record("mlp.c_proj", self.mlp.c_proj.forward(self.mlp.act.forward(inner)));
        hidden + self.mlp.dropout.forward(out)
    }
}

/// `GPT2LMHeadModel`: the `transformer.` body and the head tied to `wte`.
#[derive(Module, Debug)]
pub struct Gpt2LmHeadModel {
    /// `transformer.wte`.
    pub wte: Embedding,
    /// `transformer.wpe`.
    pub wpe: Embedding,
    /// `embd_pdrop`.
    pub drop: Dropout,
    /// `transformer.h.N`.
    pub h: Vec<Gpt2Block>,
    /// `transformer.ln_f`.
    pub ln_f: LayerNorm,
}

impl Gpt2LmHeadModel {
    /// Reads every tensor of `config` (stored with or without the `transformer.` prefix).
    pub(crate) fn load(c: &Gpt2Config, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        load.strip_stored_prefix("transformer.");
        load.scope = "transformer.".into();
        let model = Self {
            wte: load.embedding("wte", c.vocab_size, c.n_embd)?,
            wpe: load.embedding("wpe", c.n_positions, c.n_embd)?,
            drop: DropoutConfig::new(c.embd_pdrop).init(),
            h: (0..c.n_layer).map(|n| Gpt2Block::load(n, c, load)).collect::<Result<_, _>>()?,
            ln_f: load.layer_norm("ln_f", c.n_embd, c.layer_norm_epsilon)?,
        };
        load.scope.clear();
        Ok(model)
    }

    /// The last hidden state `[batch, new, hidden]` (after `ln_f`).
    pub fn hidden(&self, input: &CausalInput, cache: &mut KvCache, trace: &mut Trace) -> Tensor<3> {
        let device = input.input_ids.device();
        let tokens = self.wte.forward(input.input_ids.clone());
        let positions = self.wpe.forward(input.position_tensor(&device));
        let mut hidden = self.drop.forward(trace.record("wte + wpe", tokens + positions));
        for (n, block) in self.h.iter().enumerate() {
            trace.enter(format!("transformer.h.{n}."));
            hidden = block.forward(hidden, input, cache, trace);
            trace.exit();
        }
        trace.record("transformer.ln_f", self.ln_f.forward(hidden))
    }

    /// `lm_head`, tied to `wte`: `[rows, hidden]` → `[rows, vocab]`.
    pub fn head(&self, hidden: Tensor<2>) -> Tensor<2> {
        tied_logits(hidden, self.wte.weight.val())
    }
}
