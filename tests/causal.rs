//! Generative models against transformers (`tests/fixtures/causal.parity.json`, written by
//! `generate.py --only causal`): for a tiny random GPT-2, LLaMA (grouped-query attention,
//! llama3 rotary scaling, untied head) and Qwen2 (q/k/v biases, linear rotary scaling, tied
//! head), token ids exactly, every next-token log-probability and the last logits within
//! 1e-4, greedy generations (plain and with a repetition penalty) token for token, and the
//! sampling warpers' probabilities; then what transformers cannot be asked: the cache gives
//! the tokens of recomputing, and a left-padded batch gives each row what it gets alone.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{relative_error, torch_layout};
use serde::Deserialize;
use webtune::checkpoint::{CausalConfig, ModelFiles, TextInput, TextTokenizer};
use webtune::model::{CausalInput, CausalLm, GenerationSettings, KvCache, Sampling, Trace, generate};
use webtune::platform::{cpu_device, read_model_folder};

const MODELS: [&str; 3] = ["tiny-gpt2", "tiny-llama", "tiny-qwen2"];

#[derive(Deserialize)]
struct Record {
    max_length: usize,
    new_tokens: usize,
    models: std::collections::BTreeMap<String, ModelRecord>,
}

#[derive(Deserialize)]
struct ModelRecord {
    model_type: String,
    cases: Vec<Case>,
    generations: Vec<Generation>,
    warpers: std::collections::BTreeMap<String, Vec<f32>>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    next_token_logprobs: Vec<f32>,
    last_logits: Vec<f32>,
}

#[derive(Deserialize)]
struct Generation {
    prompt: String,
    ids: Vec<u32>,
    greedy: Vec<u32>,
    #[serde(rename = "repetition_penalty_1.5")]
    penalised: Vec<u32>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn record() -> Record {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("causal.parity.json")).unwrap()).unwrap()
}

struct Loaded {
    config: CausalConfig,
    model: CausalLm,
    tokenizer: TextTokenizer,
}

fn load(name: &str, max_length: usize) -> Loaded {
    let files: ModelFiles = read_model_folder(&fixtures().join(name)).unwrap();
    let config = CausalConfig::from_json(files.require("config.json").unwrap()).unwrap();
    let (model, report) = CausalLm::load(&files, &config, &cpu_device()).unwrap();
    assert_eq!(report.ignored_tensors, Vec::<String>::new(), "{name}");
    let tokenizer = TextTokenizer::from_bytes(files.require("tokenizer.json").unwrap(), max_length, config.pad_token_id()).unwrap();
    Loaded { config, model, tokenizer }
}

/// Log-softmax of each row of `logits` (row-major `[rows, vocab]`).
fn log_softmax(logits: &[f32], vocab: usize) -> Vec<Vec<f32>> {
    logits
        .chunks_exact(vocab)
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|x| ((x - max) as f64).exp()).sum();
            row.iter().map(|x| x - max - sum.ln() as f32).collect()
        })
        .collect()
}

