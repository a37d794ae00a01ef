//! The training worker: a dedicated Web Worker running the same WebAssembly as the page.
//! It owns the GPU device, the models, the data and the runs, runs the studio's work on a
//! [`Studio`] of its own, mirrors every plain report to the page and answers its commands
//! (see [`super::bridge`]). Long work here never blocks the page: typing, scrolling and
//! charts stay responsive while a step runs.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use super::bridge::{Command, Event, Mirror, set_if};
use super::state::Studio;

/// Sends `event` to the page.
pub fn post(event: &Event) {
    let global: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match serde_wasm_bindgen::to_value(event) {
        Ok(value) => {
            if let Err(e) = global.post_message(&value) {
                web_sys::console::error_1(&format!("webtune worker: posting failed: {e:?}").into());
            }
        }
        Err(e) => web_sys::console::error_1(&format!("webtune worker: an event could not be sent: {e}").into()),
    }
}

/// State the page owns (the user sets it there), which the worker changes only now and then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    /// The settings (a resumed run's).
    Settings,
    /// Pause / stop (a new run starts running).
    Control,
    /// The data step's choices (a new file's are guessed again; a resumed run's).
    Choices,
    /// The step on screen (a resumed run shows its training).
    Step,
}

/// Tells the page of a change the worker made to state the page owns.
pub fn tell_page(studio: Studio, what: Owned) {
    if !in_worker() {
        return;
    }
    match what {
        Owned::Settings => post(&Event::Mirror(Mirror::Settings(studio.settings.get_untracked()))),
        Owned::Control => post(&Event::Mirror(Mirror::Control(studio.control.get_untracked()))),
        Owned::Step => post(&Event::Mirror(Mirror::Step(studio.step.get_untracked()))),
        Owned::Choices => {
            post(&Event::Mirror(Mirror::Columns(studio.columns.get_untracked())));
            post(&Event::Mirror(Mirror::Format(studio.format.get_untracked())));
            post(&Event::Mirror(Mirror::Skip(studio.skip_bad_rows.get_untracked())));
        }
    }
}

/// Whether this code runs in the worker (not on the page).
pub fn in_worker() -> bool {
    js_sys::global().dyn_ref::<web_sys::DedicatedWorkerGlobalScope>().is_some()
}

/// Starts the worker: its studio, the mirrors to the page, the device and the bundled
/// model, and the command handler. Called by `www/worker.js` once the module is loaded.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(&Event::Fatal(format!("the training worker stopped: {info}")));
    }));
    let _ = any_spawner::Executor::init_wasm_bindgen();
    // The worker's reactive graph lives as long as the worker.
    let owner = Owner::new();
    owner.set();
    std::mem::forget(owner);
    let studio = Studio::new();
    mirror(studio);
    super::data_step::watch(studio);
    super::settings_step::watch(studio);
    let global: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| receive(studio, ev.data()));
    global.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Event::Ready);
    super::start_device(studio);
}

/// Mirrors the studio's reports to the page as they change.
fn mirror(studio: Studio) {
    macro_rules! mirror {
        ($($signal:ident => $variant:ident),* $(,)?) => {
            $(Effect::new(move |_| post(&Event::Mirror(Mirror::$variant(studio.$signal.get()))));)*
        };
    }
    // The page owns the settings, the data choices, the controls and the step on screen
    // (the user sets them there); mirroring them back would race with typing, so the worker tells the page only
    // when it changes them itself ([`tell_page`]).
    mirror!(
        device => Device, model => Model, data => Data, data_error => DataError, data_busy => DataBusy,
        samples => Samples, answer_scores => AnswerScores, run => Run, results => Results, trained_view => Trained,
        gpu_notice => GpuNotice, data_source => DataSource, runs => Runs, runs_status => RunsStatus, storage => Storage,
        saved => Saved, awaiting_data => AwaitingData, estimate => Estimate, run_id => RunId,
    );
    // The log grows by a row a step, and its last row gains the evaluation: send from there.
    let sent = StoredValue::new_local(0usize);
    Effect::new(move |_| {
        studio.log_rows.track();
        let from = if studio.log_replaced.get_value() {
            studio.log_replaced.set_value(false);
            0
        } else {
            sent.get_value().saturating_sub(1)
        };
        let (rows, len) = studio.log.with_value(|log| (log.get(from.min(log.len())..).map(<[_]>::to_vec).unwrap_or_default(), log.len()));
        let from = from.min(len);
        sent.set_value(len);
        post(&Event::Log { from, rows });
    });
}

/// A message from the page: a command, with the files picked for it.
fn receive(studio: Studio, data: wasm_bindgen::JsValue) {
    let Ok(command) = js_sys::Reflect::get(&data, &"command".into()) else { return };
    let files: Vec<web_sys::File> = js_sys::Reflect::get(&data, &"files".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Array>().ok())
        .map(|a| a.iter().filter_map(|f| f.dyn_into().ok()).collect())
        .unwrap_or_default();
    match serde_wasm_bindgen::from_value::<Command>(command) {
        Ok(command) => handle(studio, command, files),
        Err(e) => web_sys::console::error_1(&format!("webtune worker: a command could not be read: {e}").into()),
    }
}

/// Runs a command on the worker's studio.
fn handle(studio: Studio, command: Command, files: Vec<web_sys::File>) {
    match command {
        Command::LoadBundled => spawn_local(super::model_step::load_bundled(studio)),
        Command::LoadHub(input) => spawn_local(super::model_step::load_hub(studio, input)),
        Command::LoadFiles(paths) => spawn_local(super::model_step::load_local(studio, paths.into_iter().zip(files).collect())),
        Command::DataFile { validation } => {
            if let Some(file) = files.into_iter().next() {
                super::data_step::load_file(studio, file, validation);
            }
        }
        Command::SampleData => super::data_step::load_sample(studio),
        Command::Choices { columns, format, skip } => {
            set_if(studio.columns, columns);
            set_if(studio.format, format);
            set_if(studio.skip_bad_rows, skip);
        }
        Command::Settings(form) => set_if(studio.settings, form),
        Command::Start => super::run::start(studio),
        Command::TrainOnCpu => super::run::train_on_cpu(studio),
        Command::Control(control) => set_if(studio.control, control),
        Command::Predict { id, text, pair } => spawn_local(async move {
            let result = super::try_step::predict_both(studio, text, pair).await;
            post(&Event::Prediction { id, result });
        }),
        Command::Generate { id, prompt, chat, temperature, top_p, max_new } => {
            super::try_step::generate_reply(studio, id, prompt, chat, &temperature, &top_p, &max_new);
        }
        Command::Embed { id, text } => spawn_local(async move {
            let result = super::embed_panel::embed(studio, text).await;
            post(&Event::Embedding { id, result });
        }),
        Command::Export { id } => spawn_local(async move {
            let result = super::export_step::export(studio).await;
            post(&Event::Done { id, result });
        }),
        Command::Resume(run) => super::runs_panel::resume(studio, run),
        Command::DownloadCheckpoint(run) => super::runs_panel::download_checkpoint(studio, run),
        Command::DeleteRun(run) => super::runs_panel::delete(studio, run),
        Command::GiveData => {
            if let Some(file) = files.into_iter().next() {
                super::runs_panel::give_data(studio, file);
            }
        }
        Command::ImportCheckpoint => super::runs_panel::import(studio, files),
        Command::RefreshRuns => spawn_local(super::runs_panel::refresh(studio)),
        Command::DismissGpuNotice => studio.gpu_notice.set(None),
    }
}
