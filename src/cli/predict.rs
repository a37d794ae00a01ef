//! `webtune predict`: label and class probabilities for each input line, as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::embed::read_lines;
use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::TextInput;
use crate::platform::read_model_folder;
use crate::train::predict;

#[derive(Args)]
pub struct PredictArgs {
    /// A fine-tuned model folder (with a classification head and id2label).
    #[arg(long)]
    model: PathBuf,
    /// Text file, one text per line (UTF-8).
    #[arg(long)]
    input: PathBuf,
    /// Truncate inputs to this many tokens [default: the model's max_position_embeddings].
    #[arg(long)]
    max_length: Option<usize>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
}

pub fn run(args: PredictArgs) -> Result<(), CliError> {
    let texts = read_lines(&args.input)?;
    let files = read_model_folder(&args.model)?;
    let device = pick_device(args.device);
    let (model, labels, tokenizer) = super::classifier_for_inference(files, &device, args.max_length)?;
    let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::single(t.clone())).collect();
    let predictions = pollster::block_on(predict(&model, &tokenizer, &inputs, &labels, args.batch_size, &device))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (text, p) in texts.iter().zip(predictions) {
        let probs: serde_json::Map<String, serde_json::Value> =
            labels.iter().zip(&p.probs).map(|(l, &v)| (l.clone(), serde_json::json!(v))).collect();
        serde_json::to_writer(&mut out, &serde_json::json!({"text": text, "label": p.label, "probs": probs}))
            .map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
