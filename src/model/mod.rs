//! Architectures (one file each, names mirroring the checkpoint's) and task heads.

pub mod bert;
mod classification;
mod error;
mod layers;
mod sentence_embedding;
mod trace;

pub use bert::BertModel;
pub use classification::{BertForSequenceClassification, ClassifierReport};
pub use error::ModelError;
pub use layers::{LayerNorm, gelu_exact, gelu_tanh, tanh_finite};
pub use sentence_embedding::{Embedding, LoadReport, SentenceEmbedder};
pub use trace::{NonFiniteOutput, Trace, first_non_finite};
