//! Models, the key/value cache, sampling and export against transformers.

use super::*;

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
