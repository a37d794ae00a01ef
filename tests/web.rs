//! Browser tests (wasm-bindgen-test in headless Chromium, WebGPU on SwiftShader): the
//! device has the adapter's limits; the tiny BERT matches sentence-transformers; training
//! lowers the loss on WebGPU and on the CPU fallback; a failed GPU session gives errors
//! and a new device; the data report equals the native one; and the studio's pieces with
//! logic (settings, chart scaling, confusion matrix, Hub addresses); a tiny LLaMA's
//! log-probabilities and greedy generation equal transformers'. Run by `cargo xtask test`.

#![cfg(target_arch = "wasm32")]

mod common;

use common::{Parity, assert_matches, reference};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use webtune::model::SentenceEmbedder;
use webtune::platform::{fetch_bytes, fetch_model_files, webgpu_device};

wasm_bindgen_test_configure!(run_in_browser);

/// The WebGPU spec's default maxStorageBufferBindingSize (128 MiB): a device left at the
/// defaults could not bind all-MiniLM-L6-v2's 47 MB embedding table plus larger models'.
const SPEC_DEFAULT_BINDING: u64 = 128 << 20;

#[wasm_bindgen_test]
async fn tiny_bert_matches_reference_on_webgpu() {
    let (device, info) = webgpu_device().await.expect("a WebGPU adapter");
    web_sys::console::log_1(&format!("adapter: {info:?}").into());
    assert_eq!(info.backend, "BrowserWebGpu", "must run on WebGPU, not a CPU fallback");
    assert!(info.has_adapter_limits(), "device limits differ from the adapter's: {:?}", info.limits);
    let binding = info.limit("maxStorageBufferBindingSize").unwrap();
    assert!(binding.device > SPEC_DEFAULT_BINDING, "binding limit left at the spec default: {binding:?}");

    let files = fetch_model_files("/tests/fixtures/tiny-bert/", |_, _| {}).await.unwrap();
    let parity = fetch_bytes("/tests/fixtures/tiny-bert.parity.json").await.unwrap().unwrap();
    let parity = Parity::parse(std::str::from_utf8(&parity).unwrap());
    let (model, report) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &device, None).unwrap();
    assert_eq!(report.max_length, 32);
    let got = model.embed(&parity.texts()).await.unwrap();
    let (cos, diff) = assert_matches("tiny-bert on WebGPU", &got, &parity.cases, &reference(&parity.cases), 1e-4);
    web_sys::console::log_1(&format!("tiny-bert on WebGPU: worst cosine {cos}, worst max abs diff {diff}").into());
}

/// DistilBERT, RoBERTa and XLM-RoBERTa on WebGPU: each family's classification head gives
/// transformers' probabilities within 1e-4 on one padded batch, and its encoder's mean
/// pooling the reference at cosine ≥ 0.9999 (positions after padding, sinusoids,
/// byte-level BPE and Unigram tokenizers in wasm).
#[wasm_bindgen_test]
async fn encoder_families_match_transformers_on_webgpu() {
    use webtune::checkpoint::TextInput;
    use webtune::model::SequenceClassifier;

    let (device, _) = webgpu_device().await.expect("a WebGPU adapter");
    let parity = fetch_bytes("/tests/fixtures/families.parity.json").await.unwrap().unwrap();
    let parity = common::FamilyParity::parse(std::str::from_utf8(&parity).unwrap());
    for (name, reference) in &parity.models {
        let files = fetch_model_files(&format!("/tests/fixtures/{name}/"), |_, _| {}).await.unwrap();
        let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
        let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
        let (classifier, report) = SequenceClassifier::load(&checkpoint, &device, None, 0).unwrap();
        let tokenizer = checkpoint.tokenizer(parity.max_length).unwrap();
        let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::single(t.clone())).collect();
        let batch = tokenizer.encode_batch(&inputs).unwrap();
        let logits: Vec<f32> = classifier.forward_batch(&batch, &device).into_data_async().await.unwrap().try_into_vec().unwrap();
        let probabilities = common::softmax_rows(logits, report.labels.len());
        common::assert_probabilities(&format!("{name} on WebGPU"), &probabilities, &reference.batched_probabilities);

        let (embedder, _) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &device, Some(parity.max_length)).unwrap();
        let embedded = embedder.embed(&texts).await.unwrap();
        let worst = reference.cases.iter().zip(&embedded).map(|(c, e)| common::cosine(&e.vector, &c.mean_pooled)).fold(1.0f64, f64::min);
        assert!(worst >= 0.9999, "{name} on WebGPU: worst mean-pooled cosine {worst}");
        web_sys::console::log_1(&format!("{name} on WebGPU: probabilities within 1e-4, worst cosine {worst}").into());
    }
}

