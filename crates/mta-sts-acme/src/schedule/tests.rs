use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds).expect("in range")
}

#[test]
fn renewal_falls_two_thirds_into_the_lifetime() {
    // A 90-day certificate is renewed after 60 days.
    let day = 86_400;
    assert_eq!(
        point_in_lifetime(at(0), at(90 * day), 2.0 / 3.0),
        at(60 * day)
    );
    assert_eq!(point_in_lifetime(at(100), at(160), 5.0 / 6.0), at(150));
    // Out-of-range fractions are clamped; an inverted validity gives its start.
    assert_eq!(point_in_lifetime(at(100), at(160), 7.0), at(160));
    assert_eq!(point_in_lifetime(at(100), at(160), -1.0), at(100));
    assert_eq!(point_in_lifetime(at(160), at(100), 0.5), at(160));
}

#[test]
fn backoff_doubles_up_to_the_bound_and_jitters_in_its_upper_half() {
    let first = Duration::from_secs(10);
    let max = Duration::from_secs(3600);
    assert_eq!(backoff(1, first, max, 1.0), Duration::from_secs(10));
    assert_eq!(backoff(2, first, max, 1.0), Duration::from_secs(20));
    assert_eq!(backoff(4, first, max, 1.0), Duration::from_secs(80));
    assert_eq!(backoff(30, first, max, 1.0), max);
    assert_eq!(backoff(u32::MAX, first, max, 1.0), max);
    assert_eq!(backoff(2, first, max, 0.0), Duration::from_secs(10));
    // Never zero even at the first failure, never beyond the bound.
    for failures in 0..64 {
        let wait = backoff(failures, first, max, jitter());
        assert!(wait >= first / 2 && wait <= max, "{failures}: {wait:?}");
    }
}

#[test]
fn jitter_stays_in_the_unit_interval_and_varies() {
    let draws: Vec<f64> = (0..32).map(|_| jitter()).collect();
    assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
    assert!(draws.iter().any(|j| *j != draws[0]));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn backoff_stays_between_half_the_first_wait_and_the_bound_and_never_shrinks(
            failures in 0u32..100,
            first_ms in 1u64..100_000,
            extra_ms in 0u64..10_000_000,
            jitter in 0.0f64..=1.0,
        ) {
            let first = Duration::from_millis(first_ms);
            let max = first + Duration::from_millis(extra_ms);
            let wait = backoff(failures, first, max, jitter);
            prop_assert!(wait >= first / 2, "{wait:?}");
            prop_assert!(wait <= max, "{wait:?}");
            prop_assert!(backoff(failures + 1, first, max, jitter) >= wait);
        }

        #[test]
        fn a_point_in_the_lifetime_lies_within_it_in_order(
            start in 0i64..4_000_000_000,
            lifetime in 0i64..100_000_000,
            a in 0.0f64..=1.0,
            b in 0.0f64..=1.0,
        ) {
            let (not_before, not_after) = (at(start), at(start + lifetime));
            let (low, high) = (a.min(b), a.max(b));
            let early = point_in_lifetime(not_before, not_after, low);
            let late = point_in_lifetime(not_before, not_after, high);
            prop_assert!(not_before <= early && early <= late && late <= not_after);
        }
    }
}
