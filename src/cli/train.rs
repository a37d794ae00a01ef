//! `webtune train`: fine-tune a model and write a Hugging Face export. The task comes
//! from the checkpoint: an encoder learns to classify labelled texts, a generative model
//! (gpt2, llama, qwen2) to continue text, prompt/completion pairs or chats.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::inspect::{DataArgs, read_data, read_lm_data};
use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::Pretrained;
use crate::data::{DataReport, RowPolicy, Severity};
use crate::platform::{read_model_folder, write_model_folder};
use crate::session::{Evaluation, Host, LabelledData, LanguageData, LmOptions, Plan, RunData, Session, SessionError, Sources, TaskKind};
use crate::train::{BestMetric, EvalReport, Schedule, Setting, TrainConfig};

/// The task a run trains, when named with `--task`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskFlag {
    /// A classifier over labelled texts (an encoder: bert, distilbert, roberta, …).
    Classification,
    /// Next-token prediction (a generative model: gpt2, llama, qwen2).
    LanguageModelling,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Hugging Face model folder to start from.
    #[arg(long)]
    model: PathBuf,
    /// Training data: CSV/TSV with a header, JSON lines, or a JSON array of objects
    /// (see `webtune inspect`). A classifier needs a text and a label column; a generative
    /// model takes `text` (or a .txt file), `prompt` + `completion`, `messages` (chats) or
    /// `instruction` + `input` + `output`.
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
    /// Truncate inputs to this many tokens [default: 128 for a classifier, 512 for a
    /// generative model, or the model's limit if smaller; more than the model's limit is refused].
    #[arg(long)]
    max_length: Option<usize>,
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
    /// Metric that picks the best checkpoint: accuracy, macro_f1 or loss [default: accuracy
    /// for a classifier; a generative model has only loss].
    #[arg(long)]
    best_metric: Option<String>,
    /// Generative models: join plain texts (each ended by the end-of-text token) into
    /// blocks of --max-length tokens instead of padding each text.
    #[arg(long)]
    packing: bool,
    /// Generative models: learn the prompts and user turns too, not only the completions
    /// and assistant turns.
    #[arg(long)]
    train_on_prompt: bool,
    /// Generative models: at each evaluation, answer every validation prompt greedily and
    /// score the answers against the references (BLEU, ROUGE-L, exact match; needs
    /// prompt/completion or chat data).
    #[arg(long)]
    generate: bool,
    /// Generative models, with --generate: most new tokens per answer.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// The task [default: from the checkpoint: an encoder classifies, a generative model
    /// learns language modelling]. Every supported checkpoint trains one task, so a task it
    /// cannot train is refused before any data is read.
    #[arg(long, value_enum)]
    task: Option<TaskFlag>,
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

fn setting(name: Setting, value: &str, reason: &str) -> CliError {
    CliError::Setting(crate::train::SettingError {
        setting: name,
        value: value.to_string(),
        reason: reason.to_string(),
    })
}

