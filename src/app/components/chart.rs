//! Line charts drawn as SVG: the scaling is plain arithmetic (tested), the component only
//! lays out what it computes.

use leptos::prelude::*;

/// A linear map from data values to drawing coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Data range shown (low, high), already widened to tick bounds.
    pub domain: (f64, f64),
    /// Drawing range (start, end); end may be smaller, as for y pointing down.
    pub range: (f64, f64),
}

impl Scale {
    /// Where `value` is drawn.
    pub fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 { (r0 + r1) / 2.0 } else { r0 + (value - d0) / (d1 - d0) * (r1 - r0) }
    }
}

/// A "nice" step (1, 2 or 5 × 10ⁿ) that cuts `span` into about `target` pieces.
pub fn nice_step(span: f64, target: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Tick values covering `[lo, hi]` and the widened domain they span. A flat or empty
/// range is widened so a single value still gets a readable axis.
pub fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, (f64, f64)) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 1.0 };
        lo -= pad;
        hi += pad;
    }
    let step = nice_step(hi - lo, target);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let count = ((end - start) / step).round() as usize;
    let values = (0..=count).map(|i| start + i as f64 * step).map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v }).collect();
    (values, (start, end))
}

/// A tick label without float noise: as many decimals as the step needs.
pub fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10() - 1e-9).ceil() as usize };
    if value.abs() >= 1e4 || (value != 0.0 && value.abs() < 1e-3) {
        return format!("{value:.1e}");
    }
    format!("{value:.decimals$}")
}

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// CSS class giving its colour.
    pub class: &'static str,
    /// Points (x, y), in x order.
    pub points: Vec<(f64, f64)>,
}

/// Width and height of the drawing in SVG units; the SVG scales to its container.
pub const WIDTH: f64 = 640.0;
/// Height, see [`WIDTH`].
pub const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 32.0;

/// The scales for `series` in the chart's plot area.
pub fn scales(series: &[Series]) -> (Scale, Scale, Vec<f64>, Vec<f64>) {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    let (x_ticks, x_domain) = ticks(x0, x1, 6);
    let (y_ticks, y_domain) = ticks(y0, y1, 4);
    let x = Scale { domain: x_domain, range: (LEFT, WIDTH - RIGHT) };
    let y = Scale { domain: y_domain, range: (HEIGHT - BOTTOM, TOP) };
    (x, y, x_ticks, y_ticks)
}

/// The `points` attribute of an SVG polyline.
pub fn polyline(points: &[(f64, f64)], x: Scale, y: Scale) -> String {
    points
        .iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|&(a, b)| format!("{:.1},{:.1}", x.map(a), y.map(b)))
        .collect::<Vec<_>>()
        .join(" ")
}

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
