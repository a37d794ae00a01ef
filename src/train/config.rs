//! Training settings, their defaults (common practice for fine-tuning small encoders, as in
//! Hugging Face `TrainingArguments`) and their validation before any GPU work.

use serde::{Deserialize, Serialize};

/// The learning-rate schedule after warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Linear decay to 0 (transformers' `get_linear_schedule_with_warmup`).
    Linear,
    /// Half-cosine decay to 0 (`get_cosine_schedule_with_warmup`).
    Cosine,
    /// Constant (`get_constant_schedule_with_warmup`).
    Constant,
}

/// The validation metric that picks the best checkpoint and drives early stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BestMetric {
    /// Validation loss (lower is better).
    Loss,
    /// Accuracy (higher is better).
    Accuracy,
    /// Macro-averaged F1 (higher is better).
    MacroF1,
}

impl BestMetric {
    /// The name `--best-metric` and `training_args.json` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::Accuracy => "accuracy",
            Self::MacroF1 => "macro_f1",
        }
    }

    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, BestMetric::Loss)
    }
}

/// Every training setting. [`TrainConfig::default`] holds the defaults shown to users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Examples per optimizer step (before gradient accumulation).
    pub batch_size: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Inputs are truncated to this many tokens.
    pub max_length: usize,
    /// Share of all optimizer steps spent warming the learning rate up from 0.
    pub warmup_ratio: f64,
    /// Decoupled weight decay, applied to weight matrices and embeddings but not to biases
    /// or LayerNorm parameters.
    pub weight_decay: f64,
    /// Micro-batches whose gradients are summed before one optimizer step.
    pub grad_accum: usize,
    /// Gradients are scaled down when their global L2 norm exceeds this (0 turns it off).
    pub max_grad_norm: f64,
    /// Learning-rate schedule after warmup.
    pub schedule: Schedule,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub epsilon: f64,
    /// Seed for shuffling, dropout and new weights.
    pub seed: u64,
    /// Evaluate every N optimizer steps; `None` evaluates at the end of each epoch.
    pub eval_every: Option<usize>,
    /// Stop after this many evaluations without improvement; `None` never stops early.
    pub early_stopping_patience: Option<usize>,
    /// The least change of the metric that counts as an improvement.
    pub early_stopping_min_delta: f64,
    /// The metric that picks the best checkpoint.
    pub best_metric: BestMetric,
    /// Batch examples of similar length together to cut padding.
    pub group_by_length: bool,
    /// Pad each batch to a multiple of this many tokens (0 or 1: to its longest example),
    /// never past `max_length`: fewer distinct shapes for the GPU to compile kernels for.
    #[serde(default)]
    pub pad_to_multiple_of: usize,
    /// Read the loss and gradient norm back from the device every N steps, all N in one
    /// transfer; `None` picks N so that reads come about once a second (at most every 50
    /// steps). The first step, the steps before an evaluation and the last step are
    /// always read. Every step is still logged, and what the run learns is the same for
    /// any N: only when the host learns it changes. Reading less often lets a GPU run
    /// the queued steps while the next is recorded instead of waiting on the host.
    #[serde(default)]
    pub log_every: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 5e-5,
            batch_size: 32,
            epochs: 3,
            max_length: 128,
            warmup_ratio: 0.1,
            weight_decay: 0.01,
            grad_accum: 1,
            max_grad_norm: 1.0,
            schedule: Schedule::Linear,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            seed: 42,
            eval_every: None,
            early_stopping_patience: None,
            early_stopping_min_delta: 0.0,
            best_metric: BestMetric::Accuracy,
            group_by_length: false,
            pad_to_multiple_of: 0,
            log_every: Some(1),
        }
    }
}

/// A training setting, as a value: each front end words it its own way (the CLI as its
/// flag, the studio as the form field it highlights).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// [`TrainConfig::epochs`].
    Epochs,
    /// [`TrainConfig::learning_rate`].
    LearningRate,
    /// [`TrainConfig::batch_size`].
    BatchSize,
    /// [`TrainConfig::max_length`].
    MaxLength,
    /// [`TrainConfig::warmup_ratio`].
    WarmupRatio,
    /// [`TrainConfig::weight_decay`].
    WeightDecay,
    /// [`TrainConfig::grad_accum`].
    GradAccum,
    /// [`TrainConfig::max_grad_norm`].
    MaxGradNorm,
    /// [`TrainConfig::schedule`].
    Schedule,
    /// [`TrainConfig::beta1`].
    Beta1,
    /// [`TrainConfig::beta2`].
    Beta2,
    /// [`TrainConfig::epsilon`].
    Epsilon,
    /// [`TrainConfig::seed`].
    Seed,
    /// [`TrainConfig::eval_every`].
    EvalEvery,
    /// [`TrainConfig::early_stopping_patience`].
    EarlyStopping,
    /// [`TrainConfig::early_stopping_min_delta`].
    MinDelta,
    /// [`TrainConfig::best_metric`].
    BestMetric,
    /// The share of the training data held out for validation when there is no validation file.
    ValidSplit,
    /// Packing plain texts into blocks (language modelling).
    Packing,
    /// New tokens of the validation answers scored at each evaluation (language modelling).
    MaxNewTokens,
    /// [`TrainConfig::log_every`].
    LogEvery,
}

