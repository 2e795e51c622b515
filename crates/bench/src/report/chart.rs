//! Quality charts as inline SVG: nDCG@10 on a linear y axis against
//! dimensions, bytes per vector (both on a base-2 log scale) or corpus
//! dollars (a base-10 log scale, with free models in a band of their own at
//! the left, since $0 has no logarithm).
//!
//! Encoding: one colour per model, one marker shape per output type (circle
//! float, square int8, triangle binary, diamond anything else), and a dashed
//! line with hollow markers for configurations re-ranked by float cosine.
//! One line per model, output type and rescoring, through its points in
//! order of x. Every point is an element of class `point` with a `<title>`
//! tooltip; every line one of class `series-line`.

use std::fmt::Write as _;

use super::format::{self, esc};
use super::table::type_rank;

const WIDTH: f64 = 960.0;
const MIN_HEIGHT: f64 = 460.0;
const PLOT_LEFT: f64 = 76.0;
const PLOT_TOP: f64 = 24.0;
const PLOT_RIGHT: f64 = 676.0;
const PLOT_BOTTOM: f64 = 396.0;
const INSET: f64 = 18.0;
const ZERO_BAND: f64 = 84.0;
const LEGEND_X: f64 = 700.0;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_NAME_CHARS: usize = 32;
const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22",
];

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XKind {
    /// Dimensions of the stored vectors (log 2; ticks at the values present).
    Dimensions,
    /// Bytes per stored vector (log 2; ticks at powers of two).
    Bytes,
    /// Dollars to embed the corpus (log 10; $0 drawn in a band at the left).
    Dollars,
}

/// One line of a chart: a model, an output type, with or without rescoring.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Shown in the line's tooltip.
    pub name: String,
    /// Index into the chart's models (its colour).
    pub model: usize,
    /// `float`, `int8`, `binary`, ... (its marker shape).
    pub output_type: String,
    /// Re-ranked by float cosine (dashed, hollow markers).
    pub rescored: bool,
}

/// One point: finite x (> 0, or 0 on a dollar axis) and finite y.
#[derive(Debug, Clone)]
pub(crate) struct Datum {
    /// Index into the chart's series.
    pub series: usize,
    /// The x value.
    pub x: f64,
    /// nDCG@10.
    pub y: f64,
    /// The point's tooltip (unescaped).
    pub tip: String,
}

/// Everything one chart draws.
#[derive(Debug, Clone)]
pub(crate) struct Chart<'a> {
    /// The `data-chart` name, e.g. `quality-vs-dimensions`.
    pub name: &'a str,
    /// The chart's title (its SVG `<title>`).
    pub title: &'a str,
    /// The x axis's label.
    pub x_label: &'a str,
    /// The x axis.
    pub kind: XKind,
    /// Model names, in colour order.
    pub models: &'a [String],
    /// The lines.
    pub series: &'a [Series],
    /// The points; invalid ones must already be left out.
    pub data: &'a [Datum],
}

/// Maps x values to pixels.
struct XMap {
    zero_px: Option<f64>,
    lo: f64,
    hi: f64,
    px0: f64,
    px1: f64,
}

impl XMap {
    fn new(kind: XKind, data: &[Datum]) -> XMap {
        let has_zero = kind == XKind::Dollars && data.iter().any(|d| d.x == 0.0);
        let positive = data.iter().map(|d| d.x).filter(|x| *x > 0.0);
        let (min, max) = positive.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
        let (lo, hi) = if min > max {
            (0.0, 1.0)
        } else if min == max {
            (
                min.ln() - std::f64::consts::LN_2,
                max.ln() + std::f64::consts::LN_2,
            )
        } else {
            (min.ln(), max.ln())
        };
        let band = if has_zero { ZERO_BAND } else { 0.0 };
        XMap {
            zero_px: has_zero.then_some(PLOT_LEFT + band / 2.0),
            lo,
            hi,
            px0: PLOT_LEFT + band + INSET,
            px1: PLOT_RIGHT - INSET,
        }
    }

    fn px(&self, x: f64) -> f64 {
        match self.zero_px {
            Some(z) if x == 0.0 => z,
            _ => self.px0 + (x.ln() - self.lo) / (self.hi - self.lo) * (self.px1 - self.px0),
        }
    }

    fn contains(&self, x: f64) -> bool {
        let l = x.ln();
        l >= self.lo - 1e-9 && l <= self.hi + 1e-9
    }
}

