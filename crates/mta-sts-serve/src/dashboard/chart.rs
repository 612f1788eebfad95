//! Charts drawn as SVG by hand, in maud. Drawn here rather than with a plotting crate because
//! the markup must say what it shows: each day is a `<g class="bar" data-day="2026-12-03">`
//! with a `<title>` (the browser's tooltip, read by screen readers), the legend is
//! `<g class="legend">` naming each series, and the axes carry ticks and labels; plotting crates
//! emit anonymous shapes that neither tests nor assistive technology can read. Everything
//! written into the SVG goes through maud, so names from reports are escaped like in HTML.

use maud::{Markup, html};
use mta_sts_core::Timestamp;
use mta_sts_core::time::UtcDate;

/// The drawing's size, in SVG units (the page scales it to its width).
const WIDTH: f64 = 760.0;
const PLOT_HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
/// Below the plot: the day labels.
const AXIS_SPACE: f64 = 34.0;
/// One legend row.
const LEGEND_ROW: f64 = 20.0;
const LEGEND_COLUMN: f64 = 230.0;

/// One stacked series: what a legend entry names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// A stable name for markup and tests (`successful`, or a result type).
    pub(crate) key: String,
    /// What the legend says.
    pub(crate) label: String,
    /// Its fill.
    pub(crate) colour: &'static str,
}

/// One day of a stacked bar chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DayStack {
    /// The day.
    pub(crate) day: UtcDate,
    /// One value per series, in the order of the series.
    pub(crate) values: Vec<u64>,
    /// Whether any report covered the day (a day without reports is drawn empty and says so).
    pub(crate) reported: bool,
}

/// One day of the failure-rate line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DayRate {
    /// The day.
    pub(crate) day: UtcDate,
    /// Failed sessions.
    pub(crate) failed: u64,
    /// All sessions (no point is drawn when 0).
    pub(crate) total: u64,
}

/// The colour of a series: successful sessions green, each failure result type its own
/// colour, the same on every page.
pub(crate) fn colour_of(key: &str) -> &'static str {
    match key {
        "successful" => "#3a9a5b",
        "starttls-not-supported" => "#c0392b",
        "certificate-host-mismatch" => "#e67e22",
        "certificate-expired" => "#8e44ad",
        "certificate-not-trusted" => "#d35400",
        "validation-failure" => "#7f8c8d",
        "sts-policy-fetch-error" => "#2c3e50",
        "sts-policy-invalid" => "#b03a2e",
        "sts-webpki-invalid" => "#6c3483",
        "tlsa-invalid" => "#a04000",
        "dnssec-invalid" => "#1f618d",
        "dane-required" => "#117864",
        "failed" => "#c0392b",
        _ => "#922b21",
    }
}

