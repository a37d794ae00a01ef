//! DistilBERT encoder, following `transformers/models/distilbert/modeling_distilbert.py`.
//!
//! Like BERT with post-LayerNorm blocks, but no token types, positions always `0..seq`
//! (optionally fixed sinusoids), other tensor names (`transformer.layer.N.attention.q_lin`),
//! LayerNorm epsilon fixed at 1e-12, and a classification head `pre_classifier` → ReLU →
//! dropout → `classifier` on the first token.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::layers::{Activation, EncoderInput, LayerNorm, TensorLoader, attention_bias, multi_head_attention};
use super::trace::Trace;
use crate::checkpoint::{DistilBertConfig, WeightError};

fn dropout(p: f64) -> Dropout {
    DropoutConfig::new(p).init()
}

/// Word and position embeddings, summed, then LayerNorm and dropout (`Embeddings`).
#[derive(Module, Debug)]
pub struct DistilBertEmbeddings {
    /// `embeddings.word_embeddings`, `[vocab_size, dim]`.
    pub word_embeddings: Embedding,
    /// `embeddings.position_embeddings`, `[max_position_embeddings, dim]`; not trained when
    /// `sinusoidal_pos_embds` (transformers sets `requires_grad = False`).
    pub position_embeddings: Embedding,
    /// `embeddings.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// `dropout`.
    pub dropout: Dropout,
}

/// The sinusoidal table of `create_sinusoidal_embeddings`: even columns `sin(pos / 10000^(2i/dim))`,
/// odd columns the cosine, row-major `[rows, dim]`.
fn sinusoids(rows: usize, dim: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * dim];
    for pos in 0..rows {
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
            out[pos * dim + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    out
}

/// One transformer layer (`TransformerBlock`).
#[derive(Module, Debug)]
pub struct TransformerBlock {
    /// `attention.q_lin`, dim → dim.
    pub q_lin: Linear,
    /// `attention.k_lin`, dim → dim.
    pub k_lin: Linear,
    /// `attention.v_lin`, dim → dim.
    pub v_lin: Linear,
    /// `attention.out_lin`, dim → dim.
    pub out_lin: Linear,
    /// `attention_dropout`, on the attention probabilities.
    pub attention_dropout: Dropout,
    /// Attention heads.
    pub n_heads: usize,
    /// `sa_layer_norm`, after attention and its residual.
    pub sa_layer_norm: LayerNorm,
    /// `ffn.lin1`, dim → hidden_dim.
    pub lin1: Linear,
    /// `activation`.
    pub activation: Activation,
    /// `ffn.lin2`, hidden_dim → dim.
    pub lin2: Linear,
    /// `dropout`, after `ffn.lin2`.
    pub ffn_dropout: Dropout,
    /// `output_layer_norm`, after the feed-forward block and its residual.
    pub output_layer_norm: LayerNorm,
}

impl TransformerBlock {
    /// # Shapes
    /// `hidden`: `[batch, seq, dim]`, `mask_bias`: `[batch, 1, 1, seq]` → `[batch, seq, dim]`.
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, trace: &mut Trace) -> Tensor<3> {
        let q = trace.record("attention.q_lin", self.q_lin.forward(hidden.clone()));
        let k = trace.record("attention.k_lin", self.k_lin.forward(hidden.clone()));
        let v = trace.record("attention.v_lin", self.v_lin.forward(hidden.clone()));
        let context = multi_head_attention(q, k, v, mask_bias, self.n_heads, &self.attention_dropout, trace);
        let attended = trace.record("attention.out_lin", self.out_lin.forward(context));
        let attended = trace.record("sa_layer_norm", self.sa_layer_norm.forward(attended + hidden));
        let widened = trace.record("ffn.lin1", self.lin1.forward(attended.clone()));
        let activated = trace.record("ffn activation", self.activation.forward(widened));
        let narrowed = self.ffn_dropout.forward(trace.record("ffn.lin2", self.lin2.forward(activated)));
        trace.record("output_layer_norm", self.output_layer_norm.forward(narrowed + attended))
    }

    fn load(p: &str, c: &DistilBertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let (d, eps) = (c.dim, DistilBertConfig::LAYER_NORM_EPS);
        Ok(Self {
            q_lin: load.linear(&format!("{p}attention.q_lin"), d, d)?,
            k_lin: load.linear(&format!("{p}attention.k_lin"), d, d)?,
            v_lin: load.linear(&format!("{p}attention.v_lin"), d, d)?,
            out_lin: load.linear(&format!("{p}attention.out_lin"), d, d)?,
            attention_dropout: dropout(c.attention_dropout),
            n_heads: c.n_heads,
            sa_layer_norm: load.layer_norm(&format!("{p}sa_layer_norm"), d, eps)?,
            lin1: load.linear(&format!("{p}ffn.lin1"), d, c.hidden_dim)?,
            activation: Activation { kind: c.activation },
            lin2: load.linear(&format!("{p}ffn.lin2"), c.hidden_dim, d)?,
            ffn_dropout: dropout(c.dropout),
            output_layer_norm: load.layer_norm(&format!("{p}output_layer_norm"), d, eps)?,
        })
    }
}

