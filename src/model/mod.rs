//! Architectures (one file each, names mirroring the checkpoint's), the [`Encoder`] that
//! holds any of them, and task heads.

pub mod bert;
pub mod causal;
mod classification;
pub mod distilbert;
mod encoder;
mod error;
mod layers;
pub mod modernbert;
pub mod roberta;
mod sentence_embedding;
mod trace;

pub use causal::{CausalInput, CausalLm, CausalLoadReport, GenerationSettings, KvCache, Sampling, generate, generate_streaming};
pub use classification::{BertClassificationHead, ClassificationHead, ClassifierReport, SequenceClassifier};
pub use encoder::Encoder;
pub use error::ModelError;
pub use layers::{EncoderInput, LayerNorm, NamedTensor, ParamNames, PositionIds, RmsNorm, gelu_exact, gelu_tanh, tanh_finite};
pub use sentence_embedding::{Embedding, LoadReport, SentenceEmbedder};
pub use trace::{NonFiniteOutput, Trace, first_non_finite};
