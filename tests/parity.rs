//! Parity with sentence-transformers on burn's CPU backend: token ids exactly, embeddings
//! within cosine 0.9999 and 1e-4, for the tiny random BERT (F32, F16, BF16, `bert.`-prefixed)
//! and the real all-MiniLM-L6-v2.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};

use common::{FamilyParity, Parity, assert_matches, assert_probabilities, reference, softmax_rows};
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
    let (model, _) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &cpu_device(), None).unwrap();
    pollster::block_on(model.embed(texts)).unwrap()
}

#[test]
fn tiny_bert_matches_sentence_transformers() {
    let parity = tiny_parity();
    let (model, report) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(tiny_files()).unwrap(), &cpu_device(), None).unwrap();
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
    let (model, _) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(tiny_files()).unwrap(), &cpu_device(), None).unwrap();
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
    let (model, report) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &cpu_device(), None).unwrap();
    assert!(report.prefixed_names);
    // The pooler belongs to BERT's classification head; sentence embeddings never use it.
    assert_eq!(report.ignored_tensors, vec!["classifier.bias", "classifier.weight", "bert.pooler.dense.bias", "bert.pooler.dense.weight"]);
    let got = pollster::block_on(model.embed(&parity.texts())).unwrap();
    assert_matches("bert.-prefixed", &got, &parity.cases, &reference(&parity.cases), 1e-4);
}

#[test]
fn explicit_max_length_truncates() {
    let (model, report) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(tiny_files()).unwrap(), &cpu_device(), Some(5)).unwrap();
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
    let (model, report) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &cpu_device(), None).unwrap();
    assert_eq!(report.max_length, 256);
    // BertModel less its pooler (147,840 parameters that sentence embeddings never use;
    // sentence-transformers counts them: 22,713,216).
    assert_eq!(report.parameters, 22_565_376);
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

// ---- The other encoder families (tiny random checkpoints, `families.parity.json`) ----

fn family_parity() -> FamilyParity {
    FamilyParity::parse(&std::fs::read_to_string(fixtures().join("families.parity.json")).unwrap())
}

fn classify(model: &webtune::model::SequenceClassifier, tokenizer: &webtune::checkpoint::TextTokenizer, texts: &[String], labels: usize) -> Vec<Vec<f32>> {
    let inputs: Vec<webtune::checkpoint::TextInput> = texts.iter().map(|t| webtune::checkpoint::TextInput::single(t.clone())).collect();
    let batch = tokenizer.encode_batch(&inputs).unwrap();
    let logits: Vec<f32> = model.forward_batch(&batch, &cpu_device()).into_data().try_into_vec().unwrap();
    softmax_rows(logits, labels)
}

/// DistilBERT, ModernBERT (rotary, local attention, GeGLU, mean pooling), RoBERTa and
/// XLM-RoBERTa (WordPiece, byte-level BPE, Unigram/Metaspace tokenizers): token ids exactly as transformers' tokenizer, mean-pooled encoder states at
/// cosine ≥ 0.9999, and the family's sequence-classification head's probabilities within
/// 1e-4, one text at a time and as one padded batch.
#[test]
fn every_encoder_family_matches_transformers() {
    let parity = family_parity();
    assert_eq!(parity.models.len(), 4);
    for (name, reference) in &parity.models {
        let files = read_model_folder(&fixtures().join(name)).unwrap();
        let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();

        let (embedder, report) = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap(), &cpu_device(), Some(parity.max_length)).unwrap();
        assert_eq!(report.model_type, reference.model_type, "{name}");
        assert_eq!((report.pooling.as_str(), report.normalize), ("mean", false), "{name}: a plain checkpoint pools by mean, unnormalised");
        assert!(report.prefixed_names, "{name}: a …ForSequenceClassification checkpoint");
        let embedded = pollster::block_on(embedder.embed(&texts)).unwrap();
        let worst_cos = reference.cases.iter().zip(&embedded).map(|(c, e)| common::cosine(&e.vector, &c.mean_pooled)).fold(1.0f64, f64::min);
        let worst_diff = reference.cases.iter().zip(&embedded).map(|(c, e)| common::max_abs_diff(&e.vector, &c.mean_pooled)).fold(0.0f32, f32::max);
        for (case, got) in reference.cases.iter().zip(&embedded) {
            assert_eq!(got.ids, case.ids, "{name}: token ids of {:?}", case.text);
            let cos = common::cosine(&got.vector, &case.mean_pooled);
            assert!(cos >= 0.9999, "{name}: mean-pooled state of {:?} at cosine {cos}", case.text);
            let diff = common::max_abs_diff(&got.vector, &case.mean_pooled);
            assert!(diff < 1e-4, "{name}: mean-pooled state of {:?} differs by {diff}", case.text);
        }

        let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
        let (classifier, report) = webtune::model::SequenceClassifier::load(&checkpoint, &cpu_device(), None, 0).unwrap();
        assert_eq!(report.labels, vec!["neg", "neu", "pos"], "{name}");
        assert!(report.newly_initialized.is_empty(), "{name}: {:?}", report.newly_initialized);
        let tokenizer = checkpoint.tokenizer(parity.max_length).unwrap();
        let one_by_one: Vec<Vec<f32>> = texts.iter().map(|t| classify(&classifier, &tokenizer, std::slice::from_ref(t), 3).remove(0)).collect();
        let want: Vec<Vec<f32>> = reference.cases.iter().map(|c| c.probabilities.clone()).collect();
        assert_probabilities(&format!("{name} one by one"), &one_by_one, &want);
        assert_probabilities(&format!("{name} batched"), &classify(&classifier, &tokenizer, &texts, 3), &reference.batched_probabilities);
        let worst_p = one_by_one.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("{name} on the CPU: ids exact; mean pooling worst cosine {worst_cos}, max abs diff {worst_diff:.2e}; probabilities max diff {worst_p:.2e}");
    }
}

