//! `webtune train`: fine-tune a sequence classifier and write a Hugging Face export.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::{CardInfo, TextTokenizer, export_classifier, model_card};
use super::inspect::{DataArgs, read_data};
use crate::data::{DataReport, Finding, LabelSet, RowPolicy, Severity, TokenizedSet, compare_splits, stratified_split};
use crate::model::SequenceClassifier;
use crate::platform::{read_model_folder, write_model_folder};
use crate::train::{BestMetric, EvalReport, LogRow, Schedule, TrainConfig, Trainer, log_csv};

#[derive(Args)]
pub struct TrainArgs {
    /// Hugging Face model folder to start from.
    #[arg(long)]
    model: PathBuf,
    /// Training data: CSV/TSV with a header, JSON lines, or a JSON array of objects
    /// (see `webtune inspect`).
    #[arg(long)]
    train: PathBuf,
    /// Validation data (same format); without it, --valid-split of the training data is held out.
    #[arg(long)]
    valid: Option<PathBuf>,
    /// Share of the training data held out for validation (stratified, seeded) when there is no --valid.
    #[arg(long, default_value_t = 0.1)]
    valid_split: f64,
    /// Test data, scored once with the kept model after training ("test" in metrics.json).
    #[arg(long)]
    test: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Passes over the training data.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    /// Examples per optimizer step (per micro-batch with --grad-accum).
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch_size: usize,
    /// Truncate inputs to this many tokens.
    #[arg(long, default_value_t = TrainConfig::default().max_length)]
    max_length: usize,
    /// Share of steps warming the learning rate up.
    #[arg(long, default_value_t = TrainConfig::default().warmup_ratio)]
    warmup_ratio: f64,
    /// Decoupled weight decay (not on biases and LayerNorm).
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = TrainConfig::default().grad_accum)]
    grad_accum: usize,
    /// Clip gradients to this global norm (0: off).
    #[arg(long, default_value_t = TrainConfig::default().max_grad_norm)]
    max_grad_norm: f64,
    /// Learning-rate schedule after warmup: linear, cosine or constant.
    #[arg(long, default_value = "linear")]
    schedule: String,
    /// Seed for the split, shuffling, dropout and new weights.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Evaluate every N optimizer steps [default: at the end of each epoch].
    #[arg(long)]
    eval_every: Option<usize>,
    /// Stop after N evaluations without improvement.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Metric that picks the best checkpoint: accuracy, macro_f1 or loss.
    #[arg(long, default_value = "accuracy")]
    best_metric: String,
    /// Batch examples of similar length together.
    #[arg(long)]
    group_by_length: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
    /// Folder to write the fine-tuned model to (Hugging Face format).
    #[arg(long)]
    out: PathBuf,
}

