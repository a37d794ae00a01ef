//! Generation: greedy or sampled (temperature, top-k, top-p), a repetition penalty, a
//! maximum of new tokens, stopping at end-of-sequence ids; with a key/value cache, so
//! each new token costs one position's forward pass, or without one (recomputing the
//! whole sequence, which must give the same tokens).
//!
//! The logit processors are transformers' (`generation/logits_process.py`), applied in the
//! order `generate` applies them: repetition penalty, then temperature, top-k, top-p.

use burn::tensor::Device;

use super::{CausalInput, CausalLm, KvCache};
use crate::model::ModelError;
use crate::model::trace::Trace;
use crate::rng::SeededRng;

/// How the next token is drawn when not greedily.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// Logits are divided by this (> 0; below 1 sharpens, above 1 flattens).
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (ties with the k-th kept), when set.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p`, when set.
    pub top_p: Option<f32>,
    /// The random stream's seed.
    pub seed: u64,
}

impl Sampling {
    /// The first impossible value, as (setting, value, what would work).
    pub fn check(&self) -> Result<(), (&'static str, String, &'static str)> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(("temperature", self.temperature.to_string(), "it must be a positive number (1 samples from the model's own distribution)"));
        }
        if self.top_k == Some(0) {
            return Err(("top_k", "0".into(), "it must be at least 1 (1 is greedy)"));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(("top_p", p.to_string(), "it must be in (0, 1] (1 keeps every token)"));
        }
        Ok(())
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationSettings {
    /// Most tokens to add to each prompt.
    pub max_new_tokens: usize,
    /// `None`: greedy (the most likely token, the first of equals).
    pub sampling: Option<Sampling>,
    /// transformers' `repetition_penalty`: the logit of every token already in the row is
    /// divided by it when positive and multiplied by it when negative; 1 is off.
    pub repetition_penalty: f32,
    /// A row stops after producing one of these (which is kept in its output).
    pub eos_token_ids: Vec<u32>,
    /// The id put in padding positions (masked, so its value does not matter).
    pub pad_token_id: u32,
    /// Whether to keep keys and values between steps (else the whole sequence is
    /// recomputed for every token).
    pub use_cache: bool,
}

impl GenerationSettings {
    /// Greedy decoding of at most `max_new_tokens`, stopping at `stop_ids`, with the cache.
    pub fn greedy(max_new_tokens: usize, stop_ids: Vec<u32>, pad_token_id: u32) -> Self {
        Self { max_new_tokens, sampling: None, repetition_penalty: 1.0, eos_token_ids: stop_ids, pad_token_id, use_cache: true }
    }

    /// A generation's ids without its stop token (the ids of its text).
    pub fn text_ids<'a>(&self, generated: &'a [u32]) -> &'a [u32] {
        match generated.last() {
            Some(last) if self.eos_token_ids.contains(last) => &generated[..generated.len() - 1],
            _ => generated,
        }
    }
}

/// The probabilities of the next token after temperature, top-k and top-p, as
/// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper` compute them
/// (removed tokens get probability 0; top-p always keeps the most likely token).
pub fn warp(logits: &[f32], sampling: &Sampling) -> Vec<f32> {
    let mut scores: Vec<f32> = logits.iter().map(|l| l / sampling.temperature).collect();
    if let Some(k) = sampling.top_k.filter(|&k| k > 0 && k < scores.len()) {
        let mut sorted = scores.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kth = sorted[k - 1];
        for s in &mut scores {
            if *s < kth {
                *s = f32::NEG_INFINITY;
            }
        }
    }
    if let Some(p) = sampling.top_p.filter(|&p| p < 1.0) {
        // Ascending order; the cumulative probability of the lowest tokens up to 1 − p
        // is removed, never the most likely token (min_tokens_to_keep = 1).
        let probs = softmax(&scores);
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        let mut cumulative = 0.0f32;
        for (rank, &i) in order.iter().enumerate() {
            cumulative += probs[i];
            if cumulative <= 1.0 - p && rank + 1 < order.len() {
                scores[i] = f32::NEG_INFINITY;
            }
        }
    }
    softmax(&scores)
}

fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// transformers' `RepetitionPenaltyLogitsProcessor` over the tokens of `seen`.
fn penalise(scores: &mut [f32], seen: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut done = std::collections::HashSet::new();
    for &id in seen {
        if let Some(s) = scores.get_mut(id as usize)
            && done.insert(id)
        {
            *s = if *s < 0.0 { *s * penalty } else { *s / penalty };
        }
    }
}

/// The index of the largest score, the first of equals (as `torch.argmax`).
fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best as u32
}

fn draw(probs: &[f32], rng: &mut SeededRng) -> u32 {
    let target = rng.next_f64() as f32;
    let mut cumulative = 0.0;
    let mut last = 0;
    for (i, p) in probs.iter().enumerate() {
        if *p > 0.0 {
            last = i;
            cumulative += p;
            if cumulative > target {
                return i as u32;
            }
        }
    }
    last as u32
}

