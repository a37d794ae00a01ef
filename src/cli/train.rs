//! `webtune train`: fine-tune a model and write a Hugging Face export. The task comes
//! from the checkpoint: an encoder learns to classify labelled texts, a generative model
//! (gpt2, llama, qwen2) to continue text, prompt/completion pairs or chats.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::inspect::{DataArgs, read_data, read_lm_data};
use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::Pretrained;
use crate::data::{DataReport, Reading, RowPolicy, Severity};
use crate::platform::{checkpoint_folders, read_model_folder, read_named_files, write_checkpoint_folder, write_model_folder};
use crate::session::{
    DataRole, Evaluation, Fingerprint, Fingerprints, Host, LabelledData, LanguageData, LmOptions, OPTIMIZER_FILE, Plan, ResumeError, RunCheckpoint, RunData, STATE_FILE, Session, SessionError, Sources, TaskKind,
};
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
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    model: Option<PathBuf>,
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
    /// Pad each batch to a multiple of N tokens (never past --max-length) instead of to
    /// its longest example: fewer distinct shapes, so fewer GPU kernels compiled (as
    /// transformers' pad_to_multiple_of). The loss is the same; 0 turns it off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pad_to_multiple_of: usize,
    /// Read the loss back from the device every N steps (all N in one transfer), or
    /// `auto`: about once a second. Every step is still logged, and the run learns the
    /// same; fewer reads let the GPU run ahead of the host.
    #[arg(long, value_name = "N|auto", default_value = "auto")]
    log_every: String,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
    /// Folder to write the fine-tuned model to (Hugging Face format) [default with
    /// --resume: the folder that holds the checkpoints].
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Save a checkpoint every N optimizer steps to OUT/checkpoint-N (the weights as a
    /// Hugging Face folder, the optimizer and trainer state): a run that is stopped or
    /// killed continues from it with --resume. Ctrl-C saves one too.
    #[arg(long, value_name = "N")]
    save_every: Option<usize>,
    /// Keep only the last K checkpoints (each holds the best weights so far, so the best
    /// model is never lost) [default: keep all].
    #[arg(long, value_name = "K")]
    save_total_limit: Option<usize>,
    /// Continue a run from a checkpoint: a checkpoint-N folder, or the output folder that
    /// holds them (its latest complete checkpoint is used). Give the same data files
    /// (--train, and --valid/--test if the run had them); the model and every setting
    /// come from the checkpoint.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
}

/// The flags a resumed run takes from its checkpoint instead (by clap id).
const RUN_SETTINGS: &[&str] = &[
    "epochs", "lr", "batch_size", "max_length", "warmup_ratio", "weight_decay", "grad_accum", "max_grad_norm", "schedule", "seed", "eval_every",
    "early_stopping", "best_metric", "packing", "train_on_prompt", "generate", "max_new_tokens", "valid_split", "task", "group_by_length", "pad_to_multiple_of",
    "text_column", "text_pair_column", "label_column", "format", "label_names", "skip_bad_rows",
];

fn setting(name: Setting, value: &str, reason: &str) -> CliError {
    CliError::Setting(crate::train::SettingError {
        setting: name,
        value: value.to_string(),
        reason: reason.to_string(),
    })
}

impl TrainArgs {
    /// `--log-every`: a number of steps, or `None` for auto.
    fn log_every(&self) -> Result<Option<usize>, CliError> {
        super::parse_log_every(&self.log_every)
    }

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
        let log_every = self.log_every()?;
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
            pad_to_multiple_of: self.pad_to_multiple_of,
            log_every,
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

/// The data files of a run.
struct DataFiles<'a> {
    train: &'a Path,
    valid: Option<&'a Path>,
    test: Option<&'a Path>,
}

impl DataFiles<'_> {
    /// Each file's fingerprint, by the name the run records.
    fn fingerprints(&self) -> Result<Fingerprints, CliError> {
        let of = |path: &Path| -> Result<Fingerprint, CliError> {
            let bytes = std::fs::read(path).map_err(|e| CliError::Input { path: path.display().to_string(), message: e.to_string() })?;
            Ok(Fingerprint::of(file_name(path), &bytes))
        };
        Ok(Fingerprints { train: Some(of(self.train)?), valid: self.valid.map(of).transpose()?, test: self.test.map(of).transpose()?, model: Vec::new() })
    }
}

