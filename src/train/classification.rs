//! Sequence classification as a [`Task`]: cross-entropy over the labels, scored by
//! accuracy, macro F1 and loss. The model is a [`SequenceClassifier`] of any family.

use burn::module::ParamId;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::config::BestMetric;
use super::metrics::EvalReport;
use super::predict::{Prediction, score};
use super::task::Task;
use super::error::TrainError;
use crate::data::TokenizedSet;
use crate::model::{SequenceClassifier, Trace};

/// Mean cross-entropy of `logits` `[batch, classes]` against class ids `[batch]`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    log_softmax(logits, 1).gather(1, targets.reshape([batch, 1])).mean().neg()
}

/// An evaluation of a classifier: the metrics and every validation example's prediction,
/// in set order (the studio lists the mistakes from them).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ClassifierEvaluation {
    /// The metrics.
    pub report: EvalReport,
    /// Each validation example's prediction.
    pub predictions: Vec<Prediction>,
}

/// Fine-tuning a sequence classifier on labelled, tokenised examples.
#[derive(Clone, Debug)]
pub struct SequenceClassification {
    /// Label names in class-id order.
    pub labels: Vec<String>,
    /// The training set.
    pub train: TokenizedSet,
    /// The validation set.
    pub valid: Option<TokenizedSet>,
}

impl Task for SequenceClassification {
    type Model = SequenceClassifier;
    type Evaluation = ClassifierEvaluation;

    /// The cap is the truncation length, which loading checked against the model's
    /// position embeddings.
    fn set_padding(&mut self, _: &SequenceClassifier, padding: crate::checkpoint::Padding) {
        self.train.set_padding(padding);
        if let Some(valid) = &mut self.valid {
            valid.set_padding(padding);
        }
    }

    fn check(&self, _model: &SequenceClassifier) -> Result<(), TrainError> {
        if self.train.is_empty() {
            return Err(TrainError::Data("the training set is empty; give it at least two labelled examples of two labels".into()));
        }
        if self.labels.len() < 2 {
            return Err(TrainError::Data(format!(
                "the label column has only one class ({}); classification needs at least two",
                self.labels.first().map(String::as_str).unwrap_or("none")
            )));
        }
        for (set, name) in [(Some(&self.train), "training"), (self.valid.as_ref(), "validation")] {
            let Some(set) = set else { continue };
            if let Some(i) = set.labels.iter().position(Option::is_none) {
                return Err(TrainError::Data(format!(
                    "line {} of the {name} data has a label not seen in training; the model knows: {}",
                    set.lines[i],
                    self.labels.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn train_lengths(&self) -> Vec<usize> {
        self.train.lengths()
    }

    fn has_validation(&self) -> bool {
        self.valid.is_some()
    }

    fn loss(&self, model: &SequenceClassifier, indices: &[usize], device: &Device, trace: &mut Trace) -> (Tensor<1>, usize) {
        let batch = self.train.batch(indices);
        let tokens = batch.attention_mask.iter().filter(|&&m| m == 1).count();
        let targets: Vec<i64> = indices.iter().map(|&i| self.train.labels[i].unwrap_or(0) as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [indices.len()]), device);
        let logits = model.forward_batch_traced(&batch, device, trace);
        (trace.record("cross-entropy loss", cross_entropy(logits, targets)), tokens)
    }

    fn parameter_name(&self, model: &SequenceClassifier, id: ParamId) -> Option<String> {
        model.parameter_name(id).map(str::to_string)
    }

    async fn evaluate(&self, model: &SequenceClassifier, batch_size: usize, device: &Device) -> Result<Option<ClassifierEvaluation>, TrainError> {
        let Some(valid) = &self.valid else { return Ok(None) };
        let (report, predictions) = score(model, valid, &self.labels, batch_size, device).await.map_err(|e| TrainError::Device(e.to_string()))?;
        Ok(Some(ClassifierEvaluation { report, predictions }))
    }

    fn measures(_: BestMetric) -> bool {
        true
    }

    fn metric(evaluation: &ClassifierEvaluation, metric: BestMetric) -> Option<f64> {
        let r = &evaluation.report;
        Some(match metric {
            BestMetric::Loss => r.loss,
            BestMetric::Accuracy => r.accuracy,
            BestMetric::MacroF1 => r.macro_f1,
        })
    }
}
