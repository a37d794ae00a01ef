//! wasm32: mount the web app (on the page), or wait to be started as its training worker.
//! Native: run the command-line tool.

#[cfg(target_arch = "wasm32")]
fn main() {
    webtune::platform::run_static_constructors();
    // The same module runs in the page and in its worker; a worker has no window, and
    // `www/worker.js` calls `webtune_worker` once the module is loaded.
    if web_sys::window().is_some() {
        webtune::app::mount();
    }
}

/// The training worker's entry point (called by `www/worker.js`).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn webtune_worker() {
    webtune::app::start_worker();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    webtune::cli::run()
}
