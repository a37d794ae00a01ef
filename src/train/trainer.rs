//! The trainer: a step-wise async state machine over any [`Task`]. `step().await` records
//! one optimizer step (`grad_accum` micro-batches) and returns a [`StepProgress`], with the
//! [`StepReport`]s of the steps whose losses were read back with it (every
//! [`TrainConfig::log_every`] steps, in one transfer); `evaluate().await` scores the
//! validation set, keeps the best checkpoint and applies early stopping. The browser's
//! worker drives it from `spawn_local`, yielding between steps; the CLI drives it with a
//! blocking executor. The only readbacks are asynchronous.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Bool, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::classification::SequenceClassification;
use super::config::{BestMetric, Setting, SettingError, TrainConfig};
use super::error::{NonFiniteCause, TrainError};
use super::optimizer::{AdamW, AdamWSettings, FlatGradients, clip_factor};
use super::schedule::{learning_rate, warmup_steps};
use super::task::Task;
use crate::checkpoint::Padding;
use crate::data::{TokenizedSet, batch_order};
use crate::model::{SequenceClassifier, Trace, first_non_finite};

/// One optimizer step whose loss and gradient norm have been read back from the device:
/// plain data for charts, progress bars and logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepReport {
    /// 1-based optimizer step.
    pub step: usize,
    /// Optimizer steps in the whole run.
    pub total_steps: usize,
    /// 1-based epoch of this step.
    pub epoch: usize,
    /// Mean training loss of the step's examples.
    pub loss: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// Training examples seen up to and including this step.
    pub samples_seen: usize,
    /// Examples per second, over the steps read back together with this one.
    pub samples_per_second: f64,
    /// Non-padding tokens per second, over the same steps.
    pub tokens_per_second: f64,
    /// Wall time per step in seconds, over the same steps (the first step, always read
    /// back alone, includes GPU kernel compilation).
    pub seconds: f64,
}

/// What one call of [`Trainer::step`] did: one optimizer step recorded on the device, and
/// the steps whose loss and gradient norm were read back with it.
///
/// A step's loss and gradient norm stay on the device until they are read back, all the
/// steps since the last read in one transfer (see [`TrainConfig::log_every`]): between
/// reads the GPU goes on with the queued steps while the next one is recorded, instead of
/// idling at every step while the host waits for two numbers. Whether a step's update
/// happens is decided on the device (a step whose loss or gradients are not finite, and
/// every step after it, changes nothing), so what a run learns does not depend on when
/// its values are read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepProgress {
    /// 1-based optimizer step just recorded.
    pub step: usize,
    /// Optimizer steps in the whole run.
    pub total_steps: usize,
    /// 1-based epoch of this step.
    pub epoch: usize,
    /// Learning rate of this step.
    pub learning_rate: f64,
    /// Training examples seen so far.
    pub samples_seen: usize,
    /// Wall time of this call in seconds (recording the step, plus the wait for the device
    /// when values were read back).
    pub seconds: f64,
    /// Whether an evaluation is due after this step (`eval_every`, or an epoch ended).
    pub eval_due: bool,
    /// The steps read back by this call, oldest first, this one last; empty when this
    /// step's values are still on the device.
    pub logged: Vec<StepReport>,
}

impl StepProgress {
    /// This step's report, when its values were read back by this call.
    pub fn report(&self) -> Option<&StepReport> {
        self.logged.last().filter(|r| r.step == self.step)
    }
}

/// Why training ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// The metric did not improve for `patience` evaluations.
    EarlyStopping {
        /// The step it stopped at.
        step: usize,
    },
}

/// The best checkpoint so far, by the configured metric.
#[derive(Clone, Debug)]
pub struct Best<T: Task> {
    /// The model at that evaluation (validation mode).
    pub model: T::Model,
    /// Its evaluation.
    pub evaluation: T::Evaluation,
    /// The step it was taken at.
    pub step: usize,
}

/// Reads a float tensor back asynchronously.
async fn read_floats(tensor: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| TrainError::Device(format!("{e:?}")))?
        .try_into_vec()
        .map_err(|e| TrainError::Conversion(format!("{e:?}")))
}

