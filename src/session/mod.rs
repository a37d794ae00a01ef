//! One training session, shared by the CLI and the studio: they differ only in where the
//! files come from, how progress is shown, and yielding to the browser ([`Host`]).
//!
//! [`Session::prepare`] splits the data, checks it (labels, leakage between the splits,
//! lengths), tokenises it, builds the model and the trainer; [`Session::step`] and
//! [`Session::evaluate`] run the trainer and append to one run log; [`Session::finish`]
//! picks the kept weights and scores them into [`Finished`], whose
//! [`Finished::export`] is the one export bundle (weights, config, tokenizer files,
//! `training_args.json`, `metrics.json`, model card, `training_log.csv`).
//!
//! The layers: `checkpoint` (bytes and formats) → `model` → `train` → `export` → here;
//! `platform` at the edge; `cli` and `app` drive this.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::checkpoint::{Checkpoint, CheckpointError, MaxLength, ModelFiles, TextTokenizer};
use crate::data::{DataReport, Example, Finding, FindingKind, LabelSet, TokenizedSet, compare_splits, stratified_split};
use crate::export::{CardInfo, ExportError, export_classifier, model_card};
use crate::model::{ClassifierReport, ModelError, SequenceClassifier};
use crate::train::{
    ClassifierEvaluation, EvalReport, LogRow, Prediction, SequenceClassification, Setting, SettingError, StepReport, StopReason,
    TrainConfig, TrainError, Trainer, log_csv, score,
};

/// What a front end does while a session prepares: say what it is doing, and let the page
/// breathe between slices of work (a no-op natively).
#[allow(async_fn_in_trait)]
pub trait Host {
    /// The session started on a stage of preparation ("Tokenising 900 + 100 examples…").
    fn preparing(&self, what: &str);
    /// Called between slices of long work.
    async fn breathe(&self);
}

/// Where the run's inputs came from, as the user knows them (written into
/// `training_args.json` and the model card).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The base model's name: a folder's name, a Hub id, or the bundled model's name.
    pub base_model: String,
    /// A Hub id for the model card's `base_model` metadata, when it came from the Hub.
    pub base_model_id: Option<String>,
    /// The training data's file name.
    pub train: String,
    /// The validation file's name, when one was given.
    pub valid: Option<String>,
    /// The test file's name, when one was given.
    pub test: Option<String>,
    /// The device, in words (not compared between front ends).
    pub device: String,
}

/// The data of a run, as read (and reported on) by the front end.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The training file's usable examples.
    pub train: Vec<Example>,
    /// Its report; the session adds the token lengths.
    pub train_report: DataReport,
    /// A separate validation file's examples.
    pub valid: Option<Vec<Example>>,
    /// A test file's examples, scored once with the kept model.
    pub test: Option<Vec<Example>>,
}

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The training settings (`max_length` is set from [`Plan::max_length`]).
    pub settings: TrainConfig,
    /// The max length asked for explicitly; `None` takes the default (see
    /// [`Checkpoint::max_length`]).
    pub max_length: Option<usize>,
    /// Share of the training data held out for validation when there is no validation file.
    pub valid_split: f64,
    /// Keep the model as loaded, when its head was already trained for these labels (the
    /// studio compares it with the fine-tuned one).
    pub keep_base: bool,
}

/// Something a front end shows before training: a data finding (leakage, truncation) in a
/// file, or a note on the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// The file it is about (empty for the model).
    pub file: String,
    /// The finding.
    pub finding: Option<Finding>,
    /// A note that is not a data finding (a max length lowered, a newly initialised head).
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.finding, self.file.is_empty()) {
            (Some(finding), false) => write!(f, "{}: {finding}", self.file),
            (Some(finding), true) => write!(f, "{finding}"),
            (None, false) => write!(f, "{}: {}", self.file, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

/// Why a session cannot be prepared or finished.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// An impossible setting.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The checkpoint cannot take these settings.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The model cannot be built or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A row of a data file cannot be used for this run.
    #[error("{file}:{line}: {message}")]
    Row {
        /// The file.
        file: String,
        /// Its 1-based line.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// Training cannot start or go on.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// How a run ended: `metrics.json`'s `stop_reason`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ended {
    /// All epochs ran.
    Completed,
    /// Validation stopped improving.
    EarlyStopping {
        /// The step it stopped at.
        step: usize,
    },
    /// The user stopped it.
    Stopped {
        /// The last step run.
        step: usize,
    },
    /// The loss or the gradients stopped being finite; the last good weights are kept.
    Diverged {
        /// The step that failed.
        step: usize,
        /// What happened and what to do.
        message: String,
    },
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => write!(f, "All epochs done."),
            Self::EarlyStopping { step } => write!(f, "Stopped early at step {step}: validation stopped improving."),
            Self::Stopped { step } => write!(f, "Stopped by you at step {step}."),
            Self::Diverged { message, .. } => write!(f, "{message}. The best weights so far are kept."),
        }
    }
}

