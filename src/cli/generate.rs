//! `webtune generate`: continue prompts with a generative model (GPT-2, LLaMA family,
//! Qwen2), one JSON object per prompt.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::{CausalConfig, TextInput, TextTokenizer, stop_token_ids};
use crate::model::{CausalLm, GenerationSettings, ModelError, Sampling, generate};
use crate::platform::read_model_folder;

/// Prompts per batch.
const BATCH: usize = 8;

#[derive(Args)]
pub struct GenerateArgs {
    /// Hugging Face model folder of a generative model (config.json with model_type gpt2,
    /// llama or qwen2, model.safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// A prompt to continue (repeat the flag for several).
    #[arg(long, required_unless_present = "input")]
    prompt: Vec<String>,
    /// A text file with one prompt per line (UTF-8), instead of --prompt.
    #[arg(long, conflicts_with = "prompt")]
    input: Option<PathBuf>,
    /// Most new tokens per prompt.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Sample at this temperature instead of taking the most likely token.
    #[arg(long)]
    temperature: Option<f32>,
    /// Sample from the k most likely tokens only.
    #[arg(long)]
    top_k: Option<usize>,
    /// Sample from the most likely tokens whose probability reaches p.
    #[arg(long)]
    top_p: Option<f32>,
    /// Divide the logits of tokens already present by this (1: off; 1.1–1.3 is usual).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Seed of the sampling random stream.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
}

#[derive(Serialize)]
struct Line<'a> {
    prompt: &'a str,
    /// The new tokens' text, special tokens left out.
    completion: String,
    /// The new tokens, ending with the end-of-sequence id when one was produced.
    ids: &'a [u32],
    /// Whether generation stopped at an end-of-sequence token (else at --max-new-tokens).
    stopped: bool,
}

pub fn run(args: GenerateArgs) -> Result<(), CliError> {
    let prompts = match &args.input {
        Some(path) => super::embed::read_lines(path)?,
        None => args.prompt.clone(),
    };
    let sampling = (args.temperature.is_some() || args.top_k.is_some() || args.top_p.is_some()).then(|| Sampling {
        temperature: args.temperature.unwrap_or(1.0),
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
    });
    if let Some(Err((setting, value, reason))) = sampling.as_ref().map(Sampling::check) {
        let flag = match setting {
            "temperature" => "--temperature",
            "top_k" => "--top-k",
            _ => "--top-p",
        };
        return Err(CliError::Flag { flag, value, reason });
    }
    if !(args.repetition_penalty > 0.0 && args.repetition_penalty.is_finite()) {
        return Err(CliError::Flag { flag: "--repetition-penalty", value: args.repetition_penalty.to_string(), reason: "it must be a positive number (1 is off)" });
    }
    let files = read_model_folder(&args.model)?;
    let config = CausalConfig::from_json(files.require("config.json").map_err(ModelError::from)?).map_err(ModelError::from)?;
    // Read here rather than by the shared loader: only generation uses it.
    let generation_path = args.model.join("generation_config.json");
    let generation_config = match std::fs::read(&generation_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::Input { path: generation_path.display().to_string(), message: format!("cannot read: {e}") }),
    };
    let eos_token_ids = stop_token_ids(&config, generation_config.as_deref()).map_err(ModelError::from)?;
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").map_err(ModelError::from)?, config.max_tokens(), config.pad_token_id()).map_err(ModelError::from)?;
    let device = pick_device(args.device);
    let (model, _report) = CausalLm::load(&files, &config, &device)?;
    let settings = GenerationSettings {
        max_new_tokens: args.max_new_tokens,
        sampling,
        repetition_penalty: args.repetition_penalty,
        eos_token_ids,
        pad_token_id: config.pad_token_id(),
        use_cache: true,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for chunk in prompts.chunks(BATCH) {
        let ids = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| tokenizer.encode(i, &TextInput::single(p.clone())).map(|e| e.ids))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ModelError::from)?;
        let generated = pollster::block_on(generate(&model, &ids, &settings, &device))?;
        for (prompt, new) in chunk.iter().zip(&generated) {
            let completion = tokenizer.decode(new, true).map_err(ModelError::from)?;
            let stopped = new.last().is_some_and(|id| settings.eos_token_ids.contains(id));
            serde_json::to_writer(&mut out, &Line { prompt, completion, ids: new, stopped }).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}
