//! Reading labelled examples; every problem names the file, line and column.

use std::collections::BTreeMap;

use serde::Serialize;

/// One labelled example.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    /// The text.
    pub text: String,
    /// The second text, for sentence-pair tasks.
    pub pair: Option<String>,
    /// The label as written in the file (numbers become their decimal text).
    pub label: String,
    /// 1-based line of the example in its file.
    pub line: usize,
}

/// Which columns hold what; `None` means "guess from the header".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    /// Text column.
    pub text: Option<String>,
    /// Second text column (sentence pairs).
    pub text_pair: Option<String>,
    /// Label column.
    pub label: Option<String>,
}

const TEXT_GUESSES: &[&str] = &["text", "sentence", "sentence1", "review", "content", "body", "document", "question"];
const PAIR_GUESSES: &[&str] = &["text_pair", "sentence2", "text2", "hypothesis"];
const LABEL_GUESSES: &[&str] = &["label", "labels", "class", "category", "target", "sentiment", "y"];

/// A file that cannot be used as it is.
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
        offset: usize,
    },
    /// A row cannot be parsed.
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
    #[error("{file}: {message} (columns: {columns})")]
    Column {
        /// File name.
        file: String,
        /// What is wrong and what to do.
        message: String,
        /// The columns found, comma-separated.
        columns: String,
    },
    /// No examples.
    #[error("{file} has no examples")]
    Empty {
        /// File name.
        file: String,
    },
}

/// The labels of a training set, in a stable order (sorted; numbers numerically), with counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelSet {
    /// Label names in order; a label's index is its class id.
    pub names: Vec<String>,
    /// Examples per label, in the same order.
    pub counts: Vec<usize>,
}

impl LabelSet {
    /// Collects the labels of `examples`.
    pub fn from_examples(examples: &[Example]) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for e in examples {
            *counts.entry(e.label.clone()).or_default() += 1;
        }
        let mut names: Vec<String> = counts.keys().cloned().collect();
        if names.iter().all(|n| n.parse::<i64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<i64>().unwrap_or_default());
        }
        let counts = names.iter().map(|n| counts[n]).collect();
        Self { names, counts }
    }

    /// The class id of `label`.
    pub fn index(&self, label: &str) -> Option<usize> {
        self.names.iter().position(|n| n == label)
    }
}

fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn pick(explicit: &Option<String>, guesses: &[&str], header: &[String]) -> Option<String> {
    match explicit {
        Some(name) => Some(name.clone()),
        None => guesses
            .iter()
            .find_map(|g| header.iter().find(|h| h.trim().eq_ignore_ascii_case(g)).cloned()),
    }
}

struct Resolved {
    text: String,
    pair: Option<String>,
    label: String,
}

fn resolve(file: &str, columns: &Columns, header: &[String]) -> Result<Resolved, DataError> {
    let listed = header.join(", ");
    let missing = |what: &str, flag: &str| DataError::Column {
        file: file.to_string(),
        message: format!("no {what} column found; name it with {flag}"),
        columns: listed.clone(),
    };
    let text = pick(&columns.text, TEXT_GUESSES, header).ok_or_else(|| missing("text", "--text-column"))?;
    let label = pick(&columns.label, LABEL_GUESSES, header).ok_or_else(|| missing("label", "--label-column"))?;
    let pair = pick(&columns.text_pair, PAIR_GUESSES, header);
    for name in [Some(&text), Some(&label), pair.as_ref()].into_iter().flatten() {
        if !header.contains(name) {
            return Err(DataError::Column {
                file: file.to_string(),
                message: format!("there is no column \"{name}\""),
                columns: listed.clone(),
            });
        }
    }
    Ok(Resolved { text, pair, label })
}

/// Reads labelled examples from `bytes` (named `file` in messages). The format is detected
/// from the content: JSON lines, a JSON array of objects, or CSV/TSV with a header row
/// (delimiter `,`, `;` or tab, sniffed from the header). Rows with an empty text or label
/// are errors naming their line: nothing is dropped silently.
pub fn read_examples(file: &str, bytes: &[u8], columns: &Columns) -> Result<Vec<Example>, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        DataError::Utf8 {
            file: file.to_string(),
            line: bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1,
            offset,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let examples = match text.trim_start().chars().next() {
        Some('{') => read_json_lines(file, text, columns)?,
        Some('[') => read_json_array(file, text, columns)?,
        Some(_) => read_delimited(file, text, columns)?,
        None => Vec::new(),
    };
    if examples.is_empty() {
        return Err(DataError::Empty { file: file.to_string() });
    }
    Ok(examples)
}

fn example_from_object(
    file: &str,
    line: usize,
    object: &serde_json::Map<String, serde_json::Value>,
    cols: &Resolved,
) -> Result<Example, DataError> {
    let field = |name: &str| -> Result<String, DataError> {
        let value = object.get(name).unwrap_or(&serde_json::Value::Null);
        match scalar(value) {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) | None if value.is_null() || value.as_str().is_some() => Err(DataError::Row {
                file: file.to_string(),
                line,
                message: format!("\"{name}\" is missing or empty; fill it in or remove the row"),
            }),
            _ => Err(DataError::Row {
                file: file.to_string(),
                line,
                message: format!("\"{name}\" is not a string or number; flatten it"),
            }),
        }
    };
    Ok(Example {
        text: field(&cols.text)?,
        pair: cols.pair.as_deref().map(field).transpose()?,
        label: field(&cols.label)?,
        line,
    })
}

