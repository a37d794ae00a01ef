//! Page state shared through a context: plain reports in signals; models, files and
//! examples in local (non-Send) storage, never in the UI's hands.

use std::rc::Rc;

use burn::tensor::Device;
use leptos::prelude::*;

use crate::checkpoint::{CausalCheckpoint, Checkpoint};
use crate::data::{Columns, DataReport, Example, Format, LmLayout, LmRow};
use crate::model::{LoadReport, SentenceEmbedder};
use crate::platform::GpuInfo;
use crate::session::{DataRole, RunCheckpoint, Sample, ScoredAnswers, TaskKind};

pub use super::runs::StoredRun;
use crate::train::{EvalReport, GenerationScores, LmEvaluation, LogRow};

pub use crate::session::{Finished as Trained, Mistake};
pub use crate::studio::SettingsForm;

/// Where the bundled model is served, relative to the page (works under any sub-path).
pub const DEFAULT_MODEL_URL: &str = "models/all-MiniLM-L6-v2/";
/// The bundled sample dataset, relative to the page.
pub const SAMPLE_DATA_URL: &str = "datasets/sentiment-sentences/";

/// The steps of the flow, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Step {
    /// Pick a model.
    Model,
    /// Load data.
    Data,
    /// Choose settings.
    Settings,
    /// Train.
    Train,
    /// Inspect the results.
    Results,
    /// Try the model.
    Try,
    /// Download it.
    Export,
}

impl Step {
    /// All steps in order.
    pub const ALL: [Step; 7] = [Step::Model, Step::Data, Step::Settings, Step::Train, Step::Results, Step::Try, Step::Export];

    /// The step's name in the navigation.
    pub fn title(self) -> &'static str {
        match self {
            Step::Model => "Model",
            Step::Data => "Data",
            Step::Settings => "Settings",
            Step::Train => "Train",
            Step::Results => "Results",
            Step::Try => "Try it",
            Step::Export => "Export",
        }
    }

    /// A stable id for the step's section.
    pub fn id(self) -> &'static str {
        match self {
            Step::Model => "step-model",
            Step::Data => "step-data",
            Step::Settings => "step-settings",
            Step::Train => "step-train",
            Step::Results => "step-results",
            Step::Try => "step-try",
            Step::Export => "step-export",
        }
    }
}

/// What the device set-up found.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DeviceState {
    /// Asking the browser for WebGPU.
    Starting,
    /// WebGPU is in use.
    Gpu(GpuInfo),
    /// No WebGPU: the CPU backend runs in this tab, slowly. The reason is the browser's.
    Cpu(String),
    /// WebGPU works, but the user moved training to the CPU after the GPU could not
    /// compute the model (a non-finite loss before any update).
    CpuChosen,
}

/// One file of a model being fetched.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileProgress {
    /// File name.
    pub name: String,
    /// Bytes received.
    pub received: u64,
    /// Bytes expected (0 when unknown).
    pub total: u64,
    /// Served from the browser's store, not downloaded.
    pub from_cache: bool,
    /// Finished.
    pub done: bool,
}

/// What is known about the chosen model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelFacts {
    /// Where it came from, in words.
    pub source: String,
    /// Its name for `training_args.json` and the model card: the folder's name, the Hub
    /// id, or the bundled model's name.
    pub name: String,
    /// The Hub id, when it came from the Hub (or is the bundled copy of a Hub model).
    pub hub_id: Option<String>,
    /// `model_type` and architectures from config.json.
    pub architecture: String,
    /// What it is trained to do: classify (an encoder) or continue text (a generative model).
    pub task: TaskKind,
    /// Trainable parameters (an encoder's with a 2-label classifier).
    pub parameters: u64,
    /// Vocabulary size.
    pub vocabulary: usize,
    /// Longest input in tokens.
    pub max_length: usize,
    /// Hidden size × layers × heads.
    pub shape: String,
    /// Labels of a classifier the checkpoint already has, if any.
    pub labels: Option<Vec<String>>,
    /// Total bytes of its files.
    pub bytes: usize,
    /// Sentence-transformers facts (pooling, dimensions), when it is such a model.
    pub embedding: Option<LoadReport>,
    /// For a model fetched by address: how many files were downloaded or came from the
    /// browser's storage (shown, never written into exports).
    pub fetched: Option<String>,
}

