//! A run's checkpoint: everything that continues it exactly, as files that the CLI writes
//! to a `checkpoint-N/` folder and the studio to the browser's storage, so that a run
//! started in one can be finished in the other.
//!
//! The files:
//! - the export of the weights as they are at the step (`model.safetensors`, `config.json`,
//!   the tokenizer files, `training_args.json`, for a generative model also
//!   `generation_config.json` and `chat_template.jinja`): a Hugging Face folder that
//!   transformers loads, and the model a resumed run is built from, so resuming needs only
//!   the checkpoint and the data;
//! - [`OPTIMIZER_FILE`]: AdamW's moments, `{parameter}.exp_avg` / `.exp_avg_sq` (F32, flat,
//!   in webtune's layout: a linear weight's moments are `[d_in, d_out]` flattened);
//! - [`BEST_FILE`]: the best evaluation's weights, as `model.safetensors` stores them, when
//!   a validation set picked one — losing the device never loses the best model;
//! - [`STATE_FILE`], written last: the trainer's progress (step, epoch, position in the
//!   epoch's data order, AdamW's step count, early stopping's count, the best evaluation),
//!   the settings, the run log, the SHA-256 of the data files and the base model's files,
//!   and the size and SHA-256 of every other file of the checkpoint, which [`RunCheckpoint`]
//!   checks before anything is used: a file cut off by a crash mid-write, or changed, is
//!   refused with its name.
//!
//! What is not stored is derived: the data order from the seed and the epoch, dropout from
//! the seed and the step (see [`crate::train::Trainer::restore`]).

use std::collections::HashMap;

use burn::tensor::Tensor;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Host, Plan, Sample, ScoredAnswers, SessionError, Sources};
use crate::checkpoint::ModelFiles;
use crate::data::LmLayout;
use crate::export::ExportError;
use crate::train::{LogRow, TrainConfig};

/// The trainer's state and the list of the checkpoint's files (written last).
pub const STATE_FILE: &str = "trainer_state.json";
/// AdamW's moments.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The best evaluation's weights.
pub const BEST_FILE: &str = "best.safetensors";
/// [`RunState::format`].
const FORMAT: &str = "webtune run checkpoint";
/// The checkpoint format this webtune writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// A file's name, size and SHA-256: how a checkpoint recognises its own files and the
/// data and model a run was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The file's name (a data file's name as the user gave it; a checkpoint file's path
    /// inside the checkpoint).
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// Bytes hashed between two breaths of the host (a few milliseconds of work).
const HASH_SLICE: usize = 4 << 20;

impl Fingerprint {
    /// The fingerprint of `bytes`, named `file`.
    pub fn of(file: impl Into<String>, bytes: &[u8]) -> Self {
        Self::from_digest(file, bytes.len(), Sha256::digest(bytes))
    }

    /// [`Fingerprint::of`] a slice at a time, letting `host` breathe between slices (a
    /// model's weights take seconds to hash in a browser).
    pub async fn of_sliced(file: impl Into<String>, bytes: &[u8], host: &impl Host) -> Self {
        let mut hasher = Sha256::new();
        for slice in bytes.chunks(HASH_SLICE) {
            hasher.update(slice);
            if bytes.len() > HASH_SLICE {
                host.breathe().await;
            }
        }
        Self::from_digest(file, bytes.len(), hasher.finalize())
    }

    fn from_digest(file: impl Into<String>, bytes: usize, digest: impl AsRef<[u8]>) -> Self {
        let sha256 = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Self { file: file.into(), bytes: bytes as u64, sha256 }
    }

    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> &str {
        &self.sha256[..self.sha256.len().min(12)]
    }
}

/// What a run was given, by fingerprint: a resumed run must be given the same data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprints {
    /// The training file.
    pub train: Option<Fingerprint>,
    /// The validation file, when one was given.
    pub valid: Option<Fingerprint>,
    /// The test file, when one was given.
    pub test: Option<Fingerprint>,
    /// The base model's weights, config and tokenizer (filled in by the first checkpoint).
    #[serde(default)]
    pub model: Vec<Fingerprint>,
}

/// Which data file a fingerprint is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataRole {
    /// The training file.
    Train,
    /// The validation file.
    Valid,
    /// The test file.
    Test,
}

impl DataRole {
    /// In messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "training",
            Self::Valid => "validation",
            Self::Test => "test",
        }
    }

    fn of(self, f: &Fingerprints) -> Option<&Fingerprint> {
        match self {
            Self::Train => f.train.as_ref(),
            Self::Valid => f.valid.as_ref(),
            Self::Test => f.test.as_ref(),
        }
    }
}

