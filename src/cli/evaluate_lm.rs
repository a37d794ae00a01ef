//! `webtune evaluate` for a generative model: the next-token loss and perplexity of a data
//! file (over every predicted token; completions and assistant turns only for
//! prompt/completion and chat data), and with `--generate`, greedy generations scored by
//! corpus BLEU, ROUGE-L and exact match.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::lm_data::{LmRecord, chat_template, no_template, read_lm_file, read_optional};
use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::{CausalConfig, ModelFiles, TextTokenizer, stop_token_ids};
use crate::model::{CausalLm, GenerationSettings, ModelError, generate};
use crate::train::{GenerationScores, LmExample, LmSet, chat_example, language_model_loss};

/// What `evaluate` was asked for, from its flags.
pub struct LmEvaluateArgs {
    pub model: PathBuf,
    pub data: PathBuf,
    pub batch_size: usize,
    pub device: DeviceChoice,
    pub generate: bool,
    pub max_new_tokens: usize,
    pub predictions: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    loss: f64,
    perplexity: f64,
    tokens: usize,
    /// Plain-text lines under two tokens, which predict nothing.
    skipped: usize,
    /// With --generate: the greedy generations' scores.
    #[serde(flatten)]
    generation: Option<GenerationScores>,
}

#[derive(Serialize)]
struct PredictionLine<'a> {
    line: &'a str,
    prediction: &'a str,
    reference: &'a str,
}

/// A prompt to generate from and the reference it should produce.
struct Reference {
    place: String,
    prompt_ids: Vec<u32>,
    reference: String,
}

