//! GPU device set-up and the adapter report shown to users.

use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use serde::{Deserialize, Serialize};

/// One limit of the GPU device next to the adapter's own maximum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuLimit {
    /// The WebGPU name of the limit (`maxStorageBufferBindingSize`).
    pub name: String,
    /// What the device that burn created got.
    pub device: u64,
    /// The most the adapter offers.
    pub adapter: u64,
}

/// The GPU in use, as plain data for the GPU panel, the CLI notice and tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
        let limit = |name: &str, get: fn(&wgpu::Limits) -> u64| GpuLimit {
            name: name.to_string(),
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

/// The page's WebGPU session: the burn device, what the panel shows, the wgpu device
/// (to end it), and why it failed, once it has.
#[cfg(target_arch = "wasm32")]
struct WebGpuSession {
    id: u32,
    device: Device,
    info: GpuInfo,
    wgpu: wgpu::Device,
    instance: wgpu::Instance,
    failure: Option<String>,
}

/// What the page wants told when a session ends.
#[cfg(target_arch = "wasm32")]
type FailureCallback = std::rc::Rc<dyn Fn(String)>;

/// Kernel launches recorded into one command buffer before it is submitted (cubecl's
/// `tasks_max`; its default is 32). Each submit is a call into the browser's GPU process.
#[cfg(target_arch = "wasm32")]
pub const DEFAULT_TASKS_PER_SUBMIT: usize = 32;

/// Sets the launches per submit of the WebGPU sessions set up from now on (for
/// benchmarks: `bench_bundled_model_steps_on_webgpu` compares values).
#[cfg(target_arch = "wasm32")]
pub fn set_webgpu_tasks_per_submit(tasks: usize) {
    TASKS_PER_SUBMIT.with(|t| t.set(tasks.max(1)));
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static TASKS_PER_SUBMIT: std::cell::Cell<usize> = const { std::cell::Cell::new(DEFAULT_TASKS_PER_SUBMIT) };
    static WEBGPU: std::cell::RefCell<Option<WebGpuSession>> = const { std::cell::RefCell::new(None) };
    static ON_FAILURE: std::cell::RefCell<Option<FailureCallback>> = const { std::cell::RefCell::new(None) };
    /// The devices of sessions that ended and were replaced (a read on one can still fail
    /// after its replacement is ready).
    static ENDED: std::cell::RefCell<Vec<Device>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The browser's WebGPU device, created on first use and shared afterwards. Once it has
/// failed (see [`webgpu_failed`]) the next call sets up a new one — a new adapter and
/// device registered as a new burn device — so the page goes on without a reload.
#[cfg(target_arch = "wasm32")]
pub async fn webgpu_device() -> Result<(Device, GpuInfo), String> {
    super::run_static_constructors();
    let current = WEBGPU.with(|cell| {
        cell.borrow().as_ref().map(|s| (s.failure.is_none().then(|| (s.device.clone(), s.info.clone())), s.instance.clone()))
    });
    let tasks = TASKS_PER_SUBMIT.with(std::cell::Cell::get);
    let (device, setup) = match current {
        Some((Some(working), _)) => return Ok(working),
        // The first device: burn's own set-up (cubecl picks features and limits).
        None => Device::wgpu_options().tasks_max(tasks).init_with_setup_async().await.map_err(|e| format!("{e}"))?,
        // After a failure: a new adapter (a WebGPU adapter gives one device only) and a
        // device asked for as cubecl asks, registered under a new identity.
        Some((None, instance)) => {
            let setup = new_webgpu_setup(instance).await?;
            let device = Device::wgpu_options().setup(setup.clone()).tasks_max(tasks).init().map_err(|e| format!("{e}"))?;
            (device, setup)
        }
    };
    if let Some(old) = WEBGPU.with(|cell| cell.borrow().as_ref().map(|s| s.device.clone())) {
        ENDED.with(|ended| ended.borrow_mut().push(old));
    }
    // Replaces cubecl's handler, which panics, and a panic ends a wasm page. An error
    // the page did not catch (out of memory above all) ends this GPU session instead:
    // destroying the device makes every later read fail with an error, not garbage.
    let id = WEBGPU.with(|cell| cell.borrow().as_ref().map_or(1, |s| s.id + 1));
    setup.device.on_uncaptured_error(std::sync::Arc::new(move |error: wgpu::Error| end_session(id, &error.to_string())));
    let info = GpuInfo::from_setup(&setup);
    WEBGPU.with(|cell| {
        *cell.borrow_mut() =
            Some(WebGpuSession { id, device: device.clone(), info: info.clone(), wgpu: setup.device.clone(), instance: setup.instance.clone(), failure: None })
    });
    Ok((device, info))
}

#[cfg(target_arch = "wasm32")]
async fn new_webgpu_setup(instance: wgpu::Instance) -> Result<WgpuSetup, String> {
    let options = wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    let adapter = instance.request_adapter(&options).await.map_err(|e| format!("no WebGPU adapter for a new device: {e}"))?;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("webtune"),
            required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::MemoryUsage,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("the new WebGPU device was refused: {e}"))?;
    Ok(WgpuSetup { instance, adapter, device, queue, backend: wgpu::Backend::BrowserWebGpu })
}

/// Ends the WebGPU session that `device` belongs to because of `reason` (a read from
/// the device failed, say): the device is destroyed, every later read on it fails, and
/// the next [`webgpu_device`] call sets up a new one. Returns whether `device` is a
/// WebGPU session's: the current one (ended now, or before: the first reason is kept)
/// or one already replaced (nothing to do then); false for others, such as the CPU.
#[cfg(target_arch = "wasm32")]
pub fn webgpu_failed(device: &Device, reason: &str) -> bool {
    let id = WEBGPU.with(|cell| cell.borrow().as_ref().filter(|s| s.device == *device).map(|s| s.id));
    if let Some(id) = id {
        end_session(id, reason);
    }
    id.is_some() || ENDED.with(|ended| ended.borrow().contains(device))
}

/// Calls `notify` with the reason whenever a WebGPU session ends (the page uses it to
/// say so and set up the next one). Replaces an earlier callback.
#[cfg(target_arch = "wasm32")]
pub fn on_webgpu_failure(notify: impl Fn(String) + 'static) {
    ON_FAILURE.with(|cell| *cell.borrow_mut() = Some(std::rc::Rc::new(notify)));
}

/// The part of a wgpu/cubecl error worth showing a person: the innermost cause, on one
/// line, without the backtrace note. "The device is poisoned Caused by: … Caused by:
/// Unknown: A valid external Instance reference no longer exists. Backtrace: No backtrace
/// available" becomes "A valid external Instance reference no longer exists".
pub fn gpu_error_summary(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let inner = flat.rsplit("Caused by:").next().unwrap_or(&flat);
    let inner = inner.split("Backtrace:").next().unwrap_or(inner).trim();
    let inner = inner.strip_prefix("Unknown:").unwrap_or(inner).trim().trim_end_matches('.');
    if inner.is_empty() { flat } else { inner.to_string() }
}

#[cfg(target_arch = "wasm32")]
fn end_session(id: u32, reason: &str) {
    let reason = gpu_error_summary(reason);
    let wgpu = WEBGPU.with(|cell| {
        let mut cell = cell.borrow_mut();
        let session = cell.as_mut().filter(|s| s.id == id && s.failure.is_none())?;
        session.failure = Some(reason.clone());
        Some(session.wgpu.clone())
    });
    let Some(device) = wgpu else { return };
    web_sys::console::error_1(&format!("webtune: the GPU session ended: {reason}").into());
    device.destroy();
    if let Some(notify) = ON_FAILURE.with(|cell| cell.borrow().clone()) {
        notify(reason);
    }
}

/// Why the current WebGPU session ended, if it has.
#[cfg(target_arch = "wasm32")]
pub fn webgpu_failure() -> Option<String> {
    WEBGPU.with(|cell| cell.borrow().as_ref().and_then(|s| s.failure.clone()))
}

#[cfg(test)]
mod tests {
    use super::gpu_error_summary;

    #[test]
    fn error_summary_keeps_the_innermost_cause() {
        assert_eq!(
            gpu_error_summary(
                "The device is poisoned\nCaused by:\n  The device is poisoned\nCaused by:\n  Unknown: A valid external Instance reference no longer exists.\nBacktrace:\nNo backtrace available"
            ),
            "A valid external Instance reference no longer exists"
        );
        assert_eq!(gpu_error_summary("Validation Error\n\nCaused by:\n  In Queue::write_buffer\n    Buffer with '' label is invalid\n"), "In Queue::write_buffer Buffer with '' label is invalid");
        assert_eq!(gpu_error_summary("Out of Memory"), "Out of Memory");
        assert_eq!(gpu_error_summary("the test   ended\n this session"), "the test ended this session");
        assert_eq!(gpu_error_summary("Caused by:"), "Caused by:");
    }
}