/// The logits `[rows, seq, vocab]` of a batch of id rows padded on the left (`left`) or right.
fn batch_logits(m: &Loaded, rows: &[Vec<u32>], left: bool) -> (Vec<f32>, usize) {
    let seq = rows.iter().map(Vec::len).max().unwrap();
    let pad = m.config.pad_token_id();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for row in rows {
        let fill = seq - row.len();
        let (padding, real) = (vec![pad; fill], row.clone());
        let (ones, zeros) = (vec![1i64; row.len()], vec![0i64; fill]);
        if left {
            ids.extend(padding.into_iter().chain(real));
            mask.extend(zeros.into_iter().chain(ones));
        } else {
            ids.extend(real.into_iter().chain(padding));
            mask.extend(ones.into_iter().chain(zeros));
        }
    }
    let input = CausalInput::new(&ids, &mask, rows.len(), 0, &cpu_device());
    let logits = m.model.forward(&input, &mut KvCache::new(), &mut Trace::off());
    (logits.into_data().try_into_vec::<f32>().unwrap(), seq)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn every_family_matches_transformers_token_by_token() {
    let record = record();
    for name in MODELS {
        let want = &record.models[name];
        let m = load(name, record.max_length);
        assert_eq!(m.config.model_type(), want.model_type);
        let vocab = m.config.vocab_size();
        let mut worst = (0.0f32, 0.0f32);
        for case in &want.cases {
            let ids = m.tokenizer.encode(0, &TextInput::single(case.text.clone())).unwrap().ids;
            assert_eq!(ids, case.ids, "{name}: ids of {:?}", case.text);
            let (logits, seq) = batch_logits(&m, std::slice::from_ref(&ids), false);
            let logprobs = log_softmax(&logits, vocab);
            let next: Vec<f32> = (0..seq - 1).map(|t| logprobs[t][ids[t + 1] as usize]).collect();
            let d_next = max_diff(&next, &case.next_token_logprobs);
            let d_last = max_diff(&logits[(seq - 1) * vocab..], &case.last_logits);
            assert!(d_next < 1e-4 && d_last < 1e-4, "{name} {:?}: next-token log-probs off by {d_next}, last logits by {d_last}", case.text);
            worst = (worst.0.max(d_next), worst.1.max(d_last));
        }
        eprintln!("{name}: worst next-token log-prob diff {:.1e}, last-logit diff {:.1e}", worst.0, worst.1);
    }
}

#[test]
fn padding_on_either_side_changes_no_row() {
    let record = record();
    for name in MODELS {
        let want = &record.models[name];
        let m = load(name, record.max_length);
        let vocab = m.config.vocab_size();
        let rows: Vec<Vec<u32>> = want.cases.iter().map(|c| c.ids.clone()).collect();
        for left in [true, false] {
            let (logits, seq) = batch_logits(&m, &rows, left);
            for (r, case) in want.cases.iter().enumerate() {
                let n = case.ids.len();
                let offset = if left { seq - n } else { 0 };
                let row = &logits[r * seq * vocab..(r + 1) * seq * vocab];
                let logprobs = log_softmax(&row[offset * vocab..(offset + n) * vocab], vocab);
                let next: Vec<f32> = (0..n - 1).map(|t| logprobs[t][case.ids[t + 1] as usize]).collect();
                let d = max_diff(&next, &case.next_token_logprobs).max(max_diff(&row[(offset + n - 1) * vocab..(offset + n) * vocab], &case.last_logits));
                assert!(d < 1e-4, "{name}, {} padding, row {r}: off by {d}", if left { "left" } else { "right" });
            }
        }
    }
}

fn settings(m: &Loaded, new_tokens: usize, penalty: f32, use_cache: bool) -> GenerationSettings {
    GenerationSettings {
        max_new_tokens: new_tokens,
        sampling: None,
        repetition_penalty: penalty,
        eos_token_ids: m.config.eos_token_ids(),
        pad_token_id: m.config.pad_token_id(),
        use_cache,
    }
}

#[test]
fn greedy_generation_equals_transformers_with_and_without_the_cache_alone_and_batched() {
    let record = record();
    let device = cpu_device();
    for name in MODELS {
        let want = &record.models[name];
        let m = load(name, record.max_length);
        let prompts: Vec<Vec<u32>> = want.generations.iter().map(|g| g.ids.clone()).collect();
        for g in &want.generations {
            assert_eq!(m.tokenizer.encode(0, &TextInput::single(g.prompt.clone())).unwrap().ids, g.ids, "{name}: prompt ids");
        }
        for (penalty, expected) in [(1.0, want.generations.iter().map(|g| g.greedy.clone()).collect::<Vec<_>>()), (1.5, want.generations.iter().map(|g| g.penalised.clone()).collect())] {
            for use_cache in [true, false] {
                let s = settings(&m, record.new_tokens, penalty, use_cache);
                let batched = pollster::block_on(generate(&m.model, &prompts, &s, &device)).unwrap();
                assert_eq!(batched, expected, "{name}: batched, penalty {penalty}, cache {use_cache}");
                for (prompt, expected) in prompts.iter().zip(&expected) {
                    let alone = pollster::block_on(generate(&m.model, std::slice::from_ref(prompt), &s, &device)).unwrap();
                    assert_eq!(&alone[0], expected, "{name}: alone, penalty {penalty}, cache {use_cache}");
                }
            }
        }
    }
}

#[test]
fn sampling_warpers_equal_transformers_and_sampling_is_seeded() {
    let record = record();
    for name in MODELS {
        let want = &record.models[name];
        let logits = &want.cases[0].last_logits;
        let cases = [
            ("temperature_0.7", Sampling { temperature: 0.7, top_k: None, top_p: None, seed: 0 }),
            ("top_k_5", Sampling { temperature: 1.0, top_k: Some(5), top_p: None, seed: 0 }),
            ("top_p_0.9", Sampling { temperature: 1.0, top_k: None, top_p: Some(0.9), seed: 0 }),
            ("temperature_0.7_top_k_20_top_p_0.8", Sampling { temperature: 0.7, top_k: Some(20), top_p: Some(0.8), seed: 0 }),
        ];
        for (key, sampling) in cases {
            let got = webtune::model::causal::warp(logits, &sampling);
            let expected = &want.warpers[key];
            let kept = |p: &[f32]| p.iter().filter(|x| **x > 0.0).count();
            assert_eq!(kept(&got), kept(expected), "{name} {key}: tokens kept");
            assert!(max_diff(&got, expected) < 1e-5, "{name} {key}: off by {}", max_diff(&got, expected));
        }
    }
    let m = load("tiny-llama", record.max_length);
    let prompt = vec![record.models["tiny-llama"].generations[0].ids.clone()];
    let device = cpu_device();
    let mut s = settings(&m, 8, 1.0, true);
    s.sampling = Some(Sampling { temperature: 1.0, top_k: Some(1), top_p: None, seed: 3 });
    let top1 = pollster::block_on(generate(&m.model, &prompt, &s, &device)).unwrap();
    assert_eq!(top1[0], record.models["tiny-llama"].generations[0].greedy[..8], "top-k 1 is greedy");
    s.sampling = Some(Sampling { temperature: 1.5, top_k: None, top_p: None, seed: 3 });
    let a = pollster::block_on(generate(&m.model, &prompt, &s, &device)).unwrap();
    let b = pollster::block_on(generate(&m.model, &prompt, &s, &device)).unwrap();
    assert_eq!(a, b, "the same seed draws the same tokens");
    s.sampling = Some(Sampling { temperature: 1.5, top_k: None, top_p: None, seed: 4 });
    let c = pollster::block_on(generate(&m.model, &prompt, &s, &device)).unwrap();
    assert_ne!(a, c, "another seed draws other tokens (8 tokens at temperature 1.5 from a 400-token vocabulary)");
}

#[test]
fn loading_names_every_stored_tensor_and_generation_refuses_the_impossible() {
    for name in MODELS {
        let files = read_model_folder(&fixtures().join(name)).unwrap();
        let config = CausalConfig::from_json(files.require("config.json").unwrap()).unwrap();
        let (model, _) = CausalLm::load(&files, &config, &cpu_device()).unwrap();
        let stored = safetensors::SafeTensors::deserialize(files.require("model.safetensors").unwrap()).unwrap();
        let mut stored: Vec<String> = stored.names().into_iter().map(str::to_string).collect();
        let mut named: Vec<String> = model.named_tensors().into_iter().map(|t| t.name).collect();
        stored.sort();
        named.sort();
        assert_eq!(named, stored, "{name}: the name table is the file's names");
    }
    let m = load("tiny-gpt2", 32);
    let device = cpu_device();
    let err = pollster::block_on(generate(&m.model, &[vec![1, 2, 3]], &settings(&m, 62, 1.0, true), &device)).unwrap_err().to_string();
    assert_eq!(err, "a prompt of 3 tokens plus 62 new tokens needs 65 positions, but this model takes 64; shorten the prompt or ask for at most 61 new tokens");
    let err = pollster::block_on(generate(&m.model, &[vec![]], &settings(&m, 4, 1.0, true), &device)).unwrap_err().to_string();
    assert!(err.contains("a prompt has no tokens"), "{err}");
}

fn webtune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).output().unwrap()
}

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

