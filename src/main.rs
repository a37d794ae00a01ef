//! wasm32: mount the web app. Native: run the command-line tool.

#[cfg(target_arch = "wasm32")]
fn main() {
    // Static constructors (cubecl registers its IR dialects through `inventory`) run
    // here, once. Without this explicit call wasm-ld links the module "command-style"
    // and runs every constructor again at the start of every export call, and
    // wasm-bindgen's glue calls exports (malloc, externref slots) for nearly every
    // WebGPU call: that was about half of the page's main-thread time while training.
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the first thing the module runs, before anything reads a registry; the
    // linker synthesises this function for exactly this purpose.
    unsafe { __wasm_call_ctors() };
    webtune::app::mount();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    webtune::cli::run()
}
