//! When the reporter works: which days are due, when a day's reports are first sent and when
//! the loop wakes next. Pure arithmetic over timestamps (the jitter is given, not drawn), so it
//! is tested without a clock.
//!
//! A day is reported once its collection is complete: after its UTC midnight, plus a settling
//! time for the collectors' last write of that day (they write every few seconds). Its reports
//! then go out at a random point of the next `spread` (RFC 8460 §4.4 leaves the time to the
//! sender; tlsrpt-reporter's `spread_out_delivery`, mox's jitter), so that not every reporter
//! on the internet sends at 00:00. Days missed while the reporter was down are caught up,
//! at most `catch_up_days` back (older counts stay in the store for `report --day` until they
//! are `keep_days` old: [`prune_before`]).

use std::collections::BTreeSet;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use mta_sts_core::time::{SECONDS_PER_DAY, Timestamp, UtcDate};

/// The schedule's settings (`[schedule]` of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// The window after midnight over which a day's reports are spread.
    pub spread: Duration,
    /// Days missed while down that are still reported, counted back from yesterday.
    pub catch_up_days: u32,
    /// Days kept in the store, today included (tlsrpt-reportd's `keep_days`): older days are
    /// deleted ([`prune_before`]). At least `catch_up_days + 2`, checked with the
    /// configuration, so no day is deleted before it is reported.
    pub keep_days: u32,
    /// The wait after midnight before a day counts as complete: the collectors' last write of
    /// that day must have landed.
    pub settle: Duration,
    /// The longest sleep of the reporter's loop (a change in the store, such as a rebuilt day,
    /// is noticed within it).
    pub poll_interval: Duration,
}

impl Default for ScheduleSettings {
    /// tlsrpt-reporter's spread (36,000 s), main-loop interval (300 s) and retention (10 days);
    /// a week of catch-up; two minutes of settling, many collector flush intervals.
    fn default() -> ScheduleSettings {
        ScheduleSettings {
            spread: Duration::from_secs(36_000),
            catch_up_days: 7,
            keep_days: 10,
            settle: Duration::from_secs(120),
            poll_interval: Duration::from_secs(300),
        }
    }
}

/// The first instant after `day` (its next midnight, UTC).
pub fn day_end(day: UtcDate) -> Timestamp {
    day.start()
        .saturating_add(Duration::from_secs(SECONDS_PER_DAY.unsigned_abs()))
}

/// Whether `day`'s collection is complete at `now`.
pub fn is_complete(day: UtcDate, now: Timestamp, settings: &ScheduleSettings) -> bool {
    now >= day_end(day).saturating_add(settings.settle)
}

/// The days to report at `now`, oldest first: days with counts, complete, not reported yet,
/// and at most `catch_up_days` before yesterday.
pub fn days_due(
    now: Timestamp,
    with_counts: &[UtcDate],
    reported: &BTreeSet<UtcDate>,
    settings: &ScheduleSettings,
) -> Vec<UtcDate> {
    let today = now.utc_date().day_number();
    let oldest = today - 1 - i64::from(settings.catch_up_days);
    let mut due: Vec<UtcDate> = with_counts
        .iter()
        .copied()
        .filter(|day| day.day_number() >= oldest)
        .filter(|day| is_complete(*day, now, settings))
        .filter(|day| !reported.contains(day))
        .collect();
    due.sort();
    due.dedup();
    due
}

/// The first day kept at `now`: the days before it are deleted. tlsrpt-reportd deletes a day
/// once `now` is more than `keep_days` days past its start, which from any time after
/// midnight keeps today and the `keep_days - 1` days before it; so do we (a `keep_days` of 0,
/// refused by the configuration, keeps today too).
pub fn prune_before(now: Timestamp, settings: &ScheduleSettings) -> UtcDate {
    let today = now.utc_date();
    let back = i64::from(settings.keep_days.max(1)) - 1;
    UtcDate::from_day_number(today.day_number() - back).unwrap_or(today)
}

/// When a report of `day` is first sent: `fraction` (0..1, drawn per report) of the way into
/// the spread after the day's end, or `now` for a day caught up late (past its spread already).
pub fn first_send_time(
    day: UtcDate,
    now: Timestamp,
    settings: &ScheduleSettings,
    fraction: f64,
) -> Timestamp {
    let planned = day_end(day)
        .saturating_add(settings.settle)
        .saturating_add(settings.spread.mul_f64(fraction.clamp(0.0, 1.0)));
    let late = now
        >= day_end(day)
            .saturating_add(settings.settle)
            .saturating_add(settings.spread);
    if late { now } else { planned.max(now) }
}

/// When the loop looks again: at the next delivery due (or day to build), the next moment a
/// day becomes complete, or after `poll_interval`, whichever is first (never before `now`).
pub fn next_wake(
    now: Timestamp,
    next_delivery: Option<Timestamp>,
    settings: &ScheduleSettings,
) -> Timestamp {
    // The next moment a day becomes complete: yesterday's, while its settling time runs, else
    // today's.
    let yesterday_complete = now.start_of_day().saturating_add(settings.settle);
    let next_complete = if now < yesterday_complete {
        yesterday_complete
    } else {
        day_end(now.utc_date()).saturating_add(settings.settle)
    };
    let mut wake = now
        .saturating_add(settings.poll_interval)
        .min(next_complete);
    if let Some(delivery) = next_delivery {
        wake = wake.min(delivery);
    }
    wake.max(now)
}

/// A number in 0..1 that differs per call: the place of a report in the spread. The standard
/// library's randomly seeded hasher is all the randomness this needs (no extra dependency).
pub fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    // 53 bits: exactly representable in an f64.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests;
