//! One parsed checkpoint: the files, the family's config, the sentence-transformers
//! settings and the tokenizer, each read once, and the one max-length policy every command
//! and the studio use.
//!
//! The policy: **a length asked for explicitly that the model cannot take is refused**
//! with a message naming the limit; a default (a command's own, such as training's 128,
//! or the sentence-transformers `max_seq_length`) is lowered to the model's limit, and
//! [`MaxLength::lowered_from`] says so for the front end to show.

use super::{
    CAUSAL_MODEL_TYPES, CausalConfig, ChatTemplate, ChatTemplateError, ConfigError, FileError, ModelConfig, ModelFiles, SentenceEmbeddingConfig, TextTokenizer, TokenizerError,
    stop_token_ids,
};

/// Why a checkpoint cannot be used, or a length cannot be given to it.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A required file is missing.
    #[error(transparent)]
    File(#[from] FileError),
    /// config.json (or a sentence-transformers file) is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// tokenizer.json is wrong.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The chat template cannot be read.
    #[error(transparent)]
    ChatTemplate(#[from] ChatTemplateError),
    /// An explicit maximum length beyond what the model takes.
    #[error("max length {requested} is impossible: the model has {available} position embeddings (max_position_embeddings in config.json); choose {available} or less")]
    MaxLength {
        /// The requested length.
        requested: usize,
        /// The model's limit.
        available: usize,
    },
}

/// The truncation length a run or command uses, and whether a default was lowered to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxLength {
    /// Tokens per input, special tokens included.
    pub tokens: usize,
    /// The default that was lowered to the model's limit, when one was.
    pub lowered_from: Option<usize>,
}

impl MaxLength {
    /// What a front end says when a default was lowered.
    pub fn note(&self) -> Option<String> {
        self.lowered_from.map(|default| {
            format!("max length {} instead of the default {default}: this model takes at most {} tokens", self.tokens, self.tokens)
        })
    }
}

/// A model's files, parsed: made once, shared by loading, tokenising and export.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    files: ModelFiles,
    config: ModelConfig,
    sentence: SentenceEmbeddingConfig,
    tokenizer: TextTokenizer,
}

impl Checkpoint {
    /// Parses `config.json`, the sentence-transformers files and `tokenizer.json` (the
    /// weights are read when a model is built from it).
    pub fn from_files(files: ModelFiles) -> Result<Self, CheckpointError> {
        let config = ModelConfig::from_json(files.require("config.json")?)?;
        let sentence = SentenceEmbeddingConfig::from_files(&files)?;
        let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json")?, config.max_tokens().max(2), config.pad_token_id())?;
        files.require("model.safetensors")?;
        Ok(Self { files, config, sentence, tokenizer })
    }

    /// The files as given.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// The family's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Pooling and normalisation for embeddings.
    pub fn sentence(&self) -> &SentenceEmbeddingConfig {
        &self.sentence
    }

    /// The longest input the model takes, in tokens.
    pub fn limit(&self) -> usize {
        self.config.max_tokens()
    }

    /// The max-length policy: `requested` (given explicitly) must fit the model; without
    /// it, `default` is used, lowered to the model's limit when it is larger.
    pub fn max_length(&self, requested: Option<usize>, default: usize) -> Result<MaxLength, CheckpointError> {
        length_policy(self.limit(), requested, default)
    }

    /// The default truncation length of embeddings: `max_seq_length` of
    /// sentence_bert_config.json, else the model's limit.
    pub fn embedding_length(&self, requested: Option<usize>) -> Result<MaxLength, CheckpointError> {
        self.max_length(requested, self.sentence.max_seq_length.unwrap_or(self.limit()))
    }

    /// The tokenizer, truncating at `max_length` (which must fit the model).
    pub fn tokenizer(&self, max_length: usize) -> Result<TextTokenizer, CheckpointError> {
        if max_length > self.limit() {
            return Err(CheckpointError::MaxLength { requested: max_length, available: self.limit() });
        }
        let mut tokenizer = self.tokenizer.clone();
        tokenizer.set_max_length(max_length)?;
        Ok(tokenizer)
    }
}

