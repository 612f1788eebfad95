//! The one point-in-time type of the workspace, [`Timestamp`], and the [`Clock`] every piece of
//! code that needs "now" reads it from.
//!
//! Times are whole UTC seconds, written as RFC 3339 (`2026-12-06T21:59:27Z`) wherever a person or
//! another program reads them. The core never reads the system clock (it stays pure): the system
//! clock is `mta_sts_net::clock::SystemClock`; tests and simulations use [`ManualClock`].

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 0000-01-01T00:00:00Z, the first instant a four-digit RFC 3339 year can name.
const FIRST_SECOND: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z, the last.
const LAST_SECOND: i64 = 253_402_300_799;
/// Seconds in a UTC day (leap seconds are not counted, as in Unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// A point in time: an RFC 3339 `date-time` held as whole UTC seconds since the Unix epoch, in
/// years 0000 to 9999 (the years RFC 3339 can write). Fractional seconds are dropped: a report's
/// period is whole days and a policy's `max_age` whole seconds.
///
/// Displays and serializes as `YYYY-MM-DDTHH:MM:SSZ`; deserializes from any RFC 3339 text
/// [`Timestamp::parse`] takes. Stores that keep Unix seconds convert with
/// [`Timestamp::unix_seconds`] and [`Timestamp::from_unix_seconds_saturating`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_seconds: i64,
}

/// Whether an RFC 3339 text carried its zone (`Z` or an offset). Kept apart from the
/// [`Timestamp`] it was read into, so two readings of one instant are equal, while the report
/// lint can still say that the zone was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `Z`, `z` or `±hh:mm`.
    Written,
    /// None, as Microsoft writes `2023-01-10T00:00:00`; RFC 3339 requires one, and it was read
    /// as UTC.
    Missing,
}