/// `training_args.json`: what the run was given. The same for the CLI and the studio
/// for the same settings, apart from `device`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingArgs {
    /// The webtune version that trained it.
    pub webtune_version: String,
    /// The task.
    pub task: String,
    /// The base model (see [`Sources::base_model`]).
    pub base_model: String,
    /// Its `model_type`.
    pub model_type: String,
    /// The training file.
    pub train_file: String,
    /// The validation file, if separate.
    pub valid_file: Option<String>,
    /// The share held out for validation, when there was no validation file.
    pub valid_split: Option<f64>,
    /// The test file, if any.
    pub test_file: Option<String>,
    /// The device, in words.
    pub device: String,
    /// Every setting.
    pub settings: TrainConfig,
}

/// `metrics.json`: how the run went and how well the kept weights do. The same schema
/// as `webtune evaluate` prints for `validation` and `test`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Optimizer steps run.
    pub steps: usize,
    /// The step of the best evaluation, when there was one.
    pub best_step: Option<usize>,
    /// The step whose weights were exported.
    pub kept_step: usize,
    /// How the run ended.
    pub stop_reason: Ended,
    /// Seconds spent in training steps and evaluations (pauses and preparation excluded).
    pub training_seconds: f64,
    /// The kept weights on the validation set.
    pub validation: Option<EvalReport>,
    /// The kept weights on the test set.
    pub test: Option<EvalReport>,
}

/// Tokenises `examples` a slice at a time, letting the host breathe between slices.
async fn tokenize(examples: &[Example], labels: &LabelSet, tokenizer: &TextTokenizer, host: &impl Host) -> Result<TokenizedSet, ModelError> {
    const SLICE: usize = 256;
    let mut set = TokenizedSet::new(&examples[..examples.len().min(SLICE)], labels, tokenizer)?;
    for slice in examples.chunks(SLICE).skip(1) {
        host.breathe().await;
        set.extend(TokenizedSet::new(slice, labels, tokenizer)?);
    }
    Ok(set)
}

/// A prepared run of sequence-classification fine-tuning.
pub struct Session {
    checkpoint: Checkpoint,
    trainer: Trainer<SequenceClassification>,
    labels: LabelSet,
    tokenizer: TextTokenizer,
    sources: Sources,
    plan: Plan,
    max_length: MaxLength,
    notes: Vec<Note>,
    load: ClassifierReport,
    train_report: DataReport,
    train_examples: Vec<Example>,
    valid_examples: Vec<Example>,
    test: Option<(Vec<Example>, TokenizedSet)>,
    base: Option<SequenceClassifier>,
    log: Vec<LogRow>,
    seconds: f64,
    diverged: Option<(usize, String)>,
}

