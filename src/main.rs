//! wasm32: mount the web app. Native: run the command-line tool.

#[cfg(target_arch = "wasm32")]
fn main() {
    webtune::platform::run_static_constructors();
    webtune::app::mount();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    webtune::cli::run()
}
