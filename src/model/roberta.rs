//! RoBERTa and XLM-RoBERTa encoders, following `transformers/models/roberta/modeling_roberta.py`
//! (modeling_xlm_roberta.py is the same code under other class names).
//!
//! The tensors and layers are BERT's ([`super::bert`]); what differs is the numbering of
//! positions — real tokens count from `pad_token_id + 1`, padding keeps `pad_token_id`
//! (`create_position_ids_from_input_ids`) — and the sequence-classification head, which
//! is two layers on the first token's state instead of BERT's pooler.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::Tensor;

use super::bert::{BertEmbeddings, BertEncoder};
use super::layers::{EncoderInput, PositionIds, TensorLoader, attention_bias, tanh_finite};
use super::trace::Trace;
use crate::checkpoint::{BertConfig, WeightError};

/// The RoBERTa encoder (`RobertaModel` without its pooler, which RoBERTa's task heads do
/// not use).
#[derive(Module, Debug)]
pub struct RobertaModel {
    /// `embeddings.*` (word, position, token type, LayerNorm).
    pub embeddings: BertEmbeddings,
    /// `encoder.layer.N.*`.
    pub encoder: BertEncoder,
    /// `pad_token_id`, from which positions are numbered.
    pub padding_idx: u32,
}

impl RobertaModel {
    /// Reads every encoder tensor of `config`.
    pub(crate) fn load(config: &BertConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        Ok(Self {
            embeddings: BertEmbeddings::load("embeddings.", config, load)?,
            encoder: BertEncoder::load("encoder.", config, load)?,
            padding_idx: config.pad_token_id,
        })
    }

    /// How this model numbers positions.
    pub fn position_ids(&self) -> PositionIds {
        PositionIds::AfterPadding { padding_idx: self.padding_idx }
    }

    /// Runs the encoder → last hidden state `[batch, seq, hidden]`. The input's positions
    /// must come from [`Self::position_ids`].
    pub fn forward(&self, input: &EncoderInput, trace: &mut Trace) -> Tensor<3> {
        let mask_bias = trace.record("attention mask bias", attention_bias(input.attention_mask.clone()));
        let hidden = self.embeddings.forward(input, trace);
        self.encoder.forward(hidden, mask_bias, trace)
    }
}

/// `RobertaClassificationHead`: the first token's state → dropout → `dense` → tanh →
/// dropout → `out_proj`.
#[derive(Module, Debug)]
pub struct RobertaClassificationHead {
    /// `classifier.dense`, hidden → hidden.
    pub dense: Linear,
    /// `classifier_dropout`, else `hidden_dropout_prob`.
    pub dropout: Dropout,
    /// `classifier.out_proj`, hidden → labels.
    pub out_proj: Linear,
}

impl RobertaClassificationHead {
    /// A head from its parts; `dropout` is the probability.
    pub fn new(dense: Linear, out_proj: Linear, dropout: f64) -> Self {
        Self { dense, dropout: DropoutConfig::new(dropout).init(), out_proj }
    }

    /// `[batch, seq, hidden]` → logits `[batch, labels]`.
    pub fn forward(&self, hidden: Tensor<3>, trace: &mut Trace) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = self.dropout.forward(hidden.narrow(1, 0, 1).reshape([batch, width]));
        let dense = trace.record("classifier.dense", self.dense.forward(first));
        let activated = self.dropout.forward(trace.record("classifier tanh", tanh_finite(dense)));
        trace.record("classifier.out_proj (logits)", self.out_proj.forward(activated))
    }
}
