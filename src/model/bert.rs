//! BERT encoder, following `transformers/models/bert/modeling_bert.py`.
//! Struct and field names mirror the checkpoint's tensor names, so
//! `encoder.layer.3.attention.self.query.weight` is `encoder.layer[3].attention.self_attention.query.weight`.

use burn::module::{Module, Param, ParamId};
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Int, Tensor};

use super::layers::{LayerNorm, TensorLoader, gelu_exact, gelu_tanh, tanh_finite};
use super::trace::Trace;
use crate::checkpoint::{BertConfig, HiddenAct, WeightError};

/// Word, position and token-type embeddings, summed, then LayerNorm and dropout
/// (`BertEmbeddings`).
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// `embeddings.word_embeddings`, `[vocab_size, hidden]`.
    pub word_embeddings: Embedding,
    /// `embeddings.position_embeddings`, `[max_position_embeddings, hidden]`.
    pub position_embeddings: Embedding,
    /// `embeddings.token_type_embeddings`, `[type_vocab_size, hidden]`.
    pub token_type_embeddings: Embedding,
    /// `embeddings.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// `hidden_dropout_prob`.
    pub dropout: Dropout,
}

impl BertEmbeddings {
    /// `input_ids`, `token_type_ids`: `[batch, seq]` → `[batch, seq, hidden]`.
    /// Positions are `0..seq` (absolute position embeddings).
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>, trace: &mut Trace) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let embedded = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_type_ids);
        let embedded = trace.record("embeddings (word + position + token type)", embedded);
        let normed = trace.record("embeddings.LayerNorm", self.layer_norm.forward(embedded));
        self.dropout.forward(normed)
    }
}

/// Multi-head scaled dot-product self-attention (`BertSelfAttention`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// `….attention.self.query`, hidden → hidden.
    pub query: Linear,
    /// `….attention.self.key`, hidden → hidden.
    pub key: Linear,
    /// `….attention.self.value`, hidden → hidden.
    pub value: Linear,
    /// `attention_probs_dropout_prob`, on the attention probabilities.
    pub dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
}

impl BertSelfAttention {
    /// `hidden`: `[batch, seq, hidden]`; `mask_bias`: `[batch, 1, 1, seq]`, 0 where a key is
    /// attended and the most negative f32 where it is padding → `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let [batch, seq, width] = hidden.dims();
        let head = width / self.num_heads;
        let split = |x: Tensor<3>| x.reshape([batch, seq, self.num_heads, head]).swap_dims(1, 2);
        let q = split(trace.record("attention.self.query", self.query.forward(hidden.clone())));
        let k = split(trace.record("attention.self.key", self.key.forward(hidden.clone())));
        let v = split(trace.record("attention.self.value", self.value.forward(hidden)));
        // [batch, heads, seq, seq]; the mask is added before the softmax, as in
        // modeling_bert.py's eager attention.
        let scores = trace.record("attention scores (q·kᵀ/√d + mask)", q.matmul(k.swap_dims(2, 3)) / (head as f64).sqrt() + mask_bias);
        let probs = trace.record("attention softmax", softmax(scores, 3));
        let context = self.dropout.forward(probs).matmul(v).swap_dims(1, 2).reshape([batch, seq, width]);
        trace.record("attention context (probs·v)", context)
    }
}

/// Projection, dropout, residual and LayerNorm after attention (`BertSelfOutput`).
#[derive(Module, Debug)]
pub struct BertSelfOutput {
    /// `….attention.output.dense`, hidden → hidden.
    pub dense: Linear,
    /// `….attention.output.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// `hidden_dropout_prob`.
    pub dropout: Dropout,
}

impl BertSelfOutput {
    /// `[batch, seq, hidden]` (attention result) + residual → `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>, residual: Tensor<3>, trace: &mut Trace) -> Tensor<3> {
        let projected = self.dropout.forward(trace.record("attention.output.dense", self.dense.forward(hidden)));
        trace.record("attention.output.LayerNorm", self.layer_norm.forward(projected + residual))
    }
}

/// Self-attention and its output block (`BertAttention`).
#[derive(Module, Debug)]
pub struct BertAttention {
    /// `….attention.self` (`self` is a Rust keyword).
    pub self_attention: BertSelfAttention,
    /// `….attention.output`.
    pub output: BertSelfOutput,
}

impl BertAttention {
    /// `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let attended = self.self_attention.forward(hidden.clone(), mask_bias, trace);
        self.output.forward(attended, hidden, trace)
    }
}

/// The activation of the feed-forward block.
#[derive(Module, Debug)]
pub struct Activation {
    /// Which function.
    #[module(skip)]
    pub kind: HiddenAct,
}

impl Activation {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self.kind {
            // transformers' "gelu" is the exact erf form (activations.py, GELUActivation).
            HiddenAct::Gelu => gelu_exact(x),
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => gelu_tanh(x),
            HiddenAct::Relu => relu(x),
        }
    }
}

/// First half of the feed-forward block (`BertIntermediate`).
#[derive(Module, Debug)]
pub struct BertIntermediate {
    /// `….intermediate.dense`, hidden → intermediate.
    pub dense: Linear,
    /// `hidden_act`.
    pub activation: Activation,
}

