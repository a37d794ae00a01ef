//! Causal language modelling: the next-token loss with ignored positions, as transformers'
//! `ForCausalLMLoss` computes it (labels aligned with the inputs and shifted inside;
//! positions labelled −100 — the prompt, padding — do not count; the mean is over the
//! counted tokens of the whole batch).
//!
//! Only the positions that count go through the language-model head, so a batch whose
//! prompts are masked never forms logits over the vocabulary for them.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::model::{CausalInput, CausalLm, KvCache, Trace};

/// The label of a position that does not count (transformers' `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// The mean next-token cross-entropy `[1]` of the batch `input` (no cache) against `labels`
/// (row-major `[batch, seq]`, aligned with the input ids: position `t`'s logits predict
/// `labels[t + 1]`), and the number of tokens that counted. `None` when no position counts.
pub fn next_token_loss(model: &CausalLm, input: &CausalInput, labels: &[i64], device: &Device, trace: &mut Trace) -> Option<(Tensor<1>, usize)> {
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
    let scored = hidden.reshape([batch * seq, width]).select(0, Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), device));
    let logits = trace.record("lm_head (logits of the scored positions)", model.head(scored));
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [n, 1]), device);
    let loss = log_softmax(logits, 1).gather(1, targets).mean().neg();
    Some((trace.record("next-token cross-entropy", loss), n))
}

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
}

/// Language-modelling examples and the id padding them.
#[derive(Clone, Debug)]
pub struct LmSet {
    /// The examples.
    pub examples: Vec<LmExample>,
    /// Put in padding positions (masked and ignored, so its value does not matter).
    pub pad_id: u32,
}

impl LmSet {
    /// Examples `indices`, right-padded to the longest: ids, attention mask and labels,
    /// row-major `[batch, seq]`.
    fn batch(&self, indices: &[usize]) -> (Vec<u32>, Vec<i64>, Vec<i64>, usize) {
        let seq = indices.iter().map(|&i| self.examples[i].ids.len()).max().unwrap_or(0);
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
#[derive(Clone, Debug, PartialEq)]
pub struct LmEvaluation {
    /// Mean cross-entropy per predicted token (nats).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Tokens predicted.
    pub tokens: usize,
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
        let (mut total, mut tokens) = (0.0f64, 0usize);
        let all: Vec<usize> = (0..valid.examples.len()).collect();
        for indices in all.chunks(batch_size.max(1)) {
            let (ids, mask, labels, _) = valid.batch(indices);
            let input = CausalInput::new(&ids, &mask, indices.len(), 0, device);
            let Some((loss, n)) = next_token_loss(model, &input, &labels, device, &mut Trace::off()) else { continue };
            let data = loss.into_data_async().await.map_err(|e| super::TrainError::Device(format!("{e:?}")))?;
            let value: Vec<f32> = data.try_into_vec().map_err(|e| super::TrainError::Device(format!("{e:?}")))?;
            total += value[0] as f64 * n as f64;
            tokens += n;
        }
        let loss = total / tokens.max(1) as f64;
        Ok(Some(LmEvaluation { loss, perplexity: loss.exp(), tokens }))
    }

    fn measures(metric: super::BestMetric) -> bool {
        metric == super::BestMetric::Loss
    }

    fn metric(evaluation: &LmEvaluation, metric: super::BestMetric) -> Option<f64> {
        (metric == super::BestMetric::Loss).then_some(evaluation.loss)
    }
}