/// What a run was asked to do, as a checkpoint keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// Every setting (with the max length in use).
    pub settings: TrainConfig,
    /// The max length asked for, if one was.
    pub max_length: Option<usize>,
    /// The share held out for validation when there was no validation file.
    pub valid_split: f64,
    /// Language modelling: packing, what is learnt, scored answers.
    pub lm: super::LmOptions,
}

/// [`STATE_FILE`]: a run's progress and what it was given.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    /// Always "webtune run checkpoint".
    pub format: String,
    /// [`CHECKPOINT_VERSION`] of the webtune that wrote it.
    pub version: u32,
    /// The webtune version that wrote it.
    pub webtune_version: String,
    /// `training_args.json`'s task.
    pub task: String,
    /// Optimizer steps done.
    pub step: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// When it was written, in milliseconds since 1970 (UTC).
    pub saved_at_ms: u64,
    /// The settings.
    pub plan: PlanRecord,
    /// Where the model and the data came from, with their fingerprints.
    pub sources: Sources,
    /// A generative model's data layout (chats, pairs, text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LmLayout>,
    /// The trainer's progress ([`crate::train::TrainerState`] of the run's task).
    pub trainer: serde_json::Value,
    /// The run log so far.
    pub log: Vec<LogRow>,
    /// Seconds spent in steps and evaluations so far.
    pub seconds: f64,
    /// A generative model's replies to the fixed validation prompts so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// A generative model's scored validation answers so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scored: Vec<ScoredAnswers>,
    /// Every other file of the checkpoint, with its size and SHA-256.
    pub files: Vec<Fingerprint>,
}

impl RunState {
    /// The plan to prepare the resumed run with.
    pub fn plan(&self) -> Plan {
        Plan {
            settings: self.plan.settings.clone(),
            max_length: self.plan.max_length,
            valid_split: self.plan.valid_split,
            // The "before" model of a resumed run would be the checkpoint, not the base.
            keep_base: false,
            lm: self.plan.lm,
        }
    }
}

/// Why a checkpoint cannot be resumed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResumeError {
    /// No state file.
    #[error("{place} is not a webtune checkpoint: it has no {STATE_FILE}; point at a checkpoint folder (checkpoint-N) or at the output folder that holds them")]
    NotACheckpoint {
        /// The checkpoint's folder or name.
        place: String,
    },
    /// The state file is unreadable.
    #[error("{place}/{STATE_FILE} cannot be read ({message}): the checkpoint is damaged, perhaps cut off while it was written; resume from an earlier checkpoint")]
    State {
        /// The checkpoint.
        place: String,
        /// The parser's message.
        message: String,
    },
    /// Another format version.
    #[error("{place} is in webtune's checkpoint format {found}, and this webtune reads format {CHECKPOINT_VERSION}; {advice}")]
    Version {
        /// The checkpoint.
        place: String,
        /// Its version.
        found: u32,
        /// What to do.
        advice: &'static str,
    },
    /// A listed file is absent.
    #[error("{place}/{file} is missing: the checkpoint is incomplete; resume from an earlier checkpoint")]
    MissingFile {
        /// The checkpoint.
        place: String,
        /// The file.
        file: String,
    },
    /// A listed file is shorter or longer than recorded.
    #[error("{place}/{file} has {found} bytes where the checkpoint recorded {expected}: it was cut off or changed after it was written; resume from an earlier checkpoint")]
    Truncated {
        /// The checkpoint.
        place: String,
        /// The file.
        file: String,
        /// Bytes present.
        found: u64,
        /// Bytes recorded.
        expected: u64,
    },
    /// A listed file's content changed.
    #[error("{place}/{file} is not the file the checkpoint recorded (SHA-256 {found}… instead of {expected}…): it was damaged or changed; resume from an earlier checkpoint")]
    Corrupt {
        /// The checkpoint.
        place: String,
        /// The file.
        file: String,
        /// The SHA-256 found (12 digits).
        found: String,
        /// The SHA-256 recorded (12 digits).
        expected: String,
    },
    /// A data file differs from the run's.
    #[error("{given} is not the {role} file this run was trained on: its SHA-256 is {found}…, and the run's {role} file ({expected_file}, {expected_bytes} bytes) had {expected}…; give that file again, or start a new run")]
    DataChanged {
        /// Which file.
        role: &'static str,
        /// The name of the file given.
        given: String,
        /// Its SHA-256 (12 digits).
        found: String,
        /// The run's file name.
        expected_file: String,
        /// Its size.
        expected_bytes: u64,
        /// Its SHA-256 (12 digits).
        expected: String,
    },
    /// A data file the run had was not given.
    #[error("this run was trained with a {role} file ({file}); give it again to resume")]
    DataMissing {
        /// Which file.
        role: &'static str,
        /// The run's file name.
        file: String,
    },
    /// A data file the run did not have was given.
    #[error("this run had no {role} file, and {given} was given; resume without it")]
    DataExtra {
        /// Which file.
        role: &'static str,
        /// The file given.
        given: String,
    },
}

