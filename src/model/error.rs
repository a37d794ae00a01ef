//! The error of loading or running a model.

use crate::checkpoint::{ChatTemplateError, CheckpointError, ConfigError, FileError, TokenizerError, WeightError};

/// Why a model could not be loaded or run. Each variant's message names the file,
/// tensor or setting involved.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A required file is missing.
    #[error(transparent)]
    File(#[from] FileError),
    /// config.json (or a sentence-transformers file) is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// model.safetensors is wrong.
    #[error(transparent)]
    Weights(#[from] WeightError),
    /// tokenizer.json is wrong, or a text cannot be tokenised.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The chat template cannot be read.
    #[error(transparent)]
    ChatTemplate(#[from] ChatTemplateError),
    /// The chosen maximum length does not fit the model.
    #[error("max length {requested} is impossible: the model has {available} position embeddings (max_position_embeddings in config.json); choose {available} or less")]
    MaxLength {
        /// The requested length.
        requested: usize,
        /// The model's limit.
        available: usize,
    },
    /// A prompt and the tokens asked for do not fit the model's positions.
    #[error("a prompt of {prompt} tokens plus {new_tokens} new tokens needs {} positions, but this model takes {available}; shorten the prompt or ask for at most {} new tokens", prompt + new_tokens, available.saturating_sub(*prompt))]
    TooLong {
        /// Tokens of the longest prompt.
        prompt: usize,
        /// New tokens asked for.
        new_tokens: usize,
        /// The model's limit.
        available: usize,
    },
    /// Generation was asked to continue an empty prompt.
    #[error("a prompt has no tokens: give it some text (a generative model continues text, it cannot start from nothing)")]
    EmptyPrompt,
    /// The model has no classification head to evaluate or predict with.
    #[error("{0} has no classification head (no classifier weights or no id2label in config.json); fine-tune it first with `webtune train`")]
    NoClassifier(String),
    /// Reading a result back from the device failed (device lost, out of memory).
    #[error("reading results from the device failed: {0}")]
    Readback(String),
    /// The device's values came back as an unexpected type: a bug, not a device failure.
    #[error("the device returned values of an unexpected type: {0} (a webtune bug; please report it)")]
    Conversion(String),
}

impl From<CheckpointError> for ModelError {
    fn from(e: CheckpointError) -> Self {
        match e {
            CheckpointError::File(e) => Self::File(e),
            CheckpointError::Config(e) => Self::Config(e),
            CheckpointError::Tokenizer(e) => Self::Tokenizer(e),
            CheckpointError::ChatTemplate(e) => Self::ChatTemplate(e),
            CheckpointError::MaxLength { requested, available } => Self::MaxLength { requested, available },
        }
    }
}
