//! Sequence classification with the layout and names of each family's transformers
//! `…ForSequenceClassification`: the encoder under the family's prefix (`bert.`,
//! `roberta.`, `distilbert.`) and the family's head.

use std::sync::Arc;

use burn::module::{Module, ParamId};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use serde::Serialize;

use super::ModelError;
use super::bert::BertPooler;
use super::distilbert::DistilBertClassificationHead;
use super::encoder::Encoder;
use super::layers::{Activation, EncoderInput, LayerNorm, NamedTensor, ParamNames, TensorLoader};
use super::modernbert::ModernBertClassificationHead;
use super::roberta::RobertaClassificationHead;
use super::trace::Trace;
use crate::checkpoint::{Checkpoint, EncodedBatch, Family, ModelConfig, Weights};
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

/// BERT's head: `bert.pooler` (tanh dense on the first token) → dropout → `classifier`.
#[derive(Module, Debug)]
pub struct BertClassificationHead {
    /// `bert.pooler`.
    pub pooler: BertPooler,
    /// `classifier_dropout`, else `hidden_dropout_prob`.
    pub dropout: Dropout,
    /// `classifier`, hidden → labels.
    pub classifier: Linear,
}

/// The head of each family's `…ForSequenceClassification`.
#[derive(Module, Debug)]
pub enum ClassificationHead {
    /// `BertForSequenceClassification`.
    Bert(BertClassificationHead),
    /// `RobertaForSequenceClassification`, `XLMRobertaForSequenceClassification`.
    Roberta(RobertaClassificationHead),
    /// `DistilBertForSequenceClassification`.
    DistilBert(DistilBertClassificationHead),
    /// `ModernBertForSequenceClassification`.
    ModernBert(ModernBertClassificationHead),
}

impl ClassificationHead {
    /// The checkpoint names of the head's layers, hidden → hidden first, then hidden → labels.
    fn layer_names(family: Family) -> [&'static str; 2] {
        match family {
            Family::Bert => ["pooler.dense", "classifier"],
            Family::Roberta | Family::XlmRoberta => ["classifier.dense", "classifier.out_proj"],
            Family::DistilBert => ["pre_classifier", "classifier"],
            Family::ModernBert => ["head.dense", "classifier"],
        }
    }

    /// Builds the family's head from its two layers (and ModernBERT's `head.norm`).
    fn new(config: &ModelConfig, first: Linear, last: Linear, norm: Option<LayerNorm>) -> Self {
        let dropout = config.classifier_dropout();
        match config.family() {
            Family::ModernBert => {
                let ModelConfig::ModernBert(c) = config else { unreachable!("family and config agree") };
                ClassificationHead::ModernBert(ModernBertClassificationHead {
                    dense: first,
                    act: Activation { kind: c.classifier_activation },
                    norm: norm.expect("a ModernBERT head has a norm"),
                    drop: DropoutConfig::new(dropout).init(),
                    classifier: last,
                    mean_pooling: c.mean_pooling(),
                })
            }
            Family::Bert => ClassificationHead::Bert(BertClassificationHead {
                pooler: BertPooler { dense: first },
                dropout: DropoutConfig::new(dropout).init(),
                classifier: last,
            }),
            Family::Roberta | Family::XlmRoberta => ClassificationHead::Roberta(RobertaClassificationHead::new(first, last, dropout)),
            Family::DistilBert => ClassificationHead::DistilBert(DistilBertClassificationHead::new(first, last, dropout)),
        }
    }

    /// `[batch, seq, hidden]` → logits `[batch, labels]`.
    fn forward(&self, hidden: Tensor<3>, input: &EncoderInput, trace: &mut Trace) -> Tensor<2> {
        match self {
            ClassificationHead::ModernBert(h) => h.forward(hidden, input.attention_mask.clone(), trace),
            ClassificationHead::Bert(h) => {
                let pooled = h.pooler.forward(hidden, trace);
                trace.record("classifier (logits)", h.classifier.forward(h.dropout.forward(pooled)))
            }
            ClassificationHead::Roberta(h) => h.forward(hidden, trace),
            ClassificationHead::DistilBert(h) => h.forward(hidden, trace),
        }
    }
}

/// An encoder of any supported family with its family's classification head.
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// The encoder, stored under `family.encoder_prefix()`.
    pub encoder: Encoder,
    /// The head.
    pub head: ClassificationHead,
    /// The family.
    #[module(skip)]
    pub family: Family,
    /// Every parameter's checkpoint name, written by the loader.
    #[module(skip)]
    names: Arc<ParamNames>,
}