/// Maps nDCG@10 to pixels.
struct YMap {
    lo: f64,
    hi: f64,
}

impl YMap {
    fn new(data: &[Datum]) -> YMap {
        let (min, max) = data
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), d| {
                (a.min(d.y), b.max(d.y))
            });
        if min > max {
            return YMap { lo: 0.0, hi: 1.0 };
        }
        let (mut lo, hi) = if max - min < 1e-9 {
            (min - 0.05, max + 0.05)
        } else {
            let pad = (max - min) * 0.08;
            (min - pad, max + pad)
        };
        if min >= 0.0 && lo < 0.0 {
            lo = 0.0;
        }
        YMap { lo, hi }
    }

    fn px(&self, y: f64) -> f64 {
        PLOT_BOTTOM - (y - self.lo) / (self.hi - self.lo) * (PLOT_BOTTOM - PLOT_TOP)
    }

    /// Tick values at a 1-2-5 step, about five of them, with their decimals.
    fn ticks(&self) -> (Vec<f64>, usize) {
        let raw = (self.hi - self.lo) / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
        let mut ticks = Vec::new();
        let mut t = (self.lo / step).ceil() * step;
        while t <= self.hi + step * 1e-6 && ticks.len() < 20 {
            ticks.push(t);
            t += step;
        }
        (ticks, decimals)
    }
}

/// The chart as one `<svg class="chart" data-chart="NAME">` element.
pub(crate) fn svg(chart: &Chart) -> String {
    let xmap = XMap::new(chart.kind, chart.data);
    let ymap = YMap::new(chart.data);
    let types = {
        let mut t: Vec<&str> = chart
            .series
            .iter()
            .map(|s| s.output_type.as_str())
            .collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    };
    let legend_rows = chart.models.len() + types + 5;
    let height = MIN_HEIGHT.max(PLOT_TOP + 16.0 + legend_rows as f64 * LEGEND_ROW);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" data-chart=\"{name}\" id=\"chart-{name}\" width=\"{WIDTH}\" \
         height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"{title}\"><title>{title}</title>",
        name = esc(chart.name),
        title = esc(chart.title),
    );
    let _ = write!(
        s,
        "<rect class=\"plot-area\" x=\"{PLOT_LEFT}\" y=\"{PLOT_TOP}\" width=\"{}\" height=\"{}\"/>",
        PLOT_RIGHT - PLOT_LEFT,
        PLOT_BOTTOM - PLOT_TOP
    );
    y_axis(&mut s, &ymap);
    x_axis(&mut s, chart, &xmap);
    if chart.data.is_empty() {
        let _ = write!(
            s,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
             No configuration has a value for this chart</text>",
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            (PLOT_TOP + PLOT_BOTTOM) / 2.0
        );
    }
    let dodge = dodges(chart);
    lines(&mut s, chart, &xmap, &ymap, &dodge);
    for d in chart.data {
        let Some(series) = chart.series.get(d.series) else {
            continue;
        };
        let (x, y) = (xmap.px(d.x) + dodge[d.series], ymap.px(d.y));
        let colour = colour(series.model);
        s.push_str(&marker(
            &series.output_type,
            x,
            y,
            colour,
            series.rescored,
            "point",
            &d.tip,
        ));
    }
    legend(&mut s, chart);
    s.push_str("</svg>");
    s
}

fn colour(model: usize) -> &'static str {
    PALETTE[model % PALETTE.len()]
}

fn y_axis(s: &mut String, ymap: &YMap) {
    let (ticks, decimals) = ymap.ticks();
    for t in ticks {
        let y = ymap.px(t);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t:.decimals$}</text>",
            PLOT_LEFT - 6.0,
            y + 4.0
        );
    }
    let mid = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
    let _ = write!(
        s,
        "<text class=\"axis-label\" x=\"18\" y=\"{mid:.1}\" text-anchor=\"middle\" \
         transform=\"rotate(-90 18 {mid:.1})\">nDCG@10</text>"
    );
}

