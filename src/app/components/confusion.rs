//! The confusion matrix as an accessible table, cells shaded by their share of the row.

use leptos::prelude::*;

pub use crate::studio::confusion::{Cell, cells};

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
