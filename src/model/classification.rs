//! Sequence classification with the layout and names of transformers'
//! `BertForSequenceClassification`: `bert.*` encoder, `bert.pooler.dense` (tanh over the
//! [CLS] state), dropout, `classifier` (hidden → labels).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

use super::ModelError;
use super::bert::{BertModel, BertPooler};
use super::layers::TensorLoader;
use super::trace::Trace;
use crate::checkpoint::{BertConfig, EncodedBatch, ModelConfig, ModelFiles, Weights};
use crate::rng::SeededRng;

/// What loading a classifier found: plain data for the UI and the CLI.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassifierReport {
    /// Label names in class-id order.
    pub labels: Vec<String>,
    /// Modules created fresh (HF's init: normal(0, initializer_range), zero bias), by
    /// checkpoint name, e.g. `bert.pooler.dense`, `classifier`.
    pub newly_initialized: Vec<String>,
    /// Checkpoint tensors left unused.
    pub ignored_tensors: Vec<String>,
    /// Parameters in the model.
    pub parameters: usize,
}

/// BERT with a classification head.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    /// `bert.*`, always with a pooler.
    pub bert: BertModel,
    /// `classifier_dropout`, else `hidden_dropout_prob`.
    pub dropout: Dropout,
    /// `classifier`, hidden → number of labels.
    pub classifier: Linear,
}

/// A Linear layer initialised as transformers' `BertPreTrainedModel._init_weights` does:
/// weight normal(0, std), bias 0; the values come from `rng`, so a seed fixes them.
fn new_linear(rng: &mut SeededRng, d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    let weight: Vec<f32> = (0..d_in * d_out).map(|_| (rng.normal() * std) as f32).collect();
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [d_in, d_out]), device)),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

/// The label names of a config's `id2label`, in id order, when it names them all.
fn checkpoint_labels(config: &BertConfig) -> Option<Vec<String>> {
    let map = config.id2label.as_ref()?;
    let mut pairs: Vec<(usize, String)> = map
        .iter()
        .map(|(k, v)| k.parse::<usize>().ok().map(|k| (k, v.clone())))
        .collect::<Option<_>>()?;
    pairs.sort();
    pairs.iter().enumerate().all(|(i, (k, _))| i == *k).then(|| pairs.into_iter().map(|(_, v)| v).collect())
}

impl BertForSequenceClassification {
    /// Loads from a model's files onto `device`.
    ///
    /// With `labels` (training), a head in the checkpoint whose `id2label` has the same
    /// label names is kept (in the checkpoint's order, so a fine-tuned export continues
    /// training); otherwise a new head is created from `seed`. Without `labels`
    /// (evaluation, prediction), the checkpoint must have a head and `id2label`.
    pub fn load(
        files: &ModelFiles,
        device: &Device,
        labels: Option<&[String]>,
        seed: u64,
    ) -> Result<(Self, ClassifierReport, BertConfig), ModelError> {
        let ModelConfig::Bert(config) = ModelConfig::from_json(files.require("config.json")?)?;
        let mut weights = Weights::from_bytes("model.safetensors", files.require("model.safetensors")?.into())?;
        let h = config.hidden_size;
        let mut load = TensorLoader {
            weights: &mut weights,
            device,
        };
        let mut bert = BertModel::load(&config, &mut load)?;
        let mut rng = SeededRng::new(seed);
        let mut newly_initialized = Vec::new();
        if bert.pooler.is_none() {
            bert.pooler = Some(BertPooler {
                dense: new_linear(&mut rng, h, h, config.initializer_range, device),
            });
            newly_initialized.push("bert.pooler.dense".to_string());
        }
        let saved = checkpoint_labels(&config).filter(|_| load.has("classifier"));
        let (names, classifier) = match (labels, saved) {
            (None, Some(saved)) => {
                let head = load.linear("classifier", h, saved.len())?;
                (saved, head)
            }
            (None, None) => return Err(ModelError::NoClassifier(files.source().to_string())),
            (Some(wanted), Some(saved)) if same_set(wanted, &saved) => {
                let head = load.linear("classifier", h, saved.len())?;
                (saved, head)
            }
            (Some(wanted), _) => {
                newly_initialized.push("classifier".to_string());
                (wanted.to_vec(), new_linear(&mut rng, h, wanted.len(), config.initializer_range, device))
            }
        };
        let ignored_tensors = weights.finish("BertForSequenceClassification")?;
        let model = Self {
            bert,
            dropout: DropoutConfig::new(config.classifier_dropout.unwrap_or(config.hidden_dropout_prob)).init(),
            classifier,
        };
        let report = ClassifierReport {
            labels: names,
            newly_initialized,
            ignored_tensors,
            parameters: model.num_params(),
        };
        Ok((model, report, config))
    }

    /// Logits `[batch, labels]` for `input_ids`, `token_type_ids`, `attention_mask` `[batch, seq]`.
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<2> {
        self.forward_traced(input_ids, token_type_ids, attention_mask, &mut Trace::off())
    }

    /// [`Self::forward`], recording the intermediate outputs in `trace`.
    pub fn forward_traced(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        trace: &mut Trace,
    ) -> Tensor<2> {
        let hidden = self.bert.forward(input_ids, token_type_ids, attention_mask, trace);
        let pooled = match &self.bert.pooler {
            Some(pooler) => pooler.forward(hidden, trace),
            // Not reached for a loaded model (load always creates a pooler); the [CLS]
            // state is the sensible meaning of "no pooler".
            None => {
                let [batch, _, width] = hidden.dims();
                hidden.narrow(1, 0, 1).reshape([batch, width])
            }
        };
        trace.record("classifier (logits)", self.classifier.forward(self.dropout.forward(pooled)))
    }

    /// Logits for an encoded batch on `device`.
    pub fn forward_batch(&self, batch: &EncodedBatch, device: &Device) -> Tensor<2> {
        self.forward_batch_traced(batch, device, &mut Trace::off())
    }

    /// [`Self::forward_batch`], recording the intermediate outputs in `trace`.
    pub fn forward_batch_traced(&self, batch: &EncodedBatch, device: &Device, trace: &mut Trace) -> Tensor<2> {
        let shape = [batch.batch_size, batch.seq_len];
        let int = |v: &Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v.clone(), shape), device);
        self.forward_traced(int(&batch.input_ids), int(&batch.token_type_ids), int(&batch.attention_mask), trace)
    }

    /// Every parameter under its transformers name, for export.
    pub fn named_tensors(&self) -> Vec<super::bert::NamedTensor> {
        let mut out = self.bert.named_tensors("bert.");
        out.extend(super::bert::linear_tensors("classifier", &self.classifier));
        out
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}
