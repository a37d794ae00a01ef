//! Reading every format with awkward content, and every finding with its message and lines.

use super::*;

fn read(name: &str, text: &str) -> Result<Dataset, DataError> {
    read_dataset(name, text.as_bytes(), &ReadOptions::default())
}

fn findings(dataset: &Dataset) -> Vec<String> {
    dataset.report.findings.iter().map(ToString::to_string).collect()
}

/// Texts that break naive parsers.
const AWKWARD: [&str; 7] = [
    "He said \"hi\", then \"bye\"",
    "two\nlines",
    "emoji 😀 and combining e\u{301} accents",
    "  padded with spaces  ",
    "semi;colons;and,commas",
    "tab\tinside",
    "trailing backslash \\",
];

/// 1-based line where each row starts, given a header line and rows that may span lines.
fn expected_lines(texts: &[&str], header_lines: usize) -> Vec<usize> {
    let mut line = header_lines + 1;
    texts
        .iter()
        .map(|t| {
            let at = line;
            line += 1 + t.matches('\n').count();
            at
        })
        .collect()
}

fn assert_round_trip(dataset: &Dataset, texts: &[&str], lines: &[usize]) {
    let got: Vec<(&str, Option<&str>, usize)> = dataset.examples.iter().map(|e| (e.text.as_str(), e.label.as_deref(), e.line)).collect();
    let want: Vec<(&str, Option<&str>, usize)> =
        texts.iter().zip(lines).enumerate().map(|(i, (t, &l))| (*t, Some(if i % 2 == 0 { "pos" } else { "neg" }), l)).collect();
    assert_eq!(got, want);
    assert_eq!(dataset.report.rows, texts.len());
    assert!(dataset.report.findings.iter().all(|f| f.severity != Severity::Error), "{:?}", dataset.report.findings);
}

fn write_delimited(delimiter: u8, crlf: bool, bom: bool, trailing_newline: bool) -> String {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
        .from_writer(Vec::new());
    writer.write_record(["text", "label"]).unwrap();
    for (i, t) in AWKWARD.iter().enumerate() {
        writer.write_record([*t, if i % 2 == 0 { "pos" } else { "neg" }]).unwrap();
    }
    let mut text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
    if !trailing_newline {
        text.truncate(text.trim_end_matches(['\r', '\n']).len());
    }
    if bom {
        text.insert(0, '\u{feff}');
    }
    text
}

#[test]
fn round_trips_delimited_files_in_every_variant() {
    for (delimiter, format) in [(b',', ','), (b';', ';'), (b'\t', '\t')] {
        for crlf in [false, true] {
            for bom in [false, true] {
                for trailing in [false, true] {
                    let text = write_delimited(delimiter, crlf, bom, trailing);
                    let dataset = read("upload", &text).unwrap_or_else(|e| panic!("{format:?} crlf={crlf} bom={bom}: {e}"));
                    assert_eq!(dataset.report.format, Format::Delimited { delimiter: format }, "crlf={crlf} bom={bom}");
                    assert_eq!(dataset.report.columns, vec!["text", "label"]);
                    assert_round_trip(&dataset, &AWKWARD, &expected_lines(&AWKWARD, 1));
                }
            }
        }
    }
}

#[test]
fn round_trips_json_lines_and_arrays() {
    let objects: Vec<serde_json::Value> = AWKWARD
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"text": t, "label": if i % 2 == 0 { "pos" } else { "neg" }, "meta": {"i": i}}))
        .collect();
    for crlf in [false, true] {
        let newline = if crlf { "\r\n" } else { "\n" };
        let jsonl: String = objects.iter().map(|o| format!("{o}{newline}")).collect();
        let dataset = read("d.jsonl", &format!("\u{feff}{jsonl}")).unwrap();
        assert_eq!(dataset.report.format, Format::JsonLines);
        assert_round_trip(&dataset, &AWKWARD, &(1..=AWKWARD.len()).collect::<Vec<_>>());
        let pretty = serde_json::to_string_pretty(&objects).unwrap().replace('\n', newline);
        let dataset = read("d.json", &pretty).unwrap();
        assert_eq!(dataset.report.format, Format::JsonArray);
        // Each pretty-printed object spans 7 lines after the opening bracket.
        assert_round_trip(&dataset, &AWKWARD, &(0..AWKWARD.len()).map(|i| 2 + 7 * i).collect::<Vec<_>>());
    }
}

