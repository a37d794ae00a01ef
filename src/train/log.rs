//! The training log: one plain row per optimizer step, with the validation metrics
//! on the steps that ended in an evaluation. The studio draws its charts from it and
//! offers it as a download; the CLI writes it beside the model as
//! `training_log.csv`. Both write the same CSV, so runs can be compared line by line.

use super::StepReport;

/// The CSV header of a classification run, shared by every writer and by readers that
/// check it.
pub const LOG_CSV_HEADER: &str = "step,epoch,loss,learning_rate,grad_norm,samples_per_second,elapsed_s,valid_loss,valid_accuracy,valid_macro_f1";
/// The CSV header of a language-modelling run.
pub const LM_LOG_CSV_HEADER: &str = "step,epoch,loss,learning_rate,grad_norm,samples_per_second,elapsed_s,valid_loss,valid_perplexity";

/// What an evaluation measured, as the log keeps it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EvalPoint {
    /// A classifier's validation loss, accuracy and macro F1.
    Classification {
        /// Mean cross-entropy.
        loss: f64,
        /// Share correct.
        accuracy: f64,
        /// Macro-averaged F1.
        macro_f1: f64,
    },
    /// A language model's validation loss and perplexity.
    LanguageModel {
        /// Mean next-token cross-entropy.
        loss: f64,
        /// `exp(loss)`.
        perplexity: f64,
    },
}

impl EvalPoint {
    /// The validation loss.
    pub fn loss(&self) -> f64 {
        match *self {
            Self::Classification { loss, .. } | Self::LanguageModel { loss, .. } => loss,
        }
    }

    /// The other measures, by name, in the log's column order.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Self::Classification { accuracy, macro_f1, .. } => vec![("accuracy", accuracy), ("macro F1", macro_f1)],
            Self::LanguageModel { perplexity, .. } => vec![("perplexity", perplexity)],
        }
    }
}

/// Which task's columns a log has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// [`LOG_CSV_HEADER`].
    Classification,
    /// [`LM_LOG_CSV_HEADER`].
    LanguageModel,
}

impl LogKind {
    /// The CSV header.
    pub fn header(self) -> &'static str {
        match self {
            Self::Classification => LOG_CSV_HEADER,
            Self::LanguageModel => LM_LOG_CSV_HEADER,
        }
    }
}

/// One row of the training log.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// What the evaluation that ended the step measured, when one did.
    pub eval: Option<EvalPoint>,
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
    pub fn set_eval(&mut self, eval: EvalPoint) {
        self.eval = Some(eval);
    }
}

/// The log as CSV: a header, then one row per step; the validation columns are
/// empty on steps without an evaluation. Numbers are written in full (Rust's
/// shortest round-trip form), so reading them back gives the same values.
pub fn log_csv(rows: &[LogRow], kind: LogKind) -> String {
    let header = kind.header();
    let eval_columns = header.split(',').filter(|c| c.starts_with("valid_")).count();
    let mut out = format!("{header}\n");
    for r in rows {
        let eval = match r.eval {
            Some(e) => std::iter::once(e.loss()).chain(e.metrics().into_iter().map(|(_, v)| v)).map(|v| v.to_string()).collect::<Vec<_>>().join(","),
            None => ",".repeat(eval_columns - 1),
        };
        out += &format!(
            "{},{},{},{},{},{},{:.3},{eval}\n",
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
        rows[1].eval = Some(EvalPoint::Classification { loss: 0.625, accuracy: 0.5, macro_f1: 1.0 / 3.0 });
        assert_eq!(
            log_csv(&rows, LogKind::Classification),
            format!("{LOG_CSV_HEADER}\n1,1,0.75,0.001,2.5,4,1.235,,,\n2,1,0.5,0.0005,1,8,2.000,0.625,0.5,0.3333333333333333\n")
        );
        assert_eq!(log_csv(&[], LogKind::Classification), format!("{LOG_CSV_HEADER}\n"));
        rows[1].eval = Some(EvalPoint::LanguageModel { loss: 0.5, perplexity: 0.5f64.exp() });
        assert_eq!(
            log_csv(&rows, LogKind::LanguageModel),
            format!("{LM_LOG_CSV_HEADER}\n1,1,0.75,0.001,2.5,4,1.235,,\n2,1,0.5,0.0005,1,8,2.000,0.5,{}\n", 0.5f64.exp())
        );
    }
}