/// Reads the data files for `task` as `reading` says, printing what was found and
/// refusing bad rows as its policy says.
fn read_run_data(files: &DataFiles<'_>, reading: &Reading, task: TaskKind) -> Result<RunData, CliError> {
    let policy = reading.policy;
    let check = |report: &DataReport| -> Result<(), CliError> {
        announce(report, policy);
        report.check(policy)?;
        Ok(())
    };
    Ok(match task {
        TaskKind::SequenceClassification => {
            let options = reading.options(true);
            let read = |path: &Path| -> Result<crate::data::Dataset, CliError> {
                let data = read_data(path, &options)?;
                check(&data.report)?;
                Ok(data)
            };
            let train = read(files.train)?;
            let valid = files.valid.map(read).transpose()?;
            let test = files.test.map(read).transpose()?;
            RunData::Labelled(LabelledData { train: train.examples, train_report: train.report, valid: valid.map(|d| d.examples), test: test.map(|d| d.examples) })
        }
        TaskKind::CausalLanguageModelling => {
            let options = reading.lm_options(true);
            let read = |path: &Path| -> Result<crate::data::LmDataset, CliError> {
                let data = read_lm_data(path, &options)?;
                check(&data.report)?;
                Ok(data)
            };
            let train = read(files.train)?;
            eprintln!("webtune: {}: {}", train.report.file, train.layout);
            let valid = files.valid.map(read).transpose()?;
            let test = files.test.map(read).transpose()?;
            RunData::Language(LanguageData { train: train.rows, layout: train.layout, train_report: train.report, valid: valid.map(|d| d.rows), test: test.map(|d| d.rows) })
        }
    })
}

/// Fine-tunes (or, with --resume, continues) and writes the export.
pub fn run(args: TrainArgs, matches: Option<&clap::ArgMatches>) -> Result<(), CliError> {
    let (session, out) = match &args.resume {
        Some(dir) => resume_session(&args, matches, dir)?,
        None => new_session(&args)?,
    };
    train_and_export(session, &args, &out)
}

/// Prepares a new run from the flags.
fn new_session(args: &TrainArgs) -> Result<(Session, PathBuf), CliError> {
    let model = args.model.as_deref().expect("clap requires --model without --resume");
    let out = args.out.clone().expect("clap requires --out without --resume");
    let load = || -> Result<Pretrained, CliError> { Ok(Pretrained::from_files(read_model_folder(model)?).map_err(crate::model::ModelError::from)?) };
    let task_of = |causal: bool| if causal { TaskKind::CausalLanguageModelling } else { TaskKind::SequenceClassification };
    // The task needs only config.json, so bad data is refused before the weights are read;
    // a folder without a readable config.json is loaded first, for its error.
    let (early, task) = match std::fs::read(model.join("config.json")) {
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
    let files = DataFiles { train: &args.train, valid: args.valid.as_deref(), test: args.test.as_deref() };
    let reading = args.data.reading()?;
    let data = read_run_data(&files, &reading, task)?;
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
        base_model: file_name(model),
        base_model_id: None,
        train: file_name(&args.train),
        valid: args.valid.as_deref().map(file_name),
        test: args.test.as_deref().map(file_name),
        device: format!("{:?}", args.device).to_lowercase(),
        fingerprints: files.fingerprints()?,
        reading,
    };
    let lm = LmOptions { packing: args.packing, train_on_prompt: args.train_on_prompt, score_generations: args.generate.then_some(args.max_new_tokens) };
    let plan = Plan { settings, max_length: args.max_length, valid_split: args.valid_split, keep_base: false, lm };
    let device = pick_device(args.device);
    let session = pollster::block_on(Session::prepare(checkpoint, data, plan, sources, device, &Terminal)).map_err(session_error)?;
    Ok((session, out))
}

