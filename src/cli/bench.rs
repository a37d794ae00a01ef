//! `webtune bench`: fixed workloads that measure speed (never timed tests).
//!
//! - `bench train`: full fine-tuning of a sequence classifier (AdamW) at batch 32 × 128
//!   tokens, on the model given (all-MiniLM-L6-v2 by default); the first step (GPU kernel
//!   compilation and autotuning) is reported apart from the steady state. On a GPU it also
//!   counts the work each step issues (`platform::gpu_work`): dispatches per step,
//!   pipelines compiled, and the kernels launched most.
//! - `bench embed`: sentence embeddings per second.
//! - `bench data`: rows per second read (parsed and checked) and tokenised, for a
//!   generated 100k-row CSV or a file of your own, with peak memory.
//!
//! - `bench train-lm`: full fine-tuning of a causal language model at a published model's
//!   shape (SmolLM2-135M by default; random weights), batch 8 × 256 tokens.
//! - `bench generate`: greedy generation tokens per second with and without the key/value
//!   cache (and that both give the same tokens).
//!
//! Each prints one JSON line per device.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use web_time::Instant;

use super::{CliError, DeviceChoice, pick_device};
use crate::checkpoint::{Checkpoint, Encoded};
use crate::data::TokenizedSet;
use crate::model::{SequenceClassifier, SentenceEmbedder};
use crate::platform::read_model_folder;
use crate::rng::SeededRng;
use crate::train::{TrainConfig, Trainer};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// Training throughput: batch 32 × 128 tokens, AdamW, full fine-tuning.
    Train(TrainBench),
    /// Embedding throughput: sentences per second.
    Embed(EmbedBench),
    /// Data reading and tokenisation throughput: rows per second.
    Data(DataBench),
    /// Causal language model fine-tuning throughput (random weights at a published
    /// model's shape, next-token loss on every position, AdamW).
    TrainLm(LmBench),
    /// Generation speed, tokens per second, with and without the key/value cache (random
    /// weights at a published model's shape, greedy).
    Generate(GenerateBench),
}

/// Published generative models whose shape the benchmarks take (random weights).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LmShape {
    /// HuggingFaceTB/SmolLM2-135M: llama, 30 layers, hidden 576, 9/3 heads, vocab 49,152, tied.
    Smollm2135m,
    /// openai-community/gpt2: 12 layers, hidden 768, vocab 50,257.
    Gpt2,
}

impl LmShape {
    fn config_json(self) -> &'static str {
        match self {
            LmShape::Smollm2135m => r#"{"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
                "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
                "rope_theta": 100000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0}"#,
            LmShape::Gpt2 => r#"{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12,
                "n_head": 12, "bos_token_id": 50256, "eos_token_id": 50256}"#,
        }
    }

    fn name(self) -> &'static str {
        match self {
            LmShape::Smollm2135m => "SmolLM2-135M shape, random weights",
            LmShape::Gpt2 => "GPT-2 shape, random weights",
        }
    }
}

#[derive(Args)]
struct LmBench {
    /// Whose shape to train.
    #[arg(long, value_enum, default_value = "smollm2135m")]
    shape: LmShape,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    seq_len: usize,
    /// Steady-state steps measured after the first.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Devices to measure.
    #[arg(long, value_enum, default_value = "cpu")]
    device: Devices,
    /// Read the loss back every N steps, or auto (see `bench train --log-every`).
    #[arg(long, value_name = "N|auto", default_value = "1")]
    log_every: String,
}

#[derive(Args)]
struct GenerateBench {
    /// Whose shape to run.
    #[arg(long, value_enum, default_value = "smollm2135m")]
    shape: LmShape,
    /// Prompt tokens.
    #[arg(long, default_value_t = 32)]
    prompt_tokens: usize,
    /// New tokens.
    #[arg(long, default_value_t = 32)]
    new_tokens: usize,
    /// Devices to measure.
    #[arg(long, value_enum, default_value = "cpu")]
    device: Devices,
}

