//! Causal language modelling: the next-token loss with ignored positions, as transformers'
//! `ForCausalLMLoss` computes it (labels aligned with the inputs and shifted inside;
//! positions labelled −100 — the prompt, padding — do not count; the mean is over the
//! counted tokens of the whole batch).
//!
//! Only the positions that count go through the language-model head, so a batch whose
//! prompts are masked never forms logits over the vocabulary for them.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::checkpoint::{ChatTemplate, ChatTemplateError, Message, Padding, TextTokenizer, TokenizerError};
use crate::model::{CausalInput, CausalLm, KvCache, Trace};

/// The label of a position that does not count (transformers' `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// The mean next-token cross-entropy `[1]` of the batch `input` (no cache) against `labels`
/// (row-major `[batch, seq]`, aligned with the input ids: position `t`'s logits predict
/// `labels[t + 1]`), and the number of tokens that counted. `None` when no position counts.
pub fn next_token_loss(model: &CausalLm, input: &CausalInput, labels: &[i64], device: &Device, trace: &mut Trace) -> Option<(Tensor<1>, usize)> {
    next_token_loss_in_chunks(model, input, labels, device, trace, CHUNK_TOKENS)
}

/// [`next_token_loss`] with the language-model head applied `chunk` scored positions at a
/// time (the result is the same for every `chunk`).
pub fn next_token_loss_in_chunks(model: &CausalLm, input: &CausalInput, labels: &[i64], device: &Device, trace: &mut Trace, chunk: usize) -> Option<(Tensor<1>, usize)> {
    let (batch, seq) = (input.batch, input.new);
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for r in 0..batch {
        for t in 0..seq.saturating_sub(1) {
            let label = labels[r * seq + t + 1];
            if label != IGNORE_INDEX {
                rows.push((r * seq + t) as i64);
                targets.push(label);
            }
        }
    }
    if rows.is_empty() {
        return None;
    }
    let n = rows.len();
    let hidden = model.hidden(input, &mut KvCache::new(), trace);
    let width = hidden.dims()[2];
    let hidden = hidden.reshape([batch * seq, width]);
    // The scored positions' logits over the vocabulary, `chunk` rows at a time, so
    // that no `[tokens, vocab]` log-softmax of the whole batch exists at once outside
    // what the backward pass keeps.
    let mut total: Option<Tensor<1>> = None;
    let chunk = chunk.max(1);
    for (chunk_rows, chunk_targets) in rows.chunks(chunk).zip(targets.chunks(chunk)) {
        let m = chunk_rows.len();
        let scored = hidden.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(chunk_rows.to_vec(), [m]), device));
        let logits = trace.record("lm_head (logits of the scored positions)", model.head(scored));
        let chunk_targets = Tensor::<2, Int>::from_data(TensorData::new(chunk_targets.to_vec(), [m, 1]), device);
        let nll = log_softmax(logits, 1).gather(1, chunk_targets).sum().neg();
        total = Some(match total {
            Some(t) => t + nll,
            None => nll,
        });
    }
    let loss = total? / n as f64;
    Some((trace.record("next-token cross-entropy", loss), n))
}

/// Scored positions per slice of the language-model head in [`next_token_loss`]: 2,048
/// tokens × a 49,152-token vocabulary (SmolLM2) is 400 MB of f32 logits.
pub const CHUNK_TOKENS: usize = 2048;

/// One language-modelling example: token ids and, aligned with them, the labels the loss
/// predicts (the ids themselves, or [`IGNORE_INDEX`] where nothing is learnt).
#[derive(Clone, Debug, PartialEq)]
pub struct LmExample {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// `ids`, with [`IGNORE_INDEX`] at positions the loss skips.
    pub labels: Vec<i64>,
    /// 1-based line of the data file it came from.
    pub line: usize,
}

impl LmExample {
    /// Plain text: every token after the first is predicted.
    pub fn text(ids: Vec<u32>, line: usize) -> Self {
        let labels = ids.iter().map(|&i| i as i64).collect();
        Self { ids, labels, line }
    }

    /// A prompt and its completion: only the completion's tokens are predicted.
    pub fn completion(prompt: Vec<u32>, completion: Vec<u32>, line: usize) -> Self {
        let labels = prompt.iter().map(|_| IGNORE_INDEX).chain(completion.iter().map(|&i| i as i64)).collect();
        Self { ids: [prompt, completion].concat(), labels, line }
    }

