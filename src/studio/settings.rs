//! The settings form: strings as typed, checked into training settings, each bad field
//! named with what would work. Settings errors from the core land on their own field.

use crate::train::{Setting, TrainConfig};

/// The settings as typed (strings until checked).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SettingsForm {
    /// Passes over the training data.
    pub epochs: String,
    /// Peak learning rate.
    pub learning_rate: String,
    /// Examples per micro-batch.
    pub batch_size: String,
    /// Tokens per input.
    pub max_length: String,
    /// Share of steps warming up.
    pub warmup_ratio: String,
    /// Decoupled weight decay.
    pub weight_decay: String,
    /// Micro-batches per optimizer step.
    pub grad_accum: String,
    /// Evaluate every N steps (empty: each epoch).
    pub eval_every: String,
    /// Stop after N evaluations without improvement (empty: off).
    pub early_stopping: String,
    /// Seed for split, order, dropout and new weights.
    pub seed: String,
    /// Share held out for validation when there is no validation file.
    pub valid_split: String,
    /// Generative models: new tokens of the scored validation answers (empty: off).
    pub max_new_tokens: String,
    /// Minutes between checkpoints in the browser's storage (empty: only at evaluations
    /// and pauses).
    pub checkpoint_minutes: String,
}

/// The studio's `pad_to_multiple_of`.
pub const STUDIO_PAD_MULTIPLE: usize = 8;

impl Default for SettingsForm {
    fn default() -> Self {
        let d = TrainConfig::default();
        Self {
            epochs: d.epochs.to_string(),
            learning_rate: format!("{:e}", d.learning_rate),
            batch_size: d.batch_size.to_string(),
            // Empty: the default length (128, or the model's limit when smaller).
            max_length: String::new(),
            warmup_ratio: d.warmup_ratio.to_string(),
            weight_decay: d.weight_decay.to_string(),
            grad_accum: d.grad_accum.to_string(),
            eval_every: String::new(),
            early_stopping: String::new(),
            seed: d.seed.to_string(),
            valid_split: "0.1".into(),
            max_new_tokens: "64".into(),
            checkpoint_minutes: "5".into(),
        }
    }
}

/// A setting that cannot be used: the field's id and why.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The input's id (`setting-epochs`, …).
    pub field: &'static str,
    /// What is wrong and what would work.
    pub message: String,
}

/// The fields: id, the form's value, label and a line on what it does.
pub const FIELDS: [(&str, &str, &str); 13] = [
    ("setting-epochs", "Epochs", "Passes over the training data. 2–4 is typical for fine-tuning."),
    ("setting-lr", "Learning rate", "How big each update is at its peak. 2e-5 to 5e-5 suits most BERT-sized models."),
    ("setting-batch", "Batch size", "Examples per step. Larger is faster per example but needs more GPU memory."),
    ("setting-max-length", "Max length (tokens)", "Longer inputs are cut here. Memory grows with it; see the token lengths in the data step. Empty: 128 for a classifier, 512 for a generative model, or the model's limit when smaller."),
    ("setting-warmup", "Warmup", "Share of the steps over which the learning rate rises from 0, in [0, 1)."),
    ("setting-weight-decay", "Weight decay", "Pulls weights toward 0 (not biases or LayerNorm). 0.01 is usual."),
    ("setting-grad-accum", "Gradient accumulation", "Batches summed per update: batch size × this is the effective batch, at one batch's memory."),
    ("setting-eval-every", "Evaluate every (steps)", "Empty: evaluate at the end of each epoch."),
    ("setting-early-stopping", "Early stopping (evaluations)", "Empty: off. Otherwise stop after this many evaluations without improvement."),
    ("setting-seed", "Seed", "Same seed, same split, order and initial weights: runs can be repeated."),
    ("setting-valid-split", "Held out for validation", "Share of the training file used for validation when there is no validation file."),
    ("setting-max-new-tokens", "Scored answers (new tokens)", "At each evaluation the model answers every validation prompt greedily with up to this many tokens, scored against the data's answers (BLEU, ROUGE-L, exact match). Empty: off, only loss and perplexity."),
    ("setting-checkpoint-minutes", "Save the run every (minutes)", "The run is saved in this browser at each evaluation, on Pause and this often, so a reload, a crash or a lost GPU costs at most this much training. Empty: only at evaluations and pauses."),
];

/// Fields that only generative models use.
pub const GENERATIVE_FIELDS: [&str; 1] = ["setting-max-new-tokens"];

