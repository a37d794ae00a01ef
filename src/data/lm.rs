//! Data for generative models, read by the same format readers as classification data
//! (CSV/TSV, JSON lines, JSON arrays, plain text) with the same report and line numbers.
//!
//! A file holds one of four layouts, told from its columns:
//! - `text` (or plain text, one example per line): language modelling over all tokens;
//! - `prompt` / `completion`: the completion is learnt (a `prompt` alone is for generation);
//! - `messages`: a conversation, a list of `{"role", "content"}` turns (in CSV, that list as
//!   JSON text), whose assistant turns are learnt;
//! - Alpaca's `instruction` / `input` (optional) / `output`: a prompt made with
//!   [`alpaca_prompt`] and `output` as its completion.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::format::Format;
use super::read::{Cell, ColumnProblem, ColumnRoles, DataError, DataReport, PREVIEW_ROWS, PreviewRow, Rows, read_rows, structured_kind};
use super::report::{Finding, FindingKind, LineList, Severity};
use crate::checkpoint::Message;

/// What one example of language-modelling data holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmRecord {
    /// Text to model as a whole (or, for generation, to continue).
    Text(String),
    /// A prompt and, when the data gives it, the completion that follows.
    Prompt {
        /// The prompt.
        prompt: String,
        /// What follows it.
        completion: Option<String>,
    },
    /// A conversation.
    Chat(Vec<Message>),
}

/// An example and its line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmRow {
    /// The content.
    pub record: LmRecord,
    /// 1-based line in its file (for a JSON array, where its object starts).
    pub line: usize,
}

/// Which layout a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmLayout {
    /// Plain text.
    Text,
    /// Prompts with completions.
    PromptCompletion,
    /// Prompts only (for generation).
    Prompt,
    /// Conversations.
    Chat,
    /// Alpaca-style instruction / input / output, made into prompt and completion.
    Instruction,
}

impl std::fmt::Display for LmLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Text => "plain text",
            Self::PromptCompletion => "prompt / completion pairs",
            Self::Prompt => "prompts",
            Self::Chat => "chats",
            Self::Instruction => "instruction / input / output (Alpaca)",
        })
    }
}

/// How to read language-modelling data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LmReadOptions {
    /// The format, when the caller knows better than the sniffer.
    pub format: Option<Format>,
    /// The column to model as plain text, overriding the layout guess.
    pub text_column: Option<String>,
    /// Whether a `prompt` needs its `completion` (training, evaluation) or may stand alone
    /// (generation).
    pub require_target: bool,
}

/// A read file of language-modelling data.
#[derive(Clone, Debug)]
pub struct LmDataset {
    /// What was found (`roles.text` is the main column: text, prompt, messages or
    /// instruction; `roles.text_pair` the completion or output).
    pub report: DataReport,
    /// The layout.
    pub layout: LmLayout,
    /// The usable examples, in file order.
    pub rows: Vec<LmRow>,
}

/// The roles a conversation's turns may have.
pub const CHAT_ROLES: &[&str] = &["system", "user", "assistant", "tool"];

/// Alpaca's prompt (Stanford Alpaca's `PROMPT_DICT`), with and without an input; the
/// `output` is the completion that follows it.
pub fn alpaca_prompt(instruction: &str, input: Option<&str>) -> String {
    match input.filter(|i| !i.trim().is_empty()) {
        Some(input) => format!(
            "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        ),
        None => format!(
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        ),
    }
}

/// A conversation from a cell: a JSON list (or, in CSV, JSON text of one) of
/// `{"role", "content"}` objects with known roles.
fn conversation(cell: &Cell<'_>) -> Result<Vec<Message>, String> {
    let parsed;
    let value = match cell {
        Cell::Structured(value) => *value,
        Cell::Text(text) => {
            parsed = serde_json::from_str::<serde_json::Value>(text).map_err(|_| "\"messages\" holds text, not a list of {\"role\", \"content\"} objects".to_string())?;
            &parsed
        }
        Cell::Missing => return Err("\"messages\" is missing".into()),
    };
    let Some(turns) = value.as_array() else {
        let kind = if value.is_object() { structured_kind(value) } else { "a single value" };
        return Err(format!("\"messages\" must be a list of {{\"role\", \"content\"}} objects, not {kind}"));
    };
    if turns.is_empty() {
        return Err("\"messages\" is an empty list".into());
    }
    let mut messages = Vec::with_capacity(turns.len());
    for (i, turn) in turns.iter().enumerate() {
        let n = i + 1;
        let Some(turn) = turn.as_object() else { return Err(format!("message {n} is not a {{\"role\", \"content\"}} object")) };
        let role = match turn.get("role") {
            Some(serde_json::Value::String(role)) => role.clone(),
            Some(_) => return Err(format!("message {n}'s \"role\" is not text")),
            None => return Err(format!("message {n} has no \"role\"")),
        };
        if !CHAT_ROLES.contains(&role.as_str()) {
            return Err(format!("message {n} has the unknown role \"{role}\"; use {}", CHAT_ROLES.join(", ")));
        }
        let content = match turn.get("content") {
            Some(serde_json::Value::String(content)) => content.clone(),
            Some(serde_json::Value::Null) | None => return Err(format!("message {n} ({role}) has no \"content\"")),
            Some(_) => return Err(format!("message {n}'s \"content\" is not text (webtune trains on text turns)")),
        };
        messages.push(Message { role, content });
    }
    Ok(messages)
}

/// Columns by role, once the header is known.
#[derive(Clone, Copy)]
enum Picked {
    Text(usize),
    Prompt(usize, Option<usize>),
    Chat(usize),
    Instruction(usize, Option<usize>, usize),
}

struct LmRows<'o> {
    file: String,
    format: Format,
    options: &'o LmReadOptions,
    columns: Vec<String>,
    picked: Option<(Picked, LmLayout, ColumnRoles)>,
    preview: Vec<PreviewRow>,
    rows: usize,
    out: Vec<LmRow>,
    malformed: LineList,
    non_scalar: LineList,
    empty_text: LineList,
    empty_completion: LineList,
    bad_chat: LineList,
}

