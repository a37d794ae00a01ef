//! The few things that differ between the browser and native: GPU device set-up and
//! reading model files.

mod gpu;
pub mod gpu_work;
#[cfg(not(target_arch = "wasm32"))]
mod folder;
#[cfg(target_arch = "wasm32")]
mod stored;
#[cfg(target_arch = "wasm32")]
mod web;

pub use gpu::{GpuInfo, GpuLimit, cpu_device, gpu_error_summary};
#[cfg(not(target_arch = "wasm32"))]
pub use gpu::native_gpu_device;
#[cfg(target_arch = "wasm32")]
pub use gpu::{DEFAULT_TASKS_PER_SUBMIT, on_webgpu_failure, set_webgpu_tasks_per_submit, webgpu_device, webgpu_failed, webgpu_failure};
#[cfg(not(target_arch = "wasm32"))]
pub use folder::{FolderError, checkpoint_folders, open_data_file, read_model_folder, read_named_files, write_checkpoint_folder, write_model_folder};
#[cfg(target_arch = "wasm32")]
pub use stored::{StorageUse, StoredFolder, request_persistence, storage_root, storage_use};
#[cfg(target_arch = "wasm32")]
pub use web::{
    MODEL_CACHE, clear_model_cache, download, dropped_entries, dropped_files, fetch_bytes, fetch_cached, fetch_model_files, read_file, run_static_constructors,
    sleep_ms, stored_bytes, yield_to_browser,
};