/// Second half of the feed-forward block with residual and LayerNorm (`BertOutput`).
#[derive(Module, Debug)]
pub struct BertOutput {
    /// `….output.dense`, intermediate → hidden.
    pub dense: Linear,
    /// `….output.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// `hidden_dropout_prob`.
    pub dropout: Dropout,
}

/// One transformer layer (`BertLayer`): post-LayerNorm attention then feed-forward.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// `encoder.layer.N.attention`.
    pub attention: BertAttention,
    /// `encoder.layer.N.intermediate`.
    pub intermediate: BertIntermediate,
    /// `encoder.layer.N.output`.
    pub output: BertOutput,
}

impl BertLayer {
    /// `[batch, seq, hidden]` → `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let attended = self.attention.forward(hidden, mask_bias, trace);
        let widened = trace.record("intermediate.dense", self.intermediate.dense.forward(attended.clone()));
        let activated = trace.record("intermediate activation", self.intermediate.activation.forward(widened));
        let narrowed = self.output.dropout.forward(trace.record("output.dense", self.output.dense.forward(activated)));
        trace.record("output.LayerNorm", self.output.layer_norm.forward(narrowed + attended))
    }
}

/// The stack of layers (`BertEncoder`).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// `encoder.layer.N`.
    pub layer: Vec<BertLayer>,
}

/// tanh(dense([CLS] state)) (`BertPooler`), used by sequence-classification heads.
#[derive(Module, Debug)]
pub struct BertPooler {
    /// `pooler.dense`, hidden → hidden.
    pub dense: Linear,
}

impl BertPooler {
    /// `[batch, seq, hidden]` → `[batch, hidden]`, from the first token.
    pub fn forward(&self, hidden: Tensor<3>, trace: &mut Trace) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = hidden.narrow(1, 0, 1).reshape([batch, width]);
        let dense = trace.record("pooler.dense", self.dense.forward(first));
        trace.record("pooler tanh", tanh_finite(dense))
    }
}

/// The BERT encoder with its optional pooler (`BertModel`).
#[derive(Module, Debug)]
pub struct BertModel {
    /// `embeddings.*`.
    pub embeddings: BertEmbeddings,
    /// `encoder.*`.
    pub encoder: BertEncoder,
    /// `pooler.*`, when the checkpoint has one.
    pub pooler: Option<BertPooler>,
}

impl BertModel {
    /// Reads every encoder tensor of `config` from the loader's checkpoint; the pooler is
    /// read when present.
    pub(crate) fn load(config: &BertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let h = config.hidden_size;
        let dropout = |p: f64| DropoutConfig::new(p).init();
        let embeddings = BertEmbeddings {
            word_embeddings: load.embedding("embeddings.word_embeddings", config.vocab_size, h)?,
            position_embeddings: load.embedding(
                "embeddings.position_embeddings",
                config.max_position_embeddings,
                h,
            )?,
            token_type_embeddings: load.embedding(
                "embeddings.token_type_embeddings",
                config.type_vocab_size,
                h,
            )?,
            layer_norm: load.layer_norm("embeddings.LayerNorm", h, config.layer_norm_eps)?,
            dropout: dropout(config.hidden_dropout_prob),
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for n in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{n}");
            layers.push(BertLayer {
                attention: BertAttention {
                    self_attention: BertSelfAttention {
                        query: load.linear(&format!("{p}.attention.self.query"), h, h)?,
                        key: load.linear(&format!("{p}.attention.self.key"), h, h)?,
                        value: load.linear(&format!("{p}.attention.self.value"), h, h)?,
                        dropout: dropout(config.attention_probs_dropout_prob),
                        num_heads: config.num_attention_heads,
                    },
                    output: BertSelfOutput {
                        dense: load.linear(&format!("{p}.attention.output.dense"), h, h)?,
                        layer_norm: load.layer_norm(
                            &format!("{p}.attention.output.LayerNorm"),
                            h,
                            config.layer_norm_eps,
                        )?,
                        dropout: dropout(config.hidden_dropout_prob),
                    },
                },
                intermediate: BertIntermediate {
                    dense: load.linear(&format!("{p}.intermediate.dense"), h, config.intermediate_size)?,
                    activation: Activation {
                        kind: config.hidden_act,
                    },
                },
                output: BertOutput {
                    dense: load.linear(&format!("{p}.output.dense"), config.intermediate_size, h)?,
                    layer_norm: load.layer_norm(&format!("{p}.output.LayerNorm"), h, config.layer_norm_eps)?,
                    dropout: dropout(config.hidden_dropout_prob),
                },
            });
        }
        let pooler = if load.has("pooler.dense") {
            Some(BertPooler {
                dense: load.linear("pooler.dense", h, h)?,
            })
        } else {
            None
        };
        Ok(Self {
            embeddings,
            encoder: BertEncoder { layer: layers },
            pooler,
        })
    }

