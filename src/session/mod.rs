//! One training session, shared by the CLI and the studio and by every task: the front
//! ends differ only in where the files come from, how progress is shown, and yielding to
//! the browser ([`Host`]); the tasks (sequence classification, causal language modelling)
//! only in how data becomes examples, what an evaluation measures and what the export holds.
//!
//! [`Session::prepare`] takes a [`Pretrained`] model and [`RunData`] of the matching kind,
//! splits the data, checks it (labels or conversations, leakage between the splits,
//! lengths), tokenises it, builds the model and the trainer; [`Session::step`] and
//! [`Session::evaluate`] run the trainer and append to one run log; [`Session::finish`]
//! picks the kept weights and scores them into [`Finished`], whose
//! [`Finished::export`] is the one export bundle (weights, config, tokenizer files,
//! `training_args.json`, `metrics.json`, model card, `training_log.csv`).
//!
//! The layers: `checkpoint` (bytes and formats) → `model` → `train` → `export` → here;
//! `platform` at the edge; `cli` and `app` drive this.

mod checkpoint;
mod classify;
mod language;
mod run;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, MaxLength, ModelFiles, Pretrained, TextTokenizer};
use crate::data::{DataReport, Example, Finding, LmLayout, LmRow};
use crate::export::ExportError;
use crate::model::{CausalLm, ClassifierReport, ModelError, SequenceClassifier};
use crate::train::{EvalPoint, EvalReport, LmEvaluation, LogKind, LogRow, Setting, SettingError, StepProgress, TrainConfig, TrainError};

pub use checkpoint::{BEST_FILE, CHECKPOINT_VERSION, DataRole, Fingerprint, Fingerprints, OPTIMIZER_FILE, PlanRecord, ResumeError, RunCheckpoint, RunState, STATE_FILE};
pub use classify::Mistake;
pub use language::{LM_DEFAULT_MAX_LENGTH, Sample, ScoredAnswer, ScoredAnswers};

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
/// `training_args.json` and the model card), with their fingerprints (kept in checkpoints).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
    /// The data files' SHA-256 (the front end's, which has the bytes) and the base
    /// model's (the first checkpoint's): a resumed run must be given the same data.
    #[serde(default)]
    pub fingerprints: Fingerprints,
    /// How the data files were read (so a resumed run reads them the same way).
    #[serde(default)]
    pub reading: crate::data::Reading,
}

/// The data of a run, as read (and reported on) by the front end: labelled examples for
/// a classifier, language-modelling records for a generative model.
#[derive(Clone, Debug)]
pub enum RunData {
    /// Texts with labels.
    Labelled(LabelledData),
    /// Texts, prompt/completion pairs or conversations.
    Language(LanguageData),
}

/// Language-modelling data, as read by [`crate::data::read_lm_dataset`].
#[derive(Clone, Debug)]
pub struct LanguageData {
    /// The training file's usable records.
    pub train: Vec<LmRow>,
    /// Its layout.
    pub layout: LmLayout,
    /// Its report; the session adds the token lengths and what truncation removes.
    pub train_report: DataReport,
    /// A separate validation file's records.
    pub valid: Option<Vec<LmRow>>,
    /// A test file's records, scored once with the kept model.
    pub test: Option<Vec<LmRow>>,
}

/// Labelled data, as read by [`crate::data::read_dataset`].
#[derive(Clone, Debug)]
pub struct LabelledData {
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
    /// Language modelling: how the data becomes examples.
    pub lm: LmOptions,
}

/// How language-modelling data becomes training examples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmOptions {
    /// Join plain texts (each ended by the end-of-text token) and cut them into blocks of
    /// the max length, instead of one padded example per text.
    pub packing: bool,
    /// Learn the prompts' and the user turns' tokens too, not only the completions' and
    /// the assistant turns'.
    pub train_on_prompt: bool,
    /// At each evaluation, answer every validation prompt greedily with at most this many
    /// new tokens and score the answers against the references (BLEU, ROUGE-L, exact
    /// match). `None`: only the loss and perplexity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_generations: Option<usize>,
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
    /// The data is not of the kind this model trains on.
    #[error("{0}")]
    Mismatch(String),
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
    /// Language modelling: packing and what is learnt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_modelling: Option<LmOptions>,
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
    pub validation: Option<Evaluation>,
    /// The kept weights on the test set.
    pub test: Option<Evaluation>,
}

