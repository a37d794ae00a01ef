//! Browser tests (wasm-bindgen-test in headless Chromium, WebGPU on SwiftShader):
//! the device has the adapter's limits, and the tiny BERT matches sentence-transformers.
//! Run by `cargo xtask test`.

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
    let (model, report) = SentenceEmbedder::load(&files, &device, None).unwrap();
    assert_eq!(report.max_length, 32);
    let got = model.embed(&parity.texts()).await.unwrap();
    let (cos, diff) = assert_matches("tiny-bert on WebGPU", &got, &parity.cases, &reference(&parity.cases), 1e-4);
    web_sys::console::log_1(&format!("tiny-bert on WebGPU: worst cosine {cos}, worst max abs diff {diff}").into());
}

#[wasm_bindgen_test]
async fn training_on_webgpu_lowers_the_loss() {
    use webtune::checkpoint::TextTokenizer;
    use webtune::data::{LabelSet, TokenizedSet};
    use webtune::model::BertForSequenceClassification;
    use webtune::train::Trainer;

    let (device, _) = webgpu_device().await.expect("a WebGPU adapter");
    let files = fetch_model_files("/tests/fixtures/tiny-bert-cls/", |_, _| {}).await.unwrap();
    let examples = common::eight_examples();
    let labels = LabelSet::from_examples(&examples);
    // The same run as tests/training.rs's eight_examples_loss_falls_step_by_step on the CPU.
    let config = common::eight_examples_config();
    let (model, report, bert) = BertForSequenceClassification::load(&files, &device.clone().autodiff(), Some(&labels.names), 1).unwrap();
    let tokenizer = TextTokenizer::from_bytes(files.get("tokenizer.json").unwrap(), 32, bert.pad_token_id).unwrap();
    let set = TokenizedSet::new(&examples, &labels, &tokenizer).unwrap();
    let mut trainer = Trainer::new(model, report.labels, set, None, config, device).unwrap();
    let mut losses = Vec::new();
    while !trainer.is_finished() {
        let step = trainer.step().await.unwrap();
        web_sys::console::log_1(&format!("WebGPU step {}: loss {:.4} in {:.2} s", step.step, step.loss, step.seconds).into());
        losses.push(step.loss);
    }
    common::assert_loss_falls("WebGPU", &losses);
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
