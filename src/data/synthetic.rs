//! A reproducible review-like CSV for benchmarks: the same bytes for the same row count
//! and seed on every platform, with the quoting real exports have.

use crate::rng::SeededRng;

const WORDS: [&str; 24] = [
    "the", "film", "was", "really", "not", "great", "and", "I", "loved", "it", "plot", "acting", "boring", "a", "bit", "long",
    "music", "\"wow\"", "but", "café", "😀", "ending", "would", "recommend",
];

/// `rows` data rows under a `text,label` header: 5–60 words each, some with commas and
/// quotes (so quoted), one word gap in fifty a line break, labels `negative`/`positive`.
pub fn synthetic_reviews_csv(rows: usize, seed: u64) -> String {
    let mut rng = SeededRng::new(seed);
    let mut out = String::with_capacity(rows * 200);
    out.push_str("text,label\n");
    for _ in 0..rows {
        let n = 5 + rng.below(56);
        let mut text = String::new();
        for i in 0..n {
            if i > 0 {
                text.push(if rng.below(50) == 0 { '\n' } else { ' ' });
            }
            text.push_str(WORDS[rng.below(WORDS.len())]);
            if rng.below(40) == 0 {
                text.push(',');
            }
        }
        if text.contains([',', '"', '\n']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
        out.push_str(if rng.below(2) == 0 { ",negative\n" } else { ",positive\n" });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_csv_reads_back_with_every_row() {
        let csv = super::synthetic_reviews_csv(500, 3);
        let dataset = crate::data::read_dataset("s.csv", csv.as_bytes(), &Default::default()).unwrap();
        assert_eq!((dataset.report.rows, dataset.report.usable), (500, 500));
        assert!(dataset.examples.iter().any(|e| e.text.contains('\n')) && dataset.examples.iter().any(|e| e.text.contains("\"wow\"")));
    }
}