fn find(columns: &[String], name: &str) -> Option<usize> {
    columns.iter().position(|c| c.trim().eq_ignore_ascii_case(name))
}

impl Rows for LmRows<'_> {
    fn file(&self) -> &str {
        &self.file
    }

    fn has_header(&self) -> bool {
        self.picked.is_some()
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn header(&mut self, columns: Vec<String>) -> Result<(), DataError> {
        let problem = |problem: ColumnProblem| DataError::Column { file: self.file.clone(), problem, columns: columns.join(", ") };
        let roles = |text: usize, pair: Option<usize>| ColumnRoles { text: columns[text].clone(), text_pair: pair.map(|p| columns[p].clone()), label: None };
        let picked = if let Some(name) = &self.options.text_column {
            let i = columns.iter().position(|c| c == name).ok_or_else(|| problem(ColumnProblem::NoSuchColumn(name.clone())))?;
            (Picked::Text(i), LmLayout::Text, roles(i, None))
        } else if let Some(m) = find(&columns, "messages") {
            (Picked::Chat(m), LmLayout::Chat, roles(m, None))
        } else if let Some(p) = find(&columns, "prompt") {
            match find(&columns, "completion") {
                Some(c) => (Picked::Prompt(p, Some(c)), LmLayout::PromptCompletion, roles(p, Some(c))),
                None if self.options.require_target => return Err(problem(ColumnProblem::NoCompletion)),
                None => (Picked::Prompt(p, None), LmLayout::Prompt, roles(p, None)),
            }
        } else if let (Some(i), Some(o)) = (find(&columns, "instruction"), find(&columns, "output")) {
            (Picked::Instruction(i, find(&columns, "input"), o), LmLayout::Instruction, roles(i, Some(o)))
        } else if let Some(t) = find(&columns, "text").or_else(|| (columns.len() == 1).then_some(0)) {
            (Picked::Text(t), LmLayout::Text, roles(t, None))
        } else {
            return Err(problem(ColumnProblem::NoLanguageColumns));
        };
        self.picked = Some(picked);
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
        let Some((picked, ..)) = &self.picked else { return };
        let columns = &self.columns;
        // A text cell, or the reason it is not one.
        let text = |i: usize, non_scalar: &mut LineList| -> Option<String> {
            match cell(i) {
                Cell::Text(s) => Some(s.into_owned()),
                Cell::Missing => Some(String::new()),
                Cell::Structured(value) => {
                    non_scalar.push(line, || format!("\"{}\" holds {}", columns[i], structured_kind(value)));
                    None
                }
            }
        };
        let record = match *picked {
            Picked::Text(t) => {
                let Some(s) = text(t, &mut self.non_scalar) else { return };
                if s.trim().is_empty() {
                    self.empty_text.push(line, String::new);
                    return;
                }
                LmRecord::Text(s)
            }
            Picked::Prompt(p, c) => {
                let Some(prompt) = text(p, &mut self.non_scalar) else { return };
                let completion = match c {
                    Some(c) => match text(c, &mut self.non_scalar) {
                        Some(s) => Some(s),
                        None => return,
                    },
                    None => None,
                };
                if prompt.trim().is_empty() {
                    self.empty_text.push(line, String::new);
                    return;
                }
                if completion.as_deref().is_some_and(|c| c.trim().is_empty()) {
                    self.empty_completion.push(line, String::new);
                    return;
                }
                LmRecord::Prompt { prompt, completion }
            }
            Picked::Instruction(i, input, o) => {
                let Some(instruction) = text(i, &mut self.non_scalar) else { return };
                let input = match input {
                    Some(c) => match text(c, &mut self.non_scalar) {
                        Some(s) => Some(s),
                        None => return,
                    },
                    None => None,
                };
                let Some(output) = text(o, &mut self.non_scalar) else { return };
                if instruction.trim().is_empty() {
                    self.empty_text.push(line, String::new);
                    return;
                }
                if output.trim().is_empty() {
                    self.empty_completion.push(line, String::new);
                    return;
                }
                LmRecord::Prompt { prompt: alpaca_prompt(&instruction, input.as_deref()), completion: Some(output) }
            }
            Picked::Chat(m) => match conversation(&cell(m)) {
                Ok(messages) => LmRecord::Chat(messages),
                Err(detail) => {
                    self.bad_chat.push(line, || format!("line {line}: {detail}"));
                    return;
                }
            },
        };
        self.out.push(LmRow { record, line });
    }
}