/// A random causal model of `shape` (every weight normal(0, 0.02), norms 1, as a freshly
/// initialised transformers model) built from in-memory files.
fn random_lm(shape: LmShape, device: &burn::tensor::Device) -> Result<(crate::model::CausalLm, crate::checkpoint::CausalConfig), CliError> {
    use crate::checkpoint::{CausalConfig, ModelFiles};
    let config = CausalConfig::from_json(shape.config_json().as_bytes()).map_err(crate::model::ModelError::from)?;
    // transformers' tensor layout of this shape (the loader checks every name and shape).
    let (h, layers, _, i) = config.shape();
    let v = config.vocab_size() as u64;
    let mut rng = SeededRng::new(7);
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, ones: bool| {
        let n: usize = shape.iter().product();
        let bytes = (0..n).flat_map(|_| (if ones { 1.0f32 } else { (rng.normal() * 0.02) as f32 }).to_le_bytes()).collect();
        tensors.push((name, shape, bytes));
    };
    match &config {
        CausalConfig::Gpt2(c) => {
            let p = c.n_positions;
            add("wte.weight".into(), vec![v as usize, h], false);
            add("wpe.weight".into(), vec![p, h], false);
            for n in 0..layers {
                for (name, shape, ones) in [
                    ("ln_1.weight", vec![h], true), ("ln_1.bias", vec![h], false), ("attn.c_attn.weight", vec![h, 3 * h], false),
                    ("attn.c_attn.bias", vec![3 * h], false), ("attn.c_proj.weight", vec![h, h], false), ("attn.c_proj.bias", vec![h], false),
                    ("ln_2.weight", vec![h], true), ("ln_2.bias", vec![h], false), ("mlp.c_fc.weight", vec![h, i], false),
                    ("mlp.c_fc.bias", vec![i], false), ("mlp.c_proj.weight", vec![i, h], false), ("mlp.c_proj.bias", vec![h], false),
                ] {
                    add(format!("h.{n}.{name}"), shape, ones);
                }
            }
            add("ln_f.weight".into(), vec![h], true);
            add("ln_f.bias".into(), vec![h], false);
        }
        CausalConfig::Llama(c) | CausalConfig::Qwen2(c) => {
            let (q, kv) = (c.num_attention_heads * c.head_width(), c.kv_heads() * c.head_width());
            add("model.embed_tokens.weight".into(), vec![v as usize, h], false);
            for n in 0..layers {
                for (name, shape, ones) in [
                    ("input_layernorm.weight", vec![h], true), ("self_attn.q_proj.weight", vec![q, h], false),
                    ("self_attn.k_proj.weight", vec![kv, h], false), ("self_attn.v_proj.weight", vec![kv, h], false),
                    ("self_attn.o_proj.weight", vec![h, q], false), ("post_attention_layernorm.weight", vec![h], true),
                    ("mlp.gate_proj.weight", vec![i, h], false), ("mlp.up_proj.weight", vec![i, h], false), ("mlp.down_proj.weight", vec![h, i], false),
                ] {
                    add(format!("model.layers.{n}.{name}"), shape, ones);
                }
            }
            add("model.norm.weight".into(), vec![h], true);
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, shape, bytes)| (name.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).expect("sizes match")))
        .collect();
    let bytes = safetensors::serialize(views, None).map_err(|e| CliError::Input { path: "random weights".into(), message: e.to_string() })?;
    let files = ModelFiles::new(shape.name()).with("config.json", shape.config_json().as_bytes().to_vec()).with("model.safetensors", bytes);
    let (model, _) = crate::model::CausalLm::load(&files, &config, device)?;
    Ok((model, config))
}