/// What an evaluation of the kept weights measured: `metrics.json`'s `validation` and
/// `test`, each in its task's schema (as `webtune evaluate` prints it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Evaluation {
    /// A classifier's metrics.
    Classification(EvalReport),
    /// A language model's loss and perplexity.
    LanguageModel(LmEvaluation),
}

impl Evaluation {
    /// The classifier's metrics, when this is a classifier's evaluation.
    pub fn classification(&self) -> Option<&EvalReport> {
        match self {
            Self::Classification(r) => Some(r),
            Self::LanguageModel(_) => None,
        }
    }

    /// The loss.
    pub fn loss(&self) -> f64 {
        self.point().loss()
    }

    /// As the run log keeps it.
    pub fn point(&self) -> EvalPoint {
        match self {
            Self::Classification(r) => EvalPoint::Classification { loss: r.loss, accuracy: r.accuracy, macro_f1: r.macro_f1 },
            Self::LanguageModel(e) => EvalPoint::LanguageModel { loss: e.loss, perplexity: e.perplexity },
        }
    }

    /// One line for a terminal or a status bar.
    pub fn summary(&self) -> String {
        match self {
            Self::Classification(r) => format!("loss {:.4} · accuracy {:.4} · macro F1 {:.4}", r.loss, r.accuracy, r.macro_f1),
            Self::LanguageModel(e) => match &e.generation {
                Some(g) => format!("loss {:.4} · perplexity {:.3} · {} tokens · {}", e.loss, e.perplexity, e.tokens, g.summary()),
                None => format!("loss {:.4} · perplexity {:.3} · {} tokens", e.loss, e.perplexity, e.tokens),
            },
        }
    }
}

/// Which task a session trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// A classifier over labelled texts.
    SequenceClassification,
    /// A generative model's next-token prediction.
    CausalLanguageModelling,
}

impl TaskKind {
    /// `training_args.json`'s `task`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SequenceClassification => "sequence_classification",
            Self::CausalLanguageModelling => "causal_language_modeling",
        }
    }

    /// The metric that picks the best checkpoint unless the user chooses: accuracy for a
    /// classifier, the validation loss for a generative model (which measures nothing else).
    pub fn default_best_metric(self) -> crate::train::BestMetric {
        match self {
            Self::SequenceClassification => crate::train::BestMetric::Accuracy,
            Self::CausalLanguageModelling => crate::train::BestMetric::Loss,
        }
    }

    /// The run log's columns.
    pub fn log_kind(self) -> LogKind {
        match self {
            Self::SequenceClassification => LogKind::Classification,
            Self::CausalLanguageModelling => LogKind::LanguageModel,
        }
    }
}

/// Checks the valid split and applies the max-length policy to the settings.
fn check_plan(plan: &mut Plan, limit_policy: impl Fn(Option<usize>, usize) -> Result<MaxLength, CheckpointError>, default_length: usize) -> Result<MaxLength, SessionError> {
    if !(0.0..1.0).contains(&plan.valid_split) {
        return Err(SettingError {
            setting: Setting::ValidSplit,
            value: plan.valid_split.to_string(),
            reason: "it is a share of the training data, in [0, 1) (try 0.1)".into(),
        }
        .into());
    }
    let max_length = limit_policy(plan.max_length, default_length).map_err(|e| match e {
        CheckpointError::MaxLength { requested, available } => SessionError::Setting(SettingError {
            setting: Setting::MaxLength,
            value: requested.to_string(),
            reason: format!("the model takes at most {available} tokens (max_position_embeddings in config.json); choose {available} or less"),
        }),
        e => e.into(),
    })?;
    plan.settings.max_length = max_length.tokens;
    plan.settings.validate()?;
    Ok(max_length)
}

