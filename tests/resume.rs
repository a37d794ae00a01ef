//! Runs that survive: `webtune train --save-every` checkpoints, a run killed mid-way
//! (SIGKILL) or interrupted (Ctrl-C) continues with `--resume` to the losses and weights of
//! an uninterrupted run, and a damaged checkpoint, changed data or a changed setting is
//! refused with what to do. A run that diverges between two reads of its losses ends at
//! the step that diverged, with the weights of the step before it, however often it reads.

#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use webtune::rng::SeededRng;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn webtune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).output().unwrap()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// A fresh temporary folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webtune-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The tiny BERT classifier with dropout switched on (0.1, as BERT has it), so that a
/// resumed run must also draw the uninterrupted run's dropout masks.
fn dropout_model(dir: &Path) -> PathBuf {
    let model = dir.join("tiny-bert-dropout");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures().join("tiny-bert-cls").join(f), model.join(f)).unwrap();
    }
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(fixtures().join("tiny-bert-cls/config.json")).unwrap()).unwrap();
    config["hidden_dropout_prob"] = 0.1.into();
    config["attention_probs_dropout_prob"] = 0.1.into();
    std::fs::write(model.join("config.json"), config.to_string()).unwrap();
    model
}

/// A learnable keyword task in the tiny vocabulary, as CSV: the label is which word family
/// a text uses.
fn keyword_csv(n: usize, seed: u64) -> String {
    let positive = ["love", "best", "fine", "ever", "like"];
    let negative = ["lazy", "no", "wait", "way", "long"];
    let filler = ["the", "quick", "brown", "fox", "day", "dog", "one", "over", "with", "this"];
    let mut rng = SeededRng::new(seed);
    let mut csv = String::from("text,label\n");
    for i in 0..n {
        let (words, label) = if i % 2 == 0 { (&positive, "pos") } else { (&negative, "neg") };
        let mut text: Vec<&str> = (0..5).map(|_| filler[rng.below(filler.len())]).collect();
        for _ in 0..2 {
            text.insert(rng.below(text.len() + 1), words[rng.below(words.len())]);
        }
        csv += &format!("{},{label}\n", text.join(" "));
    }
    csv
}

/// Every column of the training log but the elapsed time, per step.
fn log_rows(out: &Path) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(out.join("training_log.csv")).unwrap();
    let mut lines = log.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let elapsed = header.iter().position(|c| *c == "elapsed_s").unwrap();
    let samples = header.iter().position(|c| *c == "samples_per_second").unwrap();
    lines.map(|l| l.split(',').enumerate().filter(|(i, _)| *i != elapsed && *i != samples).map(|(_, v)| v.to_string()).collect()).collect()
}

/// Asserts two runs' logs are equal, naming the first row that differs.
fn assert_same_log(a: &[Vec<String>], b: &[Vec<String>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: {} rows vs {}", a.len(), b.len());
    if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
        panic!("{what}: the logs differ first at step {}:\n  {x:?}\n  {y:?}", x[0]);
    }
}

/// Every tensor of a safetensors file, by name.
fn tensors(path: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(name, view)| (name, view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())).collect()
}

/// The largest difference between two runs' weights (same names required).
fn weight_difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (tensors(a), tensors(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter().flat_map(|(name, x)| x.iter().zip(&b[name]).map(|(p, q)| (p - q).abs())).fold(0.0, f32::max)
}

/// The settings shared by the runs compared: 200 examples, batch 4 (45 steps an epoch after
/// the 10% validation split), 4 epochs, evaluations every 30 steps (best checkpoint), and a
/// decaying learning rate, so that every part of the trainer's state matters.
fn run_args<'a>(model: &'a str, data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train", "--model", model, "--train", data, "--out", out, "--device", "cpu", "--epochs", "4", "--batch-size", "4", "--lr", "5e-3", "--warmup-ratio", "0.1",
        "--eval-every", "30", "--seed", "7",
    ]
}