#[derive(Deserialize)]
struct GradRecord {
    lr: f64,
    weight_decay: f64,
    max_grad_norm: f64,
    models: std::collections::BTreeMap<String, GradModel>,
}

#[derive(Deserialize)]
struct GradModel {
    ids: Vec<Vec<u32>>,
    labels: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    steps: Vec<GradStep>,
}

#[derive(Deserialize)]
struct GradStep {
    loss: f64,
    grad_norm: f64,
    grads: std::collections::BTreeMap<String, Vec<f32>>,
    after: std::collections::BTreeMap<String, Vec<f32>>,
}

/// Prompt-masked training on a right-padded batch: the loss, the gradients (a tied
/// embedding's from both its uses), the global norm and two clipped AdamW steps equal
/// PyTorch's for every family.
#[test]
fn loss_on_the_completion_gradients_and_two_adamw_steps_match_pytorch() {
    use burn::optim::GradientsParams;
    use webtune::train::{AdamW, AdamWSettings, clip_factor, global_grad_norm, next_token_loss};
    let record: GradRecord = serde_json::from_str(&std::fs::read_to_string(fixtures().join("causal.grads.json")).unwrap()).unwrap();
    let device = cpu_device();
    let train_device = device.clone().autodiff();
    for (name, fixture) in &record.models {
        let files = read_model_folder(&fixtures().join(name)).unwrap();
        let config = CausalConfig::from_json(files.require("config.json").unwrap()).unwrap();
        let (mut model, _) = CausalLm::load(&files, &config, &train_device).unwrap();
        let rows = fixture.ids.len();
        let ids: Vec<u32> = fixture.ids.concat();
        let mask: Vec<i64> = fixture.attention_mask.concat();
        let labels: Vec<i64> = fixture.labels.concat();
        let counted = labels.iter().filter(|l| **l != -100).count();
        let mut optimizer = AdamW::new(AdamWSettings { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: record.weight_decay });
        for (n, step) in fixture.steps.iter().enumerate() {
            let input = CausalInput::new(&ids, &mask, rows, 0, &train_device);
            let (loss, tokens) = next_token_loss(&model, &input, &labels, &train_device, &mut Trace::off()).unwrap();
            // Every row's first label is the prompt's (ignored), so all counted labels are scored.
            assert_eq!(tokens, counted, "{name}");
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let got = loss.into_scalar::<f32>() as f64;
            assert!((got - step.loss).abs() / step.loss < 1e-5, "{name} step {n}: loss {got} vs PyTorch {}", step.loss);
            let tensors = model.named_tensors();
            for (pname, want) in &step.grads {
                let t = tensors.iter().find(|t| &t.name == pname).unwrap_or_else(|| panic!("{name}: no parameter {pname}"));
                let g = if t.shape.len() == 2 { torch_layout(grads.get::<2>(t.id).unwrap(), t.transpose) } else { torch_layout(grads.get::<1>(t.id).unwrap(), false) };
                let err = relative_error(&g, want);
                assert!(err < 1e-4, "{name} step {n}: gradient of {pname}: relative error {err}");
            }
            let norm = global_grad_norm(&model, &grads, &device);
            let got_norm = norm.clone().into_scalar::<f32>() as f64;
            assert!((got_norm - step.grad_norm).abs() / step.grad_norm < 1e-4, "{name} step {n}: grad norm {got_norm} vs {}", step.grad_norm);
            model = optimizer.step(model, grads, record.lr, Some(clip_factor(norm, record.max_grad_norm)));
            let tensors = model.named_tensors();
            for (pname, want) in &step.after {
                let t = tensors.iter().find(|t| &t.name == pname).unwrap();
                let err = relative_error(&torch_layout(t.tensor.clone(), t.transpose), want);
                assert!(err < 1e-5, "{name} step {n}: {pname} after AdamW: relative error {err}");
            }
        }
    }
}