/// A trainer for the tiny classifier on the eight-example task, on `device`.
/// A tiny LLaMA (grouped-query attention, llama3 rotary scaling) on WebGPU: every
/// next-token log-probability of the fixture texts in one left-padded batch within 1e-4 of
/// transformers', and greedy generation with the key/value cache token for token.
#[wasm_bindgen_test]
async fn tiny_llama_matches_transformers_and_generates_on_webgpu() {
    use webtune::checkpoint::{CausalConfig, TextInput, TextTokenizer};
    use webtune::model::{CausalInput, CausalLm, GenerationSettings, KvCache, Trace, generate};
    #[derive(serde::Deserialize)]
    struct Case {
        text: String,
        ids: Vec<u32>,
        next_token_logprobs: Vec<f32>,
    }
    #[derive(serde::Deserialize)]
    struct Generation {
        ids: Vec<u32>,
        greedy: Vec<u32>,
    }
    let (device, _) = webgpu_device().await.expect("a WebGPU adapter");
    let parity: serde_json::Value = serde_json::from_slice(&fetch_bytes("/tests/fixtures/causal.parity.json").await.unwrap().unwrap()).unwrap();
    let reference = &parity["models"]["tiny-llama"];
    let cases: Vec<Case> = serde_json::from_value(reference["cases"].clone()).unwrap();
    let generations: Vec<Generation> = serde_json::from_value(reference["generations"].clone()).unwrap();
    let files = fetch_model_files("/tests/fixtures/tiny-llama/", |_, _| {}).await.unwrap();
    let config = CausalConfig::from_json(files.require("config.json").unwrap()).unwrap();
    let (model, _) = CausalLm::load(&files, &config, &device).unwrap();
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").unwrap(), 32, config.pad_token_id()).unwrap();
    let seq = cases.iter().map(|c| c.ids.len()).max().unwrap();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for c in &cases {
        assert_eq!(tokenizer.encode(0, &TextInput::single(c.text.clone())).unwrap().ids, c.ids);
        let fill = seq - c.ids.len();
        ids.extend(std::iter::repeat_n(config.pad_token_id(), fill).chain(c.ids.iter().copied()));
        mask.extend(std::iter::repeat_n(0i64, fill).chain(std::iter::repeat_n(1, c.ids.len())));
    }
    let input = CausalInput::new(&ids, &mask, cases.len(), 0, &device);
    let logits: Vec<f32> = model.forward(&input, &mut KvCache::new(), &mut Trace::off()).into_data_async().await.unwrap().try_into_vec().unwrap();
    let vocab = config.vocab_size();
    let mut worst = 0.0f32;
    for (r, c) in cases.iter().enumerate() {
        let offset = seq - c.ids.len();
        for t in 0..c.ids.len() - 1 {
            let row = &logits[((r * seq) + offset + t) * vocab..((r * seq) + offset + t + 1) * vocab];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = row.iter().map(|x| ((x - max) as f64).exp()).sum::<f64>().ln() as f32 + max;
            worst = worst.max((row[c.ids[t + 1] as usize] - log_sum - c.next_token_logprobs[t]).abs());
        }
    }
    assert!(worst < 1e-4, "tiny LLaMA on WebGPU: next-token log-probabilities off by {worst}");
    let settings = GenerationSettings {
        max_new_tokens: 12,
        sampling: None,
        repetition_penalty: 1.0,
        eos_token_ids: config.eos_token_ids(),
        pad_token_id: config.pad_token_id(),
        use_cache: true,
    };
    let prompts: Vec<Vec<u32>> = generations.iter().map(|g| g.ids.clone()).collect();
    let got = generate(&model, &prompts, &settings, &device).await.unwrap();
    let want: Vec<Vec<u32>> = generations.iter().map(|g| g.greedy.clone()).collect();
    assert_eq!(got, want, "greedy generation on WebGPU (batched, cached) equals transformers'");
    web_sys::console::log_1(&format!("tiny LLaMA on WebGPU: log-probabilities within {worst:.1e}; 4 greedy generations equal").into());
}