#[test]
fn a_killed_run_resumes_to_the_losses_and_weights_of_an_uninterrupted_run() {
    let dir = scratch("killed");
    let model = dropout_model(&dir);
    let data = dir.join("keywords.csv");
    std::fs::write(&data, keyword_csv(200, 3)).unwrap();
    let (model, data) = (s(&model), s(&data));

    let whole = dir.join("whole");
    let out = webtune(&run_args(&model, &data, &s(&whole)));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The same run with checkpoints every 10 steps, killed once checkpoint-60 exists.
    let killed = dir.join("killed");
    let killed_out = s(&killed);
    let mut args = run_args(&model, &data, &killed_out);
    args.extend(["--save-every", "10", "--save-total-limit", "3"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_webtune")).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !killed.join("checkpoint-60").is_dir() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(300), "no checkpoint-60 after 5 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join("model.safetensors").exists(), "the run was killed before its export");
    let mut kept: Vec<usize> = std::fs::read_dir(&killed)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|n| n.strip_prefix("checkpoint-")).and_then(|n| n.parse().ok()))
        .collect();
    kept.sort();
    assert!(kept.len() <= 3 && kept.contains(&60), "--save-total-limit 3 keeps the last three: {kept:?}");
    let checkpoint = killed.join(format!("checkpoint-{}", kept.last().unwrap()));
    for f in ["model.safetensors", "config.json", "tokenizer.json", "optimizer.safetensors", "best.safetensors", "trainer_state.json", "training_args.json"] {
        assert!(checkpoint.join(f).is_file(), "a checkpoint holds {f}");
    }

    let out = webtune(&["train", "--resume", &s(&killed), "--train", &data, "--device", "cpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("resuming tiny-bert-dropout from {} at step {} of 180", checkpoint.display(), kept.last().unwrap())), "{stderr}");

    let (a, b) = (log_rows(&whole), log_rows(&killed));
    assert_eq!(a.len(), 180);
    assert_same_log(&a, &b, "every step's loss, learning rate, gradient norm and evaluation is the uninterrupted run's");
    let diff = weight_difference(&whole.join("model.safetensors"), &killed.join("model.safetensors"));
    assert_eq!(diff, 0.0, "the exported weights are the uninterrupted run's");
    let metrics = |dir: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap() };
    let (m1, m2) = (metrics(&whole), metrics(&killed));
    assert_eq!((&m1["best_step"], &m1["validation"]), (&m2["best_step"], &m2["validation"]));
}