/// The task-agnostic trainer fine-tunes a generative model: the tiny GPT-2 learns to
/// complete two prompts (loss on the completion only), its validation perplexity falls
/// from the random model's to near 1, and greedy generation then writes the completions.
#[test]
fn the_trainer_teaches_a_tiny_gpt2_two_completions() {
    use webtune::train::{CausalLanguageModelling, LmExample, LmSet, TrainConfig, Trainer};
    let m = load("tiny-gpt2", 32);
    let eos = m.config.eos_token_ids()[0];
    let encode = |t: &str| m.tokenizer.encode(0, &TextInput::single(t.to_string())).unwrap().ids;
    let pairs = [("The quick brown", " fox jumps over the lazy dog."), ("I love", " this best day ever")];
    let examples: Vec<LmExample> = (0..8)
        .map(|i| {
            let (p, c) = pairs[i % 2];
            LmExample::completion(encode(p), [encode(c), vec![eos]].concat(), i + 2)
        })
        .collect();
    let set = |examples: Vec<LmExample>| LmSet { examples, pad_id: eos };
    let task = CausalLanguageModelling { train: set(examples.clone()), valid: Some(set(examples[..2].to_vec())) };
    let device = cpu_device();
    let files = read_model_folder(&fixtures().join("tiny-gpt2")).unwrap();
    let (model, _) = CausalLm::load(&files, &m.config, &device.clone().autodiff()).unwrap();
    let config = TrainConfig { learning_rate: 1e-2, batch_size: 4, epochs: 25, warmup_ratio: 0.0, max_length: 32, best_metric: webtune::train::BestMetric::Loss, ..TrainConfig::default() };
    let mut trainer = Trainer::with_task(model, task, config, device.clone()).unwrap();
    let before = pollster::block_on(trainer.evaluate()).unwrap().unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.step()).unwrap();
    }
    let after = pollster::block_on(trainer.evaluate()).unwrap().unwrap();
    eprintln!("validation perplexity {:.1} → {:.3} over {} tokens", before.perplexity, after.perplexity, after.tokens);
    assert!(before.perplexity > 20.0, "the random model is far from the data: {before:?}");
    assert!(after.perplexity < 1.5, "it learnt the completions: {after:?}");
    assert!((after.perplexity - after.loss.exp()).abs() < 1e-9);
    let model = trainer.model_for_export();
    let s = settings(&m, 16, 1.0, true);
    let prompts: Vec<Vec<u32>> = pairs.iter().map(|(p, _)| encode(p)).collect();
    let got = pollster::block_on(generate(&model, &prompts, &s, &device)).unwrap();
    for ((_, completion), new) in pairs.iter().zip(&got) {
        assert_eq!(new, &[encode(completion), vec![eos]].concat(), "greedy generation writes the learnt completion and stops");
        assert_eq!(m.tokenizer.decode(&new[..new.len() - 1], true).unwrap(), *completion);
    }
}

