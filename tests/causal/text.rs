//! Generation metrics and chat templates against sacrebleu, rouge_score and transformers.

use super::*;

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

