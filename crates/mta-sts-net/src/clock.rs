//! The system's wall clock, behind the core's [`Clock`] trait: the one place the workspace reads
//! it (the core stays pure, and tests hand engines a [`mta_sts_core::time::ManualClock`]).

use std::time::{SystemTime, UNIX_EPOCH};

use mta_sts_core::time::{Clock, Timestamp};

/// The system's wall clock, in whole UTC seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A clock set before 1970 reads as the epoch: every cached entry then looks fresh to it
        // rather than the daemon failing.
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            });
        Timestamp::from_unix_seconds_saturating(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_time_after_this_code_was_written() {
        // 2026-12-06: a system clock that reads earlier is broken or this is a different machine.
        assert!(SystemClock.now().unix_seconds() > 1_796_515_200);
        assert!(SystemClock.now() < Timestamp::MAX);
    }
}