#[test]
fn language_modelling_data_that_trains_nothing_is_refused_with_its_line() {
    use webtune::train::{CausalLanguageModelling, LmExample, LmSet, TrainConfig, Trainer};
    let m = load("tiny-gpt2", 32);
    let device = cpu_device();
    let files = read_model_folder(&fixtures().join("tiny-gpt2")).unwrap();
    let (model, _) = CausalLm::load(&files, &m.config, &device.clone().autodiff()).unwrap();
    let examples = vec![LmExample::completion(vec![5, 6], vec![7], 2), LmExample::completion(vec![5, 6, 7], vec![], 3)];
    let task = CausalLanguageModelling { train: LmSet { examples, pad_id: 0 }, valid: None };
    let config = TrainConfig { best_metric: webtune::train::BestMetric::Loss, ..TrainConfig::default() };
    let err = Trainer::with_task(model, task, config, device).err().unwrap().to_string();
    assert!(err.contains("line 3 of the training data has nothing to learn"), "{err}");
}

/// Load → export → load gives the same logits for every family, and the file holds
/// exactly the tensors transformers saves (a tied head once).
#[test]
fn the_export_round_trips_for_every_family() {
    let record = record();
    let device = cpu_device();
    for name in MODELS {
        let m = load(name, 32);
        let source = read_model_folder(&fixtures().join(name)).unwrap();
        let exported = pollster::block_on(webtune::export::export_causal_lm(m.model.named_tensors(), &source, &serde_json::json!({}), &serde_json::json!({}))).unwrap();
        let stored = |files: &ModelFiles| {
            let st = safetensors::SafeTensors::deserialize(files.require("model.safetensors").unwrap()).unwrap();
            let mut names: Vec<(String, Vec<usize>)> = st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec())).collect();
            names.sort();
            names
        };
        assert_eq!(stored(&exported), stored(&source), "{name}: tensor names and shapes");
        let (again, _) = CausalLm::load(&exported, &m.config, &device).unwrap();
        let ids = &record.models[name].cases[0].ids;
        let input = CausalInput::new(ids, &vec![1; ids.len()], 1, 0, &device);
        let a: Vec<f32> = m.model.forward(&input, &mut KvCache::new(), &mut Trace::off()).into_data().try_into_vec().unwrap();
        let b: Vec<f32> = again.forward(&input, &mut KvCache::new(), &mut Trace::off()).into_data().try_into_vec().unwrap();
        assert_eq!(a, b, "{name}: logits after the round trip");
    }
}

