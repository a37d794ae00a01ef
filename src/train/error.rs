//! Why training cannot start or go on, and how a step that was not finite is worded: what
//! failed, where, which weights are kept, and what to do.

use serde::Serialize;

use super::config::SettingError;

/// Why training cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An impossible setting.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The data cannot train this model.
    #[error("{0}")]
    Data(String),
    /// The loss or the gradients became NaN or infinite; the model keeps its last good
    /// weights. At step 1 (`last_good` 0) no update has happened yet, so the settings
    /// cannot be the cause: see [`TrainError::before_any_update`].
    #[error("{}", non_finite_message(*step, *loss, *last_good, cause))]
    NonFinite {
        /// The step that failed.
        step: usize,
        /// The step's loss (finite when only the gradients were not).
        loss: f64,
        /// The last step whose weights are kept.
        last_good: usize,
        /// What was not finite, as the trainer's diagnosis found it.
        cause: NonFiniteCause,
    },
    /// Reading results from the device failed.
    #[error("reading from the device failed: {0}")]
    Device(String),
    /// The device's values came back as an unexpected type: a bug, not a device failure.
    #[error("the device returned values of an unexpected type: {0} (a webtune bug; please report it)")]
    Conversion(String),
}

/// What was not finite in a failed step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum NonFiniteCause {
    /// The loss. `first` names the first intermediate output of a second forward pass of
    /// the same batch that was not finite, with its counts; `None` when that pass was finite.
    Loss {
        /// `encoder.layer.0.attention softmax (12 NaN and 0 infinite of 49152 values)`.
        first: Option<String>,
    },
    /// The loss was finite but some gradients were not (`count` 0: not when computed again).
    Gradients {
        /// The first few parameters (checkpoint names) whose gradient holds a NaN or ∞, in
        /// backpropagation order (nearest the output first).
        parameters: Vec<String>,
        /// How many parameters have such a gradient.
        count: usize,
    },
}

impl std::fmt::Display for NonFiniteCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Loss { first: Some(first) } => write!(f, "the first value that was not finite came from {first}"),
            Self::Loss { first: None } => write!(f, "a second forward pass of the same batch was finite, so the fault is not repeatable"),
            Self::Gradients { count: 0, .. } => {
                write!(f, "computing the step again from the same weights and examples gave finite gradients, so the fault is not repeatable")
            }
            Self::Gradients { parameters, count } => {
                let more = count.saturating_sub(parameters.len());
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                write!(f, "the loss was finite, but the gradients of {count} parameter(s) were not, in backpropagation order: {}{more}", parameters.join(", "))
            }
        }
    }
}

fn non_finite_message(step: usize, loss: f64, last_good: usize, cause: &NonFiniteCause) -> String {
    let what = match cause {
        NonFiniteCause::Loss { .. } => format!("the training loss was {loss}"),
        NonFiniteCause::Gradients { .. } => "the gradients were not finite".to_string(),
    };
    if last_good == 0 {
        // Nothing has been updated yet: the learning rate and schedule cannot be the cause.
        format!(
            "at step {step}, before training changed any weight, {what} on this device ({cause}). \
             The settings cannot have caused this: the model's own computation failed on this device, \
             which points at the device's compute backend (or at a checkpoint whose weights are not finite). \
             Train on another device, such as the CPU"
        )
    } else {
        format!(
            "{what} at step {step} ({cause}); the model keeps the weights of step {last_good}. \
             Lower the learning rate (for example to a tenth) and train again"
        )
    }
}

impl TrainError {
    /// Whether this is a non-finite loss or gradient at the first step, before any update:
    /// a failure of the device or the checkpoint, never of the learning rate.
    pub fn before_any_update(&self) -> bool {
        matches!(self, Self::NonFinite { last_good: 0, .. })
    }
}
