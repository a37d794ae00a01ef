//! `webtune generate`: continue prompts or chats with a generative model (GPT-2, LLaMA
//! family, Qwen2), one JSON object per input.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::lm_data::{LmRecord, chat_template, no_template, read_lm_file, read_optional};
use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::{CausalConfig, Message, TextInput, TextTokenizer, stop_token_ids};
use crate::model::{CausalLm, GenerationSettings, ModelError, Sampling, generate_streaming};
use crate::platform::read_model_folder;

/// Inputs per batch.
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
    /// A JSONL file, one object per line with `prompt` (text) or `messages` (a list of
    /// {role, content}, rendered with the model's chat template and its generation prompt);
    /// any other file: one prompt per line.
    #[arg(long, conflicts_with = "prompt")]
    input: Option<PathBuf>,
    /// Most new tokens per input.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Sampling temperature; 0 (the default unless --top-k or --top-p is given) is greedy.
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
    /// Write each new token's text to stderr as it is generated.
    #[arg(long)]
    stream: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value = "gpu")]
    device: DeviceChoice,
}

/// An input and where it came from.
struct Input {
    prompt: Option<String>,
    messages: Option<Vec<Message>>,
    /// `file:line`, or `--prompt N`.
    place: String,
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [Message]>,
    prompt_ids: &'a [u32],
    /// The new tokens, ending with the stop token when one was produced.
    ids: &'a [u32],
    /// The new tokens' text, without the stop token.
    completion: String,
}

fn read_inputs(path: &Path) -> Result<Vec<Input>, CliError> {
    read_lm_file(path)?
        .into_iter()
        .map(|line| match line.record {
            LmRecord::Prompt { prompt, completion: None } | LmRecord::Text(prompt) => Ok(Input { prompt: Some(prompt), messages: None, place: line.place }),
            LmRecord::Chat(messages) => Ok(Input { prompt: None, messages: Some(messages), place: line.place }),
            _ => Err(CliError::Input { path: line.place, message: "give \"prompt\" (text to continue) or \"messages\" (a chat to answer)".into() }),
        })
        .collect()
}

pub fn run(args: GenerateArgs) -> Result<(), CliError> {
    let inputs = match &args.input {
        Some(path) => read_inputs(path)?,
        None => args.prompt.iter().enumerate().map(|(i, p)| Input { prompt: Some(p.clone()), messages: None, place: format!("--prompt {}", i + 1) }).collect(),
    };
    if let Some(t) = args.temperature
        && !(t >= 0.0 && t.is_finite())
    {
        return Err(CliError::Flag { flag: "--temperature", value: t.to_string(), reason: "it must be 0 (greedy) or a positive number (1 samples from the model's own distribution)" });
    }
    let sampled = args.temperature.is_some_and(|t| t != 0.0) || args.top_k.is_some() || args.top_p.is_some();
    let sampling = sampled.then(|| Sampling { temperature: args.temperature.unwrap_or(1.0), top_k: args.top_k, top_p: args.top_p, seed: args.seed });
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
    let generation_config = read_optional(&args.model.join("generation_config.json"))?;
    let mut eos_token_ids = stop_token_ids(&config, generation_config.as_deref()).map_err(ModelError::from)?;
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").map_err(ModelError::from)?, config.max_tokens(), config.pad_token_id()).map_err(ModelError::from)?;
    let template = if inputs.iter().any(|i| i.messages.is_some()) {
        let template = chat_template(&args.model, files.get("tokenizer_config.json"))?.ok_or_else(|| no_template(&args.model))?;
        // A chat stops at the template's end-of-turn token too (<|im_end|>, <|eot_id|>).
        if let Some(id) = template.special_token("eos_token").and_then(|t| tokenizer.token_id(t))
            && !eos_token_ids.contains(&id)
        {
            eos_token_ids.push(id);
        }
        Some(template)
    } else {
        None
    };
    let mut prompt_ids = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let ids = match (&input.prompt, &input.messages, &template) {
            (Some(prompt), _, _) => tokenizer.encode(0, &TextInput::single(prompt.clone())).map(|e| e.ids),
            (None, Some(messages), Some(template)) => {
                let text = template.render(messages, true, None).map_err(|e| CliError::Input { path: input.place.clone(), message: e.to_string() })?;
                tokenizer.encode_verbatim(0, &text)
            }
            _ => unreachable!("every input has a prompt or messages, and messages come with a template"),
        }
        .map_err(|e| CliError::Input { path: input.place.clone(), message: e.to_string() })?;
        if ids.is_empty() {
            return Err(CliError::Input { path: input.place.clone(), message: "the prompt has no tokens; give it some text".into() });
        }
        if ids.len() + args.max_new_tokens > config.max_tokens() {
            return Err(CliError::Input {
                path: input.place.clone(),
                message: format!(
                    "the prompt has {} tokens; with --max-new-tokens {} that is more than the {} this model takes; shorten it or lower --max-new-tokens",
                    ids.len(),
                    args.max_new_tokens,
                    config.max_tokens()
                ),
            });
        }
        prompt_ids.push(ids);
    }
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
    // Streaming shows one reply at a time; otherwise inputs share batches.
    let batch = if args.stream { 1 } else { BATCH };
    for (chunk, ids) in inputs.chunks(batch).zip(prompt_ids.chunks(batch)) {
        let mut streamed: Vec<u32> = Vec::new();
        let mut shown = String::new();
        let generated = pollster::block_on(generate_streaming(&model, ids, &settings, &device, |_, token| {
            if args.stream {
                streamed.push(token);
                // Decode the whole reply so far: a character may span tokens.
                if let Ok(text) = tokenizer.decode(&streamed, true)
                    && let Some(new) = text.strip_prefix(shown.as_str())
                {
                    eprint!("{new}");
                    shown = text;
                }
            }
        }))?;
        if args.stream {
            eprintln!();
        }
        for ((input, prompt), new) in chunk.iter().zip(ids).zip(&generated) {
            let text_ids = match new.last() {
                Some(last) if settings.eos_token_ids.contains(last) => &new[..new.len() - 1],
                _ => &new[..],
            };
            let completion = tokenizer.decode(text_ids, false).map_err(ModelError::from)?;
            let line = Line { prompt: input.prompt.as_deref(), messages: input.messages.as_deref(), prompt_ids: prompt, ids: new, completion };
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}