/// The model step's state.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ModelState {
    /// Nothing chosen yet.
    Empty,
    /// Files are arriving.
    Fetching { source: String, files: Vec<FileProgress> },
    /// Reading and checking the files.
    Checking { source: String },
    /// Ready to train.
    Ready(ModelFacts),
    /// It cannot be used; the message says why and what to do.
    Failed(String),
}

/// A data file the user gave, with its report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataView {
    /// The report of the training file.
    pub train: DataReport,
    /// The report of the validation file, when one was given.
    pub valid: Option<DataReport>,
    /// Where the data came from, in words.
    pub source: String,
    /// Seconds to read and check it (shown, and measured for BENCHMARKS.md).
    pub read_seconds: f64,
    /// For a generative model: what the training file holds (chats, pairs, text).
    pub layout: Option<LmLayout>,
    /// For a generative model: the training file's token lengths, once measured.
    pub lm_lengths: Option<LmLengths>,
}

/// A generative model's training examples measured in tokens, as training will see them
/// (chat template applied, the end tokens included).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmLengths {
    /// Whole examples, against the max length training will use.
    pub total: crate::data::LengthStats,
    /// The tokens not learnt (prompts, user turns and the template around them).
    pub prompt: crate::data::LengthStats,
    /// The tokens learnt (completions, assistant turns; all of a plain text).
    pub answer: crate::data::LengthStats,
    /// The first row that cannot be tokenised for training ("file:line: why").
    pub problem: Option<String>,
}

/// The training run's phase.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RunPhase {
    /// Not started.
    Idle,
    /// Tokenising and building the model; the words say which.
    Preparing(String),
    /// The first steps: GPU kernels are compiled and tuned.
    Compiling,
    /// Steady training.
    Training,
    /// Paused between steps.
    Paused,
    /// Evaluating on the validation set.
    Evaluating,
    /// Done; the words say why it ended.
    Finished(String),
    /// It failed; the words say why and what to do.
    Failed(String),
}

/// The run as the page shows it: plain numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunView {
    /// What it is doing.
    pub phase: RunPhase,
    /// Steps done.
    pub step: usize,
    /// Steps in the run.
    pub total_steps: usize,
    /// Current epoch (1-based).
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// What the session noted before training (leakage, truncation, the head).
    pub notes: Vec<String>,
    /// Recent throughput.
    pub samples_per_second: f64,
    /// Seconds since start (pauses excluded).
    pub elapsed: f64,
    /// Seconds of the first (compiling) step.
    pub compile_seconds: Option<f64>,
    /// Estimated seconds to go.
    pub eta: Option<f64>,
    /// Estimated seconds per epoch, from measured steps.
    pub epoch_seconds: Option<f64>,
    /// Rows in the training set and the validation set.
    pub examples: (usize, usize),
    /// When the kernel-compiling first step began (`Date.now()`, ms since 1970).
    pub compiling_since: Option<f64>,
    /// The run failed on the GPU before any update (the device computed a non-finite
    /// loss or gradient): the page offers to train on the CPU in this tab instead.
    pub offer_cpu: bool,
}

impl Default for RunView {
    fn default() -> Self {
        Self {
            phase: RunPhase::Idle,
            step: 0,
            total_steps: 0,
            epoch: 0,
            epochs: 0,
            notes: Vec::new(),
            samples_per_second: 0.0,
            elapsed: 0.0,
            compile_seconds: None,
            offer_cpu: false,
            eta: None,
            epoch_seconds: None,
            examples: (0, 0),
            compiling_since: None,
        }
    }
}

/// What the user asked the run to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Control {
    /// Keep going.
    Run,
    /// Hold between steps.
    Pause,
    /// End now, keeping the best model so far.
    Stop,
}