/// The checkpoint to resume from `dir`: `dir` itself when it is one, else the latest of
/// its `checkpoint-N` folders that reads back whole (the ones that do not are named).
fn latest_checkpoint(dir: &Path) -> Result<RunCheckpoint, CliError> {
    let bad = |message: String| CliError::Input { path: dir.display().to_string(), message };
    if dir.join(STATE_FILE).is_file() {
        return read_checkpoint(dir).map_err(|e| bad(e.to_string()));
    }
    let mut found = checkpoint_folders(dir).map_err(|e| bad(e.to_string()))?;
    if found.is_empty() && (dir.join(OPTIMIZER_FILE).is_file() || dir.join("model.safetensors").is_file()) {
        // A checkpoint folder whose state file is gone (or a model folder).
        return Err(bad(ResumeError::NotACheckpoint { place: dir.display().to_string() }.to_string()));
    }
    if found.is_empty() {
        return Err(bad(format!("it holds no checkpoint (a checkpoint-N folder with {STATE_FILE}); save some with --save-every N, or point at a checkpoint folder")));
    }
    found.sort_by_key(|(step, _)| std::cmp::Reverse(*step));
    let mut refused = Vec::new();
    for (_, path) in &found {
        match read_checkpoint(path) {
            Ok(checkpoint) => {
                for e in &refused {
                    eprintln!("webtune: skipping a checkpoint: {e}");
                }
                return Ok(checkpoint);
            }
            Err(e) => refused.push(e.to_string()),
        }
    }
    Err(bad(format!("none of its {} checkpoints can be resumed: {}", found.len(), refused.join("; "))))
}

/// A checkpoint folder read and checked: its state file, then every file it lists.
fn read_checkpoint(dir: &Path) -> Result<RunCheckpoint, CliError> {
    let state = read_named_files(dir, &[STATE_FILE.to_string()])?;
    let listed = state.get(STATE_FILE).map(RunCheckpoint::listed_files).unwrap_or_default();
    let mut files = read_named_files(dir, &listed)?;
    if let Some(bytes) = state.get(STATE_FILE) {
        files.insert(STATE_FILE, bytes.to_vec());
    }
    pollster::block_on(RunCheckpoint::read(files, &Terminal)).map_err(|e| CliError::Input { path: dir.display().to_string(), message: e.to_string() })
}

/// Continues a run from its checkpoint, with the data given again.
fn resume_session(args: &TrainArgs, matches: Option<&clap::ArgMatches>, dir: &Path) -> Result<(Session, PathBuf), CliError> {
    if let Some(matches) = matches {
        for id in RUN_SETTINGS {
            if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                let flag = format!("--{}", id.replace('_', "-").replace("label-names", "label-name"));
                return Err(CliError::Input {
                    path: flag,
                    message: "a resumed run continues with its own settings and reads its data as it did; drop this flag, or start a new run (--model) to change it".into(),
                });
            }
        }
    }
    let started = std::time::Instant::now();
    let checkpoint = latest_checkpoint(dir)?;
    let state = checkpoint.state();
    let task = if state.task == TaskKind::CausalLanguageModelling.name() { TaskKind::CausalLanguageModelling } else { TaskKind::SequenceClassification };
    let files = DataFiles { train: &args.train, valid: args.valid.as_deref(), test: args.test.as_deref() };
    let given = files.fingerprints()?;
    let flag = |role: DataRole| match role {
        DataRole::Train => "--train",
        DataRole::Valid => "--valid",
        DataRole::Test => "--test",
    };
    for (role, fingerprint) in [(DataRole::Train, &given.train), (DataRole::Valid, &given.valid), (DataRole::Test, &given.test)] {
        checkpoint.check_data(role, fingerprint.as_ref()).map_err(|e| CliError::Input { path: flag(role).into(), message: e.to_string() })?;
    }
    let data = read_run_data(&files, &state.sources.reading, task)?;
    // Beside the checkpoints: the output folder of the run, unless another is given.
    let out = match &args.out {
        Some(out) => out.clone(),
        None if dir.join(STATE_FILE).is_file() => dir.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        None => dir.to_path_buf(),
    };
    let device = pick_device(args.device);
    let words = format!("{:?}", args.device).to_lowercase();
    let mut session = pollster::block_on(Session::resume(&checkpoint, data, words, device, &Terminal)).map_err(session_error)?;
    // When the loss is read back changes nothing the run learns: this run's flag holds.
    session.set_log_every(args.log_every()?);
    eprintln!(
        "webtune: resuming {} from {} at step {} of {} (saved {}; read, checked and restored in {:.1} s)",
        state.sources.base_model,
        checkpoint.place(),
        state.step,
        state.total_steps,
        saved_when(state.saved_at_ms),
        started.elapsed().as_secs_f64()
    );
    Ok((session, out))
}

/// A checkpoint's time, as seconds or hours ago.
fn saved_when(ms: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let seconds = now.saturating_sub(ms) / 1000;
    match seconds {
        0..120 => format!("{seconds} s ago"),
        120..7200 => format!("{} min ago", seconds / 60),
        _ => format!("{:.1} h ago", seconds as f64 / 3600.0),
    }
}

