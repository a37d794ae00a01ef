//! `webtune inspect` and the data checks `train` runs first: the report, the exit status,
//! and the same report as the browser computes (the golden file is shared with tests/web.rs).

#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn webtune_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).current_dir(dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webtune-inspect-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn inspect_reports_awkward_csv_and_fails_on_bad_rows() {
    let model = fixtures().join("tiny-bert");
    let out = webtune_in(&fixtures().join("data"), &["inspect", "awkward.csv", "--model", model.to_str().unwrap(), "--max-length", "16"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let expected_start = "awkward.csv: CSV (semicolon-separated) · 9 rows, 7 usable, 2 unusable\ncolumns: review, sentiment\n  text: review · label: sentiment\n";
    assert!(stdout.starts_with(expected_start), "{stdout}");
    for line in [
        "  error: rows that cannot be parsed (first: line 7 has 3 fields but the header has 2; quote fields that contain the delimiter) — 1 row: line 7",
        "  error: the label \"sentiment\" is missing or empty; fill it in or remove the rows — 1 row: line 6",
        "  warning: duplicate texts (the first repeats line 2), 1 of them with a different label; remove them so they do not count twice — 1 row: line 9",
        "  warning: labels with a single example (\"meh\"); they cannot be both learned and validated — add examples or merge them — 1 row: line 10",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(stdout.contains("       3  two  lines; one review"), "the preview shows the quoted newline flattened:\n{stdout}");
    assert_eq!(
        text(&out.stderr).lines().next().unwrap(),
        "error: awkward.csv: 2 of 9 rows cannot be used; fix them, or skip them (--skip-bad-rows)"
    );
    let skipping = webtune_in(&fixtures().join("data"), &["inspect", "awkward.csv", "--skip-bad-rows"]);
    assert!(skipping.status.success(), "{}", text(&skipping.stderr));
}

/// The report is exactly the committed golden, which tests/web.rs also checks in the
/// browser: the same bytes give the same report on both platforms.
/// `WEBTUNE_BLESS=1` rewrites the golden after an intended change.
#[test]
fn inspect_json_matches_the_golden_report() {
    let model = fixtures().join("tiny-bert");
    let out = webtune_in(
        &fixtures().join("data"),
        &["inspect", "awkward.csv", "--model", model.to_str().unwrap(), "--max-length", "16", "--json", "--skip-bad-rows"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let golden_path = fixtures().join("data/awkward.report.json");
    if std::env::var_os("WEBTUNE_BLESS").is_some() {
        std::fs::write(&golden_path, &out.stdout).unwrap();
    }
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden_path).unwrap()).unwrap();
    assert_eq!(got, golden);
}

#[test]
fn inspect_names_invalid_utf8_and_missing_columns() {
    let dir = temp_dir();
    std::fs::write(dir.join("latin1.csv"), b"text,label\ncaf\xe9,a\n").unwrap();
    let out = webtune_in(&dir, &["inspect", "latin1.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: latin1.csv:2: invalid UTF-8 at byte offset 14; save the file as UTF-8\n");
    std::fs::write(dir.join("cols.csv"), b"a,b\nx,y\n").unwrap();
    let out = webtune_in(&dir, &["inspect", "cols.csv"]);
    assert_eq!(text(&out.stderr), "error: cols.csv: no text column found; name it with --text-column (columns: a, b)\n");
    let out = webtune_in(&dir, &["inspect", "cols.csv", "--text-column", "a", "--label-column", "b", "--label-name", "y=yes"]);
    assert!(text(&out.stdout).contains("  yes "), "{}", text(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "a single class cannot be trained");
    assert_eq!(text(&out.stderr), "error: cols.csv: every row has the label \"yes\"; a classifier needs at least two labels\n");
}

#[test]
fn train_refuses_bad_rows_before_loading_the_model() {
    // A model folder with its config.json but no weights: the data is refused first, so a
    // user with bad rows does not wait for a large model to load (nor see its error).
    let model = temp_dir().join("config-only");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::copy(fixtures().join("tiny-bert-cls/config.json"), model.join("config.json")).unwrap();
    let out = webtune_in(
        &fixtures().join("data"),
        &["train", "--model", model.to_str().unwrap(), "--train", "awkward.csv", "--out", "unused"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("model.safetensors"), "{stderr}");
    assert!(stderr.starts_with("webtune: awkward.csv: CSV (semicolon-separated) · 9 rows, 7 usable\n"), "{stderr}");
    assert!(stderr.contains("\nerror: awkward.csv: 2 of 9 rows cannot be used; fix them, or skip them (--skip-bad-rows)\n  error: rows that cannot be parsed"), "{stderr}");
}

#[test]
fn train_scores_a_test_file_and_writes_a_model_card() {
    let dir = temp_dir().join("train-test");
    std::fs::create_dir_all(&dir).unwrap();
    let rows = |n: usize, offset: usize| -> String {
        let mut csv = String::from("text,label\n");
        for i in 0..n {
            let (word, label) = if i % 2 == 0 { ("good", "pos") } else { ("bad", "neg") };
            csv.push_str(&format!("{word} {},{label}\n", i + offset));
        }
        csv
    };
    std::fs::write(dir.join("train.csv"), rows(16, 0)).unwrap();
    // The test file repeats a training text (line 2 is "good 0"): reported as leakage.
    std::fs::write(dir.join("test.csv"), rows(6, 0).replace("good 4,pos", "good 100,pos")).unwrap();
    let model = fixtures().join("tiny-bert-cls");
    let out = webtune_in(
        &dir,
        &["train", "--model", model.to_str().unwrap(), "--train", "train.csv", "--test", "test.csv", "--valid-split", "0",
          "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--device", "cpu", "--out", "model"],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("webtune: test.csv: warning: test texts that are also in the training data (the first is training line 2); test scores will look better than they are — 5 rows: lines 2, 3, 4, 5, 7"), "{stderr}");
    assert!(stderr.contains("test (6 examples): loss 0.") && stderr.contains(" · accuracy 0."), "{stderr}");
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("model/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["test"]["examples"], 6);
    assert_eq!(metrics["test"]["labels"], serde_json::json!(["neg", "pos"]));
    let card = std::fs::read_to_string(dir.join("model/README.md")).unwrap();
    assert!(card.contains("| 0 | neg | 8 |") && card.contains("| 1 | pos | 8 |"), "{card}");
    // The training log: two steps of one epoch, no validation set so no validation columns.
    let log = std::fs::read_to_string(dir.join("model/training_log.csv")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], webtune::train::LOG_CSV_HEADER);
    assert_eq!(lines.len(), 3, "{log}");
    for (i, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(&fields[..2], &[(i + 1).to_string().as_str(), "1"], "{line}");
        let loss: f64 = fields[2].parse().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{line}");
        assert_eq!(&fields[7..], &["", "", ""], "{line}");
    }
}

/// One max-length policy and one metrics schema: a default length is lowered to the
/// model's limit and said so, an explicit one beyond it is refused naming the flag, and
/// `webtune evaluate` on the validation file prints what metrics.json holds for it.
#[test]
fn train_and_evaluate_share_the_length_policy_and_the_metrics_schema() {
    let dir = temp_dir().join("train-evaluate");
    std::fs::create_dir_all(&dir).unwrap();
    let rows = |n: usize, offset: usize| -> String {
        let mut csv = String::from("text,label\n");
        for i in 0..n {
            let (word, label) = if i % 2 == 0 { ("good", "pos") } else { ("bad", "neg") };
            csv.push_str(&format!("{word} {},{label}\n", i + offset));
        }
        csv
    };
    std::fs::write(dir.join("train.csv"), rows(16, 0)).unwrap();
    std::fs::write(dir.join("valid.csv"), rows(6, 100)).unwrap();
    let model = fixtures().join("tiny-bert-cls");
    let model = model.to_str().unwrap();
    let base = ["train", "--model", model, "--train", "train.csv", "--valid", "valid.csv", "--epochs", "2", "--batch-size", "8", "--device", "cpu"];

    let refused = webtune_in(&dir, &[&base[..], &["--max-length", "65", "--out", "refused"]].concat());
    assert!(!refused.status.success());
    assert_eq!(
        text(&refused.stderr).lines().last().unwrap(),
        "error: setting --max-length = 65 is impossible: the model takes at most 64 tokens (max_position_embeddings in config.json); choose 64 or less"
    );
    assert!(!dir.join("refused").exists(), "nothing is written for a refused setting");

    let out = webtune_in(&dir, &[&base[..], &["--out", "model"]].concat());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("webtune: max length 64 instead of the default 128: this model takes at most 64 tokens\n"), "{stderr}");
    let json = |name: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(dir.join("model").join(name)).unwrap()).unwrap() };
    let (args, metrics) = (json("training_args.json"), json("metrics.json"));
    assert_eq!(
        (&args["task"], &args["model_type"], &args["base_model"], &args["train_file"], &args["valid_file"], &args["valid_split"]),
        (&"sequence_classification".into(), &"bert".into(), &"tiny-bert-cls".into(), &"train.csv".into(), &"valid.csv".into(), &serde_json::Value::Null)
    );
    assert_eq!(args["settings"]["max_length"], 64);
    assert_eq!(metrics["steps"], 4);
    assert_eq!(metrics["stop_reason"], serde_json::json!({"reason": "completed"}));
    assert_eq!(metrics["kept_step"], metrics["best_step"], "the exported weights are the best evaluation's");
    assert!(metrics["training_seconds"].as_f64().unwrap() > 0.0);

    let evaluated = webtune_in(&dir, &["evaluate", "--model", "model", "--data", "valid.csv", "--batch-size", "8", "--device", "cpu"]);
    assert!(evaluated.status.success(), "{}", text(&evaluated.stderr));
    let evaluated: serde_json::Value = serde_json::from_slice(&evaluated.stdout).unwrap();
    let validation = &metrics["validation"];
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&evaluated), keys(validation), "evaluate prints metrics.json's schema");
    for key in ["confusion", "labels", "examples", "accuracy", "macro_f1", "per_class"] {
        assert_eq!(evaluated[key], validation[key], "{key}");
    }
    let (a, b) = (evaluated["loss"].as_f64().unwrap(), validation["loss"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-6, "loss {a} from evaluate, {b} in metrics.json");
}
