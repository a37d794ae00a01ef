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
