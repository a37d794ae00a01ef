//! `webtune generate` and `webtune evaluate` on generative models.

use super::*;

#[test]
fn the_cli_generates_what_transformers_generates_and_refuses_bad_flags() {
    let record = record();
    let dir = fixtures().join("tiny-qwen2");
    let dir = dir.to_str().unwrap();
    let want = &record.models["tiny-qwen2"].generations;
    let new_tokens = record.new_tokens.to_string();
    let mut args = vec!["generate", "--model", dir, "--device", "cpu", "--max-new-tokens", &new_tokens];
    for g in want {
        args.extend(["--prompt", g.prompt.as_str()]);
    }
    let out = webtune(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), want.len());
    for (line, g) in lines.iter().zip(want) {
        assert_eq!(line["prompt"], g.prompt.as_str());
        let ids: Vec<u32> = serde_json::from_value(line["ids"].clone()).unwrap();
        assert_eq!(ids, g.greedy, "{}", g.prompt);
        let prompt_ids: Vec<u32> = serde_json::from_value(line["prompt_ids"].clone()).unwrap();
        assert_eq!(prompt_ids, g.ids);
        assert!(line["completion"].as_str().is_some_and(|c| !c.is_empty()));
    }
    let err = |args: &[&str]| String::from_utf8(webtune(args).stderr).unwrap();
    assert_eq!(
        err(&["generate", "--model", dir, "--prompt", "a", "--top-p", "1.5"]).trim(),
        "error: setting --top-p = 1.5 is impossible: it must be in (0, 1] (1 keeps every token)"
    );
    assert_eq!(
        err(&["generate", "--model", dir, "--prompt", "a", "--temperature=-1"]).trim(),
        "error: setting --temperature = -1 is impossible: it must be 0 (greedy) or a positive number (1 samples from the model's own distribution)"
    );
    let bert = fixtures().join("tiny-bert");
    assert_eq!(
        err(&["generate", "--model", bert.to_str().unwrap(), "--prompt", "a", "--device", "cpu"]).trim(),
        "error: config.json has model_type \"bert\", an encoder, which cannot continue text; generation needs a generative model (gpt2, llama, qwen2), for example HuggingFaceTB/SmolLM2-135M"
    );
}

