//! What a task supplies to the trainer: the loss of a batch of its training examples and
//! the evaluation of a model on its validation examples. The trainer owns everything else
//! (optimizer, schedule, clipping, accumulation, evaluation cadence, best checkpoint,
//! early stopping, the non-finite stop), so a new task (causal language modelling, token
//! classification, embeddings) plugs in here and a new architecture plugs into the task's
//! model, neither touching the trainer.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor};

use super::config::BestMetric;
use super::error::TrainError;
use crate::checkpoint::Padding;
use crate::model::Trace;

/// A training task over a fixed training set and an optional validation set.
#[allow(async_fn_in_trait)] // driven on one thread in both front ends
pub trait Task {
    /// The model trained (any family that fits the task).
    type Model: Module + Clone + std::fmt::Debug;
    /// One evaluation's result: plain data (kept in a run's checkpoint).
    type Evaluation: Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned;

    /// Checks that the data can train `model` before any device work.
    fn check(&self, model: &Self::Model) -> Result<(), TrainError>;

    /// Training examples.
    fn train_len(&self) -> usize;

    /// Token lengths of the training examples (batches of similar length share padding).
    fn train_lengths(&self) -> Vec<usize>;

    /// Whether there is a validation set to evaluate.
    fn has_validation(&self) -> bool;

    /// How training and validation batches are padded from now on (the task lowers the
    /// cap to what `model` takes).
    fn set_padding(&mut self, model: &Self::Model, padding: Padding);

    /// The mean loss `[1]` of training examples `indices` in training mode on `device`
    /// (the autodiff device), and their non-padding tokens. `trace` records intermediate
    /// outputs when on, the loss last.
    fn loss(&self, model: &Self::Model, indices: &[usize], device: &Device, trace: &mut Trace) -> (Tensor<1>, usize);

    /// The checkpoint name of the model's parameter `id` (to name a failing gradient).
    fn parameter_name(&self, model: &Self::Model, id: ParamId) -> Option<String>;

    /// Scores `model` (validation mode, on the plain `device`) on the validation set,
    /// `batch_size` examples at a time; `None` without a validation set.
    async fn evaluate(&self, model: &Self::Model, batch_size: usize, device: &Device) -> Result<Option<Self::Evaluation>, TrainError>;

    /// Whether evaluations measure `metric` (checked before training).
    fn measures(metric: BestMetric) -> bool;

    /// The value of `metric` in `evaluation`, or `None` when the task does not measure it.
    fn metric(evaluation: &Self::Evaluation, metric: BestMetric) -> Option<f64>;
}