/// The finished run's results.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Results {
    /// A classifier's metrics of the kept model on the validation set (`None` without one).
    pub report: Option<EvalReport>,
    /// A generative model's validation loss and perplexity (`None` without validation data).
    pub language: Option<LmEvaluation>,
    /// What a generative model said to the fixed validation prompts at its last evaluation.
    pub samples: Vec<Sample>,
    /// A generative model's scored validation answers (of the kept weights), worst first,
    /// when the run scored them.
    pub answers: Option<ScoredAnswers>,
    /// Validation examples it got wrong, most confident first.
    pub mistakes: Vec<Mistake>,
    /// The step whose weights are kept.
    pub kept_step: usize,
    /// Why the run ended.
    pub ended: String,
}

/// Training examples, and validation examples when a separate file gave them.
pub type TrainAndValid = (Vec<Example>, Option<Vec<Example>>);

/// A generative model's data: training records, their layout, and validation records
/// when a separate file gave them.
pub type LmTrainAndValid = (Vec<LmRow>, LmLayout, Option<Vec<LmRow>>);

/// The page's shared state.
#[derive(Clone, Copy)]
pub struct Studio {
    /// The step on screen.
    pub step: RwSignal<Step>,
    /// WebGPU or the CPU fallback.
    pub device: RwSignal<DeviceState>,
    /// The device itself, once started.
    pub device_handle: StoredValue<Option<Device>, LocalStorage>,
    /// The model step.
    pub model: RwSignal<ModelState>,
    /// The chosen model, parsed once, when it is an encoder (a classifier).
    pub checkpoint: StoredValue<Option<Rc<Checkpoint>>, LocalStorage>,
    /// The chosen model when it is generative (gpt2, llama, qwen2); at most one of the two is set.
    pub causal: StoredValue<Option<Rc<CausalCheckpoint>>, LocalStorage>,
    /// The embedding model, for sentence-transformers checkpoints.
    pub embedder: StoredValue<Option<Rc<SentenceEmbedder>>, LocalStorage>,
    /// The data step's reports.
    pub data: RwSignal<Option<DataView>>,
    /// Why the data cannot be read, when it cannot.
    pub data_error: RwSignal<Option<String>>,
    /// The usable training and validation examples.
    pub examples: StoredValue<Option<TrainAndValid>, LocalStorage>,
    /// The usable records for a generative model.
    pub lm_examples: StoredValue<Option<LmTrainAndValid>, LocalStorage>,
    /// What a generative model said to the fixed validation prompts, latest evaluation first.
    pub samples: RwSignal<Vec<Sample>>,
    /// A generative model's scored validation answers at each evaluation: step and scores.
    pub answer_scores: RwSignal<Vec<(usize, GenerationScores)>>,
    /// Settings as typed.
    pub settings: RwSignal<SettingsForm>,
    /// The run's progress (small: copied by its readers).
    pub run: RwSignal<RunView>,
    /// The run log, appended once per step and read in place (never copied per reader).
    pub log: StoredValue<Vec<LogRow>, LocalStorage>,
    /// Rows in `log`, bumped when it changes: what the charts subscribe to.
    pub log_rows: RwSignal<usize>,
    /// The log was replaced, not appended to, since the worker last sent it to the page.
    pub log_replaced: StoredValue<bool>,
    /// Pause / stop requests.
    pub control: RwSignal<Control>,
    /// The results of the finished run.
    pub results: RwSignal<Option<Results>>,
    /// The fine-tuned model.
    pub trained: StoredValue<Option<Rc<Trained>>, LocalStorage>,
    /// Bumped when `trained` changes, so views depending on it update.
    pub trained_version: RwSignal<u32>,
    /// What the page says after the GPU stopped working (and what it did about it).
    pub gpu_notice: RwSignal<Option<GpuNotice>>,
    /// The training file as read (name, bytes): re-read when a choice changes, and kept
    /// with the run.
    pub train_bytes: StoredValue<Option<NamedBytes>, LocalStorage>,
    /// The validation file as read, when one was given.
    pub valid_bytes: StoredValue<Option<NamedBytes>, LocalStorage>,
    /// The data step's column choices.
    pub columns: RwSignal<Columns>,
    /// The data step's format choice (`None`: detected).
    pub format: RwSignal<Option<Format>>,
    /// Whether rows that cannot be used are left out.
    pub skip_bad_rows: RwSignal<bool>,
    /// Where the data came from, in words.
    pub data_source: RwSignal<String>,
    /// Bumped when new data arrives, so it is read again.
    pub data_version: RwSignal<u32>,
    /// The runs kept in this browser, latest first.
    pub runs: RwSignal<Vec<StoredRun>>,
    /// What the runs panel says: what it did, or why something failed.
    pub runs_status: RwSignal<Option<Result<String, String>>>,
    /// The site's storage use and quota, as the browser estimates them.
    pub storage: RwSignal<Option<crate::platform::StorageUse>>,
    /// The record of the run being trained, when the browser keeps runs.
    pub stored_run: StoredValue<Option<StoredRun>, LocalStorage>,
    /// The checkpoint the next run continues from (set by Resume).
    pub resume_from: StoredValue<Option<RunCheckpoint>, LocalStorage>,
    /// The current run's last checkpoint: its step, or why saving failed.
    pub saved: RwSignal<Option<Result<usize, String>>>,
    /// A resume waiting for a data file the run did not keep: the run, its checkpoint,
    /// and the data files gathered so far.
    pub pending_resume: StoredValue<Option<PendingResume>, LocalStorage>,
    /// What the page asks for while a resume waits for a data file.
    pub awaiting_data: RwSignal<Option<AwaitingData>>,
    /// What the page knows of the fine-tuned model (the model itself stays in the worker).
    pub trained_view: RwSignal<Option<TrainedView>>,
    /// The settings' memory estimate and whether they fit the device.
    pub estimate: RwSignal<Option<EstimateView>>,
    /// A data file being read, in words.
    pub data_busy: RwSignal<Option<String>>,
    /// The id of the run being trained (or last trained) in the browser's storage.
    pub run_id: RwSignal<Option<String>>,
}