fn x_axis(s: &mut String, chart: &Chart, xmap: &XMap) {
    for (value, label) in x_ticks(chart.kind, chart.data, xmap) {
        let x = xmap.px(value);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{PLOT_TOP}\" y2=\"{PLOT_BOTTOM}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            PLOT_BOTTOM + 18.0,
            esc(&label)
        );
    }
    if let Some(z) = xmap.zero_px {
        let edge = PLOT_LEFT + ZERO_BAND;
        let _ = write!(
            s,
            "<rect class=\"zero-band\" x=\"{PLOT_LEFT}\" y=\"{PLOT_TOP}\" width=\"{ZERO_BAND}\" \
             height=\"{}\"/><line class=\"band-edge\" x1=\"{edge}\" x2=\"{edge}\" y1=\"{PLOT_TOP}\" \
             y2=\"{PLOT_BOTTOM}\"/><text class=\"tick\" x=\"{z:.1}\" y=\"{:.1}\" \
             text-anchor=\"middle\">$0 (free)</text>",
            PLOT_BOTTOM - PLOT_TOP,
            PLOT_BOTTOM + 18.0
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 44.0,
        esc(chart.x_label)
    );
}

/// Tick values and labels for the x axis.
fn x_ticks(kind: XKind, data: &[Datum], xmap: &XMap) -> Vec<(f64, String)> {
    let mut present: Vec<f64> = data.iter().map(|d| d.x).filter(|x| *x > 0.0).collect();
    present.sort_by(f64::total_cmp);
    present.dedup();
    if present.is_empty() {
        return Vec::new();
    }
    let candidates: Vec<f64> = match kind {
        XKind::Dimensions if present.len() <= 12 => present.clone(),
        XKind::Dimensions | XKind::Bytes => powers(2.0, xmap, &[1.0]),
        XKind::Dollars => {
            let decades = (xmap.hi - xmap.lo) / std::f64::consts::LN_10;
            let steps: &[f64] = if decades >= 3.0 {
                &[1.0]
            } else {
                &[1.0, 2.0, 5.0]
            };
            powers(10.0, xmap, steps)
        }
    };
    let mut ticks: Vec<f64> = candidates
        .into_iter()
        .filter(|t| xmap.contains(*t))
        .collect();
    // Too few round values in range to read the points by: label the
    // values present instead (or their extremes when there are many).
    if ticks.len() < 3 {
        ticks = if present.len() <= 12 {
            present.clone()
        } else {
            vec![present[0], present[present.len() - 1]]
        };
    }
    let stride = ticks.len().div_ceil(9).max(1);
    ticks
        .into_iter()
        .step_by(stride)
        .map(|t| {
            let label = match kind {
                XKind::Dimensions => format::int(t.round() as u64),
                XKind::Bytes => format::bytes(t.round() as u64),
                XKind::Dollars => trim_zeros(format::usd(Some(t))),
            };
            (t, label)
        })
        .collect()
}

