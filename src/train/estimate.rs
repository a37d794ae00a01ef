//! How much device memory full fine-tuning needs, estimated before any GPU work, so
//! impossible settings are refused with a reason instead of failing mid-run.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CausalConfig, ModelConfig};

/// Bytes per f32.
const F32: u64 = 4;

/// An estimate of the memory a training step holds, in bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// Trainable parameters (encoder, pooler, classifier).
    pub parameters: u64,
    /// The weights.
    pub weights: u64,
    /// Their gradients.
    pub gradients: u64,
    /// AdamW's two moments.
    pub optimizer: u64,
    /// Activations kept for the backward pass of one micro-batch (approximate).
    pub activations: u64,
    /// What the optimizer step holds beside weights, gradients and moments once the
    /// activations are gone: the gradients gathered flat (a second copy while they are
    /// concatenated) and the update's temporaries, a few buffers of one bucket each.
    #[serde(default)]
    pub update: u64,
    /// The largest single buffer (embedding table, attention scores or feed-forward
    /// activations): it must fit the device's buffer size limits.
    pub largest_buffer: u64,
    /// Everything together.
    pub total: u64,
}

impl MemoryEstimate {
    /// Full fine-tuning of a sequence classifier of `config` with `labels` classes at `batch` examples of `seq`
    /// tokens per micro-batch. Activations count what each layer keeps for backward
    /// (inputs of the linear maps, attention scores and probabilities, dropout masks).
    pub fn classifier(config: &ModelConfig, labels: usize, batch: usize, seq: usize) -> Self {
        let parameters = config.classifier_parameters(labels);
        let d = config.dims();
        let (b, s) = (batch as u64, seq as u64);
        let (h, i, heads) = (d.hidden_size as u64, d.intermediate_size as u64, d.heads as u64);
        let per_layer = b * s * (10 * h + 3 * i) + 3 * b * heads * s * s;
        let activations = F32 * (d.layers as u64 * per_layer + 4 * b * s * h);
        let largest_buffer = F32 * (d.vocab_size as u64 * h).max(b * heads * s * s).max(b * s * i);
        let weights = F32 * parameters;
        let update = update_bytes(weights);
        Self { parameters, weights, gradients: weights, optimizer: 2 * weights, activations, update, largest_buffer, total: 4 * weights + activations.max(update) }
    }
}

impl MemoryEstimate {
    /// Full fine-tuning of a causal language model at `batch` sequences of `seq` tokens
    /// per micro-batch. Activations count, per layer and token, the inputs of the linear
    /// maps and the feed-forward's intermediate values, plus the attention scores and
    /// probabilities; and the logits and their log-softmax over the vocabulary for every
    /// position (the worst case: plain text, where every position is scored), which for
    /// large vocabularies is the largest buffer.
    pub fn causal_lm(config: &CausalConfig, batch: usize, seq: usize) -> Self {
        let parameters = config.parameters();
        let (h, layers, heads, i) = config.shape();
        let (b, s, v) = (batch as u64, seq as u64, config.vocab_size() as u64);
        let (h, i, heads) = (h as u64, i as u64, heads as u64);
        let per_layer = b * s * (8 * h + 4 * i) + 2 * b * heads * s * s;
        let logits = 2 * b * s * v;
        let activations = F32 * (layers as u64 * per_layer + 2 * b * s * h + logits);
        let largest_buffer = F32 * (v * h).max(b * heads * s * s).max(b * s * i).max(b * s * v);
        let weights = F32 * parameters;
        let update = update_bytes(weights);
        Self { parameters, weights, gradients: weights, optimizer: 2 * weights, activations, update, largest_buffer, total: 4 * weights + activations.max(update) }
    }
}

/// [`MemoryEstimate::update`] for `weights` bytes of parameters: the flat copy of the
/// gradients, and four buffers of a bucket (m̂, v̂'s root, the update and one more in flight;
/// `optimizer::BUCKET_VALUES`).
fn update_bytes(weights: u64) -> u64 {
    let bucket = F32 * super::optimizer::BUCKET_VALUES as u64;
    weights + 4 * weights.min(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minilm() -> ModelConfig {
        let json = br#"{"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
            "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
            "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}"#;
        ModelConfig::from_json(json).unwrap()
    }

    #[test]
    fn counts_minilm_parameters_like_transformers() {
        // transformers: BertForSequenceClassification(all-MiniLM-L6-v2, num_labels=2).num_parameters()
        assert_eq!(minilm().classifier_parameters(2), 22_713_986);
    }

    /// transformers' `num_parameters()` of GPT-2, SmolLM2-135M, Qwen2.5-0.5B, Llama 3.2 1B,
    /// TinyLlama 1.1B and the tiny fixtures (`tests/fixtures/causal_sizes.json`).
    #[test]
    fn counts_causal_parameters_like_transformers() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/causal_sizes.json")).unwrap();
        let record: serde_json::Value = serde_json::from_str(&text).unwrap();
        let models = record["models"].as_object().unwrap();
        assert_eq!(models.len(), 8);
        for (name, m) in models {
            let config = CausalConfig::from_json(m["config"].to_string().as_bytes()).unwrap();
            assert_eq!(config.parameters(), m["parameters"].as_u64().unwrap(), "{name}");
        }
    }

    #[test]
    fn a_large_vocabulary_makes_the_logits_the_largest_buffer() {
        let smollm = br#"{"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
            "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "tie_word_embeddings": true}"#;
        let e = MemoryEstimate::causal_lm(&CausalConfig::from_json(smollm).unwrap(), 8, 512);
        assert_eq!(e.parameters, 134_515_008);
        assert_eq!(e.largest_buffer, 4 * 8 * 512 * 49152);
        assert_eq!(e.total, 4 * e.weights + e.activations);
        // At one short sequence the optimizer step, not the activations, is the peak: the
        // gathered gradients (538 MB) and four 128 MiB buffers.
        let small = MemoryEstimate::causal_lm(&CausalConfig::from_json(smollm).unwrap(), 1, 16);
        assert_eq!(small.update, small.weights + 4 * 4 * (32 << 20));
        assert_eq!(small.total, 4 * small.weights + small.update);
        // 2.15 GB of weights, gradients and moments; activations above 3 GB at 8 × 512.
        assert!(e.weights * 4 > 2_000_000_000 && e.activations > 3_000_000_000, "{e:?}");
    }

    #[test]
    fn attention_scores_dominate_long_inputs() {
        let e = MemoryEstimate::classifier(&minilm(), 2, 32, 512);
        assert_eq!(e.largest_buffer, 4 * 32 * 12 * 512 * 512);
        assert_eq!(e.total, 4 * e.weights + e.activations);
        let short = MemoryEstimate::classifier(&minilm(), 2, 32, 128);
        assert_eq!(short.largest_buffer, 4 * 30522 * 384, "the embedding table is the largest buffer at 128 tokens");
        assert!(short.activations * 8 < e.activations);
    }
}
