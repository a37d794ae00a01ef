//! How much device memory full fine-tuning needs, estimated before any GPU work, so
//! impossible settings are refused with a reason instead of failing mid-run.

use serde::Serialize;

use crate::checkpoint::ModelConfig;

/// Bytes per f32.
const F32: u64 = 4;

/// An estimate of the memory a training step holds, in bytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
        let total = 4 * weights + activations;
        Self { parameters, weights, gradients: weights, optimizer: 2 * weights, activations, largest_buffer, total }
    }
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
