//! Export in Hugging Face format (above training in the layers: it reads tensors of a
//! trained model and writes the run's reports beside them): `model.safetensors` with transformers' names,
//! `config.json` with the head's labels, the tokenizer files, and the run's
//! `training_args.json` and `metrics.json`. Reads tensors back asynchronously, so it runs
//! in the browser too; the result is a [`ModelFiles`] the CLI writes to a folder and the
//! browser zips.

use safetensors::{Dtype, tensor::TensorView};
use serde::Serialize;

use crate::checkpoint::{FileError, ModelFiles, classifier_config};
use crate::model::NamedTensor;

mod card;

pub use card::{CardInfo, LmCardInfo, lm_model_card, model_card};

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
    File(#[from] FileError),
}

/// `values` as safetensors stores F32: little-endian bytes (one copy on little-endian
/// targets, which every target webtune builds for is).
pub fn f32_le_bytes(values: &[f32]) -> Vec<u8> {
    if cfg!(target_endian = "little") { bytemuck::cast_slice::<f32, u8>(values).to_vec() } else { values.iter().flat_map(|v| v.to_le_bytes()).collect() }
}

/// F32 values from safetensors' little-endian bytes (`bytes.len()` a multiple of 4).
pub fn f32_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    if cfg!(target_endian = "little") {
        bytemuck::pod_collect_to_vec::<u8, f32>(&bytes[..bytes.len() / 4 * 4])
    } else {
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }
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
        let bytes = f32_le_bytes(&values);
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

/// The whole export folder of a sequence classifier.
pub async fn export_classifier(
    tensors: Vec<NamedTensor>,
    source: &ModelFiles,
    labels: &[String],
    training_args: &impl Serialize,
    metrics: &impl Serialize,
) -> Result<ModelFiles, ExportError> {
    let config = classifier_config(source.require("config.json")?, labels).map_err(|message| ExportError::Encode { file: "config.json".into(), message })?;
    bundle(tensors, config, source, training_args, metrics).await
}

/// The export folder: the weights, `config`, the source's tokenizer files, and the run's
/// reports.
async fn bundle(tensors: Vec<NamedTensor>, config: Vec<u8>, source: &ModelFiles, training_args: &impl Serialize, metrics: &impl Serialize) -> Result<ModelFiles, ExportError> {
    let json = |file: &str, value: serde_json::Result<Vec<u8>>| value.map_err(|e| ExportError::Encode { file: file.to_string(), message: e.to_string() });
    let mut out = ModelFiles::new("export");
    out.insert("model.safetensors", safetensors_bytes(tensors).await?);
    out.insert("config.json", config);
    for name in TOKENIZER_FILES {
        if let Some(bytes) = source.get(name) {
            out.insert(*name, bytes.to_vec());
        }
    }
    out.insert("training_args.json", json("training_args.json", serde_json::to_vec_pretty(training_args))?);
    out.insert("metrics.json", json("metrics.json", serde_json::to_vec_pretty(metrics))?);
    Ok(out)
}


/// The export folder of a causal language model: `model.safetensors` with its
/// transformers names (a tied `lm_head` is not stored, as transformers saves it), the
/// source's `config.json` (a language model's config has no task fields to rewrite),
/// `generation_config.json` (the source's, else one naming config.json's end-of-sequence
/// ids, as transformers derives it), the tokenizer files with `chat_template.jinja` when
/// the source has one, and the run's reports. `AutoModelForCausalLM` loads it.
pub async fn export_causal_lm(
    tensors: Vec<NamedTensor>,
    source: &ModelFiles,
    training_args: &impl Serialize,
    metrics: &impl Serialize,
) -> Result<ModelFiles, ExportError> {
    let config = source.require("config.json")?;
    let mut out = bundle(tensors, config.to_vec(), source, training_args, metrics).await?;
    if let Some(template) = source.get("chat_template.jinja") {
        out.insert("chat_template.jinja", template.to_vec());
    }
    let generation = match source.get("generation_config.json") {
        Some(bytes) => bytes.to_vec(),
        None => {
            let config: serde_json::Value = serde_json::from_slice(config).map_err(|e| ExportError::Encode { file: "generation_config.json".into(), message: e.to_string() })?;
            let mut generation = serde_json::Map::new();
            for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
                if let Some(value) = config.get(key).filter(|v| !v.is_null()) {
                    generation.insert(key.into(), value.clone());
                }
            }
            serde_json::to_vec_pretty(&generation).map_err(|e| ExportError::Encode { file: "generation_config.json".into(), message: e.to_string() })?
        }
    };
    out.insert("generation_config.json", generation);
    Ok(out)
}
