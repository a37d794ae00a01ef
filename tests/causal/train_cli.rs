//! `webtune train` on a generative model: the task comes from the checkpoint, the layout
//! from the data's columns; the export loads and answers as it was taught; bad rows are
//! named with their lines.

use super::training::CHAT_QA;
use super::*;

/// A temporary folder with the tiny Qwen2 and Qwen2.5's chat template, and a chat file.
fn chat_model(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("webtune-train-lm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
        std::fs::copy(fixtures().join("tiny-qwen2").join(f), model.join(f)).unwrap();
    }
    std::fs::copy(fixtures().join("chat_templates/qwen2.5.jinja"), model.join("chat_template.jinja")).unwrap();
    std::fs::write(model.join("tokenizer_config.json"), serde_json::json!({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}).to_string()).unwrap();
    (dir, model)
}

fn chat_line(q: &str, a: Option<&str>) -> String {
    let mut messages = vec![serde_json::json!({"role": "user", "content": q})];
    if let Some(a) = a {
        messages.push(serde_json::json!({"role": "assistant", "content": a}));
    }
    serde_json::json!({ "messages": messages }).to_string()
}

/// The CHAT_QA recipe of `a_tiny_qwen2_learns_to_answer_chats`, through the CLI: train on
/// the chats (validated on the same file, so the leakage is reported and each evaluation
/// shows what the model says and scores its answers), then `webtune generate` on the
/// export answers them.
#[test]
fn webtune_train_teaches_a_tiny_qwen2_chats_and_the_export_answers_them() {
    let (dir, model) = chat_model("chat");
    let chats = dir.join("chats.jsonl");
    std::fs::write(&chats, CHAT_QA.iter().map(|(q, a)| chat_line(q, Some(a)) + "\n").collect::<String>()).unwrap();
    let out_dir = dir.join("out");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let args = [
        "train", "--model", &s(&model), "--train", &s(&chats), "--valid", &s(&chats), "--device", "cpu", "--lr", "1e-2", "--batch-size", "4", "--epochs", "30",
        "--warmup-ratio", "0", "--max-length", "128", "--seed", "1", "--eval-every", "20", "--generate", "--max-new-tokens", "8", "--out", &s(&out_dir),
        "--save-every", "20",
    ];
    let out = webtune(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("chats.jsonl: chats"), "the layout is announced: {stderr}");
    assert!(
        stderr.contains("chats.jsonl: warning: validation texts that are also in the training data (the first is training line 1)")
            && stderr.contains("8 rows: lines 1, 2, 3, 4, 5, 6, 7, 8"),
        "the leakage is reported: {stderr}"
    );
    assert!(stderr.contains("language modelling") && stderr.contains("max length 128"), "{stderr}");
    assert!(stderr.contains("validation: loss") && stderr.contains("perplexity"), "{stderr}");
    assert!(stderr.contains("line 1: \"Capital of France?\" → "), "each evaluation shows the fixed prompts' replies: {stderr}");
    assert_eq!(stderr.matches(" · BLEU ").count(), 3 + 1, "each of the 3 evaluations and the final line score the answers: {stderr}");
    assert!(stderr.contains("(8 generated)"), "{stderr}");

    for f in ["model.safetensors", "config.json", "generation_config.json", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json", "README.md", "training_log.csv"] {
        assert!(out_dir.join(f).is_file(), "{f} is exported");
    }
    let args_json: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("training_args.json")).unwrap()).unwrap();
    assert_eq!(args_json["task"], "causal_language_modeling");
    assert_eq!(args_json["model_type"], "qwen2");
    assert_eq!(args_json["language_modelling"], serde_json::json!({"packing": false, "train_on_prompt": false, "score_generations": 8}));
    assert_eq!(args_json["settings"]["best_metric"], "loss");
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("metrics.json")).unwrap()).unwrap();
    let loss = metrics["validation"]["loss"].as_f64().unwrap();
    assert!(loss < 0.1, "the chats are learnt: validation loss {loss}");
    assert!((metrics["validation"]["perplexity"].as_f64().unwrap() - loss.exp()).abs() < 1e-9);
    assert_eq!(metrics["steps"], 60);
    // The kept weights' greedy answers, scored in training: the learnable task is learnt.
    let v = &metrics["validation"];
    assert_eq!(v["generated"], 8);
    let exact = v["exact_match"].as_f64().unwrap();
    assert!(exact >= 0.9, "at least 90% exact match: {v}");
    let (bleu, rouge) = (v["bleu"].as_f64().unwrap(), v["rouge_l"].as_f64().unwrap());
    assert!((0.0..=100.0).contains(&bleu) && (0.0..=1.0).contains(&rouge) && rouge >= exact, "{v}");
    let log = std::fs::read_to_string(out_dir.join("training_log.csv")).unwrap();
    assert_eq!(log.lines().next(), Some(webtune::train::LM_LOG_CSV_HEADER));
    assert_eq!(log.lines().count(), 61);
    assert_eq!(log.lines().filter(|l| !l.ends_with(",,")).count(), 1 + 3, "evaluations at steps 20, 40, 60");
    let card = std::fs::read_to_string(out_dir.join("README.md")).unwrap();
    assert!(card.contains("pipeline_tag: text-generation") && card.contains("the assistant turns"), "{card}");
    assert!(card.contains("| BLEU (greedy answers to 8 validation prompts) |") && card.contains("| exact match |"), "{card}");

    let prompts = dir.join("prompts.jsonl");
    std::fs::write(&prompts, CHAT_QA.iter().map(|(q, _)| chat_line(q, None) + "\n").collect::<String>()).unwrap();
    let out = webtune(&["generate", "--model", &s(&out_dir), "--input", &s(&prompts), "--device", "cpu", "--max-new-tokens", "8"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replies: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["completion"].as_str().unwrap().to_string()).collect();
    let right = replies.iter().zip(CHAT_QA).filter(|(r, (_, a))| r.trim() == *a).count();
    assert!(right * 10 >= CHAT_QA.len() * 9, "{right} of 8 answered exactly: {replies:?}");

    // Resumed from its first checkpoint (step 20, after that evaluation), the run ends as
    // it did: the same log, the same kept weights and scored answers, the same replies
    // shown at the later evaluations.
    let checkpoint = out_dir.join("checkpoint-20");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoint.join("trainer_state.json")).unwrap()).unwrap();
    assert_eq!((&state["step"], &state["total_steps"], &state["layout"]), (&20.into(), &60.into(), &"chat".into()));
    assert_eq!(state["scored"].as_array().map(Vec::len), Some(1), "the step-20 evaluation's scored answers are kept");
    let resumed = dir.join("resumed");
    let out = webtune(&["train", "--resume", &s(&checkpoint), "--train", &s(&chats), "--valid", &s(&chats), "--device", "cpu", "--out", &s(&resumed)]);
    let resumed_err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{resumed_err}");
    assert_eq!(resumed_err.matches(" · BLEU ").count(), 2 + 1, "evaluations at steps 40 and 60, and the final line: {resumed_err}");
    let rows = |dir: &Path| -> Vec<String> { std::fs::read_to_string(dir.join("training_log.csv")).unwrap().lines().map(|l| l.split(',').enumerate().filter(|(i, _)| *i != 5 && *i != 6).map(|(_, v)| v).collect::<Vec<_>>().join(",")).collect() };
    assert_eq!(rows(&resumed), rows(&out_dir));
    let metrics_of = |dir: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap() };
    assert_eq!(metrics_of(&resumed)["validation"], metrics_of(&out_dir)["validation"]);
    assert_eq!(std::fs::read(resumed.join("model.safetensors")).unwrap(), std::fs::read(out_dir.join("model.safetensors")).unwrap());
    let said = |text: &str| text.lines().filter(|l| l.contains("line 1: \"Capital of France?\"")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(said(&resumed_err), said(&stderr)[1..].to_vec(), "the replies at steps 40 and 60 are the uninterrupted run's");
}

