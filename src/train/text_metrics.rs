//! Scores of generated text against references: corpus BLEU as sacrebleu's `corpus_bleu`
//! computes it with its defaults (13a tokenisation, `exp` smoothing, 4-grams, case kept),
//! ROUGE-L F1 as the `rouge_score` package computes it (lowercased, split at every
//! character that is not `a-z` or `0-9`, no stemming), and exact match.

use std::collections::HashMap;

/// Corpus BLEU and its parts (sacrebleu's `BLEUScore`).
#[derive(Clone, Debug, PartialEq)]
pub struct Bleu {
    /// BLEU, 0–100.
    pub score: f64,
    /// n-gram precisions (1..=4), percent, smoothed.
    pub precisions: [f64; 4],
    /// Brevity penalty.
    pub bp: f64,
    /// Tokens of the hypotheses.
    pub sys_len: usize,
    /// Tokens of the closest references.
    pub ref_len: usize,
}

/// mteval-v13a's tokenisation, as sacrebleu's `Tokenizer13a` (with the trailing
/// whitespace stripped first, as `corpus_bleu` does): tokens joined by single spaces.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line.trim_end().replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let padded: Vec<char> = format!(" {line} ").chars().collect();
    // `([\{-\~\[-\` -\&\(-\+\:-\@\/])` → ` \1 `.
    let symbol = |c: char| matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/');
    let mut spaced = Vec::with_capacity(padded.len() * 2);
    for c in padded {
        if symbol(c) {
            spaced.extend([' ', c, ' ']);
        } else {
            spaced.push(c);
        }
    }
    let digit = |c: char| c.is_ascii_digit();
    let period = |c: char| c == '.' || c == ',';
    // `([^0-9])([\.,])` → `\1 \2 `; `([\.,])([^0-9])` → ` \1 \2`; `([0-9])(-)` → `\1 \2 `.
    let spaced = substitute_pairs(&spaced, |a, b| !digit(a) && period(b), |a, b| vec![a, ' ', b, ' ']);
    let spaced = substitute_pairs(&spaced, |a, b| period(a) && !digit(b), |a, b| vec![' ', a, ' ', b]);
    let spaced = substitute_pairs(&spaced, |a, b| digit(a) && b == '-', |a, b| vec![a, ' ', b, ' ']);
    spaced.into_iter().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `re.sub` of a two-character pattern: matches are found left to right without overlap.
