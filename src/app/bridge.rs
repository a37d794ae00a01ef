//! The page and its training worker. The worker ([`super::worker`]) does the studio's
//! work — the GPU device, loading models, reading and tokenising data, training,
//! evaluation, prediction, generation, export, the runs kept in the browser — on a
//! [`Studio`] of its own, and mirrors every plain report to the page's [`Studio`]
//! ([`Mirror`]); the page renders and sends [`Command`]s. Nothing that crosses holds a
//! tensor: messages are serde values (serde-wasm-bindgen over `postMessage`), and files
//! the user picks travel as `File` handles beside the command, read in the worker.
//!
//! Both sides run the same WebAssembly module: `www/worker.js` imports the site's own
//! wasm-bindgen module (whose URLs the page reads from its `<link rel=modulepreload>` and
//! wasm preload, so one Trunk build serves both, under any sub-path) and calls
//! [`super::worker::start`].

use std::cell::RefCell;
use std::collections::HashMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use super::state::{AwaitingData, Control, DataView, DeviceState, EstimateView, GpuNotice, ModelState, Results, RunView, Step, StoredRun, Studio, TrainedView};
use crate::data::{Columns, Format};
use crate::platform::StorageUse;
use crate::session::Sample;
use crate::studio::SettingsForm;
use crate::train::{GenerationScores, LogRow, Prediction};

/// What the page asks the worker to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Load the model the site bundles.
    LoadBundled,
    /// Load a model from the Hub (or a folder URL).
    LoadHub(String),
    /// Load the model files sent along, with their paths from the pick or drop.
    LoadFiles(Vec<String>),
    /// Read the data file sent along, for training or for validation.
    DataFile {
        /// Whether it is the validation file.
        validation: bool,
    },
    /// Read the sample dataset.
    SampleData,
    /// The data step's choices.
    Choices {
        /// Column choices.
        columns: Columns,
        /// Format choice.
        format: Option<Format>,
        /// Skip rows that cannot be used.
        skip: bool,
    },
    /// The settings as typed.
    Settings(SettingsForm),
    /// Start (or start again) training.
    Start,
    /// Train on the CPU after the GPU failed at the first step.
    TrainOnCpu,
    /// Pause, resume or stop.
    Control(Control),
    /// Classify a text with the fine-tuned model (and the model before it).
    Predict {
        /// Matches the answer.
        id: u64,
        /// The text.
        text: String,
        /// The second text, for pairs.
        pair: Option<String>,
    },
    /// Continue a prompt (or a chat message) with the fine-tuned generative model.
    Generate {
        /// Matches the answers.
        id: u64,
        /// The prompt or message.
        prompt: String,
        /// Render it with the chat template.
        chat: bool,
        /// Temperature as typed.
        temperature: String,
        /// Top-p as typed.
        top_p: String,
        /// Max new tokens as typed.
        max_new: String,
    },
    /// Embed a sentence with the sentence-transformers model.
    Embed {
        /// Matches the answer.
        id: u64,
        /// The sentence.
        text: String,
    },
    /// Export the fine-tuned model as a .zip.
    Export {
        /// Matches the answer.
        id: u64,
    },
    /// Resume a run kept in the browser.
    Resume(StoredRun),
    /// Offer a run's checkpoint as a .zip.
    DownloadCheckpoint(StoredRun),
    /// Forget a run.
    DeleteRun(StoredRun),
    /// The data file a waiting resume asked for, sent along.
    GiveData,
    /// Resume a checkpoint from this computer: the files of a checkpoint folder, or its
    /// .zip, sent along.
    ImportCheckpoint,
    /// List the runs and the storage again.
    RefreshRuns,
    /// Dismiss the notice about a lost GPU.
    DismissGpuNotice,
}

/// An embedding, summarised for display.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingView {
    /// Tokens in the sentence.
    pub tokens: usize,
    /// The vector.
    pub vector: Vec<f32>,
    /// Milliseconds the worker took.
    pub millis: f64,
}

