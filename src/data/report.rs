//! The validation report: what is wrong or worth knowing about a data file, as plain data
//! the browser renders and the CLI prints. Every finding names its lines.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Example, LabelSet};

/// How many line numbers a finding lists; `count` has the total.
pub const LINES_LISTED: usize = 10;
/// A class this many times smaller than the largest is reported as an imbalance.
pub const IMBALANCE_RATIO: f64 = 10.0;

/// Whether a finding makes rows unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The rows cannot be used: they fail the read, or are skipped when asked to.
    Error,
    /// The rows are used; worth a look.
    Warning,
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A row the parser cannot read (wrong number of fields, invalid JSON, not an object).
    MalformedRow,
    /// The text (or second text) is missing or blank.
    EmptyText,
    /// The label is missing or blank.
    MissingLabel,
    /// A field holds an array or object where a string or number belongs.
    NonScalar,
    /// The same text (and pair) appears more than once.
    Duplicate,
    /// A validation example's text also appears in the training data.
    Leakage,
    /// A validation label that the training data does not have.
    UnseenLabel,
    /// A class has fewer than 2 examples.
    RareClass,
    /// Only one class: nothing to classify.
    SingleClass,
    /// The largest class is many times the size of the smallest.
    Imbalance,
    /// Rows longer than the maximum length, which will be truncated.
    Truncated,
    /// A conversation (`messages`) that is not a list of `{role, content}` turns, or has a
    /// role webtune does not know.
    BadConversation,
    /// A language-modelling example with nothing left to learn (its prompt fills the max
    /// length).
    NothingToLearn,
}

/// One problem or observation, with the lines it concerns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// Whether the rows are unusable.
    pub severity: Severity,
    /// What was found and what to do, in a sentence.
    pub message: String,
    /// The first [`LINES_LISTED`] 1-based lines concerned (empty for dataset-wide findings).
    pub lines: Vec<usize>,
    /// How many rows it concerns in total.
    pub count: usize,
}

impl Finding {
    pub(crate) fn new(kind: FindingKind, severity: Severity, message: String, lines: &[usize], count: usize) -> Self {
        Self { kind, severity, message, lines: lines.iter().copied().take(LINES_LISTED).collect(), count }
    }
}

impl std::fmt::Display for Finding {
    /// `error: <message> — 3 rows: lines 4, 9, 12`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: {}", self.message)?;
        if !self.lines.is_empty() {
            let rows = if self.count == 1 { "1 row".to_string() } else { format!("{} rows", self.count) };
            let listed: Vec<String> = self.lines.iter().map(usize::to_string).collect();
            let more = if self.count > self.lines.len() { ", …" } else { "" };
            let word = if self.lines.len() == 1 { "line" } else { "lines" };
            write!(f, " — {rows}: {word} {}{more}", listed.join(", "))?;
        }
        Ok(())
    }
}

/// Collects the lines of one kind of row-level problem while reading.
#[derive(Debug, Default)]
pub(crate) struct LineList {
    pub lines: Vec<usize>,
    pub count: usize,
    /// The first occurrence's detail, for the message.
    pub first_detail: Option<String>,
}

impl LineList {
    pub(crate) fn push(&mut self, line: usize, detail: impl FnOnce() -> String) {
        if self.count == 0 {
            self.first_detail = Some(detail());
        }
        if self.lines.len() < LINES_LISTED {
            self.lines.push(line);
        }
        self.count += 1;
    }

    pub(crate) fn finding(&self, kind: FindingKind, severity: Severity, message: impl FnOnce(&str) -> String) -> Option<Finding> {
        (self.count > 0).then(|| Finding::new(kind, severity, message(self.first_detail.as_deref().unwrap_or("")), &self.lines, self.count))
    }
}

/// Token-length statistics of a dataset, special tokens included, before truncation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LengthStats {
    /// The maximum length inputs are truncated to.
    pub max_length: usize,
    /// Median length.
    pub p50: usize,
    /// 95th percentile.
    pub p95: usize,
    /// Longest.
    pub max: usize,
    /// Rows longer than `max_length`.
    pub truncated: usize,
    /// `truncated` as a share of all rows.
    pub truncated_share: f64,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[usize], p: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Statistics of token `lengths` (one per row, at `lines`) and the finding for rows that