/// What both tasks' sessions share: where the run came from, what it was asked, what the
/// front end is told before training.
struct Common {
    sources: Sources,
    plan: Plan,
    max_length: MaxLength,
    notes: Vec<Note>,
    train_report: DataReport,
    examples: (usize, usize),
}

impl Common {
    /// `training_args.json` of this run.
    fn training_args(&self, task: TaskKind, model_type: &str, settings: TrainConfig, language_modelling: Option<LmOptions>) -> TrainingArgs {
        let sources = &self.sources;
        TrainingArgs {
            webtune_version: env!("CARGO_PKG_VERSION").to_string(),
            task: task.name().into(),
            base_model: sources.base_model.clone(),
            model_type: model_type.to_string(),
            train_file: sources.train.clone(),
            valid_file: sources.valid.clone(),
            valid_split: sources.valid.is_none().then_some(self.plan.valid_split),
            test_file: sources.test.clone(),
            device: sources.device.clone(),
            settings,
            language_modelling,
        }
    }

    /// The base model's fingerprints, taken once (at the first checkpoint) from `files`.
    fn fingerprint_model(&mut self, files: &ModelFiles) {
        if self.sources.fingerprints.model.is_empty() {
            self.sources.fingerprints.model = ["model.safetensors", "config.json", "tokenizer.json"]
                .iter()
                .filter_map(|name| files.get(name).map(|bytes| Fingerprint::of(*name, bytes)))
                .collect();
        }
    }
}

enum Kind {
    Classify(classify::Classify),
    Language(language::Language),
}

/// Runs `$body` with `$run` bound to the session's [`Run`], whichever the task.
macro_rules! with_run {
    ($kind:expr, $run:ident => $body:expr) => {
        match $kind {
            Kind::Classify(k) => {
                let $run = &k.run;
                $body
            }
            Kind::Language(k) => {
                let $run = &k.run;
                $body
            }
        }
    };
}

/// A prepared training run, of either task.
pub struct Session {
    common: Common,
    kind: Kind,
}

impl Session {
    /// Prepares a run on `device` (the plain device; training runs on its autodiff twin).
    /// Nothing runs on the device before the settings and the data are checked.
    pub async fn prepare(checkpoint: Pretrained, data: RunData, plan: Plan, sources: Sources, device: Device, host: &impl Host) -> Result<Self, SessionError> {
        match (checkpoint, data) {
            (Pretrained::Encoder(checkpoint), RunData::Labelled(data)) => {
                let (common, k) = classify::prepare(checkpoint, data, plan, sources, device, host).await?;
                Ok(Self { common, kind: Kind::Classify(k) })
            }
            (Pretrained::Causal(checkpoint), RunData::Language(data)) => {
                let (common, k) = language::prepare(checkpoint, data, plan, sources, device, host).await?;
                Ok(Self { common, kind: Kind::Language(k) })
            }
            (Pretrained::Encoder(c), RunData::Language(data)) => Err(SessionError::Mismatch(format!(
                "{} is {} model ({}): it classifies text, and {} holds {}; give it labelled data (a text and a label column), or pick a generative model (gpt2, llama, qwen2)",
                sources.base_model, "an encoder", c.config().family().model_type(), data.train_report.file, data.layout
            ))),
            (Pretrained::Causal(c), RunData::Labelled(data)) => Err(SessionError::Mismatch(format!(
                "{} is a generative model ({}): it learns to continue text, and {} is labelled data; give it text, prompt/completion or chat data, or pick an encoder to train a classifier",
                sources.base_model, c.config().model_type(), data.train_report.file
            ))),
        }
    }

    /// The task.
    pub fn task(&self) -> TaskKind {
        match self.kind {
            Kind::Classify(_) => TaskKind::SequenceClassification,
            Kind::Language(_) => TaskKind::CausalLanguageModelling,
        }
    }

    /// What the front end shows before training (leakage, truncation, notes on the model).
    pub fn notes(&self) -> &[Note] {
        &self.common.notes
    }

