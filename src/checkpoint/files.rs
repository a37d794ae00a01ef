//! [`ModelFiles`]: a model folder as a map of file name to bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The file names webtune reads from a Hugging Face / sentence-transformers model folder.
/// Anything else in the folder (README, ONNX exports, other weights) is left alone.
pub const KNOWN_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// A file the loader needs and did not get.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FileError {
    /// A required file is absent from the model's files.
    #[error("{source_name}: `{name}` is missing; a Hugging Face model folder needs config.json, model.safetensors and tokenizer.json (it has: {present})")]
    Missing {
        /// Where the files came from (a folder path, a URL, "picked files").
        source_name: String,
        /// The file that is missing.
        name: String,
        /// The files that are there, comma-separated.
        present: String,
    },
}

/// The files of one model, keyed by their path inside the model folder
/// (`config.json`, `1_Pooling/config.json`). Bytes are shared, never copied per use.
#[derive(Clone, Debug, Default)]
pub struct ModelFiles {
    source: String,
    files: BTreeMap<String, Arc<[u8]>>,
}

impl ModelFiles {
    /// An empty set of files; `source` says where they come from, for messages.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            files: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) {
        self.files.insert(name.into(), bytes.into());
    }

    /// Removes a file, if present.
    pub fn remove(&mut self, name: &str) {
        self.files.remove(name);
    }

    /// Builder form of [`ModelFiles::insert`].
    pub fn with(mut self, name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        self.insert(name, bytes);
        self
    }

    /// Where the files came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The bytes of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(|b| &b[..])
    }

    /// The bytes of `name`, or an error that says which file is missing and what is there.
    pub fn require(&self, name: &str) -> Result<&[u8], FileError> {
        self.get(name).ok_or_else(|| FileError::Missing {
            source_name: self.source.clone(),
            name: name.to_string(),
            present: if self.files.is_empty() {
                "no files".to_string()
            } else {
                self.names().collect::<Vec<_>>().join(", ")
            },
        })
    }

    /// The file names present, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Total size in bytes.
    pub fn total_bytes(&self) -> usize {
        self.files.values().map(|b| b.len()).sum()
    }
}