    /// Tokens the loss predicts (the first position is never predicted).
    pub fn predicted(&self) -> usize {
        self.labels.iter().skip(1).filter(|&&l| l != IGNORE_INDEX).count()
    }

    /// Cuts the example to its first `max_length` tokens; returns how many predicted
    /// tokens were cut off.
    pub fn truncate(&mut self, max_length: usize) -> usize {
        if self.ids.len() <= max_length {
            return 0;
        }
        let cut = self.labels[max_length..].iter().filter(|&&l| l != IGNORE_INDEX).count();
        self.ids.truncate(max_length);
        self.labels.truncate(max_length);
        cut
    }

    /// Learns every token, the prompt's too (`--train-on-prompt`).
    pub fn learn_everything(&mut self) {
        self.labels = self.ids.iter().map(|&i| i as i64).collect();
    }
}

/// Plain-text examples packed into blocks of `block` tokens: the texts one after another,
/// each followed by `separator` (the end-of-text id) unless it already ends with it, cut
/// into consecutive blocks; the last block may be shorter, so no token is dropped. A
/// block's line is the line of the text it starts in.
pub fn pack(examples: &[LmExample], block: usize, separator: Option<u32>) -> Vec<LmExample> {
    let block = block.max(2);
    let mut stream: Vec<(u32, usize)> = Vec::new();
    for e in examples {
        stream.extend(e.ids.iter().map(|&id| (id, e.line)));
        if let Some(sep) = separator
            && e.ids.last() != Some(&sep)
        {
            stream.push((sep, e.line));
        }
    }
    stream
        .chunks(block)
        .filter(|c| c.len() >= 2)
        .map(|c| LmExample::text(c.iter().map(|&(id, _)| id).collect(), c[0].1))
        .collect()
}

/// How records of language-modelling data become training examples: plain text tokenised
/// as the tokenizer does (its own special tokens added, as transformers' tokenizer call
/// adds them); a prompt tokenised the same way and its completion verbatim, followed by
/// `eos` so the model learns to stop; a conversation rendered by the chat template with
/// the assistant turns learnt ([`chat_example`]).
pub struct LmEncoding<'a> {
    /// The tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// The chat template, for conversations.
    pub template: Option<&'a ChatTemplate>,
    /// The template's end-of-turn token (learnt at the end of each assistant turn).
    pub end_of_turn: Option<&'a str>,
    /// Appended to completions.
    pub eos: Option<u32>,
}

impl LmEncoding<'_> {
    /// Tokenises `record` (from `line`); a message names what is wrong.
    pub fn encode(&self, record: &crate::data::LmRecord, line: usize) -> Result<LmExample, String> {
        use crate::data::LmRecord;
        let encode = |text: &str| self.tokenizer.encode_untruncated(0, text).map_err(|e| e.to_string());
        match record {
            LmRecord::Text(text) => Ok(LmExample::text(encode(text)?, line)),
            LmRecord::Prompt { prompt, completion: Some(completion) } => {
                let completion = self.tokenizer.encode_verbatim(0, completion).map_err(|e| e.to_string())?;
                Ok(LmExample::completion(encode(prompt)?, [completion, self.eos.into_iter().collect()].concat(), line))
            }
            LmRecord::Prompt { completion: None, .. } => Err("a \"prompt\" needs the \"completion\" to learn".into()),
            LmRecord::Chat(messages) => {
                let template = self.template.ok_or("the model has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja), so conversations cannot be rendered; use a model with one, or prompt/completion data")?;
                chat_example(template, self.tokenizer, messages, self.end_of_turn, line).map_err(|e| {
                    let message = e.to_string();
                    message.split_once(": ").map_or(message.clone(), |(_, m)| m.to_string())
                })
            }
        }
    }

    /// The prompt a record's reference follows, and the reference: a completion, or a
    /// conversation's last assistant message after everything before it (rendered with
    /// the generation prompt). `None` for plain text, or a chat not ending with the assistant.
    pub fn reference(&self, record: &crate::data::LmRecord) -> Result<Option<(Vec<u32>, String)>, String> {
        use crate::data::LmRecord;
        match record {
            LmRecord::Text(_) | LmRecord::Prompt { completion: None, .. } => Ok(None),
            LmRecord::Prompt { prompt, completion: Some(completion) } => {
                Ok(Some((self.tokenizer.encode_untruncated(0, prompt).map_err(|e| e.to_string())?, completion.clone())))
            }
            LmRecord::Chat(messages) => {
                let (Some(template), Some(last)) = (self.template, messages.last()) else { return Ok(None) };
                if last.role != "assistant" {
                    return Ok(None);
                }
                let prompt = template.render(&messages[..messages.len() - 1], true, None).map_err(|e| e.to_string())?;
                Ok(Some((self.tokenizer.encode_verbatim(0, &prompt).map_err(|e| e.to_string())?, last.content.clone())))
            }
        }
    }
}

