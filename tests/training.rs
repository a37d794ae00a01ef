//! The training engine against PyTorch and on known tasks (CPU backend, tiny models):
//! gradient and AdamW parity, accumulation equivalence, learning a learnable task,
//! export round trip, and the errors for impossible data and diverging runs.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_after_adamw, mark_ill_conditioned, relative_error, torch_clip, torch_layout};

use std::path::{Path, PathBuf};

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Deserialize;
use webtune::checkpoint::{ModelFiles, TextInput, TextTokenizer};
use webtune::export::export_classifier;
use webtune::data::{Example, LabelSet, TokenizedSet};
use webtune::model::SequenceClassifier;
use webtune::platform::{cpu_device, read_model_folder};
use webtune::rng::SeededRng;
use webtune::train::{AdamW, AdamWSettings, NonFiniteCause, TrainConfig, TrainError, Trainer, clip_factor, cross_entropy, global_grad_norm, predict};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(Deserialize)]
struct GradFixture {
    texts: Vec<String>,
    labels: Vec<i64>,
    lr: f64,
    weight_decay: f64,
    max_grad_norm: f64,
    ids: Vec<Vec<u32>>,
    steps: Vec<GradStep>,
}

#[derive(Deserialize)]
struct GradStep {
    loss: f64,
    grad_norm: f64,
    grads: std::collections::BTreeMap<String, Vec<f32>>,
    after: std::collections::BTreeMap<String, Vec<f32>>,
}

/// (param id, whether it is a matrix, whether burn stores it transposed) of a transformers
/// parameter name, through the export's name table.
fn param(model: &SequenceClassifier, name: &str) -> (ParamId, bool, bool) {
    let t = model.named_tensors().into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no parameter named {name}"));
    (t.id, t.shape.len() == 2, t.transpose)
}

/// The PyTorch-layout values of parameter `name`, through the export mapping.
fn tensor_of(model: &SequenceClassifier, name: &str) -> Vec<f32> {
    let t = model.named_tensors().into_iter().find(|t| t.name == name).unwrap();
    torch_layout(t.tensor, t.transpose)
}

#[test]
fn loss_gradients_and_two_adamw_steps_match_pytorch() {
    two_adamw_steps_match_pytorch("tiny-bert-cls");
}

#[test]
fn roberta_loss_gradients_and_two_adamw_steps_match_pytorch() {
    two_adamw_steps_match_pytorch("tiny-roberta-cls");
}

#[test]
fn modernbert_loss_gradients_and_two_adamw_steps_match_pytorch() {
    two_adamw_steps_match_pytorch("tiny-modernbert-cls");
}

/// The loss, the gradients of the fixture's parameters, the global norm and the weights
/// after two clipped AdamW steps of the classifier in `folder`, against PyTorch's.
fn two_adamw_steps_match_pytorch(folder: &str) {
    let fixture: GradFixture = serde_json::from_str(&std::fs::read_to_string(fixtures().join(format!("{folder}.grads.json"))).unwrap()).unwrap();
    let files = read_model_folder(&fixtures().join(folder)).unwrap();
    let device = cpu_device();
    let train_device = device.clone().autodiff();
    let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
    let (mut model, report) = SequenceClassifier::load(&checkpoint, &train_device, None, 0).unwrap();
    assert_eq!(report.labels, vec!["neg", "neu", "pos"]);
    assert!(report.newly_initialized.is_empty());
    let tokenizer = checkpoint.tokenizer(32).unwrap();
    let inputs: Vec<TextInput> = fixture.texts.iter().map(|t| TextInput::single(t.clone())).collect();
    let batch = tokenizer.encode_batch(&inputs).unwrap();
    let padded: Vec<Vec<u32>> = batch.input_ids.chunks(batch.seq_len).map(|r| r.iter().map(|&i| i as u32).collect()).collect();
    assert_eq!(padded, fixture.ids, "batch ids as transformers pads them");
    let mut optimizer = AdamW::new(AdamWSettings { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: fixture.weight_decay });
    let mut ill: std::collections::BTreeMap<&str, Vec<bool>> = Default::default();
    for (n, step) in fixture.steps.iter().enumerate() {
        let targets = Tensor::<1, Int>::from_data(TensorData::new(fixture.labels.clone(), [fixture.labels.len()]), &train_device);
        let loss = cross_entropy(model.forward_batch(&batch, &train_device), targets);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let got_loss = loss.into_scalar::<f32>() as f64;
        assert!((got_loss - step.loss).abs() / step.loss < 1e-4, "step {n}: loss {got_loss} vs PyTorch {}", step.loss);
        for (name, want) in &step.grads {
            let (id, matrix, transpose) = param(&model, name);
            let got = if matrix { torch_layout(grads.get::<2>(id).unwrap(), transpose) } else { torch_layout(grads.get::<1>(id).unwrap(), false) };
            let err = relative_error(&got, want);
            assert!(err < 1e-4, "step {n}: gradient of {name} differs from PyTorch: relative error {err}");
        }
        let norm = global_grad_norm(&model, &grads, &device);
        let got_norm = norm.clone().into_scalar::<f32>() as f64;
        assert!((got_norm - step.grad_norm).abs() / step.grad_norm < 1e-4, "step {n}: grad norm {got_norm} vs {}", step.grad_norm);
        model = optimizer.step(model, grads, fixture.lr, Some(clip_factor(norm, fixture.max_grad_norm)));
        for (name, g) in &step.grads {
            mark_ill_conditioned(ill.entry(name).or_default(), g, torch_clip(fixture.max_grad_norm, step.grad_norm));
        }
        for (name, want) in &step.after {
            let got = tensor_of(&model, name);
            let marks = ill.get(name.as_str()).cloned().unwrap_or_default();
            assert_after_adamw(&format!("{folder} step {n}: {name} after AdamW"), &got, want, &marks, fixture.lr, n + 1, 1e-5);
        }
    }
}

