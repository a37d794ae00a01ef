//! Seeded stratified split of a training file into training and validation examples.

use super::Example;
use crate::rng::SeededRng;

/// Splits `examples` so that each label keeps about `ratio` of its examples for
/// validation (rounded; a label with a single example stays in training). The same seed
/// gives the same split on every platform. Input order is kept within each part.
pub fn stratified_split(examples: Vec<Example>, ratio: f64, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let mut by_label: std::collections::BTreeMap<Option<String>, Vec<usize>> = Default::default();
    for (i, e) in examples.iter().enumerate() {
        by_label.entry(e.label.clone()).or_default().push(i);
    }
    let mut rng = SeededRng::new(seed);
    let mut to_valid = vec![false; examples.len()];
    for indices in by_label.values_mut() {
        rng.shuffle(indices);
        let take = if indices.len() < 2 { 0 } else { ((indices.len() as f64 * ratio).round() as usize).min(indices.len() - 1) };
        for &i in &indices[..take] {
            to_valid[i] = true;
        }
    }
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (e, v) in examples.into_iter().zip(to_valid) {
        if v { valid.push(e) } else { train.push(e) }
    }
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_label_shares_and_is_seeded() {
        let examples: Vec<Example> = (0..100)
            .map(|i| Example { text: format!("t{i}"), pair: None, label: Some(if i % 4 == 0 { "a".into() } else { "b".into() }), line: i + 2 })
            .collect();
        let (train, valid) = stratified_split(examples.clone(), 0.2, 9);
        assert_eq!(valid.len(), 20);
        assert_eq!(valid.iter().filter(|e| e.label.as_deref() == Some("a")).count(), 5);
        assert_eq!(train.len(), 80);
        assert_eq!(valid, stratified_split(examples, 0.2, 9).1);
    }
}