async fn tiny_trainer(device: &burn::tensor::Device) -> webtune::train::Trainer<webtune::train::SequenceClassification> {
    use webtune::data::{LabelSet, TokenizedSet};
    use webtune::model::SequenceClassifier;
    use webtune::train::Trainer;

    let files = fetch_model_files("/tests/fixtures/tiny-bert-cls/", |_, _| {}).await.unwrap();
    let examples = common::eight_examples();
    let labels = LabelSet::from_examples(&examples);
    // The same run as tests/training.rs's eight_examples_loss_falls_step_by_step on the CPU.
    let config = common::eight_examples_config();
    let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
    let (model, report) = SequenceClassifier::load(&checkpoint, &device.clone().autodiff(), Some(&labels.names), 1).unwrap();
    let tokenizer = checkpoint.tokenizer(32).unwrap();
    let set = TokenizedSet::new(&examples, &labels, &tokenizer).unwrap();
    Trainer::new(model, report.labels, set, None, config, device.clone()).unwrap()
}

#[wasm_bindgen_test]
async fn training_on_webgpu_lowers_the_loss() {
    let (device, _) = webgpu_device().await.expect("a WebGPU adapter");
    let mut trainer = tiny_trainer(&device).await;
    let mut losses = Vec::new();
    while !trainer.is_finished() {
        let step = trainer.step().await.unwrap().logged.pop().unwrap();
        web_sys::console::log_1(&format!("WebGPU step {}: loss {:.4} in {:.2} s", step.step, step.loss, step.seconds).into());
        losses.push(step.loss);
    }
    common::assert_loss_falls("WebGPU", &losses);
}

/// The fallback for browsers without WebGPU: burn's CPU backend (flex) compiled to wasm
/// trains the same run.
#[wasm_bindgen_test]
async fn training_on_the_cpu_fallback_lowers_the_loss() {
    let mut trainer = tiny_trainer(&webtune::platform::cpu_device()).await;
    let mut losses = Vec::new();
    while !trainer.is_finished() {
        losses.push(trainer.step().await.unwrap().logged.pop().unwrap().loss);
    }
    common::assert_loss_falls("flex in wasm", &losses);
}

/// `future`'s output, or `None` when it takes longer than `seconds`.
async fn within<T>(seconds: i32, future: impl std::future::Future<Output = T>) -> Option<T> {
    let mut future = std::pin::pin!(future);
    let mut timer = std::pin::pin!(webtune::platform::sleep_ms(seconds * 1000));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|_| None)
    })
    .await
}

/// A GPU session that ends (ended here on purpose, as the page does after an uncaught
/// device error such as running out of memory) makes the trainer's next step fail with
/// an error — not a panic, which would end the page, nor a hang — and the next device
/// is a new one that trains exactly as the first did.
#[wasm_bindgen_test]
async fn a_failed_gpu_session_gives_an_error_and_a_new_device() {
    use webtune::platform::{webgpu_failed, webgpu_failure};
    use webtune::train::TrainError;

    let (device, _) = webgpu_device().await.expect("a WebGPU adapter");
    let mut trainer = tiny_trainer(&device).await;
    let first = trainer.step().await.unwrap().logged.pop().unwrap().loss;
    assert!(webgpu_failed(&device, "the test   ended\n this session"));
    assert_eq!(webgpu_failure().as_deref(), Some("the test ended this session"));
    assert!(webgpu_failed(&device, "a second reason is not kept"), "still the current session's device");
    assert_eq!(webgpu_failure().as_deref(), Some("the test ended this session"));
    let error = within(60, trainer.step()).await.expect("a step on an ended session must fail, not hang").expect_err("a step on a destroyed device");
    assert!(matches!(error, TrainError::Device(_)), "{error}");

    let (fresh, info) = webgpu_device().await.expect("a new WebGPU device");
    assert_eq!(webgpu_failure(), None);
    assert_ne!(fresh, device, "a new burn device, not the ended one");
    assert_eq!(info.backend, "BrowserWebGpu");
    assert!(info.has_adapter_limits(), "{:?}", info.limits);
    let again = tiny_trainer(&fresh).await.step().await.unwrap().logged.pop().unwrap().loss;
    assert!((again - first).abs() < 1e-6, "the new device computes the same first step: {again} vs {first}");
    let (same, _) = webgpu_device().await.unwrap();
    assert_eq!(same, fresh, "a working session is shared");
    assert!(webgpu_failed(&device, "a late error from the ended device"), "a replaced session's device is still a GPU device");
    assert_eq!(webgpu_failure(), None, "does not end the new session");
    assert!(!webgpu_failed(&webtune::platform::cpu_device(), "a CPU error"), "the CPU is not a GPU session");
    assert_eq!(webgpu_failure(), None);
}