    /// The settings in use (with the max length the policy chose).
    pub fn settings(&self) -> &TrainConfig {
        with_run!(&self.kind, run => run.trainer.config())
    }

    /// How language-modelling data becomes examples (the default for a classifier).
    pub fn lm_options(&self) -> LmOptions {
        self.common.plan.lm
    }

    /// The max length in use, and whether a default was lowered.
    pub fn max_length(&self) -> MaxLength {
        self.common.max_length
    }

    /// The training file's report, with its token lengths.
    pub fn train_report(&self) -> &DataReport {
        &self.common.train_report
    }

    /// Label names in class-id order (none for language modelling).
    pub fn labels(&self) -> &[String] {
        match &self.kind {
            Kind::Classify(k) => k.run.trainer.labels(),
            Kind::Language(_) => &[],
        }
    }

    /// Training and validation examples (for packed text: blocks).
    pub fn examples(&self) -> (usize, usize) {
        self.common.examples
    }

    /// Optimizer steps in the whole run.
    pub fn total_steps(&self) -> usize {
        with_run!(&self.kind, run => run.trainer.total_steps())
    }

    /// Steps taken.
    pub fn steps_done(&self) -> usize {
        with_run!(&self.kind, run => run.trainer.steps_done())
    }

    /// Whether training has ended by itself (all epochs, early stopping or divergence).
    pub fn is_finished(&self) -> bool {
        with_run!(&self.kind, run => run.is_finished())
    }

    /// The run log: one row per step, with the evaluation on the steps that had one.
    pub fn log(&self) -> &[LogRow] {
        with_run!(&self.kind, run => &run.log)
    }

    /// Seconds spent in steps and evaluations so far.
    pub fn training_seconds(&self) -> f64 {
        with_run!(&self.kind, run => run.seconds)
    }

    /// The classifier as loaded, when its head was already trained for these labels and
    /// the plan asked to keep it.
    pub fn base(&self) -> Option<&SequenceClassifier> {
        match &self.kind {
            Kind::Classify(k) => k.base.as_ref(),
            Kind::Language(_) => None,
        }
    }

    /// Language modelling: each evaluation's scored validation answers, oldest first
    /// (empty unless [`LmOptions::score_generations`] asked for them).
    pub fn scored(&self) -> &[ScoredAnswers] {
        match &self.kind {
            Kind::Classify(_) => &[],
            Kind::Language(k) => &k.scored,
        }
    }

    /// Language modelling: what the model said to the fixed validation prompts at each
    /// evaluation, oldest first.
    pub fn samples(&self) -> &[Sample] {
        match &self.kind {
            Kind::Classify(_) => &[],
            Kind::Language(k) => &k.samples,
        }
    }

    /// Runs one optimizer step and appends the steps read back with it to the log (see
    /// [`StepProgress`]). A non-finite loss after training began ends the run (the last
    /// good weights are kept, and [`Session::finish`] says so); before any update it is an
    /// error with nothing to keep.
    pub async fn step(&mut self) -> Result<StepProgress, TrainError> {
        match &mut self.kind {
            Kind::Classify(k) => k.run.step().await,
            Kind::Language(k) => k.run.step().await,
        }
    }

    /// Reads back and logs the steps whose values are still on the device (the log is
    /// complete afterwards). A step found not finite ends the run, as in
    /// [`Session::step`]. Saving and finishing a run read back by themselves.
    pub async fn read_back(&mut self) -> Result<(), TrainError> {
        match &mut self.kind {
            Kind::Classify(k) => k.run.read_back().await,
            Kind::Language(k) => k.run.read_back().await,
        }
    }

    /// [`Session::read_back`] before saving or finishing: a divergence found then has
    /// already ended the run with its last good weights, which are what is saved.
    async fn settle(&mut self) -> Result<(), TrainError> {
        match self.read_back().await {
            Err(TrainError::NonFinite { .. }) if self.is_finished() => Ok(()),
            other => other,
        }
    }