/// will be truncated at `max_length`.
pub fn length_report(lengths: &[usize], lines: &[usize], max_length: usize) -> (LengthStats, Option<Finding>) {
    let mut sorted = lengths.to_vec();
    sorted.sort_unstable();
    let mut over = LineList::default();
    for (&length, &line) in lengths.iter().zip(lines) {
        if length > max_length {
            over.push(line, || length.to_string());
        }
    }
    let stats = LengthStats {
        max_length,
        p50: percentile(&sorted, 50.0),
        p95: percentile(&sorted, 95.0),
        max: sorted.last().copied().unwrap_or(0),
        truncated: over.count,
        truncated_share: if lengths.is_empty() { 0.0 } else { over.count as f64 / lengths.len() as f64 },
    };
    let share = stats.truncated_share * 100.0;
    let finding = over.finding(FindingKind::Truncated, Severity::Warning, |_| {
        format!(
            "{share:.1}% of rows are longer than the maximum length of {max_length} tokens and will be truncated (longest: {}); raise the maximum length if the end of the text matters",
            stats.max
        )
    });
    (stats, finding)
}

fn key(e: &Example) -> (&str, Option<&str>) {
    (e.text.as_str(), e.pair.as_deref())
}

/// Rows whose text (and pair) repeats an earlier row: the repeats' lines, and how many of
/// them carry a different label than the first.
pub fn duplicates(examples: &[Example]) -> Option<Finding> {
    let mut first: HashMap<(&str, Option<&str>), &Example> = HashMap::with_capacity(examples.len());
    let mut repeats = LineList::default();
    let mut conflicting = 0;
    for e in examples {
        match first.get(&key(e)) {
            Some(original) => {
                repeats.push(e.line, || original.line.to_string());
                if original.label != e.label {
                    conflicting += 1;
                }
            }
            None => {
                first.insert(key(e), e);
            }
        }
    }
    repeats.finding(FindingKind::Duplicate, Severity::Warning, |first_line| {
        let conflict = match conflicting {
            0 => String::new(),
            1 => ", 1 of them with a different label".to_string(),
            n => format!(", {n} of them with a different label"),
        };
        format!("duplicate texts (the first repeats line {first_line}){conflict}; remove them so they do not count twice")
    })
}

/// Rows of a held-out set (`what`: "validation" or "test") whose text (and pair) also
/// appears in the training rows: their scores measure memory, not generalisation. Also
/// held-out labels training never saw.
pub fn compare_splits(train: &[Example], valid: &[Example], what: &str) -> Vec<Finding> {
    let seen: HashMap<(&str, Option<&str>), usize> = train.iter().map(|e| (key(e), e.line)).collect();
    let train_labels: std::collections::HashSet<Option<&str>> = train.iter().map(|e| e.label.as_deref()).collect();
    let mut leaked = LineList::default();
    let mut unseen = LineList::default();
    for e in valid {
        if let Some(line) = seen.get(&key(e)) {
            leaked.push(e.line, || line.to_string());
        }
        if e.label.is_some() && !train_labels.contains(&e.label.as_deref()) {
            unseen.push(e.line, || e.label.clone().unwrap_or_default());
        }
    }
    let mut findings = Vec::new();
    findings.extend(leaked.finding(FindingKind::Leakage, Severity::Warning, |line| {
        format!("{what} texts that are also in the training data (the first is training line {line}); {what} scores will look better than they are")
    }));
    findings.extend(unseen.finding(FindingKind::UnseenLabel, Severity::Warning, |label| {
        format!("{what} labels that the training data does not have (first: \"{label}\"); the model cannot predict them")
    }));
    findings
}

