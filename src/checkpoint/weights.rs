//! `model.safetensors` read by tensor name, upcast to f32, with every tensor accounted for.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use safetensors::{Dtype, SafeTensorError, SafeTensors};

/// The prefixes transformers' task models (`BertFor*`, `RobertaFor*`, `DistilBertFor*`) put
/// before the encoder's tensor names: the attribute that holds the encoder.
const ENCODER_PREFIXES: &[&str] = &["bert.", "roberta.", "distilbert.", "model."];

/// Checkpoint tensors that are not weights of the encoder and may be left unused:
/// buffers that transformers saves, poolers the task does not use, and heads of other
/// tasks (masked-LM `cls.`, `lm_head.`, `vocab_*`; question answering; classification
/// heads that a new label set replaces).
const IGNORABLE: &[&str] = &[
    "embeddings.position_ids",
    "embeddings.token_type_ids",
    "pooler.",
    "cls.",
    "lm_head.",
    "vocab_transform.",
    "vocab_layer_norm.",
    "vocab_projector.",
    "classifier.",
    "pre_classifier.",
    "qa_outputs.",
    "head.",
    "decoder.",
];

/// Ends of names of buffers that transformers saves in some checkpoints and that are not
/// weights: GPT-2's causal mask (`h.N.attn.bias`, `h.N.attn.masked_bias`) and older LLaMA
/// checkpoints' rotary frequencies.
const IGNORABLE_SUFFIXES: &[&str] = &[".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq"];

/// What is wrong with a weights file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WeightError {
    /// The file cannot be parsed as safetensors.
    #[error("{file} cannot be read: {reason}")]
    Unreadable {
        /// The file name.
        file: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("{file} has no tensor `{name}`, which config.json's architecture needs; do config.json and {file} come from the same checkpoint?")]
    Missing {
        /// The file name.
        file: String,
        /// The tensor's name (without any `bert.` prefix).
        name: String,
    },
    /// A tensor has a shape that does not fit the configuration.
    #[error("tensor `{name}` in {file} has shape {found:?}, but config.json implies {expected:?}; do config.json and {file} come from the same checkpoint?")]
    Shape {
        /// The file name.
        file: String,
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// The shape the configuration implies.
        expected: Vec<usize>,
    },
    /// A tensor is stored in a dtype webtune does not read.
    #[error("tensor `{name}` in {file} is stored as {dtype}; webtune reads F32, F16 and BF16 weights (convert the checkpoint with `model.float()` in PyTorch)")]
    Dtype {
        /// The file name.
        file: String,
        /// The tensor's name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// Tensors are present that the architecture does not have.
    #[error("{file} has {count} tensor(s) that a {architecture} with this config.json does not have: {names}; does config.json match the weights (num_hidden_layers, architecture)?")]
    Unexpected {
        /// The file name.
        file: String,
        /// The architecture being loaded.
        architecture: String,
        /// How many.
        count: usize,
        /// The first few names, comma-separated.
        names: String,
    },
    /// The same tensor appears with and without a task model's prefix (`bert.`, `roberta.`, …).
    #[error("{file} holds both `{first}` and `{second}`, the same tensor with and without a task model's prefix; keep one")]
    Duplicate {
        /// The file name.
        file: String,
        /// One stored name.
        first: String,
        /// The other stored name.
        second: String,
    },
}

struct Entry {
    /// The name as stored in the file.
    stored_name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Range<usize>,
}

/// The tensors of one safetensors file, keyed by canonical name: without the task model's
/// encoder prefix (`bert.`, `roberta.`, `distilbert.`),
/// and with the legacy `LayerNorm.gamma`/`beta` spelled `LayerNorm.weight`/`bias` as
/// transformers renames them on load. Values are converted to f32 when taken.
pub struct Weights {
    file: String,
    bytes: Arc<[u8]>,
    entries: BTreeMap<String, Entry>,
    taken: BTreeSet<String>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("file", &self.file)
            .field("tensors", &self.entries.len())
            .finish()
    }
}

