//! Time, injected: cache expiry, negative caching and fetch backoff all read a [`Clock`], so tests
//! move time forward with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// A point in time, in whole seconds since the Unix epoch: the resolution of `max_age` (RFC 8461
/// §3.2) and of everything the cache stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The time `secs` seconds after the Unix epoch.
    pub const fn from_unix_secs(secs: u64) -> Timestamp {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn as_unix_secs(self) -> u64 {
        self.0
    }

    /// This time plus `duration` (whole seconds; saturating at the far future).
    pub fn plus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration.as_secs()))
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC (`2026-12-06T21:59:27Z`), as every time a person reads is written. A
    /// time past the year 9999 (a saturated far future) has no RFC 3339 form: it reads as the
    /// last second RFC 3339 can write.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LAST_WRITABLE: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let seconds = i64::try_from(self.0).map_or(LAST_WRITABLE, |s| s.min(LAST_WRITABLE));
        match mta_sts_core::report::Timestamp::from_unix_seconds(seconds) {
            Some(time) => write!(f, "{time}"),
            // Unreachable for 0..=LAST_WRITABLE; the raw count is still a true statement.
            None => write!(f, "{} s after 1970-01-01T00:00:00Z", self.0),
        }
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A clock set before 1970 reads as the epoch: every cached entry then looks fresh to it
        // rather than the daemon failing.
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Timestamp(secs)
    }
}

/// A clock that only moves when told to: for tests, simulations and replaying a scenario.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock(AtomicU64::new(start.0))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// Sets the clock (also backwards).
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix_secs(100);
        assert_eq!(t.plus(Duration::from_secs(5)).as_unix_secs(), 105);
        assert_eq!(
            Timestamp::from_unix_secs(u64::MAX).plus(Duration::from_secs(5)),
            Timestamp::from_unix_secs(u64::MAX)
        );
        assert_eq!(
            t.since(Timestamp::from_unix_secs(40)),
            Duration::from_secs(60)
        );
        assert_eq!(Timestamp::from_unix_secs(40).since(t), Duration::ZERO);
    }

    #[test]
    fn displays_as_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_unix_secs(1_796_591_023).to_string(),
            "2026-12-06T21:03:43Z"
        );
        assert_eq!(
            Timestamp::from_unix_secs(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_secs(u64::MAX).to_string(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_000));
        assert_eq!(clock.now().as_unix_secs(), 1_000);
        clock.advance(Duration::from_secs(301));
        assert_eq!(clock.now().as_unix_secs(), 1_301);
        clock.set(Timestamp::from_unix_secs(7));
        assert_eq!(clock.now().as_unix_secs(), 7);
        assert!(SystemClock.now().as_unix_secs() > 1_700_000_000);
    }
}
