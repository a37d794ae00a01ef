//! The native command-line tool: one file per command.

mod bench;
mod device;
mod embed;
mod evaluate;
mod inspect;
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
    /// An impossible setting.
    #[error(transparent)]
    Setting(#[from] crate::train::SettingError),
    /// The data file is unusable.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Training cannot go on.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
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
    Export(#[from] crate::checkpoint::ExportError),
    /// Writing the output failed.
    #[error("writing output failed: {0}")]
    Output(#[from] std::io::Error),
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

/// A fine-tuned classifier and its tokenizer (truncating at `max_length`, default the
/// model's max_position_embeddings), for `evaluate` and `predict`.
fn classifier_for_inference(
    files: &crate::checkpoint::ModelFiles,
    device: &burn::tensor::Device,
    max_length: Option<usize>,
) -> Result<(crate::model::SequenceClassifier, Vec<String>, crate::checkpoint::TextTokenizer), CliError> {
    use crate::model::ModelError;
    let (model, report, config) = crate::model::SequenceClassifier::load(files, device, None, 0)?;
    let limit = config.max_tokens();
    let max_length = max_length.unwrap_or(limit);
    if max_length > limit {
        return Err(ModelError::MaxLength { requested: max_length, available: limit }.into());
    }
    let tokenizer = crate::checkpoint::TextTokenizer::from_bytes(files.require("tokenizer.json").map_err(ModelError::from)?, max_length, config.pad_token_id())
        .map_err(ModelError::from)?;
    Ok((model, report.labels, tokenizer))
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Train(args) => train::run(*args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
