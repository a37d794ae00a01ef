//! Tokenised examples (tokenised once, cached) and the order they are batched in.

use crate::checkpoint::{Encoded, EncodedBatch, Padding, TextInput, TextTokenizer, TokenizerError};
use crate::rng::SeededRng;

use super::{Dataset, Example, LabelSet};

impl Dataset {
    /// Measures every usable row's token length with `tokenizer` and records the length
    /// statistics and the truncation finding in the report.
    pub fn measure_lengths(&mut self, tokenizer: &TextTokenizer) -> Result<(), TokenizerError> {
        let labels = self.report.labels.clone().unwrap_or(LabelSet { names: Vec::new(), counts: Vec::new() });
        let set = TokenizedSet::new(&self.examples, &labels, tokenizer)?;
        self.report.add_lengths(&set.full_lengths, &set.lines, tokenizer.max_length());
        Ok(())
    }
}

/// A dataset tokenised once: ids per example, its class id and its length before
/// truncation.
#[derive(Clone, Debug)]
pub struct TokenizedSet {
    /// Token and segment ids per example, truncated, unpadded.
    pub encoded: Vec<Encoded>,
    /// Class id per example (`None` for a label the label set does not have).
    pub labels: Vec<Option<usize>>,
    /// 1-based source line per example.
    pub lines: Vec<usize>,
    /// Token count per example before truncation (for the length report).
    pub full_lengths: Vec<usize>,
    pad_id: u32,
    padding: Padding,
}

impl TokenizedSet {
    /// Tokenises `examples` with `tokenizer`, mapping labels through `labels`.
    pub fn new(examples: &[Example], labels: &LabelSet, tokenizer: &TextTokenizer) -> Result<Self, TokenizerError> {
        let mut encoded = Vec::with_capacity(examples.len());
        let mut full_lengths = Vec::with_capacity(examples.len());
        for (i, e) in examples.iter().enumerate() {
            let input = TextInput {
                text: e.text.clone(),
                pair: e.pair.clone(),
            };
            let (tokens, full) = tokenizer.encode_measured(i, &input)?;
            encoded.push(tokens);
            full_lengths.push(full);
        }
        Ok(Self {
            encoded,
            full_lengths,
            labels: examples.iter().map(|e| e.label.as_deref().and_then(|l| labels.index(l))).collect(),
            lines: examples.iter().map(|e| e.line).collect(),
            pad_id: tokenizer.pad_id(),
            padding: Padding::LONGEST,
        })
    }

    /// A set from already-encoded inputs (benchmarks, tests).
    pub fn from_encoded(encoded: Vec<Encoded>, labels: Vec<Option<usize>>, pad_id: u32) -> Self {
        Self {
            lines: (1..=encoded.len()).collect(),
            full_lengths: encoded.iter().map(|e| e.ids.len()).collect(),
            encoded,
            labels,
            pad_id,
            padding: Padding::LONGEST,
        }
    }

    /// How batches are padded from now on (to the longest example by default).
    pub fn set_padding(&mut self, padding: Padding) {
        self.padding = padding;
    }

    /// Appends `other` (tokenised with the same tokenizer and labels), so a large set can
    /// be built a slice at a time.
    pub fn extend(&mut self, other: TokenizedSet) {
        self.encoded.extend(other.encoded);
        self.labels.extend(other.labels);
        self.lines.extend(other.lines);
        self.full_lengths.extend(other.full_lengths);
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.encoded.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }

    /// Token count per example.
    pub fn lengths(&self) -> Vec<usize> {
        self.encoded.iter().map(|e| e.ids.len()).collect()
    }

    /// The examples at `indices`, padded to the longest of them (rounded as the set's
    /// padding says).
    pub fn batch(&self, indices: &[usize]) -> EncodedBatch {
        EncodedBatch::pad_as(indices.iter().map(|&i| &self.encoded[i]), self.pad_id, self.padding)
    }
}

/// The batches of one epoch, as example indices: shuffled with `seed` and `epoch` (the
/// same on every platform), or, with `group_by_length`, shuffled then sorted by length
/// inside mega-batches of 50 batches (transformers' `LengthGroupedSampler`) so each batch
/// holds similar lengths and little padding. The last batch may be smaller.
pub fn batch_order(lengths: &[usize], batch_size: usize, seed: u64, epoch: usize, group_by_length: bool) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    let mut rng = SeededRng::new(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.shuffle(&mut order);
    if group_by_length {
        for mega in order.chunks_mut(batch_size * 50) {
            mega.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        }
    }
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extending_by_slices_equals_one_pass() {
        let tokenizer = TextTokenizer::from_bytes(include_bytes!("../../tests/fixtures/tiny-bert/tokenizer.json"), 8, 0).unwrap();
        let examples: Vec<Example> =
            (0..5).map(|i| Example { text: format!("the cat {i} is here and there"), pair: None, label: Some("a".into()), line: i + 2 }).collect();
        let labels = LabelSet::from_examples(&examples);
        let whole = TokenizedSet::new(&examples, &labels, &tokenizer).unwrap();
        let mut sliced = TokenizedSet::new(&examples[..2], &labels, &tokenizer).unwrap();
        sliced.extend(TokenizedSet::new(&examples[2..], &labels, &tokenizer).unwrap());
        assert_eq!((sliced.encoded, sliced.labels, sliced.lines, sliced.full_lengths), (whole.encoded, whole.labels, whole.lines, whole.full_lengths));
    }

    #[test]
    fn padding_rounds_up_to_the_multiple_but_not_past_the_cap() {
        let p = Padding { multiple: 32, cap: 128 };
        assert_eq!([1, 31, 32, 33, 100, 128].map(|l| p.length(l)), [32, 32, 32, 64, 128, 128]);
        // A cap that is not a multiple stops the rounding; a row longer than the cap keeps its length.
        let p = Padding { multiple: 32, cap: 50 };
        assert_eq!([40, 50, 60].map(|l| p.length(l)), [50, 50, 60]);
        assert_eq!([0, 7].map(|l| Padding::LONGEST.length(l)), [0, 7]);
        assert_eq!(Padding { multiple: 0, cap: 64 }.length(7), 7);
    }

    #[test]
    fn each_epoch_is_a_seeded_permutation() {
        let lengths = vec![5; 10];
        let a = batch_order(&lengths, 4, 1, 0, false);
        assert_eq!(a, batch_order(&lengths, 4, 1, 0, false));
        assert_ne!(a, batch_order(&lengths, 4, 1, 1, false));
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn grouping_by_length_cuts_padding() {
        let lengths: Vec<usize> = (0..400).map(|i| 3 + (i * 37) % 120).collect();
        let padded = |batches: &[Vec<usize>]| -> usize {
            batches.iter().map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap()).sum()
        };
        let plain = padded(&batch_order(&lengths, 8, 5, 0, false));
        let grouped = padded(&batch_order(&lengths, 8, 5, 0, true));
        assert!(grouped * 10 < plain * 7, "grouped {grouped} vs plain {plain}");
    }
}