#[test]
fn reads_plain_text_one_example_per_line() {
    let text = "first line, with a comma\r\n\nsecond 😀\nthird, with, more, commas";
    let options = ReadOptions { require_labels: false, ..ReadOptions::default() };
    let dataset = read_dataset("corpus.txt", text.as_bytes(), &options).unwrap();
    assert_eq!(dataset.report.format, Format::PlainText);
    let got: Vec<(&str, usize)> = dataset.examples.iter().map(|e| (e.text.as_str(), e.line)).collect();
    assert_eq!(got, vec![("first line, with a comma", 1), ("second 😀", 3), ("third, with, more, commas", 4)]);
    assert_eq!(dataset.report.labels, None);
    let error = read("corpus.txt", text).unwrap_err().to_string();
    assert_eq!(
        error,
        "corpus.txt: plain text has no labels; for classification use CSV, TSV or JSON lines with a label column (columns: text)"
    );
}

#[test]
fn empty_file_and_header_only_have_no_examples() {
    for (name, text) in [("e.csv", ""), ("e.csv", "\u{feff}"), ("e.csv", "text,label\n"), ("e.csv", "text,label"), ("e.jsonl", "\n\n"), ("e.json", "[ ]")] {
        assert_eq!(read(name, text).unwrap_err(), DataError::Empty { file: name.into() }, "{text:?}");
    }
}

#[test]
fn invalid_utf8_names_line_and_offset() {
    let mut bytes = b"text,label\ngood,a\nbad \xc3\x28 byte,b\n".to_vec();
    let error = read_dataset("d.csv", &bytes[..], &ReadOptions::default()).unwrap_err();
    assert_eq!(error.to_string(), "d.csv:3: invalid UTF-8 at byte offset 22; save the file as UTF-8");
    // Far past the sniffed head, too.
    let mut big = b"text,label\n".to_vec();
    for i in 0..20_000 {
        big.extend_from_slice(format!("row {i},a\n").as_bytes());
    }
    let offset = big.len() + 4;
    big.extend_from_slice(b"bad \xff,b\n");
    let error = read_dataset("d.csv", &big[..], &ReadOptions::default()).unwrap_err();
    assert_eq!(error, DataError::Utf8 { file: "d.csv".into(), line: 20_002, offset: offset as u64 });
    bytes.clear();
}

#[test]
fn malformed_rows_are_counted_with_their_lines() {
    let csv = "text,label\nfine,a\ntoo,many,fields\nok,b\nshort\n";
    let dataset = read("d.csv", csv).unwrap();
    assert_eq!((dataset.report.rows, dataset.report.usable), (4, 2));
    assert_eq!(
        findings(&dataset)[0],
        "error: rows that cannot be parsed (first: line 3 has 3 fields but the header has 2; quote fields that contain the delimiter) — 2 rows: lines 3, 5"
    );
    let jsonl = "{\"text\": \"a\", \"label\": 1}\n{oops\n[1, 2]\n{\"text\": \"b\", \"label\": 0}\n";
    let dataset = read("d.jsonl", jsonl).unwrap();
    let finding = &dataset.report.findings[0];
    assert_eq!((finding.kind, finding.lines.clone(), finding.count), (FindingKind::MalformedRow, vec![2, 3], 2));
    assert!(finding.message.starts_with("rows that cannot be parsed (first: line 2 is not valid JSON: key must be a string"), "{}", finding.message);
}

