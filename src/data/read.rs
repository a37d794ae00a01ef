//! Reading a data file into examples and a report, as it streams in: every row is either
//! an example or counted in a finding that names its line.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor, Read};

use serde::{Deserialize, Serialize};

use super::format::{Format, sniff_format};
use super::report::{self, Finding, FindingKind, LengthStats, LineList, Severity};
use super::source::{TrackedReader, utf8_position};

/// One example: a text (and optionally a second text) with its label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    /// The text.
    pub text: String,
    /// The second text, for sentence-pair tasks.
    pub pair: Option<String>,
    /// The label as written in the file (numbers become their decimal text), after any
    /// label renaming; `None` for unlabelled data such as plain text.
    pub label: Option<String>,
    /// 1-based line of the example in its file (for a JSON array, where its object starts).
    pub line: usize,
}

/// Which columns hold what; `None` means "guess from the header".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    /// Text column.
    pub text: Option<String>,
    /// Second text column (sentence pairs).
    pub text_pair: Option<String>,
    /// Label column.
    pub label: Option<String>,
}

impl DataError {
    /// The message, with the options that fix it named by `name` (a flag, a control).
    pub fn worded(&self, name: &dyn Fn(DataField) -> &'static str) -> String {
        match self {
            Self::Column { file, problem, columns } => format!("{file}: {} (columns: {columns})", problem.worded(name)),
            Self::BadRows { file, count, rows, details } => {
                format!("{file}: {count} of {rows} rows cannot be used; fix them, or skip them ({}){details}", name(DataField::SkipBadRows))
            }
            other => other.to_string(),
        }
    }
}

/// What to do with rows that cannot be used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowPolicy {
    /// Refuse the file until they are fixed.
    #[default]
    Fail,
    /// Leave them out; the report counts and lists them.
    Skip,
}

/// How a run's data files were read, as its checkpoints record it, so that a resumed run
/// reads them the same way (the front end's column choices, format, label renames and
/// bad-row policy).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Column choices (guessed where `None`).
    #[serde(default)]
    pub columns: Columns,
    /// The format, when it was given rather than detected.
    #[serde(default)]
    pub format: Option<Format>,
    /// Label renames (value in the file → name).
    #[serde(default)]
    pub label_names: BTreeMap<String, String>,
    /// What was done with rows that cannot be used.
    #[serde(default)]
    pub policy: RowPolicy,
}

impl Reading {
    /// Options to read labelled data this way (`require_labels` for training).
    pub fn options(&self, require_labels: bool) -> ReadOptions {
        ReadOptions { columns: self.columns.clone(), format: self.format, require_labels, label_names: self.label_names.clone() }
    }

    /// Options to read language-modelling data this way (`require_target` for training).
    pub fn lm_options(&self, require_target: bool) -> super::LmReadOptions {
        super::LmReadOptions { format: self.format, text_column: self.columns.text.clone(), require_target }
    }
}

/// How to read a data file.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadOptions {
    /// Column choices (guessed where `None`).
    pub columns: Columns,
    /// The format, when the caller knows better than the sniffer.
    pub format: Option<Format>,
    /// Whether every row needs a label (classification) or labels are optional.
    pub require_labels: bool,
    /// Renames labels as read: value in the file → name (e.g. `0` → `negative`).
    pub label_names: BTreeMap<String, String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self { columns: Columns::default(), format: None, require_labels: true, label_names: BTreeMap::new() }
    }
}

const TEXT_GUESSES: &[&str] = &["text", "sentence", "sentence1", "review", "content", "body", "document", "question", "comment", "message", "tweet"];
const PAIR_GUESSES: &[&str] = &["text_pair", "sentence2", "text2", "hypothesis"];
const LABEL_GUESSES: &[&str] = &["label", "labels", "class", "category", "target", "sentiment", "y", "intent", "topic"];
/// Rows shown in the preview.
pub const PREVIEW_ROWS: usize = 5;
/// Bytes looked at to tell the format.
const HEAD_BYTES: u64 = 64 * 1024;