    /// How often values are read back from now on ([`TrainConfig::log_every`]): it
    /// changes when the front end learns the loss, never what the run learns.
    pub fn set_log_every(&mut self, every: Option<usize>) {
        match &mut self.kind {
            Kind::Classify(k) => k.run.trainer.set_log_every(every),
            Kind::Language(k) => k.run.trainer.set_log_every(every),
        }
    }

    /// Evaluates on the validation set (when a step said it is due), records it on the
    /// log's last row, and returns its metrics. For language modelling it also lets the
    /// model answer the fixed validation prompts ([`Session::samples`]).
    pub async fn evaluate(&mut self) -> Result<Option<Evaluation>, TrainError> {
        match &mut self.kind {
            Kind::Classify(k) => Ok(k.run.evaluate(|e| Evaluation::Classification(e.report.clone())).await?),
            Kind::Language(k) => k.evaluate().await,
        }
    }

    /// The run's checkpoint at the current step, as files (see [`RunCheckpoint`] for what
    /// they hold): the front end writes them to a folder or the browser's storage. Reads
    /// the weights and the optimizer's moments back asynchronously; call it between steps,
    /// after the step's evaluation.
    pub async fn checkpoint(&mut self, host: &impl Host) -> Result<ModelFiles, SessionError> {
        self.settle().await?;
        let (task, step, total) = (self.task().name(), self.steps_done(), self.total_steps());
        match &self.kind {
            Kind::Classify(k) => self.common.fingerprint_model(k.source_files()),
            Kind::Language(k) => self.common.fingerprint_model(k.source_files()),
        }
        let common = &self.common;
        match &self.kind {
            Kind::Classify(k) => {
                let state = checkpoint::run_state(task, step, total, &common.plan, &common.sources, &k.run.log, k.run.seconds);
                checkpoint::assemble(k.checkpoint_parts(common).await?, state, host).await
            }
            Kind::Language(k) => {
                let mut state = checkpoint::run_state(task, step, total, &common.plan, &common.sources, &k.run.log, k.run.seconds);
                state.layout = Some(k.layout());
                state.samples = k.samples.clone();
                state.scored = k.scored.clone();
                checkpoint::assemble(k.checkpoint_parts(common).await?, state, host).await
            }
        }
    }

    /// Continues the run saved in `checkpoint` on `device` (described as `device_words` in
    /// the reports), with its data: the same files, which the front end has checked with
    /// [`RunCheckpoint::check_data`]. The model is built from the checkpoint's weights and
    /// the settings are the run's own; the steps that follow are those the uninterrupted
    /// run would have taken.
    pub async fn resume(checkpoint: &RunCheckpoint, data: RunData, device_words: String, device: Device, host: &impl Host) -> Result<Self, SessionError> {
        let state = checkpoint.state();
        let pretrained = Pretrained::from_files(checkpoint.model_files())?;
        let mut sources = state.sources.clone();
        sources.device = device_words;
        let mut session = Self::prepare(pretrained, data, state.plan(), sources, device, host).await?;
        if session.task().name() != state.task {
            return Err(SessionError::Mismatch(format!("{} is a checkpoint of a {} run, and its model is of another task", checkpoint.place(), state.task)));
        }
        match &mut session.kind {
            Kind::Classify(k) => k.restore(checkpoint)?,
            Kind::Language(k) => k.restore(checkpoint)?,
        }
        Ok(session)
    }

    /// Ends the run: the kept weights (the best evaluation's, else the last), scored on
    /// the validation set (the best evaluation when it is of the kept weights) and the
    /// test set. A run that did not end by itself ended because the front end stopped it.
    pub async fn finish(mut self) -> Result<Finished, SessionError> {
        self.settle().await?;
        match self.kind {
            Kind::Classify(k) => k.finish(self.common).await,
            Kind::Language(k) => k.finish(self.common).await,
        }
    }
}

