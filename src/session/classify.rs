//! Sequence classification: labels, the held-out leakage check, test scoring and the
//! validation mistakes.

use burn::module::Module;
use burn::tensor::Device;

use super::checkpoint::{Parts, RunCheckpoint};
use super::run::Run;
use super::{Common, Evaluation, Finished, Host, LabelledData, Note, Plan, RunMetrics, SessionError, Sources, TaskKind, Trained, TrainingArgs, check_plan};
use crate::checkpoint::{Checkpoint, TextTokenizer};
use crate::data::{Example, FindingKind, LabelSet, TokenizedSet, compare_splits, stratified_split};
use crate::export::{CardInfo, ExportError, export_classifier, model_card, safetensors_bytes};
use crate::model::{ClassifierReport, ModelError, SequenceClassifier};
use crate::train::{LogKind, Prediction, SequenceClassification, TrainConfig, Trainer, log_csv, score};

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
pub(super) struct Classify {
    pub run: Run<SequenceClassification>,
    checkpoint: Checkpoint,
    labels: LabelSet,
    tokenizer: TextTokenizer,
    load: ClassifierReport,
    train_examples: Vec<Example>,
    valid_examples: Vec<Example>,
    test: Option<(Vec<Example>, TokenizedSet)>,
    pub base: Option<SequenceClassifier>,
}

/// Prepares a classification run (see [`super::Session::prepare`]).
pub(super) async fn prepare(checkpoint: Checkpoint, data: LabelledData, mut plan: Plan, sources: Sources, device: Device, host: &impl Host) -> Result<(Common, Classify), SessionError> {
    let max_length = check_plan(&mut plan, |r, d| checkpoint.max_length(r, d), TrainConfig::default().max_length)?;
    let config = plan.settings.clone();
    let mut notes = Vec::new();
    if let Some(message) = max_length.note() {
        notes.push(Note { file: String::new(), finding: None, message });
    }
    let LabelledData { train, mut train_report, valid, test } = data;
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
    let common = Common { sources, plan, max_length, notes, train_report, examples: (train.len(), valid.len()) };
    Ok((common, Classify { run: Run::new(trainer), checkpoint, labels, tokenizer, load, train_examples: train, valid_examples: valid, test, base }))
}

impl Classify {
    /// The files the run started from.
    pub(super) fn source_files(&self) -> &crate::checkpoint::ModelFiles {
        self.checkpoint.files()
    }

    fn training_args(&self, common: &Common) -> TrainingArgs {
        common.training_args(TaskKind::SequenceClassification, self.checkpoint.config().family().model_type(), self.run.trainer.config().clone(), None)
    }

    /// The files of a checkpoint at the current step (see [`super::checkpoint`]).
    pub(super) async fn checkpoint_parts(&self, common: &Common) -> Result<Parts, SessionError> {
        let trainer = &self.run.trainer;
        let model = trainer.current_model();
        let export = export_classifier(model.named_tensors(), self.checkpoint.files(), trainer.labels(), &self.training_args(common), &serde_json::Value::Null).await?;
        let best = match trainer.best() {
            Some(best) => Some(safetensors_bytes(best.model.named_tensors()).await?),
            None => None,
        };
        let state = serde_json::to_value(trainer.state()).map_err(|e| ExportError::Encode { file: super::STATE_FILE.into(), message: e.to_string() })?;
        Ok(Parts { export, trainer: state, moments: trainer.moment_tensors()?, best })
    }

    /// Continues from `checkpoint`, whose weights this run was prepared from.
    pub(super) fn restore(&mut self, checkpoint: &RunCheckpoint) -> Result<(), SessionError> {
        let state = serde_json::from_value(checkpoint.state().trainer.clone()).map_err(|e| SessionError::Mismatch(format!("{}/{}: the trainer's state is unreadable ({e}); resume from an earlier checkpoint", checkpoint.place(), super::STATE_FILE)))?;
        let best = match checkpoint.best_files() {
            Some(files) => {
                let seed = self.run.trainer.config().seed;
                let (model, _) = SequenceClassifier::load(&Checkpoint::from_files(files)?, self.run.device(), Some(self.run.trainer.labels()), seed)?;
                Some(model)
            }
            None => None,
        };
        let mut moments = checkpoint.moments()?;
        self.run.trainer.restore(state, |name| moments.remove(name), best)?;
        self.run.restore(checkpoint.state());
        Ok(())
    }

    pub(super) async fn finish(self, common: Common) -> Result<Finished, SessionError> {
        let run = &self.run;
        let steps = run.trainer.steps_done();
        let stop_reason = run.ended();
        let device = run.device().clone();
        let batch = run.trainer.config().batch_size;
        let kept = run.kept().await?;
        let test = match &self.test {
            Some((_, set)) => Some(Evaluation::Classification(score(&kept.model, set, &self.labels.names, batch, &device).await?.0)),
            None => None,
        };
        let metrics = RunMetrics {
            steps,
            best_step: run.trainer.best().map(|b| b.step),
            kept_step: kept.step,
            stop_reason,
            training_seconds: run.seconds,
            validation: kept.validation.as_ref().map(|v| Evaluation::Classification(v.report.clone())),
            test,
        };
        let settings = run.trainer.config().clone();
        let sources = &common.sources;
        let training_args = self.training_args(&common);
        let card = model_card(&CardInfo {
            base_model: sources.base_model.clone(),
            base_model_id: sources.base_model_id.clone(),
            data_source: sources.train.clone(),
            train_rows: self.train_examples.len(),
            valid_rows: self.valid_examples.len(),
            label_counts: self.labels.names.iter().cloned().zip(self.labels.counts.iter().copied()).collect(),
            pairs: self.train_examples.iter().any(|e| e.pair.is_some()),
            settings,
            steps: (steps, kept.step),
            metrics: metrics.validation.as_ref().and_then(Evaluation::classification).cloned(),
        });
        let mistakes = match &kept.validation {
            Some(v) => mistakes(&self.valid_examples, &v.predictions),
            None => Vec::new(),
        };
        let labels = run.trainer.labels().to_vec();
        Ok(Finished {
            trained: Trained::Classifier { model: kept.model, base: self.base, labels, mistakes, load: self.load },
            tokenizer: self.tokenizer,
            device,
            task: TaskKind::SequenceClassification,
            log_csv: log_csv(&run.log, LogKind::Classification),
            log: self.run.log,
            training_args,
            metrics,
            card,
            source: self.checkpoint.files().clone(),
        })
    }
}

/// A validation example the kept model got wrong.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

