//! `--device cpu|gpu`.

use burn::tensor::Device;
use clap::ValueEnum;

use crate::platform::{cpu_device, native_gpu_device};

/// Where tensors live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// burn's CPU backend (flex).
    Cpu,
    /// The GPU through wgpu (Vulkan, Metal, DX12); falls back to the CPU when there is none.
    Gpu,
}

/// The device for `choice`. A missing GPU is not fatal: a one-line notice goes to stderr
/// and the CPU backend is used.
pub fn pick_device(choice: DeviceChoice) -> Device {
    match choice {
        DeviceChoice::Cpu => cpu_device(),
        DeviceChoice::Gpu => match native_gpu_device() {
            Ok((device, info)) => {
                eprintln!("webtune: GPU {}", info.summary());
                device
            }
            Err(reason) => {
                eprintln!("webtune: no GPU adapter found ({reason}); using the CPU backend");
                cpu_device()
            }
        },
    }
}
