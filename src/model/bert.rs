//! BERT encoder, following `transformers/models/bert/modeling_bert.py`.
//! Struct and field names mirror the checkpoint's tensor names, so
//! `encoder.layer.3.attention.self.query.weight` is `encoder.layer[3].attention.self_attention.query.weight`.
//! Each block loads its own tensors under the prefix its parent gives it; the loader writes
//! their names into the model's one name table ([`super::ParamNames`]), which export reads.
//! RoBERTa and XLM-RoBERTa ([`super::roberta`]) reuse these blocks, as modeling_roberta.py
//! copies them.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::Tensor;

use super::layers::{Activation, EncoderInput, LayerNorm, TensorLoader, attention_bias, multi_head_attention, tanh_finite};
use super::trace::Trace;
use crate::checkpoint::{BertConfig, WeightError};

fn dropout(p: f64) -> Dropout {
    DropoutConfig::new(p).init()
}

/// Word, position and token-type embeddings, summed, then LayerNorm and dropout
/// (`BertEmbeddings`; RoBERTa's `RobertaEmbeddings` has the same tensors).
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
    /// # Shapes
    /// `input_ids`, `token_type_ids`, `position_ids`: `[batch, seq]` → `[batch, seq, hidden]`.
    pub fn forward(&self, input: &EncoderInput, trace: &mut Trace) -> Tensor<3> {
        let embedded = self.word_embeddings.forward(input.input_ids.clone())
            + self.position_embeddings.forward(input.position_ids.clone())
            + self.token_type_embeddings.forward(input.token_type_ids.clone());
        let embedded = trace.record("embeddings (word + position + token type)", embedded);
        let normed = trace.record("embeddings.LayerNorm", self.layer_norm.forward(embedded));
        self.dropout.forward(normed)
    }

    pub(crate) fn load(p: &str, c: &BertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let h = c.hidden_size;
        Ok(Self {
            word_embeddings: load.embedding(&format!("{p}word_embeddings"), c.vocab_size, h)?,
            position_embeddings: load.embedding(&format!("{p}position_embeddings"), c.max_position_embeddings, h)?,
            token_type_embeddings: load.embedding(&format!("{p}token_type_embeddings"), c.type_vocab_size, h)?,
            layer_norm: load.layer_norm(&format!("{p}LayerNorm"), h, c.layer_norm_eps)?,
            dropout: dropout(c.hidden_dropout_prob),
        })
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
    /// # Shapes
    /// `hidden`: `[batch, seq, hidden]`; `mask_bias`: `[batch, 1, 1, seq]` → `[batch, seq, hidden]`.
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let q = trace.record("attention.self.query", self.query.forward(hidden.clone()));
        let k = trace.record("attention.self.key", self.key.forward(hidden.clone()));
        let v = trace.record("attention.self.value", self.value.forward(hidden));
        multi_head_attention(q, k, v, mask_bias, self.num_heads, &self.dropout, trace)
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

    fn load(p: &str, c: &BertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        Ok(Self {
            attention: BertAttention {
                self_attention: BertSelfAttention {
                    query: load.linear(&format!("{p}attention.self.query"), h, h)?,
                    key: load.linear(&format!("{p}attention.self.key"), h, h)?,
                    value: load.linear(&format!("{p}attention.self.value"), h, h)?,
                    dropout: dropout(c.attention_probs_dropout_prob),
                    num_heads: c.num_attention_heads,
                },
                output: BertSelfOutput {
                    dense: load.linear(&format!("{p}attention.output.dense"), h, h)?,
                    layer_norm: load.layer_norm(&format!("{p}attention.output.LayerNorm"), h, eps)?,
                    dropout: dropout(c.hidden_dropout_prob),
                },
            },
            intermediate: BertIntermediate {
                dense: load.linear(&format!("{p}intermediate.dense"), h, c.intermediate_size)?,
                activation: Activation { kind: c.hidden_act },
            },
            output: BertOutput {
                dense: load.linear(&format!("{p}output.dense"), c.intermediate_size, h)?,
                layer_norm: load.layer_norm(&format!("{p}output.LayerNorm"), h, eps)?,
                dropout: dropout(c.hidden_dropout_prob),
            },
        })
    }
}

/// The stack of layers (`BertEncoder`).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// `encoder.layer.N`.
    pub layer: Vec<BertLayer>,
}

impl BertEncoder {
    /// Runs every layer. `hidden`: `[batch, seq, hidden]`, `mask_bias`: `[batch, 1, 1, seq]`.
    pub fn forward(&self, mut hidden: Tensor<3>, mask_bias: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        for (n, layer) in self.layer.iter().enumerate() {
            trace.enter(format!("encoder.layer.{n}."));
            hidden = layer.forward(hidden, mask_bias.clone(), trace);
            trace.exit();
        }
        hidden
    }

    pub(crate) fn load(p: &str, c: &BertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let layer = (0..c.num_hidden_layers).map(|n| BertLayer::load(&format!("{p}layer.{n}."), c, load)).collect::<Result<_, _>>()?;
        Ok(Self { layer })
    }
}

/// tanh(dense([CLS] state)) (`BertPooler`), used by BERT's sequence-classification head.
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

/// The BERT encoder (`BertModel` without its pooler, which belongs to the classification
/// head here: sentence embeddings never use it).
#[derive(Module, Debug)]
pub struct BertModel {
    /// `embeddings.*`.
    pub embeddings: BertEmbeddings,
    /// `encoder.*`.
    pub encoder: BertEncoder,
}

impl BertModel {
    /// Reads every encoder tensor of `config` from the loader's checkpoint.
    pub(crate) fn load(config: &BertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        Ok(Self {
            embeddings: BertEmbeddings::load("embeddings.", config, load)?,
            encoder: BertEncoder::load("encoder.", config, load)?,
        })
    }

    /// Runs the encoder → last hidden state `[batch, seq, hidden]`. `trace` records the
    /// intermediate outputs by name when it is on ([`Trace::on`]).
    pub fn forward(&self, input: &EncoderInput, trace: &mut Trace) -> Tensor<3> {
        let mask_bias = trace.record("attention mask bias", attention_bias(input.attention_mask.clone()));
        let hidden = self.embeddings.forward(input, trace);
        self.encoder.forward(hidden, mask_bias, trace)
    }
}
