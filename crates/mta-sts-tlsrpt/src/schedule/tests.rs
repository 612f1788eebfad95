use std::collections::BTreeSet;
use std::time::Duration;

use mta_sts_core::time::{Timestamp, UtcDate};
use proptest::prelude::*;

use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a time")
}

fn day(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a day")
}

fn settings() -> ScheduleSettings {
    ScheduleSettings {
        spread: Duration::from_secs(3600),
        catch_up_days: 3,
        keep_days: 10,
        settle: Duration::from_secs(60),
        poll_interval: Duration::from_secs(300),
    }
}

#[test]
fn a_day_is_due_only_once_complete() {
    let days = [day("2026-12-06")];
    let none = BTreeSet::new();
    // Still collecting, or within the settling minute after midnight: not due.
    assert!(days_due(at("2026-12-06T23:59:59Z"), &days, &none, &settings()).is_empty());
    assert!(days_due(at("2026-12-07T00:00:59Z"), &days, &none, &settings()).is_empty());
    assert_eq!(
        days_due(at("2026-12-07T00:01:00Z"), &days, &none, &settings()),
        days
    );
}

#[test]
fn missed_days_are_caught_up_within_the_window_and_reported_ones_skipped() {
    let days = [
        day("2026-12-06"),
        day("2026-12-01"),
        day("2026-12-03"),
        day("2026-12-04"),
        day("2026-12-02"),
        day("2026-12-07"),
    ];
    let reported = BTreeSet::from([day("2026-12-04")]);
    // Today is the 7th: yesterday (6th) and three days before it (3rd..5th) may be caught up;
    // the 4th is done, the 7th is today, the 1st and 2nd are too old.
    assert_eq!(
        days_due(at("2026-12-07T05:00:00Z"), &days, &reported, &settings()),
        [day("2026-12-03"), day("2026-12-06")]
    );
}

#[test]
fn reports_go_out_within_the_spread_after_midnight() {
    let d = day("2026-12-06");
    let now = at("2026-12-07T00:01:00Z");
    assert_eq!(
        first_send_time(d, now, &settings(), 0.0),
        at("2026-12-07T00:01:00Z")
    );
    assert_eq!(
        first_send_time(d, now, &settings(), 0.5),
        at("2026-12-07T00:31:00Z")
    );
    // A day caught up after its spread has passed goes out now, not at a time in the past.
    let late = at("2026-12-09T10:00:00Z");
    assert_eq!(first_send_time(d, late, &settings(), 0.9), late);
}

#[test]
fn the_loop_wakes_for_the_first_of_delivery_midnight_and_poll() {
    let s = settings();
    let now = at("2026-12-06T12:00:00Z");
    assert_eq!(next_wake(now, None, &s), at("2026-12-06T12:05:00Z"));
    assert_eq!(
        next_wake(now, Some(at("2026-12-06T12:01:00Z")), &s),
        at("2026-12-06T12:01:00Z")
    );
    // A delivery already due means now.
    assert_eq!(next_wake(now, Some(at("2026-12-06T11:00:00Z")), &s), now);
    // Just after midnight: wake when yesterday becomes complete.
    assert_eq!(
        next_wake(at("2026-12-07T00:00:30Z"), None, &s),
        at("2026-12-07T00:01:00Z")
    );
    // Just before midnight: wake when the day becomes complete.
    assert_eq!(
        next_wake(at("2026-12-06T23:58:00Z"), None, &s),
        at("2026-12-07T00:01:00Z")
    );
}

#[test]
fn jitter_stays_in_the_unit_interval_and_varies() {
    let draws: Vec<f64> = (0..32).map(|_| jitter()).collect();
    assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
    assert!(draws.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn retention_keeps_today_and_the_days_before_as_tlsrpt_reportd() {
    // keep_days 10 on the 17th: the 8th..17th are kept, as tlsrpt-reportd's
    // `julianday(now) - julianday(day) > keep_days` keeps them from any time after midnight.
    assert_eq!(
        prune_before(at("2026-12-17T00:00:01Z"), &settings()),
        day("2026-12-08")
    );
    assert_eq!(
        prune_before(at("2026-12-17T23:59:59Z"), &settings()),
        day("2026-12-08")
    );
    let one = ScheduleSettings {
        keep_days: 1,
        ..settings()
    };
    assert_eq!(
        prune_before(at("2026-12-17T12:00:00Z"), &one),
        day("2026-12-17")
    );
}

proptest! {
    /// The least keep_days the configuration takes never deletes a day still due.
    #[test]
    fn retention_never_deletes_a_day_still_due(
        now in 0i64..4_000_000_000,
        catch_up_days in 0u32..30,
        extra in 0u32..5,
        offsets in proptest::collection::vec(-40i64..3, 0..20),
    ) {
        let settings = ScheduleSettings {
            catch_up_days,
            keep_days: catch_up_days + 2 + extra,
            ..settings()
        };
        let now = Timestamp::from_unix_seconds(now).expect("in range");
        let today = now.utc_date().day_number();
        let days: Vec<UtcDate> = offsets
            .iter()
            .map(|o| UtcDate::from_day_number(today + o).expect("in range"))
            .collect();
        let first_kept = prune_before(now, &settings);
        for due in days_due(now, &days, &BTreeSet::new(), &settings) {
            prop_assert!(due >= first_kept, "{due} is due but before {first_kept}");
        }
    }

    #[test]
    fn due_days_are_complete_unreported_and_sorted(
        now in 0i64..4_000_000_000,
        offsets in proptest::collection::vec(-20i64..3, 0..20),
        reported_offsets in proptest::collection::vec(-20i64..3, 0..5),
    ) {
        let now = Timestamp::from_unix_seconds(now).expect("in range");
        let today = now.utc_date().day_number();
        let to_day = |o: &i64| UtcDate::from_day_number(today + o).expect("in range");
        let days: Vec<UtcDate> = offsets.iter().map(to_day).collect();
        let reported: BTreeSet<UtcDate> = reported_offsets.iter().map(to_day).collect();
        let due = days_due(now, &days, &reported, &settings());
        prop_assert!(due.windows(2).all(|w| w[0] < w[1]));
        for d in &due {
            prop_assert!(is_complete(*d, now, &settings()));
            prop_assert!(!reported.contains(d));
            prop_assert!(days.contains(d));
            prop_assert!(d.day_number() >= today - 4);
        }
    }

    #[test]
    fn first_sends_are_never_before_now_nor_before_the_day_is_complete(
        now in 0i64..4_000_000_000,
        back in 1i64..10,
        fraction in 0.0f64..1.0,
    ) {
        let now = Timestamp::from_unix_seconds(now).expect("in range");
        let d = UtcDate::from_day_number(now.utc_date().day_number() - back).expect("in range");
        let send = first_send_time(d, now, &settings(), fraction);
        prop_assert!(send >= now);
        prop_assert!(is_complete(d, send, &settings()));
        prop_assert!(send <= now.max(day_end(d)).saturating_add(Duration::from_secs(3660)));
    }
}
