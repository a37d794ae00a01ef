//! GPU device set-up and the adapter report shown to users.

use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use serde::Serialize;

/// One limit of the GPU device next to the adapter's own maximum.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuLimit {
    /// The WebGPU name of the limit (`maxStorageBufferBindingSize`).
    pub name: &'static str,
    /// What the device that burn created got.
    pub device: u64,
    /// The most the adapter offers.
    pub adapter: u64,
}

/// The GPU in use, as plain data for the GPU panel, the CLI notice and tests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuInfo {
    /// Adapter name ("NVIDIA H200", "llvmpipe", or empty in some browsers).
    pub name: String,
    /// Graphics API: Vulkan, Metal, Dx12, BrowserWebGpu.
    pub backend: String,
    /// Discrete, integrated, virtual or CPU (a software renderer).
    pub device_type: String,
    /// Driver name and version, where the platform says.
    pub driver: String,
    /// The limits that decide which models fit.
    pub limits: Vec<GpuLimit>,
}

impl GpuInfo {
    fn from_setup(setup: &WgpuSetup) -> Self {
        let info = setup.adapter.get_info();
        let device = setup.device.limits();
        let adapter = setup.adapter.limits();
        let limit = |name, get: fn(&wgpu::Limits) -> u64| GpuLimit {
            name,
            device: get(&device),
            adapter: get(&adapter),
        };
        Self {
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            limits: vec![
                limit("maxBufferSize", |l| l.max_buffer_size),
                limit("maxStorageBufferBindingSize", |l| l.max_storage_buffer_binding_size),
                limit("maxComputeWorkgroupStorageSize", |l| l.max_compute_workgroup_storage_size as u64),
                limit("maxComputeInvocationsPerWorkgroup", |l| l.max_compute_invocations_per_workgroup as u64),
                limit("maxComputeWorkgroupsPerDimension", |l| l.max_compute_workgroups_per_dimension as u64),
                limit("maxStorageBuffersPerShaderStage", |l| l.max_storage_buffers_per_shader_stage as u64),
            ],
        }
    }

    /// Whether the device got every listed limit at the adapter's maximum, rather than
    /// the WebGPU spec defaults (128 MiB storage bindings would not hold large embedding tables).
    pub fn has_adapter_limits(&self) -> bool {
        self.limits.iter().all(|l| l.device == l.adapter)
    }

    /// The limit called `name`.
    pub fn limit(&self, name: &str) -> Option<&GpuLimit> {
        self.limits.iter().find(|l| l.name == name)
    }

    /// One line for logs: name, backend, type and the storage-binding limit.
    pub fn summary(&self) -> String {
        let binding = self
            .limit("maxStorageBufferBindingSize")
            .map(|l| format!(", max storage binding {} MiB", l.device >> 20))
            .unwrap_or_default();
        let name = if self.name.is_empty() { "unnamed adapter" } else { &self.name };
        format!("{name} ({}, {}{binding})", self.backend, self.device_type)
    }
}

/// burn's pure-Rust CPU backend (flex), on every target.
pub fn cpu_device() -> Device {
    #[cfg(target_arch = "wasm32")]
    super::run_static_constructors();
    Device::flex()
}

/// The native GPU through wgpu (Vulkan, Metal or DX12). Errors when no adapter is found.
#[cfg(not(target_arch = "wasm32"))]
pub fn native_gpu_device() -> Result<(Device, GpuInfo), String> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(|e| format!("{e}"))?;
    Ok((device, GpuInfo::from_setup(&setup)))
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static WEBGPU: std::cell::RefCell<Option<(Device, GpuInfo)>> = const { std::cell::RefCell::new(None) };
}

/// The browser's WebGPU device, created once per page and shared afterwards (a second
/// creation in the same page fails in cubecl).
#[cfg(target_arch = "wasm32")]
pub async fn webgpu_device() -> Result<(Device, GpuInfo), String> {
    super::run_static_constructors();
    if let Some(found) = WEBGPU.with(|cell| cell.borrow().clone()) {
        return Ok(found);
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| format!("{e}"))?;
    let pair = (device, GpuInfo::from_setup(&setup));
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(pair.clone()));
    Ok(pair)
}
