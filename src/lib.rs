//! webtune: fine-tune small pretrained language models privately, in a browser tab on
//! WebGPU or natively, from one async core.
//!
//! The layers, each importing only those above it in this list:
//! - [`checkpoint`]: bytes and file formats (config.json per family, safetensors,
//!   tokenizer.json), parsed once into a [`checkpoint::Checkpoint`]; and [`data`]: data
//!   files, their reports and tokenised sets;
//! - [`model`]: the architectures (one file per family) built from a checkpoint;
//! - [`train`]: the task-agnostic trainer and its tasks, metrics and optimizer;
//! - [`export`]: the Hugging Face export and the model card;
//! - [`session`]: one training run from data to export bundle, driven by both front ends;
//! - [`studio`]: the studio's logic (settings form, fit check, charts), compiled everywhere;
//! - [`platform`] at the edge (GPU set-up, folders, fetch), and the drivers: [`app`]
//!   (the Leptos page, wasm32) and [`cli`] (native). They hold plain reports, never tensors.

pub mod checkpoint;
pub mod data;
pub mod export;
pub mod model;
pub mod platform;
pub mod rng;
pub mod session;
pub mod studio;
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
