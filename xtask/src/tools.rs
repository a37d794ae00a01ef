//! Installing the build and test tools at pinned versions, idempotently: each is checked
//! first (`--version`) and installed only when missing or at another version.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, run};

/// Trunk, pinned. It declares a newer rust-version than it needs; it builds and works on
/// the toolchain here with `--ignore-rust-version`.
const TRUNK_VERSION: &str = "0.22.1";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The installed tools and the PATH that puts them first.
pub struct Tools {
    cargo_bin: PathBuf,
}

impl Tools {
    /// PATH with cargo's bin folder first, so Trunk finds the pinned wasm-bindgen
    /// and never tries to download one.
    pub fn path(&self) -> String {
        let old = std::env::var("PATH").unwrap_or_default();
        format!("{}:{old}", self.cargo_bin.display())
    }

    /// A `trunk` command run from the repository root, offline (Trunk.toml) with our tools.
    pub fn trunk(&self, root: &Path) -> Command {
        let mut cmd = Command::new(self.cargo_bin.join("trunk"));
        cmd.current_dir(root).env("PATH", self.path());
        cmd
    }
}

fn cargo_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
    home.join("bin")
}

/// The first line a tool prints for `--version`, if it runs.
fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string())
}

/// The exact `wasm-bindgen` version in Cargo.lock: wasm-bindgen-cli must match it.
pub fn locked_wasm_bindgen(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen entry".into())
}

/// `cargo install NAME --version =V`, with `--locked` first. When the registry no longer
/// serves a version the tool's lockfile pins, the locked install cannot resolve; the
/// install is then retried unlocked (same tool version, newest compatible dependencies).
fn cargo_install(name: &str, version: &str, extra: &[&str]) -> Result {
    let attempt = |locked: bool| {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["install", name, "--version", &format!("={version}")]);
        if locked {
            cmd.arg("--locked");
        }
        cmd.args(extra);
        run(&mut cmd)
    };
    attempt(true).or_else(|e| {
        eprintln!("xtask: locked install of {name} {version} failed ({e}); retrying without --locked");
        attempt(false)
    })
}

fn ensure_wasm_target() -> Result {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to add the {WASM_TARGET} target: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// The wasm32 target, wasm-bindgen-cli (the Cargo.lock version) and Trunk.
pub fn build_tools(root: &Path) -> Result<Tools> {
    ensure_wasm_target()?;
    let bin = cargo_bin();
    let wb = locked_wasm_bindgen(root)?;
    if version_of(&bin.join("wasm-bindgen")).as_deref() != Some(&format!("wasm-bindgen {wb}")) {
        cargo_install("wasm-bindgen-cli", &wb, &[])?;
    }
    if version_of(&bin.join("trunk")).as_deref() != Some(&format!("trunk {TRUNK_VERSION}")) {
        cargo_install("trunk", TRUNK_VERSION, &["--ignore-rust-version"])?;
    }
    Ok(Tools { cargo_bin: bin })
}

pub fn apt_install(packages: &[&str]) -> Result {
    let apt = Path::new("/usr/bin/apt-get");
    if !apt.exists() {
        return Err(format!(
            "install these with your package manager, then run again: {}",
            packages.join(" ")
        ));
    }
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let mut update = Command::new(sudo.first().copied().unwrap_or("apt-get"));
    if !sudo.is_empty() {
        update.arg("apt-get");
    }
    run(update.arg("update").arg("-qq"))?;
    let mut install = Command::new(sudo.first().copied().unwrap_or("apt-get"));
    if !sudo.is_empty() {
        install.arg("apt-get");
    }
    run(install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-qq"])
        .args(packages))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Headless Chromium and its WebDriver, for the browser tests.
pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Browser {
    /// The WebDriver capabilities: headless Chromium with WebGPU on SwiftShader (no GPU
    /// needed), and none of its background connections (the network may be closed).
    pub fn webdriver_json(&self) -> String {
        format!(
            r#"{{"goog:chromeOptions": {{"binary": "{}", "args": ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]}}}}"#,
            self.chromium.display()
        )
    }
}

impl Browser {
    /// The SwiftShader Vulkan driver's manifest that Debian's chromium ships beside the
    /// browser, if present.
    pub fn swiftshader_vulkan_icd(&self) -> Option<PathBuf> {
        let folder = std::fs::canonicalize(&self.chromium).ok()?.parent()?.to_path_buf();
        [folder.join("vk_swiftshader_icd.json"), PathBuf::from("/usr/lib/chromium/vk_swiftshader_icd.json")].into_iter().find(|p| p.exists())
    }
}

/// Chromium and chromedriver: Debian's packages where apt-get exists.
pub fn browser() -> Result<Browser> {
    let browser = Browser {
        chromium: PathBuf::from("/usr/bin/chromium"),
        chromedriver: PathBuf::from("/usr/bin/chromedriver"),
    };
    if !(browser.chromium.exists() && browser.chromedriver.exists()) {
        apt_install(&["chromium", "chromium-driver"])?;
    }
    Ok(browser)
}

/// A software Vulkan driver (Mesa's lavapipe), so the native wgpu tests have an adapter
/// on machines without a GPU. Optional: without apt-get those tests skip with a reason.
pub fn vulkan_software_driver() -> Result {
    let icd = Path::new("/usr/share/vulkan/icd.d");
    let has_lavapipe = std::fs::read_dir(icd)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd")))
        .unwrap_or(false);
    if has_lavapipe || !Path::new("/usr/bin/apt-get").exists() {
        return Ok(());
    }
    apt_install(&["mesa-vulkan-drivers"])
}
