//! Step 3: settings. Each with its default and a line on what it does; checked as typed,
//! with an estimate of device memory and a refusal (with a suggestion) for settings that
//! cannot fit.

use leptos::prelude::*;

use super::state::{DeviceState, ModelState, Step, Studio};
use super::{NextButton, StepSection, duration, megabytes};
use crate::checkpoint::ModelConfig;
use crate::train::{MemoryEstimate, TrainConfig};

/// The settings as typed (strings until checked).
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsForm {
    /// Passes over the training data.
    pub epochs: String,
    /// Peak learning rate.
    pub learning_rate: String,
    /// Examples per micro-batch.
    pub batch_size: String,
    /// Tokens per input.
    pub max_length: String,
    /// Share of steps warming up.
    pub warmup_ratio: String,
    /// Decoupled weight decay.
    pub weight_decay: String,
    /// Micro-batches per optimizer step.
    pub grad_accum: String,
    /// Evaluate every N steps (empty: each epoch).
    pub eval_every: String,
    /// Stop after N evaluations without improvement (empty: off).
    pub early_stopping: String,
    /// Seed for split, order, dropout and new weights.
    pub seed: String,
    /// Share held out for validation when there is no validation file.
    pub valid_split: String,
}

impl Default for SettingsForm {
    fn default() -> Self {
        let d = TrainConfig::default();
        Self {
            epochs: d.epochs.to_string(),
            learning_rate: format!("{:e}", d.learning_rate),
            batch_size: d.batch_size.to_string(),
            max_length: d.max_length.to_string(),
            warmup_ratio: d.warmup_ratio.to_string(),
            weight_decay: d.weight_decay.to_string(),
            grad_accum: d.grad_accum.to_string(),
            eval_every: String::new(),
            early_stopping: String::new(),
            seed: d.seed.to_string(),
            valid_split: "0.1".into(),
        }
    }
}

/// A setting that cannot be used: the field's id and why.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The input's id (`setting-epochs`, …).
    pub field: &'static str,
    /// What is wrong and what would work.
    pub message: String,
}

/// The fields: id, the form's value, label and a line on what it does.
pub const FIELDS: [(&str, &str, &str); 11] = [
    ("setting-epochs", "Epochs", "Passes over the training data. 2–4 is typical for fine-tuning."),
    ("setting-lr", "Learning rate", "How big each update is at its peak. 2e-5 to 5e-5 suits most BERT-sized models."),
    ("setting-batch", "Batch size", "Examples per step. Larger is faster per example but needs more GPU memory."),
    ("setting-max-length", "Max length (tokens)", "Longer inputs are cut here. Memory grows with it; see the token lengths in the data step."),
    ("setting-warmup", "Warmup", "Share of the steps over which the learning rate rises from 0, in [0, 1)."),
    ("setting-weight-decay", "Weight decay", "Pulls weights toward 0 (not biases or LayerNorm). 0.01 is usual."),
    ("setting-grad-accum", "Gradient accumulation", "Batches summed per update: batch size × this is the effective batch, at one batch's memory."),
    ("setting-eval-every", "Evaluate every (steps)", "Empty: evaluate at the end of each epoch."),
    ("setting-early-stopping", "Early stopping (evaluations)", "Empty: off. Otherwise stop after this many evaluations without improvement."),
    ("setting-seed", "Seed", "Same seed, same split, order and initial weights: runs can be repeated."),
    ("setting-valid-split", "Held out for validation", "Share of the training file used for validation when there is no validation file."),
];

impl SettingsForm {
    /// The value of field `id`.
    pub fn get(&self, id: &str) -> &str {
        match id {
            "setting-epochs" => &self.epochs,
            "setting-lr" => &self.learning_rate,
            "setting-batch" => &self.batch_size,
            "setting-max-length" => &self.max_length,
            "setting-warmup" => &self.warmup_ratio,
            "setting-weight-decay" => &self.weight_decay,
            "setting-grad-accum" => &self.grad_accum,
            "setting-eval-every" => &self.eval_every,
            "setting-early-stopping" => &self.early_stopping,
            "setting-seed" => &self.seed,
            _ => &self.valid_split,
        }
    }