fn train_lm(bench: LmBench) -> Result<(), CliError> {
    use crate::train::{BestMetric, CausalLanguageModelling, LmExample, LmSet};
    for choice in bench.device.list() {
        let device = pick_device(choice);
        let (model, config) = random_lm(bench.shape, &device.clone().autodiff())?;
        let mut rng = SeededRng::new(1);
        let n = bench.batch_size * (bench.steps + 1);
        let examples = (0..n).map(|i| LmExample::text((0..bench.seq_len).map(|_| rng.below(config.vocab_size()) as u32).collect(), i + 1)).collect();
        let task = CausalLanguageModelling { train: LmSet::new(examples, config.pad_token_id()), valid: None };
        let log_every = super::parse_log_every(&bench.log_every)?;
        let settings =
            TrainConfig { batch_size: bench.batch_size, epochs: 1, max_length: bench.seq_len, warmup_ratio: 0.0, best_metric: BestMetric::Loss, log_every, ..TrainConfig::default() };
        let mut trainer = Trainer::with_task(model, task, settings, device.clone())?;
        let started = Instant::now();
        let steps = run_steps(choice == DeviceChoice::Gpu, log_every != Some(1), || {
            Ok(if trainer.is_finished() { None } else { Some(pollster::block_on(trainer.step())?.seconds) })
        })?;
        let step = steps.steady_s;
        let line = serde_json::json!({
            "workload": "train-lm",
            "device": format!("{choice:?}").to_lowercase(),
            "model": bench.shape.name(),
            "parameters": config.parameters(),
            "batch_size": bench.batch_size,
            "seq_len": bench.seq_len,
            "log_every": bench.log_every,
            "first_step_s": steps.first_s,
            // What only the first step pays: kernel compilation (and autotuning, when built
            // with it) and first allocations, as the first step's time beyond a steady one.
            "first_step_setup_s": (steps.first_s - steps.steady_s).max(0.0),
            "gpu_work": steps.work,
            "steady_step_s": step,
            "steady_steps": bench.steps,
            "tokens_per_s": (bench.batch_size * bench.seq_len) as f64 / step,
            "peak_rss_bytes": peak_rss(),
            "wall_s": started.elapsed().as_secs_f64(),
        });
        println!("{line}");
    }
    Ok(())
}