fn read_json_lines(file: &str, text: &str, columns: &Columns) -> Result<Vec<Example>, DataError> {
    let mut out = Vec::new();
    let mut resolved: Option<Resolved> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| DataError::Row {
            file: file.to_string(),
            line,
            message: format!("not valid JSON: {e}"),
        })?;
        let object = value.as_object().ok_or_else(|| DataError::Row {
            file: file.to_string(),
            line,
            message: "each line must be a JSON object".into(),
        })?;
        if resolved.is_none() {
            let header: Vec<String> = object.keys().cloned().collect();
            resolved = Some(resolve(file, columns, &header)?);
        }
        out.push(example_from_object(file, line, object, resolved.as_ref().unwrap())?);
    }
    Ok(out)
}

fn read_json_array(file: &str, text: &str, columns: &Columns) -> Result<Vec<Example>, DataError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| DataError::Row {
        file: file.to_string(),
        line: e.line(),
        message: format!("not a valid JSON array: {e}"),
    })?;
    let mut out = Vec::new();
    let mut resolved: Option<Resolved> = None;
    for (i, value) in values.iter().enumerate() {
        let object = value.as_object().ok_or_else(|| DataError::Row {
            file: file.to_string(),
            line: 1,
            message: format!("element {i} of the array is not an object"),
        })?;
        if resolved.is_none() {
            let header: Vec<String> = object.keys().cloned().collect();
            resolved = Some(resolve(file, columns, &header)?);
        }
        out.push(example_from_object(file, i + 1, object, resolved.as_ref().unwrap())?);
    }
    Ok(out)
}

/// 1-based line of the record that csv says starts at `byte`. With CRLF endings csv ends a
/// record at the CR, so the position can point at the LF before the record: skip it.
fn line_at(text: &str, byte: u64) -> usize {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(text.len());
    while end < bytes.len() && (bytes[end] == b'\n' || bytes[end] == b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

fn read_delimited(file: &str, text: &str, columns: &Columns) -> Result<Vec<Example>, DataError> {
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = [b'\t', b';', b','].into_iter().max_by_key(|d| first_line.bytes().filter(|b| b == d).count()).unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| DataError::Row {
            file: file.to_string(),
            line: 1,
            message: format!("cannot read the header row: {e}"),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let cols = resolve(file, columns, &header)?;
    let index = |name: &str| header.iter().position(|h| h == name).unwrap_or(0);
    let (ti, li, pi) = (index(&cols.text), index(&cols.label), cols.pair.as_deref().map(index));
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| line_at(text, p.byte())).unwrap_or(0);
            DataError::Row {
                file: file.to_string(),
                line,
                message: match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("has {len} fields but the header has {expected_len}; quote fields that contain the delimiter")
                    }
                    _ => e.to_string(),
                },
            }
        })?;
        let line = record.position().map(|p| line_at(text, p.byte())).unwrap_or(0);
        let field = |i: usize, name: &str| -> Result<String, DataError> {
            let value = record.get(i).unwrap_or("");
            if value.trim().is_empty() {
                Err(DataError::Row {
                    file: file.to_string(),
                    line,
                    message: format!("\"{name}\" is empty; fill it in or remove the row"),
                })
            } else {
                Ok(value.to_string())
            }
        };
        out.push(Example {
            text: field(ti, &cols.text)?,
            pair: match (pi, &cols.pair) {
                (Some(i), Some(name)) => Some(field(i, name)?),
                _ => None,
            },
            label: field(li, &cols.label)?.trim().to_string(),
            line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_with_quotes_and_guesses_columns() {
        let csv = "id,review,sentiment\r\n1,\"Great, really \"\"great\"\"\",pos\r\n2,\"two\nlines\",neg\r\n";
        let ex = read_examples("r.csv", csv.as_bytes(), &Columns::default()).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].text, "Great, really \"great\"");
        assert_eq!((ex[0].label.as_str(), ex[0].line), ("pos", 2));
        assert_eq!((ex[1].text.as_str(), ex[1].line), ("two\nlines", 3));
    }

    #[test]
    fn reads_jsonl_with_integer_labels_and_pairs() {
        let jsonl = "{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 1}\n\n{\"sentence1\": \"c\", \"sentence2\": \"d\", \"label\": 0}\n";
        let ex = read_examples("p.jsonl", jsonl.as_bytes(), &Columns::default()).unwrap();
        assert_eq!(ex[1], Example { text: "c".into(), pair: Some("d".into()), label: "0".into(), line: 3 });
        let labels = LabelSet::from_examples(&ex);
        assert_eq!(labels.names, vec!["0", "1"]);
    }

    #[test]
    fn names_the_line_of_a_row_with_too_many_fields() {
        let csv = "text,label\nfine,a\ntoo,many,fields\n";
        assert_eq!(
            read_examples("d.csv", csv.as_bytes(), &Columns::default()).unwrap_err().to_string(),
            "d.csv:3: has 3 fields but the header has 2; quote fields that contain the delimiter"
        );
    }

    #[test]
    fn names_the_line_of_an_empty_label() {
        let csv = "text,label\nfine,a\nmissing,\n";
        assert_eq!(
            read_examples("d.csv", csv.as_bytes(), &Columns::default()).unwrap_err().to_string(),
            "d.csv:3: \"label\" is empty; fill it in or remove the row"
        );
    }

    #[test]
    fn names_the_columns_when_none_can_be_guessed() {
        let csv = "foo,bar\nx,y\n";
        assert_eq!(
            read_examples("d.csv", csv.as_bytes(), &Columns::default()).unwrap_err().to_string(),
            "d.csv: no text column found; name it with --text-column (columns: foo, bar)"
        );
    }

    #[test]
    fn numeric_labels_sort_numerically() {
        let ex: Vec<Example> = ["10", "2", "1"].iter().map(|l| Example { text: "t".into(), pair: None, label: l.to_string(), line: 1 }).collect();
        assert_eq!(LabelSet::from_examples(&ex).names, vec!["1", "2", "10"]);
    }
}