/// The fine-tuned model as the page knows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainedView {
    /// Its task.
    pub task: TaskKind,
    /// A classifier's label names.
    pub labels: Vec<String>,
    /// A classifier: whether the model before fine-tuning had a head for these labels
    /// (then Try it compares the two).
    pub has_base: bool,
}

/// The settings' memory estimate, as the settings step shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EstimateView {
    /// Device memory by part (none when the max length is impossible).
    pub estimate: Option<crate::train::MemoryEstimate>,
    /// Whether it fits the device, or why not.
    pub fit: Result<(), String>,
    /// A default max length that was lowered, in words.
    pub note: Option<String>,
}

/// A file's name and bytes.
pub type NamedBytes = (String, Vec<u8>);

/// A resume gathering its data (see [`Studio::pending_resume`]).
#[derive(Clone)]
pub struct PendingResume {
    /// The run.
    pub run: StoredRun,
    /// Its checkpoint, checked.
    pub checkpoint: RunCheckpoint,
    /// The training file.
    pub train: Option<NamedBytes>,
    /// The validation file, when the run had one.
    pub valid: Option<NamedBytes>,
}

/// The data file a resume waits for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AwaitingData {
    /// The run's summary.
    pub run: String,
    /// Which file.
    pub role: DataRole,
    /// Its name in the run.
    pub file: String,
    /// Why the last file given was refused.
    pub refused: Option<String>,
}

/// The GPU session ended (device lost, out of memory, another uncaught device error).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GpuNotice {
    /// Why, as the browser put it.
    pub reason: String,
    /// Whether a fine-tuned model was lost with the old device.
    pub lost_model: bool,
    /// `None` while the new device is being set up; then `Ok` (a new GPU device) or
    /// `Err(why)` (training falls back to the CPU).
    pub replaced: Option<Result<(), String>>,
}

