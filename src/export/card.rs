//! The README.md model card written next to an export: what the model is, what it was
//! trained on and how, and how well it did, in the Hugging Face Hub's format.

use serde::Serialize;

use crate::train::{EvalReport, TrainConfig};

/// What goes into a model card.
#[derive(Clone, Debug, Serialize)]
pub struct CardInfo {
    /// The model it started from (a Hub id, a folder or "all-MiniLM-L6-v2 (bundled)").
    pub base_model: String,
    /// A Hub id for the `base_model` metadata, when the base came from the Hub.
    pub base_model_id: Option<String>,
    /// Where the data came from (file names).
    pub data_source: String,
    /// Training rows used.
    pub train_rows: usize,
    /// Validation rows used.
    pub valid_rows: usize,
    /// Rows per label in the training data, in class-id order.
    pub label_counts: Vec<(String, usize)>,
    /// Sentence pairs (two text columns) rather than single texts.
    pub pairs: bool,
    /// The settings.
    pub settings: TrainConfig,
    /// Optimizer steps run, and the step whose weights were kept.
    pub steps: (usize, usize),
    /// Validation metrics of the kept weights.
    pub metrics: Option<EvalReport>,
}

/// The card as Markdown with YAML front matter.
pub fn model_card(info: &CardInfo) -> String {
    let mut card = String::from("---\nlibrary_name: transformers\npipeline_tag: text-classification\ntags:\n- webtune\n- text-classification\n");
    if let Some(id) = &info.base_model_id {
        card += &format!("base_model: {id}\n");
    }
    card += "---\n\n";
    let task = if info.pairs { "sentence-pair classification" } else { "text classification" };
    card += &format!(
        "# Fine-tuned {task} model\n\nFine-tuned from **{}** with webtune (fine-tuning on WebGPU, in the browser or from the command line) on {} training and {} validation examples from `{}`.\n\n",
        info.base_model, info.train_rows, info.valid_rows, info.data_source
    );
    card += "## Labels\n\n| id | label | training examples |\n|---:|---|---:|\n";
    for (i, (label, count)) in info.label_counts.iter().enumerate() {
        card += &format!("| {i} | {label} | {count} |\n");
    }
    card += "\n## Results on the validation set\n\n";
    match &info.metrics {
        Some(m) => {
            card += &format!(
                "Weights from step {} of {}.\n\n| metric | value |\n|---|---:|\n| accuracy | {:.4} |\n| macro F1 | {:.4} |\n| macro precision | {:.4} |\n| macro recall | {:.4} |\n| loss | {:.4} |\n| examples | {} |\n\n",
                info.steps.1, info.steps.0, m.accuracy, m.macro_f1, m.macro_precision, m.macro_recall, m.loss, m.examples
            );
            card += "| label | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n";
            for c in &m.per_class {
                card += &format!("| {} | {:.4} | {:.4} | {:.4} | {} |\n", c.label, c.precision, c.recall, c.f1, c.support);
            }
        }
        None => card += "There was no validation set, so there are no validation metrics.\n",
    }
    let s = &info.settings;
    card += &format!(
        "\n## Training settings\n\n| setting | value |\n|---|---|\n| epochs | {} |\n| learning rate | {:e} ({:?} schedule, warmup {}) |\n| batch size | {} × {} accumulation |\n| max length | {} tokens |\n| weight decay | {} |\n| gradient clipping | {} |\n| seed | {} |\n\nAll settings are in `training_args.json`, the metrics in `metrics.json`.\n\n",
        s.epochs, s.learning_rate, s.schedule, s.warmup_ratio, s.batch_size, s.grad_accum, s.max_length, s.weight_decay, s.max_grad_norm, s.seed
    );
    card += "## Use\n\n```python\nfrom transformers import pipeline\nclassifier = pipeline(\"text-classification\", model=\"path/to/this/folder\")\nprint(classifier(\"Your text here\"))\n```\n";
    card
}

/// What the card of a fine-tuned language model says.
#[derive(Clone, Debug)]
pub struct LmCardInfo {
    /// The model it started from.
    pub base_model: String,
    /// A Hub id for the `base_model` metadata, when the base came from the Hub.
    pub base_model_id: Option<String>,
    /// Where the data came from (file names).
    pub data_source: String,
    /// The data's layout, in words ("chats", "prompt / completion pairs").
    pub layout: String,
    /// Whether the data was conversations (the card shows the chat use).
    pub chat: bool,
    /// Training rows used.
    pub train_rows: usize,
    /// Validation rows used.
    pub valid_rows: usize,
    /// Plain texts were packed into blocks.
    pub packing: bool,
    /// The prompts were learnt too.
    pub train_on_prompt: bool,
    /// The settings.
    pub settings: TrainConfig,
    /// Optimizer steps run, and the step whose weights were kept.
    pub steps: (usize, usize),
    /// Validation loss of the kept weights.
    pub metrics: Option<crate::train::LmEvaluation>,
}