impl LmRows<'_> {
    fn finish(self) -> Result<LmDataset, DataError> {
        let Some((_, layout, roles)) = self.picked else {
            return Err(match self.malformed.lines.first() {
                Some(&line) => DataError::Row { file: self.file, line, message: self.malformed.first_detail.unwrap_or_default() },
                None => DataError::Empty { file: self.file },
            });
        };
        if self.rows == 0 {
            return Err(DataError::Empty { file: self.file });
        }
        let mut findings: Vec<Finding> = Vec::new();
        findings.extend(self.malformed.finding(FindingKind::MalformedRow, Severity::Error, |first| format!("rows that cannot be parsed (first: {first})")));
        findings.extend(self.non_scalar.finding(FindingKind::NonScalar, Severity::Error, |first| {
            format!("fields that hold a list or object instead of text (first: {first})")
        }));
        findings.extend(self.empty_text.finding(FindingKind::EmptyText, Severity::Error, |_| {
            format!("\"{}\" is missing or empty; fill it in or remove the rows", roles.text)
        }));
        let target = roles.text_pair.clone().unwrap_or_else(|| "completion".into());
        findings.extend(self.empty_completion.finding(FindingKind::EmptyText, Severity::Error, |_| {
            format!("the {target} \"{target}\" is empty, so there is nothing to learn; fill it in or remove the rows")
        }));
        findings.extend(self.bad_chat.finding(FindingKind::BadConversation, Severity::Error, |first| {
            format!("conversations that cannot be used (first: {first})")
        }));
        let mut report = DataReport {
            file: self.file,
            format: self.format,
            columns: self.columns,
            roles,
            preview: self.preview,
            rows: self.rows,
            usable: self.out.len(),
            labels: None,
            lengths: None,
            findings: Vec::new(),
        };
        report.add_findings(findings);
        Ok(LmDataset { report, layout, rows: self.out })
    }
}

/// Reads language-modelling data as it streams from `reader` (named `file` in messages),
/// as [`super::read_dataset`] reads classification data: the format sniffed unless
/// `options.format` says, rows that cannot be used counted in the report's findings with
/// their lines (decide with [`DataReport::check`] whether to skip them).
pub fn read_lm_dataset(file: &str, reader: impl Read, options: &LmReadOptions) -> Result<LmDataset, DataError> {
    let make = |format| LmRows {
        file: file.to_string(),
        format,
        options,
        columns: Vec::new(),
        picked: None,
        preview: Vec::new(),
        rows: 0,
        out: Vec::new(),
        malformed: LineList::default(),
        non_scalar: LineList::default(),
        empty_text: LineList::default(),
        empty_completion: LineList::default(),
        bad_chat: LineList::default(),
    };
    read_rows(file, reader, options.format, make)?.finish()
}

