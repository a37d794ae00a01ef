//! The learning rate at each optimizer step, as transformers' schedules compute it
//! (`transformers/optimization.py`): warmup from 0, then linear, cosine or constant.

use super::config::Schedule;

/// Learning rate for 0-based optimizer step `step` of `total`, with `warmup` warmup steps.
/// As in transformers, step 0 of a warmup uses a learning rate of 0.
pub fn learning_rate(schedule: Schedule, peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return peak * step as f64 / warmup.max(1) as f64;
    }
    match schedule {
        Schedule::Constant => peak,
        Schedule::Linear => {
            let left = total.saturating_sub(step) as f64;
            peak * (left / total.saturating_sub(warmup).max(1) as f64).max(0.0)
        }
        Schedule::Cosine => {
            let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
            peak * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
        }
    }
}

/// Warmup steps for a ratio of `total`, rounded up as transformers does (`math.ceil`).
pub fn warmup_steps(ratio: f64, total: usize) -> usize {
    (ratio * total as f64).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_warmup_then_decay_to_zero() {
        let lr = |s| learning_rate(Schedule::Linear, 1e-4, s, 10, 100);
        assert_eq!(lr(0), 0.0);
        assert!((lr(5) - 5e-5).abs() < 1e-15);
        assert_eq!(lr(10), 1e-4);
        assert!((lr(55) - 5e-5).abs() < 1e-15);
        assert_eq!(lr(100), 0.0);
    }

    #[test]
    fn cosine_is_half_at_midpoint_and_zero_at_end() {
        let lr = |s| learning_rate(Schedule::Cosine, 2.0, s, 0, 100);
        assert_eq!(lr(0), 2.0);
        assert!((lr(50) - 1.0).abs() < 1e-12);
        assert!(lr(100).abs() < 1e-12);
    }

    #[test]
    fn constant_after_warmup() {
        assert_eq!(learning_rate(Schedule::Constant, 3e-5, 0, 4, 100), 0.0);
        assert_eq!(learning_rate(Schedule::Constant, 3e-5, 2, 4, 100), 1.5e-5);
        assert_eq!(learning_rate(Schedule::Constant, 3e-5, 99, 4, 100), 3e-5);
    }

    #[test]
    fn warmup_rounds_up() {
        assert_eq!(warmup_steps(0.1, 95), 10);
        assert_eq!(warmup_steps(0.0, 95), 0);
    }
}