/// A choice about a data file that a front end offers (the CLI as a flag, the studio as a
/// control), so a message can say which one fixes a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataField {
    /// Which column holds the text.
    TextColumn,
    /// Which column holds the label.
    LabelColumn,
    /// Leave out the rows that cannot be used instead of refusing the file.
    SkipBadRows,
}

impl DataField {
    /// Plain words, for messages outside a front end.
    pub fn name(self) -> &'static str {
        match self {
            Self::TextColumn => "the text column option",
            Self::LabelColumn => "the label column option",
            Self::SkipBadRows => "the option to skip bad rows",
        }
    }
}

/// What is wrong with the columns of a file.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnProblem {
    /// No column is named or guessed as the text.
    NoText,
    /// No column is named or guessed as the label.
    NoLabel,
    /// Plain text has no label column at all.
    PlainTextHasNoLabels,
    /// A named column does not exist.
    NoSuchColumn(String),
    /// The same column was taken as text and label.
    TextIsLabel(String),
    /// Language-modelling data without a column to learn from.
    NoLanguageColumns,
    /// Prompts without the completions training learns.
    NoCompletion,
}

impl ColumnProblem {
    /// The problem and its fix, naming the fields with `name`.
    pub fn worded(&self, name: &dyn Fn(DataField) -> &'static str) -> String {
        match self {
            Self::NoText => format!("no text column found; name it with {}", name(DataField::TextColumn)),
            Self::NoLabel => format!("no label column found; name it with {}", name(DataField::LabelColumn)),
            Self::PlainTextHasNoLabels => "plain text has no labels; for classification use CSV, TSV or JSON lines with a label column".into(),
            Self::NoSuchColumn(column) => format!("there is no column \"{column}\""),
            Self::TextIsLabel(column) => format!(
                "\"{column}\" cannot be both the text and the label; name the columns with {} and {}",
                name(DataField::TextColumn),
                name(DataField::LabelColumn)
            ),
            Self::NoLanguageColumns => format!(
                "no column to learn from: give \"text\", \"prompt\" and \"completion\", \"messages\" (a list of {{\"role\", \"content\"}}), or \"instruction\" and \"output\"; or name the text column with {}",
                name(DataField::TextColumn)
            ),
            Self::NoCompletion => "there is a \"prompt\" column but no \"completion\": training learns the completion that follows each prompt, so add one (or rename the column to \"text\" to learn the prompts themselves)".into(),
        }
    }
}

/// A file that cannot be used as it is. Displayed in plain words; front ends name the
/// options that fix it their own way with [`DataError::worded`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    /// The bytes are not UTF-8.
    #[error("{file}:{line}: invalid UTF-8 at byte offset {offset}; save the file as UTF-8")]
    Utf8 {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// Byte offset of the first invalid byte.
        offset: u64,
    },
    /// The file cannot be parsed past this point.
    #[error("{file}:{line}: {message}")]
    Row {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A needed column is absent or cannot be guessed.
    #[error("{file}: {} (columns: {columns})", problem.worded(&DataField::name))]
    Column {
        /// File name.
        file: String,
        /// What is wrong.
        problem: ColumnProblem,
        /// The columns found, comma-separated.
        columns: String,
    },
    /// No rows at all.
    #[error("{file} has no examples")]
    Empty {
        /// File name.
        file: String,
    },
    /// Some rows cannot be used and the policy is to fail.
    #[error("{file}: {count} of {rows} rows cannot be used; fix them, or skip them ({}){details}", DataField::SkipBadRows.name())]
    BadRows {
        /// File name.
        file: String,
        /// Unusable rows.
        count: usize,
        /// All rows.
        rows: usize,
        /// One indented line per finding.
        details: String,
    },
    /// The file as a whole cannot be used (one class, nothing usable).
    #[error("{file}: {message}")]
    Unusable {
        /// File name.
        file: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Reading failed below the parser.
    #[error("{file}: cannot read: {message}")]
    Io {
        /// File name.
        file: String,
        /// The system's message.
        message: String,
    },
}

/// The labels of a dataset, in a stable order (sorted; numbers numerically), with counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelSet {
    /// Label names in order; a label's index is its class id.
    pub names: Vec<String>,
    /// Examples per label, in the same order.
    pub counts: Vec<usize>,
}