/// Load → export → load gives the same probabilities exactly, in the family's own layout:
/// the transformers class name, the encoder prefix and the head's tensor names.
#[test]
fn every_family_round_trips_through_export() {
    let parity = family_parity();
    let heads = [
        ("tiny-bert-cls", "BertForSequenceClassification", vec!["bert.pooler.dense.weight", "classifier.weight"]),
        ("tiny-distilbert-cls", "DistilBertForSequenceClassification", vec!["pre_classifier.weight", "classifier.weight"]),
        ("tiny-modernbert-cls", "ModernBertForSequenceClassification", vec!["head.dense.weight", "head.norm.bias", "classifier.weight"]),
        ("tiny-roberta-cls", "RobertaForSequenceClassification", vec!["classifier.dense.weight", "classifier.out_proj.weight"]),
        ("tiny-xlm-roberta-cls", "XLMRobertaForSequenceClassification", vec!["classifier.dense.weight", "classifier.out_proj.weight"]),
    ];
    let texts: Vec<String> = parity.models.values().next().unwrap().cases.iter().map(|c| c.text.clone()).collect();
    for (name, class, head_tensors) in heads {
        let files = read_model_folder(&fixtures().join(name)).unwrap();
        let checkpoint = webtune::checkpoint::Checkpoint::from_files(files.clone()).unwrap();
        let (model, report) = webtune::model::SequenceClassifier::load(&checkpoint, &cpu_device(), None, 0).unwrap();
        let tokenizer = checkpoint.tokenizer(32).unwrap();
        let before = classify(&model, &tokenizer, &texts, 3);
        let named: usize = model.named_tensors().iter().map(|t| t.shape.iter().product::<usize>()).sum();
        assert_eq!(named, burn::module::Module::num_params(&model), "{name}: every parameter has a checkpoint name");
        let export = pollster::block_on(webtune::export::export_classifier(model.named_tensors(), &files, &report.labels, &serde_json::json!({}), &serde_json::json!({}))).unwrap();
        let config_json: serde_json::Value = serde_json::from_slice(export.get("config.json").unwrap()).unwrap();
        assert_eq!(config_json["architectures"], serde_json::json!([class]), "{name}");
        let stored = webtune::checkpoint::Weights::from_bytes("model.safetensors", export.get("model.safetensors").unwrap().to_vec().into()).unwrap();
        let original = webtune::checkpoint::Weights::from_bytes("model.safetensors", files.get("model.safetensors").unwrap().to_vec().into()).unwrap();
        let exported_names: Vec<&str> = stored.names().collect();
        let original_names: Vec<&str> = original.names().filter(|n| !n.ends_with("position_ids")).collect();
        assert_eq!(exported_names, original_names, "{name}: the export holds the checkpoint's tensors under the same names");
        let raw = safetensors::SafeTensors::deserialize(export.get("model.safetensors").unwrap()).unwrap();
        for tensor in head_tensors {
            assert!(raw.names().iter().any(|n| *n == tensor), "{name}: export lacks {tensor}");
        }
        let checkpoint = webtune::checkpoint::Checkpoint::from_files(export.clone()).unwrap();
        let (reloaded, again) = webtune::model::SequenceClassifier::load(&checkpoint, &cpu_device(), None, 0).unwrap();
        assert_eq!(again.labels, report.labels);
        assert!(again.newly_initialized.is_empty() && again.ignored_tensors.is_empty(), "{name}: {:?}", again.ignored_tensors);
        assert_eq!(classify(&reloaded, &tokenizer, &texts, 3), before, "{name}: probabilities after the round trip");
    }
}