/// Language-modelling examples and the id padding them.
#[derive(Clone, Debug)]
pub struct LmSet {
    /// The examples.
    pub examples: Vec<LmExample>,
    /// Put in padding positions (masked and ignored, so its value does not matter).
    pub pad_id: u32,
    /// How batches are padded (set by the trainer from its settings).
    pub padding: Padding,
}

impl LmSet {
    /// A set padded to each batch's longest example.
    pub fn new(examples: Vec<LmExample>, pad_id: u32) -> Self {
        Self { examples, pad_id, padding: Padding::LONGEST }
    }

    /// Examples `indices`, right-padded to the longest (rounded as `padding` says): ids,
    /// attention mask and labels, row-major `[batch, seq]`.
    fn batch(&self, indices: &[usize]) -> (Vec<u32>, Vec<i64>, Vec<i64>, usize) {
        let seq = self.padding.length(indices.iter().map(|&i| self.examples[i].ids.len()).max().unwrap_or(0));
        let (mut ids, mut mask, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for &i in indices {
            let e = &self.examples[i];
            let fill = seq - e.ids.len();
            ids.extend(e.ids.iter().copied().chain(std::iter::repeat_n(self.pad_id, fill)));
            mask.extend(std::iter::repeat_n(1, e.ids.len()).chain(std::iter::repeat_n(0, fill)));
            labels.extend(e.labels.iter().copied().chain(std::iter::repeat_n(IGNORE_INDEX, fill)));
        }
        (ids, mask, labels, seq)
    }
}

/// A language model's evaluation: the mean next-token loss over every predicted token of
/// the validation set, and its exponential, the perplexity.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LmEvaluation {
    /// Mean cross-entropy per predicted token (nats).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Tokens predicted.
    pub tokens: usize,
    /// Greedy generations for the validation prompts scored against their references,
    /// when the run asked for them.
    #[serde(flatten)]
    pub generation: Option<super::GenerationScores>,
}

/// The mean next-token loss of `model` (validation mode) over every predicted token of
/// `set`, `batch_size` examples at a time: the total negative log-likelihood divided by the
/// number of predicted tokens, and its perplexity. One readback per batch, asynchronous.
pub async fn language_model_loss(model: &CausalLm, set: &LmSet, batch_size: usize, device: &Device) -> Result<LmEvaluation, super::TrainError> {
    let (mut total, mut tokens) = (0.0f64, 0usize);
    let all: Vec<usize> = (0..set.examples.len()).collect();
    for indices in all.chunks(batch_size.max(1)) {
        let (ids, mask, labels, _) = set.batch(indices);
        let input = CausalInput::new(&ids, &mask, indices.len(), 0, device);
        let Some((loss, n)) = next_token_loss(model, &input, &labels, device, &mut Trace::off()) else { continue };
        let data = loss.into_data_async().await.map_err(|e| super::TrainError::Device(format!("{e:?}")))?;
        let value: Vec<f32> = data.try_into_vec().map_err(|e| super::TrainError::Device(format!("{e:?}")))?;
        total += value[0] as f64 * n as f64;
        tokens += n;
    }
    let loss = total / tokens.max(1) as f64;
    Ok(LmEvaluation { loss, perplexity: loss.exp(), tokens, generation: None })
}

/// Fine-tuning a causal language model (any supported decoder) on text or prompt/completion
/// examples.
#[derive(Clone, Debug)]
pub struct CausalLanguageModelling {
    /// The training set.
    pub train: LmSet,
    /// The validation set.
    pub valid: Option<LmSet>,
}

impl super::Task for CausalLanguageModelling {
    type Model = CausalLm;
    type Evaluation = LmEvaluation;