impl LabelSet {
    /// Collects the labels of `examples` (unlabelled ones are not counted).
    pub fn from_examples(examples: &[Example]) -> Self {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for label in examples.iter().filter_map(|e| e.label.as_deref()) {
            *counts.entry(label).or_default() += 1;
        }
        let mut names: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
        if names.iter().all(|n| n.parse::<i64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<i64>().unwrap_or_default());
        }
        let counts = names.iter().map(|n| counts[n.as_str()]).collect();
        Self { names, counts }
    }

    /// The class id of `label`.
    pub fn index(&self, label: &str) -> Option<usize> {
        self.names.iter().position(|n| n == label)
    }
}

/// Which column plays which part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnRoles {
    /// The text column.
    pub text: String,
    /// The second text column, for sentence pairs.
    pub text_pair: Option<String>,
    /// The label column; `None` for unlabelled data.
    pub label: Option<String>,
}

/// One row of the preview: its line and every column's value as text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreviewRow {
    /// 1-based line.
    pub line: usize,
    /// One cell per column (empty for a missing value).
    pub cells: Vec<String>,
}

/// Everything found out about a data file, as plain data: the CLI prints it, the browser
/// renders it, and it is the same on every platform for the same bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataReport {
    /// The file's name.
    pub file: String,
    /// The detected (or given) format.
    pub format: Format,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// The columns used.
    pub roles: ColumnRoles,
    /// The first rows.
    pub preview: Vec<PreviewRow>,
    /// Data rows read (header and blank lines not counted).
    pub rows: usize,
    /// Rows that became examples.
    pub usable: usize,
    /// Label counts of the usable rows, when there is a label column.
    pub labels: Option<LabelSet>,
    /// Token lengths, once measured with a tokenizer.
    pub lengths: Option<LengthStats>,
    /// Problems and observations; errors first.
    pub findings: Vec<Finding>,
}

impl DataReport {
    /// Rows that cannot be used.
    pub fn bad_rows(&self) -> usize {
        self.rows - self.usable
    }

    /// Adds findings, keeping errors before warnings.
    pub fn add_findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.findings.extend(findings);
        self.findings.sort_by_key(|f| f.severity != Severity::Error);
    }

    /// Records token lengths (one per usable row, at `lines`) and the truncation finding.
    pub fn add_lengths(&mut self, lengths: &[usize], lines: &[usize], max_length: usize) {
        self.findings.retain(|f| f.kind != FindingKind::Truncated);
        let (stats, finding) = report::length_report(lengths, lines, max_length);
        self.lengths = Some(stats);
        self.add_findings(finding);
    }

    /// Whether the data can be used under `policy`; the error says why not.
    pub fn check(&self, policy: RowPolicy) -> Result<(), DataError> {
        if let Some(single) = self.findings.iter().find(|f| f.kind == FindingKind::SingleClass) {
            return Err(DataError::Unusable { file: self.file.clone(), message: single.message.clone() });
        }
        let details = || {
            self.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| format!("\n  {f}")).collect::<String>()
        };
        if self.usable == 0 {
            return Err(DataError::Unusable {
                file: self.file.clone(),
                message: format!("none of its {} rows can be used:{}", self.rows, details()),
            });
        }
        if self.bad_rows() > 0 && policy == RowPolicy::Fail {
            return Err(DataError::BadRows { file: self.file.clone(), count: self.bad_rows(), rows: self.rows, details: details() });
        }
        Ok(())
    }
}

/// A read data file: its report and its usable rows.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// What was found.
    pub report: DataReport,
    /// The usable rows, in file order.
    pub examples: Vec<Example>,
}

/// A cell of a row as the parser sees it.
pub(super) enum Cell<'a> {
    Text(Cow<'a, str>),
    Missing,
    /// A JSON list or object.
    Structured(&'a serde_json::Value),
}

impl Cell<'_> {
    pub(super) fn preview(&self) -> String {
        match self {
            Cell::Text(s) => s.to_string(),
            Cell::Missing => String::new(),
            Cell::Structured(value) => format!("({})", structured_kind(value)),
        }
    }
}