/// `--input` JSONL: `prompt` lines and `messages` lines (rendered with the chat template
/// and its generation prompt) in one file, in order; bad lines name their line.
#[test]
fn the_cli_reads_prompts_and_chats_from_jsonl_and_names_bad_lines() {
    let dir = std::env::temp_dir().join(format!("webtune-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The tiny Qwen2 with Qwen2.5's chat template.
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"] {
        std::fs::copy(fixtures().join("tiny-qwen2").join(f), model.join(f)).unwrap();
    }
    let template = std::fs::read_to_string(fixtures().join("chat_templates/qwen2.5.jinja")).unwrap();
    std::fs::write(model.join("tokenizer_config.json"), serde_json::json!({"chat_template": template, "eos_token": "<|im_end|>"}).to_string()).unwrap();
    let input = dir.join("in.jsonl");
    std::fs::write(&input, "{\"prompt\": \"I love\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}\n").unwrap();
    let out = webtune(&["generate", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--device", "cpu", "--max-new-tokens", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["prompt"], "I love");
    let record = record();
    let want = &record.models["tiny-qwen2"].generations[1];
    assert_eq!(lines[0]["ids"], serde_json::json!(want.greedy[..5]));
    assert_eq!(lines[1]["messages"][0]["content"], "Hello!");
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat_templates.json")).unwrap()).unwrap();
    let rendered = raw["templates"]["qwen2.5"]["cases"][1]["text"].as_str().unwrap().to_string();
    let m = load("tiny-qwen2", 64);
    let prompt_ids = m.tokenizer.encode_verbatim(0, &rendered).unwrap();
    assert_eq!(lines[1]["prompt_ids"], serde_json::json!(prompt_ids), "the chat rendered with the generation prompt");
    assert_eq!(lines[1]["ids"].as_array().unwrap().len(), 5);
    let err = |content: &str| {
        std::fs::write(&input, content).unwrap();
        let out = webtune(&["generate", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--device", "cpu"]);
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap().trim().to_string()
    };
    let path = input.display().to_string();
    let e = err("{\"prompt\": \"a\"}\n{\"messages\": \"hello\"}\n");
    assert!(e.starts_with(&format!("error: {path}:2: invalid type: string \"hello\", expected a sequence")), "{e}");
    let e = err("{\"prompt\": \"a\", \"messages\": []}\n");
    assert_eq!(e, format!("error: {path}:1: give one of \"prompt\", \"text\" or \"messages\" (each line must be a JSON object with \"prompt\" (and optionally \"completion\"), \"text\", or \"messages\" (a list of {{\"role\", \"content\"}}))"));
    let long = "the lazy dog ".repeat(40);
    let e = err(&format!("{{\"prompt\": \"{long}\"}}\n"));
    assert!(e.starts_with(&format!("error: {path}:1: the prompt has ")) && e.contains("more than the 128 this model takes"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}


/// `webtune evaluate` on a generative model: over plain text, the loss is transformers'
/// mean next-token negative log-likelihood of the fixture texts (one-token lines
/// skipped); with prompt/completion lines and `--generate`, the greedy generations equal
/// transformers' and so score BLEU 100, ROUGE-L 1 and exact match 1 against them.
#[test]
fn the_cli_evaluates_a_language_model_by_perplexity_and_its_generations() {
    let record = record();
    let want = &record.models["tiny-gpt2"];
    let dir = std::env::temp_dir().join(format!("webtune-evaluate-lm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("texts.txt");
    // The fixture truncated at 32 tokens; the texts it did not truncate are compared.
    let cases: Vec<&Case> = want.cases.iter().filter(|c| c.ids.len() < record.max_length).collect();
    assert!(cases.len() >= 8);
    std::fs::write(&text, cases.iter().map(|c| c.text.clone()).collect::<Vec<_>>().join("\n")).unwrap();
    let model = fixtures().join("tiny-gpt2");
    let model = model.to_str().unwrap();
    let out = webtune(&["evaluate", "--model", model, "--data", text.to_str().unwrap(), "--device", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logprobs: Vec<f32> = cases.iter().flat_map(|c| c.next_token_logprobs.clone()).collect();
    let loss = -logprobs.iter().map(|&l| l as f64).sum::<f64>() / logprobs.len() as f64;
    assert_eq!(got["tokens"], logprobs.len());
    assert_eq!(got["skipped"], cases.iter().filter(|c| c.ids.len() < 2).count());
    assert!((got["loss"].as_f64().unwrap() - loss).abs() < 1e-5, "{got} vs transformers' {loss}");
    assert!((got["perplexity"].as_f64().unwrap() - loss.exp()).abs() / loss.exp() < 1e-4);
    // Prompt/completion lines whose completions are transformers' greedy continuations.
    let m = load("tiny-gpt2", 64);
    let pairs = dir.join("pairs.jsonl");
    let lines: Vec<String> = want
        .generations
        .iter()
        .map(|g| serde_json::json!({"prompt": g.prompt, "completion": m.tokenizer.decode(&g.greedy, false).unwrap()}).to_string())
        .collect();
    std::fs::write(&pairs, lines.join("\n")).unwrap();
    let predictions = dir.join("predictions.jsonl");
    let new_tokens = record.new_tokens.to_string();
    let out = webtune(&["evaluate", "--model", model, "--data", pairs.to_str().unwrap(), "--device", "cpu", "--generate", "--max-new-tokens", &new_tokens, "--predictions", predictions.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The predictions are the references, so the scores are those of the references against
    // themselves (the metric functions are checked against sacrebleu and rouge_score above;
    // the tiny model's word salad has too few 4-grams for BLEU 100 and punctuation-only
    // lines that ROUGE scores 0).
    let refs: Vec<String> = want.generations.iter().map(|g| m.tokenizer.decode(&g.greedy, false).unwrap()).collect();
    let bleu = webtune::train::corpus_bleu(&refs, std::slice::from_ref(&refs)).score;
    let rouge = refs.iter().map(|r| webtune::train::rouge_l_f1(r, r)).sum::<f64>() / refs.len() as f64;
    assert_eq!((got["exact_match"].as_f64(), got["generated"].as_u64()), (Some(1.0), Some(4)), "{got}");
    assert!((got["bleu"].as_f64().unwrap() - bleu).abs() < 1e-9 && (got["rouge_l"].as_f64().unwrap() - rouge).abs() < 1e-12, "{got}");
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&predictions).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(written.len(), 4);
    assert_eq!(written[0]["prediction"], written[0]["reference"]);
    assert!(written[1]["line"].as_str().unwrap().ends_with("pairs.jsonl:2"));
    // A text longer than the model takes is refused, not cut.
    std::fs::write(&text, "the lazy dog ".repeat(30)).unwrap();
    let out = webtune(&["evaluate", "--model", model, "--data", text.to_str().unwrap(), "--device", "cpu"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("texts.txt:1: it has ") && err.trim().ends_with("tokens, more than the 64 this model takes"), "{err}");
    // A prompt without its completion cannot be scored, and says where.
    std::fs::write(&pairs, "{\"prompt\": \"a\"}\n").unwrap();
    let out = webtune(&["evaluate", "--model", model, "--data", pairs.to_str().unwrap(), "--device", "cpu"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.trim().ends_with("pairs.jsonl:1: a \"prompt\" needs its \"completion\" to be evaluated against"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