#[test]
fn empty_fields_missing_labels_and_non_scalars_are_errors_with_lines() {
    let jsonl = [
        r#"{"text": "ok", "label": "a"}"#,
        r#"{"text": "", "label": "a"}"#,
        r#"{"text": "no label"}"#,
        r#"{"text": ["a", "list"], "label": "b"}"#,
        r#"{"text": "   ", "label": null}"#,
        r#"{"text": "fine", "label": 2}"#,
        r#"{"text": "obj", "label": {"x": 1}}"#,
    ]
    .join("\n");
    let dataset = read("d.jsonl", &jsonl).unwrap();
    assert_eq!(
        findings(&dataset)[..3],
        [
            "error: fields that hold a list or object instead of text (first: \"text\" holds a list); flatten them to a string or number — 2 rows: lines 4, 7",
            "error: the text \"text\" is missing or empty; fill it in or remove the rows — 2 rows: lines 2, 5",
            "error: the label \"label\" is missing or empty; fill it in or remove the rows — 2 rows: lines 3, 5",
        ]
    );
    assert_eq!((dataset.report.rows, dataset.report.usable, dataset.report.bad_rows()), (7, 2, 5));
    assert_eq!(
        dataset.report.check(RowPolicy::Fail).unwrap_err().to_string().lines().next().unwrap(),
        "d.jsonl: 5 of 7 rows cannot be used; fix them, or skip them (the option to skip bad rows)"
    );
    let flag = |f: DataField| if f == DataField::SkipBadRows { "--skip-bad-rows" } else { "--a-column" };
    assert_eq!(
        dataset.report.check(RowPolicy::Fail).unwrap_err().worded(&flag).lines().next().unwrap(),
        "d.jsonl: 5 of 7 rows cannot be used; fix them, or skip them (--skip-bad-rows)"
    );
    assert_eq!(dataset.report.check(RowPolicy::Skip), Ok(()));
    let labels: Vec<_> = dataset.examples.iter().map(|e| (e.line, e.label.clone().unwrap())).collect();
    assert_eq!(labels, vec![(1, "a".to_string()), (6, "2".to_string())]);
}

#[test]
fn a_file_with_no_usable_rows_is_unusable_even_when_skipping() {
    let dataset = read("d.csv", "text,label\n,a\n  ,b\n").unwrap();
    assert_eq!(
        dataset.report.check(RowPolicy::Skip).unwrap_err().to_string(),
        "d.csv: none of its 2 rows can be used:\n  error: the text \"text\" is missing or empty; fill it in or remove the rows — 2 rows: lines 2, 3"
    );
}

#[test]
fn a_single_class_is_unusable() {
    let dataset = read("d.csv", "text,label\na,x\nb,x\n").unwrap();
    assert_eq!(
        dataset.report.check(RowPolicy::Skip).unwrap_err().to_string(),
        "d.csv: every row has the label \"x\"; a classifier needs at least two labels"
    );
}

#[test]
fn duplicates_rare_classes_and_imbalance_are_warnings() {
    let mut csv = String::from("sentence;category\n");
    for i in 0..30 {
        csv.push_str(&format!("text {i};big\n"));
    }
    csv.push_str("text 3;big\ntext 4;small\nlonely;small\n");
    let dataset = read("d.csv", &csv).unwrap();
    assert_eq!(dataset.report.roles, ColumnRoles { text: "sentence".into(), text_pair: None, label: Some("category".into()) });
    assert_eq!(dataset.report.labels, Some(LabelSet { names: vec!["big".into(), "small".into()], counts: vec![31, 2] }));
    assert_eq!(
        findings(&dataset),
        [
            "warning: duplicate texts (the first repeats line 5), 1 of them with a different label; remove them so they do not count twice — 2 rows: lines 32, 33",
            "warning: the classes are imbalanced: \"big\" has 31 examples, \"small\" has 2 (16×); accuracy will flatter the model, so watch macro F1",
        ]
    );
    assert_eq!(dataset.report.check(RowPolicy::Fail), Ok(()));
}

#[test]
fn guesses_columns_and_takes_overrides_and_label_names() {
    let tsv = "id\treview\tsentence2\tstars\n1\tgood\tfine\t1\n2\tbad\tawful\t0\n";
    let options = ReadOptions {
        columns: Columns { text: None, text_pair: None, label: Some("stars".into()) },
        label_names: [("0".to_string(), "negative".to_string()), ("1".to_string(), "positive".to_string())].into(),
        ..ReadOptions::default()
    };
    let dataset = read_dataset("d.tsv", tsv.as_bytes(), &options).unwrap();
    assert_eq!(
        dataset.examples[1],
        Example { text: "bad".into(), pair: Some("awful".into()), label: Some("negative".into()), line: 3 }
    );
    assert_eq!(dataset.report.preview[0], PreviewRow { line: 2, cells: vec!["1".into(), "good".into(), "fine".into(), "1".into()] });
    let options = ReadOptions { columns: Columns { label: Some("nope".into()), ..Columns::default() }, ..ReadOptions::default() };
    assert_eq!(
        read_dataset("d.tsv", tsv.as_bytes(), &options).unwrap_err().to_string(),
        "d.tsv: there is no column \"nope\" (columns: id, review, sentence2, stars)"
    );
}