fn substitute_pairs(text: &[char], matches: impl Fn(char, char) -> bool, replace: impl Fn(char, char) -> Vec<char>) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 4);
    let mut i = 0;
    while i < text.len() {
        if i + 1 < text.len() && matches(text[i], text[i + 1]) {
            out.extend(replace(text[i], text[i + 1]));
            i += 2;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

fn ngrams(tokens: &[&str]) -> HashMap<Vec<String>, usize> {
    let mut counts = HashMap::new();
    for n in 1..=4 {
        for window in tokens.windows(n) {
            *counts.entry(window.iter().map(|t| t.to_string()).collect()).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU of `hypotheses` against `references` (one or more reference streams, each
/// as long as `hypotheses`), as `sacrebleu.corpus_bleu(hypotheses, references)`.
pub fn corpus_bleu(hypotheses: &[String], references: &[Vec<String>]) -> Bleu {
    let (mut correct, mut total) = ([0usize; 4], [0usize; 4]);
    let (mut sys_len, mut ref_len) = (0, 0);
    for (i, hypothesis) in hypotheses.iter().enumerate() {
        let hyp = tokenize_13a(hypothesis);
        let hyp: Vec<&str> = hyp.split_whitespace().collect();
        let mut ref_counts: HashMap<Vec<String>, usize> = HashMap::new();
        let mut closest: Option<usize> = None;
        for stream in references {
            let Some(reference) = stream.get(i) else { continue };
            let tokenized = tokenize_13a(reference);
            let tokens: Vec<&str> = tokenized.split_whitespace().collect();
            for (gram, count) in ngrams(&tokens) {
                let entry = ref_counts.entry(gram).or_insert(0);
                *entry = (*entry).max(count);
            }
            // The closest length, the shorter of two equally close.
            let len = tokens.len();
            closest = Some(match closest {
                Some(c) if c.abs_diff(hyp.len()) < len.abs_diff(hyp.len()) => c,
                Some(c) if c.abs_diff(hyp.len()) == len.abs_diff(hyp.len()) => c.min(len),
                _ => len,
            });
        }
        sys_len += hyp.len();
        ref_len += closest.unwrap_or(0);
        for (gram, count) in ngrams(&hyp) {
            let n = gram.len() - 1;
            total[n] += count;
            correct[n] += count.min(ref_counts.get(&gram).copied().unwrap_or(0));
        }
    }
    let bp = if sys_len < ref_len { if sys_len > 0 { (1.0 - ref_len as f64 / sys_len as f64).exp() } else { 0.0 } } else { 1.0 };
    let mut precisions = [0.0; 4];
    if correct.iter().all(|&c| c == 0) {
        return Bleu { score: 0.0, precisions, bp, sys_len, ref_len };
    }
    let mut smooth = 1.0;
    for n in 0..4 {
        if total[n] == 0 {
            break;
        }
        precisions[n] = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
    }
    // sacrebleu floors log(0) at −9,999,999,999, which makes the score 0.
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let score = bp * (precisions.iter().map(|&p| log(p)).sum::<f64>() / 4.0).exp();
    Bleu { score, precisions, bp, sys_len, ref_len }
}

/// `rouge_score`'s tokens: lowercased, split at every character other than `a-z`, `0-9`.
fn rouge_tokens(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit())).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// ROUGE-L F1 of `hypothesis` against `reference` (0 when either has no tokens).
pub fn rouge_l_f1(hypothesis: &str, reference: &str) -> f64 {
    let (h, r) = (rouge_tokens(hypothesis), rouge_tokens(reference));
    if h.is_empty() || r.is_empty() {
        return 0.0;
    }
    let mut table = vec![vec![0usize; h.len() + 1]; r.len() + 1];
    for i in 1..=r.len() {
        for j in 1..=h.len() {
            table[i][j] = if r[i - 1] == h[j - 1] { table[i - 1][j - 1] + 1 } else { table[i - 1][j].max(table[i][j - 1]) };
        }
    }
    let lcs = table[r.len()][h.len()] as f64;
    let (precision, recall) = (lcs / h.len() as f64, lcs / r.len() as f64);
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}

/// How well generations match their references: `metrics.json`'s and `webtune evaluate
/// --generate`'s `bleu`, `rouge_l`, `exact_match` and `generated`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenerationScores {
    /// Corpus BLEU, 0–100 (see [`corpus_bleu`]).
    pub bleu: f64,
    /// Mean ROUGE-L F1, 0–1 (see [`rouge_l_f1`]).
    pub rouge_l: f64,
    /// Share of predictions equal to their reference (see [`exact_match`]).
    pub exact_match: f64,
    /// Predictions scored.
    pub generated: usize,
}

impl GenerationScores {
    /// The scores of `predictions` against `references` (the same length, not empty).
    pub fn of(predictions: &[String], references: &[String]) -> Self {
        debug_assert_eq!(predictions.len(), references.len());
        let n = references.len().max(1) as f64;
        let refs = references.to_vec();
        Self {
            bleu: corpus_bleu(predictions, std::slice::from_ref(&refs)).score,
            rouge_l: predictions.iter().zip(references).map(|(p, r)| rouge_l_f1(p, r)).sum::<f64>() / n,
            exact_match: predictions.iter().zip(references).filter(|(p, r)| exact_match(p, r)).count() as f64 / n,
            generated: references.len(),
        }
    }

    /// One line for a terminal or a status bar.
    pub fn summary(&self) -> String {
        format!("BLEU {:.2} · ROUGE-L {:.4} · exact match {:.4} ({} generated)", self.bleu, self.rouge_l, self.exact_match, self.generated)
    }
}

/// Whether `hypothesis` equals `reference` after trimming surrounding whitespace.
pub fn exact_match(hypothesis: &str, reference: &str) -> bool {
    hypothesis.trim() == reference.trim()
}