/// The same bytes give the same report as natively: tests/cli_inspect.rs checks the CLI's
/// `inspect --json` against the same golden file.
#[wasm_bindgen_test]
async fn data_report_matches_the_native_golden() {
    use webtune::checkpoint::TextTokenizer;
    use webtune::data::{ReadOptions, RowPolicy, read_dataset};

    let bytes = fetch_bytes("/tests/fixtures/data/awkward.csv").await.unwrap().unwrap();
    let golden = fetch_bytes("/tests/fixtures/data/awkward.report.json").await.unwrap().unwrap();
    let tokenizer = fetch_bytes("/tests/fixtures/tiny-bert/tokenizer.json").await.unwrap().unwrap();
    let tokenizer = TextTokenizer::from_bytes(&tokenizer, 16, 0).unwrap();
    let mut dataset = read_dataset("awkward.csv", &bytes[..], &ReadOptions::default()).unwrap();
    dataset.measure_lengths(&tokenizer).unwrap();
    assert!(dataset.report.check(RowPolicy::Skip).is_ok());
    let got = serde_json::to_value(&dataset.report).unwrap();
    let golden: serde_json::Value = serde_json::from_slice(&golden).unwrap();
    assert_eq!(got, golden);
}

/// Benchmark, not a test (ignored): rows per second read from a `File` in slices, parsed
/// and tokenised in the browser, for the same generated 100k-row CSV as
/// `webtune bench data`. Run by `cargo xtask bench-browser`; the numbers go to the console.
#[wasm_bindgen_test]
#[ignore = "a benchmark, not a test: run by `cargo xtask bench-browser`"]
async fn bench_data_100k_rows() {
    use webtune::checkpoint::TextTokenizer;
    use webtune::data::{LabelSet, ReadOptions, TokenizedSet, read_dataset, synthetic_reviews_csv};
    use webtune::platform::read_file;

    let csv = synthetic_reviews_csv(100_000, 7);
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(csv.as_bytes()));
    let file = web_sys::File::new_with_u8_array_sequence(&parts, "generated.csv").unwrap();
    drop(csv);
    let started = web_time::Instant::now();
    let bytes = read_file(&file, |_, _| {}).await.unwrap();
    let file_s = started.elapsed().as_secs_f64();
    let started = web_time::Instant::now();
    let dataset = read_dataset("generated.csv", &bytes[..], &ReadOptions::default()).unwrap();
    let parse_s = started.elapsed().as_secs_f64();
    assert_eq!(dataset.report.usable, 100_000);
    let tokenizer = fetch_bytes("/www/models/all-MiniLM-L6-v2/tokenizer.json").await.unwrap().expect("cargo xtask fetch-model first");
    let tokenizer = TextTokenizer::from_bytes(&tokenizer, 128, 0).unwrap();
    let labels = dataset.report.labels.clone().unwrap_or(LabelSet { names: Vec::new(), counts: Vec::new() });
    let started = web_time::Instant::now();
    let set = TokenizedSet::new(&dataset.examples, &labels, &tokenizer).unwrap();
    let tokenize_s = started.elapsed().as_secs_f64();
    let line = serde_json::json!({
        "workload": "data (browser)",
        "rows": set.len(),
        "bytes": bytes.len(),
        "file_read_s": file_s,
        "parse_s": parse_s,
        "read_rows_per_s": set.len() as f64 / (file_s + parse_s),
        "tokenize_s": tokenize_s,
        "tokenize_rows_per_s": set.len() as f64 / tokenize_s,
    });
    web_sys::console::log_1(&line.to_string().into());
}