impl Session {
    /// Prepares a run on `device` (the plain device; training runs on its autodiff twin).
    /// Nothing runs on the device before the settings and the data are checked.
    pub async fn prepare(checkpoint: Checkpoint, data: RunData, mut plan: Plan, sources: Sources, device: Device, host: &impl Host) -> Result<Self, SessionError> {
        if !(0.0..1.0).contains(&plan.valid_split) {
            return Err(SettingError {
                setting: Setting::ValidSplit,
                value: plan.valid_split.to_string(),
                reason: "it is a share of the training data, in [0, 1) (try 0.1)".into(),
            }
            .into());
        }
        let max_length = checkpoint.max_length(plan.max_length, TrainConfig::default().max_length).map_err(|e| match e {
            CheckpointError::MaxLength { requested, available } => SessionError::Setting(SettingError {
                setting: Setting::MaxLength,
                value: requested.to_string(),
                reason: format!("the model takes at most {available} tokens (max_position_embeddings in config.json); choose {available} or less"),
            }),
            e => e.into(),
        })?;
        plan.settings.max_length = max_length.tokens;
        plan.settings.validate()?;
        let config = plan.settings.clone();
        let mut notes = Vec::new();
        if let Some(message) = max_length.note() {
            notes.push(Note { file: String::new(), finding: None, message });
        }
        let RunData { train, mut train_report, valid, test } = data;
        let (train, valid, valid_file) = match valid {
            Some(valid) => (train, valid, sources.valid.clone().unwrap_or_default()),
            None if plan.valid_split > 0.0 => {
                let (train, valid) = stratified_split(train, plan.valid_split, config.seed);
                (train, valid, sources.train.clone())
            }
            None => (train, Vec::new(), String::new()),
        };
        let leaks = |file: &str, other: &[Example], what: &str| -> Vec<Note> {
            compare_splits(&train, other, what).into_iter().map(|f| Note { file: file.to_string(), finding: Some(f), message: String::new() }).collect()
        };
        notes.extend(leaks(&valid_file, &valid, "validation"));
        if let Some(test) = &test {
            notes.extend(leaks(sources.test.as_deref().unwrap_or_default(), test, "test"));
        }
        let labels = LabelSet::from_examples(&train);
        let tokenizer = checkpoint.tokenizer(max_length.tokens)?;

        host.preparing(&format!("Tokenising {} + {} examples…", train.len(), valid.len()));
        host.breathe().await;
        let train_set = tokenize(&train, &labels, &tokenizer, host).await?;
        train_report.add_lengths(&train_set.full_lengths, &train_set.lines, max_length.tokens);
        for finding in train_report.findings.iter().filter(|f| f.kind == FindingKind::Truncated) {
            notes.push(Note { file: sources.train.clone(), finding: Some(finding.clone()), message: String::new() });
        }
        let valid_set = if valid.is_empty() { None } else { Some(tokenize(&valid, &labels, &tokenizer, host).await?) };
        let test = match test {
            Some(examples) => {
                let set = tokenize(&examples, &labels, &tokenizer, host).await?;
                if let Some(i) = set.labels.iter().position(Option::is_none) {
                    return Err(SessionError::Row {
                        file: sources.test.clone().unwrap_or_default(),
                        line: set.lines[i],
                        message: format!(
                            "label \"{}\" does not occur in the training data ({}); a test label must be one the model learns",
                            examples[i].label.as_deref().unwrap_or(""),
                            labels.names.join(", ")
                        ),
                    });
                }
                Some((examples, set))
            }
            None => None,
        };

        host.preparing("Building the model on the device…");
        host.breathe().await;
        let (model, load) = SequenceClassifier::load(&checkpoint, &device.clone().autodiff(), Some(&labels.names), config.seed)?;
        if !load.newly_initialized.is_empty() {
            notes.push(Note { file: String::new(), finding: None, message: format!("newly initialised (not in the checkpoint): {}", load.newly_initialized.join(", ")) });
        }
        let base = (plan.keep_base && !load.newly_initialized.iter().any(|m| m == "classifier")).then(|| model.valid());
        let trainer = Trainer::new(model, load.labels.clone(), train_set, valid_set, config, device)?;
        Ok(Self {
            checkpoint,
            trainer,
            labels,
            tokenizer,
            sources,
            plan,
            max_length,
            notes,
            load,
            train_report,
            train_examples: train,
            valid_examples: valid,
            test,
            base,
            log: Vec::new(),
            seconds: 0.0,
            diverged: None,
        })
    }

    /// What the front end shows before training (leakage, truncation, notes on the model).
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The settings in use (with the max length the policy chose).
    pub fn settings(&self) -> &TrainConfig {
        self.trainer.config()
    }

    /// The max length in use, and whether a default was lowered.
    pub fn max_length(&self) -> MaxLength {
        self.max_length
    }

