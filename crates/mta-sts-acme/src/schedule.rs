//! When to renew, when to warn and how long to back off: pure arithmetic over timestamps, so
//! it is tested without a clock or a CA.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use mta_sts_core::time::Timestamp;

/// The instant `fraction` of the way from `not_before` to `not_after` (clamped to 0..=1):
/// with 2/3, when a certificate is renewed; with 5/6, when one not yet renewed is warned about.
pub fn point_in_lifetime(not_before: Timestamp, not_after: Timestamp, fraction: f64) -> Timestamp {
    let lifetime = not_after.duration_since(not_before);
    not_before.saturating_add(lifetime.mul_f64(fraction.clamp(0.0, 1.0)))
}

/// The wait before retry number `failures` (1 after the first failure): `first` doubled per
/// further failure, at most `max`, then scaled by `jitter` (0..1, drawn per attempt) into its
/// upper half, so servers that failed together do not retry together.
pub fn backoff(failures: u32, first: Duration, max: Duration, jitter: f64) -> Duration {
    let doubled = first.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    doubled.min(max).mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A number in 0..1 that differs per call: the jitter of [`backoff`]. The standard library's
/// hasher is seeded randomly per `RandomState`, which is all the randomness jitter needs (no
/// extra dependency for it).
pub fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    // 53 bits: exactly representable in an f64.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests;