/// What the worker tells the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Commands can be sent.
    Ready,
    /// A piece of state changed.
    Mirror(Mirror),
    /// The run log from row `from` on (rows before it are unchanged).
    Log {
        /// The first row sent.
        from: usize,
        /// The rows from there.
        rows: Vec<LogRow>,
    },
    /// An answer to [`Command::Predict`]: the labels, the fine-tuned model's and the
    /// starting model's predictions, or why not.
    Prediction {
        /// The command's id.
        id: u64,
        /// Labels, fine-tuned, before.
        result: Result<(Vec<String>, Option<Prediction>, Option<Prediction>), String>,
    },
    /// The reply to [`Command::Generate`] so far.
    Reply {
        /// The command's id.
        id: u64,
        /// The reply's text so far.
        text: String,
        /// Whether generation ended.
        done: bool,
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// An answer to [`Command::Embed`].
    Embedding {
        /// The command's id.
        id: u64,
        /// The embedding, or why not.
        result: Result<EmbeddingView, String>,
    },
    /// A command with an id finished: what to say.
    Done {
        /// The command's id.
        id: u64,
        /// The message.
        result: Result<String, String>,
    },
    /// Offer these bytes as a download.
    Download {
        /// The file name.
        name: String,
        /// Its MIME type.
        mime: String,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The worker crashed.
    Fatal(String),
}

/// The state the worker mirrors to the page, one signal each.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Mirror {
    Step(Step),
    Device(DeviceState),
    Model(ModelState),
    Data(Option<DataView>),
    DataError(Option<String>),
    DataBusy(Option<String>),
    Samples(Vec<Sample>),
    AnswerScores(Vec<(usize, GenerationScores)>),
    Settings(SettingsForm),
    Run(RunView),
    Control(Control),
    Results(Option<Results>),
    Trained(Option<TrainedView>),
    GpuNotice(Option<GpuNotice>),
    Columns(Columns),
    Format(Option<Format>),
    Skip(bool),
    DataSource(String),
    Runs(Vec<StoredRun>),
    RunsStatus(Option<Result<String, String>>),
    Storage(Option<StorageUse>),
    Saved(Option<Result<usize, String>>),
    AwaitingData(Option<AwaitingData>),
    Estimate(Option<EstimateView>),
    RunId(Option<String>),
}

/// Sets `signal` to `value` unless it already holds it (so mirrored state never echoes).
pub fn set_if<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|v| v != &value) {
        signal.set(value);
    }
}

impl Mirror {
    /// Applies the change to `studio`.
    fn apply(self, studio: Studio) {
        match self {
            Self::Step(v) => set_if(studio.step, v),
            Self::Device(v) => set_if(studio.device, v),
            Self::Model(v) => set_if(studio.model, v),
            Self::Data(v) => set_if(studio.data, v),
            Self::DataError(v) => set_if(studio.data_error, v),
            Self::DataBusy(v) => set_if(studio.data_busy, v),
            Self::Samples(v) => set_if(studio.samples, v),
            Self::AnswerScores(v) => set_if(studio.answer_scores, v),
            Self::Settings(v) => set_if(studio.settings, v),
            Self::Run(v) => set_if(studio.run, v),
            Self::Control(v) => set_if(studio.control, v),
            Self::Results(v) => set_if(studio.results, v),
            Self::Trained(v) => set_if(studio.trained_view, v),
            Self::GpuNotice(v) => set_if(studio.gpu_notice, v),
            Self::Columns(v) => set_if(studio.columns, v),
            Self::Format(v) => set_if(studio.format, v),
            Self::Skip(v) => set_if(studio.skip_bad_rows, v),
            Self::DataSource(v) => set_if(studio.data_source, v),
            Self::Runs(v) => set_if(studio.runs, v),
            Self::RunsStatus(v) => set_if(studio.runs_status, v),
            Self::Storage(v) => set_if(studio.storage, v),
            Self::Saved(v) => set_if(studio.saved, v),
            Self::AwaitingData(v) => set_if(studio.awaiting_data, v),
            Self::Estimate(v) => set_if(studio.estimate, v),
            Self::RunId(v) => set_if(studio.run_id, v),
        }
    }
}

/// An answer the page waits for: called with each event of its id until it returns true.
type Waiting = Box<dyn FnMut(&Event) -> bool>;

/// The page's end of the link.
struct Link {
    worker: web_sys::Worker,
    ready: bool,
    queue: Vec<js_sys::Object>,
    next_id: u64,
    waiting: HashMap<u64, Waiting>,
}

thread_local! {
    static LINK: RefCell<Option<Link>> = const { RefCell::new(None) };
}

/// The id of an event that answers a command.
fn id_of(event: &Event) -> Option<u64> {
    match event {
        Event::Prediction { id, .. } | Event::Reply { id, .. } | Event::Embedding { id, .. } | Event::Done { id, .. } => Some(*id),
        _ => None,
    }
}

/// The href of the first `<link>` matching `selector` in the page.
fn link_href(selector: &str) -> Option<String> {
    let element = web_sys::window()?.document()?.query_selector(selector).ok()??;
    Some(element.dyn_into::<web_sys::HtmlLinkElement>().ok()?.href())
}