/// Bad chat rows, a template that refuses, a prompt longer than the max length, and the
/// wrong kind of data or flags for the model: each a clear message with its line.
#[test]
fn webtune_train_names_bad_language_modelling_rows_and_settings() {
    let (dir, model) = chat_model("bad");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out_dir = s(&dir.join("out"));
    let train = |name: &str, text: &str, extra: &[&str]| -> String {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let mut args = vec!["train".to_string(), "--model".into(), s(&model), "--train".into(), s(&file), "--device".into(), "cpu".into(), "--epochs".into(), "1".into(), "--out".into(), out_dir.clone()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = webtune(&args);
        assert!(!out.status.success(), "{name} is refused");
        String::from_utf8(out.stderr).unwrap()
    };
    let good = chat_line("Hi", Some("Hello"));
    let err = train("roles.jsonl", &format!("{good}\n{{\"messages\": [{{\"role\": \"bot\", \"content\": \"Hi\"}}]}}\n{{\"messages\": \"Hi\"}}\n"), &[]);
    assert!(err.contains("roles.jsonl: 2 of 3 rows cannot be used"), "{err}");
    assert!(err.contains("line 2: message 1 has the unknown role \"bot\"; use system, user, assistant, tool") && err.contains("lines 2, 3"), "{err}");
    let long = format!("{{\"prompt\": \"{}\", \"completion\": \"yes\"}}\n", "word ".repeat(80));
    let err = train("long.jsonl", &format!("{{\"prompt\": \"a\", \"completion\": \"b\"}}\n{long}"), &["--max-length", "16", "--valid-split", "0"]);
    assert!(err.contains("long.jsonl:2: the prompt alone fills the max length of 16 tokens"), "{err}");
    // A template that raises for conversations it does not take.
    let qwen = std::fs::read_to_string(fixtures().join("chat_templates/qwen2.5.jinja")).unwrap();
    std::fs::write(model.join("chat_template.jinja"), format!("{{% if messages[0].role == 'system' %}}{{{{ raise_exception('no system messages, please') }}}}{{% endif %}}{qwen}")).unwrap();
    let refused = serde_json::json!({"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}).to_string();
    let err = train("refused.jsonl", &format!("{good}\n{refused}\n"), &["--valid-split", "0"]);
    assert!(err.contains("refused.jsonl:2: the chat template refuses this conversation: no system messages, please"), "{err}");
    let err = train("text.jsonl", "{\"text\": \"hello there\"}\n", &["--packing", "--valid-split", "0", "--best-metric", "accuracy"]);
    assert!(err.contains("--best-metric = accuracy is impossible: a generative model is measured by its loss; choose loss"), "{err}");
    let err = train("pairs.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n", &["--packing", "--valid-split", "0"]);
    assert!(err.contains("--packing") && err.contains("packing joins plain texts"), "{err}");
    let err = train("plain.jsonl", "{\"text\": \"hello there\"}\n", &["--generate"]);
    assert!(err.contains("setting --generate = given is impossible: plain text has no answers to score"), "{err}");
    let err = train("pairs0.jsonl", &format!("{good}\n{good}\n"), &["--generate", "--max-new-tokens", "0", "--valid-split", "0.5"]);
    assert!(err.contains("setting --max-new-tokens = 0 is impossible: an answer needs at least 1 new token"), "{err}");
    let err = train("novalid.jsonl", &format!("{good}\n"), &["--generate", "--valid-split", "0"]);
    assert!(err.contains("--max-new-tokens = 64 is impossible: there is no validation set to generate answers for"), "{err}");
    let err = train("task.jsonl", &format!("{good}\n"), &["--task", "classification"]);
    assert!(err.contains("setting --task = classification is impossible: this model is generative"), "{err}");
    let err = train("qa.csv", "question,answer\na,x\nb,y\n", &[]);
    assert!(err.contains("no column to learn from"), "{err}");
    let bert = fixtures().join("tiny-bert-cls");
    let file = dir.join("chats.jsonl");
    std::fs::write(&file, format!("{good}\n")).unwrap();
    let out = webtune(&["train", "--model", &s(&bert), "--train", &s(&file), "--packing", "--out", &out_dir]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--packing") && err.contains("for generative models"), "{err}");
    let out = webtune(&["train", "--model", &s(&bert), "--train", &s(&file), "--task", "language-modelling", "--out", &out_dir]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("setting --task = language-modelling is impossible: this model is an encoder"), "{err}");
}