/// Continues each prompt (token ids) with up to `max_new_tokens` tokens. Prompts of
/// different lengths are left-padded into one batch; each row's tokens are what it
/// would get alone. Returns the new tokens of each prompt, in order, ending with the
/// end-of-sequence id when one was produced. One readback per step, asynchronous.
pub async fn generate(model: &CausalLm, prompts: &[Vec<u32>], settings: &GenerationSettings, device: &Device) -> Result<Vec<Vec<u32>>, ModelError> {
    generate_streaming(model, prompts, settings, device, |_, _| {}).await
}

/// [`generate`], telling `on_token(row, token)` each new token as soon as it is chosen
/// (to stream a reply).
pub async fn generate_streaming(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    settings: &GenerationSettings,
    device: &Device,
    mut on_token: impl FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>, ModelError> {
    let rows = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if rows == 0 || settings.max_new_tokens == 0 {
        return Ok(vec![Vec::new(); rows]);
    }
    if longest == 0 {
        return Err(ModelError::EmptyPrompt);
    }
    let limit = model.max_tokens();
    if longest + settings.max_new_tokens > limit {
        return Err(ModelError::TooLong { prompt: longest, new_tokens: settings.max_new_tokens, available: limit });
    }
    let mut tokens: Vec<Vec<u32>> = prompts.iter().map(|p| [vec![settings.pad_token_id; longest - p.len()], p.clone()].concat()).collect();
    let mut mask: Vec<Vec<i64>> = prompts.iter().map(|p| [vec![0; longest - p.len()], vec![1; p.len()]].concat()).collect();
    let mut generated = vec![Vec::new(); rows];
    let mut done = vec![false; rows];
    let mut rng = settings.sampling.as_ref().map(|s| SeededRng::new(s.seed));
    let mut cache = KvCache::new();
    let vocab = model.vocab_size();
    for _ in 0..settings.max_new_tokens {
        let past = if settings.use_cache { cache.len() } else { 0 };
        if !settings.use_cache {
            cache = KvCache::new();
        }
        let new: Vec<u32> = tokens.iter().flat_map(|row| row[past..].iter().copied()).collect();
        let flat_mask: Vec<i64> = mask.iter().flatten().copied().collect();
        let input = CausalInput::new(&new, &flat_mask, rows, past, device);
        let logits = model.forward(&input, &mut cache, &mut Trace::off());
        let last = logits.narrow(1, input.new - 1, 1).reshape([rows, vocab]);
        let data = last.into_data_async().await.map_err(|e| ModelError::Readback(format!("{e:?}")))?;
        let values: Vec<f32> = data.try_into_vec().map_err(|e| ModelError::Conversion(format!("{e:?}")))?;
        for (r, row_logits) in values.chunks_exact(vocab).enumerate() {
            if done[r] {
                // A finished row is fed padding, masked, until the others finish.
                tokens[r].push(settings.pad_token_id);
                mask[r].push(0);
                continue;
            }
            let mut scores = row_logits.to_vec();
            let seen: Vec<u32> = tokens[r].iter().zip(&mask[r]).filter(|(_, m)| **m == 1).map(|(t, _)| *t).collect();
            penalise(&mut scores, &seen, settings.repetition_penalty);
            let next = match (&settings.sampling, &mut rng) {
                (Some(sampling), Some(rng)) => draw(&warp(&scores, sampling), rng),
                _ => argmax(&scores),
            };
            generated[r].push(next);
            on_token(r, next);
            done[r] = settings.eos_token_ids.contains(&next);
            tokens[r].push(next);
            mask[r].push(1);
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    Ok(generated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p_and_never_nothing() {
        let logits = [2.0f32.ln(), 1.0f32.ln(), 1.0f32.ln()];
        // Probabilities 0.5, 0.25, 0.25: p 0.6 needs two tokens; of the tied ones the lower
        // id goes first, as in transformers (a stable ascending sort, lowest removed first).
        let probs = warp(&logits, &Sampling { temperature: 1.0, top_k: None, top_p: Some(0.6), seed: 0 });
        assert!((probs[0] - 2.0 / 3.0).abs() < 1e-6 && probs[1] == 0.0, "{probs:?}");
        let probs = warp(&logits, &Sampling { temperature: 1.0, top_k: None, top_p: Some(0.01), seed: 0 });
        assert_eq!(probs, vec![1.0, 0.0, 0.0]);
    }

    #[test]
    fn top_k_keeps_ties_with_the_kth_and_penalty_divides_or_multiplies() {
        let probs = warp(&[3.0, 1.0, 1.0, 0.0], &Sampling { temperature: 1.0, top_k: Some(2), top_p: None, seed: 0 });
        assert!(probs[1] > 0.0 && probs[2] > 0.0 && probs[3] == 0.0, "{probs:?}");
        let mut scores = [2.0, -2.0, 1.0];
        penalise(&mut scores, &[0, 1, 1], 2.0);
        assert_eq!(scores, [1.0, -4.0, 1.0]);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
