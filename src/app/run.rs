//! The training run in the browser: builds the trainer from the chosen model, data and
//! settings, then drives `step().await` on the page's executor, yielding to the browser
//! between steps and honouring pause and stop. The page sees only [`RunView`] reports.

use std::rc::Rc;

use burn::module::Module;
use burn::tensor::Device;
use leptos::prelude::*;
use web_time::Instant;

use super::settings_step::check_fit;
use super::state::{Control, DeviceState, Mistake, ModelState, Results, RunPhase, RunView, Studio, Trained};
use crate::checkpoint::{CardInfo, ModelConfig, TextTokenizer, model_card};
use crate::data::{Example, LabelSet, TokenizedSet, stratified_split};
use crate::model::SequenceClassifier;
use crate::model::ModelError;
use crate::platform::{sleep_ms, yield_to_browser};
use crate::train::{LogRow, MemoryEstimate, StopReason, TrainError, Trainer, log_csv};

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

/// Tokenises `examples` a slice at a time, yielding to the browser between slices so a
/// large dataset does not freeze the page.
async fn tokenize(examples: &[Example], labels: &LabelSet, tokenizer: &TextTokenizer) -> Result<TokenizedSet, String> {
    const SLICE: usize = 256;
    let mut set = TokenizedSet::new(&examples[..examples.len().min(SLICE)], labels, tokenizer).map_err(|e| e.to_string())?;
    for slice in examples.chunks(SLICE).skip(1) {
        yield_to_browser().await;
        set.extend(TokenizedSet::new(slice, labels, tokenizer).map_err(|e| e.to_string())?);
    }
    Ok(set)
}

/// Moves this tab's training to the CPU backend (after the GPU failed to compute the
/// model before any update) and starts the run again.
pub fn train_on_cpu(studio: Studio) {
    if studio.training() {
        return;
    }
    studio.device_handle.set_value(Some(crate::platform::cpu_device()));
    studio.device.set(DeviceState::CpuChosen);
    // A model trained earlier keeps the device it was trained on (`Trained::device`).
    start(studio);
}

/// Starts a run (ignored while one is going).
pub fn start(studio: Studio) {
    if studio.training() {
        return;
    }
    leptos::task::spawn_local(async move {
        if let Err(message) = run(studio).await {
            studio.run.update(|r| {
                r.phase = RunPhase::Failed(message);
                r.eta = None;
            });
        }
    });
}

/// A read from the device failed during the run.
fn device_failed(device: &Device, detail: &str) -> String {
    format!("Training stopped: {}.", super::read_failed(device, detail))
}

fn set_phase(studio: Studio, phase: RunPhase) {
    studio.run.update(|r| r.phase = phase);
}