    /// The training file's report, with its token lengths.
    pub fn train_report(&self) -> &DataReport {
        &self.train_report
    }

    /// Label names in class-id order.
    pub fn labels(&self) -> &[String] {
        self.trainer.labels()
    }

    /// Training and validation examples.
    pub fn examples(&self) -> (usize, usize) {
        (self.train_examples.len(), self.valid_examples.len())
    }

    /// Optimizer steps in the whole run.
    pub fn total_steps(&self) -> usize {
        self.trainer.total_steps()
    }

    /// Steps taken.
    pub fn steps_done(&self) -> usize {
        self.trainer.steps_done()
    }

    /// Whether training has ended by itself (all epochs, early stopping or divergence).
    pub fn is_finished(&self) -> bool {
        self.trainer.is_finished() || self.diverged.is_some()
    }

    /// The run log: one row per step, with the evaluation on the steps that had one.
    pub fn log(&self) -> &[LogRow] {
        &self.log
    }

    /// Seconds spent in steps and evaluations so far.
    pub fn training_seconds(&self) -> f64 {
        self.seconds
    }

    /// The model as loaded, when its head was already trained for these labels and the
    /// plan asked to keep it.
    pub fn base(&self) -> Option<&SequenceClassifier> {
        self.base.as_ref()
    }

