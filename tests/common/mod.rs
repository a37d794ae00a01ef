//! Shared by the native and the browser tests: golden fixtures and how they are compared.

#![allow(dead_code)]

use serde::Deserialize;
use webtune::model::Embedding;

/// A `*.parity.json` file written by `tests/fixtures/generate.py`.
#[derive(Deserialize)]
pub struct Parity {
    pub model: String,
    pub max_seq_length: usize,
    pub cases: Vec<Case>,
    #[serde(default)]
    pub variants: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
}

/// One sentence with its reference token ids and embedding.
#[derive(Deserialize)]
pub struct Case {
    pub text: String,
    pub ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

impl Parity {
    pub fn parse(json: &str) -> Self {
        serde_json::from_str(json).expect("fixture parity JSON")
    }

    pub fn texts(&self) -> Vec<String> {
        self.cases.iter().map(|c| c.text.clone()).collect()
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Token ids must match exactly; each embedding within cosine ≥ 0.9999 and
/// max abs diff ≤ `tolerance` of the reference. Returns the worst (cosine, diff) seen.
pub fn assert_matches(label: &str, got: &[Embedding], cases: &[Case], expected: &[Vec<f32>], tolerance: f32) -> (f64, f32) {
    assert_eq!(got.len(), cases.len(), "{label}: number of embeddings");
    let mut worst = (1.0f64, 0.0f32);
    for ((g, case), reference) in got.iter().zip(cases).zip(expected) {
        assert_eq!(g.ids, case.ids, "{label}: token ids of {:?}", case.text);
        assert_eq!(g.vector.len(), reference.len(), "{label}: width for {:?}", case.text);
        let cos = cosine(&g.vector, reference);
        let diff = max_abs_diff(&g.vector, reference);
        assert!(
            cos >= 0.9999 && diff <= tolerance,
            "{label}: embedding of {:?} differs from the reference: cosine {cos}, max abs diff {diff}",
            case.text
        );
        worst = (worst.0.min(cos), worst.1.max(diff));
    }
    worst
}

/// The reference embeddings of the cases.
pub fn reference(cases: &[Case]) -> Vec<Vec<f32>> {
    cases.iter().map(|c| c.embedding.clone()).collect()
}

/// Eight labelled texts in the tiny vocabulary, for the short training run that the CPU
/// test (tests/training.rs) and the WebGPU test (tests/web.rs) both make.
pub fn eight_examples() -> Vec<webtune::data::Example> {
    [
        ("i love this best day ever", "pos"),
        ("no way wait the lazy dog", "neg"),
        ("the best fox ever", "pos"),
        ("wait no the long day", "neg"),
        ("love the quick brown fox", "pos"),
        ("the lazy one way over", "neg"),
        ("fine day with the dog", "pos"),
        ("no no wait", "neg"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (t, l))| webtune::data::Example { text: t.to_string(), pair: None, label: Some(l.to_string()), line: i + 2 })
    .collect()
}

/// The settings of that run: 8 full-batch steps, no warmup.
pub fn eight_examples_config() -> webtune::train::TrainConfig {
    webtune::train::TrainConfig { learning_rate: 1e-2, batch_size: 8, epochs: 8, warmup_ratio: 0.0, max_length: 32, seed: 1, ..Default::default() }
}

/// The loss of a fresh head on a tiny random encoder starts near ln 2 and falls slowly:
/// from the third step on it must fall every step, and end clearly below where it began.
pub fn assert_loss_falls(label: &str, losses: &[f64]) {
    assert_eq!(losses.len(), 8, "{label}");
    assert!(losses[2..].windows(2).all(|w| w[1] < w[0]), "{label}: loss should fall every step from the third: {losses:?}");
    assert!(losses[7] < losses[0] - 0.015, "{label}: loss should end clearly lower: {losses:?}");
}

// ---- `families.parity.json`: the non-BERT encoder families ----

#[derive(serde::Deserialize)]
pub struct FamilyParity {
    pub max_length: usize,
    pub models: std::collections::BTreeMap<String, FamilyModel>,
}

#[derive(serde::Deserialize)]
pub struct FamilyModel {
    pub model_type: String,
    pub cases: Vec<FamilyCase>,
    pub batched_probabilities: Vec<Vec<f32>>,
}

#[derive(serde::Deserialize)]
pub struct FamilyCase {
    pub text: String,
    pub ids: Vec<u32>,
    pub probabilities: Vec<f32>,
    pub mean_pooled: Vec<f32>,
}

impl FamilyParity {
    pub fn parse(json: &str) -> Self {
        serde_json::from_str(json).expect("families.parity.json")
    }
}

/// Softmax of each logits row, in f64 then back to f32.
pub fn softmax_rows(logits: Vec<f32>, labels: usize) -> Vec<Vec<f32>> {
    logits
        .chunks(labels)
        .map(|row| {
            let max = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let exp: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
            let sum: f64 = exp.iter().sum();
            exp.iter().map(|e| (e / sum) as f32).collect()
        })
        .collect()
}

pub fn assert_probabilities(label: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len(), "{label}: rows");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let diff = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{label}: text {i}: probabilities {g:?}, transformers {w:?} (max diff {diff})");
    }
}


/// Row-major values of a rank-1 or rank-2 tensor in PyTorch's layout (burn keeps Linear
/// weights transposed: `transpose` turns them back).
pub fn torch_layout<const D: usize>(t: burn::tensor::Tensor<D>, transpose: bool) -> Vec<f32> {
    let dims = t.dims();
    let v: Vec<f32> = t.into_data().try_into_vec().unwrap();
    if !transpose {
        return v;
    }
    let (rows, cols) = (dims[0], dims[1]);
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// ‖got − want‖ / ‖want‖.
pub fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let diff: f64 = got.iter().zip(want).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
    let norm: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
    diff / norm.max(1e-12)
}

/// Where AdamW is ill-conditioned: Adam's first update of an element is lr·g/(|g|+ε) with
/// ε = 1e-8, so for a (clipped) gradient within ~100 ε of zero a difference in g far below
/// what the gradient checks can see (f32 summation order: threads, SIMD) moves the update
/// by a visible fraction of lr, and the weights after the step by up to lr. `ill` marks
/// those elements from PyTorch's gradient of each step so far (scaled by that step's clip
/// factor, as PyTorch clips before the step).
pub fn mark_ill_conditioned(ill: &mut Vec<bool>, grad: &[f32], clip: f64) {
    if ill.is_empty() {
        ill.resize(grad.len(), false);
    }
    for (m, g) in ill.iter_mut().zip(grad) {
        *m |= ((*g as f64) * clip).abs() < 1e-6;
    }
}

/// PyTorch's clip factor for a global gradient norm (torch.nn.utils.clip_grad_norm_).
pub fn torch_clip(max_norm: f64, norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// Weights after AdamW steps against PyTorch's: `relative_error` over the well-conditioned
/// elements must stay under `tol`; each ill-conditioned one (see `mark_ill_conditioned`) must
/// be within `steps · lr` of PyTorch's (how far Adam can move it), which a wrong update of
/// any sign or size still fails. Returns the error, for the messages.
pub fn assert_after_adamw(label: &str, got: &[f32], want: &[f32], ill: &[bool], lr: f64, steps: usize, tol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{label}: size");
    let ill = if ill.is_empty() { vec![false; got.len()] } else { ill.to_vec() };
    let (mut g_well, mut w_well) = (Vec::new(), Vec::new());
    let mut worst_ill = 0.0f64;
    for ((a, b), m) in got.iter().zip(want).zip(&ill) {
        if *m {
            worst_ill = worst_ill.max((a - b).abs() as f64);
        } else {
            g_well.push(*a);
            w_well.push(*b);
        }
    }
    let err = relative_error(&g_well, &w_well);
    let count = ill.iter().filter(|m| **m).count();
    assert!(err < tol, "{label}: relative error {err} over the {} elements whose gradient is not near zero", g_well.len());
    assert!(worst_ill <= lr * steps as f64 * 1.001, "{label}: an element with a near-zero gradient ({count} of them) moved {worst_ill} away from PyTorch's, more than Adam's {steps} step(s) of lr {lr} can");
    err
}