/// `$0.00200` -> `$0.002`, `$1.00` -> `$1`: tick labels need no padding.
fn trim_zeros(label: String) -> String {
    if !label.contains('.') {
        return label;
    }
    label
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

/// Horizontal pixel offsets per series. On the dollar axis every series of
/// a model shares one x, so its series are set side by side around it;
/// elsewhere none.
fn dodges(chart: &Chart) -> Vec<f64> {
    const STEP: f64 = 8.0;
    let mut out = vec![0.0; chart.series.len()];
    if chart.kind != XKind::Dollars {
        return out;
    }
    let mut drawn = vec![false; chart.series.len()];
    for d in chart.data {
        if let Some(flag) = drawn.get_mut(d.series) {
            *flag = true;
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); chart.models.len()];
    for (i, series) in chart.series.iter().enumerate() {
        if let (true, Some(list)) = (drawn[i], members.get_mut(series.model)) {
            list.push(i);
        }
    }
    for list in members {
        let centre = (list.len() as f64 - 1.0) / 2.0;
        for (rank, i) in list.into_iter().enumerate() {
            out[i] = (rank as f64 - centre) * STEP;
        }
    }
    out
}

/// `m * base^e` for every multiplier and every power spanning the axis.
fn powers(base: f64, xmap: &XMap, multipliers: &[f64]) -> Vec<f64> {
    let lo = (xmap.lo / base.ln()).floor() as i32;
    let hi = (xmap.hi / base.ln()).ceil() as i32;
    let mut out = Vec::new();
    for e in lo.max(-40)..=hi.min(60) {
        for m in multipliers {
            out.push(m * base.powi(e));
        }
    }
    out
}

fn lines(s: &mut String, chart: &Chart, xmap: &XMap, ymap: &YMap, dodge: &[f64]) {
    let mut by_series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); chart.series.len()];
    for d in chart.data {
        if let Some(list) = by_series.get_mut(d.series) {
            list.push((d.x, d.y));
        }
    }
    for ((i, series), mut points) in chart.series.iter().enumerate().zip(by_series) {
        if points.len() < 2 {
            continue;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let coords: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", xmap.px(*x) + dodge[i], ymap.px(*y)))
            .collect();
        let dash = if series.rescored {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = write!(
            s,
            "<polyline class=\"series-line\" data-series=\"{i}\" points=\"{}\" stroke=\"{}\"{dash}>\
             <title>{}</title></polyline>",
            coords.join(" "),
            colour(series.model),
            esc(&series.name)
        );
    }
}

/// A marker of the output type's shape, centred on (x, y).
fn marker(
    output_type: &str,
    x: f64,
    y: f64,
    colour: &str,
    hollow: bool,
    class: &str,
    tip: &str,
) -> String {
    let fill = if hollow { "#ffffff" } else { colour };
    let style =
        format!("class=\"{class}\" fill=\"{fill}\" stroke=\"{colour}\" stroke-width=\"1.8\"");
    let title = if tip.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", esc(tip))
    };
    match type_rank(output_type) {
        0 => format!("<circle {style} cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\">{title}</circle>"),
        1 | 2 => format!(
            "<rect {style} x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\">{title}</rect>",
            x - 4.0,
            y - 4.0
        ),
        3 | 4 => format!(
            "<polygon {style} points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\">{title}</polygon>",
            x,
            y - 5.5,
            x + 5.0,
            y + 4.0,
            x - 5.0,
            y + 4.0
        ),
        _ => format!(
            "<polygon {style} points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\">{title}</polygon>",
            x,
            y - 5.5,
            x + 5.5,
            y,
            x,
            y + 5.5,
            x - 5.5,
            y
        ),
    }
}