/// What a finished run trained.
#[derive(Clone, Debug)]
pub enum Trained {
    /// A sequence classifier.
    Classifier {
        /// The kept weights, in validation mode.
        model: SequenceClassifier,
        /// The model as loaded (see [`Session::base`]).
        base: Option<SequenceClassifier>,
        /// Label names by class id.
        labels: Vec<String>,
        /// Validation examples the kept model got wrong, most confident first.
        mistakes: Vec<Mistake>,
        /// What loading the base model found.
        load: ClassifierReport,
    },
    /// A generative model.
    LanguageModel {
        /// The kept weights, in validation mode.
        model: CausalLm,
        /// The ids generation stops at (for chats: with the template's end of turn).
        stop_ids: Vec<u32>,
        /// What the model said to the fixed validation prompts at each evaluation.
        samples: Vec<Sample>,
        /// The kept weights' scored validation answers, when the run scored answers.
        answers: Option<ScoredAnswers>,
    },
}

/// A finished run: the kept model and everything its export holds.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The kept model, by task.
    pub trained: Trained,
    /// The tokenizer at the run's max length.
    pub tokenizer: TextTokenizer,
    /// Where the model lives.
    pub device: Device,
    /// The task.
    pub task: TaskKind,
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
    source: ModelFiles,
}

impl Finished {
    /// A generative model's chat template (from the files it was trained from), if any.
    pub fn chat_template(&self) -> Option<crate::checkpoint::ChatTemplate> {
        crate::checkpoint::ChatTemplate::from_files(self.source.get("tokenizer_config.json"), self.source.get("chat_template.jinja")).ok().flatten()
    }

    /// The token ids to continue for a playground's `text`: as one user message rendered
    /// with the chat template and its generation prompt when `chat`, else the text as the
    /// tokenizer encodes it. Errors are worded for the page.
    pub fn prompt_ids(&self, text: &str, chat: bool) -> Result<Vec<u32>, String> {
        let ids = if chat {
            let template = self.chat_template().ok_or("this model has no chat template; write a prompt to continue instead")?;
            let messages = [crate::checkpoint::Message { role: "user".into(), content: text.to_string() }];
            let rendered = template.render(&messages, true, None).map_err(|e| e.to_string())?;
            self.tokenizer.encode_verbatim(0, &rendered)
        } else {
            self.tokenizer.encode(0, &crate::checkpoint::TextInput::single(text)).map(|e| e.ids)
        }
        .map_err(|e| e.to_string())?;
        if ids.is_empty() {
            return Err("the prompt has no tokens; type some text".into());
        }
        Ok(ids)
    }

    /// A language model's scored validation answers (of the kept weights), worst first.
    pub fn answers(&self) -> Option<&ScoredAnswers> {
        match &self.trained {
            Trained::LanguageModel { answers, .. } => answers.as_ref(),
            Trained::Classifier { .. } => None,
        }
    }

    /// The classifier's label names (empty for a language model).
    pub fn labels(&self) -> &[String] {
        match &self.trained {
            Trained::Classifier { labels, .. } => labels,
            Trained::LanguageModel { .. } => &[],
        }
    }

    /// The classifier's validation mistakes (empty for a language model).
    pub fn mistakes(&self) -> &[Mistake] {
        match &self.trained {
            Trained::Classifier { mistakes, .. } => mistakes,
            Trained::LanguageModel { .. } => &[],
        }
    }

    /// The export bundle: a Hugging Face folder of the family's own layout with the run's
    /// reports. Reads the weights back asynchronously.
    pub async fn export(&self) -> Result<ModelFiles, ExportError> {
        let mut out = match &self.trained {
            Trained::Classifier { model, labels, .. } => {
                crate::export::export_classifier(model.named_tensors(), &self.source, labels, &self.training_args, &self.metrics).await?
            }
            Trained::LanguageModel { model, .. } => crate::export::export_causal_lm(model.named_tensors(), &self.source, &self.training_args, &self.metrics).await?,
        };
        out.insert("README.md", self.card.clone().into_bytes());
        out.insert("training_log.csv", self.log_csv.clone().into_bytes());
        Ok(out)
    }
}


