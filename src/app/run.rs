//! The training run in the browser: a thin driver of the core's [`Session`]. It takes the
//! chosen model, data and settings, drives `step().await` on the page's executor, yields to
//! the browser between steps and honours pause and stop. The page sees only [`RunView`]
//! reports and the appended run log.

use std::rc::Rc;

use burn::tensor::Device;
use leptos::prelude::*;

use super::state::{Control, DeviceState, ModelState, Results, RunPhase, RunView, Studio};
use crate::platform::{sleep_ms, yield_to_browser};
use crate::checkpoint::Pretrained;
use crate::data::LmLayout;
use super::runs::{self, RunStore, StoredRun};
use crate::data::{Reading, RowPolicy};
use crate::session::{DataRole, Evaluation, Fingerprint, Host, LabelledData, LanguageData, LmOptions, Plan, RunData, Sample, Session, SessionError, Sources, TaskKind, Trained};
use crate::studio::{field_label, median};
use crate::train::TrainError;

/// The page as the session's host: preparation stages become the run's phase, and the
/// browser gets the thread back between slices.
pub(super) struct Page(pub Studio);

impl Host for Page {
    fn preparing(&self, what: &str) {
        self.0.run.update(|r| r.phase = RunPhase::Preparing(what.to_string()));
    }

    async fn breathe(&self) {
        yield_to_browser().await;
    }
}

/// Moves this tab's training to the CPU backend (after the GPU failed to compute the
/// model before any update) and starts the run again.
pub fn train_on_cpu(studio: Studio) {
    if studio.training() {
        return;
    }
    studio.device_handle.set_value(Some(crate::platform::cpu_device()));
    studio.device.set(DeviceState::CpuChosen);
    // A model trained earlier keeps the device it was trained on (`Finished::device`).
    start(studio);
}