impl SequenceClassifier {
    /// Loads from a model's files onto `device`.
    ///
    /// With `labels` (training), a head in the checkpoint whose `id2label` has the same
    /// label names is kept (in the checkpoint's order, so a fine-tuned export continues
    /// training); otherwise a new head is created from `seed`. Without `labels`
    /// (evaluation, prediction), the checkpoint must have a head and `id2label`.
    pub fn load(
        checkpoint: &Checkpoint,
        device: &Device,
        labels: Option<&[String]>,
        seed: u64,
    ) -> Result<(Self, ClassifierReport), ModelError> {
        let (files, config) = (checkpoint.files(), checkpoint.config());
        let family = config.family();
        let mut weights = Weights::from_bytes("model.safetensors", files.require("model.safetensors")?.into())?;
        let h = config.dims().hidden_size;
        let std = config.initializer_range();
        let mut load = TensorLoader::new(&mut weights, device);
        // The encoder is exported under the family's task prefix (`bert.`), which
        // `Weights` strips on reading.
        load.scope = family.encoder_prefix().to_string();
        let encoder = Encoder::load(config, &mut load)?;
        let mut rng = SeededRng::new(seed);
        let mut newly_initialized = Vec::new();
        let [first_name, last_name] = ClassificationHead::layer_names(family);
        // BERT's pooler belongs to the encoder checkpoint (`bert.pooler`) and ModernBERT's
        // `head` to its masked-LM checkpoint, so those are kept while a new label set
        // replaces only `classifier`, as transformers does.
        let first_in_encoder = matches!(family, Family::Bert | Family::ModernBert);
        let first_bias = !matches!(config, ModelConfig::ModernBert(c) if !c.classifier_bias);
        let saved = config.labels().filter(|_| load.has(last_name) && load.has(first_name));
        let keep_head = match (labels, &saved) {
            (None, Some(_)) => true,
            (None, None) => return Err(ModelError::NoClassifier(files.source().to_string())),
            (Some(wanted), Some(saved)) => same_set(wanted, saved),
            (Some(_), None) => false,
        };
        // Only BERT's pooler lives under the encoder's prefix; every other head layer is
        // exported at the top level.
        if family != Family::Bert {
            load.scope.clear();
        }
        let reuse_first = (keep_head || first_in_encoder) && load.has(first_name);
        let first = if reuse_first {
            load.linear_with(first_name, h, h, first_bias)?
        } else {
            newly_initialized.push(format!("{}{first_name}", load.scope));
            load.new_linear(first_name, &mut rng, (h, h), std, first_bias)
        };
        load.scope.clear();
        let norm = match config {
            ModelConfig::ModernBert(c) if reuse_first => Some(load.layer_norm_with("head.norm", h, c.norm_eps, c.norm_bias)?),
            ModelConfig::ModernBert(c) => {
                newly_initialized.push("head.norm".to_string());
                Some(load.new_layer_norm("head.norm", h, c.norm_eps, c.norm_bias))
            }
            _ => None,
        };
        let (label_names, last) = match (keep_head, saved, labels) {
            (true, Some(saved), _) => {
                let head = load.linear(last_name, h, saved.len())?;
                (saved, head)
            }
            (_, _, Some(wanted)) => {
                newly_initialized.push(last_name.to_string());
                (wanted.to_vec(), load.new_linear(last_name, &mut rng, (h, wanted.len()), std, true))
            }
            (_, _, None) => return Err(ModelError::NoClassifier(files.source().to_string())),
        };
        let names = Arc::new(load.into_names());
        let ignored_tensors = weights.finish(family.classifier_class())?;
        let model = Self { encoder, head: ClassificationHead::new(config, first, last, norm), family, names };
        let report = ClassifierReport { labels: label_names, newly_initialized, ignored_tensors, parameters: model.num_params() };
        Ok((model, report))
    }

    /// Logits `[batch, labels]` for an encoded batch on `device`.
    pub fn forward_batch(&self, batch: &EncodedBatch, device: &Device) -> Tensor<2> {
        self.forward_batch_traced(batch, device, &mut Trace::off())
    }

    /// [`Self::forward_batch`], recording the intermediate outputs in `trace`.
    pub fn forward_batch_traced(&self, batch: &EncodedBatch, device: &Device, trace: &mut Trace) -> Tensor<2> {
        let input = self.encoder.input(batch, device);
        let hidden = self.encoder.forward(&input, trace);
        self.head.forward(hidden, &input, trace)
    }

    /// Every parameter under its transformers name, for export.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        self.names.tensors(self)
    }

    /// The checkpoint name of parameter `id` (`classifier.weight`), if it is one of this
    /// model's.
    pub fn parameter_name(&self, id: ParamId) -> Option<&str> {
        self.names.name(id)
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}