/// "a list" or "an object", for messages.
pub(super) fn structured_kind(value: &serde_json::Value) -> &'static str {
    if value.is_array() { "a list" } else { "an object" }
}

fn json_cell(value: Option<&serde_json::Value>) -> Cell<'_> {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => Cell::Missing,
        Some(Value::String(s)) => Cell::Text(Cow::Borrowed(s)),
        Some(Value::Number(n)) => Cell::Text(Cow::Owned(n.to_string())),
        Some(Value::Bool(b)) => Cell::Text(Cow::Owned(b.to_string())),
        Some(value @ (Value::Array(_) | Value::Object(_))) => Cell::Structured(value),
    }
}

/// Where the format readers put what they parse: a header, rows, and rows that cannot be
/// parsed. Classification data ([`Builder`]) and language-modelling data
/// (`super::lm`) read the same formats into different examples.
pub(super) trait Rows {
    /// The file's name, for messages.
    fn file(&self) -> &str;
    /// Whether the header is known.
    fn has_header(&self) -> bool;
    /// Sets the columns and decides which column plays which part.
    fn header(&mut self, columns: Vec<String>) -> Result<(), DataError>;
    /// The columns, once the header is known.
    fn columns(&self) -> &[String];
    /// A row that cannot be parsed.
    fn malformed(&mut self, line: usize, detail: impl FnOnce() -> String);
    /// One data row; `cell(i)` is column `i`'s value.
    fn row<'c>(&mut self, line: usize, cell: impl Fn(usize) -> Cell<'c>);
}

fn pick(explicit: &Option<String>, guesses: &[&str], header: &[String]) -> Option<String> {
    match explicit {
        Some(name) => Some(name.clone()),
        None => guesses.iter().find_map(|g| header.iter().find(|h| h.trim().eq_ignore_ascii_case(g)).cloned()),
    }
}

/// Turns parsed rows into examples and row-level findings.
struct Builder<'o> {
    file: String,
    format: Format,
    options: &'o ReadOptions,
    columns: Vec<String>,
    /// Column indices of text, pair, label once the header is known.
    roles: Option<(ColumnRoles, usize, Option<usize>, Option<usize>)>,
    preview: Vec<PreviewRow>,
    rows: usize,
    examples: Vec<Example>,
    malformed: LineList,
    non_scalar: LineList,
    empty_text: LineList,
    empty_pair: LineList,
    missing_label: LineList,
}

impl<'o> Builder<'o> {
    fn new(file: &str, format: Format, options: &'o ReadOptions) -> Self {
        Self {
            file: file.to_string(),
            format,
            options,
            columns: Vec::new(),
            roles: None,
            preview: Vec::new(),
            rows: 0,
            examples: Vec::new(),
            malformed: LineList::default(),
            non_scalar: LineList::default(),
            empty_text: LineList::default(),
            empty_pair: LineList::default(),
            missing_label: LineList::default(),
        }
    }

}