    /// Runs the encoder. `input_ids`, `token_type_ids`, `attention_mask` (1 keep, 0 pad):
    /// `[batch, seq]` → last hidden state `[batch, seq, hidden]`. `trace` records the
    /// intermediate outputs by name when it is on ([`Trace::on`]).
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        trace: &mut Trace,
    ) -> Tensor<3> {
        let mask_bias = trace.record("attention mask bias", attention_bias(attention_mask));
        let mut hidden = self.embeddings.forward(input_ids, token_type_ids, trace);
        for (n, layer) in self.encoder.layer.iter().enumerate() {
            trace.enter(format!("encoder.layer.{n}."));
            hidden = layer.forward(hidden, mask_bias.clone(), trace);
            trace.exit();
        }
        hidden
    }
}

/// The padding mask as an additive bias, converted once at the model boundary:
/// `[batch, seq]` of 1/0 → `[batch, 1, 1, seq]` of 0 / `f32::MIN`, the value
/// transformers uses (`torch.finfo(dtype).min`, modeling_attn_mask_utils.py).
pub fn attention_bias(attention_mask: Tensor<2, Int>) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    let keep = attention_mask.float().reshape([batch, 1, 1, seq]);
    (keep.neg() + 1.0) * f32::MIN
}

/// A parameter under its transformers name. `transpose` marks Linear weights, which burn
/// keeps as `[d_in, d_out]` and PyTorch as `[d_out, d_in]`.
#[derive(Clone, Debug)]
pub struct NamedTensor {
    /// The checkpoint name (`bert.encoder.layer.0.attention.self.query.weight`).
    pub name: String,
    /// The values on the device: rank 1 or 2, flattened to rank 2 (`[1, n]` for vectors).
    pub tensor: Tensor<2>,
    /// The shape the checkpoint stores.
    pub shape: Vec<usize>,
    /// Whether the stored tensor is the transpose of `tensor`.
    pub transpose: bool,
    /// The parameter's id, which finds its gradient (`GradientsParams::get`).
    pub id: ParamId,
}

fn vector(name: String, p: &Param<Tensor<1>>) -> NamedTensor {
    let t = p.val();
    let [n] = t.dims();
    NamedTensor {
        name,
        id: p.id,
        tensor: t.reshape([1, n]),
        shape: vec![n],
        transpose: false,
    }
}

/// `{name}.weight` and `{name}.bias` of a Linear layer.
pub fn linear_tensors(name: &str, linear: &Linear) -> Vec<NamedTensor> {
    let w = linear.weight.val();
    let [d_in, d_out] = w.dims();
    let mut out = vec![NamedTensor {
        name: format!("{name}.weight"),
        tensor: w,
        shape: vec![d_out, d_in],
        transpose: true,
        id: linear.weight.id,
    }];
    if let Some(b) = &linear.bias {
        out.push(vector(format!("{name}.bias"), b));
    }
    out
}

fn layer_norm_tensors(name: &str, ln: &LayerNorm) -> Vec<NamedTensor> {
    vec![
        vector(format!("{name}.weight"), &ln.weight),
        vector(format!("{name}.bias"), &ln.bias),
    ]
}

fn embedding_tensor(name: &str, e: &Embedding) -> NamedTensor {
    let w = e.weight.val();
    let dims = w.dims();
    NamedTensor {
        name: format!("{name}.weight"),
        tensor: w,
        shape: dims.to_vec(),
        transpose: false,
        id: e.weight.id,
    }
}

impl BertModel {
    /// Every parameter under its transformers name, each prefixed with `prefix`
    /// (`"bert."` inside a task model): the inverse of [`BertModel::load`].
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        let e = &self.embeddings;
        let mut out = vec![
            embedding_tensor(&format!("{prefix}embeddings.word_embeddings"), &e.word_embeddings),
            embedding_tensor(&format!("{prefix}embeddings.position_embeddings"), &e.position_embeddings),
            embedding_tensor(&format!("{prefix}embeddings.token_type_embeddings"), &e.token_type_embeddings),
        ];
        out.extend(layer_norm_tensors(&format!("{prefix}embeddings.LayerNorm"), &e.layer_norm));
        for (n, layer) in self.encoder.layer.iter().enumerate() {
            let p = format!("{prefix}encoder.layer.{n}");
            let a = &layer.attention;
            out.extend(linear_tensors(&format!("{p}.attention.self.query"), &a.self_attention.query));
            out.extend(linear_tensors(&format!("{p}.attention.self.key"), &a.self_attention.key));
            out.extend(linear_tensors(&format!("{p}.attention.self.value"), &a.self_attention.value));
            out.extend(linear_tensors(&format!("{p}.attention.output.dense"), &a.output.dense));
            out.extend(layer_norm_tensors(&format!("{p}.attention.output.LayerNorm"), &a.output.layer_norm));
            out.extend(linear_tensors(&format!("{p}.intermediate.dense"), &layer.intermediate.dense));
            out.extend(linear_tensors(&format!("{p}.output.dense"), &layer.output.dense));
            out.extend(layer_norm_tensors(&format!("{p}.output.LayerNorm"), &layer.output.layer_norm));
        }
        if let Some(pooler) = &self.pooler {
            out.extend(linear_tensors(&format!("{prefix}pooler.dense"), &pooler.dense));
        }
        out
    }
}
