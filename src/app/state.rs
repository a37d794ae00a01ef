//! Page state shared through a context: plain reports in signals; the model itself in
//! local (non-Send) storage, never in the UI's hands.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{LoadReport, SentenceEmbedder};
use crate::platform::{GpuInfo, cpu_device, fetch_model_files, webgpu_device};

/// Where the bundled model is served, relative to the page (works under any sub-path).
pub const DEFAULT_MODEL_URL: &str = "models/all-MiniLM-L6-v2/";

/// What the page is doing.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Asking the browser for a WebGPU device.
    StartingGpu,
    /// Downloading model files: the last file received and bytes so far.
    Downloading { file: String, bytes: usize },
    /// Building the model on the device.
    Loading,
    /// Ready to embed.
    Ready,
    /// Something failed; the message says what and what to do.
    Failed(String),
}

impl Phase {
    /// The status line's words.
    pub fn describe(&self) -> String {
        match self {
            Phase::StartingGpu => "Starting the GPU…".into(),
            Phase::Downloading { file, bytes } => {
                format!("Downloading the model: {file} ({:.1} MB so far)…", *bytes as f64 / 1e6)
            }
            Phase::Loading => "Loading the model onto the device…".into(),
            Phase::Ready => "Ready.".into(),
            Phase::Failed(message) => message.clone(),
        }
    }
}

/// The page's shared state.
#[derive(Clone, Copy)]
pub struct Studio {
    /// What the page is doing.
    pub phase: RwSignal<Phase>,
    /// The GPU in use; `None` while starting or on the CPU fallback.
    pub gpu: RwSignal<Option<GpuInfo>>,
    /// Why WebGPU is unavailable, when the CPU fallback is in use.
    pub gpu_missing: RwSignal<Option<String>>,
    /// What loading the model found.
    pub model: RwSignal<Option<LoadReport>>,
    /// The loaded model (not Send: kept in local storage).
    pub embedder: StoredValue<Option<Rc<SentenceEmbedder>>, LocalStorage>,
}

impl Studio {
    /// Empty state.
    pub fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::StartingGpu),
            gpu: RwSignal::new(None),
            gpu_missing: RwSignal::new(None),
            model: RwSignal::new(None),
            embedder: StoredValue::new_local(None),
        }
    }

    /// Starts the GPU and loads the bundled model in the background.
    pub fn start(self) {
        spawn_local(async move {
            let device = match webgpu_device().await {
                Ok((device, info)) => {
                    web_sys::console::log_1(&format!("webtune: WebGPU {}", info.summary()).into());
                    self.gpu.set(Some(info));
                    device
                }
                Err(reason) => {
                    web_sys::console::warn_1(&format!("webtune: no WebGPU ({reason})").into());
                    self.gpu_missing.set(Some(reason));
                    cpu_device()
                }
            };
            let mut received = 0usize;
            let files = fetch_model_files(DEFAULT_MODEL_URL, |file, len| {
                received += len;
                self.phase.set(Phase::Downloading {
                    file: file.to_string(),
                    bytes: received,
                });
            })
            .await;
            let files = match files {
                Ok(files) => files,
                Err(e) => return self.phase.set(Phase::Failed(format!("{e}. Is the site built with `cargo xtask serve`, which fetches the model?"))),
            };
            self.phase.set(Phase::Loading);
            // Let the status line paint before the synchronous parse and upload.
            crate::platform::yield_to_browser().await;
            match SentenceEmbedder::load(&files, &device, None) {
                Ok((embedder, report)) => {
                    self.model.set(Some(report));
                    self.embedder.set_value(Some(Rc::new(embedder)));
                    self.phase.set(Phase::Ready);
                }
                Err(e) => self.phase.set(Phase::Failed(format!("The model could not be loaded: {e}"))),
            }
        });
    }
}