fn example(text: &str, label: &str, line: usize) -> Example {
    Example { text: text.to_string(), pair: None, label: Some(label.to_string()), line }
}

/// A learnable task in the tiny vocabulary: the label is which word family a text uses.
fn keyword_task(n: usize, seed: u64) -> Vec<Example> {
    let positive = ["love", "best", "fine", "ever", "like"];
    let negative = ["lazy", "no", "wait", "way", "long"];
    let filler = ["the", "quick", "brown", "fox", "day", "dog", "one", "over", "with", "this"];
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|i| {
            let (words, label) = if i % 2 == 0 { (&positive, "pos") } else { (&negative, "neg") };
            let mut text: Vec<&str> = (0..5).map(|_| filler[rng.below(filler.len())]).collect();
            for _ in 0..2 {
                text.insert(rng.below(text.len() + 1), words[rng.below(words.len())]);
            }
            example(&text.join(" "), label, i + 2)
        })
        .collect()
}

fn tiny_cls_files() -> ModelFiles {
    read_model_folder(&fixtures().join("tiny-bert-cls")).unwrap()
}

struct Setup {
    trainer: Trainer<webtune::train::SequenceClassification>,
    tokenizer: TextTokenizer,
    labels: Vec<String>,
}

fn setup(files: &ModelFiles, train: &[Example], valid: &[Example], config: TrainConfig) -> Result<Setup, TrainError> {
    let device = cpu_device();
    let labels = LabelSet::from_examples(train);
    let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
    let (model, report) = SequenceClassifier::load(&checkpoint, &device.clone().autodiff(), Some(&labels.names), config.seed).unwrap();
    let tokenizer = checkpoint.tokenizer(config.max_length.min(checkpoint.limit())).unwrap();
    let train_set = TokenizedSet::new(train, &labels, &tokenizer).unwrap();
    let valid_set = (!valid.is_empty()).then(|| TokenizedSet::new(valid, &labels, &tokenizer).unwrap());
    let trainer = Trainer::new(model, report.labels.clone(), train_set, valid_set, config, device)?;
    Ok(Setup { trainer, tokenizer, labels: report.labels })
}

