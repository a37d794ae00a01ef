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
    /// Generative models: also generate greedily for every prompt/completion and chat line
    /// and score the generations against the references (BLEU, ROUGE-L, exact match).
    #[arg(long)]
    generate: bool,
    /// Generative models, with --generate: most new tokens per generation.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Generative models, with --generate: write each prediction and its reference here (JSONL).
    #[arg(long)]
    predictions: Option<PathBuf>,
}

pub fn run(args: EvaluateArgs) -> Result<(), CliError> {
    // A generative checkpoint is scored by its next-token loss instead.
    let files = read_model_folder(&args.model)?;
    let model_type = files
        .get("config.json")
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok())
        .and_then(|c| c.get("model_type")?.as_str().map(str::to_string));
    if let Some(bytes) = files.get("config.json").filter(|_| model_type.as_deref().is_some_and(|t| crate::checkpoint::CAUSAL_MODEL_TYPES.contains(&t))) {
        let config = crate::checkpoint::CausalConfig::from_json(bytes).map_err(ModelError::from)?;
        let lm = super::evaluate_lm::LmEvaluateArgs {
            model: args.model,
            data: args.data,
            batch_size: args.batch_size,
            device: args.device,
            generate: args.generate,
            max_new_tokens: args.max_new_tokens,
            predictions: args.predictions,
        };
        return super::evaluate_lm::run(lm, files, config);
    }
    if args.generate || args.predictions.is_some() {
        return Err(CliError::Flag { flag: "--generate", value: "given".into(), reason: "it scores generative models; this is a classifier" });
    }
    let dataset = read_data(&args.data, &args.read.options(true)?)?;
    dataset.report.check(args.read.policy())?;
    let name = dataset.report.file;
    let examples = dataset.examples;
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
