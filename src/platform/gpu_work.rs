//! Counting the GPU work a step issues (issue 13's speed harness): kernel launches
//! (dispatches) and compute pipelines compiled, on every cubecl backend (wgpu natively and
//! WebGPU in the browser). Used by `webtune bench` and the browser benchmark; off otherwise.
//!
//! - Dispatches: a cubecl launch observer, called on the thread that issues each kernel
//!   before it reaches the server. It costs one relaxed atomic load per launch when nothing
//!   is installed, which is every ordinary run.
//! - Pipelines: cubecl's compilation logger writes one "[Compiling kernel] NAME" line per
//!   pipeline the server compiles (a cache hit writes none); it is routed to the `log`
//!   facade and counted here. The lines are written by cubecl's logging task, a moment
//!   after the compilation: `settle` waits for them.
//!
//! Counting pipelines needs cubecl's configuration set before anything reads it (the first
//! device created): `start` returns false when that moment has passed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
use cubecl_runtime::logging::{LaunchObservation, LaunchObserver};

static DISPATCHES: AtomicU64 = AtomicU64::new(0);
static PIPELINES: AtomicU64 = AtomicU64::new(0);
static STARTED: OnceLock<bool> = OnceLock::new();

fn by_kernel() -> &'static Mutex<HashMap<&'static str, u64>> {
    static KERNELS: OnceLock<Mutex<HashMap<&'static str, u64>>> = OnceLock::new();
    KERNELS.get_or_init(Default::default)
}

/// Totals since `start`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuWork {
    /// Kernel launches issued.
    pub dispatches: u64,
    /// Compute pipelines compiled (shader compilations; cache hits not counted).
    pub pipelines: u64,
    /// Launches per kernel (its name shortened to the type, without generic arguments).
    pub kernels: HashMap<String, u64>,
}

impl GpuWork {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &GpuWork) -> GpuWork {
        let kernels = self
            .kernels
            .iter()
            .map(|(k, n)| (k.clone(), n - earlier.kernels.get(k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        GpuWork { dispatches: self.dispatches - earlier.dispatches, pipelines: self.pipelines - earlier.pipelines, kernels }
    }

    /// The `n` kernels launched most, most first (ties by name).
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self.kernels.iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

struct Counter;

impl LaunchObserver for Counter {
    fn launched(&self, kernel: &'static str) {
        DISPATCHES.fetch_add(1, Ordering::Relaxed);
        *by_kernel().lock().unwrap_or_else(|e| e.into_inner()).entry(kernel).or_default() += 1;
    }
}

struct CompileLog;

impl log::Log for CompileLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "cubecl::compilation"
    }

    fn log(&self, record: &log::Record) {
        if record.target() == "cubecl::compilation" && record.args().to_string().starts_with("[Compiling kernel]") {
            PIPELINES.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

/// Starts counting, for the rest of the process. Returns whether pipelines are counted
/// too (false when cubecl's configuration was already read, or another `log` logger is
/// installed); dispatches always are. Idempotent.
pub fn start() -> bool {
    *STARTED.get_or_init(|| {
        std::mem::forget(LaunchObservation::new(Arc::new(Counter)));
        // cubecl's defaults, plus its compilation logger at "basic" (names only) into `log`.
        let config: Option<CubeClRuntimeConfig> = serde_json::from_value(serde_json::json!({"compilation": {"logger": {"level": "basic", "log": "info"}}})).ok();
        let configured = config.is_some_and(CubeClRuntimeConfig::try_set);
        let logging = log::set_logger(&CompileLog).is_ok();
        if logging {
            log::set_max_level(log::LevelFilter::Info);
        }
        configured && logging
    })
}

/// Totals so far (zeros before `start`).
pub fn snapshot() -> GpuWork {
    let kernels = by_kernel()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, n)| (short_name(k), *n))
        .fold(HashMap::new(), |mut acc: HashMap<String, u64>, (k, n)| {
            *acc.entry(k).or_default() += n;
            acc
        });
    GpuWork { dispatches: DISPATCHES.load(Ordering::Relaxed), pipelines: PIPELINES.load(Ordering::Relaxed), kernels }
}

/// Waits (natively) until cubecl's logging task has written the compilations of the work
/// already done: until the pipeline count has not moved for 100 ms (at most 2 s).
#[cfg(not(target_arch = "wasm32"))]
pub fn settle() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut last = PIPELINES.load(Ordering::Relaxed);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = PIPELINES.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

/// Runs `future` and measures the time spent polling it: the calling thread's own work
/// for it (in the browser, the wasm and the WebGPU calls it makes to record and submit the
/// step), without the time spent waiting for the GPU or a readback. In a browser this is
/// what a step costs the thread that drives it, whatever the GPU's speed. Natively a
/// blocking readback waits inside a poll, so there it is the step's wall time.
pub async fn busy<F: std::future::Future>(future: F) -> (F::Output, std::time::Duration) {
    let mut future = std::pin::pin!(future);
    let mut spent = std::time::Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = web_time::Instant::now();
        let poll = future.as_mut().poll(cx);
        spent += started.elapsed();
        poll
    })
    .await;
    (output, spent)
}

/// `burn_cubecl::kernel::binary::kernel_scalar_binop<f32, …>` → `kernel_scalar_binop`.
fn short_name(name: &str) -> String {
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shortened_to_the_kernel_and_differences_drop_idle_kernels() {
        assert_eq!(short_name("burn_cubecl::kernel::binary::kernel_scalar_binop<f32, Add>"), "kernel_scalar_binop");
        assert_eq!(short_name("matmul"), "matmul");
        let a = GpuWork { dispatches: 10, pipelines: 2, kernels: [("add".to_string(), 6), ("mul".to_string(), 4)].into() };
        let b = GpuWork { dispatches: 15, pipelines: 3, kernels: [("add".to_string(), 11), ("mul".to_string(), 4)].into() };
        let d = b.since(&a);
        assert_eq!((d.dispatches, d.pipelines), (5, 1));
        assert_eq!(d.top(5), vec![("add".to_string(), 5)]);
    }

    /// Time waiting between polls (here a thread that wakes the future after 200 ms) is not
    /// counted; the work inside a poll (a 30 ms busy loop) is.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn busy_counts_the_polls_not_the_waits() {
        use std::sync::atomic::AtomicBool;
        let ready = Arc::new(AtomicBool::new(false));
        let mut waiting = false;
        let mut worked = false;
        let waits_then_works = std::future::poll_fn(move |cx| {
            if !ready.load(Ordering::Acquire) {
                if !waiting {
                    waiting = true;
                    let (waker, ready) = (cx.waker().clone(), ready.clone());
                    std::thread::spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        ready.store(true, Ordering::Release);
                        waker.wake();
                    });
                }
                return std::task::Poll::Pending;
            }
            if !worked {
                worked = true;
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(30) {
                    std::hint::spin_loop();
                }
            }
            std::task::Poll::Ready(7)
        });
        let wall = std::time::Instant::now();
        let (out, spent) = pollster::block_on(busy(waits_then_works));
        assert_eq!(out, 7);
        assert!(wall.elapsed() >= std::time::Duration::from_millis(200));
        assert!(spent >= std::time::Duration::from_millis(30) && spent < std::time::Duration::from_millis(150), "{spent:?}");
    }
}