fn legend(s: &mut String, chart: &Chart) {
    let mut y = PLOT_TOP + 8.0;
    let _ = write!(
        s,
        "<text class=\"legend-head\" x=\"{LEGEND_X}\" y=\"{y:.1}\">Model</text>"
    );
    for (i, model) in chart.models.iter().enumerate() {
        y += LEGEND_ROW;
        let shown = shorten(model, LEGEND_NAME_CHARS);
        let _ = write!(
            s,
            "<g class=\"legend-model\"><title>{full}</title><line x1=\"{LEGEND_X}\" x2=\"{:.1}\" \
             y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{c}\" stroke-width=\"3\"/><text class=\"legend\" \
             x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            LEGEND_X + 22.0,
            y - 4.0,
            y - 4.0,
            LEGEND_X + 28.0,
            y,
            esc(&shown),
            full = esc(model),
            c = colour(i),
        );
    }
    let mut types: Vec<&str> = chart
        .series
        .iter()
        .map(|s| s.output_type.as_str())
        .collect();
    types.sort_by_key(|t| (type_rank(t), *t));
    types.dedup();
    y += LEGEND_ROW * 1.5;
    let _ = write!(
        s,
        "<text class=\"legend-head\" x=\"{LEGEND_X}\" y=\"{y:.1}\">Vector type</text>"
    );
    for t in &types {
        y += LEGEND_ROW;
        s.push_str(&marker(
            t,
            LEGEND_X + 11.0,
            y - 4.0,
            "#444444",
            false,
            "legend-marker",
            "",
        ));
        let _ = write!(
            s,
            "<text class=\"legend\" x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            LEGEND_X + 28.0,
            esc(&shorten(t, LEGEND_NAME_CHARS))
        );
    }
    if chart.series.iter().any(|s| s.rescored) {
        y += LEGEND_ROW;
        let _ = write!(
            s,
            "<line x1=\"{LEGEND_X}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#444444\" \
             stroke-width=\"1.8\" stroke-dasharray=\"6 4\"/><text class=\"legend\" x=\"{:.1}\" \
             y=\"{y:.1}\">dashed, hollow: float rescoring</text>",
            LEGEND_X + 22.0,
            y - 4.0,
            y - 4.0,
            LEGEND_X + 28.0
        );
    }
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(series: usize, x: f64, y: f64) -> Datum {
        Datum {
            series,
            x,
            y,
            tip: format!("{x} {y}"),
        }
    }

    fn chart<'a>(
        kind: XKind,
        models: &'a [String],
        series: &'a [Series],
        data: &'a [Datum],
    ) -> String {
        svg(&Chart {
            name: "test",
            title: "t",
            x_label: "x",
            kind,
            models,
            series,
            data,
        })
    }

    fn one_series() -> (Vec<String>, Vec<Series>) {
        let models = vec!["m".to_string()];
        let series = vec![Series {
            name: "m float".into(),
            model: 0,
            output_type: "float".into(),
            rescored: false,
        }];
        (models, series)
    }

    fn numbers_in(svg: &str) -> Vec<f64> {
        svg.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .filter_map(|t| t.parse::<f64>().ok())
            .collect()
    }

    #[test]
    fn one_point_is_drawn_inside_the_plot_without_a_line() {
        let (models, series) = one_series();
        let data = [datum(0, 384.0, 0.5)];
        let s = chart(XKind::Dimensions, &models, &series, &data);
        assert_eq!(s.matches("class=\"point\"").count(), 1);
        assert_eq!(s.matches("class=\"series-line\"").count(), 0);
        assert!(s.contains(">384</text>"));
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }

    #[test]
    fn equal_values_still_give_a_finite_layout() {
        let (models, series) = one_series();
        let data = [datum(0, 64.0, 0.4), datum(0, 64.0, 0.4)];
        let s = chart(XKind::Bytes, &models, &series, &data);
        assert!(
            s.contains(">64 B</text>"),
            "the one value present is labelled"
        );
        assert_eq!(s.matches("class=\"point\"").count(), 2);
        assert!(!s.contains("NaN") && !s.contains("inf"));
        assert!(numbers_in(&s).iter().all(|n| n.is_finite()));
    }

    #[test]
    fn free_models_sit_in_their_own_band() {
        let (models, series) = one_series();
        let data = [datum(0, 0.0, 0.4), datum(0, 0.0, 0.5)];
        let s = chart(XKind::Dollars, &models, &series, &data);
        assert!(s.contains("class=\"zero-band\""));
        assert!(s.contains("$0 (free)"));
        let zero_x = PLOT_LEFT + ZERO_BAND / 2.0;
        assert!(s.contains(&format!("cx=\"{zero_x:.1}\"")));
        assert_eq!(trim_zeros("$0.00200".into()), "$0.002");
        assert_eq!(trim_zeros("$1.00".into()), "$1");
        assert_eq!(trim_zeros("$0".into()), "$0");
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }

    #[test]
    fn no_data_says_so() {
        let (models, series) = one_series();
        let s = chart(XKind::Dollars, &models, &series, &[]);
        assert!(s.contains("No configuration has a value"));
        assert_eq!(s.matches("class=\"point\"").count(), 0);
        assert!(!s.contains("zero-band"));
    }

    #[test]
    fn points_are_ordered_by_x_along_the_line() {
        let (models, series) = one_series();
        let data = [
            datum(0, 1024.0, 0.6),
            datum(0, 256.0, 0.5),
            datum(0, 512.0, 0.55),
        ];
        let s = chart(XKind::Dimensions, &models, &series, &data);
        let start = s.find("points=\"").unwrap() + 8;
        let end = start + s[start..].find('"').unwrap();
        let xs: Vec<f64> = s[start..end]
            .split(' ')
            .map(|p| p.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(xs.len(), 3);
        assert!(xs.windows(2).all(|w| w[0] < w[1]));
        assert!(xs[0] >= PLOT_LEFT && xs[2] <= PLOT_RIGHT);
    }

    #[test]
    fn y_ticks_cover_the_data() {
        let ymap = YMap::new(&[datum(0, 1.0, 0.31), datum(0, 2.0, 0.58)]);
        let (ticks, decimals) = ymap.ticks();
        assert!(ticks.len() >= 3 && ticks.len() <= 12);
        assert!(ticks
            .iter()
            .all(|t| *t >= ymap.lo - 1e-9 && *t <= ymap.hi + 1e-9));
        assert_eq!(decimals, 1);
        let narrow = YMap::new(&[datum(0, 1.0, 0.51), datum(0, 2.0, 0.56)]);
        let (ticks, decimals) = narrow.ticks();
        assert!(ticks.len() >= 3);
        assert_eq!(decimals, 2);
    }

    #[test]
    fn long_names_are_shortened_in_the_legend() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdefgh", 5), "abcd…");
    }
}