/// The device generator's seed for the step after `steps_done` steps of a run seeded with
/// `seed` (SplitMix64's mixing of the pair, so neighbouring steps share no stream).
fn step_seed(seed: u64, steps_done: usize) -> u64 {
    crate::rng::SeededRng::new(seed ^ (steps_done as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// Suffixes of the optimizer moments' names in a checkpoint, as PyTorch's AdamW calls them.
const EXP_AVG: &str = "exp_avg";
const EXP_AVG_SQ: &str = "exp_avg_sq";

/// The best evaluation so far, as a checkpoint keeps it (its weights are stored apart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestState<E> {
    /// The step it was taken at.
    pub step: usize,
    /// Its evaluation.
    pub evaluation: E,
}

/// A trainer's progress as plain data: [`Trainer::state`] and [`Trainer::restore`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState<E> {
    /// Optimizer steps taken.
    pub step: usize,
    /// Epochs completed.
    pub epoch: usize,
    /// Batches of the current epoch already used.
    pub cursor: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// Training examples seen.
    pub samples_seen: usize,
    /// AdamW's step count (its bias correction).
    pub optimizer_steps: i32,
    /// Evaluations since the best one (early stopping's count).
    pub evals_without_improvement: usize,
    /// Why training ended, if it has.
    pub stopped: Option<StopReason>,
    /// The step of the last evaluation.
    pub last_eval_step: Option<usize>,
    /// The best evaluation so far.
    pub best: Option<BestState<E>>,
}

/// Trains a model on a task one optimizer step at a time.
pub struct Trainer<T: Task> {
    model: T::Model,
    task: T,
    optimizer: AdamW,
    config: TrainConfig,
    device: Device,
    train_device: Device,
    epoch: usize,
    order: Vec<Vec<usize>>,
    cursor: usize,
    step: usize,
    total_steps: usize,
    warmup: usize,
    samples_seen: usize,
    best: Option<Best<T>>,
    evals_without_improvement: usize,
    stopped: Option<StopReason>,
    last_eval_step: Option<usize>,
    /// Steps recorded whose loss and gradient norm are still on the device, oldest first.
    pending: Vec<Pending>,
    /// Steps read back and not yet handed out ([`Trainer::take_logged`]).
    logged: Vec<StepReport>,
    /// Whether every step so far had a finite loss and finite gradients, on the device: the
    /// guard of the next update.
    healthy: Option<Tensor<1, Bool>>,
    /// When the first pending step began.
    interval_started: Option<Instant>,
    /// Steps between reads when [`TrainConfig::log_every`] is automatic.
    auto_interval: usize,
}

/// A recorded step whose values are still on the device.
struct Pending {
    step: usize,
    epoch: usize,
    learning_rate: f64,
    samples: usize,
    tokens: usize,
    samples_seen: usize,
    /// Its micro-batches, to compute it again if it failed.
    micro: Vec<Vec<usize>>,
    /// `[loss, gradient norm]`.
    values: Tensor<1>,
    /// The trainer's place before it, to go back to if it failed.
    before: Place,
}

/// Where a trainer is in its run, on the host.
#[derive(Clone)]
struct Place {
    epoch: usize,
    cursor: usize,
    samples_seen: usize,
    stopped: Option<StopReason>,
}

/// With [`TrainConfig::log_every`] automatic, values are read back about this often.
const AUTO_READ_SECONDS: f64 = 1.0;
/// And never fewer than once every this many steps.
const AUTO_READ_MAX_STEPS: usize = 50;

impl Trainer<SequenceClassification> {
    /// A sequence-classification trainer (see [`Trainer::with_task`]).
    pub fn new(
        model: SequenceClassifier,
        labels: Vec<String>,
        train: TokenizedSet,
        valid: Option<TokenizedSet>,
        config: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        Self::with_task(model, SequenceClassification { labels, train, valid }, config, device)
    }

    /// The label names in class-id order.
    pub fn labels(&self) -> &[String] {
        &self.task.labels
    }
}

impl<T: Task> Trainer<T> {
    /// Prepares training. `model` must live on `device.autodiff()`; `device` is the plain
    /// device (evaluation runs there). Checks settings and data before any GPU work.
    pub fn with_task(model: T::Model, mut task: T, config: TrainConfig, device: Device) -> Result<Self, TrainError> {
        config.validate()?;
        task.check(&model)?;
        task.set_padding(&model, Padding { multiple: config.pad_to_multiple_of, cap: config.max_length });
        if !T::measures(config.best_metric) {
            return Err(TrainError::Setting(SettingError {
                setting: Setting::BestMetric,
                value: serde_json::to_value(config.best_metric).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                reason: "this task does not measure it; choose loss".into(),
            }));
        }
        let batches_per_epoch = task.train_len().div_ceil(config.batch_size);
        let total_steps = config.epochs * batches_per_epoch.div_ceil(config.grad_accum);
        let optimizer = AdamW::new(AdamWSettings {
            beta1: config.beta1,
            beta2: config.beta2,
            epsilon: config.epsilon,
            weight_decay: config.weight_decay,
        });
        device.seed(config.seed);
        let order = batch_order(&task.train_lengths(), config.batch_size, config.seed, 0, config.group_by_length);
        Ok(Self {
            model,
            task,
            optimizer,
            warmup: warmup_steps(config.warmup_ratio, total_steps),
            train_device: device.clone().autodiff(),
            device,
            epoch: 0,
            order,
            cursor: 0,
            step: 0,
            total_steps,
            samples_seen: 0,
            best: None,
            evals_without_improvement: 0,
            stopped: None,
            last_eval_step: None,
            pending: Vec::new(),
            logged: Vec::new(),
            healthy: None,
            interval_started: None,
            auto_interval: 1,
            config,
        })
    }

    /// Optimizer steps in the whole run.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Steps taken.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The task.
    pub fn task(&self) -> &T {
        &self.task
    }

    /// The plain device (evaluation, export).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The step of the last evaluation, if any.
    pub fn last_eval_step(&self) -> Option<usize> {
        self.last_eval_step
    }

    /// The settings in use.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Reads values back every `every` steps from now on (`None`: automatically); see
    /// [`TrainConfig::log_every`].
    pub fn set_log_every(&mut self, every: Option<usize>) {
        self.config.log_every = every.map(|n| n.max(1));
    }

    /// Whether training has ended (all epochs, or early stopping).
    pub fn is_finished(&self) -> bool {
        self.stopped.is_some()
    }

    /// Why training ended, once it has.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stopped.as_ref()
    }

    /// The best checkpoint so far, when there is a validation set.
    pub fn best(&self) -> Option<&Best<T>> {
        self.best.as_ref()
    }

    /// The model to export: the best checkpoint when there is one, else the current
    /// weights; in validation mode.
    pub fn model_for_export(&self) -> T::Model {
        match &self.best {
            Some(best) => best.model.clone(),
            None => self.model.valid(),
        }
    }

    /// The weights as they are now, in validation mode.
    pub fn current_model(&self) -> T::Model {
        self.model.valid()
    }

    /// Records one optimizer step on the device, and reads back the values of the steps
    /// recorded since the last read when it is time to (see [`StepProgress`]): at the
    /// first step, every [`TrainConfig::log_every`] steps, before an evaluation is due and
    /// at the end of training. A step whose loss or gradients were not finite is found
    /// then: the trainer goes back to the step before it (whose weights it still has, as
    /// no update after a failed step happens) and returns [`TrainError::NonFinite`]; the
    /// steps read back before it are kept for [`Trainer::take_logged`].
    pub async fn step(&mut self) -> Result<StepProgress, TrainError> {
        if self.is_finished() {
            return Err(TrainError::Data("training has already finished".into()));
        }
        let started = Instant::now();
        self.interval_started.get_or_insert(started);
        let before = self.place();
        // Dropout draws from the device's generator, seeded afresh for each step from the
        // run's seed and the step: a run resumed from a checkpoint draws what the
        // uninterrupted run drew, on any backend.
        self.train_device.seed(step_seed(self.config.seed, self.step));
        let end = (self.cursor + self.config.grad_accum).min(self.order.len());
        let micro: Vec<Vec<usize>> = self.order[self.cursor..end].to_vec();
        let step_samples: usize = micro.iter().map(Vec::len).sum();
        let mut accumulator = GradientsAccumulator::new();
        let mut losses = Vec::with_capacity(micro.len());
        let mut tokens = 0usize;
        for indices in &micro {
            let (loss, batch_tokens) = self.task.loss(&self.model, indices, &self.train_device, &mut Trace::off());
            tokens += batch_tokens;
            // Weighted by the micro-batch's share of the step's examples, the summed
            // gradients are those of the mean loss over all of them.
            let loss = loss * (indices.len() as f64 / step_samples as f64);
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            accumulator.accumulate(&self.model, grads);
            losses.push(loss.inner());
        }
        let grads = FlatGradients::gather(&self.model, accumulator.grads());
        let norm = grads.norms().global(&self.device);
        let values = Tensor::cat(vec![Tensor::cat(losses, 0).sum(), norm.clone()], 0);
        // The update's guard, decided on the device: this step's loss and gradient norm
        // are finite (a NaN or ∞ in any gradient makes the norm so), and so were every
        // earlier step's.
        let finite = values.clone().sum().is_finite();
        let guard = match self.healthy.take() {
            Some(healthy) => healthy.bool_and(finite),
            None => finite,
        };
        let lr = learning_rate(self.config.schedule, self.config.learning_rate, self.step, self.warmup, self.total_steps);
        let scale = (self.config.max_grad_norm > 0.0).then(|| clip_factor(norm, self.config.max_grad_norm));
        self.model = self.optimizer.step_flat(self.model.clone(), grads, lr, scale, Some(&guard));
        self.healthy = Some(guard);
        self.step += 1;
        self.samples_seen += step_samples;
        self.cursor = end;
        let epoch = self.epoch + 1;
        let epoch_ended = self.cursor >= self.order.len();
        if epoch_ended {
            self.epoch += 1;
            self.cursor = 0;
            if self.epoch >= self.config.epochs {
                self.stopped = Some(StopReason::Completed);
            } else {
                self.order = batch_order(&self.task.train_lengths(), self.config.batch_size, self.config.seed, self.epoch, self.config.group_by_length);
            }
        }
        let eval_due = self.task.has_validation()
            && match self.config.eval_every {
                Some(n) => self.step.is_multiple_of(n) || self.is_finished(),
                None => epoch_ended,
            };
        self.pending.push(Pending {
            step: self.step,
            epoch,
            learning_rate: lr,
            samples: step_samples,
            tokens,
            samples_seen: self.samples_seen,
            micro,
            values,
            before,
        });
        let interval = match self.config.log_every {
            Some(n) => n.max(1),
            None => self.auto_interval,
        };
        if self.step == 1 || eval_due || self.is_finished() || self.pending.len() >= interval {
            self.read_back().await?;
        }
        Ok(StepProgress {
            step: self.step,
            total_steps: self.total_steps,
            epoch,
            learning_rate: lr,
            samples_seen: self.samples_seen,
            seconds: started.elapsed().as_secs_f64().max(1e-9),
            eval_due,
            logged: std::mem::take(&mut self.logged),
        })
    }

    /// Reads back the values of every step recorded since the last read, in one transfer,
    /// and checks them (see [`Trainer::step`]). Front ends call it before they save or
    /// finish a run; evaluations read back first by themselves.
    pub async fn read_back(&mut self) -> Result<(), TrainError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let values = read_floats(Tensor::cat(pending.iter().map(|p| p.values.clone()).collect(), 0)).await?;
        let seconds = self.interval_started.take().map_or(0.0, |t| t.elapsed().as_secs_f64()).max(1e-9);
        let per_step = seconds / pending.len() as f64;
        let samples: usize = pending.iter().map(|p| p.samples).sum();
        let tokens: usize = pending.iter().map(|p| p.tokens).sum();
        if self.config.log_every.is_none() {
            self.auto_interval = ((AUTO_READ_SECONDS / per_step).floor() as usize).clamp(1, AUTO_READ_MAX_STEPS);
        }
        for (i, p) in pending.iter().enumerate() {
            let (loss, grad_norm) = (values[2 * i] as f64, values[2 * i + 1] as f64);
            if !loss.is_finite() || !grad_norm.is_finite() {
                // Neither this step's update nor any later one happened on the device:
                // go back to the place before it.
                let skipped = (pending.len() - i) as i32;
                self.go_back(p, skipped);
                let cause = self.diagnose(p, loss.is_finite()).await?;
                return Err(TrainError::NonFinite {
                    step: p.step,
                    loss,
                    last_good: self.step,
                    cause,
                });
            }
            self.logged.push(StepReport {
                step: p.step,
                total_steps: self.total_steps,
                epoch: p.epoch,
                loss,
                learning_rate: p.learning_rate,
                grad_norm,
                samples_seen: p.samples_seen,
                samples_per_second: samples as f64 / seconds,
                tokens_per_second: tokens as f64 / seconds,
                seconds: per_step,
            });
        }
        Ok(())
    }

    /// The steps read back and not yet handed out by [`Trainer::step`] (those before a
    /// failed step, say), oldest first.
    pub fn take_logged(&mut self) -> Vec<StepReport> {
        std::mem::take(&mut self.logged)
    }

    fn place(&self) -> Place {
        Place { epoch: self.epoch, cursor: self.cursor, samples_seen: self.samples_seen, stopped: self.stopped.clone() }
    }

    /// Back to the place before `failed`, the first of the last `skipped` steps, none of
    /// whose updates happened.
    fn go_back(&mut self, failed: &Pending, skipped: i32) {
        let place = failed.before.clone();
        if place.epoch != self.epoch && place.epoch < self.config.epochs {
            self.order = batch_order(&self.task.train_lengths(), self.config.batch_size, self.config.seed, place.epoch, self.config.group_by_length);
        }
        self.step = failed.step - 1;
        self.epoch = place.epoch;
        self.cursor = place.cursor;
        self.samples_seen = place.samples_seen;
        self.stopped = place.stopped;
        self.optimizer.forget_steps(skipped);
        self.healthy = None;
    }

    /// Finds what was not finite in the failed step `failed`, computing it again from the
    /// weights it started from (the trainer's own, after [`Trainer::go_back`]) with the
    /// same micro-batches and dropout: when the loss was not finite, the first
    /// intermediate output of a traced forward pass that was not; otherwise the
    /// parameters whose gradient holds a NaN or an infinity. Only runs after a failure.
    async fn diagnose(&self, failed: &Pending, loss_finite: bool) -> Result<NonFiniteCause, TrainError> {
        self.train_device.seed(step_seed(self.config.seed, failed.step - 1));
        if !loss_finite {
            for indices in &failed.micro {
                let mut trace = Trace::on();
                let _ = self.task.loss(&self.model, indices, &self.train_device, &mut trace);
                if let Some(first) = first_non_finite(trace.into_outputs()).await.map_err(TrainError::Device)? {
                    return Ok(NonFiniteCause::Loss { first: Some(first.to_string()) });
                }
            }
            return Ok(NonFiniteCause::Loss { first: None });
        }
        let mut accumulator = GradientsAccumulator::new();
        let samples: usize = failed.micro.iter().map(Vec::len).sum();
        for indices in &failed.micro {
            let (loss, _) = self.task.loss(&self.model, indices, &self.train_device, &mut Trace::off());
            let loss = loss * (indices.len() as f64 / samples as f64);
            accumulator.accumulate(&self.model, GradientsParams::from_grads(loss.backward(), &self.model));
        }
        let norms = FlatGradients::gather(&self.model, accumulator.grads()).norms();
        let (Some(squared), ids) = norms.per_parameter() else {
            return Ok(NonFiniteCause::Gradients { parameters: Vec::new(), count: 0 });
        };
        let squared = read_floats(squared).await?;
        // Backpropagation runs from the head down, so the parameter nearest the output is
        // where the gradients first stopped being finite: list in that order.
        let failing: Vec<String> = ids
            .iter()
            .zip(&squared)
            .rev()
            .filter(|(_, s)| !s.is_finite())
            .map(|(id, _)| self.task.parameter_name(&self.model, *id).unwrap_or_else(|| format!("parameter {id}")))
            .collect();
        const SHOWN: usize = 4;
        Ok(NonFiniteCause::Gradients { count: failing.len(), parameters: failing.into_iter().take(SHOWN).collect() })
    }

    /// Scores the validation set with dropout off, keeps the best checkpoint by the chosen
    /// metric (ties going to the lower loss), and stops training when early stopping's
    /// patience runs out. `None` when there is no validation set.
    pub async fn evaluate(&mut self) -> Result<Option<T::Evaluation>, TrainError> {
        self.read_back().await?;
        let model = self.model.valid();
        let Some(evaluation) = self.task.evaluate(&model, self.config.batch_size, &self.device).await? else { return Ok(None) };
        self.last_eval_step = Some(self.step);
        let metric = self.config.best_metric;
        let value = |e: &T::Evaluation, m: BestMetric| T::metric(e, m).unwrap_or(f64::NAN);
        let (improved, tie_with_lower_loss) = match &self.best {
            None => (true, false),
            Some(best) => {
                let (now, then) = (value(&evaluation, metric), value(&best.evaluation, metric));
                let delta = if metric.higher_is_better() { now - then } else { then - now };
                (delta > self.config.early_stopping_min_delta, delta == 0.0 && value(&evaluation, BestMetric::Loss) < value(&best.evaluation, BestMetric::Loss))
            }
        };
        if improved || tie_with_lower_loss {
            // A tie with lower loss is a better checkpoint to keep, though not an
            // improvement that resets early stopping's patience.
            self.best = Some(Best { model, evaluation: evaluation.clone(), step: self.step });
        }
        if improved {
            self.evals_without_improvement = 0;
        } else {
            self.evals_without_improvement += 1;
            if let Some(patience) = self.config.early_stopping_patience
                && self.evals_without_improvement >= patience
                && self.stopped.is_none()
            {
                self.stopped = Some(StopReason::EarlyStopping { step: self.step });
            }
        }
        Ok(Some(evaluation))
    }

    /// The trainer's progress as plain data, for a checkpoint (after [`Trainer::read_back`],
    /// so that no step is still unchecked). With the weights, the
    /// optimizer moments ([`Trainer::moment_tensors`]) and the best weights, it is enough
    /// to continue exactly ([`Trainer::restore`]): the data order is derived from the seed
    /// and the epoch, and dropout from the seed and the step.
    pub fn state(&self) -> TrainerState<T::Evaluation> {
        TrainerState {
            step: self.step,
            epoch: self.epoch,
            cursor: self.cursor,
            total_steps: self.total_steps,
            samples_seen: self.samples_seen,
            optimizer_steps: self.optimizer.steps(),
            evals_without_improvement: self.evals_without_improvement,
            stopped: self.stopped.clone(),
            last_eval_step: self.last_eval_step,
            best: self.best.as_ref().map(|b| BestState { step: b.step, evaluation: b.evaluation.clone() }),
        }
    }

    /// The optimizer's moments, named `{parameter}.exp_avg` and `{parameter}.exp_avg_sq`
    /// after the parameter's checkpoint name, flat in webtune's layout (a linear weight is
    /// `[d_in, d_out]`, not PyTorch's `[d_out, d_in]`), sorted by name. No readback.
    pub fn moment_tensors(&self) -> Result<Vec<(String, Tensor<1>)>, TrainError> {
        let mut out = Vec::new();
        for (id, m, v) in self.optimizer.moments() {
            let name = self
                .task
                .parameter_name(&self.model, id)
                .ok_or_else(|| TrainError::Data(format!("parameter {id} has no name, so its optimizer state cannot be saved (a webtune bug; please report it)")))?;
            out.push((format!("{name}.{EXP_AVG}"), m));
            out.push((format!("{name}.{EXP_AVG_SQ}"), v));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Continues a run from a checkpoint: its progress (`state`), the optimizer moments
    /// that `moment` gives by name (see [`Trainer::moment_tensors`]), and the best weights
    /// so far (validation mode, on the plain device) when `state` has a best. The trainer
    /// must have been made from the checkpoint's weights with the same data and settings;
    /// a different number of steps or a moment of the wrong size says they are not.
    pub fn restore(&mut self, state: TrainerState<T::Evaluation>, mut moment: impl FnMut(&str) -> Option<Vec<f32>>, best: Option<T::Model>) -> Result<(), TrainError> {
        let mismatch = |what: String| TrainError::Data(format!("the checkpoint does not fit this run: {what}; resume with the data and model files the run was started with"));
        if state.total_steps != self.total_steps {
            return Err(mismatch(format!("it was a run of {} steps, and this data with its settings gives {}", state.total_steps, self.total_steps)));
        }
        if state.step > self.total_steps || state.epoch > self.config.epochs {
            return Err(mismatch(format!("it is at step {} of epoch {}, beyond this run's {} steps in {} epochs", state.step, state.epoch + 1, self.total_steps, self.config.epochs)));
        }
        let order = if state.epoch < self.config.epochs {
            batch_order(&self.task.train_lengths(), self.config.batch_size, self.config.seed, state.epoch, self.config.group_by_length)
        } else {
            self.order.clone()
        };
        if state.cursor > order.len() {
            return Err(mismatch(format!("it is at batch {} of an epoch of {} batches", state.cursor, order.len())));
        }
        struct Sizes(Vec<(ParamId, usize)>);
        impl ModuleVisitor for Sizes {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push((param.id, param.val().dims().iter().product()));
            }
        }
        let mut sizes = Sizes(Vec::new());
        self.model.visit(&mut sizes);
        let mut moments = HashMap::new();
        for (id, size) in sizes.0 {
            let Some(name) = self.task.parameter_name(&self.model, id) else { continue };
            let (m, v) = match (moment(&format!("{name}.{EXP_AVG}")), moment(&format!("{name}.{EXP_AVG_SQ}"))) {
                (Some(m), Some(v)) => (m, v),
                (None, None) => continue,
                _ => return Err(mismatch(format!("the optimizer state of {name} is incomplete"))),
            };
            if m.len() != size || v.len() != size {
                return Err(mismatch(format!("the optimizer state of {name} has {} values, and the parameter has {size}", m.len())));
            }
            let tensor = |values: Vec<f32>| Tensor::<1>::from_data(TensorData::new(values, [size]), &self.device);
            moments.insert(id, (tensor(m), tensor(v)));
        }
        if state.optimizer_steps > 0 && moments.is_empty() {
            return Err(mismatch("it has no optimizer state".into()));
        }
        self.best = match (state.best, best) {
            (Some(b), Some(model)) => Some(Best { model, evaluation: b.evaluation, step: b.step }),
            (None, _) => None,
            (Some(b), None) => return Err(mismatch(format!("the weights of its best evaluation (step {}) are missing", b.step))),
        };
        self.optimizer.restore(state.optimizer_steps, moments);
        // A checkpoint is taken with every step read back: nothing is pending.
        self.pending.clear();
        self.logged.clear();
        self.healthy = None;
        self.interval_started = None;
        self.order = order;
        self.step = state.step;
        self.epoch = state.epoch;
        self.cursor = state.cursor;
        self.samples_seen = state.samples_seen;
        self.evals_without_improvement = state.evals_without_improvement;
        self.stopped = state.stopped;
        self.last_eval_step = state.last_eval_step;
        Ok(())
    }
}
