//! The step-wise trainer, its optimizer and schedule, metrics and early stopping.

mod causal;
mod classification;
mod config;
mod error;
mod estimate;
mod log;
mod metrics;
mod optimizer;
mod predict;
mod schedule;
mod task;
mod text_metrics;
mod trainer;

pub use config::{BestMetric, Schedule, Setting, SettingError, TrainConfig};
pub use estimate::MemoryEstimate;
pub use log::{EvalPoint, LM_LOG_CSV_HEADER, LOG_CSV_HEADER, LogKind, LogRow, log_csv};
pub use metrics::{ClassMetrics, EvalReport};
pub use optimizer::{AdamW, AdamWSettings, FlatGradients, GradientNorms, clip_factor, global_grad_norm, gradient_norms};
pub use predict::{Prediction, evaluate_examples, predict, score};
pub use schedule::{learning_rate, warmup_steps};
pub use causal::{ChatExampleError, LmEncoding, chat_example, pack, language_model_loss, next_token_loss_in_chunks, CHUNK_TOKENS, CausalLanguageModelling, IGNORE_INDEX, LmEvaluation, LmExample, LmSet, next_token_loss};
pub use classification::{ClassifierEvaluation, SequenceClassification, cross_entropy};
pub use task::Task;
pub use text_metrics::{Bleu, GenerationScores, corpus_bleu, exact_match, rouge_l_f1, tokenize_13a};
pub use error::{NonFiniteCause, TrainError};
pub use trainer::{Best, BestState, StepProgress, StepReport, StopReason, Trainer, TrainerState};