#[test]
fn accumulating_two_half_batches_equals_one_full_batch() {
    let data = keyword_task(32, 1);
    let config = TrainConfig { learning_rate: 1e-3, epochs: 1, warmup_ratio: 0.0, max_length: 32, ..TrainConfig::default() };
    let mut full = setup(&tiny_cls_files(), &data, &[], TrainConfig { batch_size: 32, grad_accum: 1, ..config.clone() }).unwrap();
    let mut halves = setup(&tiny_cls_files(), &data, &[], TrainConfig { batch_size: 16, grad_accum: 2, ..config }).unwrap();
    let a = pollster::block_on(full.trainer.step()).unwrap().logged.pop().unwrap();
    let b = pollster::block_on(halves.trainer.step()).unwrap().logged.pop().unwrap();
    assert_eq!((a.samples_seen, b.samples_seen), (32, 32));
    assert!((a.loss - b.loss).abs() < 1e-5, "loss {} vs {}", a.loss, b.loss);
    assert!((a.grad_norm - b.grad_norm).abs() / a.grad_norm < 1e-4, "grad norm {} vs {}", a.grad_norm, b.grad_norm);
    for name in ["classifier.weight", "bert.encoder.layer.1.attention.self.query.weight"] {
        let x = tensor_of(&full.trainer.model_for_export(), name);
        let y = tensor_of(&halves.trainer.model_for_export(), name);
        assert!(relative_error(&y, &x) < 1e-5, "{name} after one step differs: {}", relative_error(&y, &x));
    }
    assert!(full.trainer.is_finished() && halves.trainer.is_finished());
}

