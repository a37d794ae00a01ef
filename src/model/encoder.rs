//! Any supported encoder family behind one type: loading by `model_type` and the forward
//! pass (the names of its tensors are recorded by the loader, [`super::ParamNames`]). Task heads ([`super::SequenceClassifier`]) and sentence
//! embeddings ([`super::SentenceEmbedder`]) hold an [`Encoder`] and never name a family's
//! internals.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::bert::BertModel;
use super::distilbert::DistilBertModel;
use super::layers::{EncoderInput, PositionIds, TensorLoader};
use super::modernbert::ModernBertModel;
use super::roberta::RobertaModel;
use super::trace::Trace;
use crate::checkpoint::{EncodedBatch, ModelConfig, WeightError};

/// An encoder of one of the supported families.
#[derive(Module, Debug)]
pub enum Encoder {
    /// `bert`.
    Bert(BertModel),
    /// `roberta` and `xlm-roberta`.
    Roberta(RobertaModel),
    /// `distilbert`.
    DistilBert(DistilBertModel),
    /// `modernbert`.
    ModernBert(ModernBertModel),
}

impl Encoder {
    /// Reads the encoder of `config`'s family from the loader's checkpoint (names without
    /// the family's task prefix, which [`crate::checkpoint::Weights`] strips).
    pub(crate) fn load(config: &ModelConfig, load: &mut TensorLoader<'_>) -> Result<Self, WeightError> {
        Ok(match config {
            ModelConfig::Bert(c) => Encoder::Bert(BertModel::load(c, load)?),
            ModelConfig::Roberta { config, .. } => Encoder::Roberta(RobertaModel::load(config, load)?),
            ModelConfig::DistilBert(c) => Encoder::DistilBert(DistilBertModel::load(c, load)?),
            ModelConfig::ModernBert(c) => Encoder::ModernBert(ModernBertModel::load(c, load)?),
        })
    }

    /// How this encoder numbers positions.
    pub fn position_ids(&self) -> PositionIds {
        match self {
            Encoder::Roberta(m) => m.position_ids(),
            Encoder::Bert(_) | Encoder::DistilBert(_) | Encoder::ModernBert(_) => PositionIds::FromZero,
        }
    }

    /// The batch's input tensors on `device`, positions numbered as this family does.
    pub fn input(&self, batch: &EncodedBatch, device: &Device) -> EncoderInput {
        EncoderInput::new(batch, self.position_ids(), device)
    }

    /// The last hidden state, `[batch, seq, hidden]`.
    pub fn forward(&self, input: &EncoderInput, trace: &mut Trace) -> Tensor<3> {
        match self {
            Encoder::Bert(m) => m.forward(input, trace),
            Encoder::Roberta(m) => m.forward(input, trace),
            Encoder::DistilBert(m) => m.forward(input, trace),
            Encoder::ModernBert(m) => m.forward(input, trace),
        }
    }
}
