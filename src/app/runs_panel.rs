//! The runs kept in this browser, on the page: the list of unfinished runs (Resume,
//! Download, Delete), the storage they use, the request to keep it, and resuming a run —
//! its model from the checkpoint, its data from the browser (or asked for again, and
//! checked by fingerprint), its settings, then training from where it was.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::bridge::{self, Command};
use super::run::Page;
use super::runs::{RunStore, StoredRun, now_ms};
use super::state::{AwaitingData, ModelState, PendingResume, RunView, Step, Studio};
use super::megabytes;
use crate::checkpoint::{ModelFiles, unzip_files, zip_files};
use crate::data::RowPolicy;
use crate::platform::{read_file, request_persistence, storage_use};
use crate::session::{DataRole, Fingerprint, RunCheckpoint};
use crate::studio::SettingsForm;

/// Lists the stored runs and the storage in use again.
pub async fn refresh(studio: Studio) {
    match RunStore::open().await {
        Ok(store) => match store.list().await {
            Ok(runs) => studio.runs.set(runs),
            Err(e) => studio.runs_status.set(Some(Err(e))),
        },
        Err(e) => {
            studio.runs.set(Vec::new());
            studio.runs_status.set(Some(Err(format!("This browser cannot keep runs ({e}), so a reload or a lost GPU ends a run."))));
            return;
        }
    }
    if let Ok(usage) = storage_use().await {
        studio.storage.set(Some(usage));
    }
}

