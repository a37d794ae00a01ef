//! Step 3: settings. Each with its default and a line on what it does; checked as typed,
//! with an estimate of device memory and a refusal (with a suggestion) for settings that
//! cannot fit.

use leptos::prelude::*;

use super::state::{DeviceState, EstimateView, ModelState, Step, Studio};
use super::{NextButton, StepSection, duration, megabytes};
use crate::checkpoint::MaxLength;
use crate::studio::{FIELDS, FitDevice, GENERATIVE_FIELDS, Form, SettingsForm, check_fit, vocab_table};
use crate::train::MemoryEstimate;

/// The chosen model's memory estimate for `form` (`labels` classes for a classifier), its
/// max length and whether it fits the device. `None` before a model is ready; `Err` when the
/// max length is impossible for the model.
pub fn fit_check(studio: Studio, form: &Form, labels: usize, device: &DeviceState) -> Option<Result<(MemoryEstimate, MaxLength, Result<(), String>), String>> {
    let batch = form.settings.batch_size;
    if let Some(causal) = studio.causal.get_value() {
        let length = match causal.max_length(form.max_length, crate::session::LM_DEFAULT_MAX_LENGTH) {
            Ok(length) => length,
            Err(e) => return Some(Err(format!("Max length: {e}."))),
        };
        let config = causal.config();
        let estimate = MemoryEstimate::causal_lm(config, batch, length.tokens);
        let fit = check_fit(&estimate, fit_device(device), vocab_table(config.vocab_size(), config.shape().0), length.tokens);
        return Some(Ok((estimate, length, fit)));
    }
    let checkpoint = studio.checkpoint.get_value()?;
    let length = match checkpoint.max_length(form.max_length, form.settings.max_length) {
        Ok(length) => length,
        Err(e) => return Some(Err(format!("Max length: {e}."))),
    };
    let config = checkpoint.config();
    let estimate = MemoryEstimate::classifier(config, labels, batch, length.tokens);
    let fit = check_fit(&estimate, fit_device(device), vocab_table(config.dims().vocab_size, config.dims().hidden_size), length.tokens);
    Some(Ok((estimate, length, fit)))
}

/// What the fit check knows of the page's device.
pub fn fit_device(state: &DeviceState) -> FitDevice {
    match state {
        DeviceState::Gpu(info) => FitDevice::Gpu {
            max_buffer: ["maxStorageBufferBindingSize", "maxBufferSize"].iter().filter_map(|n| info.limit(n)).map(|l| l.device).min(),
        },
        DeviceState::Cpu(_) | DeviceState::CpuChosen => FitDevice::WasmCpu,
        DeviceState::Starting => FitDevice::Unknown,
    }
}

/// Keeps the settings' memory estimate up to date with the model, the data, the settings
/// and the device (in the worker, which holds the model's config).
pub(super) fn watch(studio: Studio) {
    Effect::new(move |_| {
        let _ = studio.model.with(|m| matches!(m, ModelState::Ready(_)));
        let labels = studio.data.with(|d| d.as_ref().and_then(|d| d.train.labels.as_ref().map(|l| l.names.len()))).unwrap_or(2);
        let view = studio.settings.get().parse().ok().and_then(|form| match fit_check(studio, &form, labels, &studio.device.get())? {
            Ok((estimate, length, fit)) => Some(EstimateView { estimate: Some(estimate), fit, note: length.note() }),
            Err(e) => Some(EstimateView { estimate: None, fit: Err(e), note: None }),
        });
        if studio.estimate.with_untracked(|e| e != &view) {
            studio.estimate.set(view);
        }
    });
}

/// The settings step.
#[component]
pub fn SettingsStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let parsed = Memo::new(move |_| studio.settings.get().parse());
    // Computed by the worker, which holds the model; shown for settings that parse.
    let estimate = Memo::new(move |_| {
        parsed.get().ok()?;
        studio.estimate.get().map(|e| (e.estimate, e.fit, e.note))
    });
    let task = move || match studio.data.get() {
        _ if studio.generative() => match studio.data.get().and_then(|d| d.layout) {
            Some(layout) => format!("Language modelling on {layout} (the default max length is {} tokens)", crate::session::LM_DEFAULT_MAX_LENGTH),
            None => "Language modelling (load data to confirm)".to_string(),
        },
        Some(d) if d.train.roles.text_pair.is_some() => "Sentence-pair classification (the data has a second text column)".to_string(),
        Some(_) => "Text classification".to_string(),
        None => "Text classification (load data to confirm)".to_string(),
    };
    view! {
        <StepSection step=Step::Settings>
            <p class="hint">"The defaults suit most runs. Change the data step's columns to switch between single texts and sentence pairs."</p>
            <p><strong>"Task: "</strong><span id="task">{task}</span></p>
            <form class="settings" on:submit=|ev| ev.prevent_default()>
                {FIELDS.iter().map(|&(id, label, help)| {
                    let default = SettingsForm::default().get(id).to_string();
                    let invalid = move || parsed.get().err().is_some_and(|e| e.field == id);
                    let generative_only = GENERATIVE_FIELDS.contains(&id);
                    view! {
                        <div class="field" hidden=move || generative_only && !studio.generative()>
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
                {move || estimate.get().map(|(e, fit, note)| view! {
                    {e.map(|e| view! { <p>{format!(
                        "Device memory: about {} (weights {}, gradients {}, optimizer {}, and the larger of the activations {} and the optimizer step's temporaries {}); largest buffer {}.",
                        megabytes(e.total as f64), megabytes(e.weights as f64), megabytes(e.gradients as f64),
                        megabytes(e.optimizer as f64), megabytes(e.activations as f64), megabytes(e.update as f64), megabytes(e.largest_buffer as f64)
                    )}</p> })}
                    {note.map(|n| view! { <p class="small" id="max-length-note">{format!("Note: {n}.")}</p> })}
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
            <NextButton to=Step::Train enabled=Signal::derive(move || parsed.get().is_ok() && estimate.get().is_none_or(|(_, fit, _)| fit.is_ok()))/>
        </StepSection>
    }
}
