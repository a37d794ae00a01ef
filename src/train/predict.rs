//! Predictions (label and class probabilities) and evaluation of a classifier, batched,
//! with dropout off and asynchronous readbacks.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::metrics::EvalReport;
use crate::checkpoint::{EncodedBatch, TextInput, TextTokenizer};
use crate::data::TokenizedSet;
use crate::model::{SequenceClassifier, ModelError};

/// One input's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The most probable label.
    pub label: String,
    /// Its class id.
    pub index: usize,
    /// Probability of each label, in label order.
    pub probs: Vec<f32>,
}

async fn logits(model: &SequenceClassifier, batch: &EncodedBatch, device: &Device) -> Result<Vec<Vec<f32>>, ModelError> {
    if batch.batch_size == 0 {
        return Ok(Vec::new());
    }
    let out = model.forward_batch(batch, device);
    let [_, classes] = out.dims();
    let values: Vec<f32> = out
        .into_data_async()
        .await
        .map_err(|e| ModelError::Readback(format!("{e:?}")))?
        .try_into_vec()
        .map_err(|e| ModelError::Conversion(format!("{e:?}")))?;
    Ok(values.chunks_exact(classes).map(<[f32]>::to_vec).collect())
}

/// Softmax in f64 and the cross-entropy against `target`, from one row of logits.
fn softmax_and_loss(row: &[f32], target: Option<usize>) -> (Vec<f32>, f64) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    let loss = target.map(|t| -(row[t] as f64 - max - sum.ln())).unwrap_or(0.0);
    (exps.iter().map(|e| (e / sum) as f32).collect(), loss)
}

fn to_prediction(probs: Vec<f32>, labels: &[String]) -> Prediction {
    let index = probs
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best })
        .0;
    Prediction {
        label: labels.get(index).cloned().unwrap_or_default(),
        index,
        probs,
    }
}

/// Evaluates `model` (validation mode, on `device`) on a labelled set: the metrics and each
/// example's prediction, in set order.
pub async fn score(
    model: &SequenceClassifier,
    set: &TokenizedSet,
    labels: &[String],
    batch_size: usize,
    device: &Device,
) -> Result<(EvalReport, Vec<Prediction>), ModelError> {
    let indices: Vec<usize> = (0..set.len()).collect();
    let mut predictions = Vec::with_capacity(set.len());
    let mut truth = Vec::with_capacity(set.len());
    let mut loss_sum = 0.0;
    for chunk in indices.chunks(batch_size.max(1)) {
        for (row, &i) in logits(model, &set.batch(chunk), device).await?.iter().zip(chunk) {
            let target = set.labels[i];
            let (probs, loss) = softmax_and_loss(row, target);
            loss_sum += loss;
            truth.push(target.unwrap_or(0));
            predictions.push(to_prediction(probs, labels));
        }
    }
    let predicted: Vec<usize> = predictions.iter().map(|p| p.index).collect();
    Ok((EvalReport::from_predictions(labels, &truth, &predicted, loss_sum), predictions))
}

/// Evaluates a labelled set (convenience for the CLI's `evaluate`).
pub async fn evaluate_examples(
    model: &SequenceClassifier,
    set: &TokenizedSet,
    labels: &[String],
    batch_size: usize,
    device: &Device,
) -> Result<EvalReport, ModelError> {
    Ok(score(model, set, labels, batch_size, device).await?.0)
}

/// Predicts labels for new inputs, in order, `batch_size` at a time.
pub async fn predict(
    model: &SequenceClassifier,
    tokenizer: &TextTokenizer,
    inputs: &[TextInput],
    labels: &[String],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Prediction>, ModelError> {
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(batch_size.max(1)) {
        let batch = tokenizer.encode_batch(chunk)?;
        for row in logits(model, &batch, device).await? {
            out.push(to_prediction(softmax_and_loss(&row, None).0, labels));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_and_loss_of_known_logits() {
        let (p, loss) = softmax_and_loss(&[0.0, (2.0f32).ln()], Some(1));
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-6 && (p[1] - 2.0 / 3.0).abs() < 1e-6);
        assert!((loss - (1.5f64).ln()).abs() < 1e-6);
    }
}