impl Rows for Builder<'_> {
    fn file(&self) -> &str {
        &self.file
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn has_header(&self) -> bool {
        self.roles.is_some()
    }

    fn header(&mut self, columns: Vec<String>) -> Result<(), DataError> {
        let listed = columns.join(", ");
        let column_error = |problem: ColumnProblem| DataError::Column { file: self.file.clone(), problem, columns: listed.clone() };
        let cols = &self.options.columns;
        let text = pick(&cols.text, TEXT_GUESSES, &columns)
            .or_else(|| (columns.len() == 1 && cols.label.is_none() && !self.options.require_labels).then(|| columns[0].clone()))
            .ok_or_else(|| column_error(ColumnProblem::NoText))?;
        let label = pick(&cols.label, LABEL_GUESSES, &columns);
        if label.is_none() && self.options.require_labels {
            let problem = if self.format == Format::PlainText { ColumnProblem::PlainTextHasNoLabels } else { ColumnProblem::NoLabel };
            return Err(column_error(problem));
        }
        let text_pair = pick(&cols.text_pair, PAIR_GUESSES, &columns);
        let index = |name: &String| -> Result<usize, DataError> {
            columns.iter().position(|c| c == name).ok_or_else(|| column_error(ColumnProblem::NoSuchColumn(name.clone())))
        };
        let (ti, pi, li) = (index(&text)?, text_pair.as_ref().map(index).transpose()?, label.as_ref().map(index).transpose()?);
        if Some(ti) == li {
            return Err(column_error(ColumnProblem::TextIsLabel(text)));
        }
        self.roles = Some((ColumnRoles { text, text_pair, label }, ti, pi, li));
        self.columns = columns;
        Ok(())
    }

    fn malformed(&mut self, line: usize, detail: impl FnOnce() -> String) {
        self.rows += 1;
        self.malformed.push(line, detail);
    }

    fn row<'c>(&mut self, line: usize, cell: impl Fn(usize) -> Cell<'c>) {
        self.rows += 1;
        if self.preview.len() < PREVIEW_ROWS {
            let cells = (0..self.columns.len()).map(|i| cell(i).preview()).collect();
            self.preview.push(PreviewRow { line, cells });
        }
        let Some((roles, ti, pi, li)) = &self.roles else { return };
        let mut ok = true;
        let mut take = |index: usize, name: &str, empty: &mut LineList, non_scalar: &mut LineList| -> Option<String> {
            match cell(index) {
                Cell::Text(s) if !s.trim().is_empty() => Some(s.into_owned()),
                Cell::Structured(value) => {
                    non_scalar.push(line, || format!("\"{name}\" holds {}", structured_kind(value)));
                    ok = false;
                    None
                }
                _ => {
                    empty.push(line, String::new);
                    ok = false;
                    None
                }
            }
        };
        let text = take(*ti, &roles.text, &mut self.empty_text, &mut self.non_scalar);
        let pair = match (pi, &roles.text_pair) {
            (Some(i), Some(name)) => take(*i, name, &mut self.empty_pair, &mut self.non_scalar),
            _ => None,
        };
        let label = match (li, &roles.label) {
            (Some(i), Some(name)) => take(*i, name, &mut self.missing_label, &mut self.non_scalar),
            _ => None,
        };
        if ok && let Some(text) = text {
            let label = label.map(|l| {
                let l = l.trim();
                self.options.label_names.get(l).cloned().unwrap_or_else(|| l.to_string())
            });
            self.examples.push(Example { text, pair, label, line });
        }
    }
}

impl Builder<'_> {
    fn finish(self) -> Result<Dataset, DataError> {
        let Some((roles, ..)) = self.roles else {
            return Err(match self.malformed.lines.first() {
                Some(&line) => DataError::Row { file: self.file, line, message: self.malformed.first_detail.unwrap_or_default() },
                None => DataError::Empty { file: self.file },
            });
        };
        if self.rows == 0 {
            return Err(DataError::Empty { file: self.file });
        }
        let mut findings: Vec<Finding> = Vec::new();
        findings.extend(self.malformed.finding(FindingKind::MalformedRow, Severity::Error, |first| {
            format!("rows that cannot be parsed (first: {first})")
        }));
        findings.extend(self.non_scalar.finding(FindingKind::NonScalar, Severity::Error, |first| {
            format!("fields that hold a list or object instead of text (first: {first}); flatten them to a string or number")
        }));
        findings.extend(self.empty_text.finding(FindingKind::EmptyText, Severity::Error, |_| {
            format!("the text \"{}\" is missing or empty; fill it in or remove the rows", roles.text)
        }));
        if let Some(pair) = &roles.text_pair {
            findings.extend(self.empty_pair.finding(FindingKind::EmptyText, Severity::Error, |_| {
                format!("the second text \"{pair}\" is missing or empty; fill it in or remove the rows")
            }));
        }
        if let Some(label) = &roles.label {
            findings.extend(self.missing_label.finding(FindingKind::MissingLabel, Severity::Error, |_| {
                format!("the label \"{label}\" is missing or empty; fill it in or remove the rows")
            }));
        }
        findings.extend(report::duplicates(&self.examples));
        let labels = roles.label.is_some().then(|| LabelSet::from_examples(&self.examples));
        if let Some(labels) = &labels
            && !labels.names.is_empty()
        {
            findings.extend(report::class_findings(&self.examples, labels));
        }
        let mut report = DataReport {
            file: self.file,
            format: self.format,
            columns: self.columns,
            roles,
            preview: self.preview,
            rows: self.rows,
            usable: self.examples.len(),
            labels,
            lengths: None,
            findings: Vec::new(),
        };
        report.add_findings(findings);
        Ok(Dataset { report, examples: self.examples })
    }
}