fn generate_bench(bench: GenerateBench) -> Result<(), CliError> {
    use crate::model::{GenerationSettings, generate};
    for choice in bench.device.list() {
        let device = pick_device(choice);
        let (model, config) = random_lm(bench.shape, &device)?;
        let mut rng = SeededRng::new(3);
        let prompt: Vec<u32> = (0..bench.prompt_tokens).map(|_| rng.below(config.vocab_size()) as u32).collect();
        let mut outputs = Vec::new();
        for use_cache in [true, false] {
            // No stop token: every run makes exactly `new_tokens` tokens.
            let settings = GenerationSettings { max_new_tokens: bench.new_tokens, sampling: None, repetition_penalty: 1.0, eos_token_ids: Vec::new(), pad_token_id: 0, use_cache };
            let started = Instant::now();
            let new = pollster::block_on(generate(&model, std::slice::from_ref(&prompt), &settings, &device))?;
            let seconds = started.elapsed().as_secs_f64();
            outputs.push(new[0].clone());
            let line = serde_json::json!({
                "workload": "generate",
                "device": format!("{choice:?}").to_lowercase(),
                "model": bench.shape.name(),
                "use_cache": use_cache,
                "prompt_tokens": bench.prompt_tokens,
                "new_tokens": new[0].len(),
                "seconds": seconds,
                "tokens_per_s": new[0].len() as f64 / seconds,
                "peak_rss_bytes": peak_rss(),
            });
            println!("{line}");
        }
        if outputs[0] != outputs[1] {
            return Err(CliError::Input { path: "bench generate".into(), message: "the cached and recomputed generations differ (a webtune bug; please report it)".into() });
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Devices {
    Cpu,
    Gpu,
    Both,
}

impl Devices {
    fn list(self) -> Vec<DeviceChoice> {
        match self {
            Devices::Cpu => vec![DeviceChoice::Cpu],
            Devices::Gpu => vec![DeviceChoice::Gpu],
            Devices::Both => vec![DeviceChoice::Cpu, DeviceChoice::Gpu],
        }
    }
}

#[derive(Args)]
struct TrainBench {
    /// Model folder whose shape (and weights) to train.
    #[arg(long, default_value = "www/models/all-MiniLM-L6-v2")]
    model: PathBuf,
    /// Examples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Tokens per example (every example is this long: no padding).
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Steady-state steps measured after the first.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Devices to measure.
    #[arg(long, value_enum, default_value = "both")]
    device: Devices,
    /// Examples of random lengths from a quarter of --seq-len to all of it (padded per
    /// batch), as real data has: each new batch length may compile new GPU kernels.
    #[arg(long)]
    varied_lengths: bool,
    /// Pad each batch to a multiple of N tokens (the trainer's --pad-to-multiple-of).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pad_to_multiple_of: usize,
    /// Read the loss back every N steps, or auto (as `webtune train --log-every`). With 1,
    /// the default, each step is timed alone; otherwise the GPU may run queued steps while
    /// the next is recorded, and the steady step is the mean over the steps after the first.
    #[arg(long, value_name = "N|auto", default_value = "1")]
    log_every: String,
}

#[derive(Args)]
struct EmbedBench {
    /// Model folder.
    #[arg(long, default_value = "www/models/all-MiniLM-L6-v2")]
    model: PathBuf,
    /// Sentences embedded (after one warm-up batch).
    #[arg(long, default_value_t = 512)]
    sentences: usize,
    /// Sentences per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Devices to measure.
    #[arg(long, value_enum, default_value = "both")]
    device: Devices,
}

#[derive(Args)]
struct DataBench {
    /// A data file to stream; without it, a generated review-like CSV is read from memory.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Rows of the generated CSV.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Write the generated CSV here and stop (to make a big file for --file).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Model folder whose tokenizer is timed.
    #[arg(long, default_value = "www/models/all-MiniLM-L6-v2")]
    model: PathBuf,
    /// Truncation length.
    #[arg(long, default_value_t = 128)]
    max_length: usize,
}

/// Peak resident memory of this process (Linux: VmHWM), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Step times and, on a GPU, the work each step issued (`platform::gpu_work`).
struct Steps {
    first_s: f64,
    steady_s: f64,
    work: Option<serde_json::Value>,
}

/// Runs `step` until it says the run is over (None), timing each step and, on a GPU,
/// counting its dispatches and the pipelines it compiled. `pipelined`: steps are not read
/// back one by one, so a step's own time means little: the steady step is the mean over
/// the steps after the first (the last step is always read back, so their sum holds all
/// their GPU work), and nothing waits between steps for the compilation log (pipelines
/// compiled late are counted at the step that sees them).
fn run_steps(gpu: bool, pipelined: bool, mut step: impl FnMut() -> Result<Option<f64>, CliError>) -> Result<Steps, CliError> {
    use crate::platform::gpu_work;
    let mut times = Vec::new();
    let mut works = Vec::new();
    loop {
        let before = gpu_work::snapshot();
        let Some(seconds) = step()? else { break };
        if gpu && !pipelined {
            gpu_work::settle();
        }
        times.push(seconds);
        works.push(gpu_work::snapshot().since(&before));
    }
    let first_s = times.first().copied().unwrap_or(0.0);
    let later: Vec<f64> = times.iter().skip(1).copied().collect();
    let steady_s = if pipelined { later.iter().sum::<f64>() / later.len().max(1) as f64 } else { median(later) };
    let work = gpu.then(|| {
        let first = works.first().cloned().unwrap_or_default();
        let steady = &works[1.min(works.len())..];
        let last = steady.last().cloned().unwrap_or_default();
        serde_json::json!({
            "dispatches_first_step": first.dispatches,
            "pipelines_first_step": first.pipelines,
            "dispatches_per_step": median(steady.iter().map(|w| w.dispatches as f64).collect()),
            "pipelines_after_first_step": steady.iter().map(|w| w.pipelines).sum::<u64>(),
            "pipelines_counted": gpu_work::start(),
            "top_kernels_last_step": last.top(12).into_iter().map(|(k, n)| serde_json::json!([k, n])).collect::<Vec<_>>(),
        })
    });
    Ok(Steps { first_s, steady_s, work })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { 0.0 } else { xs[xs.len() / 2] }
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    // Before any device exists: cubecl reads its configuration once.
    crate::platform::gpu_work::start();
    match args.workload {
        Workload::Train(bench) => train(bench),
        Workload::Embed(bench) => embed(bench),
        Workload::Data(bench) => data(bench),
        Workload::TrainLm(bench) => train_lm(bench),
        Workload::Generate(bench) => generate_bench(bench),
    }
}

fn checkpoint(model: &std::path::Path) -> Result<Checkpoint, CliError> {
    Ok(Checkpoint::from_files(read_model_folder(model)?).map_err(crate::model::ModelError::from)?)
}

fn train(bench: TrainBench) -> Result<(), CliError> {
    let checkpoint = checkpoint(&bench.model)?;
    let config = checkpoint.config();
    for choice in bench.device.list() {
        let device = pick_device(choice);
        let labels = vec!["a".to_string(), "b".to_string()];
        let (model, _) = SequenceClassifier::load(&checkpoint, &device.clone().autodiff(), Some(&labels), 0)?;
        // Random ids of exactly seq_len tokens ([CLS] … [SEP]); enough examples for every step.
        let mut rng = SeededRng::new(1);
        let n = bench.batch_size * (bench.steps + 1);
        let encoded: Vec<Encoded> = (0..n)
            .map(|_| {
                let vocab_size = config.dims().vocab_size;
                let len = if bench.varied_lengths { bench.seq_len / 4 + rng.below(bench.seq_len - bench.seq_len / 4 + 1) } else { bench.seq_len };
                let mut ids: Vec<u32> = (0..len.max(1)).map(|_| 1000 + rng.below(vocab_size - 1000) as u32).collect();
                ids[0] = 101.min(vocab_size as u32 - 1);
                Encoded { type_ids: vec![0; ids.len()], ids }
            })
            .collect();
        let set = TokenizedSet::from_encoded(encoded, (0..n).map(|i| Some(i % 2)).collect(), config.pad_token_id());
        let log_every = super::parse_log_every(&bench.log_every)?;
        let settings = TrainConfig {
            batch_size: bench.batch_size,
            epochs: 1,
            max_length: bench.seq_len,
            warmup_ratio: 0.0,
            pad_to_multiple_of: bench.pad_to_multiple_of,
            log_every,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(model, labels, set, None, settings, device.clone())?;
        let started = Instant::now();
        let steps = run_steps(choice == DeviceChoice::Gpu, log_every != Some(1), || {
            Ok(if trainer.is_finished() { None } else { Some(pollster::block_on(trainer.step())?.seconds) })
        })?;
        let step = steps.steady_s;
        let line = serde_json::json!({
            "workload": "train",
            "device": format!("{choice:?}").to_lowercase(),
            "model": bench.model.display().to_string(),
            "batch_size": bench.batch_size,
            "seq_len": bench.seq_len,
            "varied_lengths": bench.varied_lengths,
            "pad_to_multiple_of": bench.pad_to_multiple_of,
            "log_every": bench.log_every,
            "first_step_s": steps.first_s,
            // What only the first step pays: kernel compilation (and autotuning, when built
            // with it) and first allocations, as the first step's time beyond a steady one.
            "first_step_setup_s": (steps.first_s - steps.steady_s).max(0.0),
            "gpu_work": steps.work,
            "steady_step_s": step,
            "steady_steps": bench.steps,
            "samples_per_s": bench.batch_size as f64 / step,
            "tokens_per_s": (bench.batch_size * bench.seq_len) as f64 / step,
            "peak_rss_bytes": peak_rss(),
            "wall_s": started.elapsed().as_secs_f64(),
        });
        println!("{line}");
    }
    Ok(())
}

fn embed(bench: EmbedBench) -> Result<(), CliError> {
    let checkpoint = checkpoint(&bench.model)?;
    // Sentences of varied length, like real input.
    let words = ["the", "model", "learns", "quickly", "from", "a", "few", "labelled", "examples", "in", "your", "browser"];
    let mut rng = SeededRng::new(2);
    let texts: Vec<String> = (0..bench.sentences + bench.batch_size)
        .map(|_| (0..5 + rng.below(30)).map(|_| words[rng.below(words.len())]).collect::<Vec<_>>().join(" "))
        .collect();
    for choice in bench.device.list() {
        let device = pick_device(choice);
        let (embedder, _) = SentenceEmbedder::load(&checkpoint, &device, None)?;
        let warm = Instant::now();
        pollster::block_on(embedder.embed(&texts[..bench.batch_size]))?;
        let warm_s = warm.elapsed().as_secs_f64();
        let started = Instant::now();
        for chunk in texts[bench.batch_size..].chunks(bench.batch_size) {
            pollster::block_on(embedder.embed(chunk))?;
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "workload": "embed",
                "device": format!("{choice:?}").to_lowercase(),
                "model": bench.model.display().to_string(),
                "sentences": bench.sentences,
                "batch_size": bench.batch_size,
                "first_batch_s": warm_s,
                "sentences_per_s": bench.sentences as f64 / seconds,
                "peak_rss_bytes": peak_rss(),
            })
        );
    }
    Ok(())
}

fn data(bench: DataBench) -> Result<(), CliError> {
    use crate::data::{LabelSet, ReadOptions, read_dataset, synthetic_reviews_csv};
    if let Some(path) = &bench.write {
        std::fs::write(path, synthetic_reviews_csv(bench.rows, 7))?;
        eprintln!("webtune: wrote {} rows to {}", bench.rows, path.display());
        return Ok(());
    }
    let options = ReadOptions::default();
    let (dataset, bytes, source, read_s) = match &bench.file {
        Some(path) => {
            let bytes = std::fs::metadata(path)?.len();
            let started = Instant::now();
            let dataset = super::inspect::read_data(path, &options)?;
            (dataset, bytes, path.display().to_string(), started.elapsed().as_secs_f64())
        }
        None => {
            let csv = synthetic_reviews_csv(bench.rows, 7);
            let started = Instant::now();
            let dataset = read_dataset("generated.csv", csv.as_bytes(), &options)?;
            (dataset, csv.len() as u64, "generated".to_string(), started.elapsed().as_secs_f64())
        }
    };
    let rss_after_read = peak_rss();
    let tokenizer = checkpoint(&bench.model)?.tokenizer(bench.max_length).map_err(crate::model::ModelError::from)?;
    let labels = dataset.report.labels.clone().unwrap_or(LabelSet { names: Vec::new(), counts: Vec::new() });
    let started = Instant::now();
    let set = TokenizedSet::new(&dataset.examples, &labels, &tokenizer).map_err(crate::model::ModelError::from)?;
    let tokenize_s = started.elapsed().as_secs_f64();
    let rows = dataset.report.rows as f64;
    println!(
        "{}",
        serde_json::json!({
            "workload": "data",
            "source": source,
            "rows": dataset.report.rows,
            "usable": dataset.report.usable,
            "bytes": bytes,
            "read_s": read_s,
            "read_rows_per_s": rows / read_s,
            "read_mb_per_s": bytes as f64 / 1e6 / read_s,
            "tokenize_s": tokenize_s,
            "tokenize_rows_per_s": set.len() as f64 / tokenize_s,
            "peak_rss_bytes_after_read": rss_after_read,
            "peak_rss_bytes": peak_rss(),
        })
    );
    Ok(())
}