    fn set_padding(&mut self, model: &CausalLm, padding: Padding) {
        let padding = Padding { cap: padding.cap.min(model.max_tokens()), ..padding };
        self.train.padding = padding;
        if let Some(valid) = &mut self.valid {
            valid.padding = padding;
        }
    }

    fn check(&self, model: &CausalLm) -> Result<(), super::TrainError> {
        if self.train.examples.is_empty() {
            return Err(super::TrainError::Data("the training set is empty; give it at least one text".into()));
        }
        for (set, name) in [(Some(&self.train), "training"), (self.valid.as_ref(), "validation")] {
            let Some(set) = set else { continue };
            for e in &set.examples {
                if e.predicted() == 0 {
                    return Err(super::TrainError::Data(format!(
                        "line {} of the {name} data has nothing to learn: its completion is empty, or the prompt fills the whole max length",
                        e.line
                    )));
                }
                if e.ids.len() > model.max_tokens() {
                    return Err(super::TrainError::Data(format!(
                        "line {} of the {name} data has {} tokens, more than the {} this model takes; lower the max length",
                        e.line,
                        e.ids.len(),
                        model.max_tokens()
                    )));
                }
            }
        }
        Ok(())
    }

    fn train_len(&self) -> usize {
        self.train.examples.len()
    }

    fn train_lengths(&self) -> Vec<usize> {
        self.train.examples.iter().map(|e| e.ids.len()).collect()
    }

    fn has_validation(&self) -> bool {
        self.valid.is_some()
    }

    fn loss(&self, model: &CausalLm, indices: &[usize], device: &Device, trace: &mut Trace) -> (Tensor<1>, usize) {
        let (ids, mask, labels, _) = self.train.batch(indices);
        let input = CausalInput::new(&ids, &mask, indices.len(), 0, device);
        // `check` made sure every example predicts at least one token.
        next_token_loss(model, &input, &labels, device, trace).expect("every training example predicts a token (checked)")
    }

    fn parameter_name(&self, model: &CausalLm, id: burn::module::ParamId) -> Option<String> {
        model.parameter_name(id).map(str::to_string)
    }

    async fn evaluate(&self, model: &CausalLm, batch_size: usize, device: &Device) -> Result<Option<LmEvaluation>, super::TrainError> {
        let Some(valid) = &self.valid else { return Ok(None) };
        language_model_loss(model, valid, batch_size, device).await.map(Some)
    }

    fn measures(metric: super::BestMetric) -> bool {
        metric == super::BestMetric::Loss
    }

    fn metric(evaluation: &LmEvaluation, metric: super::BestMetric) -> Option<f64> {
        (metric == super::BestMetric::Loss).then_some(evaluation.loss)
    }
}

/// Why a conversation cannot become a training example.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChatExampleError {
    /// The template refused or failed on it.
    #[error("line {line}: {error}")]
    Template {
        /// 1-based line of the data file.
        line: usize,
        /// What the template said.
        error: ChatTemplateError,
    },
    /// The rendered text cannot be tokenised.
    #[error("line {line}: {error}")]
    Tokenizer {
        /// 1-based line of the data file.
        line: usize,
        /// What the tokenizer said.
        error: TokenizerError,
    },
    /// An assistant turn's tokens do not continue the tokens of the conversation before it
    /// (the template rewrites earlier turns once a later one is added).
    #[error("line {line}: the chat template renders the turns before assistant turn {turn} differently once it is added, so its tokens cannot be found; webtune cannot train on this template's conversations")]
    Unaligned {
        /// 1-based line of the data file.
        line: usize,
        /// 1-based position of the turn among the messages.
        turn: usize,
    },
    /// Nothing to learn: no assistant turn.
    #[error("line {line}: the conversation has no assistant message, so there is nothing to learn from it")]
    NoAssistant {
        /// 1-based line of the data file.
        line: usize,
    },
}

