//! Causal language modelling: the loss and AdamW steps against PyTorch, and learnable tasks.

use super::*;

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
        let mut ill: std::collections::BTreeMap<&str, Vec<bool>> = Default::default();
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
            for (pname, g) in &step.grads {
                crate::common::mark_ill_conditioned(ill.entry(pname).or_default(), g, crate::common::torch_clip(record.max_grad_norm, step.grad_norm));
            }
            let tensors = model.named_tensors();
            for (pname, want) in &step.after {
                let t = tensors.iter().find(|t| &t.name == pname).unwrap();
                let marks = ill.get(pname.as_str()).cloned().unwrap_or_default();
                crate::common::assert_after_adamw(&format!("{name} step {n}: {pname} after AdamW"), &torch_layout(t.tensor.clone(), t.transpose), want, &marks, record.lr, n + 1, 1e-5);
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
    let set = |examples: Vec<LmExample>| LmSet::new(examples, eos);
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
    let task = CausalLanguageModelling { train: LmSet::new(examples, 0), valid: None };
    let config = TrainConfig { best_metric: webtune::train::BestMetric::Loss, ..TrainConfig::default() };
    let err = Trainer::with_task(model, task, config, device).err().unwrap().to_string();
    assert!(err.contains("line 3 of the training data has nothing to learn"), "{err}");
}

/// Questions and answers for the chat learning test (and `generate.py`'s PyTorch twin).
pub(crate) const CHAT_QA: [(&str, &str); 8] = [
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
    let task = CausalLanguageModelling { train: LmSet::new(examples, pad), valid: None };
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


/// Bucketed padding (`pad_to_multiple_of`) trains a generative model as padding to the
/// longest example does, for every family: the same step losses and gradient norms, the
/// same validation loss over the same tokens, the same weights.
#[test]
fn padding_to_a_multiple_trains_as_padding_to_the_longest() {
    use webtune::train::{BestMetric, CausalLanguageModelling, LmExample, LmSet, TrainConfig, Trainer};
    for name in ["tiny-gpt2", "tiny-llama", "tiny-qwen2"] {
        let m = load(name, 64);
        let device = cpu_device();
        let files = read_model_folder(&fixtures().join(name)).unwrap();
        let vocab = m.config.vocab_size() as u64;
        // Lengths 5, 8, …, 27: no batch's longest is a multiple of 16.
        let examples: Vec<LmExample> = (0..12).map(|i| LmExample::text((0..5 + 2 * i as u64).map(|t| ((t * 7 + i as u64 * 3) % vocab) as u32).collect(), i + 1)).collect();
        let run = |multiple: usize| {
            let (model, _) = CausalLm::load(&files, &m.config, &device.clone().autodiff()).unwrap();
            let pad = m.config.pad_token_id();
            let task = CausalLanguageModelling { train: LmSet::new(examples.clone(), pad), valid: Some(LmSet::new(examples[..5].to_vec(), pad)) };
            let config = TrainConfig { learning_rate: 1e-3, batch_size: 4, epochs: 1, warmup_ratio: 0.0, max_length: 64, best_metric: BestMetric::Loss, pad_to_multiple_of: multiple, ..TrainConfig::default() };
            let mut trainer = Trainer::with_task(model, task, config, device.clone()).unwrap();
            let mut steps = Vec::new();
            while !trainer.is_finished() {
                let r = pollster::block_on(trainer.step()).unwrap().logged.pop().unwrap();
                steps.push((r.loss, r.grad_norm));
            }
            let eval = pollster::block_on(trainer.evaluate()).unwrap().unwrap();
            let weights: Vec<(String, Vec<f32>)> = trainer.model_for_export().named_tensors().into_iter().map(|t| (t.name.clone(), torch_layout(t.tensor, t.transpose))).collect();
            (steps, eval, weights)
        };
        let (a, b) = (run(0), run(16));
        for (n, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
            assert!((x.0 - y.0).abs() / x.0 < 1e-5 && (x.1 - y.1).abs() / x.1 < 1e-5, "{name} step {n}: {x:?} vs {y:?}");
        }
        assert_eq!(a.1.tokens, b.1.tokens, "{name}");
        assert!((a.1.loss - b.1.loss).abs() / a.1.loss < 1e-5, "{name}: validation loss {} vs {}", a.1.loss, b.1.loss);
        // Key biases are left out: attention's softmax is unchanged by adding a constant
        // to a query's scores, so their true gradient is zero and what backpropagation
        // computes is f32 noise, which Adam scales up to ±lr either way. The validation
        // loss above shows the models compute the same.
        for ((pname, x), (_, y)) in a.2.iter().zip(&b.2) {
            let (x, y) = if pname.ends_with("k_proj.bias") {
                continue;
            } else if pname.ends_with("c_attn.bias") {
                let third = x.len() / 3;
                ([&x[..third], &x[2 * third..]].concat(), [&y[..third], &y[2 * third..]].concat())
            } else {
                (x.clone(), y.clone())
            };
            assert!(relative_error(&y, &x) < 1e-5, "{name}: {pname} differs after training: {}", relative_error(&y, &x));
        }
    }
}