fn setting(name: &'static str, value: &str, reason: &str) -> CliError {
    CliError::Setting(crate::train::SettingError {
        setting: name,
        value: value.to_string(),
        reason: reason.to_string(),
    })
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, CliError> {
        let schedule = match self.schedule.as_str() {
            "linear" => Schedule::Linear,
            "cosine" => Schedule::Cosine,
            "constant" => Schedule::Constant,
            other => return Err(setting("--schedule", other, "choose linear, cosine or constant")),
        };
        let best_metric = match self.best_metric.as_str() {
            "accuracy" => BestMetric::Accuracy,
            "macro_f1" => BestMetric::MacroF1,
            "loss" => BestMetric::Loss,
            other => return Err(setting("--best-metric", other, "choose accuracy, macro_f1 or loss")),
        };
        if !(0.0..1.0).contains(&self.valid_split) {
            return Err(setting("--valid-split", &self.valid_split.to_string(), "it is a share of the training data, in [0, 1)"));
        }
        let config = TrainConfig {
            learning_rate: self.lr,
            batch_size: self.batch_size,
            epochs: self.epochs,
            max_length: self.max_length,
            warmup_ratio: self.warmup_ratio,
            weight_decay: self.weight_decay,
            grad_accum: self.grad_accum,
            max_grad_norm: self.max_grad_norm,
            schedule,
            seed: self.seed,
            eval_every: self.eval_every,
            early_stopping_patience: self.early_stopping,
            best_metric,
            group_by_length: self.group_by_length,
            ..TrainConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

fn print_metrics(report: &EvalReport) {
    eprintln!("{:<20} {:>9} {:>9} {:>9} {:>8}", "label", "precision", "recall", "f1", "support");
    for c in &report.per_class {
        eprintln!("{:<20} {:>9.4} {:>9.4} {:>9.4} {:>8}", c.label, c.precision, c.recall, c.f1, c.support);
    }
    eprintln!(
        "accuracy {:.4} · macro F1 {:.4} · loss {:.4} · {} examples",
        report.accuracy, report.macro_f1, report.loss, report.examples
    );
}

/// Prints what was found in a data file: a summary, the warnings, and under the skip
/// policy the errors (rows left out). Under the fail policy the errors come with the
/// refusal instead.
fn announce(report: &DataReport, policy: RowPolicy) {
    eprintln!("webtune: {}: {} · {} rows, {} usable", report.file, report.format, report.rows, report.usable);
    for finding in &report.findings {
        if finding.severity == Severity::Warning || policy == RowPolicy::Skip {
            eprintln!("webtune: {}: {finding}", report.file);
        }
    }
}

fn announce_findings(file: &str, findings: &[Finding]) {
    for finding in findings {
        eprintln!("webtune: {file}: {finding}");
    }
}

pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let config = args.config()?;
    let options = args.data.options(true)?;
    let policy = args.data.policy();
    let train_data = read_data(&args.train, &options)?;
    announce(&train_data.report, policy);
    train_data.report.check(policy)?;
    let mut train_report = train_data.report;
    let (train_examples, valid_examples, valid_file) = match &args.valid {
        Some(path) => {
            let valid = read_data(path, &options)?;
            announce(&valid.report, policy);
            valid.report.check(policy)?;
            (train_data.examples, valid.examples, valid.report.file)
        }
        None if args.valid_split > 0.0 => {
            let (train, valid) = stratified_split(train_data.examples, args.valid_split, config.seed);
            (train, valid, train_report.file.clone())
        }
        None => (train_data.examples, Vec::new(), String::new()),
    };
    announce_findings(&valid_file, &compare_splits(&train_examples, &valid_examples, "validation"));
    let test_examples = match &args.test {
        Some(path) => {
            let test = read_data(path, &options)?;
            announce(&test.report, policy);
            test.report.check(policy)?;
            announce_findings(&test.report.file, &compare_splits(&train_examples, &test.examples, "test"));
            Some((test.report.file, test.examples))
        }
        None => None,
    };
    let labels = LabelSet::from_examples(&train_examples);
    let files = read_model_folder(&args.model)?;
    let device = pick_device(args.device);
    let (model, report, model_config) =
        SequenceClassifier::load(&files, &device.clone().autodiff(), Some(&labels.names), config.seed)?;
    if !report.newly_initialized.is_empty() {
        eprintln!("webtune: newly initialised (not in the checkpoint): {}", report.newly_initialized.join(", "));
    }
    let max_length = config.max_length.min(model_config.max_tokens());
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").map_err(crate::model::ModelError::from)?, max_length, model_config.pad_token_id())
        .map_err(crate::model::ModelError::from)?;
    let train_set = TokenizedSet::new(&train_examples, &labels, &tokenizer).map_err(crate::model::ModelError::from)?;
    train_report.add_lengths(&train_set.full_lengths, &train_set.lines, max_length);
    if let Some(lengths) = &train_report.lengths {
        eprintln!(
            "webtune: {}: token lengths: median {} · 95th percentile {} · longest {}",
            train_report.file, lengths.p50, lengths.p95, lengths.max
        );
    }
    let truncated: Vec<Finding> = train_report.findings.iter().filter(|f| f.kind == crate::data::FindingKind::Truncated).cloned().collect();
    announce_findings(&train_report.file, &truncated);
    let valid_set = if valid_examples.is_empty() {
        None
    } else {
        Some(TokenizedSet::new(&valid_examples, &labels, &tokenizer).map_err(crate::model::ModelError::from)?)
    };
    let label_names = report.labels.clone();
    let test_set = match &test_examples {
        Some((file, examples)) => {
            let set = TokenizedSet::new(examples, &labels, &tokenizer).map_err(crate::model::ModelError::from)?;
            if let Some(i) = set.labels.iter().position(Option::is_none) {
                return Err(CliError::Input {
                    path: format!("{file}:{}", set.lines[i]),
                    message: format!(
                        "label \"{}\" does not occur in the training data ({}); a test label must be one the model learns",
                        examples[i].label.as_deref().unwrap_or(""),
                        labels.names.join(", ")
                    ),
                });
            }
            Some(set)
        }
        None => None,
    };
    eprintln!(
        "webtune: {} training / {} validation examples, labels: {} · lr {} · batch {} × {} · {} epochs · max length {}",
        train_set.len(),
        valid_set.as_ref().map_or(0, TokenizedSet::len),
        label_names.join(", "),
        config.learning_rate,
        config.batch_size,
        config.grad_accum,
        config.epochs,
        max_length
    );
    let mut trainer = Trainer::new(model, label_names.clone(), train_set, valid_set, config.clone(), device.clone())?;
    let bar = ProgressBar::new(trainer.total_steps() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps · {msg} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last_eval = None;
    let mut diverged = None;
    let mut log: Vec<LogRow> = Vec::new();
    let mut elapsed = 0.0;
    while !trainer.is_finished() {
        let step = match pollster::block_on(trainer.step()) {
            Ok(step) => step,
            // Nothing was learned: there is nothing to export, and a GPU fault is the likely cause.
            Err(e) if e.before_any_update() => {
                bar.finish_and_clear();
                let hint = match args.device {
                    DeviceChoice::Cpu => "",
                    _ => "; add --device cpu to train on the CPU",
                };
                return Err(CliError::NothingTrained { error: e, hint });
            }
            // Keep what was learned: export the best (or last good) weights, then report.
            Err(e @ crate::train::TrainError::NonFinite { .. }) => {
                diverged = Some(e);
                break;
            }
            Err(e) => return Err(e.into()),
        };
        elapsed += step.seconds;
        log.push(LogRow::from_step(&step, elapsed));
        bar.set_position(step.step as u64);
        bar.set_message(format!(
            "epoch {} · loss {:.4} · lr {:.2e} · {:.1} samples/s",
            step.epoch, step.loss, step.learning_rate, step.samples_per_second
        ));
        if step.eval_due {
            let started = web_time::Instant::now();
            let eval = pollster::block_on(trainer.evaluate())?;
            elapsed += started.elapsed().as_secs_f64();
            if let Some(eval) = eval {
                if let Some(row) = log.last_mut() {
                    row.set_eval(&eval);
                }
                bar.println(format!(
                    "step {}: validation loss {:.4} · accuracy {:.4} · macro F1 {:.4}",
                    step.step, eval.loss, eval.accuracy, eval.macro_f1
                ));
                last_eval = Some(eval);
            }
        }
    }
    bar.finish_and_clear();
    let final_metrics = trainer.best().map(|b| b.report.clone()).or(last_eval);
    let model = trainer.model_for_export();
    let test_metrics = match &test_set {
        Some(set) => Some(pollster::block_on(crate::train::evaluate_examples(&model, set, &label_names, config.batch_size, &device))?),
        None => None,
    };
    let metrics = serde_json::json!({
        "best_step": trainer.best().map(|b| b.step),
        "steps": trainer.steps_done(),
        "stop_reason": trainer.stop_reason(),
        "validation": final_metrics,
        "test": test_metrics,
    });
    let training_args = serde_json::json!({
        "webtune_version": env!("CARGO_PKG_VERSION"),
        "base_model": args.model.display().to_string(),
        "train_file": args.train.display().to_string(),
        "valid_file": args.valid.as_ref().map(|p| p.display().to_string()),
        "valid_split": if args.valid.is_none() { Some(args.valid_split) } else { None },
        "test_file": args.test.as_ref().map(|p| p.display().to_string()),
        "settings": config,
    });
    let mut export = pollster::block_on(export_classifier(model.named_tensors(), &files, &label_names, &training_args, &metrics))?;
    let card = model_card(&CardInfo {
        base_model: args.model.display().to_string(),
        base_model_id: None,
        data_source: args.train.display().to_string(),
        train_rows: train_examples.len(),
        valid_rows: valid_examples.len(),
        label_counts: labels.names.iter().cloned().zip(labels.counts.iter().copied()).collect(),
        pairs: train_examples.iter().any(|e| e.pair.is_some()),
        settings: config.clone(),
        steps: (trainer.steps_done(), trainer.best().map_or(trainer.steps_done(), |b| b.step)),
        metrics: final_metrics.clone(),
    });
    export.insert("README.md", card.into_bytes());
    export.insert("training_log.csv", log_csv(&log).into_bytes());
    write_model_folder(&export, &args.out)?;
    match &final_metrics {
        Some(report) => print_metrics(report),
        None => eprintln!("webtune: no validation set, so no validation metrics; evaluate with `webtune evaluate`"),
    }
    if let Some(test) = &test_metrics {
        eprintln!("test ({} examples): accuracy {:.4} · macro F1 {:.4} · loss {:.4}", test.examples, test.accuracy, test.macro_f1, test.loss);
    }
    if let Some(error) = diverged {
        eprintln!("webtune: wrote the last good weights (step {}) to {}", trainer.steps_done(), args.out.display());
        return Err(error.into());
    }
    eprintln!("webtune: wrote the fine-tuned model to {}", args.out.display());
    Ok(())
}
