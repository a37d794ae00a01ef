//! Line charts drawn as SVG: the scaling is plain arithmetic in [`crate::studio::chart`]
//! (tested natively); the component only lays out what it computes.

use leptos::prelude::*;

pub use crate::studio::chart::{BOTTOM, HEIGHT, LEFT, RIGHT, Scale, Series, WIDTH, nice_step, polyline, scales, tick_label, ticks};

/// A line chart of `series` (re-drawn whenever it changes), with a title and axis names.
#[component]
pub fn LineChart(
    /// Chart title, also its accessible name.
    title: &'static str,
    /// What x is.
    x_label: &'static str,
    /// The lines.
    #[prop(into)]
    series: Signal<Vec<Series>>,
    /// `id` for tests and links.
    id: &'static str,
) -> impl IntoView {
    view! {
        <figure class="chart" id=id>
            <figcaption>
                <span class="chart-title">{title}</span>
                {move || series.get().into_iter().map(|s| view! {
                    <span class=format!("legend {}", s.class)>{s.name.clone()}</span>
                }).collect_view()}
            </figcaption>
            {move || {
                let series = series.get();
                let (x, y, x_ticks, y_ticks) = scales(&series);
                let x_step = x_ticks.get(1).zip(x_ticks.first()).map(|(b, a)| b - a).unwrap_or(1.0);
                let y_step = y_ticks.get(1).zip(y_ticks.first()).map(|(b, a)| b - a).unwrap_or(1.0);
                let points: usize = series.iter().map(|s| s.points.len()).sum();
                view! {
                    <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=format!("{title}: {points} points")
                         data-points=points.to_string() preserveAspectRatio="none">
                        {y_ticks.iter().map(|&t| view! {
                            <line class="grid" x1=LEFT x2=WIDTH - RIGHT y1=y.map(t) y2=y.map(t)/>
                            <text class="tick" x=LEFT - 6.0 y=y.map(t) + 4.0 text-anchor="end">{tick_label(t, y_step)}</text>
                        }).collect_view()}
                        {x_ticks.iter().map(|&t| view! {
                            <text class="tick" x=x.map(t) y=HEIGHT - BOTTOM + 16.0 text-anchor="middle">{tick_label(t, x_step)}</text>
                        }).collect_view()}
                        <text class="axis-name" x=WIDTH - RIGHT y=HEIGHT - 4.0 text-anchor="end">{x_label}</text>
                        {series.iter().map(|s| {
                            let line = polyline(&s.points, x, y);
                            let last = s.points.last().copied();
                            view! {
                                <polyline class=format!("series {}", s.class) points=line fill="none"/>
                                {last.map(|(a, b)| view! { <circle class=format!("series-end {}", s.class) cx=x.map(a) cy=y.map(b) r="3"/> })}
                            }
                        }).collect_view()}
                    </svg>
                }
            }}
        </figure>
    }
}