impl Weights {
    /// Parses the safetensors header of `bytes` (named `file` in messages). No tensor is
    /// converted yet; a truncated or corrupt file is an error here, never a panic.
    pub fn from_bytes(file: &str, bytes: Arc<[u8]>) -> Result<Self, WeightError> {
        let parsed = SafeTensors::deserialize(&bytes).map_err(|e| WeightError::Unreadable {
            file: file.to_string(),
            reason: describe(&e, bytes.len()),
        })?;
        let base = bytes.as_ptr() as usize;
        let mut entries = BTreeMap::new();
        for (stored_name, view) in parsed.iter() {
            let start = view.data().as_ptr() as usize - base;
            let canonical = canonical_name(stored_name);
            let entry = Entry {
                stored_name: stored_name.to_string(),
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                bytes: start..start + view.data().len(),
            };
            if let Some(previous) = entries.insert(canonical, entry) {
                // In name order: the file's tensor order is not fixed.
                let mut both = [previous.stored_name, stored_name.to_string()];
                both.sort();
                let [first, second] = both;
                return Err(WeightError::Duplicate { file: file.to_string(), first, second });
            }
        }
        drop(parsed);
        Ok(Self {
            file: file.to_string(),
            bytes,
            entries,
            taken: BTreeSet::new(),
        })
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Whether a tensor of this canonical name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether the file stores the encoder under a task model's prefix (`bert.`, `roberta.`,
    /// `distilbert.`: a `…For…` checkpoint).
    pub fn has_encoder_prefix(&self) -> bool {
        self.entries.values().any(|e| ENCODER_PREFIXES.iter().any(|p| e.stored_name.starts_with(p)))
    }

    /// The canonical tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Re-keys the tensors stored under `prefix` without it (GPT-2's `GPT2LMHeadModel`
    /// stores its body as `transformer.`; a bare `GPT2Model` does not). A name that would
    /// then appear twice is kept as stored.
    pub fn strip_prefix(&mut self, prefix: &str) {
        let keys: Vec<String> = self.entries.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        for key in keys {
            let short = key[prefix.len()..].to_string();
            if !self.entries.contains_key(&short)
                && let Some(entry) = self.entries.remove(&key)
            {
                self.entries.insert(short, entry);
            }
        }
    }

    /// Takes tensor `name`, checking that its shape is `expected`, as row-major f32 values.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>, WeightError> {
        let entry = self.entries.get(name).ok_or_else(|| WeightError::Missing {
            file: self.file.clone(),
            name: name.to_string(),
        })?;
        if entry.shape != expected {
            return Err(WeightError::Shape {
                file: self.file.clone(),
                name: entry.stored_name.clone(),
                found: entry.shape.clone(),
                expected: expected.to_vec(),
            });
        }
        let raw = &self.bytes[entry.bytes.clone()];
        let values = match entry.dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(WeightError::Dtype {
                    file: self.file.clone(),
                    name: entry.stored_name.clone(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        self.taken.insert(name.to_string());
        Ok(values)
    }

    /// Like [`Weights::take`], but `None` when the tensor is absent (an optional head).
    pub fn take_optional(
        &mut self,
        name: &str,
        expected: &[usize],
    ) -> Result<Option<Vec<f32>>, WeightError> {
        if self.contains(name) {
            self.take(name, expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Ends loading: every tensor must have been taken, or be a known buffer or a head
    /// of another task. Returns the names of the ignored ones (for the load report).
    pub fn finish(self, architecture: &str) -> Result<Vec<String>, WeightError> {
        let mut ignored = Vec::new();
        let mut unexpected = Vec::new();
        for (name, entry) in &self.entries {
            if self.taken.contains(name) {
                continue;
            }
            if IGNORABLE.iter().any(|p| name == p || (p.ends_with('.') && name.starts_with(p)))
                || IGNORABLE_SUFFIXES.iter().any(|s| name.ends_with(s))
            {
                ignored.push(entry.stored_name.clone());
            } else {
                unexpected.push(entry.stored_name.clone());
            }
        }
        if unexpected.is_empty() {
            Ok(ignored)
        } else {
            let shown: Vec<String> = unexpected.iter().take(5).map(|n| format!("`{n}`")).collect();
            let more = if unexpected.len() > 5 { ", …" } else { "" };
            Err(WeightError::Unexpected {
                file: self.file,
                architecture: architecture.to_string(),
                count: unexpected.len(),
                names: format!("{}{more}", shown.join(", ")),
            })
        }
    }
}

fn canonical_name(stored: &str) -> String {
    let name = ENCODER_PREFIXES.iter().find_map(|p| stored.strip_prefix(p)).unwrap_or(stored);
    if let Some(stem) = name.strip_suffix("LayerNorm.gamma") {
        format!("{stem}LayerNorm.weight")
    } else if let Some(stem) = name.strip_suffix("LayerNorm.beta") {
        format!("{stem}LayerNorm.bias")
    } else {
        name.to_string()
    }
}

fn describe(error: &SafeTensorError, len: usize) -> String {
    match error {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::MetadataIncompleteBuffer => format!(
            "it is truncated or not a safetensors file ({len} bytes; the header describes more data than the file holds). Download it again"
        ),
        SafeTensorError::InvalidHeader(_)
        | SafeTensorError::InvalidHeaderDeserialization(_)
        | SafeTensorError::JsonError(_) => {
            format!("its header is not valid safetensors JSON ({error}); the file is damaged or not a safetensors file")
        }
        other => format!("{other}; the file is damaged, download it again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(names: &[&str]) -> Vec<u8> {
        let bytes = vec![0u8; 8];
        let views: Vec<(String, safetensors::tensor::TensorView)> = names
            .iter()
            .map(|n| (n.to_string(), safetensors::tensor::TensorView::new(Dtype::F32, vec![2], &bytes).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn names_both_copies_of_a_prefixed_duplicate() {
        let bytes = file_with(&["embeddings.LayerNorm.bias", "roberta.embeddings.LayerNorm.bias"]);
        let err = Weights::from_bytes("model.safetensors", bytes.into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "model.safetensors holds both `embeddings.LayerNorm.bias` and `roberta.embeddings.LayerNorm.bias`, the same tensor with and without a task model's prefix; keep one"
        );
    }

    #[test]
    fn strips_each_family_prefix() {
        let bytes = file_with(&["distilbert.embeddings.word_embeddings.weight", "model.final_norm.weight", "classifier.bias"]);
        let weights = Weights::from_bytes("model.safetensors", bytes.into()).unwrap();
        assert_eq!(weights.names().collect::<Vec<_>>(), vec!["classifier.bias", "embeddings.word_embeddings.weight", "final_norm.weight"]);
        assert!(weights.has_encoder_prefix());
    }
}
