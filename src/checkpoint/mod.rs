//! Hugging Face model files: `config.json`, `model.safetensors` and `tokenizer.json`,
//! all read from bytes so that a folder, a `fetch` and a file picker share one loader,
//! parsed once into a [`Checkpoint`]. The bottom layer: it imports no model or training code.

mod chat_template;
mod config;
mod files;
mod parsed;
mod tokenizer;
mod weights;
mod write;

pub use config::{
    BertConfig, CAUSAL_MODEL_TYPES, CausalConfig, ConfigError, Gpt2Config, LlamaConfig, Rope, RopeScaling, TokenIds, stop_token_ids, DistilBertConfig, EncoderDims, Family, HiddenAct, ModelConfig, ModernBertConfig, Pooling,
    SUPPORTED_MODEL_TYPES,
    SentenceEmbeddingConfig,
};
pub use chat_template::{ChatTemplate, ChatTemplateError, Message};
pub use files::{FileError, KNOWN_FILES, ModelFiles};
pub use parsed::{CausalCheckpoint, Checkpoint, CheckpointError, MaxLength, Pretrained};
pub use tokenizer::{Encoded, EncodedBatch, Padding, TextInput, TextTokenizer, TokenizerError};
pub use weights::{WeightError, Weights};
pub use write::{classifier_config, unzip_files, zip_files};
