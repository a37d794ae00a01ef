//! Which kind of file this is, told from its first bytes (the name only breaks ties).

use serde::{Deserialize, Serialize};

/// The layout of a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Format {
    /// Delimited text with a header row (RFC 4180 quoting).
    Delimited {
        /// The field separator: `,`, `;`, tab or `|`.
        delimiter: char,
    },
    /// One JSON object per line (JSONL / NDJSON).
    JsonLines,
    /// A JSON array of objects.
    JsonArray,
    /// One example per line, no header; a single column named `text`.
    PlainText,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Format::Delimited { delimiter: '\t' } => write!(f, "TSV (tab-separated)"),
            Format::Delimited { delimiter: ',' } => write!(f, "CSV (comma-separated)"),
            Format::Delimited { delimiter: ';' } => write!(f, "CSV (semicolon-separated)"),
            Format::Delimited { delimiter } => write!(f, "CSV (separated by '{delimiter}')"),
            Format::JsonLines => write!(f, "JSON lines"),
            Format::JsonArray => write!(f, "JSON array"),
            Format::PlainText => write!(f, "plain text (one example per line)"),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    /// The names accepted by `--format`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "csv" => Format::Delimited { delimiter: ',' },
            "csv-semicolon" => Format::Delimited { delimiter: ';' },
            "tsv" => Format::Delimited { delimiter: '\t' },
            "jsonl" | "ndjson" => Format::JsonLines,
            "json" => Format::JsonArray,
            "txt" | "text" => Format::PlainText,
            other => return Err(format!("unknown format \"{other}\"; choose csv, csv-semicolon, tsv, jsonl, json or txt")),
        })
    }
}

const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];
/// Records looked at when sniffing the delimiter.
const SNIFF_RECORDS: usize = 50;

/// Field count per record of `head` split by `delimiter`, quoting respected. When `head` is
/// only the start of the file, its last record may be cut short and is left out.
fn field_counts(head: &str, delimiter: u8, complete: bool) -> Vec<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(head.as_bytes());
    let mut counts: Vec<usize> = reader.records().take(SNIFF_RECORDS + 1).map_while(Result::ok).map(|r| r.len()).collect();
    if !complete && counts.len() > 1 {
        counts.pop();
    }
    counts.truncate(SNIFF_RECORDS);
    counts
}

/// The delimiter that splits every sniffed record into the same number (≥ 2) of fields,
/// preferring more fields; `None` when no delimiter does.
fn sniff_delimiter(head: &str, complete: bool) -> Option<u8> {
    DELIMITERS
        .into_iter()
        .filter_map(|d| {
            let counts = field_counts(head, d, complete);
            let first = *counts.first()?;
            (first >= 2 && counts.iter().all(|&c| c == first)).then_some((d, first))
        })
        .max_by_key(|&(d, fields)| (fields, std::cmp::Reverse(DELIMITERS.iter().position(|&x| x == d))))
        .map(|(d, _)| d)
}

/// Tells the format of a file from its first bytes `head` (BOM already removed; `complete`
/// when `head` is the whole file) and its name. JSON is recognised by its first character;
/// delimited text by a delimiter that splits the first records into equal numbers of
/// fields. A `.txt` file is plain text unless it starts like JSON; a `.csv`/`.tsv` file
/// whose rows disagree is still read as delimited, so its bad rows get reported.
pub fn sniff_format(name: &str, head: &str, complete: bool) -> Format {
    match head.trim_start().chars().next() {
        Some('{') => return Format::JsonLines,
        Some('[') => return Format::JsonArray,
        _ => {}
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "txt" => return Format::PlainText,
        "jsonl" | "ndjson" => return Format::JsonLines,
        "json" => return Format::JsonArray,
        _ => {}
    }
    if let Some(d) = sniff_delimiter(head, complete) {
        return Format::Delimited { delimiter: d as char };
    }
    match extension.as_str() {
        "tsv" | "tab" => Format::Delimited { delimiter: '\t' },
        "csv" => {
            let first_line = head.lines().next().unwrap_or("");
            let d = [b',', b';', b'\t'].into_iter().max_by_key(|d| first_line.bytes().filter(|b| b == d).count()).unwrap_or(b',');
            Format::Delimited { delimiter: d as char }
        }
        _ => Format::PlainText,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_semicolons_despite_commas_in_text() {
        let head = "text;label\n\"Well, fine\";pos\nbad, bad, bad;neg\n";
        assert_eq!(sniff_format("export.dat", head, true), Format::Delimited { delimiter: ';' });
    }

    #[test]
    fn sniffs_tabs_and_quoted_newlines() {
        let head = "sentence\tlabel\n\"two\nlines, here\"\t1\nplain\t0\n";
        assert_eq!(sniff_format("upload", head, true), Format::Delimited { delimiter: '\t' });
    }

    #[test]
    fn prose_with_varying_commas_is_plain_text() {
        let head = "Hello, world.\nNo commas here\nOne, two, three, four\n";
        assert_eq!(sniff_format("corpus", head, true), Format::PlainText);
        assert_eq!(sniff_format("notes.txt", "a,b\nc,d\n", true), Format::PlainText);
    }

    #[test]
    fn json_is_told_by_its_first_character() {
        assert_eq!(sniff_format("x.csv", "  {\"a\": 1}\n", true), Format::JsonLines);
        assert_eq!(sniff_format("x", "\n[{\"a\": 1}]", true), Format::JsonArray);
    }

    #[test]
    fn ignores_a_cut_last_record_when_sniffing_a_head() {
        assert_eq!(sniff_format("d", "a,b\nc,d\ne,", false), Format::Delimited { delimiter: ',' });
    }
}
