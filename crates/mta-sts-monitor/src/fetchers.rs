//! Sending organisations that stopped fetching a hosted policy, from the fetch counts the
//! policy host keeps (store table `policy_fetch`). Pure: the time is given.

use std::collections::BTreeMap;

use mta_sts_core::Timestamp;
use mta_sts_store::reports::PolicyFetches;

use crate::{ConditionKey, MonitorSettings, codes};

/// The `fetcher-stopped` conditions that hold at `now` for one domain's fetch counts: an
/// organisation that fetched regularly (at least `fetcher_min_fetches` over at least
/// `fetcher_min_span`) and has been silent for longer than `fetcher_interval_factor` times its
/// usual interval and at least `fetcher_silence`.
pub fn fetcher_conditions(
    domain: &str,
    fetches: &[PolicyFetches],
    now: Timestamp,
    settings: &MonitorSettings,
) -> BTreeMap<ConditionKey, String> {
    let mut out = BTreeMap::new();
    for row in fetches {
        let span = row.last_fetch.duration_since(row.first_fetch);
        if row.fetches < settings.fetcher_min_fetches.max(2) || span < settings.fetcher_min_span {
            continue;
        }
        let intervals = u32::try_from(row.fetches - 1).unwrap_or(u32::MAX);
        let usual = span / intervals;
        let limit = (usual * settings.fetcher_interval_factor).max(settings.fetcher_silence);
        let silent = now.duration_since(row.last_fetch);
        if silent > limit {
            out.insert(
                (codes::FETCHER_STOPPED.to_string(), row.organization.clone()),
                format!(
                    "{} fetched the policy of {domain} {} times from {} to {} (about every {}) \
                     and has not fetched it since, {} by {now}: its servers may have lost the \
                     policy host or cached a failure.",
                    row.organization,
                    row.fetches,
                    row.first_fetch,
                    row.last_fetch,
                    human(usual),
                    human(silent)
                ),
            );
        }
    }
    out
}

/// A duration in the largest whole unit that fits: `3 days`, `6 hours`, `15 minutes`.
fn human(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    let (count, unit) = if seconds >= 86_400 {
        (seconds / 86_400, "day")
    } else if seconds >= 3_600 {
        (seconds / 3_600, "hour")
    } else if seconds >= 60 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(1_800_000_000 + seconds).expect("in range")
    }

    fn row(organization: &str, fetches: u64, first: i64, last: i64) -> PolicyFetches {
        PolicyFetches {
            domain: "example.com".into(),
            organization: organization.into(),
            fetches,
            first_fetch: at(first),
            last_fetch: at(last),
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn a_regular_fetcher_silent_for_long_has_stopped() {
        let settings = MonitorSettings::default();
        // Every 6 hours over 10 days, silent 4 days: stopped.
        let rows = [row("Google", 41, 0, 10 * DAY)];
        let found = fetcher_conditions("example.com", &rows, at(14 * DAY), &settings);
        let message = &found[&("fetcher-stopped".to_string(), "Google".to_string())];
        assert!(message.contains("about every 6 hours"), "{message}");
        assert!(message.contains("4 days"), "{message}");
        // Silent 2 days: within the 3 days of silence allowed.
        assert!(fetcher_conditions("example.com", &rows, at(12 * DAY), &settings).is_empty());
    }

    #[test]
    fn a_slow_fetcher_gets_more_time_and_an_occasional_one_none() {
        let settings = MonitorSettings::default();
        // Every 5 days: 3 × 5 days of silence allowed.
        let slow = [row("Microsoft", 5, 0, 20 * DAY)];
        assert!(fetcher_conditions("example.com", &slow, at(30 * DAY), &settings).is_empty());
        assert_eq!(
            fetcher_conditions("example.com", &slow, at(36 * DAY), &settings).len(),
            1
        );
        // Two fetches, or three within a day, are not a habit.
        let rare = [row("a", 2, 0, 30 * DAY), row("b", 3, 0, DAY / 2)];
        assert!(fetcher_conditions("example.com", &rare, at(300 * DAY), &settings).is_empty());
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 5)), "3 days");
        assert_eq!(human(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(human(Duration::from_secs(59)), "59 seconds");
    }
}