/// Starts a run (ignored while one is going).
pub fn start(studio: Studio) {
    if studio.training() {
        // The page showed "Starting…": tell it again what is running.
        studio.run.update(|_| {});
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

/// A session error in the page's words: settings by their form labels.
fn page_error(e: SessionError, device: &Device) -> String {
    match e {
        SessionError::Setting(e) => format!("Fix the settings first (step 3): {}", e.worded(field_label)),
        SessionError::Train(TrainError::Setting(e)) => format!("Fix the settings first (step 3): {}", e.worded(field_label)),
        SessionError::Train(TrainError::Device(detail)) => device_failed(device, &detail),
        SessionError::Model(crate::model::ModelError::Readback(detail)) => device_failed(device, &detail),
        e => e.to_string(),
    }
}

/// The samples of the latest evaluation.
fn latest(samples: &[Sample]) -> Vec<Sample> {
    let last = samples.iter().map(|s| s.step).max();
    samples.iter().filter(|s| Some(s.step) == last).cloned().collect()
}

/// Adds the session's log rows the page does not have yet (steps come back from the
/// device in groups, and a save or the end of a run reads the rest).
fn show_new_rows(studio: Studio, session: &Session) {
    let shown = studio.log.with_value(Vec::len);
    if let Some(rows) = session.log().get(shown..)
        && !rows.is_empty()
    {
        studio.log.update_value(|log| log.extend_from_slice(rows));
    }
    studio.log_rows.set(studio.log.with_value(Vec::len));
}

/// Saves a checkpoint of the run in the browser's storage (when it keeps runs), and says
/// so on the page; a failure (a full quota) is said and training goes on.
async fn save(studio: Studio, session: &mut Session) {
    let Some(record) = studio.stored_run.get_value() else { return };
    let mut step = session.steps_done();
    let result = async {
        let files = session.checkpoint(&Page(studio)).await.map_err(|e| e.to_string())?;
        // Saving read back the steps still on the device: one that failed took the run
        // back to the step before it.
        step = session.steps_done();
        let store = RunStore::open().await?;
        store.save(&record, &files, step, session.total_steps()).await
    }
    .await;
    match result {
        Ok(next) => {
            studio.set_stored_run(Some(next));
            studio.saved.set(Some(Ok(step)));
            super::runs_panel::refresh(studio).await;
        }
        Err(e) => {
            web_sys::console::warn_1(&format!("webtune: saving the run at step {step} failed: {e}").into());
            studio.saved.set(Some(Err(format!("Saving the run at step {step} failed: {e}. Training goes on; the last saved step is kept."))));
        }
    }
}

/// The data files' fingerprints and how they were read, for the run's record.
fn data_sources(studio: Studio, sources: &mut Sources) {
    studio.train_bytes.with_value(|t| sources.fingerprints.train = t.as_ref().map(|(name, bytes)| Fingerprint::of(name, bytes)));
    studio.valid_bytes.with_value(|v| sources.fingerprints.valid = v.as_ref().map(|(name, bytes)| Fingerprint::of(name, bytes)));
    sources.reading = Reading {
        columns: studio.columns.get_untracked(),
        format: studio.format.get_untracked(),
        label_names: Default::default(),
        policy: if studio.skip_bad_rows.get_untracked() { RowPolicy::Skip } else { RowPolicy::Fail },
    };
}

/// Starts the run's record in the browser's storage (with its data files), or says why
/// runs cannot be kept here.
async fn create_record(studio: Studio, session: &Session, sources: &Sources) {
    let data: Vec<(DataRole, String, Vec<u8>)> = [(DataRole::Train, studio.train_bytes), (DataRole::Valid, studio.valid_bytes)]
        .into_iter()
        .filter_map(|(role, bytes)| bytes.with_value(|b| b.as_ref().map(|(name, bytes)| (role, name.clone(), bytes.clone()))))
        .collect();
    let record = StoredRun {
        id: format!("run-{}", runs::now_ms()),
        base_model: sources.base_model.clone(),
        train_file: sources.train.clone(),
        step: 0,
        total_steps: session.total_steps(),
        saved_at_ms: runs::now_ms(),
        checkpoint: None,
        bytes: 0,
        data: Vec::new(),
    };
    let result = async {
        let store = RunStore::open().await?;
        let refs: Vec<(DataRole, &str, &[u8])> = data.iter().map(|(role, name, bytes)| (*role, name.as_str(), &bytes[..])).collect();
        store.create(record, &refs).await
    }
    .await;
    match result {
        Ok(record) => studio.set_stored_run(Some(record)),
        Err(e) => {
            studio.set_stored_run(None);
            studio.saved.set(Some(Err(format!("This run cannot be kept in the browser ({e}), so a reload or a lost GPU would end it."))));
        }
    }
}

async fn run(studio: Studio) -> Result<(), String> {
    let resume = studio.resume_from.get_value();
    studio.resume_from.set_value(None);
    if resume.is_none() {
        studio.set_stored_run(None);
    }
    studio.saved.set(None);
    studio.control.set(Control::Run);
    super::worker::tell_page(studio, super::worker::Owned::Control);
    studio.results.set(None);
    studio.run.set(RunView { phase: RunPhase::Preparing("Preparing the data…".into()), ..RunView::default() });
    studio.replace_log(Vec::new());
    studio.samples.set(Vec::new());
    studio.answer_scores.set(Vec::new());
    yield_to_browser().await;
    let (base_model, base_model_id) = match studio.model.get_untracked() {
        ModelState::Ready(facts) => (facts.name.clone(), facts.hub_id.clone()),
        _ => return Err("Pick a model first (step 1).".into()),
    };
    let view = studio.data.get_untracked().ok_or("Load usable data first (step 2).")?;
    let mut form = studio.settings.get_untracked().parse().map_err(|e| format!("Fix the settings first (step 3): {}", e.message))?;
    // The studio has no best-metric field: each task's default.
    form.settings.best_metric = if studio.causal.with_value(Option::is_some) {
        TaskKind::CausalLanguageModelling.default_best_metric()
    } else {
        TaskKind::SequenceClassification.default_best_metric()
    };
    let device = studio.device().ok_or("The device is not ready yet.")?;

    let labels = view.train.labels.as_ref().map_or(2, |l| l.names.len());
    let (_, _, fit) = super::settings_step::fit_check(studio, &form, labels, &studio.device.get_untracked())
        .ok_or("Pick a model first (step 1).")?
        .map_err(|e| format!("Fix the settings first (step 3): {e}"))?;
    fit?;
    let no_data = "Load usable data first (step 2).";
    let (checkpoint, data) = match studio.causal.get_value() {
        Some(causal) => {
            let (train, layout, valid) = studio.lm_examples.get_value().ok_or(no_data)?;
            (Pretrained::Causal((*causal).clone()), RunData::Language(LanguageData { train, layout, train_report: view.train.clone(), valid, test: None }))
        }
        None => {
            let checkpoint = studio.checkpoint.get_value().ok_or("Pick a model first (step 1).")?;
            let (train, valid) = studio.examples.get_value().ok_or(no_data)?;
            (Pretrained::Encoder((*checkpoint).clone()), RunData::Labelled(LabelledData { train, train_report: view.train.clone(), valid, test: None }))
        }
    };

    let mut sources = Sources {
        base_model,
        base_model_id,
        train: view.train.file.clone(),
        valid: view.valid.as_ref().map(|v| v.file.clone()),
        test: None,
        device: studio.device.with_untracked(|d| match d {
            DeviceState::Gpu(info) => format!("webgpu: {}", info.summary()),
            _ => "cpu (wasm)".into(),
        }),
        ..Sources::default()
    };
    data_sources(studio, &mut sources);
    // Answers are scored when the data has them (not plain text) and there is validation data.
    let scorable = match &data {
        RunData::Language(d) => d.layout != LmLayout::Text && (d.valid.is_some() || form.valid_split > 0.0),
        RunData::Labelled(_) => false,
    };
    let lm = LmOptions { score_generations: form.score_generations.filter(|_| scorable), ..LmOptions::default() };
    let plan = Plan { settings: form.settings, max_length: form.max_length, valid_split: form.valid_split, keep_base: true, lm };
    let mut session = match &resume {
        Some(saved) => {
            // The same data, by fingerprint (a file given again may be another one).
            for (role, given) in [(DataRole::Train, &sources.fingerprints.train), (DataRole::Valid, &sources.fingerprints.valid)] {
                saved.check_data(role, given.as_ref()).map_err(|e| format!("This run cannot be resumed: {e}."))?;
            }
            Session::resume(saved, data, sources.device.clone(), device.clone(), &Page(studio)).await
        }
        None => Session::prepare(checkpoint, data, plan, sources.clone(), device.clone(), &Page(studio)).await,
    }
    .map_err(|e| page_error(e, &device))?;
    if resume.is_none() {
        create_record(studio, &session, &sources).await;
        super::runs_panel::refresh(studio).await;
    } else {
        // The charts and replies start where the run was.
        studio.replace_log(session.log().to_vec());
        studio.samples.set(latest(session.samples()));
        studio.answer_scores.set(session.scored().iter().map(|s| (s.step, s.scores)).collect());
    }
    let notes: Vec<String> = session.notes().iter().map(ToString::to_string).collect();
    let total_steps = session.total_steps();
    let epochs = session.settings().epochs;
    let steps_per_epoch = total_steps / epochs.max(1);
    let steps_done = session.steps_done();
    studio.run.update(|r| {
        r.total_steps = total_steps;
        // Where this run starts: 0, or a resumed run's checkpoint (not the step a failed
        // run had shown before it).
        r.step = steps_done;
        r.epochs = epochs;
        r.examples = session.examples();
        r.notes = notes;
        r.phase = RunPhase::Compiling;
        // Wall-clock milliseconds: the page, not this worker, counts from it.
        r.compiling_since = Some(js_sys::Date::now());
    });
    let mut step_seconds: Vec<f64> = Vec::new();
    let saved_step = |studio: Studio| studio.stored_run.with_value(|r| r.as_ref().map(|r| r.step));
    let mut last_save = web_time::Instant::now();
    while !session.is_finished() {
        match studio.control.get_untracked() {
            Control::Stop => break,
            Control::Pause => {
                // A paused tab may be closed: keep the run as it is now, then say "Paused."
                if saved_step(studio) != Some(session.steps_done()) && session.steps_done() > 0 {
                    set_phase(studio, RunPhase::Preparing("Saving the run before pausing…".into()));
                    save(studio, &mut session).await;
                    last_save = web_time::Instant::now();
                }
                set_phase(studio, RunPhase::Paused);
                while studio.control.get_untracked() == Control::Pause {
                    sleep_ms(100).await;
                }
                continue;
            }
            Control::Run => {}
        }
        let step = match session.step().await {
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
            // The session keeps the last good weights and ends the run.
            Err(TrainError::NonFinite { .. }) => break,
            Err(TrainError::Device(detail)) => return Err(device_failed(&device, &detail)),
            Err(e) => return Err(format!("Training stopped: {e}")),
        };
        // Steps come back from the device in groups (about once a second); each carries
        // its group's time per step, which the estimates use.
        for read in step.logged.iter().filter(|r| r.step > 1) {
            step_seconds.push(read.seconds);
            if step_seconds.len() > 20 {
                step_seconds.remove(0);
            }
        }
        let typical = median(&step_seconds);
        show_new_rows(studio, &session);
        let elapsed = session.training_seconds();
        studio.run.update(|r| {
            if step.step == 1 {
                r.compile_seconds = Some(step.seconds);
                web_sys::console::log_1(&format!("webtune: first training step (kernel compilation) {:.1} s", step.seconds).into());
            }
            r.step = step.step;
            r.epoch = step.epoch;
            if let Some(read) = step.logged.last() {
                r.samples_per_second = read.samples_per_second;
            }
            r.elapsed = elapsed;
            r.eta = typical.map(|t| t * (total_steps - step.step) as f64);
            r.epoch_seconds = typical.map(|t| t * steps_per_epoch as f64);
            r.phase = RunPhase::Training;
        });
        if step.eval_due {
            set_phase(studio, RunPhase::Evaluating);
            yield_to_browser().await;
            let eval = session.evaluate().await.map_err(|e| match e {
                TrainError::Device(detail) => device_failed(&device, &detail),
                e => format!("Evaluation failed: {e}"),
            })?;
            if eval.is_some()
                && let Some(row) = session.log().last()
            {
                studio.log.update_value(|log| {
                    if let Some(last) = log.last_mut() {
                        *last = row.clone();
                    }
                });
                studio.log_rows.set(studio.log.with_value(Vec::len));
            }
            let said = latest(session.samples());
            if !said.is_empty() {
                studio.samples.set(said);
            }
            if let Some(scored) = session.scored().last()
                && studio.answer_scores.with_untracked(|s| s.last().is_none_or(|(step, _)| *step != scored.step))
            {
                studio.answer_scores.update(|s| s.push((scored.step, scored.scores)));
            }
            set_phase(studio, RunPhase::Training);
            if !session.is_finished() {
                save(studio, &mut session).await;
                last_save = web_time::Instant::now();
            }
        } else if let Some(minutes) = form.checkpoint_minutes
            && last_save.elapsed().as_secs_f64() >= minutes * 60.0
            && !session.is_finished()
        {
            save(studio, &mut session).await;
            last_save = web_time::Instant::now();
        }
        yield_to_browser().await;
    }

    // The last steps' losses, still on the device, for the chart (a divergence found
    // here ends the run like one found in a step, and `finish` says so).
    match session.read_back().await {
        Ok(()) | Err(TrainError::NonFinite { .. }) => show_new_rows(studio, &session),
        Err(TrainError::Device(detail)) => return Err(device_failed(&device, &detail)),
        Err(e) => return Err(format!("Training stopped: {e}")),
    }
    set_phase(studio, RunPhase::Preparing("Scoring the kept model on the validation set…".into()));
    yield_to_browser().await;
    let finished = session.finish().await.map_err(|e| page_error(e, &device))?;
    // A GPU that failed and was replaced meanwhile: what was computed on it is gone.
    if studio.device().as_ref() != Some(&device) {
        return Err(device_failed(&device, "the device was replaced during the run"));
    }
    let ended = finished.metrics.stop_reason.clone();
    studio.results.set(Some(Results {
        report: finished.metrics.validation.as_ref().and_then(Evaluation::classification).cloned(),
        language: match &finished.metrics.validation {
            Some(Evaluation::LanguageModel(e)) => Some(e.clone()),
            _ => None,
        },
        samples: match &finished.trained {
            Trained::LanguageModel { samples, .. } => latest(samples),
            Trained::Classifier { .. } => Vec::new(),
        },
        answers: finished.answers().cloned(),
        mistakes: finished.mistakes().to_vec(),
        kept_step: finished.metrics.kept_step,
        ended: ended.to_string(),
    }));
    studio.set_trained(Some(Rc::new(finished)));
    // A finished run is in the page (Results, Try it, Export): its checkpoints go.
    if let Some(record) = studio.stored_run.get_value() {
        studio.set_stored_run(None);
        studio.saved.set(None);
        if let Err(e) = async { RunStore::open().await?.delete(&record.id).await }.await {
            web_sys::console::warn_1(&format!("webtune: removing the finished run's checkpoints failed: {e}").into());
        }
        super::runs_panel::refresh(studio).await;
    }
    match ended {
        crate::session::Ended::Diverged { .. } => set_phase(studio, RunPhase::Failed(ended.to_string())),
        _ => set_phase(studio, RunPhase::Finished(ended.to_string())),
    }
    Ok(())
}
