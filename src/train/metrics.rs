//! Classification metrics from predictions, as scikit-learn's `classification_report`
//! computes them (zero_division = 0).

use serde::{Deserialize, Serialize};

/// Precision, recall and F1 of one label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The label's name.
    pub label: String,
    /// Of the examples predicted as this label, the share that are.
    pub precision: f64,
    /// Of the examples that are this label, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Examples of this label.
    pub support: usize,
}

/// The result of one evaluation: plain data for the UI, the CLI and metrics.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Unweighted mean of per-label precision.
    pub macro_precision: f64,
    /// Unweighted mean of per-label recall.
    pub macro_recall: f64,
    /// Unweighted mean of per-label F1.
    pub macro_f1: f64,
    /// Per label, in label order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts, in label order.
    pub confusion: Vec<Vec<usize>>,
    /// The label names, in order.
    pub labels: Vec<String>,
    /// Examples evaluated.
    pub examples: usize,
}

impl EvalReport {
    /// Metrics from true and predicted label indices (same length) and the summed loss.
    pub fn from_predictions(labels: &[String], truth: &[usize], predicted: &[usize], loss_sum: f64) -> Self {
        let n = labels.len();
        let mut confusion = vec![vec![0usize; n]; n];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t][p] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|k| {
                let tp = confusion[k][k];
                let predicted_k: usize = (0..n).map(|t| confusion[t][k]).sum();
                let support: usize = confusion[k].iter().sum();
                let precision = ratio(tp, predicted_k);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
                ClassMetrics {
                    label: labels[k].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let mean = |f: fn(&ClassMetrics) -> f64| if n == 0 { 0.0 } else { per_class.iter().map(f).sum::<f64>() / n as f64 };
        let correct: usize = (0..n).map(|k| confusion[k][k]).sum();
        Self {
            loss: if truth.is_empty() { 0.0 } else { loss_sum / truth.len() as f64 },
            accuracy: ratio(correct, truth.len()),
            macro_precision: mean(|c| c.precision),
            macro_recall: mean(|c| c.recall),
            macro_f1: mean(|c| c.f1),
            per_class,
            confusion,
            labels: labels.to_vec(),
            examples: truth.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_confusion_matrix() {
        // truth:     a a a b b c
        // predicted: a a b b c c
        let r = EvalReport::from_predictions(&labels(&["a", "b", "c"]), &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3.0);
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.loss, 0.5);
        // a: P 2/2, R 2/3, F1 0.8; b: P 1/2, R 1/2, F1 0.5; c: P 1/2, R 1, F1 2/3.
        let f1: Vec<f64> = r.per_class.iter().map(|c| c.f1).collect();
        assert!((f1[0] - 0.8).abs() < 1e-12 && (f1[1] - 0.5).abs() < 1e-12 && (f1[2] - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((r.macro_precision - (1.0 + 0.5 + 0.5) / 3.0).abs() < 1e-12);
        assert!((r.macro_recall - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(r.per_class.iter().map(|c| c.support).collect::<Vec<_>>(), vec![3, 2, 1]);
    }

    #[test]
    fn a_never_predicted_label_scores_zero_not_nan() {
        let r = EvalReport::from_predictions(&labels(&["x", "y"]), &[0, 1], &[0, 0], 0.0);
        assert_eq!(r.per_class[1].precision, 0.0);
        assert_eq!(r.per_class[1].f1, 0.0);
        assert!((r.per_class[0].precision - 0.5).abs() < 1e-12);
    }
}