/// How long ago `ms` was, in words.
fn ago(ms: u64) -> String {
    let seconds = now_ms().saturating_sub(ms) / 1000;
    match seconds {
        0..60 => "just now".into(),
        60..7200 => format!("{} min ago", seconds / 60),
        7200..172_800 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// Resumes `run`: reads and checks its checkpoint, gathers its data (asking for a file it
/// did not keep), then sets the model, data and settings and trains on.
pub fn resume(studio: Studio, run: StoredRun) {
    if studio.training() {
        return;
    }
    studio.awaiting_data.set(None);
    studio.runs_status.set(Some(Ok(format!("Reading the saved run ({})…", run.summary()))));
    spawn_local(async move {
        let gathered = async {
            let store = RunStore::open().await?;
            let checkpoint = store.checkpoint(&run, &Page(studio)).await?;
            let train = store.data(&run, DataRole::Train).await?;
            let valid = store.data(&run, DataRole::Valid).await?;
            Ok::<_, String>(PendingResume { run: run.clone(), checkpoint, train, valid })
        }
        .await;
        match gathered {
            Ok(pending) => carry_on(studio, pending).await,
            Err(e) => studio.runs_status.set(Some(Err(format!("The run {} cannot be resumed: {e}", run.summary())))),
        }
    });
}

/// Resumes a checkpoint the user gave (a `webtune train --save-every` folder's files, or a
/// downloaded .zip): it is checked, kept in the browser as a run of its own, and resumed
/// once its data files are given.
pub(super) fn import(studio: Studio, files: Vec<web_sys::File>) {
    if studio.training() || files.is_empty() {
        return;
    }
    studio.awaiting_data.set(None);
    studio.runs_status.set(Some(Ok(format!("Reading the checkpoint ({} files)…", files.len()))));
    spawn_local(async move {
        let imported = async {
            let checkpoint = match files.as_slice() {
                [one] if one.name().ends_with(".zip") => {
                    let bytes = read_file(one, |_, _| {}).await?;
                    unzip_files(&bytes, &one.name())?
                }
                _ => {
                    let mut out = ModelFiles::new(format!("the {} checkpoint files from this computer", files.len()));
                    for file in &files {
                        out.insert(file.name(), read_file(file, |_, _| {}).await?);
                    }
                    out
                }
            };
            let checkpoint = RunCheckpoint::read(checkpoint, &Page(studio)).await.map_err(|e| e.to_string())?;
            let state = checkpoint.state().clone();
            let store = RunStore::open().await?;
            let record = StoredRun {
                id: format!("run-{}", now_ms()),
                base_model: state.sources.base_model.clone(),
                train_file: state.sources.train.clone(),
                step: state.step,
                total_steps: state.total_steps,
                saved_at_ms: now_ms(),
                checkpoint: None,
                bytes: 0,
                data: Vec::new(),
            };
            let record = store.create(record, &[]).await?;
            let record = store.save(&record, checkpoint.files(), state.step, state.total_steps).await?;
            Ok::<_, String>(PendingResume { run: record, checkpoint, train: None, valid: None })
        }
        .await;
        refresh(studio).await;
        match imported {
            Ok(pending) => carry_on(studio, pending).await,
            Err(e) => studio.runs_status.set(Some(Err(format!("That checkpoint cannot be resumed: {e}")))),
        }
    });
}

/// The first data file the run had that `pending` lacks.
fn missing(pending: &PendingResume) -> Option<(DataRole, String)> {
    let f = &pending.checkpoint.state().sources.fingerprints;
    if let Some(train) = &f.train
        && pending.train.is_none()
    {
        return Some((DataRole::Train, train.file.clone()));
    }
    if let Some(valid) = &f.valid
        && pending.valid.is_none()
    {
        return Some((DataRole::Valid, valid.file.clone()));
    }
    None
}

/// Asks for the next missing data file, or applies the resume when none is missing.
async fn carry_on(studio: Studio, pending: PendingResume) {
    show_saved(studio, pending.checkpoint.state());
    if let Some((role, file)) = missing(&pending) {
        studio.runs_status.set(None);
        studio.awaiting_data.set(Some(AwaitingData { run: pending.run.summary(), role, file, refused: None }));
        studio.pending_resume.set_value(Some(pending));
        return;
    }
    studio.pending_resume.set_value(None);
    studio.awaiting_data.set(None);
    let summary = pending.run.summary();
    if let Err(e) = apply(studio, pending).await {
        studio.runs_status.set(Some(Err(format!("The run {summary} cannot be resumed: {e}"))));
    }
}

/// The train step shows the run being resumed, where it was saved, instead of whatever ran
/// before in this tab.
fn show_saved(studio: Studio, state: &crate::session::RunState) {
    studio.run.set(RunView { step: state.step, total_steps: state.total_steps, epochs: state.plan.settings.epochs, ..RunView::default() });
    studio.replace_log(state.log.clone());
    studio.samples.set(Vec::new());
    studio.answer_scores.set(Vec::new());
}

/// The user gave a data file a waiting resume asked for: it must be the run's own.
pub(super) fn give_data(studio: Studio, file: web_sys::File) {
    let Some(awaiting) = studio.awaiting_data.get_untracked() else { return };
    spawn_local(async move {
        let name = file.name();
        let bytes = match read_file(&file, |_, _| {}).await {
            Ok(bytes) => bytes,
            Err(e) => return studio.awaiting_data.set(Some(AwaitingData { refused: Some(e), ..awaiting })),
        };
        let Some(mut pending) = studio.pending_resume.get_value() else { return };
        let given = Fingerprint::of(&name, &bytes);
        if let Err(e) = pending.checkpoint.check_data(awaiting.role, Some(&given)) {
            return studio.awaiting_data.set(Some(AwaitingData { refused: Some(format!("{e}.")), ..awaiting }));
        }
        match awaiting.role {
            DataRole::Train => pending.train = Some((name, bytes)),
            _ => pending.valid = Some((name, bytes)),
        }
        carry_on(studio, pending).await;
    });
}

/// Sets the model, the data and the settings of the saved run, and trains on from its
/// checkpoint.
async fn apply(studio: Studio, pending: PendingResume) -> Result<(), String> {
    let PendingResume { run, checkpoint, train, valid } = pending;
    let state = checkpoint.state().clone();
    studio.runs_status.set(Some(Ok(format!("Loading the model of the saved run (step {})…", state.step))));
    // The checkpoint's weights are the model; its config, tokenizer and template come along.
    super::model_step::finish_loading(
        studio,
        checkpoint.model_files(),
        format!("the saved run's checkpoint (step {} of {})", state.step, state.total_steps),
        state.sources.base_model.clone(),
        state.sources.base_model_id.clone(),
    )
    .await;
    match studio.model.get_untracked() {
        ModelState::Ready(_) => {}
        ModelState::Failed(e) => return Err(e),
        _ => return Err("the model did not load".into()),
    }
    // The data, read as the run read it.
    let reading = &state.sources.reading;
    studio.train_bytes.set_value(train);
    studio.valid_bytes.set_value(valid);
    studio.columns.set(reading.columns.clone());
    studio.format.set(reading.format);
    studio.skip_bad_rows.set(reading.policy == RowPolicy::Skip);
    studio.data_source.set(format!("the saved run's {}", state.sources.train));
    super::data_step::analyse_current(studio);
    if let Some(e) = studio.data_error.get_untracked() {
        return Err(e);
    }
    // Its settings (the interval between checkpoints is this page's).
    let minutes = studio.settings.with_untracked(|f| f.checkpoint_minutes.clone());
    studio.settings.set(SettingsForm { checkpoint_minutes: minutes, ..SettingsForm::from_plan(&state.plan) });
    super::worker::tell_page(studio, super::worker::Owned::Settings);
    super::worker::tell_page(studio, super::worker::Owned::Choices);
    studio.runs_status.set(Some(Ok(format!("Resuming {} from step {}.", run.summary(), state.step))));
    studio.resume_from.set_value(Some(checkpoint));
    studio.set_stored_run(Some(run));
    studio.step.set(Step::Train);
    super::worker::tell_page(studio, super::worker::Owned::Step);
    super::run::start(studio);
    Ok(())
}

/// Offers `run`'s checkpoint as a .zip (which `webtune train --resume` continues).
pub(super) fn download_checkpoint(studio: Studio, run: StoredRun) {
    studio.runs_status.set(Some(Ok(format!("Packing the checkpoint of {}…", run.summary()))));
    spawn_local(async move {
        let result = async {
            let checkpoint = RunStore::open().await?.checkpoint(&run, &Page(studio)).await?;
            let name = format!("webtune-checkpoint-{}", checkpoint.state().step);
            let zip = zip_files(checkpoint.files(), &name)?;
            let size = zip.len();
            super::offer_download(zip, &format!("{name}.zip"), "application/zip")?;
            Ok::<_, String>(format!(
                "Saved {name}.zip ({}): unzip it and continue with `webtune train --resume {name} --train {}`.",
                megabytes(size as f64),
                checkpoint.state().sources.train
            ))
        }
        .await;
        studio.runs_status.set(Some(result));
    });
}

/// Forgets `run`.
pub(super) fn delete(studio: Studio, run: StoredRun) {
    spawn_local(async move {
        match async { RunStore::open().await?.delete(&run.id).await }.await {
            Ok(()) => studio.runs_status.set(Some(Ok(format!("Deleted the run {}.", run.summary())))),
            Err(e) => studio.runs_status.set(Some(Err(e))),
        }
        if studio.stored_run.with_value(|r| r.as_ref().is_some_and(|r| r.id == run.id)) {
            studio.set_stored_run(None);
        }
        refresh(studio).await;
    });
}

/// The runs kept in this browser, with what can be done with each.
#[component]
pub fn RunsPanel() -> impl IntoView {
    let studio = expect_context::<Studio>();
    let current = move || studio.run_id.get();
    // Persistence is asked for by the page (the browser asks the user, if anyone).
    let persist = move |_| {
        spawn_local(async move {
            match request_persistence().await {
                Ok(true) => studio.runs_status.set(Some(Ok("The browser will keep this site's runs and models when space runs low.".into()))),
                Ok(false) => studio.runs_status.set(Some(Err("The browser declined to keep this site's storage (it decides by how much the site is used, or asks you); the runs are kept until space runs low.".into()))),
                Err(e) => studio.runs_status.set(Some(Err(e))),
            }
            bridge::send(Command::RefreshRuns);
        });
    };
    view! {
        <section class="runs" id="runs" aria-labelledby="runs-title">
            <h3 id="runs-title">"Runs kept in this browser"</h3>
            <p class="small">"A run is saved here at each evaluation, on Pause and every few minutes (step 3), weights, optimizer and all, so a reload, a closed tab, a crash or a lost GPU costs at most the steps since. A finished run's checkpoints are removed: its model is in Results, Try it and Export."</p>
            {move || {
                let runs = studio.runs.get();
                if runs.is_empty() {
                    return view! { <p class="small" id="runs-none">"No unfinished run is kept."</p> }.into_any();
                }
                studio.saved.track();
                let training = studio.training();
                let current = current();
                view! {
                    <ul class="runs-list" id="runs-list">
                        {runs.into_iter().map(|run| {
                            let this = current.as_deref() == Some(run.id.as_str()) && training;
                            let (for_resume, for_download, for_delete) = (run.clone(), run.clone(), run.clone());
                            let saved = match &run.checkpoint {
                                Some(_) => format!("saved {} · {}", ago(run.saved_at_ms), megabytes(run.bytes as f64)),
                                None => "no checkpoint yet".into(),
                            };
                            view! {
                                <li class="run" data-run=run.id.clone()>
                                    <span class="run-summary">{run.summary()}</span>
                                    <span class="small">{format!(" · {saved}")}{this.then_some(" · training now")}</span>
                                    <span class="run-actions">
                                        <button type="button" class="resume-run" disabled=training || run.checkpoint.is_none()
                                            on:click=move |_| bridge::send(Command::Resume(for_resume.clone()))>"Resume"</button>
                                        <button type="button" class="secondary download-run" disabled=run.checkpoint.is_none()
                                            on:click=move |_| bridge::send(Command::DownloadCheckpoint(for_download.clone()))>"Download checkpoint (.zip)"</button>
                                        <button type="button" class="secondary danger delete-run" disabled=this
                                            on:click=move |_| bridge::send(Command::DeleteRun(for_delete.clone()))>"Delete"</button>
                                    </span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            }}
            <p class="small">
                <label for="import-checkpoint">"Resume a checkpoint from this computer (the files of a checkpoint-N folder that "<code>"webtune train --save-every"</code>" wrote, or a downloaded checkpoint .zip): "</label>
                <input type="file" id="import-checkpoint" multiple=true disabled=move || studio.training() on:change=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    let files: Vec<web_sys::File> = input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
                    if !files.is_empty() {
                        bridge::send_with_files(Command::ImportCheckpoint, &files);
                    }
                }/>
            </p>
            {move || studio.awaiting_data.get().map(|a| view! {
                <div class="needs-data" id="resume-needs-data" role="alert">
                    <p>{format!("To resume {}, give the {} file {} again (it was not kept with the run):", a.run, a.role.name(), a.file)}</p>
                    <label for="resume-data-file">{format!("The {} file", a.role.name())}</label>
                    <input type="file" id="resume-data-file" on:change=move |ev| {
                        let input: web_sys::HtmlInputElement = event_target(&ev);
                        if let Some(file) = input.files().and_then(|f| f.get(0)) {
                            bridge::send_with_files(Command::GiveData, &[file]);
                        }
                    }/>
                    {a.refused.map(|r| view! { <p class="status error" id="resume-data-refused">{r}</p> })}
                </div>
            })}
            {move || studio.storage.get().map(|s| view! {
                <p class="small" id="runs-storage">
                    {format!("This site stores {} in this browser (models and runs), of the {} the browser lets it use. ", megabytes(s.usage), megabytes(s.quota))}
                    {if s.persisted {
                        view! { <span>"The browser keeps it when space runs low."</span> }.into_any()
                    } else {
                        view! {
                            <span>"The browser may clear it when space runs low. "
                                <button type="button" class="link" id="persist-storage" on:click=persist>"Ask the browser to keep it"</button>
                            </span>
                        }.into_any()
                    }}
                </p>
            })}
            {move || studio.runs_status.get().map(|s| match s {
                Ok(m) => view! { <p class="status" id="runs-status" role="status">{m}</p> }.into_any(),
                Err(e) => view! { <p class="status error" id="runs-status" role="alert">{e}</p> }.into_any(),
            })}
        </section>
    }
}

/// At the top of the page: an unfinished run kept in the browser, and a way to it.
#[component]
pub fn UnfinishedBanner() -> impl IntoView {
    let studio = expect_context::<Studio>();
    move || {
        let first = studio.runs.with(|r| r.iter().find(|r| r.checkpoint.is_some()).cloned())?;
        let shown = !studio.training() && studio.step.get() != Step::Train && studio.run_id.with(|r| r.as_ref() != Some(&first.id));
        shown.then(|| {
            let more = studio.runs.with(Vec::len).saturating_sub(1);
            view! {
                <div class="banner info" role="status" id="unfinished-runs">
                    <strong>"An unfinished run is kept in this browser: "</strong>{first.summary()}{format!(", saved {}", ago(first.saved_at_ms))}
                    {(more > 0).then(|| format!(" (and {more} more)"))}". "
                    <button type="button" class="link" id="go-to-runs" on:click=move |_| studio.step.set(Step::Train)>"See the runs"</button>
                </div>
            }
        })
    }
}
