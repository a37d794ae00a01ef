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