/// Starts the worker and connects it to `studio`: its mirrors land in the page's signals,
/// and the page's settings, choices and controls go to it.
pub fn connect(studio: Studio) -> Result<(), String> {
    // One Trunk build serves both: the page's own module and wasm, found by their preloads.
    let glue = link_href("link[rel=modulepreload]").ok_or("the page has no module preload to start its worker with")?;
    let wasm = link_href("link[rel=preload][as=fetch]").ok_or("the page has no WebAssembly preload to start its worker with")?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let base = document.base_uri().ok().flatten().unwrap_or_default();
    let url = web_sys::Url::new_with_base("worker.js", &base).map_err(|e| format!("{e:?}"))?.href();
    let options = web_sys::WorkerOptions::new();
    options.set_type(web_sys::WorkerType::Module);
    options.set_name("webtune training");
    let worker = web_sys::Worker::new_with_options(&url, &options).map_err(|e| format!("the training worker cannot start: {e:?}"))?;
    let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| receive(studio, ev.data()));
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_error = Closure::<dyn Fn(web_sys::Event)>::new(move |ev: web_sys::Event| {
        let message = js_sys::Reflect::get(&ev, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "it could not be loaded".into());
        super::show_fatal(&format!("the training worker failed: {message}"));
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    let start = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&start, &"glue".into(), &glue.into());
    let _ = js_sys::Reflect::set(&start, &"wasm".into(), &wasm.into());
    worker.post_message(&start).map_err(|e| format!("{e:?}"))?;
    LINK.with(|l| *l.borrow_mut() = Some(Link { worker, ready: false, queue: Vec::new(), next_id: 1, waiting: HashMap::new() }));
    // What the page owns goes to the worker whenever it changes.
    Effect::new(move |_| send(Command::Settings(studio.settings.get())));
    Effect::new(move |_| send(Command::Control(studio.control.get())));
    Effect::new(move |_| send(Command::Choices { columns: studio.columns.get(), format: studio.format.get(), skip: studio.skip_bad_rows.get() }));
    Ok(())
}

/// A message from the worker.
fn receive(studio: Studio, data: wasm_bindgen::JsValue) {
    if let Some(fatal) = js_sys::Reflect::get(&data, &"fatal".into()).ok().and_then(|f| f.as_string()) {
        return super::show_fatal(&fatal);
    }
    let event: Event = match serde_wasm_bindgen::from_value(data) {
        Ok(event) => event,
        Err(e) => return web_sys::console::error_1(&format!("webtune: a message from the worker could not be read: {e}").into()),
    };
    match event {
        Event::Ready => LINK.with(|l| {
            if let Some(link) = l.borrow_mut().as_mut() {
                link.ready = true;
                for message in link.queue.drain(..) {
                    let _ = link.worker.post_message(&message);
                }
            }
        }),
        Event::Mirror(mirror) => mirror.apply(studio),
        Event::Log { from, rows } => {
            studio.log.update_value(|log| {
                log.truncate(from);
                log.extend(rows);
            });
            let n = studio.log.with_value(Vec::len);
            studio.log_rows.set(n);
        }
        Event::Download { name, mime, bytes } => {
            if let Err(e) = crate::platform::download(&bytes, &name, &mime) {
                studio.runs_status.set(Some(Err(format!("The download of {name} failed: {e}"))));
            }
        }
        Event::Fatal(message) => super::show_fatal(&message),
        answer => {
            let Some(id) = id_of(&answer) else { return };
            // Taken out while it runs, so it may send commands itself.
            let waiting = LINK.with(|l| l.borrow_mut().as_mut().and_then(|link| link.waiting.remove(&id)));
            if let Some(mut callback) = waiting
                && !callback(&answer)
            {
                LINK.with(|l| {
                    if let Some(link) = l.borrow_mut().as_mut() {
                        link.waiting.insert(id, callback);
                    }
                });
            }
        }
    }
}

/// Sends `command` to the worker (held until it is ready).
pub fn send(command: Command) {
    send_with_files(command, &[]);
}

/// Sends `command` with `files` (user-picked `File`s, read in the worker).
pub fn send_with_files(command: Command, files: &[web_sys::File]) {
    let value = match serde_wasm_bindgen::to_value(&command) {
        Ok(v) => v,
        Err(e) => return web_sys::console::error_1(&format!("webtune: a command could not be sent: {e}").into()),
    };
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"command".into(), &value);
    let _ = js_sys::Reflect::set(&message, &"files".into(), &files.iter().collect::<js_sys::Array>());
    LINK.with(|l| {
        if let Some(link) = l.borrow_mut().as_mut() {
            if link.ready {
                let _ = link.worker.post_message(&message);
            } else {
                link.queue.push(message);
            }
        }
    });
}

/// Sends the command `make(id)` and calls `on_answer` with each answer to it until it
/// returns true (a streamed reply ends with `done`).
pub fn request(make: impl FnOnce(u64) -> Command, on_answer: impl FnMut(&Event) -> bool + 'static) {
    let id = LINK.with(|l| {
        let mut link = l.borrow_mut();
        let link = link.as_mut()?;
        let id = link.next_id;
        link.next_id += 1;
        link.waiting.insert(id, Box::new(on_answer));
        Some(id)
    });
    if let Some(id) = id {
        send(make(id));
    }
}