/// Whether a header (the column names of a file) is language-modelling data rather than
/// classification data: a `messages`, `prompt`, or `instruction` + `output` column.
pub fn looks_generative(columns: &[String]) -> bool {
    find(columns, "messages").is_some() || find(columns, "prompt").is_some() || (find(columns, "instruction").is_some() && find(columns, "output").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<LmDataset, DataError> {
        read_lm_dataset(name, text.as_bytes(), &LmReadOptions { require_target: true, ..LmReadOptions::default() })
    }

    #[test]
    fn each_layout_is_told_from_its_columns() {
        let chat = read("c.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n").unwrap();
        assert_eq!(chat.layout, LmLayout::Chat);
        assert_eq!(chat.rows[0].record, LmRecord::Chat(vec![Message { role: "user".into(), content: "Hi".into() }, Message { role: "assistant".into(), content: "Hello".into() }]));
        let pairs = read("p.csv", "prompt,completion\nTwo plus two?, four\n").unwrap();
        assert_eq!(pairs.layout, LmLayout::PromptCompletion);
        assert_eq!(pairs.rows[0], LmRow { record: LmRecord::Prompt { prompt: "Two plus two?".into(), completion: Some(" four".into()) }, line: 2 });
        let text = read("t.txt", "one line\n\nanother\n").unwrap();
        assert_eq!(text.layout, LmLayout::Text);
        assert_eq!(text.rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 3]);
        let alpaca = read("a.jsonl", "{\"instruction\": \"Say hi\", \"input\": \"\", \"output\": \"hi\"}\n{\"instruction\": \"Add\", \"input\": \"2 2\", \"output\": \"4\"}\n").unwrap();
        assert_eq!(alpaca.layout, LmLayout::Instruction);
        let LmRecord::Prompt { prompt, completion } = &alpaca.rows[1].record else { panic!() };
        assert!(prompt.ends_with("### Instruction:\nAdd\n\n### Input:\n2 2\n\n### Response:\n"), "{prompt}");
        assert_eq!(completion.as_deref(), Some("4"));
        let LmRecord::Prompt { prompt, .. } = &alpaca.rows[0].record else { panic!() };
        assert!(!prompt.contains("### Input"), "an empty input takes the prompt without one: {prompt}");
    }

    #[test]
    fn csv_conversations_are_json_text() {
        let data = read("c.csv", "messages\n\"[{\"\"role\"\": \"\"user\"\", \"\"content\"\": \"\"Hi\"\"}, {\"\"role\"\": \"\"assistant\"\", \"\"content\"\": \"\"Yo\"\"}]\"\n").unwrap();
        assert_eq!(data.layout, LmLayout::Chat);
        assert_eq!(data.report.usable, 1);
    }

    #[test]
    fn bad_conversations_and_empty_completions_are_findings_with_their_lines() {
        let data = read(
            "c.jsonl",
            concat!(
                "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n",
                "{\"messages\": [{\"role\": \"bot\", \"content\": \"Hi\"}]}\n",
                "{\"messages\": \"Hi there\"}\n",
                "{\"messages\": {\"role\": \"user\", \"content\": \"Hi\"}}\n",
                "{\"messages\": [{\"role\": \"user\"}]}\n",
            ),
        )
        .unwrap();
        assert_eq!((data.report.rows, data.report.usable), (5, 1));
        let finding = &data.report.findings[0];
        assert_eq!(finding.kind, FindingKind::BadConversation);
        assert_eq!(finding.lines, vec![2, 3, 4, 5]);
        assert_eq!(
            finding.to_string(),
            "error: conversations that cannot be used (first: line 2: message 1 has the unknown role \"bot\"; use system, user, assistant, tool) — 4 rows: lines 2, 3, 4, 5"
        );
        let err = data.report.check(super::super::RowPolicy::Fail).unwrap_err().to_string();
        assert!(err.contains("4 of 5 rows cannot be used"), "{err}");
        for (text, expected) in [
            ("{\"messages\": \"Hi there\"}\n", "\"messages\" holds text, not a list"),
            ("{\"messages\": {\"role\": \"user\"}}\n", "not an object"),
            ("{\"messages\": [{\"role\": \"user\"}]}\n", "message 1 (user) has no \"content\""),
        ] {
            let data = read("c.jsonl", text).unwrap();
            assert!(data.report.findings[0].message.contains(expected), "{text}: {}", data.report.findings[0].message);
        }
        let pairs = read("p.jsonl", "{\"prompt\": \"a\", \"completion\": \"\"}\n{\"prompt\": \"b\", \"completion\": \"c\"}\n").unwrap();
        assert_eq!(pairs.report.findings[0].lines, vec![1]);
        assert!(pairs.report.findings[0].message.contains("\"completion\" is empty"), "{}", pairs.report.findings[0].message);
    }

    #[test]
    fn a_prompt_without_completion_is_for_generation_only() {
        let err = read("p.jsonl", "{\"prompt\": \"a\"}\n").unwrap_err().to_string();
        assert!(err.contains("no \"completion\""), "{err}");
        let data = read_lm_dataset("p.jsonl", "{\"prompt\": \"a\"}\n".as_bytes(), &LmReadOptions::default()).unwrap();
        assert_eq!(data.layout, LmLayout::Prompt);
        let err = read("x.csv", "question,answer\na,b\n").unwrap_err().to_string();
        assert!(err.contains("no column to learn from"), "{err}");
        assert!(looks_generative(&["messages".into()]) && !looks_generative(&["text".into(), "label".into()]));
    }
}
