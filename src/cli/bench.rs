//! `webtune bench`: fixed workloads that measure speed (never timed tests).
//!
//! - `bench train`: full fine-tuning of a sequence classifier (AdamW) at batch 32 × 128
//!   tokens, on the model given (all-MiniLM-L6-v2 by default); the first step (GPU kernel
//!   compilation and autotuning) is reported apart from the steady state.
//! - `bench embed`: sentence embeddings per second.
//! - `bench data`: rows per second read (parsed and checked) and tokenised, for a
//!   generated 100k-row CSV or a file of your own, with peak memory.
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { 0.0 } else { xs[xs.len() / 2] }
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    match args.workload {
        Workload::Train(bench) => train(bench),
        Workload::Embed(bench) => embed(bench),
        Workload::Data(bench) => data(bench),
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
                let mut ids: Vec<u32> = (0..bench.seq_len).map(|_| 1000 + rng.below(vocab_size - 1000) as u32).collect();
                ids[0] = 101.min(vocab_size as u32 - 1);
                Encoded { type_ids: vec![0; ids.len()], ids }
            })
            .collect();
        let set = TokenizedSet::from_encoded(encoded, (0..n).map(|i| Some(i % 2)).collect(), config.pad_token_id());
        let settings = TrainConfig {
            batch_size: bench.batch_size,
            epochs: 1,
            max_length: bench.seq_len,
            warmup_ratio: 0.0,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(model, labels, set, None, settings, device.clone())?;
        let started = Instant::now();
        let first = pollster::block_on(trainer.step())?;
        let mut steady = Vec::new();
        while !trainer.is_finished() {
            steady.push(pollster::block_on(trainer.step())?.seconds);
        }
        let step = median(steady);
        let line = serde_json::json!({
            "workload": "train",
            "device": format!("{choice:?}").to_lowercase(),
            "model": bench.model.display().to_string(),
            "batch_size": bench.batch_size,
            "seq_len": bench.seq_len,
            "first_step_s": first.seconds,
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
