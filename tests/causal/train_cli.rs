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
    let replies: Vec<String> = String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["completion"].as_str().unwrap().to_string()).collect();
    let right = replies.iter().zip(CHAT_QA).filter(|(r, (_, a))| r.trim() == *a).count();
    assert!(right * 10 >= CHAT_QA.len() * 9, "{right} of 8 answered exactly: {replies:?}");
    let greedy = webtune(&["generate", "--model", &s(&out_dir), "--input", &s(&prompts), "--device", "cpu", "--max-new-tokens", "8", "--temperature", "0"]);
    assert!(greedy.status.success());
    assert_eq!(String::from_utf8(greedy.stdout).unwrap(), String::from_utf8(out.stdout).unwrap(), "--temperature 0 is greedy, the default");

    // `webtune evaluate` on the chats: each conversation's last assistant message is the
    // reference for what the model answers to everything before it; the loss is over the
    // assistant turns. The exported (kept) weights score as training scored them.
    let predictions = dir.join("predictions.jsonl");
    let out = webtune(&["evaluate", "--model", &s(&out_dir), "--data", &s(&chats), "--device", "cpu", "--generate", "--max-new-tokens", "8", "--predictions", &s(&predictions)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let evaluated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(evaluated["generated"], 8);
    assert_eq!(evaluated["exact_match"], v["exact_match"], "{evaluated} vs training's {v}");
    assert!((evaluated["bleu"].as_f64().unwrap() - bleu).abs() < 1e-9, "{evaluated} vs training's {v}");
    assert!((evaluated["loss"].as_f64().unwrap() - loss).abs() <= 1e-4 * loss.max(1e-3), "{evaluated} vs training's validation loss {loss}");
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&predictions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let references: Vec<&str> = written.iter().map(|w| w["reference"].as_str().unwrap()).collect();
    assert_eq!(references, CHAT_QA.map(|(_, a)| a).to_vec(), "the last assistant message of each chat is its reference");
    let predicted: Vec<&str> = written.iter().map(|w| w["prediction"].as_str().unwrap()).collect();
    assert_eq!(predicted, replies.iter().map(|r| r.trim_end_matches("<|im_end|>")).collect::<Vec<_>>(), "the predictions are generate's replies without the stop token");

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

/// `--packing` joins short plain texts (each followed by the end-of-text token) into full
/// blocks of the max length; truncation of prompt/completion rows is reported with how many
/// completion tokens it removes; `--train-on-prompt` learns the prompts too (and the report
/// then counts every token).
#[test]
fn webtune_train_packs_texts_reports_truncation_and_learns_prompts_when_asked() {
    let (dir, model) = chat_model("packing");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let run = |model: &Path, name: &str, text: &str, extra: &[&str]| -> (String, PathBuf) {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let out_dir = dir.join(format!("out-{name}-{}", extra.join("")));
        let mut args = vec!["train".to_string(), "--model".into(), s(model), "--train".into(), s(&file), "--device".into(), "cpu".into(), "--epochs".into(), "1".into()];
        args.extend(["--batch-size", "4", "--max-length", "16", "--valid-split", "0", "--out"].map(String::from));
        args.push(s(&out_dir));
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = webtune(&args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{name} {extra:?}: {stderr}");
        (stderr, out_dir)
    };
    let logged_steps = |out: &Path| std::fs::read_to_string(out.join("training_log.csv")).unwrap().lines().count() - 1;
    let lm_args = |out: &Path| -> serde_json::Value { serde_json::from_slice::<serde_json::Value>(&std::fs::read(out.join("training_args.json")).unwrap()).unwrap()["language_modelling"].clone() };

    // Twelve short texts: one example each, or packed into blocks of 16 tokens.
    let gpt2 = fixtures().join("tiny-gpt2");
    let texts: Vec<String> = (0..12).map(|i| format!("the cat sat on mat {i}")).collect();
    let jsonl: String = texts.iter().map(|t| serde_json::json!({ "text": t }).to_string() + "\n").collect();
    let (_, unpacked) = run(&gpt2, "texts.jsonl", &jsonl, &[]);
    assert_eq!(logged_steps(&unpacked), 3, "12 examples in batches of 4");
    let (_, packed) = run(&gpt2, "texts.jsonl", &jsonl, &["--packing"]);
    assert_eq!(lm_args(&packed)["packing"], true);
    let m = load("tiny-gpt2", 64);
    let tokens: usize = texts.iter().map(|t| m.tokenizer.encode_untruncated(0, t).unwrap().len() + 1).sum();
    let blocks = tokens / 16 + usize::from(tokens % 16 >= 2);
    assert!(blocks < 12, "{tokens} tokens");
    assert_eq!(logged_steps(&packed), blocks.div_ceil(4), "{tokens} tokens (end-of-text included) in {blocks} blocks of 16, in batches of 4");

    // Completions cut at 16 tokens: the report says how many completion tokens are lost.
    let answer = "yes ".repeat(20);
    let pairs: String = (0..4).map(|i| serde_json::json!({"prompt": format!("Say yes {i}"), "completion": answer}).to_string() + "\n").collect();
    let (stderr, _) = run(&model, "pairs.jsonl", &pairs, &[]);
    let cut = stderr.lines().find(|l| l.contains("truncation at 16 tokens removes")).unwrap_or_else(|| panic!("{stderr}"));
    let numbers: Vec<usize> = cut.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    assert!(cut.contains("completion tokens to learn") && cut.contains("raise the max length if the ends of the answers matter"), "{cut}");
    // "… at 16 tokens removes X of the Y completion tokens to learn (Z%) …": 4 rows lose
    // all but what fits after their prompt.
    let (removed, learnt) = (numbers[1], numbers[2]);
    assert!(removed > 0 && removed < learnt, "{cut}");
    let (stderr, with_prompts) = run(&model, "pairs.jsonl", &pairs, &["--train-on-prompt"]);
    assert_eq!(lm_args(&with_prompts)["train_on_prompt"], true);
    let cut_all = stderr.lines().find(|l| l.contains("truncation at 16 tokens removes")).unwrap_or_else(|| panic!("{stderr}"));
    let all: Vec<usize> = cut_all.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    assert!(cut_all.contains(" tokens to learn") && !cut_all.contains("completion tokens"), "{cut_all}");
    assert_eq!(all[1], removed, "the same tokens are cut off");
    assert!(all[2] > learnt, "the prompts' tokens are learnt too: {cut_all} vs {cut}");
}