/// A round top for an axis reaching `max`, and the step between its ticks (1, 2 or 5 times a
/// power of ten, four or five steps).
pub(crate) fn axis_scale(max: u64) -> (u64, u64) {
    if max == 0 {
        return (4, 1);
    }
    let mut step = 1u64;
    loop {
        for factor in [1u64, 2, 5] {
            let candidate = step.saturating_mul(factor);
            if candidate.saturating_mul(5) >= max {
                let top = max.div_ceil(candidate).saturating_mul(candidate);
                return (top.max(candidate), candidate);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// How many days apart the day labels are, so that at most about twelve are written.
fn label_every(days: usize) -> usize {
    days.div_ceil(12).max(1)
}

/// A count as people read it: 1234567 → "1,234,567".
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn legend_height(entries: usize) -> f64 {
    let per_row = ((WIDTH - LEFT - RIGHT) / LEGEND_COLUMN).floor().max(1.0) as usize;
    entries.div_ceil(per_row) as f64 * LEGEND_ROW
}

fn legend(series: &[Series], top: f64) -> Markup {
    let per_row = ((WIDTH - LEFT - RIGHT) / LEGEND_COLUMN).floor().max(1.0) as usize;
    html! {
        g class="legend" {
            @for (i, entry) in series.iter().enumerate() {
                @let x = LEFT + (i % per_row) as f64 * LEGEND_COLUMN;
                @let y = top + (i / per_row) as f64 * LEGEND_ROW;
                g class="legend-item" data-series=(entry.key) {
                    rect x=(x) y=(y) width="12" height="12" fill=(entry.colour) {}
                    text x=(x + 18.0) y=(y + 10.5) font-size="12" { (entry.label) }
                }
            }
        }
    }
}

fn day_label(day: UtcDate) -> String {
    // "2026-12-03" → "12-03": the year is in the caption and the tooltips.
    let text = day.to_string();
    text.get(5..).map_or(text.clone(), str::to_string)
}

fn x_axis(days: &[UtcDate], band: f64, base: f64) -> Markup {
    let every = label_every(days.len());
    html! {
        g class="axis x-axis" {
            line x1=(LEFT) y1=(base) x2=(WIDTH - RIGHT) y2=(base) stroke="#333" {}
            @for (i, day) in days.iter().enumerate() {
                @if i.is_multiple_of(every) {
                    @let x = LEFT + band * (i as f64 + 0.5);
                    line x1=(x) y1=(base) x2=(x) y2=(base + 4.0) stroke="#333" {}
                    text class="tick-label" x=(x) y=(base + 17.0) font-size="11" text-anchor="middle" {
                        (day_label(*day))
                    }
                }
            }
            text x=((LEFT + WIDTH - RIGHT) / 2.0) y=(base + 31.0) font-size="11" text-anchor="middle" {
                "day (UTC)"
            }
        }
    }
}

fn y_axis(ticks: &[(f64, String)], label: &str) -> Markup {
    html! {
        g class="axis y-axis" {
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + PLOT_HEIGHT) stroke="#333" {}
            @for (y, text) in ticks {
                line x1=(LEFT - 4.0) y1=(y) x2=(WIDTH - RIGHT) y2=(y) stroke="#ddd" {}
                text class="tick-label" x=(LEFT - 7.0) y=(y + 4.0) font-size="11" text-anchor="end" { (text) }
            }
            text x="14" y=(TOP + PLOT_HEIGHT / 2.0) font-size="11" text-anchor="middle"
                transform=(format!("rotate(-90 14 {})", TOP + PLOT_HEIGHT / 2.0)) { (label) }
        }
    }
}

/// The segments of one bar, bottom up: each series with a value, its top and its height.
fn stack<'a>(
    series: &'a [Series],
    values: &[u64],
    base: f64,
    scale: f64,
) -> Vec<(&'a Series, u64, f64, f64)> {
    let mut y = base;
    series
        .iter()
        .zip(values)
        .filter(|(_, value)| **value > 0)
        .map(|(entry, value)| {
            // At least half a unit: a handful of failures among thousands stays visible.
            let h = (*value as f64 * scale).max(0.5);
            y -= h;
            (entry, *value, y, h)
        })
        .collect()
}

/// Sessions per day, stacked by series; one `<g class="bar">` per day of `days`.
pub(crate) fn stacked_bars(id: &str, title: &str, series: &[Series], days: &[DayStack]) -> Markup {
    let max = days
        .iter()
        .map(|day| day.values.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let (top, step) = axis_scale(max);
    let band = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar_width = (band * 0.72).max(1.0);
    let scale = PLOT_HEIGHT / top as f64;
    let base = TOP + PLOT_HEIGHT;
    let height = base + AXIS_SPACE + 8.0 + legend_height(series.len());
    let ticks: Vec<(f64, String)> = (0..=top / step)
        .map(|i| (base - (i * step) as f64 * scale, thousands(i * step)))
        .collect();
    let dates: Vec<UtcDate> = days.iter().map(|day| day.day).collect();
    html! {
        svg class="chart stacked" id=(id) role="img" aria-labelledby=(format!("{id}-title"))
            viewBox=(format!("0 0 {WIDTH} {height}")) xmlns="http://www.w3.org/2000/svg" {
            title id=(format!("{id}-title")) { (title) }
            (y_axis(&ticks, "sessions"))
            @for (i, day) in days.iter().enumerate() {
                @let x = LEFT + band * i as f64 + (band - bar_width) / 2.0;
                @let total: u64 = day.values.iter().sum();
                g class="bar" data-day=(day.day.to_string()) data-total=(total) {
                    title {
                        (day.day.to_string()) ": "
                        @if day.reported {
                            (thousands(total)) " sessions"
                            @for (entry, value) in series.iter().zip(&day.values) {
                                @if *value > 0 { "; " (entry.label) " " (thousands(*value)) }
                            }
                        } @else {
                            "no report covers this day"
                        }
                    }
                    @for (entry, value, y, h) in stack(series, &day.values, base, scale) {
                        rect class="segment" data-series=(entry.key) data-value=(value)
                            x=(format!("{x:.2}")) y=(format!("{y:.2}")) width=(format!("{bar_width:.2}"))
                            height=(format!("{h:.2}")) fill=(entry.colour) {}
                    }
                    // The whole band answers the pointer, so a thin bar's tooltip is reachable.
                    rect class="hit" x=(format!("{:.2}", LEFT + band * i as f64)) y=(TOP)
                        width=(format!("{band:.2}")) height=(PLOT_HEIGHT) fill="transparent" {}
                }
            }
            (x_axis(&dates, band, base))
            (legend(series, base + AXIS_SPACE + 8.0))
        }
    }
}

/// The top of the failure-rate axis, in percent: the smallest of 5, 10, 25, 50 and 100 that
/// holds the highest rate (a 2 % failure rate must not look flat on a 0–100 % axis).
pub(crate) fn rate_top(days: &[DayRate]) -> u32 {
    let highest = days
        .iter()
        .filter(|day| day.total > 0)
        .map(|day| day.failed as f64 * 100.0 / day.total as f64)
        .fold(0.0, f64::max);
    [5u32, 10, 25, 50, 100]
        .into_iter()
        .find(|top| highest <= f64::from(*top))
        .unwrap_or(100)
}

/// The share of failed sessions per day, as a line from 0 to [`rate_top`]; one
/// `<g class="point">` per day with sessions (a day without is a gap, not a zero).
pub(crate) fn rate_line(id: &str, title: &str, days: &[DayRate]) -> Markup {
    let band = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let base = TOP + PLOT_HEIGHT;
    let height = base + AXIS_SPACE + 8.0 + LEGEND_ROW;
    let top = rate_top(days);
    let ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| {
            let value = f64::from(top) * f64::from(i) / 5.0;
            (
                base - f64::from(i) * PLOT_HEIGHT / 5.0,
                format!("{value} %"),
            )
        })
        .collect();
    let points: Vec<(UtcDate, f64, f64, &DayRate)> = days
        .iter()
        .enumerate()
        .filter(|(_, day)| day.total > 0)
        .map(|(i, day)| {
            let rate = day.failed as f64 * 100.0 / day.total as f64 / f64::from(top);
            (
                day.day,
                LEFT + band * (i as f64 + 0.5),
                base - rate * PLOT_HEIGHT,
                day,
            )
        })
        .collect();
    let path = points
        .iter()
        .map(|(_, x, y, _)| format!("{x:.2},{y:.2}"))
        .collect::<Vec<_>>()
        .join(" ");
    let dates: Vec<UtcDate> = days.iter().map(|day| day.day).collect();
    let series = [Series {
        key: "failure-rate".into(),
        label: "failed sessions, share of all".into(),
        colour: "#c0392b",
    }];
    html! {
        svg class="chart rate" id=(id) role="img" aria-labelledby=(format!("{id}-title"))
            viewBox=(format!("0 0 {WIDTH} {height}")) xmlns="http://www.w3.org/2000/svg" {
            title id=(format!("{id}-title")) { (title) }
            (y_axis(&ticks, "failed"))
            polyline class="line" points=(path) fill="none" stroke="#c0392b" stroke-width="2" {}
            @for (day, x, y, counts) in &points {
                g class="point" data-day=(day.to_string()) {
                    title {
                        (day.to_string()) ": " (format!("{:.1}", counts.failed as f64 * 100.0 / counts.total as f64))
                        " % failed (" (thousands(counts.failed)) " of " (thousands(counts.total)) " sessions)"
                    }
                    circle cx=(format!("{x:.2}")) cy=(format!("{y:.2}")) r="3.5" fill="#c0392b" {}
                }
            }
            (x_axis(&dates, band, base))
            (legend(&series, base + AXIS_SPACE + 8.0))
        }
    }
}

/// The colour of a check's verdict on the monitor's strip, the same as the check's own words
/// everywhere: pass green, warn amber, fail red, unknown grey.
pub(crate) fn verdict_colour(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "#3a9a5b",
        "warn" => "#d4a017",
        "fail" => "#c0392b",
        _ => "#95a5a6",
    }
}

/// The strip's height, in SVG units.
const STRIP_HEIGHT: f64 = 40.0;

/// The monitor's verdicts over time, oldest left, one equal band per check: a
/// `<g class="check" data-at="…" data-verdict="…">` each, with a `<title>`; the first and last
/// check's times under the strip, and a legend of the verdicts.
pub(crate) fn verdict_strip(id: &str, title: &str, checks: &[(Timestamp, &str)]) -> Markup {
    let band = (WIDTH - LEFT - RIGHT) / checks.len().max(1) as f64;
    let base = TOP + STRIP_HEIGHT;
    let series: Vec<Series> = ["pass", "warn", "fail", "unknown"]
        .into_iter()
        .map(|verdict| Series {
            key: verdict.to_string(),
            label: verdict.to_string(),
            colour: verdict_colour(verdict),
        })
        .collect();
    let height = base + AXIS_SPACE + 8.0 + legend_height(series.len());
    html! {
        svg class="chart strip" id=(id) role="img" aria-labelledby=(format!("{id}-title"))
            viewBox=(format!("0 0 {WIDTH} {height}")) xmlns="http://www.w3.org/2000/svg" {
            title id=(format!("{id}-title")) { (title) }
            @for (i, (at, verdict)) in checks.iter().enumerate() {
                g class="check" data-at=(at.to_string()) data-verdict=(verdict) {
                    title { (at.to_string()) ": " (verdict) }
                    rect x=(format!("{:.2}", LEFT + band * i as f64)) y=(TOP)
                        width=(format!("{:.2}", band.max(0.5))) height=(STRIP_HEIGHT)
                        fill=(verdict_colour(verdict)) {}
                }
            }
            g class="axis x-axis" {
                line x1=(LEFT) y1=(base) x2=(WIDTH - RIGHT) y2=(base) stroke="#333" {}
                @if let Some((first, _)) = checks.first() {
                    text class="tick-label" x=(LEFT) y=(base + 17.0) font-size="11" text-anchor="start" { (first.to_string()) }
                }
                @if let (Some((last, _)), true) = (checks.last(), checks.len() > 1) {
                    text class="tick-label" x=(WIDTH - RIGHT) y=(base + 17.0) font-size="11" text-anchor="end" { (last.to_string()) }
                }
                text x=((LEFT + WIDTH - RIGHT) / 2.0) y=(base + 31.0) font-size="11" text-anchor="middle" {
                    "checks, oldest left (UTC)"
                }
            }
            (legend(&series, base + AXIS_SPACE + 8.0))
        }
    }
}

#[cfg(test)]
mod tests;
