//! webtune: fine-tune small pretrained language models privately, in a browser tab on
//! WebGPU or natively, from one async core.
//!
//! Data flows one way: bytes ([`checkpoint::ModelFiles`]) → parsed config, tensors and
//! tokenizer → model ([`model`]) → plain reports for the UI ([`app`], wasm32) and the CLI
//! ([`cli`], native).

pub mod checkpoint;
pub mod data;
pub mod model;
pub mod platform;
pub mod rng;
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