fn io_error(file: &str, error: std::io::Error) -> DataError {
    match utf8_position(&error) {
        Some(p) => DataError::Utf8 { file: file.to_string(), line: p.line, offset: p.offset },
        None => DataError::Io { file: file.to_string(), message: error.to_string() },
    }
}

/// Reads a data file as it streams from `reader` (named `file` in messages). The format is
/// sniffed from the first 64 KiB unless `options.format` says; only a JSON array is held
/// whole in memory. Invalid UTF-8, a missing column and an empty file are errors; rows
/// that cannot be used are counted in the report's findings with their lines, so the
/// caller decides with [`DataReport::check`] whether to skip them.
pub fn read_dataset(file: &str, reader: impl Read, options: &ReadOptions) -> Result<Dataset, DataError> {
    read_rows(file, reader, options.format, |format| Builder::new(file, format, options))?.finish()
}

/// Streams `reader` (named `file`) through the reader of its format (sniffed from the
/// first 64 KiB unless `format` says) into the rows made by `make` for that format.
pub(super) fn read_rows<S: Rows>(file: &str, reader: impl Read, format: Option<Format>, make: impl FnOnce(Format) -> S) -> Result<S, DataError> {
    let mut tracked = TrackedReader::new(reader);
    let mut head = Vec::new();
    (&mut tracked).take(HEAD_BYTES).read_to_end(&mut head).map_err(|e| io_error(file, e))?;
    let complete = (head.len() as u64) < HEAD_BYTES;
    let bom = if head.starts_with("\u{feff}".as_bytes()) { 3 } else { 0 };
    let head_text = match std::str::from_utf8(&head[bom..]) {
        Ok(s) => s,
        // The head may end inside a character; the reader has checked the bytes themselves.
        Err(e) => std::str::from_utf8(&head[bom..bom + e.valid_up_to()]).unwrap_or_default(),
    };
    if complete && head_text.trim().is_empty() {
        return Err(DataError::Empty { file: file.to_string() });
    }
    let format = format.unwrap_or_else(|| sniff_format(file, head_text, complete));
    let mut builder = make(format);
    let mut stream = Cursor::new(head).chain(tracked);
    stream.get_mut().0.set_position(bom as u64);
    match format {
        Format::Delimited { delimiter } => read_delimited(&mut builder, stream, delimiter as u8, bom as u64)?,
        Format::JsonLines => read_lines(&mut builder, stream, true)?,
        Format::PlainText => read_lines(&mut builder, stream, false)?,
        Format::JsonArray => read_json_array(&mut builder, stream)?,
    }
    Ok(builder)
}

type Stream<R> = std::io::Chain<Cursor<Vec<u8>>, TrackedReader<R>>;

fn read_delimited<R: Read>(builder: &mut impl Rows, stream: Stream<R>, delimiter: u8, bom: u64) -> Result<(), DataError> {
    let file = builder.file().to_string();
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(stream);
    let csv_error = |reader: &mut csv::Reader<Stream<R>>, e: csv::Error| -> DataError {
        let line = e.position().map(|p| reader.get_mut().get_mut().1.line_at(p.byte() + bom)).unwrap_or(1);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => io_error(&file, io),
            other => DataError::Row { file: file.clone(), line, message: format!("{other:?}") },
        }
    };
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => return Err(csv_error(&mut reader, e)),
    };
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(DataError::Empty { file });
    }
    builder.header(header)?;
    let columns = builder.columns().len();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let offset = record.position().map_or(0, |p| p.byte()) + bom;
                let line = reader.get_mut().get_mut().1.line_at(offset);
                if record.len() != columns {
                    let n = record.len();
                    builder.malformed(line, || {
                        format!("line {line} has {n} fields but the header has {columns}; quote fields that contain the delimiter")
                    });
                } else {
                    builder.row(line, |i| Cell::Text(Cow::Borrowed(record.get(i).unwrap_or(""))));
                }
            }
            Err(e) => return Err(csv_error(&mut reader, e)),
        }
    }
    Ok(())
}

