//! The confusion matrix as an accessible table, cells shaded by their share of the row.

use leptos::prelude::*;

/// One cell: its count, its share of the true class's row, and whether it is correct.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// Examples of the row's true label predicted as the column's label.
    pub count: usize,
    /// `count` over the row's total (0 for an empty row).
    pub share: f64,
    /// On the diagonal.
    pub correct: bool,
}

/// Cells of `matrix` (`matrix[true][predicted]`) with row shares.
pub fn cells(matrix: &[Vec<usize>]) -> Vec<Vec<Cell>> {
    matrix
        .iter()
        .enumerate()
        .map(|(t, row)| {
            let total: usize = row.iter().sum();
            row.iter()
                .enumerate()
                .map(|(p, &count)| Cell { count, share: if total == 0 { 0.0 } else { count as f64 / total as f64 }, correct: t == p })
                .collect()
        })
        .collect()
}

/// The table: rows are true labels, columns predicted labels.
#[component]
pub fn ConfusionMatrix(labels: Vec<String>, matrix: Vec<Vec<usize>>) -> impl IntoView {
    let rows = cells(&matrix);
    view! {
        <table class="confusion" id="confusion">
            <caption>"Confusion matrix: rows are the true labels, columns the predicted ones."</caption>
            <thead>
                <tr>
                    <th scope="col">"true ↓ / predicted →"</th>
                    {labels.iter().map(|l| view! { <th scope="col">{l.clone()}</th> }).collect_view()}
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().zip(labels.clone()).map(|(row, label)| view! {
                    <tr>
                        <th scope="row">{label}</th>
                        {row.into_iter().map(|c| {
                            let class = if c.correct { "cell correct" } else { "cell wrong" };
                            let style = format!("--share: {:.3}", c.share);
                            view! { <td class=class style=style title=format!("{:.0}% of the row", c.share * 100.0)>{c.count}</td> }
                        }).collect_view()}
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