fn line_number(place: &str) -> usize {
    place.rsplit(':').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

pub fn run(args: LmEvaluateArgs, files: ModelFiles, config: CausalConfig) -> Result<(), CliError> {
    let lines = read_lm_file(&args.data)?;
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").map_err(ModelError::from)?, config.max_tokens(), config.pad_token_id()).map_err(ModelError::from)?;
    let generation_config = read_optional(&args.model.join("generation_config.json"))?;
    let mut stop_ids = stop_token_ids(&config, generation_config.as_deref()).map_err(ModelError::from)?;
    let needs_template = lines.iter().any(|l| matches!(l.record, LmRecord::Chat(_)));
    let template = if needs_template { Some(chat_template(&args.model, files.get("tokenizer_config.json"))?.ok_or_else(|| no_template(&args.model))?) } else { None };
    let end_of_turn = template.as_ref().and_then(|t| t.special_token("eos_token").map(str::to_string));
    if let Some(id) = end_of_turn.as_deref().and_then(|t| tokenizer.token_id(t))
        && !stop_ids.contains(&id)
    {
        stop_ids.push(id);
    }
    // A completion ends with the end-of-text token, as fine-tuning data is written.
    let eos = config.eos_token_ids().first().copied();
    let bad = |place: &str, message: String| CliError::Input { path: place.to_string(), message };
    let (mut examples, mut references, mut skipped) = (Vec::new(), Vec::new(), 0);
    for line in &lines {
        let n = line_number(&line.place);
        let encode = |text: &str| tokenizer.encode_untruncated(0, text).map_err(|e| bad(&line.place, e.to_string()));
        let verbatim = |text: &str| tokenizer.encode_verbatim(0, text).map_err(|e| bad(&line.place, e.to_string()));
        let example = match &line.record {
            LmRecord::Text(text) => {
                let ids = encode(text)?;
                if ids.len() < 2 {
                    skipped += 1;
                    continue;
                }
                LmExample::text(ids, n)
            }
            LmRecord::Prompt { prompt, completion: Some(completion) } => {
                let prompt_ids = encode(prompt)?;
                let completion_ids = [verbatim(completion)?, eos.into_iter().collect()].concat();
                references.push(Reference { place: line.place.clone(), prompt_ids: prompt_ids.clone(), reference: completion.clone() });
                LmExample::completion(prompt_ids, completion_ids, n)
            }
            LmRecord::Prompt { completion: None, .. } => {
                return Err(bad(&line.place, "a \"prompt\" needs its \"completion\" to be evaluated against".into()));
            }
            LmRecord::Chat(messages) => {
                let template = template.as_ref().expect("chat lines come with a template (checked above)");
                let last = messages.last().expect("messages are not empty (checked when read)");
                if last.role != "assistant" {
                    return Err(bad(&line.place, format!("the last message is from \"{}\"; the reference to evaluate against is the last assistant message, so end the conversation with one", last.role)));
                }
                let prompt = template.render(&messages[..messages.len() - 1], true, None).map_err(|e| bad(&line.place, e.to_string()))?;
                references.push(Reference { place: line.place.clone(), prompt_ids: verbatim(&prompt)?, reference: last.content.clone() });
                chat_example(template, &tokenizer, messages, end_of_turn.as_deref(), n).map_err(|e| bad(&line.place, e.to_string().split_once(": ").map_or(e.to_string(), |(_, m)| m.to_string())))?
            }
        };
        if example.ids.len() > config.max_tokens() {
            return Err(bad(&line.place, format!("it has {} tokens, more than the {} this model takes", example.ids.len(), config.max_tokens())));
        }
        if example.predicted() == 0 {
            return Err(bad(&line.place, "it has nothing to predict: its completion or assistant turns are empty".into()));
        }
        examples.push(example);
    }
    if examples.is_empty() {
        return Err(bad(&args.data.display().to_string(), "no line has two tokens or more to evaluate".into()));
    }
    let device = pick_device(args.device);
    let (model, _) = CausalLm::load(&files, &config, &device)?;
    let set = LmSet::new(examples, config.pad_token_id());
    let scores = pollster::block_on(language_model_loss(&model, &set, args.batch_size, &device))?;
    let mut report = Report { loss: scores.loss, perplexity: scores.perplexity, tokens: scores.tokens, skipped, generation: None };
    if args.generate {
        generate_and_score(&args, &model, &tokenizer, &config, &references, stop_ids, &device, &mut report)?;
    }
    println!("{}", serde_json::to_string(&report).map_err(|e| CliError::Output(e.into()))?);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn generate_and_score(
    args: &LmEvaluateArgs,
    model: &CausalLm,
    tokenizer: &TextTokenizer,
    config: &CausalConfig,
    references: &[Reference],
    stop_ids: Vec<u32>,
    device: &burn::tensor::Device,
    report: &mut Report,
) -> Result<(), CliError> {
    if references.is_empty() {
        return Err(CliError::Input { path: args.data.display().to_string(), message: "--generate needs prompt/completion or chat lines (plain text has no reference to compare with)".into() });
    }
    if let Some(r) = references.iter().find(|r| r.prompt_ids.len() + args.max_new_tokens > config.max_tokens()) {
        return Err(CliError::Input {
            path: r.place.clone(),
            message: format!("the prompt has {} tokens; with --max-new-tokens {} that is more than the {} this model takes", r.prompt_ids.len(), args.max_new_tokens, config.max_tokens()),
        });
    }
    let settings = GenerationSettings { max_new_tokens: args.max_new_tokens, sampling: None, repetition_penalty: 1.0, eos_token_ids: stop_ids, pad_token_id: config.pad_token_id(), use_cache: true };
    let mut predictions = Vec::with_capacity(references.len());
    for chunk in references.chunks(args.batch_size.max(1)) {
        let prompts: Vec<Vec<u32>> = chunk.iter().map(|r| r.prompt_ids.clone()).collect();
        for new in pollster::block_on(generate(model, &prompts, &settings, device))? {
            let text = match new.last() {
                Some(last) if settings.eos_token_ids.contains(last) => &new[..new.len() - 1],
                _ => &new[..],
            };
            predictions.push(tokenizer.decode(text, false).map_err(ModelError::from)?);
        }
    }
    let refs: Vec<String> = references.iter().map(|r| r.reference.clone()).collect();
    report.generation = Some(GenerationScores::of(&predictions, &refs));
    if let Some(path) = &args.predictions {
        write_predictions(path, references, &predictions)?;
    }
    Ok(())
}

fn write_predictions(path: &Path, references: &[Reference], predictions: &[String]) -> Result<(), CliError> {
    let file = std::fs::File::create(path).map_err(|e| CliError::Input { path: path.display().to_string(), message: format!("cannot write: {e}") })?;
    let mut out = std::io::BufWriter::new(file);
    for (r, p) in references.iter().zip(predictions) {
        serde_json::to_writer(&mut out, &PredictionLine { line: &r.place, prediction: p, reference: &r.reference }).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
