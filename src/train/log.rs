//! The training log: one plain row per optimizer step, with the validation metrics
//! on the steps that ended in an evaluation. The studio draws its charts from it and
//! offers it as a download; the CLI writes it beside the model as
//! `training_log.csv`. Both write the same CSV, so runs can be compared line by line.

use super::{EvalReport, StepReport};

/// The CSV header, shared by every writer and by readers that check it.
pub const LOG_CSV_HEADER: &str = "step,epoch,loss,learning_rate,grad_norm,samples_per_second,elapsed_s,valid_loss,valid_accuracy,valid_macro_f1";

/// One row of the training log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRow {
    /// Optimizer step.
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Training loss of the step.
    pub loss: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Throughput of the step.
    pub samples_per_second: f64,
    /// Seconds of training (steps and evaluations) since the run started.
    pub elapsed: f64,
    /// Validation loss, accuracy and macro F1 when the step ended with an evaluation.
    pub eval: Option<(f64, f64, f64)>,
}

impl LogRow {
    /// The row for a finished step, `elapsed` seconds into the run.
    pub fn from_step(step: &StepReport, elapsed: f64) -> Self {
        Self {
            step: step.step,
            epoch: step.epoch,
            loss: step.loss,
            learning_rate: step.learning_rate,
            grad_norm: step.grad_norm,
            samples_per_second: step.samples_per_second,
            elapsed,
            eval: None,
        }
    }

    /// Records the evaluation that ended this row's step.
    pub fn set_eval(&mut self, eval: &EvalReport) {
        self.eval = Some((eval.loss, eval.accuracy, eval.macro_f1));
    }
}

/// The log as CSV: a header, then one row per step; the validation columns are
/// empty on steps without an evaluation. Numbers are written in full (Rust's
/// shortest round-trip form), so reading them back gives the same values.
pub fn log_csv(rows: &[LogRow]) -> String {
    let mut out = format!("{LOG_CSV_HEADER}\n");
    for r in rows {
        let (vl, va, vf) = match r.eval {
            Some((l, a, f)) => (l.to_string(), a.to_string(), f.to_string()),
            None => Default::default(),
        };
        out += &format!(
            "{},{},{},{},{},{},{:.3},{vl},{va},{vf}\n",
            r.step, r.epoch, r.loss, r.learning_rate, r.grad_norm, r.samples_per_second, r.elapsed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_the_header_and_empty_validation_cells_between_evaluations() {
        let mut rows = vec![
            LogRow { step: 1, epoch: 1, loss: 0.75, learning_rate: 1e-3, grad_norm: 2.5, samples_per_second: 4.0, elapsed: 1.23456, eval: None },
            LogRow { step: 2, epoch: 1, loss: 0.5, learning_rate: 5e-4, grad_norm: 1.0, samples_per_second: 8.0, elapsed: 2.0, eval: None },
        ];
        rows[1].eval = Some((0.625, 0.5, 1.0 / 3.0));
        assert_eq!(
            log_csv(&rows),
            format!("{LOG_CSV_HEADER}\n1,1,0.75,0.001,2.5,4,1.235,,,\n2,1,0.5,0.0005,1,8,2.000,0.625,0.5,0.3333333333333333\n")
        );
        assert_eq!(log_csv(&[]), format!("{LOG_CSV_HEADER}\n"));
    }
}