impl Studio {
    /// Empty state.
    pub fn new() -> Self {
        Self {
            step: RwSignal::new(Step::Model),
            device: RwSignal::new(DeviceState::Starting),
            device_handle: StoredValue::new_local(None),
            model: RwSignal::new(ModelState::Empty),
            checkpoint: StoredValue::new_local(None),
            causal: StoredValue::new_local(None),
            embedder: StoredValue::new_local(None),
            data: RwSignal::new(None),
            data_error: RwSignal::new(None),
            examples: StoredValue::new_local(None),
            lm_examples: StoredValue::new_local(None),
            samples: RwSignal::new(Vec::new()),
            answer_scores: RwSignal::new(Vec::new()),
            settings: RwSignal::new(SettingsForm::default()),
            run: RwSignal::new(RunView::default()),
            log: StoredValue::new_local(Vec::new()),
            log_rows: RwSignal::new(0),
            log_replaced: StoredValue::new(false),
            control: RwSignal::new(Control::Run),
            results: RwSignal::new(None),
            trained: StoredValue::new_local(None),
            trained_version: RwSignal::new(0),
            gpu_notice: RwSignal::new(None),
            train_bytes: StoredValue::new_local(None),
            valid_bytes: StoredValue::new_local(None),
            columns: RwSignal::new(Columns::default()),
            format: RwSignal::new(None),
            skip_bad_rows: RwSignal::new(false),
            data_source: RwSignal::new(String::new()),
            data_version: RwSignal::new(0),
            runs: RwSignal::new(Vec::new()),
            runs_status: RwSignal::new(None),
            storage: RwSignal::new(None),
            stored_run: StoredValue::new_local(None),
            resume_from: StoredValue::new_local(None),
            saved: RwSignal::new(None),
            pending_resume: StoredValue::new_local(None),
            awaiting_data: RwSignal::new(None),
            trained_view: RwSignal::new(None),
            estimate: RwSignal::new(None),
            data_busy: RwSignal::new(None),
            run_id: RwSignal::new(None),
        }
    }

    /// Replaces the run log (a new run, or a saved one's), so the page gets all of it.
    pub fn replace_log(&self, rows: Vec<LogRow>) {
        let len = rows.len();
        self.log.set_value(rows);
        self.log_replaced.set_value(true);
        self.log_rows.set(len);
    }

    /// Whether a run is in progress (started, not finished or failed).
    pub fn training(&self) -> bool {
        self.run.with(|r| !matches!(r.phase, RunPhase::Idle | RunPhase::Finished(_) | RunPhase::Failed(_)))
    }

    /// The device, once started.
    pub fn device(&self) -> Option<Device> {
        self.device_handle.get_value()
    }

    /// Keeps `run` as the record of the run being trained, and tells the page its id.
    pub fn set_stored_run(&self, run: Option<StoredRun>) {
        let id = run.as_ref().map(|r| r.id.clone());
        self.stored_run.set_value(run);
        if self.run_id.with_untracked(|r| r != &id) {
            self.run_id.set(id);
        }
    }

    /// Keeps `trained` as the fine-tuned model (or none) and tells the page what it is.
    pub fn set_trained(&self, trained: Option<Rc<Trained>>) {
        let view = trained.as_ref().map(|t| TrainedView {
            task: t.task,
            labels: t.labels().to_vec(),
            has_base: matches!(&t.trained, crate::session::Trained::Classifier { base: Some(_), .. }),
        });
        self.trained.set_value(trained);
        self.trained_view.set(view);
        self.trained_version.update(|v| *v += 1);
    }

    /// Whether the chosen model is generative (tracks the model step).
    pub fn generative(&self) -> bool {
        self.model.with(|m| matches!(m, ModelState::Ready(f) if f.task == TaskKind::CausalLanguageModelling))
    }
}

impl Default for Studio {
    fn default() -> Self {
        Self::new()
    }
}
