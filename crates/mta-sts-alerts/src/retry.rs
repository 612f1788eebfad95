//! Retries: exponential backoff with jitter. After the n-th failed attempt the wait is
//! `initial × 2^(n-1)`, capped at `max`, of which a random part up to a half is taken off
//! ("equal jitter"), so many servers retrying one receiver do not come back in lock-step; a
//! receiver's `Retry-After` lengthens the wait (never beyond `max`).

use std::time::Duration;

use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Deserialize;

/// How a channel retries a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; then the alert is given up with a log line.
    pub attempts: u32,
    /// The wait after the first failure, in milliseconds.
    pub initial_backoff_ms: u64,
    /// The longest wait, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 8,
            initial_backoff_ms: 5_000,
            max_backoff_ms: 600_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1 for the first), with `jitter` in `0..=1`
    /// choosing how much of the jittered half is taken off, and the receiver's `Retry-After`.
    pub fn delay(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let max = Duration::from_millis(self.max_backoff_ms);
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let full = Duration::from_millis(self.initial_backoff_ms)
            .saturating_mul(doubling)
            .min(max);
        let jittered = full - full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        match retry_after {
            Some(asked) => jittered.max(asked.min(max)),
            None => jittered,
        }
    }

    /// [`delay`](Self::delay) with jitter from the system's random source.
    pub fn jittered_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let mut bytes = [0u8; 4];
        // Without randomness the wait is the longest of the range: never shorter than asked.
        let jitter = match SystemRandom::new().fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
            Err(_) => 0.0,
        };
        self.delay(attempt, jitter, retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 10,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 10_000,
        }
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let waits: Vec<u64> = (1..=6)
            .map(|n| policy().delay(n, 0.0, None).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    }

    #[test]
    fn jitter_takes_off_at_most_half() {
        assert_eq!(policy().delay(2, 1.0, None), Duration::from_millis(1_000));
        assert_eq!(policy().delay(2, 0.5, None), Duration::from_millis(1_500));
        // Out-of-range jitter is clamped, never negative or longer.
        assert_eq!(policy().delay(2, 7.0, None), Duration::from_millis(1_000));
        assert_eq!(policy().delay(2, -1.0, None), Duration::from_millis(2_000));
    }

    #[test]
    fn retry_after_lengthens_but_never_past_the_cap() {
        let asked = Some(Duration::from_secs(5));
        assert_eq!(policy().delay(1, 0.0, asked), Duration::from_secs(5));
        let too_long = Some(Duration::from_secs(3_600));
        assert_eq!(policy().delay(1, 0.0, too_long), Duration::from_secs(10));
        // A shorter Retry-After does not shorten the backoff.
        let short = Some(Duration::from_millis(10));
        assert_eq!(policy().delay(3, 0.0, short), Duration::from_secs(4));
    }

    #[test]
    fn huge_attempt_numbers_saturate() {
        assert_eq!(policy().delay(u32::MAX, 0.0, None), Duration::from_secs(10));
    }

    #[test]
    fn system_jitter_stays_in_range() {
        for _ in 0..100 {
            let wait = policy().jittered_delay(3, None);
            assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_secs(4));
        }
    }
}