    /// Runs one optimizer step and appends it to the log. A non-finite loss after
    /// training began ends the run (the last good weights are kept, and
    /// [`Session::finish`] says so); before any update it is an error with nothing to keep.
    pub async fn step(&mut self) -> Result<StepReport, TrainError> {
        let started = Instant::now();
        let result = self.trainer.step().await;
        self.seconds += started.elapsed().as_secs_f64();
        match result {
            Ok(step) => {
                self.log.push(LogRow::from_step(&step, self.seconds));
                Ok(step)
            }
            Err(e @ TrainError::NonFinite { step, .. }) if !e.before_any_update() => {
                self.diverged = Some((step, e.to_string()));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Evaluates on the validation set (when a step said it is due), records it on the
    /// log's last row, and returns its metrics.
    pub async fn evaluate(&mut self) -> Result<Option<EvalReport>, TrainError> {
        let started = Instant::now();
        let evaluation = self.trainer.evaluate().await;
        self.seconds += started.elapsed().as_secs_f64();
        let Some(evaluation) = evaluation? else { return Ok(None) };
        if let Some(row) = self.log.last_mut() {
            row.set_eval(&evaluation.report);
        }
        Ok(Some(evaluation.report))
    }

    /// Ends the run: the kept weights (the best evaluation's, else the last), scored on
    /// the validation set (the best evaluation when it is of the kept weights) and the
    /// test set. A run that did not end by itself ended because the front end stopped it.
    pub async fn finish(self) -> Result<Finished, SessionError> {
        let trainer = &self.trainer;
        let steps = trainer.steps_done();
        let stop_reason = match (&self.diverged, trainer.stop_reason()) {
            (Some((step, message)), _) => Ended::Diverged { step: *step, message: message.clone() },
            (None, Some(StopReason::EarlyStopping { step })) => Ended::EarlyStopping { step: *step },
            (None, Some(StopReason::Completed)) => Ended::Completed,
            _ => Ended::Stopped { step: steps },
        };
        let model = trainer.model_for_export();
        let device = trainer.device().clone();
        let batch = trainer.config().batch_size;
        let (kept_step, validation) = match trainer.best() {
            Some(best) => (best.step, Some(best.evaluation.clone())),
            None => {
                let evaluation = match trainer.task().valid.as_ref() {
                    Some(valid) => {
                        let (report, predictions) = score(&model, valid, self.labels(), batch, &device).await?;
                        Some(ClassifierEvaluation { report, predictions })
                    }
                    None => None,
                };
                (steps, evaluation)
            }
        };
        let test = match &self.test {
            Some((_, set)) => Some(score(&model, set, self.labels(), batch, &device).await?.0),
            None => None,
        };
        let metrics = RunMetrics {
            steps,
            best_step: trainer.best().map(|b| b.step),
            kept_step,
            stop_reason,
            training_seconds: self.seconds,
            validation: validation.as_ref().map(|v| v.report.clone()),
            test,
        };
        let settings = trainer.config().clone();
        let training_args = TrainingArgs {
            webtune_version: env!("CARGO_PKG_VERSION").to_string(),
            task: "sequence_classification".into(),
            base_model: self.sources.base_model.clone(),
            model_type: self.checkpoint.config().family().model_type().to_string(),
            train_file: self.sources.train.clone(),
            valid_file: self.sources.valid.clone(),
            valid_split: self.sources.valid.is_none().then_some(self.plan.valid_split),
            test_file: self.sources.test.clone(),
            device: self.sources.device.clone(),
            settings: settings.clone(),
        };
        let card = model_card(&CardInfo {
            base_model: self.sources.base_model.clone(),
            base_model_id: self.sources.base_model_id.clone(),
            data_source: self.sources.train.clone(),
            train_rows: self.train_examples.len(),
            valid_rows: self.valid_examples.len(),
            label_counts: self.labels.names.iter().cloned().zip(self.labels.counts.iter().copied()).collect(),
            pairs: self.train_examples.iter().any(|e| e.pair.is_some()),
            settings,
            steps: (steps, kept_step),
            metrics: metrics.validation.clone(),
        });
        let mistakes = match &validation {
            Some(v) => mistakes(&self.valid_examples, &v.predictions),
            None => Vec::new(),
        };
        Ok(Finished {
            labels: self.labels().to_vec(),
            model,
            base: self.base,
            tokenizer: self.tokenizer,
            device,
            log_csv: log_csv(&self.log),
            log: self.log,
            training_args,
            metrics,
            card,
            mistakes,
            load: self.load,
            source: self.checkpoint.files().clone(),
        })
    }
}

/// A validation example the kept model got wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Mistake {
    /// Line in its file.
    pub line: usize,
    /// The text.
    pub text: String,
    /// The second text, for pairs.
    pub pair: Option<String>,
    /// The true label.
    pub truth: String,
    /// The predicted label.
    pub predicted: String,
    /// The predicted label's probability.
    pub confidence: f32,
}

/// The wrong predictions among `examples`, most confident first.
fn mistakes(examples: &[Example], predictions: &[Prediction]) -> Vec<Mistake> {
    let mut out: Vec<Mistake> = examples
        .iter()
        .zip(predictions)
        .filter(|(e, p)| e.label.as_deref() != Some(p.label.as_str()))
        .map(|(e, p)| Mistake {
            line: e.line,
            text: e.text.clone(),
            pair: e.pair.clone(),
            truth: e.label.clone().unwrap_or_default(),
            predicted: p.label.clone(),
            confidence: p.probs.get(p.index).copied().unwrap_or(0.0),
        })
        .collect();
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    out
}

/// A finished run: the kept model and everything its export holds.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The kept weights, in validation mode.
    pub model: SequenceClassifier,
    /// The model as loaded (see [`Session::base`]).
    pub base: Option<SequenceClassifier>,
    /// Label names by class id.
    pub labels: Vec<String>,
    /// The tokenizer at the run's max length.
    pub tokenizer: TextTokenizer,
    /// Where the model lives.
    pub device: Device,
    /// The run log.
    pub log: Vec<LogRow>,
    /// The run log as CSV (`training_log.csv`).
    pub log_csv: String,
    /// `training_args.json`.
    pub training_args: TrainingArgs,
    /// `metrics.json`.
    pub metrics: RunMetrics,
    /// The model card (`README.md`).
    pub card: String,
    /// Validation examples the kept model got wrong, most confident first.
    pub mistakes: Vec<Mistake>,
    /// What loading the base model found.
    pub load: ClassifierReport,
    source: ModelFiles,
}

impl Finished {
    /// The export bundle: a Hugging Face folder of the family's own layout with the run's
    /// reports. Reads the weights back asynchronously.
    pub async fn export(&self) -> Result<ModelFiles, ExportError> {
        let mut out = export_classifier(self.model.named_tensors(), &self.source, &self.labels, &self.training_args, &self.metrics).await?;
        out.insert("README.md", self.card.clone().into_bytes());
        out.insert("training_log.csv", self.log_csv.clone().into_bytes());
        Ok(out)
    }
}
