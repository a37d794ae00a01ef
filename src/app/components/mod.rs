//! Pieces the steps share: charts, the confusion matrix, bars.

pub mod chart;
pub mod confusion;

use leptos::prelude::*;

/// Horizontal bars: one per (name, value), scaled to the largest, with the value shown.
#[component]
pub fn Bars(
    /// (name, value) pairs in display order.
    items: Vec<(String, f64)>,
    /// How to print a value.
    format: fn(f64) -> String,
    /// `id` for tests.
    id: &'static str,
) -> impl IntoView {
    let most = items.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    view! {
        <ul class="bars" id=id>
            {items.into_iter().map(|(name, value)| view! {
                <li>
                    <span class="bar-name">{name}</span>
                    <span class="bar-track"><span class="bar-fill" style=format!("width: {:.1}%", 100.0 * value / most)></span></span>
                    <span class="bar-value">{format(value)}</span>
                </li>
            }).collect_view()}
        </ul>
    }
}
