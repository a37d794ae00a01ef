//! The part of a session that is the same for every task: stepping the trainer, timing,
//! the run log, the divergence stop, how the run ended and which weights are kept.

use burn::tensor::Device;
use web_time::Instant;

use super::{Ended, Evaluation};
use crate::train::{LogRow, StepProgress, StepReport, StopReason, Task, TrainError, Trainer};

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

    /// Records a step (see [`Trainer::step`]) and logs every step read back with it. A
    /// non-finite loss after training began ends the run, keeping the last good weights.
    pub async fn step(&mut self) -> Result<StepProgress, TrainError> {
        let started = Instant::now();
        let result = self.trainer.step().await;
        self.seconds += started.elapsed().as_secs_f64();
        match result {
            Ok(progress) => {
                self.log_steps(&progress.logged);
                Ok(progress)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Reads back the steps still on the device (see [`Trainer::read_back`]) and logs them.
    /// A divergence found here ends the run as in [`Run::step`].
    pub async fn read_back(&mut self) -> Result<(), TrainError> {
        let started = Instant::now();
        let result = self.trainer.read_back().await;
        self.seconds += started.elapsed().as_secs_f64();
        let logged = self.trainer.take_logged();
        self.log_steps(&logged);
        result.map_err(|e| self.failed(e))
    }

    /// Logs what was read back before a failure, and ends the run on a divergence.
    fn failed(&mut self, e: TrainError) -> TrainError {
        let logged = self.trainer.take_logged();
        self.log_steps(&logged);
        if let TrainError::NonFinite { step, .. } = &e
            && !e.before_any_update()
        {
            self.diverged = Some((*step, e.to_string()));
        }
        e
    }

    /// One log row per step read back. Steps read back together share their throughput;
    /// their elapsed times are spread evenly back from now.
    fn log_steps(&mut self, steps: &[StepReport]) {
        for (i, step) in steps.iter().enumerate() {
            let later = (steps.len() - 1 - i) as f64 * step.seconds;
            self.log.push(LogRow::from_step(step, (self.seconds - later).max(0.0)));
        }
    }

    /// Evaluates (see [`Trainer::evaluate`]) and records `summary` of it on the log's last row.
    pub async fn evaluate(&mut self, summary: impl Fn(&T::Evaluation) -> Evaluation) -> Result<Option<Evaluation>, TrainError> {
        // The evaluation belongs on the last step's row: every step logged first.
        self.read_back().await?;
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