/// Set by Ctrl-C: the run saves a checkpoint after its current step and exits.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ctrl-C once: finish the step, save, exit. Twice: exit at once.
fn catch_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\nwebtune: interrupted again; exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nwebtune: interrupted; saving a checkpoint after this step (Ctrl-C again to exit at once)");
    });
}

/// Writes the session's checkpoint to `out/checkpoint-N` and prunes old ones.
fn save_checkpoint(session: &mut Session, out: &Path, keep: Option<usize>) -> Result<PathBuf, CliError> {
    let started = std::time::Instant::now();
    let files = pollster::block_on(session.checkpoint(&Terminal)).map_err(session_error)?;
    let dir = write_checkpoint_folder(&files, out, session.steps_done())?;
    let mut folders = checkpoint_folders(out).map_err(|e| CliError::Input { path: out.display().to_string(), message: e.to_string() })?;
    if let Some(keep) = keep {
        folders.sort_by_key(|(step, _)| std::cmp::Reverse(*step));
        for (_, old) in folders.iter().skip(keep.max(1)) {
            std::fs::remove_dir_all(old).map_err(|e| CliError::Input { path: old.display().to_string(), message: format!("cannot remove an old checkpoint: {e}") })?;
        }
    }
    eprintln!("webtune: saved {} ({:.1} MB in {:.1} s)", dir.display(), files.total_bytes() as f64 / 1e6, started.elapsed().as_secs_f64());
    Ok(dir)
}

/// Runs the session to its end, saving checkpoints as asked, and writes the export.
fn train_and_export(mut session: Session, args: &TrainArgs, out: &Path) -> Result<(), CliError> {
    if args.save_every == Some(0) {
        return Err(CliError::Flag { flag: "--save-every", value: "0".into(), reason: "it counts optimizer steps between checkpoints; give 1 or more (e.g. 500)" });
    }
    if args.save_total_limit == Some(0) {
        return Err(CliError::Flag { flag: "--save-total-limit", value: "0".into(), reason: "at least the last checkpoint is kept; give 1 or more" });
    }
    catch_interrupt();
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
    let what = match session.task() {
        TaskKind::SequenceClassification => format!("labels: {}", session.labels().join(", ")),
        TaskKind::CausalLanguageModelling => format!("language modelling{}", if session.lm_options().packing { " (packed)" } else { "" }),
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
    bar.set_position(session.steps_done() as u64);
    // A hidden bar (stderr is not a terminal: a log file, CI) drops its printlns.
    let say = |line: String| if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) };
    let mut diverged = None;
    while !session.is_finished() {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bar.finish_and_clear();
            let dir = save_checkpoint(&mut session, out, args.save_total_limit)?;
            return Err(CliError::Interrupted { checkpoint: dir });
        }
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
        // The latest step read back (losses come back every --log-every steps).
        if let Some(read) = step.logged.last() {
            bar.set_message(format!(
                "epoch {} · loss {:.4} (step {}) · lr {:.2e} · {:.1} samples/s",
                read.epoch, read.loss, read.step, read.learning_rate, read.samples_per_second
            ));
        }
        if step.eval_due {
            let samples_before = session.samples().len();
            if let Some(eval) = pollster::block_on(session.evaluate())? {
                say(format!("step {}: validation {}", step.step, eval.summary()));
                for sample in &session.samples()[samples_before..] {
                    say(format!("  line {}: {:?} → {:?}", sample.line, sample.prompt, sample.reply));
                }
            }
        }
        if let Some(every) = args.save_every
            && step.step.is_multiple_of(every)
            && !session.is_finished()
        {
            // The steps still on the device are checked before they are saved.
            match pollster::block_on(session.read_back()) {
                Ok(()) => {}
                Err(e @ crate::train::TrainError::NonFinite { .. }) => {
                    diverged = Some(e);
                    break;
                }
                Err(e) => return Err(e.into()),
            }
            bar.suspend(|| save_checkpoint(&mut session, out, args.save_total_limit))?;
        }
    }
    bar.finish_and_clear();
    let finished = pollster::block_on(session.finish()).map_err(session_error)?;
    let export = pollster::block_on(finished.export())?;
    write_model_folder(&export, out)?;
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
        eprintln!("webtune: wrote {which} (step {kept}) to {}", out.display());
        return Err(error.into());
    }
    eprintln!("webtune: wrote the fine-tuned model (weights of step {kept}) to {}", out.display());
    Ok(())
}