/// The bundled all-MiniLM-L6-v2 fine-tunes on WebGPU with the losses of the CPU backend
/// (flex in wasm) on the same batches: one of long texts truncated at 64 tokens (no
/// padding) and one of short, padded ones. Dropout is set to 0 in the config, so the two
/// devices' random streams do not enter the comparison (the original fault, NaN gradients
/// from burn's GELU backward on SwiftShader, happened with dropout off too).
#[wasm_bindgen_test]
async fn bundled_model_trains_on_webgpu_like_the_cpu() {
    use webtune::data::{LabelSet, ReadOptions, TokenizedSet, read_dataset};
    use webtune::model::SequenceClassifier;
    use webtune::train::{TrainConfig, Trainer};

    let mut files = fetch_model_files("/www/models/all-MiniLM-L6-v2/", |_, _| {}).await.unwrap();
    assert!(files.get("model.safetensors").is_some(), "cargo xtask fetch-model first");
    let mut config: serde_json::Value = serde_json::from_slice(files.get("config.json").unwrap()).unwrap();
    config["hidden_dropout_prob"] = 0.0.into();
    config["attention_probs_dropout_prob"] = 0.0.into();
    files.insert("config.json", serde_json::to_vec(&config).unwrap());
    let csv = fetch_bytes("/tests/fixtures/data/long-and-short.csv").await.unwrap().unwrap();
    let dataset = read_dataset("long-and-short.csv", &csv[..], &ReadOptions::default()).unwrap();
    let labels = LabelSet::from_examples(&dataset.examples);
    // Length-grouped batches: the four long texts together, the four short ones together.
    let settings = TrainConfig { batch_size: 4, epochs: 1, max_length: 64, warmup_ratio: 0.0, learning_rate: 1e-4, group_by_length: true, seed: 3, ..TrainConfig::default() };
    let run = |device: burn::tensor::Device| {
        let (files, labels, dataset, settings) = (files.clone(), labels.clone(), &dataset, settings.clone());
        async move {
            let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
            let (model, report) = SequenceClassifier::load(&checkpoint, &device.clone().autodiff(), Some(&labels.names), settings.seed).unwrap();
            let tokenizer = checkpoint.tokenizer(64).unwrap();
            let set = TokenizedSet::new(&dataset.examples, &labels, &tokenizer).unwrap();
            let mut trainer = Trainer::new(model, report.labels, set, None, settings, device).unwrap();
            let mut steps = Vec::new();
            while !trainer.is_finished() {
                let step = trainer.step().await.unwrap_or_else(|e| panic!("step {}: {e}", steps.len() + 1)).logged.pop().unwrap();
                web_sys::console::log_1(&format!("step {}: loss {:.6}, grad norm {:.6}, {:.1} s", step.step, step.loss, step.grad_norm, step.seconds).into());
                steps.push((step.loss, step.grad_norm));
            }
            steps
        }
    };
    let (device, _) = webgpu_device().await.expect("a WebGPU adapter");
    let gpu = run(device).await;
    let cpu = run(webtune::platform::cpu_device()).await;
    assert_eq!(gpu.len(), 2);
    for (i, ((gl, gn), (cl, cn))) in gpu.iter().zip(&cpu).enumerate() {
        assert!((gl - cl).abs() < 1e-3, "step {}: WebGPU loss {gl} vs CPU {cl}", i + 1);
        assert!((gn - cn).abs() < 1e-3 * cn.max(1.0), "step {}: WebGPU gradient norm {gn} vs CPU {cn}", i + 1);
    }
    // A fresh two-label head starts near ln 2; the second step's batch differs, so only sanity.
    assert!((gpu[0].0 - std::f64::consts::LN_2).abs() < 0.3, "{gpu:?}");
}

