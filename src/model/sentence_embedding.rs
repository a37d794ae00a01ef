//! Sentence embeddings as sentence-transformers computes them: encoder, pooling over the
//! attention mask, optional L2 normalisation.

use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::ModelError;
use super::encoder::Encoder;
use super::layers::TensorLoader;
use super::trace::Trace;
use crate::checkpoint::{
    Checkpoint, EncodedBatch, ModelConfig, Pooling, SentenceEmbeddingConfig, TextInput, TextTokenizer, Weights,
};

/// What loading found: plain data for the UI and the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Hugging Face `model_type`.
    pub model_type: String,
    /// Number of parameters in the encoder.
    pub parameters: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub hidden_size: usize,
    /// Number of layers.
    pub layers: usize,
    /// The truncation length in use.
    pub max_length: usize,
    /// The model's own limit in tokens (from max_position_embeddings).
    pub max_positions: usize,
    /// Whether the weights were stored under a task model's prefix (`bert.`, `roberta.`, …).
    pub prefixed_names: bool,
    /// Checkpoint tensors left unused (buffers, heads of other tasks).
    pub ignored_tensors: Vec<String>,
    /// Pooling mode, as sentence-transformers names it.
    pub pooling: String,
    /// Whether embeddings are L2-normalised.
    pub normalize: bool,
}

/// One input's embedding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Embedding {
    /// Token ids after truncation, without padding.
    pub ids: Vec<u32>,
    /// The sentence vector, `hidden_size` long.
    pub vector: Vec<f32>,
}

/// An encoder of any supported family with the pooling and normalisation of its
/// sentence-transformers recipe.
#[derive(Debug)]
pub struct SentenceEmbedder {
    /// The encoder.
    pub encoder: Encoder,
    /// Its tokenizer, truncating at the chosen length.
    pub tokenizer: TextTokenizer,
    /// Pooling and normalisation.
    pub recipe: SentenceEmbeddingConfig,
    /// The architecture's configuration.
    pub config: ModelConfig,
    device: Device,
}

impl SentenceEmbedder {
    /// Builds the model of `checkpoint` on `device`. `max_length` (explicit) must fit the
    /// model; without it, `max_seq_length` of sentence_bert_config.json, else the model's
    /// limit (see [`Checkpoint::max_length`]).
    pub fn load(
        checkpoint: &Checkpoint,
        device: &Device,
        max_length: Option<usize>,
    ) -> Result<(Self, LoadReport), ModelError> {
        let (files, config, recipe) = (checkpoint.files(), checkpoint.config().clone(), checkpoint.sentence().clone());
        let limit = checkpoint.limit();
        let max_length = checkpoint.embedding_length(max_length)?.tokens;
        let tokenizer = checkpoint.tokenizer(max_length)?;
        let safetensors = files.require("model.safetensors")?;
        let mut weights = Weights::from_bytes("model.safetensors", safetensors.into())?;
        let prefixed_names = weights.has_encoder_prefix();
        let encoder = Encoder::load(&config, &mut TensorLoader::new(&mut weights, device))?;
        let ignored_tensors = weights.finish(config.family().encoder_class())?;
        let dims = config.dims();
        let report = LoadReport {
            model_type: config.family().model_type().into(),
            parameters: burn::module::Module::num_params(&encoder),
            vocab_size: dims.vocab_size,
            hidden_size: dims.hidden_size,
            layers: dims.layers,
            max_length,
            max_positions: limit,
            prefixed_names,
            ignored_tensors,
            pooling: match recipe.pooling {
                Pooling::Mean => "mean",
                Pooling::Cls => "cls",
                Pooling::Max => "max",
            }
            .into(),
            normalize: recipe.normalize,
        };
        Ok((
            Self {
                encoder,
                tokenizer,
                recipe,
                config,
                device: device.clone(),
            },
            report,
        ))
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Embeds one batch of texts (padded to its longest member), in input order.
    /// The only readback is asynchronous, so this runs in a browser too.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::single(t.clone())).collect();
        let batch = self.tokenizer.encode_batch(&inputs)?;
        let pooled = self.forward_batch(&batch);
        let data = pooled
            .into_data_async()
            .await
            .map_err(|e| ModelError::Readback(format!("{e:?}")))?;
        let values: Vec<f32> = data
            .try_into_vec()
            .map_err(|e| ModelError::Conversion(format!("{e:?}")))?;
        let width = self.config.dims().hidden_size;
        Ok(batch
            .ids
            .into_iter()
            .zip(values.chunks_exact(width))
            .map(|(ids, v)| Embedding {
                ids,
                vector: v.to_vec(),
            })
            .collect())
    }

    /// The pooled (and normalised) embeddings of an encoded batch, `[batch, hidden]`, on the device.
    pub fn forward_batch(&self, batch: &EncodedBatch) -> Tensor<2> {
        let input = self.encoder.input(batch, &self.device);
        let hidden = self.encoder.forward(&input, &mut Trace::off());
        let pooled = pool(hidden, input.attention_mask, self.recipe.pooling);
        if self.recipe.normalize { l2_normalize(pooled) } else { pooled }
    }
}

/// sentence-transformers' `Pooling`: `[batch, seq, hidden]` with mask `[batch, seq]` → `[batch, hidden]`.
pub fn pool(hidden: Tensor<3>, attention_mask: Tensor<2, Int>, mode: Pooling) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let keep = attention_mask.float().reshape([batch, seq, 1]);
    match mode {
        Pooling::Mean => {
            let summed = (hidden * keep.clone()).sum_dim(1);
            // torch.clamp(sum_mask, min=1e-9), as sentence_transformers/models/Pooling.py.
            let counts = keep.sum_dim(1).clamp_min(1e-9);
            (summed / counts).reshape([batch, width])
        }
        Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, width]),
        Pooling::Max => {
            // Padding set to -1e9 before the max, as Pooling.py does.
            let masked = hidden * keep.clone() + (keep.neg() + 1.0) * -1e9;
            masked.max_dim(1).reshape([batch, width])
        }
    }
}

/// `torch.nn.functional.normalize(x, p=2, dim=1)`: `[batch, hidden]` rows to unit length (eps 1e-12).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