#[test]
fn a_damaged_checkpoint_is_refused_by_name_and_the_one_before_it_is_used() {
    let dir = scratch("damaged");
    let model = dropout_model(&dir);
    let data = dir.join("keywords.csv");
    std::fs::write(&data, keyword_csv(40, 5)).unwrap();
    let out_dir = dir.join("out");
    let args = ["train", "--model", &s(&model), "--train", &s(&data), "--out", &s(&out_dir), "--device", "cpu", "--epochs", "2", "--batch-size", "4", "--save-every", "3"];
    let out = webtune(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // 36 training examples: 9 steps an epoch, 18 in all; checkpoints at 3, 6, …, 15.
    for step in [3, 6, 9, 12, 15] {
        assert!(out_dir.join(format!("checkpoint-{step}")).is_dir(), "checkpoint-{step}");
    }

    // The latest cut off mid-write, as a crash would leave it.
    let optimizer = out_dir.join("checkpoint-15/optimizer.safetensors");
    let bytes = std::fs::read(&optimizer).unwrap();
    std::fs::write(&optimizer, &bytes[..bytes.len() / 2]).unwrap();
    let resumed = dir.join("resumed");
    let out = webtune(&["train", "--resume", &s(&out_dir), "--train", &s(&data), "--device", "cpu", "--out", &s(&resumed)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected = format!(
        "webtune: skipping a checkpoint: {0}: {0}/optimizer.safetensors has {1} bytes where the checkpoint recorded {2}: it was cut off or changed after it was written; resume from an earlier checkpoint",
        out_dir.join("checkpoint-15").display(),
        bytes.len() / 2,
        bytes.len()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("at step 12 of 18"), "the checkpoint before it is used: {stderr}");
    assert_same_log(&log_rows(&resumed), &log_rows(&out_dir), "resumed from step 12, the run ends as the uninterrupted one did");

    // A checkpoint named directly is checked the same way; a changed byte is caught too.
    let config = out_dir.join("checkpoint-12/config.json");
    let mut changed = std::fs::read(&config).unwrap();
    let at = changed.iter().position(|b| *b == b'2').unwrap();
    changed[at] = b'3';
    std::fs::write(&config, changed).unwrap();
    let out = webtune(&["train", "--resume", &s(&out_dir.join("checkpoint-12")), "--train", &s(&data), "--device", "cpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("checkpoint-12/config.json is not the file the checkpoint recorded (SHA-256"), "{stderr}");

    // A checkpoint in a newer format than this webtune reads (its weights left alone).
    let state = out_dir.join("checkpoint-9/trainer_state.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let version = json["version"].as_u64().unwrap();
    json["version"] = (version + 1).into();
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = webtune(&["train", "--resume", &s(&out_dir.join("checkpoint-9")), "--train", &s(&data), "--device", "cpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let expected = format!(
        "{} is in webtune's checkpoint format {}, and this webtune reads format {version}; it was written by a newer webtune: update webtune to resume it",
        out_dir.join("checkpoint-9").display(),
        version + 1
    );
    assert!(stderr.contains(&expected), "{stderr}");

    // Nothing usable at all.
    std::fs::remove_file(out_dir.join("checkpoint-3/trainer_state.json")).unwrap();
    let out = webtune(&["train", "--resume", &s(&out_dir.join("checkpoint-3")), "--train", &s(&data), "--device", "cpu"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a webtune checkpoint: it has no trainer_state.json"), "{stderr}");
}

#[test]
fn resuming_refuses_other_data_and_changed_settings() {
    let dir = scratch("refuses");
    let model = dropout_model(&dir);
    let data = dir.join("keywords.csv");
    std::fs::write(&data, keyword_csv(40, 5)).unwrap();
    let out_dir = dir.join("out");
    let out = webtune(&["train", "--model", &s(&model), "--train", &s(&data), "--out", &s(&out_dir), "--device", "cpu", "--epochs", "1", "--batch-size", "4", "--save-every", "4"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resume = |extra: &[&str]| {
        let mut args = vec!["train", "--resume", out_dir.to_str().unwrap(), "--device", "cpu"];
        args.extend(extra);
        String::from_utf8(webtune(&args).stderr).unwrap()
    };

    let other = dir.join("other.csv");
    std::fs::write(&other, keyword_csv(40, 6)).unwrap();
    let err = resume(&["--train", other.to_str().unwrap()]);
    assert!(
        err.contains("error: --train: other.csv is not the training file this run was trained on: its SHA-256 is ")
            && err.contains("and the run's training file (keywords.csv, ")
            && err.contains("give that file again, or start a new run"),
        "{err}"
    );
    let err = resume(&["--train", data.to_str().unwrap(), "--valid", other.to_str().unwrap()]);
    assert!(err.contains("error: --valid: this run had no validation file, and other.csv was given; resume without it"), "{err}");
    let err = resume(&["--train", data.to_str().unwrap(), "--lr", "1e-3"]);
    assert!(err.contains("error: --lr: a resumed run continues with its own settings and reads its data as it did"), "{err}");
    let err = resume(&["--train", data.to_str().unwrap(), "--label-column", "text"]);
    assert!(err.contains("error: --label-column: a resumed run continues with its own settings"), "{err}");
    let out = webtune(&["train", "--resume", out_dir.to_str().unwrap(), "--model", model.to_str().unwrap(), "--train", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"), "clap refuses --model with --resume");
    let err = resume(&["--train", data.to_str().unwrap(), "--save-every", "0"]);
    assert!(err.contains("error: setting --save-every = 0 is impossible: it counts optimizer steps between checkpoints"), "{err}");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = webtune(&["train", "--resume", empty.to_str().unwrap(), "--train", data.to_str().unwrap()]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("empty: it holds no checkpoint (a checkpoint-N folder with trainer_state.json); save some with --save-every N"), "{err}");
}

/// Ctrl-C (SIGINT) ends the run after its current step with a checkpoint and exit status
/// 130; the resumed run ends where the uninterrupted one does.
#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes() {
    let dir = scratch("ctrl-c");
    let model = dropout_model(&dir);
    let data = dir.join("keywords.csv");
    std::fs::write(&data, keyword_csv(200, 3)).unwrap();
    let (model, data) = (s(&model), s(&data));
    let whole = dir.join("whole");
    let out = webtune(&run_args(&model, &data, &s(&whole)));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let stopped = dir.join("stopped");
    let stopped_out = s(&stopped);
    let mut args = run_args(&model, &data, &stopped_out);
    args.extend(["--save-every", "50"]);
    let child = Command::new(env!("CARGO_BIN_EXE_webtune")).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while !stopped.join("checkpoint-50").is_dir() {
        assert!(started.elapsed() < Duration::from_secs(300), "no checkpoint-50 after 5 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted; saving a checkpoint after this step"), "{stderr}");
    assert!(stderr.contains("webtune: interrupted; the run is saved in ") && stderr.contains(&format!("continue it with `webtune train --resume {}`", stopped.display())), "{stderr}");

    let out = webtune(&["train", "--resume", &s(&stopped), "--train", &data, "--device", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_log(&log_rows(&whole), &log_rows(&stopped), "resumed after Ctrl-C");
    assert_eq!(weight_difference(&whole.join("model.safetensors"), &stopped.join("model.safetensors")), 0.0);
}

/// `webtune train --log-every` (issue 13) reads the losses back in groups, so a step that
/// diverges is found some steps later; the run must still end as one read at every step
/// does: stopped at the step that diverged, with its message, every step before it in the
/// log, and the weights of the step before it written, bit for bit the same. A checkpoint
/// due between two reads (`--save-every`) reads back first, so it finds the divergence too.
#[test]
fn a_run_that_diverges_between_reads_ends_at_that_step_with_the_weights_before_it() {
    let dir = scratch("diverged");
    let data = dir.join("keywords.csv");
    std::fs::write(&data, keyword_csv(64, 5)).unwrap();
    let (model, data) = (s(&fixtures().join("tiny-bert-cls")), s(&data));
    let run = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec![
            "train", "--model", &model, "--train", &data, "--device", "cpu", "--epochs", "2", "--batch-size", "8", "--lr", "1e9", "--max-grad-norm", "0",
            "--warmup-ratio", "0",
        ];
        let out_arg = s(&out);
        args.extend(["--out", &out_arg]);
        args.extend(extra);
        let output = webtune(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!output.status.success(), "{name}: a diverging run fails: {stderr}");
        let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
        (out, stderr, metrics)
    };
    let (every, stderr, metrics) = run("every-step", &["--log-every", "1"]);
    assert_eq!(metrics["stop_reason"]["reason"], "diverged", "{metrics}");
    let step = metrics["stop_reason"]["step"].as_u64().unwrap() as usize;
    assert!(step > 1, "the first step is finite at any learning rate");
    assert!(stderr.contains(&format!("at step {step} (")) && stderr.contains(&format!("the model keeps the weights of step {}", step - 1)), "{stderr}");
    let rows = log_rows(&every);
    assert_eq!(rows.len(), step - 1, "every step before the divergence is logged");
    for (name, extra) in [("grouped", &["--log-every", "5"][..]), ("grouped-saving", &["--log-every", "5", "--save-every", "3"][..])] {
        let (out, other_stderr, other) = run(name, extra);
        assert_eq!(other["stop_reason"], metrics["stop_reason"], "{name}");
        assert_eq!((&other["steps"], &other["kept_step"]), (&metrics["steps"], &metrics["kept_step"]), "{name}");
        assert!(other_stderr.contains(&format!("the model keeps the weights of step {}", step - 1)), "{name}: {other_stderr}");
        assert_same_log(&rows, &log_rows(&out), name);
        assert_eq!(weight_difference(&every.join("model.safetensors"), &out.join("model.safetensors")), 0.0, "{name}: the weights of step {}", step - 1);
    }
}