impl SettingsForm {
    /// The value of field `id`.
    pub fn get(&self, id: &str) -> &str {
        match id {
            "setting-epochs" => &self.epochs,
            "setting-lr" => &self.learning_rate,
            "setting-batch" => &self.batch_size,
            "setting-max-length" => &self.max_length,
            "setting-warmup" => &self.warmup_ratio,
            "setting-weight-decay" => &self.weight_decay,
            "setting-grad-accum" => &self.grad_accum,
            "setting-eval-every" => &self.eval_every,
            "setting-early-stopping" => &self.early_stopping,
            "setting-seed" => &self.seed,
            "setting-max-new-tokens" => &self.max_new_tokens,
            "setting-checkpoint-minutes" => &self.checkpoint_minutes,
            _ => &self.valid_split,
        }
    }

    /// Sets field `id`.
    pub fn set(&mut self, id: &str, value: String) {
        let slot = match id {
            "setting-epochs" => &mut self.epochs,
            "setting-lr" => &mut self.learning_rate,
            "setting-batch" => &mut self.batch_size,
            "setting-max-length" => &mut self.max_length,
            "setting-warmup" => &mut self.warmup_ratio,
            "setting-weight-decay" => &mut self.weight_decay,
            "setting-grad-accum" => &mut self.grad_accum,
            "setting-eval-every" => &mut self.eval_every,
            "setting-early-stopping" => &mut self.early_stopping,
            "setting-seed" => &mut self.seed,
            "setting-max-new-tokens" => &mut self.max_new_tokens,
            "setting-checkpoint-minutes" => &mut self.checkpoint_minutes,
            _ => &mut self.valid_split,
        };
        *slot = value;
    }

    /// The settings, or the first field that is wrong with what would work.
    pub fn parse(&self) -> Result<Form, FieldError> {
        fn whole(field: &'static str, name: &str, value: &str) -> Result<usize, FieldError> {
            value.trim().parse::<usize>().map_err(|_| FieldError { field, message: format!("{name}: \"{value}\" is not a whole number") })
        }
        fn number(field: &'static str, name: &str, value: &str) -> Result<f64, FieldError> {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| FieldError { field, message: format!("{name}: \"{value}\" is not a number") })
        }
        let optional = |field, name, value: &str| -> Result<Option<usize>, FieldError> {
            if value.trim().is_empty() { Ok(None) } else { whole(field, name, value).map(Some) }
        };
        let max_length = optional("setting-max-length", "Max length", &self.max_length)?;
        let settings = TrainConfig {
            epochs: whole("setting-epochs", "Epochs", &self.epochs)?,
            learning_rate: number("setting-lr", "Learning rate", &self.learning_rate)?,
            batch_size: whole("setting-batch", "Batch size", &self.batch_size)?,
            max_length: max_length.unwrap_or(TrainConfig::default().max_length),
            warmup_ratio: number("setting-warmup", "Warmup", &self.warmup_ratio)?,
            weight_decay: number("setting-weight-decay", "Weight decay", &self.weight_decay)?,
            grad_accum: whole("setting-grad-accum", "Gradient accumulation", &self.grad_accum)?,
            eval_every: optional("setting-eval-every", "Evaluate every", &self.eval_every)?,
            early_stopping_patience: optional("setting-early-stopping", "Early stopping", &self.early_stopping)?,
            seed: self.seed.trim().parse().map_err(|_| FieldError { field: "setting-seed", message: format!("Seed: \"{}\" is not a whole number", self.seed) })?,
            // Batches padded to a multiple of 8 tokens: on WebGPU, lengths of every
            // divisibility compile their own kernels (37 extra pipelines in 8 steps of
            // varied lengths against 18; BENCHMARKS.md), at a few padded tokens per row.
            pad_to_multiple_of: STUDIO_PAD_MULTIPLE,
            // Losses read back about once a second: a fast GPU runs queued steps while the
            // worker records the next, and the chart still gets every step.
            log_every: None,
            ..TrainConfig::default()
        };
        settings.validate().map_err(|e| FieldError { field: field_id(e.setting), message: format!("{} = {}: {}", field_label(e.setting), e.value, e.reason) })?;
        let valid_split = number("setting-valid-split", "Held out for validation", &self.valid_split)?;
        if !(0.0..0.9).contains(&valid_split) {
            return Err(FieldError { field: "setting-valid-split", message: format!("Held out for validation = {valid_split}: use a share in [0, 0.9), e.g. 0.1") });
        }
        let score_generations = optional("setting-max-new-tokens", "Scored answers (new tokens)", &self.max_new_tokens)?;
        if score_generations == Some(0) {
            return Err(FieldError { field: "setting-max-new-tokens", message: "Scored answers (new tokens) = 0: an answer needs at least 1 token (try 64), or leave it empty to score none".into() });
        }
        let checkpoint_minutes = match self.checkpoint_minutes.trim() {
            "" => None,
            typed => match number("setting-checkpoint-minutes", "Save the run every (minutes)", typed)? {
                minutes if minutes > 0.0 => Some(minutes),
                _ => {
                    return Err(FieldError {
                        field: "setting-checkpoint-minutes",
                        message: format!("Save the run every (minutes) = {typed}: give a number of minutes above 0 (e.g. 5), or leave it empty to save only at evaluations and pauses"),
                    });
                }
            },
        };
        Ok(Form { settings, max_length, valid_split, score_generations, checkpoint_minutes })
    }