/// The DistilBERT encoder (`DistilBertModel`).
#[derive(Module, Debug)]
pub struct DistilBertModel {
    /// `embeddings.*`.
    pub embeddings: DistilBertEmbeddings,
    /// `transformer.layer.N.*`.
    pub layer: Vec<TransformerBlock>,
}

impl DistilBertModel {
    /// Reads every encoder tensor of `config`. With `sinusoidal_pos_embds`, a checkpoint
    /// without position embeddings gets the sinusoid table, and the table is never trained.
    pub(crate) fn load(c: &DistilBertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        let (rows, d) = (c.max_position_embeddings, c.dim);
        let position_embeddings = if c.sinusoidal_pos_embds {
            load.frozen_embedding("embeddings.position_embeddings", rows, d, || sinusoids(rows, d))?
        } else {
            load.embedding("embeddings.position_embeddings", rows, d)?
        };
        let embeddings = DistilBertEmbeddings {
            word_embeddings: load.embedding("embeddings.word_embeddings", c.vocab_size, d)?,
            position_embeddings,
            layer_norm: load.layer_norm("embeddings.LayerNorm", d, DistilBertConfig::LAYER_NORM_EPS)?,
            dropout: dropout(c.dropout),
        };
        let layer = (0..c.n_layers).map(|n| TransformerBlock::load(&format!("transformer.layer.{n}."), c, load)).collect::<Result<_, _>>()?;
        Ok(Self { embeddings, layer })
    }

    /// Runs the encoder → last hidden state `[batch, seq, dim]`; token types are not used.
    pub fn forward(&self, input: &EncoderInput, trace: &mut Trace) -> Tensor<3> {
        let mask_bias = trace.record("attention mask bias", attention_bias(input.attention_mask.clone()));
        let e = &self.embeddings;
        let embedded = e.word_embeddings.forward(input.input_ids.clone()) + e.position_embeddings.forward(input.position_ids.clone());
        let embedded = trace.record("embeddings (word + position)", embedded);
        let mut hidden = e.dropout.forward(trace.record("embeddings.LayerNorm", e.layer_norm.forward(embedded)));
        for (n, block) in self.layer.iter().enumerate() {
            trace.enter(format!("transformer.layer.{n}."));
            hidden = block.forward(hidden, mask_bias.clone(), trace);
            trace.exit();
        }
        hidden
    }
}

/// DistilBERT's sequence-classification head: first token → `pre_classifier` → ReLU →
/// dropout (`seq_classif_dropout`) → `classifier`.
#[derive(Module, Debug)]
pub struct DistilBertClassificationHead {
    /// `pre_classifier`, dim → dim.
    pub pre_classifier: Linear,
    /// `seq_classif_dropout`.
    pub dropout: Dropout,
    /// `classifier`, dim → labels.
    pub classifier: Linear,
}

impl DistilBertClassificationHead {
    /// A head from its parts; `dropout` is the probability.
    pub fn new(pre_classifier: Linear, classifier: Linear, dropout: f64) -> Self {
        Self { pre_classifier, dropout: DropoutConfig::new(dropout).init(), classifier }
    }

    /// `[batch, seq, dim]` → logits `[batch, labels]`.
    pub fn forward(&self, hidden: Tensor<3>, trace: &mut Trace) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = hidden.narrow(1, 0, 1).reshape([batch, width]);
        let pre = trace.record("pre_classifier", self.pre_classifier.forward(first));
        let activated = self.dropout.forward(relu(pre));
        trace.record("classifier (logits)", self.classifier.forward(activated))
    }
}
