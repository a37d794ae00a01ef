//! `webtune embed` end to end: JSON lines in input order, with the reference ids and
//! embeddings, and clear errors for bad input.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Parity, cosine};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn webtune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).output().unwrap()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webtune-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn embed_prints_one_json_line_per_input_line_in_order() {
    let parity = Parity::parse(&std::fs::read_to_string(fixtures().join("tiny-bert.parity.json")).unwrap());
    // The long text and the empty one are kept; a Windows line ending is not part of a text.
    let texts: Vec<&str> = parity.cases.iter().map(|c| c.text.as_str()).collect();
    let input = temp_file("inputs.txt", texts.join("\r\n").as_bytes());
    let model = fixtures().join("tiny-bert");
    let out = webtune(&["embed", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--device", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), parity.cases.len());
    for (line, case) in lines.iter().zip(&parity.cases) {
        assert_eq!(line["text"], case.text);
        let ids: Vec<u32> = serde_json::from_value(line["ids"].clone()).unwrap();
        assert_eq!(ids, case.ids, "ids of {:?}", case.text);
        let embedding: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
        assert!(cosine(&embedding, &case.embedding) >= 0.9999, "embedding of {:?}", case.text);
    }
}

#[test]
fn embed_max_length_flag_truncates() {
    let input = temp_file("one.txt", b"the quick brown fox jumps over the lazy dog\n");
    let model = fixtures().join("tiny-bert");
    let out = webtune(&["embed", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--device", "cpu", "--max-length", "4"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["ids"], serde_json::json!([2, 95, 96, 3]));
}

#[test]
fn embed_reports_invalid_utf8_with_line_and_offset() {
    let input = temp_file("latin1.txt", b"first line\ncaf\xe9 au lait\n");
    let model = fixtures().join("tiny-bert");
    let out = webtune(&["embed", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--device", "cpu"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("latin1.txt:2: invalid UTF-8 at byte offset 14; save the file as UTF-8"),
        "{stderr}"
    );
}

#[test]
fn embed_reports_a_folder_that_is_not_a_model() {
    let input = temp_file("x.txt", b"x\n");
    let out = webtune(&["embed", "--model", "/nonexistent/model", "--input", input.to_str().unwrap(), "--device", "cpu"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: /nonexistent/model is not a model folder (it does not exist or is not a directory)"
    );
}

#[test]
fn gpu_request_without_adapter_falls_back_with_one_notice() {
    // With no Vulkan driver and no EGL vendor visible, wgpu finds no adapter; --device gpu
    // must still work, on the CPU, saying so once.
    let input = temp_file("fallback.txt", b"a\n");
    let model = fixtures().join("tiny-bert");
    let out = Command::new(env!("CARGO_BIN_EXE_webtune"))
        .args(["embed", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap()])
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent.json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notices: Vec<&str> = stderr.lines().filter(|l| l.starts_with("webtune: ")).collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(
        notices[0].starts_with("webtune: no GPU adapter found (") && notices[0].ends_with("); using the CPU backend"),
        "{stderr}"
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["ids"], serde_json::json!([2, 5, 3]));
}
