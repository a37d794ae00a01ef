//! Bad model input: each problem gets its own message naming the file, tensor or setting.

#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use webtune::checkpoint::ModelFiles;
use webtune::model::{ModelError, SentenceEmbedder};
use webtune::platform::{cpu_device, read_model_folder};

fn tiny() -> ModelFiles {
    read_model_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert")).unwrap()
}

fn load_error(files: &ModelFiles) -> String {
    match webtune::checkpoint::Checkpoint::from_files(files.clone()).map_err(ModelError::from).and_then(|c| SentenceEmbedder::load(&c, &cpu_device(), None)) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => e.to_string(),
    }
}

fn safetensors(files: &ModelFiles) -> Vec<u8> {
    files.get("model.safetensors").unwrap().to_vec()
}

/// Rewrites the tiny checkpoint through `edit` on its (name, shape, f32 values) list.
fn rewrite(files: &ModelFiles, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    use safetensors::{Dtype, SafeTensors, tensor::TensorView};
    let bytes = safetensors(files);
    let parsed = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
        parsed.iter().map(|(n, v)| (n.to_string(), v.shape().to_vec(), v.data().to_vec())).collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn rejects_truncated_safetensors() {
    let files = tiny();
    let mut bytes = safetensors(&files);
    bytes.truncate(bytes.len() / 2);
    let message = load_error(&files.with("model.safetensors", bytes));
    assert!(message.starts_with("model.safetensors cannot be read: it is truncated or not a safetensors file ("), "{message}");
    assert!(message.contains("Download it again"), "{message}");
}

#[test]
fn rejects_garbage_instead_of_safetensors() {
    let message = load_error(&tiny().with("model.safetensors", b"<html>404 Not Found</html>".to_vec()));
    assert!(message.starts_with("model.safetensors cannot be read: "), "{message}");
}

#[test]
fn names_a_missing_tensor() {
    let files = tiny();
    let bytes = rewrite(&files, |t| t.retain(|(n, _, _)| n != "encoder.layer.1.attention.self.key.weight"));
    assert_eq!(
        load_error(&files.with("model.safetensors", bytes)),
        "model.safetensors has no tensor `encoder.layer.1.attention.self.key.weight`, which config.json's architecture needs; do config.json and model.safetensors come from the same checkpoint?"
    );
}

#[test]
fn names_a_tensor_of_the_wrong_shape() {
    let files = tiny();
    let bytes = rewrite(&files, |t| {
        let entry = t.iter_mut().find(|(n, _, _)| n == "encoder.layer.0.intermediate.dense.bias").unwrap();
        entry.1 = vec![32];
        entry.2.truncate(32 * 4);
    });
    assert_eq!(
        load_error(&files.with("model.safetensors", bytes)),
        "tensor `encoder.layer.0.intermediate.dense.bias` in model.safetensors has shape [32], but config.json implies [64]; do config.json and model.safetensors come from the same checkpoint?"
    );
}

#[test]
fn names_unexpected_tensors() {
    let files = tiny();
    let bytes = rewrite(&files, |t| {
        let extra = t.iter().find(|(n, _, _)| n == "encoder.layer.1.output.dense.bias").unwrap().clone();
        t.push(("encoder.layer.2.output.dense.bias".into(), extra.1, extra.2));
    });
    assert_eq!(
        load_error(&files.with("model.safetensors", bytes)),
        "model.safetensors has 1 tensor(s) that a BertModel with this config.json does not have: `encoder.layer.2.output.dense.bias`; does config.json match the weights (num_hidden_layers, architecture)?"
    );
}

#[test]
fn rejects_another_model_type() {
    let config = br#"{"model_type": "mistral", "vocab_size": 32000}"#;
    assert_eq!(
        load_error(&tiny().with("config.json", config.to_vec())),
        "config.json has model_type \"mistral\"; webtune supports: bert, distilbert, modernbert, roberta, xlm-roberta. Pick a checkpoint of a supported architecture (for example sentence-transformers/all-MiniLM-L6-v2)"
    );
    let config = br#"{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768}"#;
    assert_eq!(
        load_error(&tiny().with("config.json", config.to_vec())),
        "config.json has model_type \"gpt2\", a generative model; classification and embeddings need an encoder (bert, distilbert, modernbert, roberta, xlm-roberta). Continue text with it with `webtune generate`"
    );
}

#[test]
fn rejects_invalid_json_with_its_position() {
    let config = b"{\n  \"model_type\": \"bert\",\n  \"hidden_size\": 32,,\n}";
    assert_eq!(
        load_error(&tiny().with("config.json", config.to_vec())),
        "config.json is not a valid model configuration: key must be a string (line 3, column 21)"
    );
}

#[test]
fn rejects_heads_that_do_not_divide_the_width() {
    let files = tiny();
    let mut config: serde_json::Value = serde_json::from_slice(files.get("config.json").unwrap()).unwrap();
    config["num_attention_heads"] = 5.into();
    let message = load_error(&files.with("config.json", serde_json::to_vec(&config).unwrap()));
    assert_eq!(
        message,
        "config.json: num_attention_heads = 5 is impossible: it must divide hidden_size (32) into equal heads"
    );
}

#[test]
fn names_a_missing_file() {
    let mut files = ModelFiles::new("my-model");
    for name in ["config.json", "tokenizer.json"] {
        files.insert(name, tiny().get(name).unwrap().to_vec());
    }
    assert_eq!(
        load_error(&files),
        "my-model: `model.safetensors` is missing; a Hugging Face model folder needs config.json, model.safetensors and tokenizer.json (it has: config.json, tokenizer.json)"
    );
}

#[test]
fn rejects_a_max_length_beyond_the_position_table() {
    let err = SentenceEmbedder::load(&webtune::checkpoint::Checkpoint::from_files(tiny()).unwrap(), &cpu_device(), Some(65)).unwrap_err();
    assert!(matches!(err, ModelError::MaxLength { requested: 65, available: 64 }));
    assert_eq!(
        err.to_string(),
        "max length 65 is impossible: the model has 64 position embeddings (max_position_embeddings in config.json); choose 64 or less"
    );
}

#[test]
fn rejects_a_corrupt_tokenizer() {
    let message = load_error(&tiny().with("tokenizer.json", b"{\"version\": \"1.0\"}".to_vec()));
    assert!(message.starts_with("tokenizer.json cannot be read: "), "{message}");
}
