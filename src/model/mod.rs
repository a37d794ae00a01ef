//! Architectures (one file each, names mirroring the checkpoint's) and task heads.

pub mod bert;
mod classification;
mod error;
mod layers;
mod sentence_embedding;

pub use bert::BertModel;
pub use classification::{BertForSequenceClassification, ClassifierReport};
pub use error::ModelError;
pub use layers::LayerNorm;
pub use sentence_embedding::{Embedding, LoadReport, SentenceEmbedder};