/// A generative model's files, parsed: the config, the tokenizer, the chat template and
/// the ids generation stops at, each read once.
#[derive(Clone, Debug)]
pub struct CausalCheckpoint {
    files: ModelFiles,
    config: CausalConfig,
    tokenizer: TextTokenizer,
    template: Option<ChatTemplate>,
    stop_ids: Vec<u32>,
    end_of_turn: Option<u32>,
}

impl CausalCheckpoint {
    /// Parses `config.json`, `tokenizer.json`, the chat template (`chat_template.jinja`,
    /// else `tokenizer_config.json`'s) and `generation_config.json`.
    pub fn from_files(files: ModelFiles) -> Result<Self, CheckpointError> {
        let config = CausalConfig::from_json(files.require("config.json")?)?;
        let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json")?, config.max_tokens().max(2), config.pad_token_id())?;
        files.require("model.safetensors")?;
        let template = ChatTemplate::from_files(files.get("tokenizer_config.json"), files.get("chat_template.jinja"))?;
        let stop_ids = stop_token_ids(&config, files.get("generation_config.json"))?;
        let end_of_turn = template.as_ref().and_then(|t| t.special_token("eos_token")).and_then(|t| tokenizer.token_id(t));
        Ok(Self { files, config, tokenizer, template, stop_ids, end_of_turn })
    }

    /// The files as given.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// The family's configuration.
    pub fn config(&self) -> &CausalConfig {
        &self.config
    }

    /// The tokenizer (no truncation below the model's limit).
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The chat template, when the model has one.
    pub fn template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    /// The template's end-of-turn token (its `eos_token`, e.g. `<|im_end|>`), as text.
    pub fn end_of_turn(&self) -> Option<&str> {
        self.template.as_ref().and_then(|t| t.special_token("eos_token"))
    }

    /// The longest sequence the model takes, in tokens.
    pub fn limit(&self) -> usize {
        self.config.max_tokens()
    }

    /// The ids generation stops at: `generation_config.json`'s and `config.json`'s
    /// end-of-sequence ids, and for chats the template's end-of-turn token too.
    pub fn stop_ids(&self, chat: bool) -> Vec<u32> {
        let mut ids = self.stop_ids.clone();
        if chat
            && let Some(id) = self.end_of_turn
            && !ids.contains(&id)
        {
            ids.push(id);
        }
        ids
    }

    /// The max-length policy of [`Checkpoint::max_length`], for this model's limit.
    pub fn max_length(&self, requested: Option<usize>, default: usize) -> Result<MaxLength, CheckpointError> {
        length_policy(self.limit(), requested, default)
    }
}

/// A pretrained model of either kind, told apart by `model_type`.
#[derive(Clone, Debug)]
pub enum Pretrained {
    /// An encoder (classification, embeddings).
    Encoder(Checkpoint),
    /// A generative model.
    Causal(CausalCheckpoint),
}

impl Pretrained {
    /// Parses the files as the kind their `config.json`'s `model_type` names.
    /// A `model_type` of neither kind (or none) is refused naming every supported type.
    pub fn from_files(files: ModelFiles) -> Result<Self, CheckpointError> {
        let config = files.require("config.json")?;
        if Self::is_causal_config(config) {
            return Ok(Self::Causal(CausalCheckpoint::from_files(files)?));
        }
        #[derive(serde::Deserialize)]
        struct Head {
            model_type: Option<String>,
        }
        // Unreadable JSON is left to the encoder loader, which says where it breaks.
        if let Ok(head) = serde_json::from_slice::<Head>(config) {
            let supported = || [crate::checkpoint::config::SUPPORTED_MODEL_TYPES, CAUSAL_MODEL_TYPES].concat().join(", ");
            match head.model_type {
                None => return Err(ConfigError::MissingModelType { supported: supported() }.into()),
                Some(t) if !crate::checkpoint::config::SUPPORTED_MODEL_TYPES.contains(&t.as_str()) => {
                    return Err(ConfigError::UnsupportedModelType { found: t, supported: supported() }.into());
                }
                Some(_) => {}
            }
        }
        Ok(Self::Encoder(Checkpoint::from_files(files)?))
    }

