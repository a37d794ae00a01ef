//! Parity with sentence-transformers on burn's CPU backend: token ids exactly, embeddings
//! within cosine 0.9999 and 1e-4, for the tiny random BERT (F32, F16, BF16, `bert.`-prefixed)
//! and the real all-MiniLM-L6-v2.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};

use common::{Parity, assert_matches, reference};
use webtune::checkpoint::ModelFiles;
use webtune::model::SentenceEmbedder;
use webtune::platform::{cpu_device, read_model_folder};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tiny_files() -> ModelFiles {
    read_model_folder(&fixtures().join("tiny-bert")).unwrap()
}

fn tiny_parity() -> Parity {
    Parity::parse(&std::fs::read_to_string(fixtures().join("tiny-bert.parity.json")).unwrap())
}

fn embed(files: &ModelFiles, texts: &[String]) -> Vec<webtune::model::Embedding> {
    let (model, _) = SentenceEmbedder::load(files, &cpu_device(), None).unwrap();
    pollster::block_on(model.embed(texts)).unwrap()
}

#[test]
fn tiny_bert_matches_sentence_transformers() {
    let parity = tiny_parity();
    let (model, report) = SentenceEmbedder::load(&tiny_files(), &cpu_device(), None).unwrap();
    assert_eq!(report.max_length, 32, "max_seq_length comes from sentence_bert_config.json");
    assert_eq!(report.pooling, "mean");
    assert!(report.normalize);
    assert!(!report.prefixed_names);
    let got = pollster::block_on(model.embed(&parity.texts())).unwrap();
    assert_matches("tiny-bert", &got, &parity.cases, &reference(&parity.cases), 1e-4);
}

#[test]
fn batch_composition_does_not_change_embeddings() {
    // Padding to the longest member must not leak into shorter members' embeddings.
    let parity = tiny_parity();
    let (model, _) = SentenceEmbedder::load(&tiny_files(), &cpu_device(), None).unwrap();
    for (i, case) in parity.cases.iter().enumerate() {
        let alone = pollster::block_on(model.embed(std::slice::from_ref(&case.text))).unwrap();
        assert_matches("tiny-bert alone", &alone, &parity.cases[i..=i], std::slice::from_ref(&case.embedding), 1e-4);
    }
}

#[test]
fn loads_half_precision_checkpoints_upcast_to_f32() {
    let parity = tiny_parity();
    for variant in ["f16", "bf16"] {
        let bytes = std::fs::read(fixtures().join(format!("tiny-bert-{variant}/model.safetensors"))).unwrap();
        let files = tiny_files().with("model.safetensors", bytes);
        let got = embed(&files, &parity.texts());
        assert_matches(variant, &got, &parity.cases, &parity.variants[variant], 1e-4);
    }
}

#[test]
fn loads_bert_prefixed_names_of_bert_for_checkpoints() {
    let parity = tiny_parity();
    let original = std::fs::read(fixtures().join("tiny-bert/model.safetensors")).unwrap();
    let prefixed = prefix_all(&original, "bert.", &[("classifier.weight", vec![2, 32]), ("classifier.bias", vec![2])]);
    let files = tiny_files().with("model.safetensors", prefixed);
    let (model, report) = SentenceEmbedder::load(&files, &cpu_device(), None).unwrap();
    assert!(report.prefixed_names);
    assert_eq!(report.ignored_tensors, vec!["classifier.bias", "classifier.weight"]);
    let got = pollster::block_on(model.embed(&parity.texts())).unwrap();
    assert_matches("bert.-prefixed", &got, &parity.cases, &reference(&parity.cases), 1e-4);
}

#[test]
fn explicit_max_length_truncates() {
    let (model, report) = SentenceEmbedder::load(&tiny_files(), &cpu_device(), Some(5)).unwrap();
    assert_eq!(report.max_length, 5);
    let got = pollster::block_on(model.embed(&["the quick brown fox jumps over".to_string()])).unwrap();
    // [CLS] the quick brown [SEP]
    assert_eq!(got[0].ids, vec![2, 95, 96, 97, 3]);
}

#[test]
fn all_minilm_l6_v2_matches_sentence_transformers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run `cargo xtask fetch-model` (cargo xtask test does it first)",
        dir.display()
    );
    let parity = Parity::parse(&std::fs::read_to_string(fixtures().join("minilm.parity.json")).unwrap());
    let files = read_model_folder(&dir).unwrap();
    let (model, report) = SentenceEmbedder::load(&files, &cpu_device(), None).unwrap();
    assert_eq!(report.max_length, 256);
    assert_eq!(report.parameters, 22_713_216);
    let got = pollster::block_on(model.embed(&parity.texts())).unwrap();
    let (cos, diff) = assert_matches("all-MiniLM-L6-v2", &got, &parity.cases, &reference(&parity.cases), 1e-4);
    eprintln!("all-MiniLM-L6-v2 on CPU: worst cosine {cos}, worst max abs diff {diff}");
}

/// Rewrites a safetensors file with `prefix` before every name, plus extra zero tensors.
pub fn prefix_all(bytes: &[u8], prefix: &str, extra: &[(&str, Vec<usize>)]) -> Vec<u8> {
    use safetensors::{Dtype, SafeTensors, tensor::TensorView};
    let parsed = SafeTensors::deserialize(bytes).unwrap();
    let zeros: Vec<(String, Vec<usize>, Vec<u8>)> = extra
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone(), vec![0u8; s.iter().product::<usize>() * 4]))
        .collect();
    let mut views: Vec<(String, TensorView)> = parsed
        .iter()
        .map(|(n, v)| (format!("{prefix}{n}"), TensorView::new(v.dtype(), v.shape().to_vec(), v.data()).unwrap()))
        .collect();
    for (n, s, d) in &zeros {
        views.push((n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap()));
    }
    safetensors::serialize(views, None).unwrap()
}