async fn run(studio: Studio) -> Result<(), String> {
    studio.control.set(Control::Run);
    studio.results.set(None);
    studio.run.set(RunView { phase: RunPhase::Preparing("Preparing the data…".into()), ..RunView::default() });
    yield_to_browser().await;
    let files = studio.model_files.get_value().ok_or("Pick a model first (step 1).")?;
    let base_name = match studio.model.get_untracked() {
        ModelState::Ready(facts) => facts.source,
        _ => return Err("Pick a model first (step 1).".into()),
    };
    let (train, valid) = studio.examples.get_value().ok_or("Load usable data first (step 2).")?;
    let data_source = studio.data.get_untracked().map(|d| d.source).unwrap_or_default();
    let (config, split) = studio.settings.get_untracked().parse().map_err(|e| format!("Fix the settings first (step 3): {}", e.message))?;
    let device = studio.device().ok_or("The device is not ready yet.")?;
    let (train, valid): (Vec<Example>, Vec<Example>) = match valid {
        Some(valid) => (train, valid),
        None if split > 0.0 => stratified_split(train, split, config.seed),
        None => (train, Vec::new()),
    };
    let labels = LabelSet::from_examples(&train);
    let model_config = ModelConfig::from_json(files.require("config.json").map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let max_length = config.max_length.min(model_config.max_tokens());
    let estimate = MemoryEstimate::classifier(&model_config, labels.names.len(), config.batch_size, max_length);
    check_fit(&estimate, &studio.device.get_untracked(), &model_config, max_length)?;

    set_phase(studio, RunPhase::Preparing(format!("Tokenising {} + {} examples…", train.len(), valid.len())));
    yield_to_browser().await;
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").map_err(|e| e.to_string())?, max_length, model_config.pad_token_id())
        .map_err(|e| e.to_string())?;
    let train_set = tokenize(&train, &labels, &tokenizer).await?;
    let valid_set = if valid.is_empty() { None } else { Some(tokenize(&valid, &labels, &tokenizer).await?) };

    set_phase(studio, RunPhase::Preparing("Building the model on the device…".into()));
    yield_to_browser().await;
    let (model, report, _) = SequenceClassifier::load(&files, &device.clone().autodiff(), Some(&labels.names), config.seed)
        .map_err(|e| e.to_string())?;
    let base = (!report.newly_initialized.iter().any(|m| m == "classifier")).then(|| model.valid());
    let label_names = report.labels.clone();
    let mut trainer = Trainer::new(model, label_names.clone(), train_set, valid_set.clone(), config.clone(), device.clone())
        .map_err(|e| e.to_string())?;
    let total_steps = trainer.total_steps();
    let steps_per_epoch = total_steps / config.epochs.max(1);
    studio.run.update(|r| {
        r.total_steps = total_steps;
        r.epochs = config.epochs;
        r.examples = (train.len(), valid.len());
        r.phase = RunPhase::Compiling;
        r.compiling_since = web_sys::window().and_then(|w| w.performance()).map(|p| p.now());
    });
    let mut active = 0.0f64;
    let mut step_seconds: Vec<f64> = Vec::new();
    let mut failure: Option<String> = None;
    while !trainer.is_finished() {
        match studio.control.get_untracked() {
            Control::Stop => break,
            Control::Pause => {
                set_phase(studio, RunPhase::Paused);
                while studio.control.get_untracked() == Control::Pause {
                    sleep_ms(100).await;
                }
                continue;
            }
            Control::Run => {}
        }
        let started = Instant::now();
        let step = match trainer.step().await {
            Ok(step) => step,
            // At step 1 nothing was learned, and the cause is the device, not the settings:
            // say so, and offer the CPU, when this is the GPU.
            Err(e) if e.before_any_update() => {
                let on_gpu = matches!(studio.device.get_untracked(), DeviceState::Gpu(_));
                if on_gpu {
                    web_sys::console::error_1(&format!("webtune: training failed on the GPU before any update: {e}").into());
                    studio.run.update(|r| r.offer_cpu = true);
                    return Err(format!(
                        "Training stopped: {e}. Here the device is the GPU (WebGPU), so this is a problem with the browser's GPU backend. \
                         Nothing was trained; you can train on the CPU in this tab instead (slower)."
                    ));
                }
                return Err(format!("Training stopped: {e}. Nothing was trained."));
            }
            Err(e @ TrainError::NonFinite { .. }) => {
                failure = Some(format!("{e}. The best weights so far are kept."));
                break;
            }
            Err(TrainError::Device(detail)) => return Err(device_failed(&device, &detail)),
            Err(e) => return Err(format!("Training stopped: {e}")),
        };
        active += started.elapsed().as_secs_f64();
        if step.step > 1 {
            step_seconds.push(step.seconds);
            if step_seconds.len() > 20 {
                step_seconds.remove(0);
            }
        }
        let typical = median(step_seconds.clone());
        let row = LogRow::from_step(&step, active);
        studio.run.update(|r| {
            if step.step == 1 {
                r.compile_seconds = Some(step.seconds);
                web_sys::console::log_1(&format!("webtune: first training step (kernel compilation) {:.1} s", step.seconds).into());
            }
            r.step = step.step;
            r.epoch = step.epoch;
            r.samples_per_second = step.samples_per_second;
            r.elapsed = active;
            r.eta = typical.map(|t| t * (total_steps - step.step) as f64);
            r.epoch_seconds = typical.map(|t| t * steps_per_epoch as f64);
            r.log.push(row);
            r.phase = RunPhase::Training;
        });
        if step.eval_due {
            set_phase(studio, RunPhase::Evaluating);
            yield_to_browser().await;
            let started = Instant::now();
            let eval = trainer.evaluate().await.map_err(|e| match e {
                TrainError::Device(detail) => device_failed(&device, &detail),
                e => format!("Evaluation failed: {e}"),
            })?;
            active += started.elapsed().as_secs_f64();
            if let Some(eval) = eval {
                studio.run.update(|r| {
                    if let Some(last) = r.log.last_mut() {
                        last.set_eval(&eval);
                    }
                    r.phase = RunPhase::Training;
                });
            }
        }
        yield_to_browser().await;
    }

    set_phase(studio, RunPhase::Preparing("Scoring the kept model on the validation set…".into()));
    yield_to_browser().await;
    let model = trainer.model_for_export();
    let kept_step = trainer.best().map_or(trainer.steps_done(), |b| b.step);
    let ended = match (&failure, trainer.stop_reason(), studio.control.get_untracked()) {
        (Some(f), _, _) => f.clone(),
        (None, Some(StopReason::EarlyStopping { step }), _) => format!("Stopped early at step {step}: validation stopped improving."),
        (None, Some(StopReason::Completed), _) => "All epochs done.".to_string(),
        (None, None, _) => format!("Stopped by you at step {}.", trainer.steps_done()),
    };
    let (report, mistakes) = match &valid_set {
        Some(set) => {
            let (report, predictions) = crate::train::score(&model, set, &label_names, config.batch_size, &device).await.map_err(|e| match e {
                ModelError::Readback(detail) => device_failed(&device, &detail),
                e => e.to_string(),
            })?;
            let mut mistakes: Vec<Mistake> = valid
                .iter()
                .zip(&predictions)
                .filter(|(e, p)| e.label.as_deref() != Some(p.label.as_str()))
                .map(|(e, p)| Mistake {
                    line: e.line,
                    text: e.text.clone(),
                    pair: e.pair.clone(),
                    truth: e.label.clone().unwrap_or_default(),
                    predicted: p.label.clone(),
                    confidence: p.probs.get(p.index).copied().unwrap_or(0.0),
                })
                .collect();
            mistakes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            (Some(report), mistakes)
        }
        None => (None, Vec::new()),
    };
    let base_model_id = base_name.strip_suffix(" (Hugging Face Hub)").filter(|id| !id.starts_with("http")).map(str::to_string);
    let card = model_card(&CardInfo {
        base_model: base_name.clone(),
        base_model_id,
        data_source: data_source.clone(),
        train_rows: train.len(),
        valid_rows: valid.len(),
        label_counts: labels.names.iter().cloned().zip(labels.counts.iter().copied()).collect(),
        pairs: train.iter().any(|e| e.pair.is_some()),
        settings: config.clone(),
        steps: (trainer.steps_done(), kept_step),
        metrics: report.clone(),
    });
    let metrics = serde_json::json!({
        "best_step": trainer.best().map(|b| b.step),
        "steps": trainer.steps_done(),
        "stop_reason": trainer.stop_reason(),
        "validation": report,
    });
    let training_args = serde_json::json!({
        "webtune_version": env!("CARGO_PKG_VERSION"),
        "base_model": base_name,
        "data": data_source,
        "valid_split": split,
        "settings": config,
    });
    // A GPU that failed and was replaced meanwhile: what was computed on it is gone.
    if studio.device().as_ref() != Some(&device) {
        return Err(device_failed(&device, "the device was replaced during the run"));
    }
    let log_csv = log_csv(&studio.run.get_untracked().log);
    studio.trained.set_value(Some(Rc::new(Trained { model, base, labels: label_names, tokenizer, device, training_args, metrics, card, log_csv })));
    studio.trained_version.update(|v| *v += 1);
    studio.results.set(Some(Results { report, mistakes, kept_step, ended: ended.clone() }));
    match failure {
        Some(f) => set_phase(studio, RunPhase::Failed(f)),
        None => set_phase(studio, RunPhase::Finished(ended)),
    }
    Ok(())
}
