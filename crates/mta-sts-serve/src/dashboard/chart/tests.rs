use super::*;

fn day(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("date")
}

fn series() -> Vec<Series> {
    ["successful", "certificate-expired"]
        .into_iter()
        .map(|key| Series {
            key: key.into(),
            label: key.into(),
            colour: colour_of(key),
        })
        .collect()
}

#[test]
fn axis_tops_are_round_and_cover_the_largest_value() {
    for (max, top, step) in [
        (0, 4, 1),
        (1, 1, 1),
        (7, 8, 2),
        (10, 10, 2),
        (11, 15, 5),
        (99, 100, 20),
        (1234, 1500, 500),
        (1_000_001, 1_500_000, 500_000),
    ] {
        assert_eq!(axis_scale(max), (top, step), "max {max}");
    }
    for max in [1u64, 3, 17, 250, 999, 12_345, u64::from(u32::MAX)] {
        let (top, step) = axis_scale(max);
        assert!(
            top >= max && top % step == 0 && top / step <= 5,
            "max {max}"
        );
    }
}

#[test]
fn thousands_are_separated() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
}

#[test]
fn one_bar_per_day_with_its_segments_and_a_legend_naming_each_series() {
    let days = vec![
        DayStack {
            day: day("2026-12-01"),
            values: vec![90, 10],
            reported: true,
        },
        DayStack {
            day: day("2026-12-02"),
            values: vec![0, 0],
            reported: false,
        },
        DayStack {
            day: day("2026-12-03"),
            values: vec![50, 0],
            reported: true,
        },
    ];
    let svg = stacked_bars("sessions", "Sessions per day", &series(), &days).into_string();
    assert_eq!(svg.matches("<g class=\"bar\"").count(), 3, "{svg}");
    for date in ["2026-12-01", "2026-12-02", "2026-12-03"] {
        assert!(svg.contains(&format!("data-day=\"{date}\"")), "{svg}");
    }
    // Segments only where there is a value: two on the first day, one on the third.
    assert_eq!(svg.matches("class=\"segment\"").count(), 3, "{svg}");
    assert!(svg.contains("2026-12-01: 100 sessions; successful 90; certificate-expired 10"));
    assert!(svg.contains("2026-12-02: no report covers this day"));
    assert!(svg.contains("data-series=\"certificate-expired\""));
    assert_eq!(svg.matches("class=\"legend-item\"").count(), 2);
    // The y axis reaches the round top above the largest day (100).
    assert!(svg.contains(">100</text>"), "{svg}");
}

#[test]
fn bars_are_proportional_to_their_values() {
    let days = [DayStack {
        day: day("2026-12-01"),
        values: vec![75, 25],
        reported: true,
    }];
    let series = series();
    let segments = stack(&series, &days[0].values, 214.0, PLOT_HEIGHT / 100.0);
    assert_eq!(segments.len(), 2);
    assert!((segments[0].3 - 150.0).abs() < 1e-9);
    assert!((segments[1].3 - 50.0).abs() < 1e-9);
    // Stacked: the second starts where the first ends.
    assert!((segments[1].2 + segments[1].3 - segments[0].2).abs() < 1e-9);
}

#[test]
fn names_from_reports_are_escaped_in_the_svg() {
    let hostile = vec![Series {
        key: "\"><script>alert(1)</script>".into(),
        label: "<img src=x onerror=alert(1)>".into(),
        colour: "#000",
    }];
    let days = vec![DayStack {
        day: day("2026-12-01"),
        values: vec![1],
        reported: true,
    }];
    let svg = stacked_bars("x", "<b>title</b>", &hostile, &days).into_string();
    assert!(!svg.contains("<script>") && !svg.contains("<img") && !svg.contains("<b>"));
    assert!(svg.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn the_rate_line_skips_days_without_sessions() {
    let days = [
        DayRate {
            day: day("2026-12-01"),
            failed: 1,
            total: 4,
        },
        DayRate {
            day: day("2026-12-02"),
            failed: 0,
            total: 0,
        },
        DayRate {
            day: day("2026-12-03"),
            failed: 0,
            total: 10,
        },
    ];
    let svg = rate_line("rate", "Failure rate", &days).into_string();
    assert_eq!(svg.matches("<g class=\"point\"").count(), 2, "{svg}");
    assert!(svg.contains("2026-12-01: 25.0 % failed (1 of 4 sessions)"));
    assert!(!svg.contains("data-day=\"2026-12-02\""));
}

#[test]
fn the_rate_axis_fits_the_highest_rate() {
    let rate = |failed, total| DayRate {
        day: day("2026-12-01"),
        failed,
        total,
    };
    assert_eq!(rate_top(&[]), 5);
    assert_eq!(rate_top(&[rate(2, 100), rate(0, 0)]), 5);
    assert_eq!(rate_top(&[rate(6, 100)]), 10);
    assert_eq!(rate_top(&[rate(31, 200)]), 25);
    assert_eq!(rate_top(&[rate(3, 8)]), 50);
    assert_eq!(rate_top(&[rate(1, 1)]), 100);
}

#[test]
fn the_verdict_strip_has_one_band_per_check_with_its_time_and_verdict() {
    let at = |text: &str| mta_sts_core::Timestamp::parse(text).expect("a time");
    let checks = [
        (at("2026-12-07T10:00:00Z"), "pass"),
        (at("2026-12-07T11:00:00Z"), "fail"),
        (at("2026-12-07T12:00:00Z"), "<pass>"),
    ];
    let svg = verdict_strip("strip", "Verdicts of example.com", &checks).into_string();
    assert_eq!(svg.matches("<g class=\"check\"").count(), 3, "{svg}");
    assert!(svg.contains("data-at=\"2026-12-07T11:00:00Z\" data-verdict=\"fail\""));
    assert!(svg.contains("<title>2026-12-07T11:00:00Z: fail</title>"));
    // Escaped like everything else written into the SVG.
    assert!(
        svg.contains("&lt;pass&gt;") && !svg.contains("<pass>"),
        "{svg}"
    );
    for verdict in ["pass", "warn", "fail", "unknown"] {
        assert!(
            svg.contains(&format!("data-series=\"{verdict}\"")),
            "{verdict}"
        );
    }
    assert!(
        verdict_strip("empty", "No checks", &[])
            .into_string()
            .contains("<svg")
    );
}