/// A conversation (`messages` of chat JSONL) as a training example: the ids of the whole
/// conversation rendered by `template`, tokenised as transformers tokenises a rendered
/// template (no added special tokens), with labels on the assistant turns only — each
/// turn's text and its end token (`end_token`, e.g. `<|im_end|>`, when the turn has one),
/// not what the template adds after it.
///
/// A turn's tokens are found by rendering the conversation up to the turn's prompt
/// (`add_generation_prompt`) and up to the turn itself: the difference is the turn.
pub fn chat_example(template: &ChatTemplate, tokenizer: &TextTokenizer, messages: &[Message], end_token: Option<&str>, line: usize) -> Result<LmExample, ChatExampleError> {
    let render = |upto: usize, prompt: bool| template.render(&messages[..upto], prompt, None).map_err(|error| ChatExampleError::Template { line, error });
    let tokens = |text: &str| tokenizer.encode_verbatim(0, text).map_err(|error| ChatExampleError::Tokenizer { line, error });
    let ids = tokens(&render(messages.len(), false)?)?;
    let mut labels = vec![IGNORE_INDEX; ids.len()];
    let end_id = end_token.and_then(|t| tokenizer.token_id(t));
    let mut any = false;
    for (i, message) in messages.iter().enumerate() {
        if message.role != "assistant" {
            continue;
        }
        any = true;
        let start = tokens(&render(i, true)?)?;
        let through = tokens(&render(i + 1, false)?)?;
        if !ids.starts_with(&through) || !through.starts_with(&start) {
            return Err(ChatExampleError::Unaligned { line, turn: i + 1 });
        }
        let span = start.len()..through.len();
        // Up to and including the end token; what the template writes after it (a new
        // line) is not the model's to say.
        let end = match end_id {
            Some(end_id) => ids[span.clone()].iter().position(|&t| t == end_id).map_or(span.end, |p| span.start + p + 1),
            None => span.end,
        };
        for t in span.start..end {
            labels[t] = ids[t] as i64;
        }
    }
    if !any {
        return Err(ChatExampleError::NoAssistant { line });
    }
    Ok(LmExample { ids, labels, line })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_the_predicted_tokens_it_cuts_and_prompts_can_be_learnt() {
        let mut e = LmExample::completion(vec![1, 2], vec![3, 4, 5], 7);
        assert_eq!(e.labels, vec![IGNORE_INDEX, IGNORE_INDEX, 3, 4, 5]);
        assert_eq!(e.predicted(), 3);
        assert_eq!(e.truncate(3), 2, "tokens 4 and 5 were to be learnt");
        assert_eq!((e.ids.clone(), e.predicted()), (vec![1, 2, 3], 1));
        assert_eq!(e.truncate(3), 0);
        let mut p = LmExample::completion(vec![1, 2], vec![3], 1);
        p.learn_everything();
        assert_eq!((p.labels.clone(), p.predicted()), (vec![1, 2, 3], 2), "the first token is never predicted");
        // Only learnt tokens count as cut: a prompt cut off costs nothing to learn.
        let mut long_prompt = LmExample::completion(vec![1, 2, 3, 4], vec![5], 1);
        assert_eq!((long_prompt.truncate(2), long_prompt.predicted()), (1, 0));
    }

    #[test]
    fn packing_joins_texts_with_the_separator_into_blocks_of_their_first_line() {
        let texts = [LmExample::text(vec![1, 2, 3], 1), LmExample::text(vec![4, 5, 9], 2), LmExample::text(vec![6, 7], 3)];
        // Stream 1 2 3 9 | 4 5 9 | 6 7 9 (a text already ending with 9 gets no second one).
        let packed = pack(&texts, 4, Some(9));
        let blocks: Vec<(Vec<u32>, usize)> = packed.iter().map(|e| (e.ids.clone(), e.line)).collect();
        assert_eq!(blocks, vec![(vec![1, 2, 3, 9], 1), (vec![4, 5, 9, 6], 2), (vec![7, 9], 3)]);
        assert!(packed.iter().all(|e| e.labels == e.ids.iter().map(|&i| i as i64).collect::<Vec<_>>()), "every packed token is learnt");
        // A last block of one token predicts nothing and is left out; without a separator
        // the texts simply follow each other.
        let threes: Vec<Vec<u32>> = pack(&texts, 3, Some(9)).into_iter().map(|e| e.ids).collect();
        assert_eq!(threes, vec![vec![1, 2, 3], vec![9, 4, 5], vec![9, 6, 7]]);
        let plain: Vec<Vec<u32>> = pack(&texts, 5, None).into_iter().map(|e| e.ids).collect();
        assert_eq!(plain, vec![vec![1, 2, 3, 4, 5], vec![9, 6, 7]]);
    }
}
