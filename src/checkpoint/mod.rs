//! Hugging Face model files in: `config.json`, `model.safetensors` and `tokenizer.json`,
//! all read from bytes so that a folder, a `fetch` and a file picker share one loader.

mod card;
mod config;
mod export;
mod files;
mod tokenizer;
mod weights;

pub use card::{CardInfo, model_card};
pub use config::{
    BertConfig, ConfigError, DistilBertConfig, EncoderDims, Family, HiddenAct, ModelConfig, ModernBertConfig, Pooling,
    SUPPORTED_MODEL_TYPES,
    SentenceEmbeddingConfig,
};
pub use export::{ExportError, classifier_config, export_classifier, safetensors_bytes, zip_files};
pub use files::{FileError, KNOWN_FILES, ModelFiles};
pub use tokenizer::{Encoded, EncodedBatch, TextInput, TextTokenizer, TokenizerError};
pub use weights::{WeightError, Weights};
