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

/// Splits `items` at random (seeded): about `ratio` of them (rounded, at least one when
/// there are two or more and `ratio` > 0, never all) go to validation. Input order is kept
/// within each part; the same seed gives the same split on every platform.
pub fn seeded_split<T>(items: Vec<T>, ratio: f64, seed: u64) -> (Vec<T>, Vec<T>) {
    let n = items.len();
    let take = if n < 2 || ratio <= 0.0 { 0 } else { ((n as f64 * ratio).round() as usize).clamp(1, n - 1) };
    let mut indices: Vec<usize> = (0..n).collect();
    SeededRng::new(seed).shuffle(&mut indices);
    let mut to_valid = vec![false; n];
    for &i in &indices[..take] {
        to_valid[i] = true;
    }
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (item, v) in items.into_iter().zip(to_valid) {
        if v { valid.push(item) } else { train.push(item) }
    }
    (train, valid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_split_takes_the_share_keeps_order_and_repeats() {
        let (train, valid) = super::seeded_split((0..50).collect::<Vec<_>>(), 0.1, 3);
        assert_eq!((train.len(), valid.len()), (45, 5));
        assert!(valid.windows(2).all(|w| w[0] < w[1]) && train.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(valid, super::seeded_split((0..50).collect::<Vec<_>>(), 0.1, 3).1);
        assert_ne!(valid, super::seeded_split((0..50).collect::<Vec<_>>(), 0.1, 4).1, "another seed, another split");
        assert_eq!(super::seeded_split(vec![1, 2], 0.01, 0).1.len(), 1, "a non-zero share holds out at least one");
        assert_eq!(super::seeded_split(vec![1], 0.5, 0).1.len(), 0, "one example stays in training");
    }

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