impl TrainArgs {
    fn config(&self, task: TaskKind) -> Result<TrainConfig, CliError> {
        let schedule = match self.schedule.as_str() {
            "linear" => Schedule::Linear,
            "cosine" => Schedule::Cosine,
            "constant" => Schedule::Constant,
            other => return Err(setting(Setting::Schedule, other, "choose linear, cosine or constant")),
        };
        let best_metric = match self.best_metric.as_deref().unwrap_or(task.default_best_metric().name()) {
            "accuracy" if task == TaskKind::CausalLanguageModelling => {
                return Err(setting(Setting::BestMetric, "accuracy", "a generative model is measured by its loss; choose loss"));
            }
            "macro_f1" if task == TaskKind::CausalLanguageModelling => {
                return Err(setting(Setting::BestMetric, "macro_f1", "a generative model is measured by its loss; choose loss"));
            }
            "accuracy" => BestMetric::Accuracy,
            "macro_f1" => BestMetric::MacroF1,
            "loss" => BestMetric::Loss,
            other => return Err(setting(Setting::BestMetric, other, "choose accuracy, macro_f1 or loss")),
        };
        let config = TrainConfig {
            learning_rate: self.lr,
            batch_size: self.batch_size,
            epochs: self.epochs,
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

/// The CLI's host: nothing to show while preparing, no page to let breathe.
struct Terminal;

impl Host for Terminal {
    fn preparing(&self, _what: &str) {}
    async fn breathe(&self) {}
}

/// A path's last component, as the studio names files and folders.
fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn session_error(e: SessionError) -> CliError {
    match e {
        SessionError::Setting(e) => CliError::Setting(e),
        SessionError::Checkpoint(e) => CliError::Model(e.into()),
        SessionError::Model(e) => CliError::Model(e),
        SessionError::Row { file, line, message } => CliError::Input { path: format!("{file}:{line}"), message },
        SessionError::Train(e) => e.into(),
        SessionError::Export(e) => CliError::Export(e),
        SessionError::Mismatch(message) => CliError::Input { path: "--train".into(), message },
    }
}

/// Reads the data files for `task`, printing what was found and refusing bad rows as
/// the policy says.
fn read_run_data(args: &TrainArgs, task: TaskKind) -> Result<RunData, CliError> {
    let policy = args.data.policy();
    let check = |report: &DataReport| -> Result<(), CliError> {
        announce(report, policy);
        report.check(policy)?;
        Ok(())
    };
    Ok(match task {
        TaskKind::SequenceClassification => {
            let options = args.data.options(true)?;
            let read = |path: &std::path::PathBuf| -> Result<crate::data::Dataset, CliError> {
                let data = read_data(path, &options)?;
                check(&data.report)?;
                Ok(data)
            };
            let train = read(&args.train)?;
            let valid = args.valid.as_ref().map(read).transpose()?;
            let test = args.test.as_ref().map(read).transpose()?;
            RunData::Labelled(LabelledData { train: train.examples, train_report: train.report, valid: valid.map(|d| d.examples), test: test.map(|d| d.examples) })
        }
        TaskKind::CausalLanguageModelling => {
            let options = args.data.lm_options(true)?;
            let read = |path: &std::path::PathBuf| -> Result<crate::data::LmDataset, CliError> {
                let data = read_lm_data(path, &options)?;
                check(&data.report)?;
                Ok(data)
            };
            let train = read(&args.train)?;
            eprintln!("webtune: {}: {}", train.report.file, train.layout);
            let valid = args.valid.as_ref().map(read).transpose()?;
            let test = args.test.as_ref().map(read).transpose()?;
            RunData::Language(LanguageData { train: train.rows, layout: train.layout, train_report: train.report, valid: valid.map(|d| d.rows), test: test.map(|d| d.rows) })
        }
    })
}

pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let load = || -> Result<Pretrained, CliError> { Ok(Pretrained::from_files(read_model_folder(&args.model)?).map_err(crate::model::ModelError::from)?) };
    let task_of = |causal: bool| if causal { TaskKind::CausalLanguageModelling } else { TaskKind::SequenceClassification };
    // The task needs only config.json, so bad data is refused before the weights are read;
    // a folder without a readable config.json is loaded first, for its error.
    let (early, task) = match std::fs::read(args.model.join("config.json")) {
        Ok(config) => (None, task_of(Pretrained::is_causal_config(&config))),
        Err(_) => {
            let checkpoint = load()?;
            let causal = matches!(checkpoint, Pretrained::Causal(_));
            (Some(checkpoint), task_of(causal))
        }
    };
    match (args.task, task) {
        (Some(TaskFlag::LanguageModelling), TaskKind::SequenceClassification) => {
            return Err(CliError::Flag { flag: "--task", value: "language-modelling".into(), reason: "this model is an encoder (its config.json names no generative architecture), which classifies text; choose --task classification, or a gpt2, llama or qwen2 model" });
        }
        (Some(TaskFlag::Classification), TaskKind::CausalLanguageModelling) => {
            return Err(CliError::Flag { flag: "--task", value: "classification".into(), reason: "this model is generative (gpt2, llama or qwen2) and webtune trains it to continue text; choose --task language-modelling, or an encoder (bert, roberta, …) to train a classifier" });
        }
        _ => {}
    }
    if task == TaskKind::SequenceClassification {
        for (given, flag) in [(args.packing, "--packing"), (args.train_on_prompt, "--train-on-prompt"), (args.generate, "--generate")] {
            if given {
                return Err(CliError::Flag { flag, value: "given".into(), reason: "it is for generative models (gpt2, llama, qwen2); this model is an encoder that classifies" });
            }
        }
    }
    let settings = args.config(task)?;
    let data = read_run_data(&args, task)?;
    if let RunData::Language(data) = &data
        && args.generate
        && data.layout == crate::data::LmLayout::Text
    {
        return Err(CliError::Flag { flag: "--generate", value: "given".into(), reason: "plain text has no answers to score; drop it, or train on prompt/completion or chat data" });
    }
    let checkpoint = match early {
        Some(checkpoint) => checkpoint,
        None => load()?,
    };
    let sources = Sources {
        base_model: file_name(&args.model),
        base_model_id: None,
        train: file_name(&args.train),
        valid: args.valid.as_deref().map(file_name),
        test: args.test.as_deref().map(file_name),
        device: format!("{:?}", args.device).to_lowercase(),
    };
    let lm = LmOptions { packing: args.packing, train_on_prompt: args.train_on_prompt, score_generations: args.generate.then_some(args.max_new_tokens) };
    let plan = Plan { settings, max_length: args.max_length, valid_split: args.valid_split, keep_base: false, lm };
    let device = pick_device(args.device);
    let mut session = pollster::block_on(Session::prepare(checkpoint, data, plan, sources, device, &Terminal)).map_err(session_error)?;
    for note in session.notes() {
        eprintln!("webtune: {note}");
    }
    if let Some(lengths) = &session.train_report().lengths {
        eprintln!(
            "webtune: {}: token lengths: median {} · 95th percentile {} · longest {}",
            session.train_report().file, lengths.p50, lengths.p95, lengths.max
        );
    }
    let config = session.settings().clone();
    let (train_rows, valid_rows) = session.examples();
    let what = match task {
        TaskKind::SequenceClassification => format!("labels: {}", session.labels().join(", ")),
        TaskKind::CausalLanguageModelling => format!("language modelling{}", if args.packing { " (packed)" } else { "" }),
    };
    eprintln!(
        "webtune: {train_rows} training / {valid_rows} validation examples, {what} · lr {} · batch {} × {} · {} epochs · max length {}",
        config.learning_rate,
        config.batch_size,
        config.grad_accum,
        config.epochs,
        config.max_length
    );
    let bar = ProgressBar::new(session.total_steps() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps · {msg} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut diverged = None;
    while !session.is_finished() {
        let step = match pollster::block_on(session.step()) {
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
            // Keep what was learned: the session exports the best (or last good) weights.
            Err(e @ crate::train::TrainError::NonFinite { .. }) => {
                diverged = Some(e);
                break;
            }
            Err(e) => return Err(e.into()),
        };
        bar.set_position(step.step as u64);
        bar.set_message(format!(
            "epoch {} · loss {:.4} · lr {:.2e} · {:.1} samples/s",
            step.epoch, step.loss, step.learning_rate, step.samples_per_second
        ));
        if step.eval_due {
            let samples_before = session.samples().len();
            if let Some(eval) = pollster::block_on(session.evaluate())? {
                // A hidden bar (stderr is not a terminal: a log file, CI) drops its printlns.
                let say = |line: String| if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) };
                say(format!("step {}: validation {}", step.step, eval.summary()));
                for sample in &session.samples()[samples_before..] {
                    say(format!("  line {}: {:?} → {:?}", sample.line, sample.prompt, sample.reply));
                }
            }
        }
    }
    bar.finish_and_clear();
    let finished = pollster::block_on(session.finish()).map_err(session_error)?;
    let export = pollster::block_on(finished.export())?;
    write_model_folder(&export, &args.out)?;
    match &finished.metrics.validation {
        Some(Evaluation::Classification(report)) => print_metrics(report),
        Some(e @ Evaluation::LanguageModel(_)) => {
            eprintln!("validation: {}", e.summary());
            if let Some(answers) = finished.answers() {
                let wrong: Vec<_> = answers.answers.iter().filter(|a| !a.exact).take(3).collect();
                if !wrong.is_empty() {
                    eprintln!("webtune: the worst validation answers:");
                }
                for a in wrong {
                    eprintln!("  line {}: {:?} → {:?} (expected {:?}, ROUGE-L {:.3})", a.line, a.prompt, a.prediction, a.reference, a.rouge_l);
                }
            }
        }
        None => eprintln!("webtune: no validation set, so no validation metrics; evaluate with `webtune evaluate`"),
    }
    if let Some(test) = &finished.metrics.test {
        let n = match test {
            Evaluation::Classification(r) => format!("{} examples", r.examples),
            Evaluation::LanguageModel(e) => format!("{} tokens", e.tokens),
        };
        eprintln!("test ({n}): {}", test.summary());
    }
    let kept = finished.metrics.kept_step;
    if let Some(error) = diverged {
        let which = if finished.metrics.best_step.is_some() { "the best weights" } else { "the last good weights" };
        eprintln!("webtune: wrote {which} (step {kept}) to {}", args.out.display());
        return Err(error.into());
    }
    eprintln!("webtune: wrote the fine-tuned model (weights of step {kept}) to {}", args.out.display());
    Ok(())
}
