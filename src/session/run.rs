//! The part of a session that is the same for every task: stepping the trainer, timing,
//! the run log, the divergence stop, how the run ended and which weights are kept.

use burn::tensor::Device;
use web_time::Instant;

use super::{Ended, Evaluation};
use crate::train::{LogRow, StepReport, StopReason, Task, TrainError, Trainer};

/// A trainer with its log.
pub(super) struct Run<T: Task> {
    pub trainer: Trainer<T>,
    pub log: Vec<LogRow>,
    pub seconds: f64,
    pub diverged: Option<(usize, String)>,
}

/// The kept weights of a finished run and their validation evaluation.
pub(super) struct Kept<T: Task> {
    pub model: T::Model,
    pub step: usize,
    pub validation: Option<T::Evaluation>,
}

impl<T: Task> Run<T> {
    pub fn new(trainer: Trainer<T>) -> Self {
        Self { trainer, log: Vec::new(), seconds: 0.0, diverged: None }
    }

    pub fn is_finished(&self) -> bool {
        self.trainer.is_finished() || self.diverged.is_some()
    }

    pub async fn step(&mut self) -> Result<StepReport, TrainError> {
        let started = Instant::now();
        let result = self.trainer.step().await;
        self.seconds += started.elapsed().as_secs_f64();
        match result {
            Ok(step) => {
                self.log.push(LogRow::from_step(&step, self.seconds));
                Ok(step)
            }
            Err(e @ TrainError::NonFinite { step, .. }) if !e.before_any_update() => {
                self.diverged = Some((step, e.to_string()));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Evaluates (see [`Trainer::evaluate`]) and records `summary` of it on the log's last row.
    pub async fn evaluate(&mut self, summary: impl Fn(&T::Evaluation) -> Evaluation) -> Result<Option<Evaluation>, TrainError> {
        let started = Instant::now();
        let evaluation = self.trainer.evaluate().await;
        self.seconds += started.elapsed().as_secs_f64();
        let Some(evaluation) = evaluation? else { return Ok(None) };
        let summary = summary(&evaluation);
        if let Some(row) = self.log.last_mut() {
            row.set_eval(summary.point());
        }
        Ok(Some(summary))
    }

    /// How the run ended; one that did not end by itself was stopped by the front end.
    pub fn ended(&self) -> Ended {
        match (&self.diverged, self.trainer.stop_reason()) {
            (Some((step, message)), _) => Ended::Diverged { step: *step, message: message.clone() },
            (None, Some(StopReason::EarlyStopping { step })) => Ended::EarlyStopping { step: *step },
            (None, Some(StopReason::Completed)) => Ended::Completed,
            _ => Ended::Stopped { step: self.trainer.steps_done() },
        }
    }

    /// The kept weights (the best evaluation's, else the last) and their validation
    /// evaluation (the best one, or made now for the last weights).
    pub async fn kept(&self) -> Result<Kept<T>, TrainError> {
        let model = self.trainer.model_for_export();
        Ok(match self.trainer.best() {
            Some(best) => Kept { model, step: best.step, validation: Some(best.evaluation.clone()) },
            None => {
                let validation = self.trainer.task().evaluate(&model, self.trainer.config().batch_size, self.trainer.device()).await?;
                Kept { model, step: self.trainer.steps_done(), validation }
            }
        })
    }

    /// Takes the log and the time spent from a checkpoint's state.
    pub fn restore(&mut self, state: &super::RunState) {
        self.log = state.log.clone();
        self.seconds = state.seconds;
    }

    pub fn device(&self) -> &Device {
        self.trainer.device()
    }
}