/// Corpus BLEU, its precisions, brevity penalty and lengths, the 13a tokens, and ROUGE-L
/// F1 equal sacrebleu's and rouge_score's on corpora with punctuation, numbers, HTML
/// entities, hyphens, Unicode, two reference streams, an empty hypothesis, no match and
/// trailing whitespace (`tests/fixtures/text_metrics.json`).
#[test]
fn bleu_and_rouge_equal_sacrebleu_and_rouge_score() {
    #[derive(Deserialize)]
    struct Metrics {
        corpora: std::collections::BTreeMap<String, Corpus>,
    }
    #[derive(Deserialize)]
    struct Corpus {
        hypotheses: Vec<String>,
        references: Vec<Vec<String>>,
        bleu: f64,
        precisions: [f64; 4],
        bp: f64,
        sys_len: usize,
        ref_len: usize,
        tokenized_hypotheses: Vec<String>,
        rouge_l: Vec<f64>,
    }
    let m: Metrics = serde_json::from_str(&std::fs::read_to_string(fixtures().join("text_metrics.json")).unwrap()).unwrap();
    assert_eq!(m.corpora.len(), 5);
    for (name, c) in &m.corpora {
        let tokens: Vec<String> = c.hypotheses.iter().map(|h| webtune::train::tokenize_13a(h)).collect();
        assert_eq!(tokens, c.tokenized_hypotheses, "{name}: 13a tokens");
        let got = webtune::train::corpus_bleu(&c.hypotheses, &c.references);
        assert!((got.score - c.bleu).abs() < 1e-9, "{name}: BLEU {} vs sacrebleu {}", got.score, c.bleu);
        for (g, w) in got.precisions.iter().zip(&c.precisions) {
            assert!((g - w).abs() < 1e-9, "{name}: precisions {:?} vs {:?}", got.precisions, c.precisions);
        }
        assert!((got.bp - c.bp).abs() < 1e-12 && got.sys_len == c.sys_len && got.ref_len == c.ref_len, "{name}: {got:?}");
        for ((h, r), want) in c.hypotheses.iter().zip(&c.references[0]).zip(&c.rouge_l) {
            let f = webtune::train::rouge_l_f1(h, r);
            assert!((f - want).abs() < 1e-12, "{name}: ROUGE-L of {h:?} vs {r:?}: {f}, want {want}");
        }
    }
    assert!(webtune::train::exact_match(" fox jumps ", "fox jumps") && !webtune::train::exact_match("Fox", "fox"));
}

/// The chat templates of Llama 3.2, Qwen2.5 and SmolLM2 render exactly what transformers'
/// `apply_chat_template` renders (`tests/fixtures/chat_templates.json`): system prompts,
/// multi-turn, whitespace the template trims, Unicode and Jinja-like text in a message,
/// `add_generation_prompt` both ways, and tools written by `tojson` (with an indent in
/// Llama's, Python's separators in Qwen's).
#[test]
fn chat_templates_render_as_transformers_renders_them() {
    use webtune::checkpoint::{ChatTemplate, Message};
    #[derive(Deserialize)]
    struct Record {
        templates: std::collections::BTreeMap<String, TemplateRecord>,
    }
    #[derive(Deserialize)]
    struct TemplateRecord {
        special_tokens: std::collections::BTreeMap<String, String>,
        cases: Vec<ChatCase>,
    }
    #[derive(Deserialize)]
    struct ChatCase {
        messages: Vec<Message>,
        add_generation_prompt: bool,
        extra: serde_json::Value,
        text: String,
    }
    let text = std::fs::read_to_string(fixtures().join("chat_templates.json")).unwrap();
    let record: Record = serde_json::from_str(&text).unwrap();
    // The extra variables as JSON text in the file's key order (tojson keeps it).
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record.templates.len(), 3);
    for (name, t) in &record.templates {
        let source = std::fs::read_to_string(fixtures().join(format!("chat_templates/{name}.jinja"))).unwrap();
        let specials: Vec<(&str, &str)> = t.special_tokens.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let template = ChatTemplate::new(source, &specials);
        for (i, case) in t.cases.iter().enumerate() {
            let extra = case.extra.as_object().filter(|o| !o.is_empty()).map(|_| extra_in_file_order(&text, name, i, &raw));
            let got = template.render(&case.messages, case.add_generation_prompt, extra.as_deref()).unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
            assert_eq!(got, case.text, "{name} case {i}");
        }
    }
}

