//! Step 7: export. A .zip of the Hugging Face folder (weights, config with id2label,
//! tokenizer files, training_args.json, metrics.json, training_log.csv, README model card) that
//! `transformers` loads unchanged, and the training log as CSV.

use leptos::prelude::*;

use super::bridge::{self, Command, Event};
use super::state::{Step, Studio};
use super::{StepSection, megabytes};
use crate::checkpoint::zip_files;
use crate::export::ExportError;
use crate::platform::download;
use crate::train::{LogKind, log_csv};

/// Exports the fine-tuned model as a .zip (in the worker, which holds it) and offers it
/// as a download; what to say about it.
pub(super) async fn export(studio: Studio) -> Result<String, String> {
    let Some(trained) = studio.trained.get_value() else { return Err("Train a model first.".into()) };
    let export = trained.export().await.map_err(|e| match e {
        ExportError::Readback { message, .. } => format!("The export failed: {}.", super::read_failed(&trained.device, &message)),
        e => e.to_string(),
    })?;
    let zip = zip_files(&export, "webtune-model")?;
    let size = zip.len();
    super::offer_download(zip, "webtune-model.zip", "application/zip")?;
    Ok(format!("Saved webtune-model.zip ({}): unzip it and load the folder with transformers.", megabytes(size as f64)))
}

/// The export step.
#[component]
pub fn ExportStep() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let status = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let has_model = move || studio.trained_view.with(Option::is_some);
    let generative = move || studio.trained_view.with(|t| t.as_ref().map(|t| t.task)) == Some(crate::session::TaskKind::CausalLanguageModelling);
    let export = move |_| {
        busy.set(true);
        status.set(Some(Ok("Reading the weights back from the device and packing the .zip…".into())));
        bridge::request(
            |id| Command::Export { id },
            move |answer| {
                if let Event::Done { result, .. } = answer {
                    status.set(Some(result.clone()));
                    busy.set(false);
                }
                true
            },
        );
    };
    let log = move |_| {
        let kind = studio.trained_view.with(|t| t.as_ref().map_or(LogKind::Classification, |t| t.task.log_kind()));
        let csv = studio.log.with_value(|log| log_csv(log, kind));
        match download(csv.as_bytes(), "webtune-training-log.csv", "text/csv") {
            Ok(()) => status.set(Some(Ok("Saved webtune-training-log.csv.".into()))),
            Err(e) => status.set(Some(Err(e))),
        }
    };
    view! {
        <StepSection step=Step::Export>
            {move || if generative() {
                view! { <p class="hint">"The download is a Hugging Face model folder: "<code>"AutoModelForCausalLM.from_pretrained(folder)"</code>" loads it, and "<code>"generate"</code>" continues as it does here."</p> }.into_any()
            } else {
                view! { <p class="hint">"The download is a Hugging Face model folder: "<code>"AutoModelForSequenceClassification.from_pretrained(folder)"</code>" loads it, labels included."</p> }.into_any()
            }}
            <div class="controls">
                <button type="button" id="export-zip" disabled=move || !has_model() || busy.get() on:click=export>"Download the model (.zip)"</button>
                <button type="button" id="export-log" class="secondary" disabled=move || studio.log_rows.get() == 0 on:click=log>"Download the training log (.csv)"</button>
            </div>
            {move || status.get().map(|s| match s {
                Ok(m) => view! { <p class="status ready" id="export-status" role="status">{m}</p> }.into_any(),
                Err(e) => view! { <p class="status error" id="export-status" role="alert">{e}</p> }.into_any(),
            })}
            <p class="small">{move || if generative() {
                "The folder holds: model.safetensors, config.json, generation_config.json, the tokenizer files with the chat template, training_args.json, metrics.json, training_log.csv (one row per step, with validation perplexity) and README.md (a model card with the data, settings and metrics)."
            } else {
                "The folder holds: model.safetensors, config.json (with id2label), the tokenizer files, training_args.json, metrics.json, training_log.csv (one row per step) and README.md (a model card with the data, settings and metrics)."
            }}</p>
        </StepSection>
    }
}