    /// Sets field `id`.
    pub fn set(&mut self, id: &str, value: String) {
        let slot = match id {
            "setting-epochs" => &mut self.epochs,
            "setting-lr" => &mut self.learning_rate,
            "setting-batch" => &mut self.batch_size,
            "setting-max-length" => &mut self.max_length,
            "setting-warmup" => &mut self.warmup_ratio,
            "setting-weight-decay" => &mut self.weight_decay,
            "setting-grad-accum" => &mut self.grad_accum,
            "setting-eval-every" => &mut self.eval_every,
            "setting-early-stopping" => &mut self.early_stopping,
            "setting-seed" => &mut self.seed,
            _ => &mut self.valid_split,
        };
        *slot = value;
    }

    /// The training configuration and the validation share, or the first field that is
    /// wrong with what would work.
    pub fn parse(&self) -> Result<(TrainConfig, f64), FieldError> {
        fn whole(field: &'static str, name: &str, value: &str) -> Result<usize, FieldError> {
            value.trim().parse::<usize>().map_err(|_| FieldError { field, message: format!("{name}: \"{value}\" is not a whole number") })
        }
        fn number(field: &'static str, name: &str, value: &str) -> Result<f64, FieldError> {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| FieldError { field, message: format!("{name}: \"{value}\" is not a number") })
        }
        let optional = |field, name, value: &str| -> Result<Option<usize>, FieldError> {
            if value.trim().is_empty() { Ok(None) } else { whole(field, name, value).map(Some) }
        };
        let config = TrainConfig {
            epochs: whole("setting-epochs", "Epochs", &self.epochs)?,
            learning_rate: number("setting-lr", "Learning rate", &self.learning_rate)?,
            batch_size: whole("setting-batch", "Batch size", &self.batch_size)?,
            max_length: whole("setting-max-length", "Max length", &self.max_length)?,
            warmup_ratio: number("setting-warmup", "Warmup", &self.warmup_ratio)?,
            weight_decay: number("setting-weight-decay", "Weight decay", &self.weight_decay)?,
            grad_accum: whole("setting-grad-accum", "Gradient accumulation", &self.grad_accum)?,
            eval_every: optional("setting-eval-every", "Evaluate every", &self.eval_every)?,
            early_stopping_patience: optional("setting-early-stopping", "Early stopping", &self.early_stopping)?,
            seed: self.seed.trim().parse().map_err(|_| FieldError { field: "setting-seed", message: format!("Seed: \"{}\" is not a whole number", self.seed) })?,
            ..TrainConfig::default()
        };
        config.validate().map_err(|e| {
            let field = match e.setting {
                "--lr" => "setting-lr",
                "--batch-size" => "setting-batch",
                "--max-length" => "setting-max-length",
                "--warmup-ratio" => "setting-warmup",
                "--weight-decay" => "setting-weight-decay",
                "--grad-accum" => "setting-grad-accum",
                "--eval-every" => "setting-eval-every",
                "--early-stopping" => "setting-early-stopping",
                _ => "setting-epochs",
            };
            let label = FIELDS.iter().find(|f| f.0 == field).map_or(e.setting, |f| f.1);
            FieldError { field, message: format!("{label} = {}: {}", e.value, e.reason) }
        })?;
        let split = number("setting-valid-split", "Held out for validation", &self.valid_split)?;
        if !(0.0..0.9).contains(&split) {
            return Err(FieldError { field: "setting-valid-split", message: format!("Held out for validation = {split}: use a share in [0, 0.9), e.g. 0.1") });
        }
        Ok((config, split))
    }
}

/// Whether `estimate` fits the device, or why not with what to change. A single buffer
/// larger than the GPU allows fails for certain; on the CPU, wasm32 memory tops out at 4 GiB.
pub fn check_fit(estimate: &MemoryEstimate, device: &DeviceState, config: &ModelConfig, max_length: usize) -> Result<(), String> {
    match device {
        DeviceState::Gpu(info) => {
            let limit = ["maxStorageBufferBindingSize", "maxBufferSize"].iter().filter_map(|n| info.limit(n)).map(|l| l.device).min();
            if let Some(limit) = limit
                && estimate.largest_buffer > limit
            {
                let dims = config.dims();
                let vocab_table = 4 * (dims.vocab_size * dims.hidden_size) as u64;
                let suggestion = if estimate.largest_buffer == vocab_table {
                    "this model's embedding table alone is larger than this GPU allows; pick a smaller model".to_string()
                } else {
                    format!("lower the batch size or the max length (now {max_length} tokens): attention grows with its square")
                };
                return Err(format!(
                    "One buffer would need {} but this GPU allows {} per buffer; {suggestion}.",
                    megabytes(estimate.largest_buffer as f64),
                    megabytes(limit as f64)
                ));
            }
            Ok(())
        }
        DeviceState::Cpu(_) | DeviceState::CpuChosen if estimate.total > 3 << 30 => Err(format!(
            "Training would need about {} but a browser tab's WebAssembly memory stops at 4 GB; lower the batch size or max length, or use a browser with WebGPU.",
            megabytes(estimate.total as f64)
        )),
        _ => Ok(()),
    }
}