/// Findings about the classes: fewer than two classes, classes with fewer than 2
/// examples (with their lines), and a strong imbalance.
pub fn class_findings(examples: &[Example], labels: &LabelSet) -> Vec<Finding> {
    let mut findings = Vec::new();
    if labels.names.len() == 1 {
        findings.push(Finding::new(
            FindingKind::SingleClass,
            Severity::Error,
            format!("every row has the label \"{}\"; a classifier needs at least two labels", labels.names[0]),
            &[],
            examples.len(),
        ));
    }
    let rare: Vec<&str> = labels.names.iter().zip(&labels.counts).filter(|(_, c)| **c < 2).map(|(n, _)| n.as_str()).collect();
    if !rare.is_empty() {
        let lines: Vec<usize> = examples.iter().filter(|e| e.label.as_deref().is_some_and(|l| rare.contains(&l))).map(|e| e.line).collect();
        let names: Vec<String> = rare.iter().map(|n| format!("\"{n}\"")).collect();
        findings.push(Finding::new(
            FindingKind::RareClass,
            Severity::Warning,
            format!("labels with a single example ({}); they cannot be both learned and validated — add examples or merge them", names.join(", ")),
            &lines,
            lines.len(),
        ));
    }
    if let (Some(most), Some(least)) = (
        labels.names.iter().zip(&labels.counts).max_by_key(|(_, c)| **c),
        labels.names.iter().zip(&labels.counts).min_by_key(|(_, c)| **c),
    ) && *least.1 > 0
        && *most.1 as f64 / *least.1 as f64 >= IMBALANCE_RATIO
    {
        findings.push(Finding::new(
            FindingKind::Imbalance,
            Severity::Warning,
            format!(
                "the classes are imbalanced: \"{}\" has {} examples, \"{}\" has {} ({:.0}×); accuracy will flatter the model, so watch macro F1",
                most.0,
                most.1,
                least.0,
                least.1,
                *most.1 as f64 / *least.1 as f64
            ),
            &[],
            0,
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, label: &str, line: usize) -> Example {
        Example { text: text.into(), pair: None, label: Some(label.into()), line }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let lengths: Vec<usize> = (1..=20).collect();
        let lines: Vec<usize> = (2..=21).collect();
        let (stats, finding) = length_report(&lengths, &lines, 18);
        assert_eq!((stats.p50, stats.p95, stats.max, stats.truncated), (10, 19, 20, 2));
        let finding = finding.unwrap();
        assert_eq!(finding.lines, vec![20, 21]);
        assert_eq!(
            finding.to_string(),
            "warning: 10.0% of rows are longer than the maximum length of 18 tokens and will be truncated (longest: 20); raise the maximum length if the end of the text matters — 2 rows: lines 20, 21"
        );
    }

    #[test]
    fn lists_ten_lines_and_counts_all_duplicates() {
        let mut rows = vec![ex("same", "a", 2)];
        rows.extend((0..12).map(|i| ex("same", if i == 0 { "b" } else { "a" }, i + 3)));
        let finding = duplicates(&rows).unwrap();
        assert_eq!(finding.count, 12);
        assert_eq!(finding.lines, (3..13).collect::<Vec<_>>());
        assert_eq!(
            finding.to_string(),
            "warning: duplicate texts (the first repeats line 2), 1 of them with a different label; remove them so they do not count twice — 12 rows: lines 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, …"
        );
    }

    #[test]
    fn reports_leakage_and_unseen_labels() {
        let train = vec![ex("a", "x", 2), ex("b", "y", 3)];
        let valid = vec![ex("b", "y", 2), ex("c", "z", 3)];
        let findings: Vec<String> = compare_splits(&train, &valid, "validation").iter().map(ToString::to_string).collect();
        assert_eq!(
            findings,
            [
                "warning: validation texts that are also in the training data (the first is training line 3); validation scores will look better than they are — 1 row: line 2",
                "warning: validation labels that the training data does not have (first: \"z\"); the model cannot predict them — 1 row: line 3",
            ]
        );
    }

    #[test]
    fn reports_rare_classes_single_class_and_imbalance() {
        let mut rows: Vec<Example> = (0..20).map(|i| ex(&format!("t{i}"), "big", i + 2)).collect();
        rows.push(ex("lonely", "small", 40));
        let labels = LabelSet::from_examples(&rows);
        let findings = class_findings(&rows, &labels);
        assert_eq!(findings.iter().map(|f| f.kind).collect::<Vec<_>>(), vec![FindingKind::RareClass, FindingKind::Imbalance]);
        assert_eq!(findings[0].lines, vec![40]);
        assert_eq!(
            findings[1].message,
            "the classes are imbalanced: \"big\" has 20 examples, \"small\" has 1 (20×); accuracy will flatter the model, so watch macro F1"
        );
        let one = vec![ex("a", "only", 2), ex("b", "only", 3)];
        let findings = class_findings(&one, &LabelSet::from_examples(&one));
        assert_eq!((findings[0].kind, findings[0].severity), (FindingKind::SingleClass, Severity::Error));
    }
}
