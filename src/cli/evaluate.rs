//! `webtune evaluate`: metrics of a fine-tuned classifier on labelled data, as one JSON object
//! with the schema of `metrics.json`'s `validation` and `test` ([`crate::train::EvalReport`]).

use std::path::PathBuf;

use clap::Args;

use super::{CliError, DeviceChoice, pick_device};
use super::inspect::{DataArgs, read_data};
use crate::data::{LabelSet, TokenizedSet};
use crate::model::ModelError;
use crate::platform::read_model_folder;
use crate::train::evaluate_examples;

#[derive(Args)]
pub struct EvaluateArgs {
    /// A fine-tuned model folder (with a classification head and id2label).
    #[arg(long)]
    model: PathBuf,
    /// Labelled data, in any format `webtune inspect` reads.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    read: DataArgs,
    /// Truncate inputs to this many tokens [default: the model's max_position_embeddings].
    #[arg(long)]
    max_length: Option<usize>,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
}

pub fn run(args: EvaluateArgs) -> Result<(), CliError> {
    let dataset = read_data(&args.data, &args.read.options(true)?)?;
    dataset.report.check(args.read.policy())?;
    let name = dataset.report.file;
    let examples = dataset.examples;
    let files = read_model_folder(&args.model)?;
    let device = pick_device(args.device);
    let (model, label_names, tokenizer) = super::classifier_for_inference(files, &device, args.max_length)?;
    let labels = LabelSet {
        counts: vec![0; label_names.len()],
        names: label_names,
    };
    if let Some(unseen) = examples.iter().find(|e| e.label.as_deref().and_then(|l| labels.index(l)).is_none()) {
        return Err(CliError::Input {
            path: format!("{name}:{}", unseen.line),
            message: format!("label \"{}\" is not one the model knows ({})", unseen.label.as_deref().unwrap_or(""), labels.names.join(", ")),
        });
    }
    let set = TokenizedSet::new(&examples, &labels, &tokenizer).map_err(ModelError::from)?;
    let metrics = pollster::block_on(evaluate_examples(&model, &set, &labels.names, args.batch_size, &device))?;
    // The schema of metrics.json's "validation" and "test".
    let out = serde_json::to_string(&metrics).map_err(|e| CliError::Output(e.into()))?;
    println!("{out}");
    Ok(())
}