/// The card of a fine-tuned language model, as Markdown with YAML front matter.
pub fn lm_model_card(info: &LmCardInfo) -> String {
    let mut card = String::from("---\nlibrary_name: transformers\npipeline_tag: text-generation\ntags:\n- webtune\n- text-generation\n");
    if let Some(id) = &info.base_model_id {
        card += &format!("base_model: {id}\n");
    }
    card += "---\n\n";
    card += &format!(
        "# Fine-tuned language model\n\nFine-tuned from **{}** with webtune (fine-tuning on WebGPU, in the browser or from the command line) on {} training and {} validation examples ({}) from `{}`.\n\n",
        info.base_model, info.train_rows, info.valid_rows, info.layout, info.data_source
    );
    let learnt = match (info.train_on_prompt, info.chat) {
        (true, _) => "every token (prompts included)",
        (false, true) => "the assistant turns (with their end-of-turn token)",
        (false, false) if info.layout.starts_with("plain") => "every token",
        (false, false) => "the completions (each followed by the end-of-text token)",
    };
    card += &format!("The loss was on {learnt}{}.\n\n", if info.packing { "; plain texts were packed into blocks of the max length" } else { "" });
    card += "## Results on the validation set\n\n";
    match &info.metrics {
        Some(m) => {
            card += &format!(
                "Weights from step {} of {}.\n\n| metric | value |\n|---|---:|\n| loss | {:.4} |\n| perplexity | {:.3} |\n| tokens | {} |\n",
                info.steps.1, info.steps.0, m.loss, m.perplexity, m.tokens
            );
            if let Some(g) = &m.generation {
                card += &format!(
                    "| BLEU (greedy answers to {} validation prompts) | {:.2} |\n| ROUGE-L F1 | {:.4} |\n| exact match | {:.4} |\n",
                    g.generated, g.bleu, g.rouge_l, g.exact_match
                );
            }
        }
        None => card += "There was no validation set, so there are no validation metrics.\n",
    }
    let s = &info.settings;
    card += &format!(
        "\n## Training settings\n\n| setting | value |\n|---|---|\n| epochs | {} |\n| learning rate | {:e} ({:?} schedule, warmup {}) |\n| batch size | {} × {} accumulation |\n| max length | {} tokens |\n| weight decay | {} |\n| gradient clipping | {} |\n| seed | {} |\n\nAll settings are in `training_args.json`, the metrics in `metrics.json`.\n\n",
        s.epochs, s.learning_rate, s.schedule, s.warmup_ratio, s.batch_size, s.grad_accum, s.max_length, s.weight_decay, s.max_grad_norm, s.seed
    );
    card += if info.chat {
        "## Use\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\ntokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\nmodel = AutoModelForCausalLM.from_pretrained(\"path/to/this/folder\")\nids = tokenizer.apply_chat_template([{\"role\": \"user\", \"content\": \"Hello!\"}], add_generation_prompt=True, return_tensors=\"pt\")\nprint(tokenizer.decode(model.generate(ids, max_new_tokens=64)[0][ids.shape[1]:], skip_special_tokens=True))\n```\n"
    } else {
        "## Use\n\n```python\nfrom transformers import pipeline\ngenerator = pipeline(\"text-generation\", model=\"path/to/this/folder\")\nprint(generator(\"Your prompt here\", max_new_tokens=64)[0][\"generated_text\"])\n```\n"
    };
    card
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_lists_labels_settings_and_metrics() {
        let metrics = EvalReport::from_predictions(&["neg".into(), "pos".into()], &[0, 1, 1, 0], &[0, 1, 0, 0], 2.0);
        let card = model_card(&CardInfo {
            base_model: "sentence-transformers/all-MiniLM-L6-v2 (Hugging Face Hub)".into(),
            base_model_id: Some("sentence-transformers/all-MiniLM-L6-v2".into()),
            data_source: "reviews.csv".into(),
            train_rows: 90,
            valid_rows: 4,
            label_counts: vec![("neg".into(), 40), ("pos".into(), 50)],
            pairs: false,
            settings: TrainConfig::default(),
            steps: (9, 6),
            metrics: Some(metrics),
        });
        assert!(card.starts_with("---\nlibrary_name: transformers\npipeline_tag: text-classification\n"));
        assert!(card.contains("base_model: sentence-transformers/all-MiniLM-L6-v2\n"));
        assert!(card.contains("| 1 | pos | 50 |\n"));
        assert!(card.contains("Weights from step 6 of 9.") && card.contains("| accuracy | 0.7500 |"));
        assert!(card.contains("| learning rate | 5e-5 (Linear schedule, warmup 0.1) |"));
    }
}