/// A checkpoint read back and checked: every file it lists is present, whole and
/// unchanged.
#[derive(Clone, Debug)]
pub struct RunCheckpoint {
    state: RunState,
    files: ModelFiles,
}

impl RunCheckpoint {
    /// Reads [`STATE_FILE`] from `files` and checks every file it lists against its
    /// recorded size and SHA-256 (letting `host` breathe while hashing).
    pub async fn read(files: ModelFiles, host: &impl Host) -> Result<Self, ResumeError> {
        let place = files.source().to_string();
        let state = Self::read_state(&files)?;
        for f in &state.files {
            let Some(bytes) = files.get(&f.file) else { return Err(ResumeError::MissingFile { place, file: f.file.clone() }) };
            if bytes.len() as u64 != f.bytes {
                return Err(ResumeError::Truncated { place, file: f.file.clone(), found: bytes.len() as u64, expected: f.bytes });
            }
            let found = Fingerprint::of_sliced(&f.file, bytes, host).await;
            if found.sha256 != f.sha256 {
                return Err(ResumeError::Corrupt { place, file: f.file.clone(), found: found.short().to_string(), expected: f.short().to_string() });
            }
        }
        Ok(Self { state, files })
    }

    /// Reads and checks [`STATE_FILE`] alone (for listing runs without reading the weights).
    pub fn read_state(files: &ModelFiles) -> Result<RunState, ResumeError> {
        let place = files.source().to_string();
        let bytes = files.get(STATE_FILE).ok_or_else(|| ResumeError::NotACheckpoint { place: place.clone() })?;
        RunState::parse(bytes, &place)
    }

    /// The files a state file lists (none when it cannot be read: [`Self::read`]
    /// then says why), so that a reader can fetch exactly those.
    pub fn listed_files(state: &[u8]) -> Vec<String> {
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default)]
            files: Vec<Fingerprint>,
        }
        serde_json::from_slice::<Listed>(state).map(|l| l.files.into_iter().map(|f| f.file).collect()).unwrap_or_default()
    }

    /// Every file of the checkpoint (for a download that `--resume` continues).
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// Where the checkpoint was read from (a folder, a stored run's name).
    pub fn place(&self) -> &str {
        self.files.source()
    }

    /// The run's state.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The weights at the checkpoint's step with their config and tokenizer: the model a
    /// resumed run is built from.
    pub fn model_files(&self) -> ModelFiles {
        let mut model = ModelFiles::new(self.files.source());
        for name in self.files.names().filter(|n| ![STATE_FILE, OPTIMIZER_FILE, BEST_FILE].contains(n)) {
            model.insert(name, self.files.get(name).unwrap_or_default().to_vec());
        }
        model
    }

    /// The model files with the best evaluation's weights, when the run has a best.
    pub fn best_files(&self) -> Option<ModelFiles> {
        let best = self.files.get(BEST_FILE)?;
        Some(self.model_files().with("model.safetensors", best.to_vec()))
    }

    /// The optimizer moments by name.
    pub(super) fn moments(&self) -> Result<HashMap<String, Vec<f32>>, SessionError> {
        let bytes = self.files.get(OPTIMIZER_FILE).unwrap_or_default();
        let bad = |message: String| SessionError::Mismatch(format!("{}/{OPTIMIZER_FILE}: {message}; resume from an earlier checkpoint", self.files.source()));
        if bytes.is_empty() {
            return Ok(HashMap::new());
        }
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let mut out = HashMap::new();
        for (name, view) in tensors.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("{name} is {:?}, not F32", view.dtype())));
            }
            out.insert(name, crate::export::f32_from_le_bytes(view.data()));
        }
        Ok(out)
    }

    /// Checks that `given` (the fingerprint of the file given for `role`, if one was) is
    /// the run's file.
    pub fn check_data(&self, role: DataRole, given: Option<&Fingerprint>) -> Result<(), ResumeError> {
        match (role.of(&self.state.sources.fingerprints), given) {
            (None, None) => Ok(()),
            (Some(run), None) => Err(ResumeError::DataMissing { role: role.name(), file: run.file.clone() }),
            (None, Some(given)) => Err(ResumeError::DataExtra { role: role.name(), given: given.file.clone() }),
            (Some(run), Some(given)) if run.sha256 == given.sha256 => Ok(()),
            (Some(run), Some(given)) => Err(ResumeError::DataChanged {
                role: role.name(),
                given: given.file.clone(),
                found: given.short().to_string(),
                expected_file: run.file.clone(),
                expected_bytes: run.bytes,
                expected: run.short().to_string(),
            }),
        }
    }
}

