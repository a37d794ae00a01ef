//! Generative models against transformers (`tests/fixtures/causal.parity.json`, written by
//! `generate.py --only causal`): for a tiny random GPT-2, LLaMA (grouped-query attention,
//! llama3 rotary scaling, untied head) and Qwen2 (q/k/v biases, linear rotary scaling, tied
//! head), token ids exactly, every next-token log-probability and the last logits within
//! 1e-4, greedy generations (plain and with a repetition penalty) token for token, and the
//! sampling warpers' probabilities; then what transformers cannot be asked: the cache gives
//! the tokens of recomputing, and a left-padded batch gives each row what it gets alone.
//!
//! One test binary in four files: `generation` (models, cache, sampling, export), `training`
//! (loss, AdamW steps, learnable tasks), `text` (BLEU/ROUGE, chat templates, chat examples)
//! and `cli` (`webtune generate` and `evaluate`); the fixtures' readers and helpers are here.

#![cfg(not(target_arch = "wasm32"))]

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod generation;
mod text;
mod train_cli;
mod training;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{relative_error, torch_layout};
use serde::Deserialize;
use webtune::checkpoint::{CausalConfig, ModelFiles, TextInput, TextTokenizer};
use webtune::model::{CausalInput, CausalLm, GenerationSettings, KvCache, Sampling, Trace, generate};
use webtune::platform::{cpu_device, read_model_folder};

const MODELS: [&str; 3] = ["tiny-gpt2", "tiny-llama", "tiny-qwen2"];

#[derive(Deserialize)]
struct Record {
    max_length: usize,
    new_tokens: usize,
    models: std::collections::BTreeMap<String, ModelRecord>,
}

#[derive(Deserialize)]
struct ModelRecord {
    model_type: String,
    cases: Vec<Case>,
    generations: Vec<Generation>,
    warpers: std::collections::BTreeMap<String, Vec<f32>>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    next_token_logprobs: Vec<f32>,
    last_logits: Vec<f32>,
}

#[derive(Deserialize)]
struct Generation {
    prompt: String,
    ids: Vec<u32>,
    greedy: Vec<u32>,
    #[serde(rename = "repetition_penalty_1.5")]
    penalised: Vec<u32>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn record() -> Record {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("causal.parity.json")).unwrap()).unwrap()
}

struct Loaded {
    config: CausalConfig,
    model: CausalLm,
    tokenizer: TextTokenizer,
}

fn load(name: &str, max_length: usize) -> Loaded {
    let files: ModelFiles = read_model_folder(&fixtures().join(name)).unwrap();
    let config = CausalConfig::from_json(files.require("config.json").unwrap()).unwrap();
    let (model, report) = CausalLm::load(&files, &config, &cpu_device()).unwrap();
    assert_eq!(report.ignored_tensors, Vec::<String>::new(), "{name}");
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").unwrap(), max_length, config.pad_token_id()).unwrap();
    Loaded { config, model, tokenizer }
}

/// Log-softmax of each row of `logits` (row-major `[rows, vocab]`).
fn log_softmax(logits: &[f32], vocab: usize) -> Vec<Vec<f32>> {
    logits
        .chunks_exact(vocab)
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|x| ((x - max) as f64).exp()).sum();
            row.iter().map(|x| x - max - sum.ln() as f32).collect()
        })
        .collect()
}

/// The logits `[rows, seq, vocab]` of a batch of id rows padded on the left (`left`) or right.
fn batch_logits(m: &Loaded, rows: &[Vec<u32>], left: bool) -> (Vec<f32>, usize) {
    let seq = rows.iter().map(Vec::len).max().unwrap();
    let pad = m.config.pad_token_id();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for row in rows {
        let fill = seq - row.len();
        let (padding, real) = (vec![pad; fill], row.clone());
        let (ones, zeros) = (vec![1i64; row.len()], vec![0i64; fill]);
        if left {
            ids.extend(padding.into_iter().chain(real));
            mask.extend(zeros.into_iter().chain(ones));
        } else {
            ids.extend(real.into_iter().chain(padding));
            mask.extend(ones.into_iter().chain(zeros));
        }
    }
    let input = CausalInput::new(&ids, &mask, rows.len(), 0, &cpu_device());
    let logits = m.model.forward(&input, &mut KvCache::new(), &mut Trace::off());
    (logits.into_data().try_into_vec::<f32>().unwrap(), seq)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn settings(m: &Loaded, new_tokens: usize, penalty: f32, use_cache: bool) -> GenerationSettings {
    GenerationSettings {
        max_new_tokens: new_tokens,
        sampling: None,
        repetition_penalty: penalty,
        eos_token_ids: m.config.eos_token_ids(),
        pad_token_id: m.config.pad_token_id(),
        use_cache,
    }
}

fn webtune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).output().unwrap()
}