    /// Whether a `config.json` names a generative family (`model_type` gpt2, llama, qwen2);
    /// anything else, unreadable included, is left to the encoder loader to judge.
    pub fn is_causal_config(config_json: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Head {
            model_type: Option<String>,
        }
        serde_json::from_slice::<Head>(config_json).ok().and_then(|h| h.model_type).is_some_and(|t| CAUSAL_MODEL_TYPES.contains(&t.as_str()))
    }

    /// The files as given.
    pub fn files(&self) -> &ModelFiles {
        match self {
            Self::Encoder(c) => c.files(),
            Self::Causal(c) => c.files(),
        }
    }
}

/// The max-length policy for a model taking `limit` tokens.
fn length_policy(limit: usize, requested: Option<usize>, default: usize) -> Result<MaxLength, CheckpointError> {
    match requested {
        Some(requested) if requested > limit => Err(CheckpointError::MaxLength { requested, available: limit }),
        Some(tokens) => Ok(MaxLength { tokens, lowered_from: None }),
        None if default > limit => Ok(MaxLength { tokens: limit, lowered_from: Some(default) }),
        None => Ok(MaxLength { tokens: default, lowered_from: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Checkpoint {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-bert/");
        let mut files = ModelFiles::new("tiny-bert");
        for name in ["config.json", "tokenizer.json", "model.safetensors"] {
            files.insert(name, std::fs::read(format!("{dir}{name}")).unwrap());
        }
        Checkpoint::from_files(files).unwrap()
    }

    #[test]
    fn explicit_lengths_beyond_the_model_are_refused_and_defaults_lowered() {
        let c = tiny();
        assert_eq!(c.limit(), 64);
        assert_eq!(c.max_length(None, 128).unwrap(), MaxLength { tokens: 64, lowered_from: Some(128) });
        assert_eq!(
            c.max_length(None, 128).unwrap().note().unwrap(),
            "max length 64 instead of the default 128: this model takes at most 64 tokens"
        );
        assert_eq!(c.max_length(Some(32), 128).unwrap(), MaxLength { tokens: 32, lowered_from: None });
        assert_eq!(c.max_length(None, 16).unwrap().note(), None);
        let err = c.max_length(Some(65), 128).unwrap_err();
        assert!(matches!(err, CheckpointError::MaxLength { requested: 65, available: 64 }));
        assert!(c.tokenizer(65).is_err());
        assert_eq!(c.tokenizer(8).unwrap().max_length(), 8);
    }

    #[test]
    fn a_missing_file_is_named() {
        let files = ModelFiles::new("somewhere").with("config.json", b"{\"model_type\": \"bert\"}".to_vec());
        let err = Checkpoint::from_files(files).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json") || err.contains("config.json"), "{err}");
    }

    /// `webtune train` and the studio take either kind, so a type of neither kind is refused
    /// naming both kinds' types (not only the encoders').
    #[test]
    fn a_model_type_of_neither_kind_names_every_supported_type() {
        let files = |config: &str| {
            let mut files = ModelFiles::new("some-model");
            files.insert("config.json", config.as_bytes().to_vec());
            files
        };
        let err = Pretrained::from_files(files(r#"{"model_type": "mistral", "vocab_size": 32000}"#)).unwrap_err().to_string();
        assert_eq!(
            err,
            "config.json has model_type \"mistral\"; webtune supports: bert, distilbert, modernbert, roberta, xlm-roberta, gpt2, llama, qwen2. Pick a checkpoint of a supported architecture (for example sentence-transformers/all-MiniLM-L6-v2)"
        );
        let err = Pretrained::from_files(files(r#"{"vocab_size": 32000}"#)).unwrap_err().to_string();
        assert!(err.ends_with("webtune supports: bert, distilbert, modernbert, roberta, xlm-roberta, gpt2, llama, qwen2"), "{err}");
    }
}
