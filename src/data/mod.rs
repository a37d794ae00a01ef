//! The user's data: formats told from content (CSV/TSV, JSON lines, JSON arrays, plain
//! text), columns, the validation report, splits, and the batches the trainer consumes.

mod batches;
mod format;
mod lm;
mod read;
mod report;
mod source;
mod split;
mod synthetic;

pub use batches::{TokenizedSet, batch_order};
pub use format::{Format, sniff_format};
pub use lm::{CHAT_ROLES, LmDataset, LmLayout, LmReadOptions, LmRecord, LmRow, alpaca_prompt, looks_generative, read_lm_dataset};
pub use read::{
    ColumnProblem, ColumnRoles, Columns, DataError, DataField, DataReport, Dataset, Example, LabelSet, PREVIEW_ROWS, PreviewRow, ReadOptions, Reading, RowPolicy,
    read_dataset,
};
pub use report::{Finding, FindingKind, LINES_LISTED, LengthStats, Severity, compare_splits, length_report};
pub use split::{seeded_split, stratified_split};
pub use synthetic::synthetic_reviews_csv;

#[cfg(test)]
mod tests;