fn model_config(studio: Studio) -> Option<ModelConfig> {
    studio.model_files.with_value(|files| ModelConfig::from_json(files.as_ref()?.get("config.json")?).ok())
}

/// The settings step.
#[component]
pub fn SettingsStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let parsed = Memo::new(move |_| studio.settings.get().parse());
    let labels = move || studio.data.get().and_then(|d| d.train.labels.map(|l| l.names.len())).unwrap_or(2);
    let estimate = Memo::new(move |_| {
        let _ = studio.model.with(|m| matches!(m, ModelState::Ready(_)));
        let (config, _) = parsed.get().ok()?;
        let model_config = model_config(studio)?;
        let seq = config.max_length.min(model_config.max_tokens());
        let estimate = MemoryEstimate::classifier(&model_config, labels(), config.batch_size, seq);
        let fit = check_fit(&estimate, &studio.device.get(), &model_config, seq);
        Some((estimate, fit))
    });
    let task = move || match studio.data.get() {
        Some(d) if d.train.roles.text_pair.is_some() => "Sentence-pair classification (the data has a second text column)",
        Some(_) => "Text classification",
        None => "Text classification (load data to confirm)",
    };
    view! {
        <StepSection step=Step::Settings>
            <p class="hint">"The defaults suit most runs. Change the data step's columns to switch between single texts and sentence pairs."</p>
            <p><strong>"Task: "</strong><span id="task">{task}</span></p>
            <form class="settings" on:submit=|ev| ev.prevent_default()>
                {FIELDS.iter().map(|&(id, label, help)| {
                    let default = SettingsForm::default().get(id).to_string();
                    let invalid = move || parsed.get().err().is_some_and(|e| e.field == id);
                    view! {
                        <div class="field">
                            <label for=id>{label}</label>
                            <input type="text" inputmode="decimal" id=id autocomplete="off" aria-describedby=format!("{id}-help")
                                aria-invalid=move || invalid().then_some("true")
                                prop:value=move || studio.settings.with(|s| s.get(id).to_string())
                                on:input=move |ev| studio.settings.update(|s| s.set(id, event_target_value(&ev)))/>
                            <p class="help" id=format!("{id}-help")>{help}" "<span class="default">{if default.is_empty() { "Default: empty.".to_string() } else { format!("Default: {default}.") }}</span></p>
                        </div>
                    }
                }).collect_view()}
            </form>
            <button type="button" class="link" on:click=move |_| studio.settings.set(SettingsForm::default())>"Reset to defaults"</button>
            {move || parsed.get().err().map(|e| view! { <p class="status error" id="settings-error" role="alert">{e.message}</p> })}
            <div class="estimate" id="estimate">
                {move || estimate.get().map(|(e, fit)| view! {
                    <p>{format!(
                        "Device memory: about {} (weights {}, gradients {}, optimizer {}, activations {}); largest buffer {}.",
                        megabytes(e.total as f64), megabytes(e.weights as f64), megabytes(e.gradients as f64),
                        megabytes(e.optimizer as f64), megabytes(e.activations as f64), megabytes(e.largest_buffer as f64)
                    )}</p>
                    {match fit {
                        Ok(()) => view! { <p class="status ready">"These settings fit this device."</p> }.into_any(),
                        Err(why) => view! { <p class="status error" id="fit-error" role="alert">{why}</p> }.into_any(),
                    }}
                })}
                <p>{move || match studio.run.get().epoch_seconds {
                    Some(s) => format!("Time per epoch: about {} (measured in the last run).", duration(s)),
                    None => "Time per epoch: measured from the first steps of training.".to_string(),
                }}</p>
            </div>
            <NextButton to=Step::Train enabled=Signal::derive(move || parsed.get().is_ok() && estimate.get().is_none_or(|(_, fit)| fit.is_ok()))/>
        </StepSection>
    }
}
