use proptest::prelude::*;

use super::*;

fn ts(text: &str) -> i64 {
    Timestamp::parse(text)
        .expect("valid timestamp")
        .unix_seconds()
}

#[test]
fn valid_timestamps() {
    let cases = [
        ("1970-01-01T00:00:00Z", 0, true),
        ("2016-04-01T00:00:00Z", 1_459_468_800, true),
        ("2023-01-10T00:00:00", 1_673_308_800, false),
        ("2023-01-10t00:00:00z", 1_673_308_800, true),
        ("2023-01-10 00:00:00Z", 1_673_308_800, true),
        ("2023-01-10T02:00:00+02:00", 1_673_308_800, true),
        ("2023-01-09T19:30:00-04:30", 1_673_308_800, true),
        ("2023-01-10T00:00:00.999999Z", 1_673_308_800, true),
        ("2023-01-10T00:00:00.5", 1_673_308_800, false),
        ("2024-02-29T12:00:00Z", 1_709_208_000, true),
        ("2000-02-29T00:00:00Z", 951_782_400, true),
        ("1969-12-31T23:59:59Z", -1, true),
        ("2016-12-31T23:59:60Z", 1_483_228_800, true),
        ("0000-01-01T00:00:00Z", FIRST_SECOND, true),
        ("9999-12-31T23:59:59Z", LAST_SECOND, true),
    ];
    for (text, seconds, zoned) in cases {
        let (timestamp, zone) =
            Timestamp::parse_noting_zone(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(timestamp.unix_seconds(), seconds, "{text}");
        let expected = if zoned { Zone::Written } else { Zone::Missing };
        assert_eq!(zone, expected, "{text}");
    }
}

#[test]
fn invalid_timestamps() {
    use TimestampError::{OutOfRange, Syntax};
    let cases = [
        // Month 13.
        (
            "2023-13-01T00:00:00Z",
            OutOfRange {
                field: "month",
                value: 13,
            },
        ),
        // Month 0.
        (
            "2023-00-01T00:00:00Z",
            OutOfRange {
                field: "month",
                value: 0,
            },
        ),
        // Hour 24: RFC 3339 has no 24:00.
        (
            "2023-01-10T24:00:00Z",
            OutOfRange {
                field: "hour",
                value: 24,
            },
        ),
        // February 29 in a year that is not leap.
        (
            "2023-02-29T00:00:00Z",
            OutOfRange {
                field: "day",
                value: 29,
            },
        ),
        // 1900 is not leap (divisible by 100, not by 400).
        (
            "1900-02-29T00:00:00Z",
            OutOfRange {
                field: "day",
                value: 29,
            },
        ),
        (
            "2023-04-31T00:00:00Z",
            OutOfRange {
                field: "day",
                value: 31,
            },
        ),
        (
            "2023-01-10T00:60:00Z",
            OutOfRange {
                field: "minute",
                value: 60,
            },
        ),
        (
            "2023-01-10T00:00:61Z",
            OutOfRange {
                field: "second",
                value: 61,
            },
        ),
        (
            "2023-01-10T00:00:00+24:00",
            OutOfRange {
                field: "offset hour",
                value: 24,
            },
        ),
        // An offset pushing the instant before year 0000.
        (
            "0000-01-01T00:00:00+01:00",
            OutOfRange {
                field: "year",
                value: 0,
            },
        ),
        // Empty text.
        ("", Syntax),
        // Garbage.
        ("yesterday", Syntax),
        // A date alone is not a date-time.
        ("2023-01-10", Syntax),
        // Seconds are required.
        ("2023-01-10T00:00Z", Syntax),
        // A fraction needs digits.
        ("2023-01-10T00:00:00.Z", Syntax),
        // Offsets need a colon.
        ("2023-01-10T00:00:00+0200", Syntax),
        // Trailing text.
        ("2023-01-10T00:00:00Z ", Syntax),
        // Two-digit year.
        ("23-01-10T00:00:00Z", Syntax),
        // Non-ASCII digits.
        ("２023-01-10T00:00:00Z", Syntax),
        // Unix time is not RFC 3339.
        ("1673308800", Syntax),
    ];
    for (text, expected) in cases {
        assert_eq!(Timestamp::parse(text), Err(expected), "{text:?}");
    }
}

#[test]
fn timestamps_display_as_rfc3339_utc() {
    assert_eq!(
        Timestamp::parse("2023-01-09T19:30:00.25-04:30")
            .expect("valid")
            .to_string(),
        "2023-01-10T00:00:00Z"
    );
    assert_eq!(
        Timestamp::from_unix_seconds(-1)
            .expect("in range")
            .to_string(),
        "1969-12-31T23:59:59Z"
    );
    assert_eq!(Timestamp::from_unix_seconds(LAST_SECOND + 1), None);
    assert_eq!(Timestamp::from_unix_seconds(FIRST_SECOND - 1), None);
    assert_eq!(
        ts("2024-03-01T00:00:00Z") - ts("2024-02-28T00:00:00Z"),
        2 * 86_400
    );
}

#[test]
fn a_missing_zone_is_noted_but_not_part_of_the_instant() {
    let (zoneless, zone) = Timestamp::parse_noting_zone("2023-01-10T00:00:00").expect("reads");
    assert_eq!(zone, Zone::Missing);
    assert_eq!(Timestamp::parse("2023-01-10T00:00:00Z"), Ok(zoneless));
}

#[test]
fn arithmetic_saturates_at_the_ends_of_rfc3339() {
    let t = Timestamp::from_unix_seconds(100).expect("in range");
    assert_eq!(t.saturating_add(Duration::from_secs(5)).unix_seconds(), 105);
    assert_eq!(t.saturating_sub(Duration::from_secs(5)).unix_seconds(), 95);
    assert_eq!(
        Timestamp::MAX.saturating_add(Duration::from_secs(5)),
        Timestamp::MAX
    );
    assert_eq!(t.saturating_add(Duration::MAX), Timestamp::MAX);
    assert_eq!(
        Timestamp::MIN.saturating_sub(Duration::from_secs(5)),
        Timestamp::MIN
    );
    assert_eq!(t.saturating_sub(Duration::MAX), Timestamp::MIN);
    let earlier = Timestamp::from_unix_seconds(40).expect("in range");
    assert_eq!(t.duration_since(earlier), Duration::from_secs(60));
    assert_eq!(earlier.duration_since(t), Duration::ZERO);
    assert_eq!(
        Timestamp::from_unix_seconds_saturating(i64::MAX),
        Timestamp::MAX
    );
    assert_eq!(
        Timestamp::from_unix_seconds_saturating(i64::MIN),
        Timestamp::MIN
    );
    assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59Z");
    assert_eq!(Timestamp::MIN.to_string(), "0000-01-01T00:00:00Z");
}

#[test]
fn whole_days() {
    let t = Timestamp::parse("2026-12-06T21:59:27Z").expect("valid");
    assert_eq!(t.start_of_day().to_string(), "2026-12-06T00:00:00Z");
    assert_eq!(t.utc_date().to_string(), "2026-12-06");
    assert_eq!(t.day_number(), 20_793);
    assert_eq!(Timestamp::from_day_number(20_793), Some(t.start_of_day()));
    let before_epoch = Timestamp::parse("1969-12-31T23:59:59Z").expect("valid");
    assert_eq!(before_epoch.day_number(), -1);
    assert_eq!(
        before_epoch.start_of_day().to_string(),
        "1969-12-31T00:00:00Z"
    );
    let date = UtcDate::parse("2024-02-29").expect("valid");
    assert_eq!(date.start().to_string(), "2024-02-29T00:00:00Z");
    assert_eq!(date.last_second().to_string(), "2024-02-29T23:59:59Z");
    assert_eq!(UtcDate::from_day_number(date.day_number()), Some(date));
    // Not a leap year; not a full-date; a date-time is not a full-date.
    assert!(UtcDate::parse("2023-02-29").is_err());
    assert!(UtcDate::parse("2023-2-28").is_err());
    assert!(UtcDate::parse("2023-02-28T00:00:00Z").is_err());
    assert_eq!(Timestamp::from_day_number(i64::MAX), None);
}

#[test]
fn serializes_as_rfc3339_text_and_reads_back() {
    let t = Timestamp::from_unix_seconds(1_796_591_023).expect("in range");
    let json = serde_json::to_string(&t).expect("serializes");
    assert_eq!(json, "\"2026-12-06T21:03:43Z\"");
    assert_eq!(serde_json::from_str::<Timestamp>(&json).ok(), Some(t));
    assert!(serde_json::from_str::<Timestamp>("1796591023").is_err());
    assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    assert_eq!(
        serde_json::to_string(&t.utc_date()).ok().as_deref(),
        Some("\"2026-12-06\"")
    );
}

#[test]
fn manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(Timestamp::from_unix_seconds(1_000).expect("in range"));
    assert_eq!(clock.now().unix_seconds(), 1_000);
    clock.advance(Duration::from_secs(301));
    assert_eq!(clock.now().unix_seconds(), 1_301);
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), Timestamp::MAX);
    clock.set(Timestamp::UNIX_EPOCH);
    assert_eq!(clock.now(), Timestamp::UNIX_EPOCH);
}

proptest! {
    #[test]
    fn formatted_timestamps_parse_back(seconds in FIRST_SECOND..=LAST_SECOND) {
        let timestamp = Timestamp::from_unix_seconds(seconds).expect("in range");
        let text = timestamp.to_string();
        prop_assert_eq!(text.len(), 20);
        prop_assert_eq!(Timestamp::parse(&text).map(Timestamp::unix_seconds), Ok(seconds));
    }

    #[test]
    fn timestamp_parse_never_panics(text in "\\PC{0,40}") {
        let _ = Timestamp::parse(&text);
    }

    #[test]
    fn day_arithmetic_agrees_with_the_text(seconds in FIRST_SECOND..=LAST_SECOND) {
        let timestamp = Timestamp::from_unix_seconds(seconds).expect("in range");
        let text = timestamp.to_string();
        prop_assert_eq!(timestamp.utc_date().to_string(), &text[..10]);
        prop_assert_eq!(timestamp.start_of_day().to_string(), format!("{}T00:00:00Z", &text[..10]));
        prop_assert_eq!(UtcDate::parse(&text[..10]).map(UtcDate::start), Ok(timestamp.start_of_day()));
    }
}
