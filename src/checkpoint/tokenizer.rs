//! `tokenizer.json` through the `tokenizers` crate: truncation to a chosen length and
//! padding to the longest member of each batch (webtune's choice, whatever padding the
//! file itself carries: all-MiniLM-L6-v2's pads every input to 128).

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// What went wrong reading `tokenizer.json` or encoding text.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenizerError {
    /// The file cannot be parsed.
    #[error("tokenizer.json cannot be read: {0}; is it a Hugging Face `tokenizers` file (saved by a fast tokenizer)?")]
    Unreadable(String),
    /// The chosen maximum length is impossible.
    #[error("max length {max_length} is impossible: {reason}")]
    MaxLength {
        /// The requested length.
        max_length: usize,
        /// Why.
        reason: String,
    },
    /// Token ids cannot be turned back into text.
    #[error("cannot decode generated tokens: {0}")]
    Decode(String),
    /// The tokenizer failed on one input.
    #[error("cannot tokenise input {index}: {message}")]
    Encode {
        /// 0-based index of the input in its batch.
        index: usize,
        /// The tokenizers crate's message.
        message: String,
    },
}

/// One input: a text, or a pair of texts (sentence-pair tasks).
#[derive(Clone, Debug, PartialEq)]
pub struct TextInput {
    /// The (first) text.
    pub text: String,
    /// The second text of a pair, if any.
    pub pair: Option<String>,
}

impl TextInput {
    /// A single text.
    pub fn single(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            pair: None,
        }
    }
}

/// One input's tokens after truncation, without padding.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// Segment ids (0 for the first text, 1 for the second of a pair).
    pub type_ids: Vec<u32>,
}

/// A batch ready for the model: rows padded to the longest member.
/// `input_ids`, `attention_mask` and `token_type_ids` are row-major `[batch, seq_len]`.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBatch {
    /// Each input's token ids after truncation, without padding.
    pub ids: Vec<Vec<u32>>,
    /// Padded ids, `[batch, seq_len]`.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding, `[batch, seq_len]`.
    pub attention_mask: Vec<i64>,
    /// Segment ids (0 for the first text, 1 for the second of a pair), `[batch, seq_len]`.
    pub token_type_ids: Vec<i64>,
    /// Number of inputs.
    pub batch_size: usize,
    /// Length of the longest input: the padded width.
    pub seq_len: usize,
}

/// A tokenizer configured for webtune: truncation at `max_length`, no built-in padding.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    /// The same tokenizer without truncation, to measure full lengths.
    counting: Tokenizer,
    pad_id: u32,
    max_length: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("pad_id", &self.pad_id)
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl TextTokenizer {
    /// Reads `tokenizer.json` bytes. `fallback_pad_id` (config.json's `pad_token_id`) is used
    /// when the file names no padding token and has no `[PAD]`.
    pub fn from_bytes(
        bytes: &[u8],
        max_length: usize,
        fallback_pad_id: u32,
    ) -> Result<Self, TokenizerError> {
        let mut inner =
            Tokenizer::from_bytes(bytes).map_err(|e| TokenizerError::Unreadable(e.to_string()))?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .unwrap_or(fallback_pad_id);
        inner.with_padding(None);
        let mut counting = inner.clone();
        counting.with_truncation(None).map_err(|e| TokenizerError::Unreadable(e.to_string()))?;
        let mut tokenizer = Self {
            inner,
            counting,
            pad_id,
            max_length: 0,
        };
        tokenizer.set_max_length(max_length)?;
        Ok(tokenizer)
    }

    /// The truncation length in tokens, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Changes the truncation length.
    pub fn set_max_length(&mut self, max_length: usize) -> Result<(), TokenizerError> {
        if max_length < 2 {
            return Err(TokenizerError::MaxLength {
                max_length,
                reason: "it must leave room for [CLS] and [SEP] (at least 2)".into(),
            });
        }
        self.inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| TokenizerError::MaxLength {
                max_length,
                reason: e.to_string(),
            })?;
        self.max_length = max_length;
        Ok(())
    }

    /// The text of `ids` (special tokens left out when `skip_special`), as the tokenizer's
    /// decoder writes it (byte-level BPE back to UTF-8, `##` pieces joined, `▁` to spaces).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        self.inner.decode(ids, skip_special).map_err(|e| TokenizerError::Decode(e.to_string()))
    }

    /// Tokens of one input after truncation, with special tokens, without padding.
    /// `index` is the input's position, for the error message.
    pub fn encode(&self, index: usize, input: &TextInput) -> Result<Encoded, TokenizerError> {
        let result = match &input.pair {
            None => self.inner.encode(input.text.as_str(), true),
            Some(pair) => self.inner.encode((input.text.as_str(), pair.as_str()), true),
        };
        let encoding = result.map_err(|e| TokenizerError::Encode {
            index,
            message: e.to_string(),
        })?;
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
        })
    }

    /// Token ids of `text` as written, without the post-processor's special tokens and
    /// without truncation: for text that already holds them, such as a rendered chat
    /// template (transformers tokenises those with `add_special_tokens=False`).
    pub fn encode_verbatim(&self, index: usize, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.counting.encode(text, false).map_err(|e| TokenizerError::Encode { index, message: e.to_string() })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Token ids of `text` with the post-processor's special tokens, without truncation
    /// (language-modelling data, where a text too long for the model is refused, not cut).
    pub fn encode_untruncated(&self, index: usize, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.counting.encode(text, true).map_err(|e| TokenizerError::Encode { index, message: e.to_string() })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The id of `token`, when the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The input's length in tokens before truncation, special tokens included.
    pub fn token_count(&self, index: usize, input: &TextInput) -> Result<usize, TokenizerError> {
        let result = match &input.pair {
            None => self.counting.encode(input.text.as_str(), true),
            Some(pair) => self.counting.encode((input.text.as_str(), pair.as_str()), true),
        };
        Ok(result.map_err(|e| TokenizerError::Encode { index, message: e.to_string() })?.len())
    }

    /// Tokens of one input after truncation, and its length before truncation (special
    /// tokens included). Inputs that fit are tokenised once.
    pub fn encode_measured(&self, index: usize, input: &TextInput) -> Result<(Encoded, usize), TokenizerError> {
        let result = match &input.pair {
            None => self.counting.encode(input.text.as_str(), true),
            Some(pair) => self.counting.encode((input.text.as_str(), pair.as_str()), true),
        };
        let full = result.map_err(|e| TokenizerError::Encode { index, message: e.to_string() })?;
        if full.len() <= self.max_length {
            let encoded = Encoded { ids: full.get_ids().to_vec(), type_ids: full.get_type_ids().to_vec() };
            return Ok((encoded, full.len()));
        }
        Ok((self.encode(index, input)?, full.len()))
    }

    /// Encodes a batch and pads it to its longest member. An empty batch has `seq_len` 0.
    pub fn encode_batch(&self, inputs: &[TextInput]) -> Result<EncodedBatch, TokenizerError> {
        let encoded = inputs
            .iter()
            .enumerate()
            .map(|(index, input)| self.encode(index, input))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EncodedBatch::pad(encoded.iter(), self.pad_id))
    }
}

