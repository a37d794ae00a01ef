//! Export in Hugging Face format: `model.safetensors` with transformers' names,
//! `config.json` with the head's labels, the tokenizer files, and the run's
//! `training_args.json` and `metrics.json`. Reads tensors back asynchronously, so it runs
//! in the browser too; the result is a [`ModelFiles`] the CLI writes to a folder and the
//! browser zips.

use safetensors::{Dtype, tensor::TensorView};
use serde::Serialize;

use super::ModelFiles;
use crate::model::NamedTensor;

/// Files carried over unchanged from the source model so that `AutoTokenizer` loads the export.
/// (`vocab.txt` for WordPiece, `vocab.json` + `merges.txt` for byte-level BPE,
/// `sentencepiece.bpe.model` for XLM-RoBERTa's slow tokenizer.)
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
];

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading a tensor back from the device failed.
    #[error("reading tensor `{name}` from the device failed: {message}")]
    Readback {
        /// The tensor.
        name: String,
        /// The backend's message.
        message: String,
    },
    /// A tensor came back from the device as an unexpected type: a bug, not a device failure.
    #[error("tensor `{name}` came back from the device with an unexpected type: {message} (a webtune bug; please report it)")]
    Conversion {
        /// The tensor.
        name: String,
        /// What was wrong.
        message: String,
    },
    /// A file could not be encoded.
    #[error("writing {file} failed: {message}")]
    Encode {
        /// The file.
        file: String,
        /// What failed.
        message: String,
    },
    /// The source config.json is unusable.
    #[error(transparent)]
    File(#[from] super::FileError),
}

/// Reads `tensors` from the device (async) and serialises them as F32 safetensors.
pub async fn safetensors_bytes(tensors: Vec<NamedTensor>) -> Result<Vec<u8>, ExportError> {
    let mut stored: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for t in tensors {
        let data = t.tensor.into_data_async().await.map_err(|e| ExportError::Readback {
            name: t.name.clone(),
            message: format!("{e:?}"),
        })?;
        let values: Vec<f32> = data.try_into_vec().map_err(|e| ExportError::Conversion {
            name: t.name.clone(),
            message: format!("{e:?}"),
        })?;
        let values = if t.transpose {
            // burn [d_in, d_out] → PyTorch [d_out, d_in]
            let (d_out, d_in) = (t.shape[0], t.shape[1]);
            let mut out = vec![0f32; values.len()];
            for i in 0..d_in {
                for o in 0..d_out {
                    out[o * d_in + i] = values[i * d_out + o];
                }
            }
            out
        } else {
            values
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        stored.push((t.name, t.shape, bytes));
    }
    let views: Vec<(String, TensorView)> = stored
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| ExportError::Encode {
                    file: "model.safetensors".into(),
                    message: format!("{name}: {e}"),
                })
        })
        .collect::<Result<_, _>>()?;
    // transformers expects the PyTorch format marker in the metadata.
    let metadata = Some(std::collections::HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize(views, metadata).map_err(|e| ExportError::Encode {
        file: "model.safetensors".into(),
        message: e.to_string(),
    })
}

/// `config.json` of the source with the classification head's architecture (the family's
/// `…ForSequenceClassification`) and labels.
pub fn classifier_config(source_config: &[u8], labels: &[String]) -> Result<Vec<u8>, ExportError> {
    let encode_err = |e: serde_json::Error| ExportError::Encode {
        file: "config.json".into(),
        message: e.to_string(),
    };
    let family = super::ModelConfig::from_json(source_config)
        .map_err(|e| ExportError::Encode { file: "config.json".into(), message: e.to_string() })?
        .family();
    let mut config: serde_json::Value = serde_json::from_slice(source_config).map_err(encode_err)?;
    let object = config.as_object_mut().ok_or_else(|| ExportError::Encode {
        file: "config.json".into(),
        message: "the source config.json is not a JSON object".into(),
    })?;
    object.insert("architectures".into(), serde_json::json!([family.classifier_class()]));
    object.insert(
        "id2label".into(),
        labels.iter().enumerate().map(|(i, l)| (i.to_string(), serde_json::json!(l))).collect::<serde_json::Map<_, _>>().into(),
    );
    object.insert(
        "label2id".into(),
        labels.iter().enumerate().map(|(i, l)| (l.clone(), serde_json::json!(i))).collect::<serde_json::Map<_, _>>().into(),
    );
    object.insert("problem_type".into(), serde_json::json!("single_label_classification"));
    object.remove("num_labels");
    serde_json::to_vec_pretty(&config).map_err(encode_err)
}

/// The whole export folder of a sequence classifier.
pub async fn export_classifier(
    tensors: Vec<NamedTensor>,
    source: &ModelFiles,
    labels: &[String],
    training_args: &impl Serialize,
    metrics: &impl Serialize,
) -> Result<ModelFiles, ExportError> {
    let json = |file: &str, value: serde_json::Result<Vec<u8>>| {
        value.map_err(|e| ExportError::Encode {
            file: file.to_string(),
            message: e.to_string(),
        })
    };
    let mut out = ModelFiles::new("export");
    out.insert("model.safetensors", safetensors_bytes(tensors).await?);
    out.insert("config.json", classifier_config(source.require("config.json")?, labels)?);
    for name in TOKENIZER_FILES {
        if let Some(bytes) = source.get(name) {
            out.insert(*name, bytes.to_vec());
        }
    }
    out.insert("training_args.json", json("training_args.json", serde_json::to_vec_pretty(training_args))?);
    out.insert("metrics.json", json("metrics.json", serde_json::to_vec_pretty(metrics))?);
    Ok(out)
}

/// `files` as a .zip holding one folder named `folder` (what the browser downloads).
/// Weights are stored uncompressed (float weights barely compress and would cost seconds);
/// JSON and text are deflated.
pub fn zip_files(files: &ModelFiles, folder: &str) -> Result<Vec<u8>, ExportError> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    let fail = |e: &dyn std::fmt::Display| ExportError::Encode { file: format!("{folder}.zip"), message: e.to_string() };
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(files.total_bytes() + 4096)));
    for name in files.names() {
        let bytes = files.get(name).unwrap_or_default();
        let method = if name.ends_with(".safetensors") { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let options = SimpleFileOptions::default().compression_method(method).large_file(bytes.len() >= u32::MAX as usize);
        writer.start_file(format!("{folder}/{name}"), options).map_err(|e| fail(&e))?;
        writer.write_all(bytes).map_err(|e| fail(&e))?;
    }
    Ok(writer.finish().map_err(|e| fail(&e))?.into_inner())
}

#[cfg(test)]
mod zip_tests {
    use super::*;

    #[test]
    fn zip_holds_every_file_in_one_folder() {
        let files = ModelFiles::new("export").with("config.json", b"{\"a\": 1}".to_vec()).with("model.safetensors", vec![7u8; 1000]);
        let bytes = zip_files(&files, "my-model").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, vec!["my-model/config.json", "my-model/model.safetensors"]);
        let mut config = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("my-model/config.json").unwrap(), &mut config).unwrap();
        assert_eq!(config, "{\"a\": 1}");
        assert_eq!(archive.by_name("my-model/model.safetensors").unwrap().compression(), zip::CompressionMethod::Stored);
    }
}