    /// The form of a run's settings (a resumed run shows what it trains with).
    pub fn from_plan(plan: &crate::session::PlanRecord) -> Self {
        let s = &plan.settings;
        let optional = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
        Self {
            epochs: s.epochs.to_string(),
            learning_rate: format!("{:e}", s.learning_rate),
            batch_size: s.batch_size.to_string(),
            max_length: optional(plan.max_length),
            warmup_ratio: s.warmup_ratio.to_string(),
            weight_decay: s.weight_decay.to_string(),
            grad_accum: s.grad_accum.to_string(),
            eval_every: optional(s.eval_every),
            early_stopping: optional(s.early_stopping_patience),
            seed: s.seed.to_string(),
            valid_split: plan.valid_split.to_string(),
            max_new_tokens: optional(plan.lm.score_generations),
            ..Self::default()
        }
    }
}

/// The settings form, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// The training settings (`max_length` holds the default when the field is empty).
    pub settings: TrainConfig,
    /// The max length typed, if any (see [`crate::checkpoint::Checkpoint::max_length`]).
    pub max_length: Option<usize>,
    /// Share of the training file held out when there is no validation file.
    pub valid_split: f64,
    /// Generative models: new tokens of the scored validation answers (`None`: off).
    pub score_generations: Option<usize>,
    /// Minutes between checkpoints (`None`: only at evaluations and pauses).
    pub checkpoint_minutes: Option<f64>,
}

/// The form field of a setting. Settings the form does not show (Adam's betas and ε,
/// clipping, the schedule) belong to the field group's first entry, and the message
/// names them.
pub fn field_id(setting: Setting) -> &'static str {
    match setting {
        Setting::Epochs => "setting-epochs",
        Setting::LearningRate => "setting-lr",
        Setting::BatchSize => "setting-batch",
        Setting::MaxLength => "setting-max-length",
        Setting::WarmupRatio | Setting::Schedule => "setting-warmup",
        Setting::WeightDecay => "setting-weight-decay",
        Setting::GradAccum => "setting-grad-accum",
        Setting::EvalEvery | Setting::BestMetric => "setting-eval-every",
        Setting::EarlyStopping | Setting::MinDelta => "setting-early-stopping",
        Setting::Seed => "setting-seed",
        Setting::ValidSplit => "setting-valid-split",
        Setting::Packing => "setting-max-length",
        Setting::MaxNewTokens => "setting-max-new-tokens",
        Setting::MaxGradNorm | Setting::Beta1 | Setting::Beta2 | Setting::Epsilon => "setting-lr",
        // The studio reads automatically; the setting has no field.
        Setting::LogEvery => "setting-eval-every",
    }
}