/// How far a training batch is padded: to its longest example, rounded up to a multiple of
/// `multiple` (as transformers' `pad_to_multiple_of`) but not past `cap` (the truncation
/// length) unless the longest example is. Rounding gives the GPU fewer distinct shapes, so
/// fewer kernels to compile, and lengths its kernels vectorise fully; padding is masked, so
/// the loss and the logits of the real tokens are unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padding {
    /// Round the length up to a multiple of this (0 or 1: the longest example's length).
    pub multiple: usize,
    /// Never round past this.
    pub cap: usize,
}

impl Padding {
    /// To the longest example of the batch.
    pub const LONGEST: Padding = Padding { multiple: 1, cap: 0 };

    /// The padded length of a batch whose longest example has `longest` tokens.
    pub fn length(self, longest: usize) -> usize {
        if self.multiple <= 1 || longest == 0 {
            return longest;
        }
        longest.next_multiple_of(self.multiple).min(self.cap.max(longest))
    }
}

impl Default for Padding {
    fn default() -> Self {
        Self::LONGEST
    }
}

impl EncodedBatch {
    /// Pads already-encoded inputs to the longest of them with `pad_id`.
    pub fn pad<'a>(rows: impl Iterator<Item = &'a Encoded> + Clone, pad_id: u32) -> Self {
        Self::pad_as(rows, pad_id, Padding::LONGEST)
    }

    /// Pads already-encoded inputs with `pad_id` to the length `padding` gives.
    pub fn pad_as<'a>(rows: impl Iterator<Item = &'a Encoded> + Clone, pad_id: u32, padding: Padding) -> Self {
        let seq_len = padding.length(rows.clone().map(|e| e.ids.len()).max().unwrap_or(0));
        let mut batch = EncodedBatch {
            ids: Vec::new(),
            input_ids: Vec::new(),
            attention_mask: Vec::new(),
            token_type_ids: Vec::new(),
            batch_size: 0,
            seq_len,
        };
        for row in rows {
            let pad = seq_len - row.ids.len();
            batch.input_ids.extend(row.ids.iter().map(|&id| id as i64));
            batch.input_ids.extend(std::iter::repeat_n(pad_id as i64, pad));
            batch.attention_mask.extend(std::iter::repeat_n(1, row.ids.len()));
            batch.attention_mask.extend(std::iter::repeat_n(0, pad));
            batch.token_type_ids.extend(row.type_ids.iter().map(|&t| t as i64));
            batch.token_type_ids.extend(std::iter::repeat_n(0, pad));
            batch.ids.push(row.ids.clone());
            batch.batch_size += 1;
        }
        batch
    }
}