#[test]
fn learns_a_learnable_task_to_95_percent_and_exports_what_it_learned() {
    let train = keyword_task(256, 2);
    let valid = keyword_task(64, 3);
    let files = read_model_folder(&fixtures().join("tiny-bert")).unwrap();
    let config = TrainConfig { learning_rate: 2e-3, batch_size: 16, epochs: 4, max_length: 32, ..TrainConfig::default() };
    let Setup { mut trainer, tokenizer, labels } = setup(&files, &train, &valid, config.clone()).unwrap();
    assert_eq!(labels, vec!["neg", "pos"]);
    assert_eq!(trainer.total_steps(), 64);
    let mut losses = Vec::new();
    let mut evals = Vec::new();
    while !trainer.is_finished() {
        let step = pollster::block_on(trainer.step()).unwrap();
        losses.push(step.report().unwrap().loss);
        if step.eval_due {
            evals.push(pollster::block_on(trainer.evaluate()).unwrap().unwrap());
        }
    }
    assert_eq!(evals.len(), 4, "one evaluation per epoch");
    let first: f64 = losses[..8].iter().sum::<f64>() / 8.0;
    let last: f64 = losses[losses.len() - 8..].iter().sum::<f64>() / 8.0;
    assert!(last < first * 0.5, "training loss should fall: first steps {first:.4}, last steps {last:.4}");
    let best = trainer.best().unwrap();
    assert!(best.evaluation.report.accuracy >= 0.95, "best validation accuracy {}", best.evaluation.report.accuracy);

    // Export, load back, and predict the same as the best checkpoint.
    let metrics = serde_json::json!({"validation": best.evaluation.report});
    let export = pollster::block_on(export_classifier(trainer.model_for_export().named_tensors(), &files, &labels, &config, &metrics)).unwrap();
    let config_json: serde_json::Value = serde_json::from_slice(export.get("config.json").unwrap()).unwrap();
    assert_eq!(config_json["architectures"], serde_json::json!(["BertForSequenceClassification"]));
    assert_eq!(config_json["id2label"], serde_json::json!({"0": "neg", "1": "pos"}));
    assert_eq!(config_json["label2id"], serde_json::json!({"neg": 0, "pos": 1}));
    for name in ["model.safetensors", "tokenizer.json", "tokenizer_config.json", "training_args.json", "metrics.json"] {
        assert!(export.get(name).is_some(), "export lacks {name}");
    }
    let checkpoint = webtune::checkpoint::Checkpoint::from_files(export.clone()).unwrap();
    let (reloaded, report) = SequenceClassifier::load(&checkpoint, &cpu_device(), None, 0).unwrap();
    assert_eq!(report.labels, labels);
    assert!(report.newly_initialized.is_empty() && report.ignored_tensors.is_empty());
    let inputs: Vec<TextInput> = valid.iter().map(|e| TextInput::single(e.text.clone())).collect();
    let before = pollster::block_on(predict(&best.model, &tokenizer, &inputs, &labels, 16, &cpu_device())).unwrap();
    let after = pollster::block_on(predict(&reloaded, &tokenizer, &inputs, &labels, 16, &cpu_device())).unwrap();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.label, a.label);
        assert!((b.probs[0] - a.probs[0]).abs() < 1e-5);
    }
    let correct = after.iter().zip(&valid).filter(|(p, e)| Some(&p.label) == e.label.as_ref()).count();
    assert!(correct as f64 / valid.len() as f64 >= 0.95);
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_weights() {
    let data = keyword_task(64, 4);
    let config = TrainConfig { learning_rate: 1e9, batch_size: 8, epochs: 2, warmup_ratio: 0.0, max_grad_norm: 0.0, max_length: 32, ..TrainConfig::default() };
    let mut s = setup(&tiny_cls_files(), &data, &[], config).unwrap();
    let mut failure = None;
    for _ in 0..16 {
        match pollster::block_on(s.trainer.step()) {
            Ok(_) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let (step, last_good) = match &failure {
        Some(TrainError::NonFinite { step, last_good, .. }) => (*step, *last_good),
        other => panic!("expected a non-finite loss, got {other:?}"),
    };
    assert_eq!(last_good, step - 1);
    assert_eq!(s.trainer.steps_done(), last_good);
    let error = failure.unwrap();
    assert!(!error.before_any_update());
    let message = error.to_string();
    assert!(message.contains(&format!("at step {step} (")), "{message}");
    assert!(message.contains(&format!("; the model keeps the weights of step {last_good}. Lower the learning rate")), "{message}");
}

/// Every step's report and the final weights of a run read back every `every` steps
/// (with how many steps each call read back), on the CPU.
fn run_read_every(every: Option<usize>, config: TrainConfig, data: &[Example], valid: &[Example]) -> (Vec<webtune::train::StepReport>, Vec<usize>, Vec<f32>) {
    let mut s = setup(&tiny_cls_files(), data, valid, TrainConfig { log_every: every, ..config }).unwrap();
    let (mut reports, mut groups) = (Vec::new(), Vec::new());
    while !s.trainer.is_finished() {
        let mut progress = pollster::block_on(s.trainer.step()).unwrap();
        groups.push(progress.logged.len());
        if progress.eval_due {
            assert_eq!(progress.report().map(|r| r.step), Some(progress.step), "a step before an evaluation is read back with it");
            pollster::block_on(s.trainer.evaluate()).unwrap();
        }
        reports.append(&mut progress.logged);
    }
    (reports, groups, tensor_of(&s.trainer.current_model(), "bert.encoder.layer.1.attention.self.query.weight"))
}

/// Reading losses back in groups (issue 13: no read, so no wait for the GPU, at every
/// step) changes when the host learns them, not what the run learns: every step is
/// reported once, in order, with the same loss and gradient norm, and the weights end
/// bit for bit the same. The first step, the steps before an evaluation and the last
/// are read back by themselves.
#[test]
fn reading_losses_back_in_groups_learns_the_same_and_reports_every_step() {
    let data = keyword_task(64, 4);
    let valid = keyword_task(8, 9);
    let config = TrainConfig { learning_rate: 1e-3, batch_size: 4, epochs: 1, warmup_ratio: 0.1, max_length: 32, eval_every: Some(8), ..TrainConfig::default() };
    let (one, groups_one, weights_one) = run_read_every(Some(1), config.clone(), &data, &valid);
    assert_eq!(one.len(), 16);
    assert!(groups_one.iter().all(|&g| g == 1), "{groups_one:?}");
    let (three, groups_three, weights_three) = run_read_every(Some(3), config.clone(), &data, &valid);
    // Read at step 1, then every third step, and at the evaluations after steps 8 and 16.
    assert_eq!(groups_three, vec![1, 0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 2]);
    let (auto, _, weights_auto) = run_read_every(None, config, &data, &valid);
    for other in [&three, &auto] {
        assert_eq!(other.iter().map(|r| r.step).collect::<Vec<_>>(), (1..=16).collect::<Vec<_>>());
        for (a, b) in one.iter().zip(other.iter()) {
            assert_eq!((a.loss, a.grad_norm, a.learning_rate, a.epoch, a.samples_seen), (b.loss, b.grad_norm, b.learning_rate, b.epoch, b.samples_seen), "step {}", a.step);
        }
    }
    assert_eq!(weights_one, weights_three);
    assert_eq!(weights_one, weights_auto);
}

/// A run that diverges between reads stops at the step that diverged, as one read at
/// every step does, and keeps the same last good weights: on the device, no update
/// happens from the failed step on. The steps before it are reported, each once.
#[test]
fn a_run_read_in_groups_that_diverges_keeps_the_weights_of_the_step_before() {
    let data = keyword_task(64, 4);
    let config = TrainConfig { learning_rate: 1e9, batch_size: 8, epochs: 2, warmup_ratio: 0.0, max_grad_norm: 0.0, max_length: 32, ..TrainConfig::default() };
    let diverge = |every: usize| {
        let mut s = setup(&tiny_cls_files(), &data, &[], TrainConfig { log_every: Some(every), ..config.clone() }).unwrap();
        let mut reported = Vec::new();
        let error = loop {
            match pollster::block_on(s.trainer.step()) {
                Ok(mut progress) => reported.append(&mut progress.logged),
                Err(e) => break e,
            }
        };
        reported.append(&mut s.trainer.take_logged());
        let TrainError::NonFinite { step, last_good, .. } = error else { panic!("expected a non-finite step, got {error:?}") };
        let weights = tensor_of(&s.trainer.current_model(), "bert.encoder.layer.1.attention.self.query.weight");
        (step, last_good, s.trainer.steps_done(), s.trainer.state().optimizer_steps, reported.iter().map(|r| r.step).collect::<Vec<_>>(), weights)
    };
    let (step, last_good, done, adam_steps, reported, weights) = diverge(1);
    assert!(step > 1, "the first step is finite at any learning rate");
    assert_eq!((last_good, done, adam_steps), (step - 1, step - 1, (step - 1) as i32));
    assert!(weights.iter().all(|w| w.is_finite()));
    let grouped = diverge(5);
    assert_eq!(grouped.0, step, "the same step fails");
    assert_eq!((grouped.1, grouped.2, grouped.3), (last_good, done, adam_steps));
    assert_eq!(grouped.4, reported, "every step before the failure reported once");
    assert_eq!(grouped.5, weights, "the weights of the step before the failure, bit for bit");
}

/// `files` with one value of the tensor `name` replaced by `value`.
fn with_weight_value(files: &ModelFiles, name: &str, index: usize, value: f32) -> ModelFiles {
    let bytes = files.get("model.safetensors").unwrap();
    let tensors = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(n, view)| (n.to_string(), view.shape().to_vec(), view.data().to_vec()))
        .collect();
    let (_, _, data) = owned.iter_mut().find(|(n, _, _)| n == name).expect("the tensor is in the fixture");
    data[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, shape, data)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data).unwrap()))
        .collect();
    let mut out = ModelFiles::new("poisoned");
    for file in files.names() {
        out.insert(file, files.get(file).unwrap().to_vec());
    }
    out.insert("model.safetensors", safetensors::serialize(views, None).unwrap());
    out
}

