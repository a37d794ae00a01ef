//! The native command-line tool: one file per command.

mod bench;
mod device;
mod embed;
mod evaluate;
mod evaluate_lm;
mod generate;
mod inspect;
mod lm_data;
mod predict;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use device::{DeviceChoice, pick_device};

/// Why a command failed; printed as `error: …` with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The model folder cannot be read.
    #[error(transparent)]
    Folder(#[from] crate::platform::FolderError),
    /// The model cannot be loaded or run.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// An input file is unusable.
    #[error("{path}: {message}")]
    Input {
        /// The file (and line, where known).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An impossible setting, named by its flag.
    #[error("{}", .0.worded(flag))]
    Setting(#[from] crate::train::SettingError),
    /// A flag of the CLI alone (no training setting) has an impossible value.
    #[error("setting {flag} = {value} is impossible: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What would work.
        reason: &'static str,
    },
    /// The data file is unusable; the flags that fix it are named.
    #[error("{}", .0.worded(&data_flag))]
    Data(#[from] crate::data::DataError),
    /// Training cannot go on.
    #[error(transparent)]
    Train(crate::train::TrainError),
    /// Training failed at its first step, before any update: nothing was written.
    #[error("{error}{hint}; nothing was written")]
    NothingTrained {
        /// Why.
        error: crate::train::TrainError,
        /// What to try, in the CLI's words.
        hint: &'static str,
    },
    /// The export could not be written.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// Writing the output failed.
    #[error("writing output failed: {0}")]
    Output(#[from] std::io::Error),
    /// Ctrl-C stopped training after a checkpoint was saved.
    #[error("interrupted; the run is saved in {}: continue it with `webtune train --resume {}` and the same data files", checkpoint.display(), checkpoint.parent().unwrap_or(checkpoint).display())]
    Interrupted {
        /// The checkpoint written.
        checkpoint: std::path::PathBuf,
    },
}

impl From<crate::train::TrainError> for CliError {
    fn from(e: crate::train::TrainError) -> Self {
        match e {
            crate::train::TrainError::Setting(e) => Self::Setting(e),
            e => Self::Train(e),
        }
    }
}

/// `--log-every N|auto`: a number of steps ≥ 1, or `None` for auto.
pub(crate) fn parse_log_every(value: &str) -> Result<Option<usize>, CliError> {
    match value.trim() {
        "auto" => Ok(None),
        n => match n.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(CliError::Setting(crate::train::SettingError {
                setting: crate::train::Setting::LogEvery,
                value: n.to_string(),
                reason: "read the loss back every N ≥ 1 steps (e.g. 10), or auto (about once a second)".into(),
            })),
        },
    }
}

/// A setting as the CLI spells it: its flag (settings without one by their plain name).
pub(crate) fn flag(setting: crate::train::Setting) -> &'static str {
    use crate::train::Setting::*;
    match setting {
        Epochs => "--epochs",
        LearningRate => "--lr",
        BatchSize => "--batch-size",
        MaxLength => "--max-length",
        WarmupRatio => "--warmup-ratio",
        WeightDecay => "--weight-decay",
        GradAccum => "--grad-accum",
        MaxGradNorm => "--max-grad-norm",
        Schedule => "--schedule",
        Seed => "--seed",
        EvalEvery => "--eval-every",
        EarlyStopping => "--early-stopping",
        BestMetric => "--best-metric",
        ValidSplit => "--valid-split",
        Packing => "--packing",
        MaxNewTokens => "--max-new-tokens",
        LogEvery => "--log-every",
        other => other.name(),
    }
}

/// A data option as the CLI spells it.
fn data_flag(field: crate::data::DataField) -> &'static str {
    match field {
        crate::data::DataField::TextColumn => "--text-column",
        crate::data::DataField::LabelColumn => "--label-column",
        crate::data::DataField::SkipBadRows => "--skip-bad-rows",
    }
}

#[derive(Parser)]
#[command(name = "webtune", version, about = "Fine-tune small pretrained language models, privately.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sentence embeddings for each line of a text file, as JSON lines.
    Embed(embed::EmbedArgs),
    /// Show a data file's format, columns, labels, token lengths and problems (exits non-zero
    /// when it cannot be used).
    Inspect(inspect::InspectArgs),
    /// Fine-tune a text classifier and write it in Hugging Face format.
    Train(Box<train::TrainArgs>),
    /// Metrics of a fine-tuned classifier on labelled data, as one JSON object.
    Evaluate(evaluate::EvaluateArgs),
    /// Label and class probabilities for each line of a text file, as JSON lines.
    Predict(predict::PredictArgs),
    /// Continue prompts with a generative model (GPT-2, LLaMA family, Qwen2), as JSON lines.
    Generate(generate::GenerateArgs),
    /// Measure speed on fixed workloads (JSON lines).
    Bench(bench::BenchArgs),
}

/// Which columns of a data file hold the text, the second text and the label.
#[derive(clap::Args)]
pub(crate) struct ColumnArgs {
    /// Text column [default: guessed: text, sentence, review, content, …].
    #[arg(long)]
    text_column: Option<String>,
    /// Second text column, for sentence pairs [default: guessed: text_pair, sentence2, …].
    #[arg(long)]
    text_pair_column: Option<String>,
    /// Label column [default: guessed: label, class, category, sentiment, …].
    #[arg(long)]
    label_column: Option<String>,
}

impl ColumnArgs {
    fn columns(&self) -> crate::data::Columns {
        crate::data::Columns {
            text: self.text_column.clone(),
            text_pair: self.text_pair_column.clone(),
            label: self.label_column.clone(),
        }
    }
}

/// A fine-tuned classifier and its tokenizer (truncating at `max_length`, by default the
/// model's limit; more is refused), for `evaluate` and `predict`.
fn classifier_for_inference(
    files: crate::checkpoint::ModelFiles,
    device: &burn::tensor::Device,
    max_length: Option<usize>,
) -> Result<(crate::model::SequenceClassifier, Vec<String>, crate::checkpoint::TextTokenizer), CliError> {
    use crate::model::ModelError;
    let checkpoint = crate::checkpoint::Checkpoint::from_files(files).map_err(ModelError::from)?;
    let length = checkpoint.max_length(max_length, checkpoint.limit()).map_err(ModelError::from)?;
    let (model, report) = crate::model::SequenceClassifier::load(&checkpoint, device, None, 0)?;
    let tokenizer = checkpoint.tokenizer(length.tokens).map_err(ModelError::from)?;
    Ok((model, report.labels, tokenizer))
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Inspect(args) => inspect::run(args),
        // The train command tells flags given from defaults (a resumed run refuses settings).
        Command::Train(args) => train::run(*args, matches.subcommand_matches("train")),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Interrupted { .. }) => {
            eprintln!("webtune: {e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
