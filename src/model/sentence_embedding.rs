//! Sentence embeddings as sentence-transformers computes them: encoder, pooling over the
//! attention mask, optional L2 normalisation.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

use super::ModelError;
use super::bert::BertModel;
use super::layers::TensorLoader;
use super::trace::Trace;
use crate::checkpoint::{
    BertConfig, EncodedBatch, ModelConfig, ModelFiles, Pooling, SentenceEmbeddingConfig, TextInput,
    TextTokenizer, Weights,
};

/// What loading found: plain data for the UI and the CLI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadReport {
    /// Hugging Face `model_type`.
    pub model_type: String,
    /// Number of parameters in the encoder (and pooler, if loaded).
    pub parameters: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub hidden_size: usize,
    /// Number of layers.
    pub layers: usize,
    /// The truncation length in use.
    pub max_length: usize,
    /// The model's own limit (max_position_embeddings).
    pub max_positions: usize,
    /// Whether the weights were stored with the `bert.` prefix of `Bert*For*` checkpoints.
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

/// A BERT encoder with the pooling and normalisation of its sentence-transformers recipe.
#[derive(Debug)]
pub struct SentenceEmbedder {
    /// The encoder.
    pub bert: BertModel,
    /// Its tokenizer, truncating at the chosen length.
    pub tokenizer: TextTokenizer,
    /// Pooling and normalisation.
    pub recipe: SentenceEmbeddingConfig,
    /// The architecture's configuration.
    pub config: BertConfig,
    device: Device,
}

impl SentenceEmbedder {
    /// Loads a model from its files onto `device`. `max_length` defaults to
    /// `max_seq_length` of sentence_bert_config.json, else max_position_embeddings.
    pub fn load(
        files: &ModelFiles,
        device: &Device,
        max_length: Option<usize>,
    ) -> Result<(Self, LoadReport), ModelError> {
        let ModelConfig::Bert(config) = ModelConfig::from_json(files.require("config.json")?)?;
        let recipe = SentenceEmbeddingConfig::from_files(files)?;
        let max_length = max_length
            .or(recipe.max_seq_length)
            .unwrap_or(config.max_position_embeddings);
        if max_length > config.max_position_embeddings {
            return Err(ModelError::MaxLength {
                requested: max_length,
                available: config.max_position_embeddings,
            });
        }
        let tokenizer = TextTokenizer::from_bytes(
            files.require("tokenizer.json")?,
            max_length,
            config.pad_token_id,
        )?;
        let safetensors = files.require("model.safetensors")?;
        let mut weights = Weights::from_bytes("model.safetensors", safetensors.into())?;
        let prefixed_names = weights.has_encoder_prefix();
        let bert = BertModel::load(
            &config,
            &mut TensorLoader {
                weights: &mut weights,
                device,
            },
        )?;
        let ignored_tensors = weights.finish("BertModel")?;
        let report = LoadReport {
            model_type: "bert".into(),
            parameters: burn::module::Module::num_params(&bert),
            vocab_size: config.vocab_size,
            hidden_size: config.hidden_size,
            layers: config.num_hidden_layers,
            max_length,
            max_positions: config.max_position_embeddings,
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
                bert,
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
        let width = self.config.hidden_size;
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
        let shape = [batch.batch_size, batch.seq_len];
        let int = |v: &Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v.clone(), shape), &self.device);
        let mask = int(&batch.attention_mask);
        let hidden = self
            .bert
            .forward(int(&batch.input_ids), int(&batch.token_type_ids), mask.clone(), &mut Trace::off());
        let pooled = pool(hidden, mask, self.recipe.pooling);
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
