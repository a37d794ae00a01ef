//! The native command-line tool: one file per command.

mod device;
mod embed;

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
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed(args) => embed::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