/// A loss that is not finite before any update cannot be the learning rate's fault: the
/// error says so, is not the divergence advice, and names the first operation whose
/// output was not finite (here the value projection holding a NaN weight).
#[test]
fn a_non_finite_first_step_names_the_first_bad_output_and_blames_no_setting() {
    let poisoned = with_weight_value(&tiny_cls_files(), "bert.encoder.layer.1.attention.self.value.weight", 5, f32::NAN);
    let config = TrainConfig { batch_size: 8, epochs: 1, max_length: 32, ..TrainConfig::default() };
    let mut s = setup(&poisoned, &keyword_task(16, 4), &[], config).unwrap();
    let error = pollster::block_on(s.trainer.step()).unwrap_err();
    assert!(error.before_any_update(), "{error}");
    let TrainError::NonFinite { step: 1, last_good: 0, loss, cause: NonFiniteCause::Loss { first: Some(first) } } = &error else {
        panic!("expected a non-finite loss at step 1 traced to an output, got {error:?}");
    };
    assert!(loss.is_nan(), "{loss}");
    // One weight of the value projection feeds one output column: one NaN per token.
    assert!(first.starts_with("encoder.layer.1.attention.self.value ("), "{first}");
    let tokens = 8 * s.trainer.config().max_length.min(32);
    let nans: usize = first.split(" (").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(nans > 0 && nans <= tokens && nans % 8 == 0, "one NaN per token of the 8 examples: {first}");
    let message = error.to_string();
    assert!(message.starts_with("at step 1, before training changed any weight, the training loss was NaN on this device (the first value that was not finite came from encoder.layer.1.attention.self.value ("), "{message}");
    assert!(message.contains("The settings cannot have caused this"), "{message}");
    assert!(!message.contains("learning rate"), "{message}");
    assert_eq!(s.trainer.steps_done(), 0);
}