/// Why a text is not an RFC 3339 `date-time` (or a `full-date`, for [`UtcDate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not shaped like `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±hh:mm]` (or `YYYY-MM-DD`).
    #[error("not an RFC 3339 date-time (expected YYYY-MM-DDTHH:MM:SSZ)")]
    Syntax,
    /// A field is outside its range: month 13, hour 24, February 30, an offset of +24:00.
    #[error("{field} {value} is out of range")]
    OutOfRange {
        /// The field: `month`, `day`, `hour`, `minute`, `second`, `offset hour`, `offset minute`
        /// or `year` (when an offset moves the instant outside years 0000 to 9999).
        field: &'static str,
        /// The value as written.
        value: u32,
    },
}

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { unix_seconds: 0 };
    /// 0000-01-01T00:00:00Z, the earliest time RFC 3339 can write.
    pub const MIN: Timestamp = Timestamp {
        unix_seconds: FIRST_SECOND,
    };
    /// 9999-12-31T23:59:59Z, the latest time RFC 3339 can write: where additions saturate ("the
    /// far future").
    pub const MAX: Timestamp = Timestamp {
        unix_seconds: LAST_SECOND,
    };

    /// Reads an RFC 3339 `date-time` (RFC 3339 §5.6), and, tolerantly, one without a zone, which
    /// is read as UTC because that is what Microsoft, the sender that writes them, means. Use
    /// [`Timestamp::parse_noting_zone`] to learn whether the zone was there.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_noting_zone(text).map(|(timestamp, _)| timestamp)
    }

    /// Reads like [`Timestamp::parse`], and says whether the text carried a zone.
    /// Accepts lowercase `t` and `z`, a space instead of `T` (both allowed by the §5.6 note),
    /// fractional seconds and `±hh:mm` offsets.
    pub fn parse_noting_zone(text: &str) -> Result<(Timestamp, Zone), TimestampError> {
        let bytes = text.as_bytes();
        let year = digits(bytes, 0, 4)?;
        separator(bytes, 4, b'-')?;
        let month = digits(bytes, 5, 2)?;
        separator(bytes, 7, b'-')?;
        let day = digits(bytes, 8, 2)?;
        // RFC 3339 §5.6 NOTE: "T" may be written "t", and applications may use a space instead.
        if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
            return Err(TimestampError::Syntax);
        }
        let hour = digits(bytes, 11, 2)?;
        separator(bytes, 13, b':')?;
        let minute = digits(bytes, 14, 2)?;
        separator(bytes, 16, b':')?;
        let second = digits(bytes, 17, 2)?;

        let mut rest = bytes.get(19..).unwrap_or_default();
        // RFC 3339 §5.6: time-secfrac = "." 1*DIGIT.
        if let Some((b'.', fraction)) = rest.split_first() {
            let length = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            if length == 0 {
                return Err(TimestampError::Syntax);
            }
            rest = fraction.get(length..).unwrap_or_default();
        }
        // RFC 3339 §5.6: time-offset = "Z" / ("+" / "-") time-hour ":" time-minute.
        let (offset_seconds, has_zone) = match rest {
            [] => (0, false),
            [b'Z' | b'z'] => (0, true),
            [sign @ (b'+' | b'-'), hour_digits @ .., b':', m1, m2] if hour_digits.len() == 2 => {
                let offset_hour = digits(hour_digits, 0, 2)?;
                let offset_minute = digits(&[*m1, *m2], 0, 2)?;
                in_range("offset hour", offset_hour, 0, 23)?;
                in_range("offset minute", offset_minute, 0, 59)?;
                let magnitude = i64::from(offset_hour * 3600 + offset_minute * 60);
                (if *sign == b'-' { -magnitude } else { magnitude }, true)
            }
            _ => return Err(TimestampError::Syntax),
        };

        in_range("month", month, 1, 12)?;
        in_range("day", day, 1, days_in_month(year, month))?;
        in_range("hour", hour, 0, 23)?;
        in_range("minute", minute, 0, 59)?;
        // RFC 3339 §5.7: second 60 is a leap second; counting it as the next minute's 00 is the
        // best whole-second reading.
        in_range("second", second, 0, 60)?;

        let local = days_from_civil(i64::from(year), month, day) * SECONDS_PER_DAY
            + i64::from(hour * 3600 + minute * 60 + second);
        // RFC 3339 §4.2: local time = UTC + offset.
        let unix_seconds = local - offset_seconds;
        if !(FIRST_SECOND..=LAST_SECOND).contains(&unix_seconds) {
            return Err(TimestampError::OutOfRange {
                field: "year",
                value: year,
            });
        }
        let zone = if has_zone {
            Zone::Written
        } else {
            Zone::Missing
        };
        Ok((Timestamp { unix_seconds }, zone))
    }

    /// The instant `seconds` after 1970-01-01T00:00:00Z, if it falls in years 0000 to 9999 (the
    /// years RFC 3339 can write).
    pub fn from_unix_seconds(seconds: i64) -> Option<Timestamp> {
        (FIRST_SECOND..=LAST_SECOND)
            .contains(&seconds)
            .then_some(Timestamp {
                unix_seconds: seconds,
            })
    }

    /// The instant `seconds` after the epoch, clamped to [`Timestamp::MIN`]..=[`Timestamp::MAX`]:
    /// for reading Unix seconds back from a store, where an older release may have written a
    /// saturated far future.
    pub const fn from_unix_seconds_saturating(seconds: i64) -> Timestamp {
        // `Ord::clamp` is not const.
        let unix_seconds = if seconds < FIRST_SECOND {
            FIRST_SECOND
        } else if seconds > LAST_SECOND {
            LAST_SECOND
        } else {
            seconds
        };
        Timestamp { unix_seconds }
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative before it).
    pub const fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// This time plus `duration` in whole seconds, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Timestamp::from_unix_seconds_saturating(self.unix_seconds.saturating_add(seconds))
    }

    /// This time minus `duration` in whole seconds, saturating at [`Timestamp::MIN`].
    pub fn saturating_sub(self, duration: Duration) -> Timestamp {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Timestamp::from_unix_seconds_saturating(self.unix_seconds.saturating_sub(seconds))
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        // Both lie in MIN..=MAX, so the difference fits an i64.
        let seconds = self.unix_seconds - earlier.unix_seconds;
        Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
    }

    /// The UTC day this time falls in, as days since 1970-01-01 (negative before it): the key
    /// per-day summaries group by.
    pub fn day_number(self) -> i64 {
        self.unix_seconds.div_euclid(SECONDS_PER_DAY)
    }

    /// 00:00:00Z of the UTC day this time falls in.
    pub fn start_of_day(self) -> Timestamp {
        Timestamp {
            unix_seconds: self.day_number() * SECONDS_PER_DAY,
        }
    }

    /// 00:00:00Z of day `day_number` (days since 1970-01-01), if it is within years 0000 to 9999.
    pub fn from_day_number(day_number: i64) -> Option<Timestamp> {
        Timestamp::from_unix_seconds(day_number.checked_mul(SECONDS_PER_DAY)?)
    }

    /// The UTC calendar date this time falls in.
    pub fn utc_date(self) -> UtcDate {
        UtcDate {
            day_number: self.day_number(),
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC: `2026-12-06T21:59:27Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let second_of_day = self.unix_seconds.rem_euclid(SECONDS_PER_DAY);
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.utc_date(),
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// As [`Timestamp::parse`].
    fn from_str(text: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse(text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A calendar day in UTC (RFC 3339 `full-date`, `2026-12-06`): what per-day summaries are keyed
/// and labelled by, and what `--since DATE` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate {
    day_number: i64,
}

impl UtcDate {
    /// Reads an RFC 3339 `full-date` (`YYYY-MM-DD`, RFC 3339 §5.6).
    pub fn parse(text: &str) -> Result<UtcDate, TimestampError> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 {
            return Err(TimestampError::Syntax);
        }
        let year = digits(bytes, 0, 4)?;
        separator(bytes, 4, b'-')?;
        let month = digits(bytes, 5, 2)?;
        separator(bytes, 7, b'-')?;
        let day = digits(bytes, 8, 2)?;
        in_range("month", month, 1, 12)?;
        in_range("day", day, 1, days_in_month(year, month))?;
        Ok(UtcDate {
            day_number: days_from_civil(i64::from(year), month, day),
        })
    }

    /// The day `day_number` days after 1970-01-01, if it is within years 0000 to 9999.
    pub fn from_day_number(day_number: i64) -> Option<UtcDate> {
        Timestamp::from_day_number(day_number).map(Timestamp::utc_date)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn day_number(self) -> i64 {
        self.day_number
    }

    /// 00:00:00Z of this day.
    pub fn start(self) -> Timestamp {
        Timestamp {
            unix_seconds: self.day_number * SECONDS_PER_DAY,
        }
    }

    /// 23:59:59Z of this day: the end a one-day report's `date-range` is written with
    /// (RFC 8460 §4.4's example).
    pub fn last_second(self) -> Timestamp {
        Timestamp {
            unix_seconds: self.day_number * SECONDS_PER_DAY + SECONDS_PER_DAY - 1,
        }
    }
}

impl fmt::Display for UtcDate {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.day_number);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl FromStr for UtcDate {
    type Err = TimestampError;

    /// As [`UtcDate::parse`].
    fn from_str(text: &str) -> Result<UtcDate, TimestampError> {
        UtcDate::parse(text)
    }
}

impl Serialize for UtcDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A source of the current time. Everything that asks "what time is it" (cache expiry, negative
/// caching, fetch backoff, retention, `received_at`) reads one, so tests move time with a
/// [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// A clock that only moves when told to: for tests, simulations and replaying a scenario.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock(AtomicI64::new(start.unix_seconds))
    }

    /// Moves the clock forward (saturating at [`Timestamp::MAX`]).
    pub fn advance(&self, by: Duration) {
        // fetch_update with a closure that always returns Some cannot fail.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |seconds| {
                Some(
                    Timestamp {
                        unix_seconds: seconds,
                    }
                    .saturating_add(by)
                    .unix_seconds,
                )
            });
    }

    /// Sets the clock (also backwards).
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.unix_seconds, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// A clock showing the Unix epoch.
    fn default() -> ManualClock {
        ManualClock::new(Timestamp::UNIX_EPOCH)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp {
            unix_seconds: self.0.load(Ordering::SeqCst),
        }
    }
}

/// Reads `length` ASCII digits at `start`.
fn digits(bytes: &[u8], start: usize, length: usize) -> Result<u32, TimestampError> {
    let field = bytes
        .get(start..start + length)
        .ok_or(TimestampError::Syntax)?;
    field.iter().try_fold(0u32, |value, byte| {
        if byte.is_ascii_digit() {
            Ok(value * 10 + u32::from(byte - b'0'))
        } else {
            Err(TimestampError::Syntax)
        }
    })
}

fn separator(bytes: &[u8], at: usize, expected: u8) -> Result<(), TimestampError> {
    match bytes.get(at) {
        Some(byte) if *byte == expected => Ok(()),
        _ => Err(TimestampError::Syntax),
    }
}

fn in_range(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), TimestampError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(TimestampError::OutOfRange { field, value })
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    // Gregorian leap years (RFC 3339 Appendix C).
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below are Howard Hinnant's `days_from_civil` and `civil_from_days`
// (proleptic Gregorian calendar, eras of 400 years). They are written out here because one
// conversion in each direction is all the crate needs, which does not justify a date crate.

/// Days from 1970-01-01 to the given date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Counting years from March puts the leap day at the end of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01, as (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