#[test]
fn json_array_syntax_errors_name_their_line() {
    let text = "[\n  {\"text\": \"a\", \"label\": 1},\n  {\"text\": \"b\" \"label\": 0}\n]";
    let error = read("d.json", text).unwrap_err();
    assert!(matches!(&error, DataError::Row { line: 3, .. }), "{error}");
    let error = read("d.json", "[{\"text\": \"a\", \"label\": 1}").unwrap_err().to_string();
    assert_eq!(error, "d.json:1: expected , or ] after an array element");
}

#[test]
fn token_lengths_report_truncation() {
    let bytes = include_bytes!("../../tests/fixtures/tiny-bert/tokenizer.json");
    let tokenizer = crate::checkpoint::TextTokenizer::from_bytes(bytes, 6, 0).unwrap();
    let csv = "text,label\nhello,a\nhello world this is long,b\nthe cat,a\n";
    let mut dataset = read("d.csv", csv).unwrap();
    let labels = dataset.report.labels.clone().unwrap();
    let set = TokenizedSet::new(&dataset.examples, &labels, &tokenizer).unwrap();
    assert!(set.encoded.iter().all(|e| e.ids.len() <= 6));
    dataset.report.add_lengths(&set.full_lengths, &set.lines, tokenizer.max_length());
    // Full lengths from Python `tokenizers` with truncation off: 7, 16 and 6 tokens.
    assert_eq!(set.full_lengths, vec![7, 16, 6]);
    let stats = dataset.report.lengths.clone().unwrap();
    assert_eq!((stats.max_length, stats.p50, stats.p95, stats.max, stats.truncated), (6, 7, 16, 16, 2));
    let finding = dataset.report.findings.iter().find(|f| f.kind == FindingKind::Truncated).unwrap();
    assert_eq!(finding.lines, vec![2, 3]);
}

#[test]
fn skipping_keeps_every_row_accounted_for() {
    let csv = "text,label\na,x\n,y\nb,\nc,y\nd,x,extra\n";
    let dataset = read("d.csv", csv).unwrap();
    let listed: usize = dataset.report.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.count).sum();
    assert_eq!(dataset.report.usable + listed, dataset.report.rows);
    assert_eq!(dataset.examples.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 5]);
}

// proptest is a native dev-dependency (the browser tests are in tests/web.rs).
#[cfg(not(target_arch = "wasm32"))]
mod never_panics {
    use proptest::prelude::*;

    use super::*;

    fn any_format() -> impl Strategy<Value = Option<Format>> {
        prop_oneof![
            Just(None),
            Just(Some(Format::Delimited { delimiter: ',' })),
            Just(Some(Format::Delimited { delimiter: '\t' })),
            Just(Some(Format::JsonLines)),
            Just(Some(Format::JsonArray)),
            Just(Some(Format::PlainText)),
        ]
    }

    /// Bytes biased toward the characters parsers care about.
    fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => prop::sample::select(b"\",;\t\r\n{}[]:\\ abtextlabel0".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in tricky_bytes(), format in any_format(), labels in any::<bool>()) {
            let options = ReadOptions { format, require_labels: labels, ..ReadOptions::default() };
            if let Ok(dataset) = read_dataset("fuzz", &bytes[..], &options) {
                let report = &dataset.report;
                let errors: usize = report.findings.iter().filter(|f| f.severity == Severity::Error && !f.lines.is_empty()).map(|f| f.count).sum();
                prop_assert!(report.usable <= report.rows);
                prop_assert!(errors >= report.bad_rows());
                let _ = report.check(RowPolicy::Skip);
            }
        }

        #[test]
        fn csv_rows_round_trip(rows in prop::collection::vec(("[^\u{0}]{1,20}", "[a-c]"), 1..20)) {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(["text", "label"]).unwrap();
            for (text, label) in &rows {
                writer.write_record([text, label]).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let options = ReadOptions { format: Some(Format::Delimited { delimiter: ',' }), ..ReadOptions::default() };
            let dataset = read_dataset("rt.csv", &bytes[..], &options).unwrap();
            let usable: Vec<(String, String)> = rows.iter().filter(|(t, _)| !t.trim().is_empty()).cloned().collect();
            let got: Vec<(String, String)> = dataset.examples.iter().map(|e| (e.text.clone(), e.label.clone().unwrap())).collect();
            prop_assert_eq!(got, usable);
            prop_assert_eq!(dataset.report.rows, rows.len());
        }
    }
}