/// Benchmark, not a test (ignored): what a training step of the bundled all-MiniLM-L6-v2
/// costs the browser thread that drives it, whatever the GPU's speed — GPU dispatches and
/// compute pipelines per step (`platform::gpu_work`), and the thread's own busy time (the
/// wasm and the WebGPU calls that record and submit the step, `gpu_work::busy`), beside the
/// wall time on this machine's WebGPU (SwiftShader here: slow, so the wall time says little).
/// Then a few steps of the CPU fallback (flex in wasm). The studio's settings: AdamW, its
/// padding to multiples of 8. Dispatches do not depend on the batch, so a small one measures
/// them. Run by `cargo xtask bench-browser` (release-optimised wasm, as the site ships);
/// one JSON line per device goes to the console.
#[wasm_bindgen_test]
#[ignore = "a benchmark, not a test: run by `cargo xtask bench-browser`"]
async fn bench_bundled_model_steps_on_webgpu() {
    use webtune::data::{LabelSet, ReadOptions, TokenizedSet, read_dataset};
    use webtune::model::SequenceClassifier;
    use webtune::platform::gpu_work;
    use webtune::train::{TrainConfig, Trainer};

    // Before any device exists: cubecl reads its configuration (the compilation log that
    // counts pipelines) once.
    let pipelines_counted = gpu_work::start();
    let files = fetch_model_files("/www/models/all-MiniLM-L6-v2/", |_, _| {}).await.unwrap();
    assert!(files.get("model.safetensors").is_some(), "cargo xtask fetch-model first");
    let csv = fetch_bytes("/tests/fixtures/data/long-and-short.csv").await.unwrap().unwrap();
    let dataset = read_dataset("long-and-short.csv", &csv[..], &ReadOptions::default()).unwrap();
    let labels = LabelSet::from_examples(&dataset.examples);
    let settings = TrainConfig {
        batch_size: 2,
        epochs: 1,
        max_length: 32,
        pad_to_multiple_of: webtune::studio::STUDIO_PAD_MULTIPLE,
        ..TrainConfig::default()
    };
    let trainer = |device: burn::tensor::Device| {
        let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
        let (model, report) = SequenceClassifier::load(&checkpoint, &device.clone().autodiff(), Some(&labels.names), settings.seed).unwrap();
        let set = TokenizedSet::new(&dataset.examples, &labels, &checkpoint.tokenizer(settings.max_length).unwrap()).unwrap();
        Trainer::new(model, report.labels, set, None, settings.clone(), device).unwrap()
    };
    // WebGPU with cubecl's launches per submit at the default and at 4× it (a fresh
    // session each: the first is ended to set up the second), then the CPU fallback.
    let tasks = webtune::platform::DEFAULT_TASKS_PER_SUBMIT;
    for (name, tasks_per_submit) in [("webgpu", tasks), ("webgpu", 4 * tasks), ("cpu", 0)] {
        let device = if name == "webgpu" {
            if let Ok((old, _)) = webgpu_device().await
                && tasks_per_submit != tasks
            {
                webtune::platform::webgpu_failed(&old, "the benchmark's next setting");
            }
            webtune::platform::set_webgpu_tasks_per_submit(tasks_per_submit);
            webgpu_device().await.expect("a WebGPU adapter").0
        } else {
            webtune::platform::cpu_device()
        };
        let mut trainer = trainer(device);
        let mut steps = Vec::new();
        while !trainer.is_finished() {
            let before = gpu_work::snapshot();
            let wall = web_time::Instant::now();
            let (step, busy) = gpu_work::busy(trainer.step()).await;
            let step = step.unwrap().logged.pop().unwrap();
            let work = gpu_work::snapshot().since(&before);
            steps.push(serde_json::json!({
                "step": step.step,
                "loss": step.loss,
                "wall_s": wall.elapsed().as_secs_f64(),
                "busy_ms": busy.as_secs_f64() * 1e3,
                "dispatches": work.dispatches,
                "pipelines": work.pipelines,
                "top_kernels": if step.step == 1 { serde_json::Value::Null } else { serde_json::json!(work.top(6)) },
            }));
        }
        let steady: Vec<&serde_json::Value> = steps.iter().skip(1).collect();
        // The median: a step whose batch has a new padded length still compiles a few kernels.
        let median = |key: &str| {
            let mut xs: Vec<f64> = steady.iter().map(|s| s[key].as_f64().unwrap()).collect();
            xs.sort_by(f64::total_cmp);
            xs[xs.len() / 2]
        };
        let line = serde_json::json!({
            "workload": "bundled model step (browser)",
            "device": name,
            "tasks_per_submit": (name == "webgpu").then_some(tasks_per_submit),
            "batch": [settings.batch_size, settings.max_length],
            "fusion": cfg!(feature = "fusion"),
            "pipelines_counted": pipelines_counted,
            "first_step": steps[0],
            // What only the first step pays (kernel generation and compilation, first
            // allocations): its time beyond a steady step's, on the clock and on the thread.
            "first_step_setup": { "wall_s": (steps[0]["wall_s"].as_f64().unwrap() - median("wall_s")).max(0.0), "busy_ms": (steps[0]["busy_ms"].as_f64().unwrap() - median("busy_ms")).max(0.0) },
            "steady_median": { "wall_s": median("wall_s"), "busy_ms": median("busy_ms"), "dispatches": median("dispatches"), "pipelines": median("pipelines") },
            "steps": steps,
        });
        web_sys::console::log_1(&line.to_string().into());
    }
}