impl RunState {
    /// Parses a [`STATE_FILE`] of `place`, refusing other formats and versions.
    pub fn parse(bytes: &[u8], place: &str) -> Result<Self, ResumeError> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        let head: Head = serde_json::from_slice(bytes).map_err(|e| ResumeError::State { place: place.to_string(), message: e.to_string() })?;
        if head.format.as_deref() != Some(FORMAT) {
            return Err(ResumeError::NotACheckpoint { place: place.to_string() });
        }
        match head.version {
            Some(CHECKPOINT_VERSION) => {}
            Some(found) if found > CHECKPOINT_VERSION => {
                return Err(ResumeError::Version { place: place.to_string(), found, advice: "it was written by a newer webtune: update webtune to resume it" });
            }
            found => {
                return Err(ResumeError::Version {
                    place: place.to_string(),
                    found: found.unwrap_or(0),
                    advice: "it was written by an older webtune whose checkpoints this one cannot continue; its weights still load as a model (start a new run from them)",
                });
            }
        }
        serde_json::from_slice(bytes).map_err(|e| ResumeError::State { place: place.to_string(), message: e.to_string() })
    }
}

/// The task-specific parts of a checkpoint, assembled by [`assemble`].
pub(super) struct Parts {
    /// The export of the weights now.
    pub export: ModelFiles,
    /// The trainer's state, as JSON.
    pub trainer: serde_json::Value,
    /// AdamW's moments by name.
    pub moments: Vec<(String, Tensor<1>)>,
    /// The best evaluation's weights as `model.safetensors` stores them.
    pub best: Option<Vec<u8>>,
}

/// The checkpoint files from a session's `parts` and its run-level state.
pub(super) async fn assemble(parts: Parts, mut state: RunState, host: &impl Host) -> Result<ModelFiles, SessionError> {
    let mut files = parts.export;
    files.remove("metrics.json");
    files.insert(OPTIMIZER_FILE, moments_file(parts.moments).await?);
    if let Some(best) = parts.best {
        files.insert(BEST_FILE, best);
    }
    state.trainer = parts.trainer;
    for name in files.names() {
        state.files.push(Fingerprint::of_sliced(name, files.get(name).unwrap_or_default(), host).await);
    }
    let json = serde_json::to_vec_pretty(&state).map_err(|e| ExportError::Encode { file: STATE_FILE.into(), message: e.to_string() })?;
    files.insert(STATE_FILE, json);
    Ok(files)
}

/// A new [`RunState`] with the fields every task fills the same way (the trainer's state
/// and the file list are set by [`assemble`]).
pub(super) fn run_state(task: &str, step: usize, total_steps: usize, plan: &Plan, sources: &Sources, log: &[LogRow], seconds: f64) -> RunState {
    let saved_at_ms = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    RunState {
        format: FORMAT.into(),
        version: CHECKPOINT_VERSION,
        webtune_version: env!("CARGO_PKG_VERSION").into(),
        task: task.into(),
        step,
        total_steps,
        saved_at_ms,
        plan: PlanRecord { settings: plan.settings.clone(), max_length: plan.max_length, valid_split: plan.valid_split, lm: plan.lm },
        sources: sources.clone(),
        layout: None,
        trainer: serde_json::Value::Null,
        log: log.to_vec(),
        seconds,
        samples: Vec::new(),
        scored: Vec::new(),
        files: Vec::new(),
    }
}

/// AdamW's moments as F32 safetensors, read back from the device in one transfer.
async fn moments_file(moments: Vec<(String, Tensor<1>)>) -> Result<Vec<u8>, SessionError> {
    let readback = |message: String| SessionError::Export(ExportError::Readback { name: OPTIMIZER_FILE.into(), message });
    let sizes: Vec<usize> = moments.iter().map(|(_, t)| t.dims()[0]).collect();
    let values: Vec<f32> = if moments.is_empty() {
        Vec::new()
    } else {
        let all = Tensor::cat(moments.iter().map(|(_, t)| t.clone()).collect(), 0);
        all.into_data_async().await.map_err(|e| readback(format!("{e:?}")))?.try_into_vec().map_err(|e| readback(format!("{e:?}")))?
    };
    let bytes = crate::export::f32_le_bytes(&values);
    let mut views = Vec::with_capacity(moments.len());
    let mut offset = 0;
    for ((name, _), size) in moments.iter().zip(sizes) {
        let view = TensorView::new(Dtype::F32, vec![size], &bytes[offset * 4..(offset + size) * 4])
            .map_err(|e| ExportError::Encode { file: OPTIMIZER_FILE.into(), message: format!("{name}: {e}") })?;
        views.push((name.clone(), view));
        offset += size;
    }
    Ok(safetensors::serialize(views, None).map_err(|e| ExportError::Encode { file: OPTIMIZER_FILE.into(), message: e.to_string() })?)
}