impl Setting {
    /// Plain words for the setting, for messages outside a front end.
    pub fn name(self) -> &'static str {
        match self {
            Self::Epochs => "epochs",
            Self::LearningRate => "learning rate",
            Self::BatchSize => "batch size",
            Self::MaxLength => "max length",
            Self::WarmupRatio => "warmup ratio",
            Self::WeightDecay => "weight decay",
            Self::GradAccum => "gradient accumulation",
            Self::MaxGradNorm => "max gradient norm",
            Self::Schedule => "schedule",
            Self::Beta1 => "beta1",
            Self::Beta2 => "beta2",
            Self::Epsilon => "epsilon",
            Self::Seed => "seed",
            Self::EvalEvery => "evaluate every",
            Self::EarlyStopping => "early stopping",
            Self::MinDelta => "early stopping min delta",
            Self::BestMetric => "best metric",
            Self::ValidSplit => "validation split",
            Self::Packing => "packing",
            Self::MaxNewTokens => "max new tokens",
            Self::LogEvery => "log every",
        }
    }
}

/// An impossible setting, named as a value, with what would work. Displayed in plain
/// words; the CLI and the studio word it with [`SettingError::worded`].
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{}", self.worded(|s| s.name()))]
pub struct SettingError {
    /// The setting.
    pub setting: Setting,
    /// The value given.
    pub value: String,
    /// Why, and what would work.
    pub reason: String,
}

impl SettingError {
    /// The message with the setting named by `name` (a flag, a form label).
    pub fn worded(&self, name: impl Fn(Setting) -> &'static str) -> String {
        format!("setting {} = {} is impossible: {}", name(self.setting), self.value, self.reason)
    }
}

impl TrainConfig {
    /// Checks every setting; the first impossible one is reported.
    pub fn validate(&self) -> Result<(), SettingError> {
        let fail = |setting, value: String, reason: &str| {
            Err(SettingError {
                setting,
                value,
                reason: reason.to_string(),
            })
        };
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return fail(Setting::LearningRate, self.learning_rate.to_string(), "the learning rate must be a positive number (try 5e-5)");
        }
        if self.batch_size == 0 {
            return fail(Setting::BatchSize, "0".into(), "a batch needs at least one example (try 32, or 8 on small GPUs)");
        }
        if self.epochs == 0 {
            return fail(Setting::Epochs, "0".into(), "training needs at least one epoch (try 3)");
        }
        if self.max_length < 2 {
            return fail(Setting::MaxLength, self.max_length.to_string(), "inputs need room for [CLS] and [SEP] (try 128)");
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return fail(Setting::WarmupRatio, self.warmup_ratio.to_string(), "it is a share of the steps, in [0, 1) (try 0.1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return fail(Setting::WeightDecay, self.weight_decay.to_string(), "it must be 0 or more (try 0.01)");
        }
        if self.grad_accum == 0 {
            return fail(Setting::GradAccum, "0".into(), "at least one micro-batch per step (1 turns accumulation off)");
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return fail(Setting::MaxGradNorm, self.max_grad_norm.to_string(), "it must be 0 (off) or positive (try 1.0)");
        }
        for (setting, beta) in [(Setting::Beta1, self.beta1), (Setting::Beta2, self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return fail(setting, beta.to_string(), "Adam's betas are in [0, 1)");
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return fail(Setting::Epsilon, self.epsilon.to_string(), "it must be positive (try 1e-8)");
        }
        if self.eval_every == Some(0) {
            return fail(Setting::EvalEvery, "0".into(), "evaluate every N ≥ 1 steps, or leave it out to evaluate each epoch");
        }
        if self.log_every == Some(0) {
            return fail(Setting::LogEvery, "0".into(), "read the loss back every N ≥ 1 steps, or choose auto (about once a second)");
        }
        if self.early_stopping_patience == Some(0) {
            return fail(Setting::EarlyStopping, "0".into(), "patience counts evaluations without improvement: at least 1");
        }
        if !(self.early_stopping_min_delta.is_finite() && self.early_stopping_min_delta >= 0.0) {
            return fail(Setting::MinDelta, self.early_stopping_min_delta.to_string(), "it must be 0 or more");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_common_practice() {
        let c = TrainConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.learning_rate, c.batch_size, c.epochs, c.max_length), (5e-5, 32, 3, 128));
        assert_eq!((c.weight_decay, c.warmup_ratio, c.epsilon), (0.01, 0.1, 1e-8));
    }

    #[test]
    fn rejects_impossible_settings_by_name() {
        let bad = |edit: fn(&mut TrainConfig)| {
            let mut c = TrainConfig::default();
            edit(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.batch_size = 0),
            "setting batch size = 0 is impossible: a batch needs at least one example (try 32, or 8 on small GPUs)"
        );
        assert_eq!(
            bad(|c| c.learning_rate = f64::NAN),
            "setting learning rate = NaN is impossible: the learning rate must be a positive number (try 5e-5)"
        );
        assert_eq!(
            bad(|c| c.learning_rate = -1e-5),
            "setting learning rate = -0.00001 is impossible: the learning rate must be a positive number (try 5e-5)"
        );
        assert!(bad(|c| c.grad_accum = 0).starts_with("setting gradient accumulation = 0"));
        let mut c = TrainConfig::default();
        c.eval_every = Some(0);
        assert_eq!(c.validate().unwrap_err().setting, Setting::EvalEvery);
        assert_eq!(
            bad(|c| c.log_every = Some(0)),
            "setting log every = 0 is impossible: read the loss back every N ≥ 1 steps, or choose auto (about once a second)"
        );
    }
}
