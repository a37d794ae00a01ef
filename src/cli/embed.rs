//! `webtune embed`: one JSON object per input line, in input order.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::Checkpoint;
use crate::model::SentenceEmbedder;
use crate::platform::read_model_folder;

/// Texts per forward pass.
const BATCH: usize = 32;

#[derive(Args)]
pub struct EmbedArgs {
    /// Hugging Face model folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Text file, one text per line (UTF-8).
    #[arg(long)]
    input: PathBuf,
    /// Truncate inputs to this many tokens [default: max_seq_length of
    /// sentence_bert_config.json, else the model's max_position_embeddings].
    #[arg(long)]
    max_length: Option<usize>,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
}

#[derive(Serialize)]
struct Line<'a> {
    text: &'a str,
    ids: &'a [u32],
    embedding: &'a [f32],
}

/// Reads `path` as UTF-8 lines; invalid UTF-8 is an error naming the line and byte offset.
pub(crate) fn read_lines(path: &PathBuf) -> Result<Vec<String>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::Input {
        path: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        CliError::Input {
            path: format!("{}:{line}", path.display()),
            message: format!("invalid UTF-8 at byte offset {offset}; save the file as UTF-8"),
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect())
}

pub fn run(args: EmbedArgs) -> Result<(), CliError> {
    let texts = read_lines(&args.input)?;
    let files = read_model_folder(&args.model)?;
    let device = pick_device(args.device);
    let checkpoint = Checkpoint::from_files(files).map_err(crate::model::ModelError::from)?;
    let (embedder, _report) = SentenceEmbedder::load(&checkpoint, &device, args.max_length)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for chunk in texts.chunks(BATCH) {
        let embeddings = pollster::block_on(embedder.embed(chunk))?;
        for (text, e) in chunk.iter().zip(&embeddings) {
            serde_json::to_writer(
                &mut out,
                &Line {
                    text,
                    ids: &e.ids,
                    embedding: &e.vector,
                },
            )
            .map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}
