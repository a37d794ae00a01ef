//! Labelled examples from the user's file (CSV, TSV, JSONL, JSON array) and the batches
//! the trainer consumes.

mod batches;
mod read;
mod split;

pub use batches::{TokenizedSet, batch_order};
pub use split::stratified_split;
pub use read::{Columns, DataError, Example, LabelSet, read_examples};