/// A setting as the studio names it: its field's label, or plain words for the ones the
/// form does not show.
pub fn field_label(setting: Setting) -> &'static str {
    match setting {
        Setting::Schedule
        | Setting::BestMetric
        | Setting::MinDelta
        | Setting::MaxGradNorm
        | Setting::Beta1
        | Setting::Beta2
        | Setting::Epsilon
        | Setting::Packing
        | Setting::LogEvery => {
            setting.name()
        }
        other => FIELDS.iter().find(|f| f.0 == field_id(other)).map_or(other.name(), |f| f.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_each_bad_field_is_named() {
        let form = SettingsForm::default().parse().unwrap();
        assert_eq!((form.settings.epochs, form.settings.batch_size, form.settings.learning_rate, form.valid_split), (3, 32, 5e-5, 0.1));
        assert_eq!(form.max_length, None, "an empty max length takes the model's default");
        let with = |id: &str, value: &str| {
            let mut form = SettingsForm::default();
            form.set(id, value.to_string());
            form.parse()
        };
        let e = with("setting-batch", "twelve").unwrap_err();
        assert_eq!((e.field, e.message.as_str()), ("setting-batch", "Batch size: \"twelve\" is not a whole number"));
        let e = with("setting-lr", "-1").unwrap_err();
        assert_eq!((e.field, e.message.as_str()), ("setting-lr", "Learning rate = -1: the learning rate must be a positive number (try 5e-5)"));
        assert_eq!(with("setting-warmup", "1.5").unwrap_err().field, "setting-warmup");
        assert_eq!(with("setting-eval-every", "0").unwrap_err().field, "setting-eval-every");
        assert_eq!(with("setting-early-stopping", "0").unwrap_err().field, "setting-early-stopping", "not Epochs");
        assert_eq!(with("setting-max-length", "1").unwrap_err().field, "setting-max-length");
        assert_eq!(with("setting-valid-split", "0.95").unwrap_err().field, "setting-valid-split");
        assert_eq!(with("setting-max-length", " 48 ").unwrap().max_length, Some(48));
        assert_eq!(form.score_generations, Some(64), "generative runs score their answers unless the field is emptied");
        assert_eq!(with("setting-max-new-tokens", " ").unwrap().score_generations, None);
        let e = with("setting-max-new-tokens", "0").unwrap_err();
        assert_eq!((e.field, e.message.as_str()), ("setting-max-new-tokens", "Scored answers (new tokens) = 0: an answer needs at least 1 token (try 64), or leave it empty to score none"));
        let mut form = SettingsForm::default();
        form.set("setting-eval-every", "50".into());
        form.set("setting-early-stopping", " 3 ".into());
        let form = form.parse().unwrap();
        assert_eq!((form.settings.eval_every, form.settings.early_stopping_patience), (Some(50), Some(3)));
    }

    #[test]
    fn a_runs_plan_fills_the_form_it_came_from() {
        let mut form = SettingsForm::default();
        for (id, value) in [("setting-epochs", "7"), ("setting-lr", "0.003"), ("setting-max-length", "48"), ("setting-eval-every", "20"), ("setting-valid-split", "0.25"), ("setting-max-new-tokens", "")] {
            form.set(id, value.into());
        }
        let parsed = form.parse().unwrap();
        let plan = crate::session::PlanRecord { settings: parsed.settings.clone(), max_length: parsed.max_length, valid_split: parsed.valid_split, lm: Default::default() };
        let back = SettingsForm::from_plan(&plan);
        assert_eq!(back.parse().unwrap(), parsed, "the plan's form parses to the same settings");
        assert_eq!((back.epochs.as_str(), back.max_length.as_str(), back.eval_every.as_str(), back.max_new_tokens.as_str()), ("7", "48", "20", ""));
    }

    #[test]
    fn checkpoint_minutes_are_optional_and_positive() {
        let with = |value: &str| {
            let mut form = SettingsForm::default();
            form.set("setting-checkpoint-minutes", value.into());
            form.parse()
        };
        assert_eq!(SettingsForm::default().parse().unwrap().checkpoint_minutes, Some(5.0));
        assert_eq!(with("").unwrap().checkpoint_minutes, None);
        assert_eq!(with(" 0.5 ").unwrap().checkpoint_minutes, Some(0.5));
        let e = with("0").unwrap_err();
        assert_eq!(e.field, "setting-checkpoint-minutes");
        assert!(e.message.starts_with("Save the run every (minutes) = 0: give a number of minutes above 0"), "{}", e.message);
        assert_eq!(with("soon").unwrap_err().message, "Save the run every (minutes): \"soon\" is not a number");
    }

    #[test]
    fn every_setting_has_a_field_and_a_label() {
        use Setting::*;
        for s in [Epochs, LearningRate, BatchSize, MaxLength, WarmupRatio, WeightDecay, GradAccum, MaxGradNorm, Schedule, Beta1, Beta2, Epsilon, Seed, EvalEvery, EarlyStopping, MinDelta, BestMetric, ValidSplit, Packing, MaxNewTokens] {
            assert!(FIELDS.iter().any(|f| f.0 == field_id(s)), "{s:?}");
            assert!(!field_label(s).is_empty());
        }
        assert_eq!(field_label(GradAccum), "Gradient accumulation");
        assert_eq!(field_label(Beta2), "beta2");
        let e = crate::train::SettingError { setting: EarlyStopping, value: "0".into(), reason: "at least 1".into() };
        assert_eq!(e.worded(field_label), "setting Early stopping (evaluations) = 0 is impossible: at least 1");
    }

    #[test]
    fn get_and_set_reach_every_field() {
        let mut form = SettingsForm::default();
        for (i, (id, _, _)) in FIELDS.iter().enumerate() {
            form.set(id, format!("v{i}"));
        }
        for (i, (id, _, _)) in FIELDS.iter().enumerate() {
            assert_eq!(form.get(id), format!("v{i}"));
        }
    }
}