#[test]
fn rejects_impossible_data_before_any_gpu_work() {
    let files = tiny_cls_files();
    let one_class: Vec<Example> = (0..4).map(|i| example("the dog", "pos", i + 2)).collect();
    let err = setup(&files, &one_class, &[], TrainConfig::default()).err().unwrap();
    assert_eq!(err.to_string(), "the label column has only one class (pos); classification needs at least two");

    let train = keyword_task(8, 5);
    let valid = vec![example("the dog", "pos", 2), example("the fox", "maybe", 3)];
    let err = setup(&files, &train, &valid, TrainConfig::default()).err().unwrap();
    assert_eq!(err.to_string(), "line 3 of the validation data has a label not seen in training; the model knows: neg, pos");

    let err = setup(&files, &train, &[], TrainConfig { batch_size: 0, ..TrainConfig::default() }).err().unwrap();
    assert!(err.to_string().starts_with("setting batch size = 0 is impossible"), "{err}");
}

#[test]
fn early_stopping_ends_a_run_that_stops_improving() {
    // A learning rate of (almost) nothing cannot improve validation accuracy after the first evaluation.
    let train = keyword_task(64, 6);
    let valid = keyword_task(16, 7);
    let config = TrainConfig {
        learning_rate: 1e-12,
        batch_size: 8,
        epochs: 10,
        max_length: 32,
        eval_every: Some(2),
        early_stopping_patience: Some(2),
        early_stopping_min_delta: 0.01,
        ..TrainConfig::default()
    };
    let mut s = setup(&tiny_cls_files(), &train, &valid, config).unwrap();
    let mut evaluations = 0;
    while !s.trainer.is_finished() {
        if pollster::block_on(s.trainer.step()).unwrap().eval_due {
            pollster::block_on(s.trainer.evaluate()).unwrap();
            evaluations += 1;
        }
    }
    assert_eq!(evaluations, 3, "best at the first evaluation, then two without improvement");
    assert_eq!(s.trainer.steps_done(), 6);
    assert_eq!(s.trainer.best().unwrap().step, 2);
    assert_eq!(s.trainer.stop_reason(), Some(&webtune::train::StopReason::EarlyStopping { step: 6 }));
}

/// The same eight-example run as the WebGPU browser test (tests/web.rs), on the CPU; both
/// backends give the same losses to about 1e-6.
#[test]
fn eight_examples_loss_falls_step_by_step() {
    let examples = common::eight_examples();
    let config = common::eight_examples_config();
    let mut s = setup(&tiny_cls_files(), &examples, &[], config).unwrap();
    let mut losses = Vec::new();
    while !s.trainer.is_finished() {
        losses.push(pollster::block_on(s.trainer.step()).unwrap().report().unwrap().loss);
    }
    common::assert_loss_falls("CPU", &losses);
}

#[test]
fn sentence_pairs_are_encoded_with_segments_and_train() {
    let pairs = [("the quick fox", "the fox", "same"), ("the lazy dog", "no way", "other"), ("love this day", "best day", "same"), ("wait", "the long one", "other")];
    let examples: Vec<Example> = pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b, l))| Example { text: a.to_string(), pair: Some(b.to_string()), label: Some(l.to_string()), line: i + 2 })
        .collect();
    let files = tiny_cls_files();
    let labels = LabelSet::from_examples(&examples);
    let tokenizer = TextTokenizer::from_bytes(files.get("tokenizer.json").unwrap(), 32, 0).unwrap();
    let set = TokenizedSet::new(&examples, &labels, &tokenizer).unwrap();
    // [CLS] the quick fox [SEP] the fox [SEP], segments 0 for the first text, 1 for the second.
    assert_eq!(set.encoded[0].ids, vec![2, 95, 96, 98, 3, 95, 98, 3]);
    assert_eq!(set.encoded[0].type_ids, vec![0, 0, 0, 0, 0, 1, 1, 1]);
    let config = TrainConfig { batch_size: 4, epochs: 1, max_length: 32, ..TrainConfig::default() };
    let mut s = setup(&files, &examples, &[], config).unwrap();
    let step = pollster::block_on(s.trainer.step()).unwrap().logged.pop().unwrap();
    assert!(step.loss.is_finite() && step.loss > 0.0);
}

