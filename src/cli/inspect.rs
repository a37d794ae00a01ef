//! `webtune inspect`: what a data file holds and what is wrong with it, before training.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::checkpoint::{Checkpoint, TextTokenizer};
use crate::data::{DataReport, Dataset, Format, LmDataset, LmReadOptions, ReadOptions, Reading, RowPolicy, Severity, read_dataset, read_lm_dataset};
use crate::model::ModelError;
use crate::platform::{open_data_file, read_model_folder};

/// How to read a data file: columns, format, label names and the bad-row policy. Shared by
/// `inspect` and `train`.
#[derive(Args)]
pub(crate) struct DataArgs {
    #[command(flatten)]
    columns: super::ColumnArgs,
    /// The file's format, when detection from its content is not what you want:
    /// csv, csv-semicolon, tsv, jsonl, json or txt.
    #[arg(long)]
    format: Option<Format>,
    /// Rename a label as it is read, e.g. `--label-name 0=negative --label-name 1=positive`.
    #[arg(long = "label-name", value_name = "VALUE=NAME")]
    label_names: Vec<String>,
    /// Leave out rows that cannot be used (they are counted and listed) instead of failing.
    #[arg(long)]
    skip_bad_rows: bool,
}

impl DataArgs {
    /// How these flags read a file.
    pub(crate) fn reading(&self) -> Result<Reading, CliError> {
        let mut label_names = BTreeMap::new();
        for pair in &self.label_names {
            let (value, name) = pair.split_once('=').filter(|(v, n)| !v.is_empty() && !n.is_empty()).ok_or_else(|| {
                CliError::Flag { flag: "--label-name", value: pair.clone(), reason: "write it as VALUE=NAME, e.g. 0=negative" }
            })?;
            label_names.insert(value.to_string(), name.to_string());
        }
        Ok(Reading { columns: self.columns.columns(), format: self.format, label_names, policy: self.policy() })
    }

    /// Read options; `require_labels` for classification.
    pub(crate) fn options(&self, require_labels: bool) -> Result<ReadOptions, CliError> {
        Ok(self.reading()?.options(require_labels))
    }

    pub(crate) fn policy(&self) -> RowPolicy {
        if self.skip_bad_rows { RowPolicy::Skip } else { RowPolicy::Fail }
    }
}

/// Streams `path` through the language-modelling reader.
pub(crate) fn read_lm_data(path: &Path, options: &LmReadOptions) -> Result<LmDataset, CliError> {
    let file = open_data_file(path)?;
    Ok(read_lm_dataset(&path.display().to_string(), file, options)?)
}

/// Streams `path` through the reader.
pub(crate) fn read_data(path: &Path, options: &ReadOptions) -> Result<Dataset, CliError> {
    let file = open_data_file(path)?;
    Ok(read_dataset(&path.display().to_string(), file, options)?)
}

#[derive(Args)]
pub struct InspectArgs {
    /// The data file: CSV/TSV with a header, JSON lines, a JSON array of objects, or plain text.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Model folder whose tokenizer measures token lengths.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Maximum length in tokens that inputs will be truncated to [default: 128, at most the model's].
    #[arg(long)]
    max_length: Option<usize>,
    /// The data has no labels (e.g. plain text for language modelling).
    #[arg(long)]
    no_labels: bool,
    /// Print the report as JSON instead.
    #[arg(long)]
    json: bool,
}

/// The tokenizer of a model folder at the max length training would use (the same policy
/// as `webtune train`: see [`Checkpoint::max_length`]).
fn tokenizer_of(model: &Path, max_length: Option<usize>) -> Result<TextTokenizer, CliError> {
    let checkpoint = Checkpoint::from_files(read_model_folder(model)?).map_err(ModelError::from)?;
    let length = checkpoint.max_length(max_length, crate::train::TrainConfig::default().max_length).map_err(ModelError::from)?;
    if let Some(note) = length.note() {
        eprintln!("webtune: {note}");
    }
    Ok(checkpoint.tokenizer(length.tokens).map_err(ModelError::from)?)
}

pub fn run(args: InspectArgs) -> Result<(), CliError> {
    let options = args.data.options(!args.no_labels)?;
    let mut dataset = read_data(&args.file, &options)?;
    if let Some(model) = &args.model {
        dataset.measure_lengths(&tokenizer_of(model, args.max_length)?).map_err(ModelError::from)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&dataset.report).map_err(|e| CliError::Output(e.into()))?);
    } else {
        print!("{}", render(&dataset.report));
    }
    dataset.report.check(args.data.policy())?;
    Ok(())
}

/// Cuts `s` to `width` characters on one line.
fn clip(s: &str, width: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= width { flat } else { format!("{}…", flat.chars().take(width - 1).collect::<String>()) }
}

/// The report as text for a terminal.
pub(crate) fn render(report: &DataReport) -> String {
    let mut out = String::new();
    let skipped = report.bad_rows();
    out += &format!("{}: {} · {} rows, {} usable", report.file, report.format, report.rows, report.usable);
    if skipped > 0 {
        out += &format!(", {skipped} unusable");
    }
    out += "\n";
    let roles = &report.roles;
    out += &format!("columns: {}\n", report.columns.join(", "));
    out += &format!("  text: {}", roles.text);
    if let Some(pair) = &roles.text_pair {
        out += &format!(" · second text: {pair}");
    }
    match &roles.label {
        Some(label) => out += &format!(" · label: {label}\n"),
        None => out += " · no labels\n",
    }
    out += "preview:\n";
    let width = (100 / report.columns.len().max(1)).clamp(8, 40);
    out += &format!("  {:>6}  {}\n", "line", report.columns.iter().map(|c| format!("{:<width$}", clip(c, width))).collect::<Vec<_>>().join(" │ "));
    for row in &report.preview {
        let cells: Vec<String> = row.cells.iter().map(|c| format!("{:<width$}", clip(c, width))).collect();
        out += &format!("  {:>6}  {}\n", row.line, cells.join(" │ "));
    }
    if let Some(labels) = &report.labels {
        out += &format!("labels ({}):\n", labels.names.len());
        let most = labels.counts.iter().copied().max().unwrap_or(1).max(1);
        let total: usize = labels.counts.iter().sum();
        for (name, &count) in labels.names.iter().zip(&labels.counts) {
            let bar = "█".repeat((count * 30).div_ceil(most));
            out += &format!("  {:<20} {count:>8} {:>5.1}%  {bar}\n", clip(name, 20), 100.0 * count as f64 / total.max(1) as f64);
        }
    }
    if let Some(lengths) = &report.lengths {
        out += &format!(
            "token lengths: median {} · 95th percentile {} · longest {} · {} rows ({:.1}%) longer than {} will be truncated\n",
            lengths.p50,
            lengths.p95,
            lengths.max,
            lengths.truncated,
            lengths.truncated_share * 100.0,
            lengths.max_length
        );
    }
    if report.findings.is_empty() {
        out += "no problems found\n";
    } else {
        let errors = report.findings.iter().filter(|f| f.severity == Severity::Error).count();
        out += &format!("findings ({errors} errors, {} warnings):\n", report.findings.len() - errors);
        for finding in &report.findings {
            out += &format!("  {finding}\n");
        }
    }
    out
}
