//! Chart arithmetic: linear scales, "nice" ticks and their labels, SVG polylines. The
//! studio's `LineChart` only lays out what this computes.

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
pub const LEFT: f64 = 56.0;
pub const RIGHT: f64 = 12.0;
pub const TOP: f64 = 12.0;
pub const BOTTOM: f64 = 32.0;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_flat_series_still_get_an_axis() {
        assert_eq!(nice_step(0.73, 4), 0.2);
        assert_eq!(nice_step(1000.0, 6), 200.0);
        assert_eq!(nice_step(f64::NAN, 4), 1.0);
        let (values, domain) = ticks(0.31, 0.72, 4);
        assert_eq!(domain, (0.2, 0.8));
        assert_eq!(values.iter().map(|v| tick_label(*v, 0.2)).collect::<Vec<_>>(), vec!["0.2", "0.4", "0.6", "0.8"]);
        assert_eq!(tick_label(0.15, 0.05), "0.15");
        assert_eq!(tick_label(2e-5, 1e-5), "2.0e-5");
        assert_eq!(tick_label(20000.0, 5000.0), "2.0e4");
        let (values, domain) = ticks(0.5, 0.5, 4);
        assert!(domain.0 < 0.5 && domain.1 > 0.5 && values.len() >= 2, "{domain:?}");
        let (_, domain) = ticks(f64::INFINITY, f64::NEG_INFINITY, 4);
        assert_eq!(domain, (0.0, 1.0), "no data: a unit axis");
    }

    #[test]
    fn points_land_inside_the_plot_area_with_lower_loss_drawn_lower() {
        let series = vec![Series { name: "loss".into(), class: "s1", points: vec![(1.0, 0.7), (2.0, 0.5), (3.0, 0.31), (4.0, f64::NAN)] }];
        let (x, y, _, _) = scales(&series);
        let drawn = polyline(&series[0].points, x, y);
        let coords: Vec<(f64, f64)> =
            drawn.split(' ').map(|p| p.split_once(',').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())).unwrap()).collect();
        assert_eq!(coords.len(), 3, "the NaN point is left out");
        assert!(coords.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "{coords:?}");
        assert!(coords.iter().all(|&(a, b)| (56.0..=628.0).contains(&a) && (12.0..=188.0).contains(&b)), "{coords:?}");
        assert_eq!(Scale { domain: (1.0, 1.0), range: (0.0, 10.0) }.map(3.0), 5.0);
    }
}