/// JSON lines (`json`) or plain text, one row per non-blank line.
fn read_lines<R: Read>(builder: &mut impl Rows, stream: Stream<R>, json: bool) -> Result<(), DataError> {
    let file = builder.file().to_string();
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut raw = String::new();
    let mut line = 0;
    if !json {
        builder.header(vec!["text".to_string()])?;
    }
    loop {
        raw.clear();
        if reader.read_line(&mut raw).map_err(|e| io_error(&file, e))? == 0 {
            break;
        }
        line += 1;
        let content = raw.trim_end_matches(['\n', '\r']);
        if content.trim().is_empty() {
            continue;
        }
        if !json {
            builder.row(line, |_| Cell::Text(Cow::Borrowed(content)));
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(content) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => {
                builder.malformed(line, || format!("line {line} is not a JSON object"));
                continue;
            }
            Err(e) => {
                builder.malformed(line, || format!("line {line} is not valid JSON: {e}"));
                continue;
            }
        };
        if !builder.has_header() {
            builder.header(object.keys().cloned().collect())?;
        }
        let columns = builder.columns().to_vec();
        builder.row(line, |i| json_cell(object.get(&columns[i])));
    }
    Ok(())
}

/// A JSON array of objects. The whole array is read into memory; each object's line is
/// where it starts.
fn read_json_array<R: Read>(builder: &mut impl Rows, mut stream: Stream<R>) -> Result<(), DataError> {
    let file = builder.file().to_string();
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(|e| io_error(&file, e))?;
    let mut line = 1;
    let mut counted = 0;
    let mut line_of = |offset: usize| {
        line += text.as_bytes()[counted..offset].iter().filter(|&&b| b == b'\n').count();
        counted = offset;
        line
    };
    let syntax = |line: usize, message: String| DataError::Row { file: file.clone(), line, message };
    let skip_ws = |at: usize| at + text[at..].len() - text[at..].trim_start().len();
    let mut at = skip_ws(0);
    if !text[at..].starts_with('[') {
        return Err(syntax(line_of(at), "expected a JSON array of objects".into()));
    }
    at = skip_ws(at + 1);
    if text[at..].starts_with(']') {
        return Ok(());
    }
    loop {
        let start_line = line_of(at);
        let mut values = serde_json::Deserializer::from_str(&text[at..]).into_iter::<serde_json::Value>();
        let value = match values.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => return Err(syntax(start_line + e.line() - 1, format!("not a valid JSON array: {e}"))),
            None => return Err(syntax(start_line, "the JSON array is not closed; end it with ]".into())),
        };
        at = skip_ws(at + values.byte_offset());
        match value {
            serde_json::Value::Object(object) => {
                if !builder.has_header() {
                    builder.header(object.keys().cloned().collect())?;
                }
                let columns = builder.columns().to_vec();
                builder.row(start_line, |i| json_cell(object.get(&columns[i])));
            }
            _ => builder.malformed(start_line, || format!("the array element on line {start_line} is not an object")),
        }
        match text[at..].chars().next() {
            Some(',') => at = skip_ws(at + 1),
            Some(']') => break,
            _ => return Err(syntax(line_of(at), "expected , or ] after an array element".into())),
        }
    }
    let rest = at + 1;
    if !text[rest..].trim().is_empty() {
        return Err(syntax(line_of(skip_ws(rest)), "text after the end of the JSON array".into()));
    }
    Ok(())
}