/// Case `i`'s `extra` object of template `name`, cut from the fixture's text so that its
/// keys stay in the order Python wrote them.
fn extra_in_file_order(text: &str, name: &str, i: usize, raw: &serde_json::Value) -> String {
    let value = &raw["templates"][name]["cases"][i]["extra"];
    // serde_json's Value sorts keys, and the tools' dicts must keep Python's order: the
    // object is cut from the text, and checked against the parsed value.
    let start = text.find(&format!("\"{name}\"")).unwrap();
    let mut pos = start;
    for _ in 0..=i {
        pos += text[pos..].find("\"extra\": ").unwrap() + "\"extra\": ".len();
    }
    let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<serde_json::Value>();
    let parsed = stream.next().unwrap().unwrap();
    assert_eq!(&parsed, value);
    text[pos..pos + stream.byte_offset()].to_string()
}

/// A chat conversation becomes the ids transformers' `apply_chat_template(tokenize=True)`
/// gives, with labels on exactly the assistant's words and its `<|im_end|>`; a
/// conversation without an assistant turn, and one the template refuses, are errors that
/// name the line.
#[test]
fn a_conversation_trains_on_the_assistant_turns_only() {
    use webtune::checkpoint::{ChatTemplate, Message};
    use webtune::train::{ChatExampleError, chat_example};
    #[derive(Deserialize)]
    struct Tokenized {
        messages: Vec<Message>,
        ids: Vec<u32>,
    }
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat_templates.json")).unwrap()).unwrap();
    let want: Tokenized = serde_json::from_value(raw["tokenized"].clone()).unwrap();
    let m = load("tiny-qwen2", 64);
    let source = std::fs::read_to_string(fixtures().join("chat_templates/qwen2.5.jinja")).unwrap();
    let template = ChatTemplate::new(source, &[("eos_token", "<|im_end|>")]);
    let example = chat_example(&template, &m.tokenizer, &want.messages, Some("<|im_end|>"), 7).unwrap();
    assert_eq!(example.ids, want.ids, "the ids of transformers' tokenised template");
    let learnt: Vec<u32> = example.labels.iter().filter(|l| **l != -100).map(|&l| l as u32).collect();
    assert_eq!(m.tokenizer.decode(&learnt, false).unwrap(), "Paris<|im_end|>");
    assert_eq!(example.predicted(), learnt.len());
    let user_only = [Message { role: "user".into(), content: "Hi".into() }];
    assert_eq!(chat_example(&template, &m.tokenizer, &user_only, Some("<|im_end|>"), 9).unwrap_err(), ChatExampleError::NoAssistant { line: 9 });
    let strict = ChatTemplate::new("{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{{ m.content }}{% endfor %}", &[]);
    let with_tool = [Message { role: "tool".into(), content: "42".into() }, Message { role: "assistant".into(), content: "ok".into() }];
    let err = chat_example(&strict, &m.tokenizer, &with_tool, None, 12).unwrap_err().to_string();
    assert_eq!(err, "line 12: the chat template refuses this conversation: Only user and assistant roles are supported!");
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

/// Questions and answers for the chat learning test (and `generate.py`'s PyTorch twin).
const CHAT_QA: [(&str, &str); 8] = [
    ("Capital of France?", "Paris"),
    ("Capital of Japan?", "Tokyo"),
    ("Colour of the sky?", "blue"),
    ("Two plus two?", "four"),
    ("Opposite of hot?", "cold"),
    ("Animal that barks?", "dog"),
    ("First letter?", "a"),
    ("Best day ever?", "this one"),
];

/// A learnable chat task: the tiny Qwen2 with Qwen2.5's template, fine-tuned by the shared
/// trainer on eight question/answer chats with the loss on the assistant turns only, then
/// answers each question (greedy, stopping at `<|im_end|>`) exactly: exact match ≥ 90 %.
#[test]
fn a_tiny_qwen2_learns_to_answer_chats() {
    use webtune::checkpoint::{ChatTemplate, Message};
    use webtune::train::{BestMetric, CausalLanguageModelling, LmSet, TrainConfig, Trainer, chat_example, exact_match};
    let m = load("tiny-qwen2", 64);
    let template = ChatTemplate::new(std::fs::read_to_string(fixtures().join("chat_templates/qwen2.5.jinja")).unwrap(), &[("eos_token", "<|im_end|>")]);
    let chat = |q: &str, a: Option<&str>| {
        let mut messages = vec![Message { role: "user".into(), content: q.into() }];
        if let Some(a) = a {
            messages.push(Message { role: "assistant".into(), content: a.into() });
        }
        messages
    };
    let examples = CHAT_QA
        .iter()
        .enumerate()
        .map(|(i, (q, a))| chat_example(&template, &m.tokenizer, &chat(q, Some(a)), Some("<|im_end|>"), i + 1).unwrap())
        .collect();
    let pad = m.config.pad_token_id();
    let task = CausalLanguageModelling { train: LmSet { examples, pad_id: pad }, valid: None };
    let device = cpu_device();
    let files = read_model_folder(&fixtures().join("tiny-qwen2")).unwrap();
    let (model, _) = CausalLm::load(&files, &m.config, &device.clone().autodiff()).unwrap();
    let config = TrainConfig { learning_rate: 1e-2, batch_size: 4, epochs: 30, warmup_ratio: 0.0, max_length: 64, best_metric: BestMetric::Loss, seed: 1, ..TrainConfig::default() };
    let mut trainer = Trainer::with_task(model, task, config, device.clone()).unwrap();
    while !trainer.is_finished() {
        pollster::block_on(trainer.step()).unwrap();
    }
    let model = trainer.model_for_export();
    let im_end = m.tokenizer.token_id("<|im_end|>").unwrap();
    let mut s = settings(&m, 8, 1.0, true);
    s.eos_token_ids.push(im_end);
    let prompts: Vec<Vec<u32>> = CHAT_QA.iter().map(|(q, _)| m.tokenizer.encode_verbatim(0, &template.render(&chat(q, None), true, None).unwrap()).unwrap()).collect();
    let answers = pollster::block_on(generate(&model, &prompts, &s, &device)).unwrap();
    let texts: Vec<String> = answers.iter().map(|a| m.tokenizer.decode(a.strip_suffix(&[im_end]).unwrap_or(a), false).unwrap()).collect();
    let right = texts.iter().zip(CHAT_QA).filter(|(t, (_, a))| exact_match(t, a)).count();
    eprintln!("answers: {texts:?}");
    assert!(right * 10 >= CHAT_QA.len() * 9, "{right} of {} answered exactly: {texts:?}", CHAT_QA.len());
    assert!(answers.iter().all(|a| a.last() == Some(&im_end)), "every answer ends its turn: {answers:?}");
}


/// The head applied a few positions at a time gives the loss and gradients of one pass.
#[test]
fn the_chunked_loss_equals_the_whole() {
    use burn::optim::GradientsParams;
    use webtune::train::next_token_loss_in_chunks;
    let record: GradRecord = serde_json::from_str(&std::fs::read_to_string(fixtures().join("causal.grads.json")).unwrap()).unwrap();
    let fixture = &record.models["tiny-llama"];
    let device = cpu_device().autodiff();
    let files = read_model_folder(&fixtures().join("tiny-llama")).unwrap();
    let config = CausalConfig::from_json(files.require("config.json").unwrap()).unwrap();
    let (model, _) = CausalLm::load(&files, &config, &device).unwrap();
    let (ids, mask, labels) = (fixture.ids.concat(), fixture.attention_mask.concat(), fixture.labels.concat());
    let run = |chunk: usize| {
        let input = CausalInput::new(&ids, &mask, fixture.ids.len(), 0, &device);
        let (loss, n) = next_token_loss_in_chunks(&model, &input, &labels, &device, &mut Trace::off(), chunk).unwrap();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let head = model.named_tensors().into_iter().find(|t| t.name == "lm_head.weight").unwrap();
        (loss.into_scalar::<f32>(), n, torch_layout(grads.get::<2>(head.id).unwrap(), true))
    };
    let (whole, n, g_whole) = run(4096);
    let (chunked, m, g_chunked) = run(3);
    assert!(n > 6 && n == m);
    assert!((whole - chunked).abs() < 1e-6 && relative_error(&g_chunked, &g_whole) < 1e-6, "{whole} vs {chunked}");
}