/// Texts of 2 to 13 words (so token lengths vary), labelled by their keyword family.
fn varied_task(n: usize, seed: u64) -> Vec<Example> {
    let positive = ["love", "best", "fine"];
    let negative = ["lazy", "wait", "long"];
    let filler = ["the", "quick", "brown", "fox", "day", "dog", "one", "over", "with", "this"];
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|i| {
            let (words, label) = if i % 2 == 0 { (&positive, "pos") } else { (&negative, "neg") };
            let mut text: Vec<&str> = (0..1 + rng.below(12)).map(|_| filler[rng.below(filler.len())]).collect();
            text.insert(rng.below(text.len() + 1), words[rng.below(words.len())]);
            example(&text.join(" "), label, i + 2)
        })
        .collect()
}

/// Bucketed padding (`pad_to_multiple_of`, issue 13: fewer distinct shapes for the GPU to
/// compile kernels for) trains as padding to the longest example does: for every encoder
/// family, the same step losses and gradient norms, the same evaluation, the same weights.
#[test]
fn padding_to_a_multiple_trains_as_padding_to_the_longest() {
    use webtune::checkpoint::Padding;
    let data = varied_task(24, 7);
    for folder in ["tiny-bert-cls", "tiny-roberta-cls", "tiny-modernbert-cls"] {
        let files = read_model_folder(&fixtures().join(folder)).unwrap();
        let config = TrainConfig { learning_rate: 1e-3, batch_size: 8, epochs: 1, warmup_ratio: 0.0, max_length: 48, ..TrainConfig::default() };
        let mut plain = setup(&files, &data, &data[..8], config.clone()).unwrap();
        let mut bucketed = setup(&files, &data, &data[..8], TrainConfig { pad_to_multiple_of: 16, ..config }).unwrap();
        // The padding does change the shapes: batches of the longest are not multiples of 16.
        let mut set = TokenizedSet::new(&data, &LabelSet::from_examples(&data), &plain.tokenizer).unwrap();
        let batches: Vec<Vec<usize>> = (0..3).map(|b| (b * 8..b * 8 + 8).collect()).collect();
        let longest: Vec<usize> = batches.iter().map(|b| set.batch(b).seq_len).collect();
        assert!(longest.iter().all(|l| l % 16 != 0), "{folder}: {longest:?}");
        set.set_padding(Padding { multiple: 16, cap: 48 });
        let rounded: Vec<usize> = batches.iter().map(|b| set.batch(b).seq_len).collect();
        assert_eq!(rounded, longest.iter().map(|l| l.next_multiple_of(16)).collect::<Vec<_>>(), "{folder}");
        while !plain.trainer.is_finished() {
            let a = pollster::block_on(plain.trainer.step()).unwrap().logged.pop().unwrap();
            let b = pollster::block_on(bucketed.trainer.step()).unwrap().logged.pop().unwrap();
            assert!((a.loss - b.loss).abs() / a.loss < 1e-5, "{folder} step {}: loss {} vs {}", a.step, a.loss, b.loss);
            assert!((a.grad_norm - b.grad_norm).abs() / a.grad_norm < 1e-5, "{folder} step {}: grad norm {} vs {}", a.step, a.grad_norm, b.grad_norm);
        }
        let x = pollster::block_on(plain.trainer.evaluate()).unwrap().unwrap().report;
        let y = pollster::block_on(bucketed.trainer.evaluate()).unwrap().unwrap().report;
        assert!((x.loss - y.loss).abs() / x.loss < 1e-5 && x.accuracy == y.accuracy, "{folder}: evaluation {x:?} vs {y:?}");
        let (p, q) = (plain.trainer.model_for_export().named_tensors(), bucketed.trainer.model_for_export().named_tensors());
        for (s, t) in p.into_iter().zip(q) {
            let err = relative_error(&torch_layout(t.tensor, t.transpose), &torch_layout(s.tensor, s.transpose));
            assert!(err < 1e-5, "{folder}: {} differs after training: {err}", s.name);
        }
    }
}
