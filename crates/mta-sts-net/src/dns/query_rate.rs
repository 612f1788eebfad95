//! A limit on the DNS queries a [`Dns`](super::Dns) sends per second, shared by all its clones
//! (a scan's checks run on clones of one client, and a resolver sees their sum).
//!
//! Written here: the rate limiter of mta-sts-service sits above this crate in the layering (and
//! keys its buckets by client), and `governor` is neither in the tree nor in the proven
//! dependencies. What a resolver needs is small: a token bucket holding one token, i.e. evenly
//! spaced queries, kept as the time the next query may go (reserved before waiting, so tasks
//! waiting at once get successive slots rather than all waking together).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// At most one query per `spacing`, on average over any stretch of time.
#[derive(Debug)]
pub(super) struct QueryRate {
    spacing: Duration,
    /// When the next query may be sent; `None` before the first.
    next: Mutex<Option<Instant>>,
}

impl QueryRate {
    /// A limit of `per_second` queries a second (above 0, finite).
    pub(super) fn new(per_second: f64) -> Result<QueryRate, Error> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(Error::Config(format!(
                "{per_second} is not a DNS query rate: give a number of queries per second \
                 above 0"
            )));
        }
        let spacing = Duration::try_from_secs_f64(1.0 / per_second).map_err(|_| {
            Error::Config(format!(
                "{per_second} DNS queries per second is too low a rate to keep"
            ))
        })?;
        Ok(QueryRate {
            spacing,
            next: Mutex::new(None),
        })
    }

    /// Waits until `queries` more queries may be sent (one lookup may send several: A and
    /// AAAA). A caller that stops waiting (a timed-out check) leaves its slot unused, which
    /// only makes the rate lower.
    pub(super) async fn acquire(&self, queries: u32) {
        let slot = self.reserve(Instant::now(), queries);
        tokio::time::sleep_until(slot).await;
    }

    /// Reserves the next slot for `queries` queries asked for at `now`: the slot starts when
    /// the previous reservation ends, or now if that is past (an idle limit saves up no burst).
    fn reserve(&self, now: Instant, queries: u32) -> Instant {
        // A poisoned lock only means a panic elsewhere between two plain assignments.
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let start = next.map_or(now, |next| next.max(now));
        *next = Some(start + self.spacing.saturating_mul(queries));
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_asked_for_at_once_get_evenly_spaced_slots() {
        let rate = QueryRate::new(5.0).expect("a rate");
        let now = Instant::now();
        let slots: Vec<Duration> = (0..10).map(|_| rate.reserve(now, 1) - now).collect();
        let expected: Vec<Duration> = (0..10).map(|n| Duration::from_millis(200) * n).collect();
        assert_eq!(slots, expected);
        // A lookup of two queries takes two slots.
        assert_eq!(rate.reserve(now, 2) - now, Duration::from_millis(2000));
        assert_eq!(rate.reserve(now, 1) - now, Duration::from_millis(2400));
    }

    #[test]
    fn an_idle_limit_saves_up_no_burst() {
        let rate = QueryRate::new(10.0).expect("a rate");
        let now = Instant::now();
        rate.reserve(now, 1);
        let later = now + Duration::from_secs(5);
        let slots: Vec<Duration> = (0..3).map(|_| rate.reserve(later, 1) - later).collect();
        assert_eq!(slots, [0, 100, 200].map(Duration::from_millis).to_vec());
    }

    #[tokio::test]
    async fn waiting_callers_are_held_to_the_rate() {
        // 50 a second: ten queries asked for at once cannot all be sent before 180 ms.
        let rate = QueryRate::new(50.0).expect("a rate");
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let rate = std::sync::Arc::new(rate);
        for _ in 0..10 {
            let rate = std::sync::Arc::clone(&rate);
            tasks.spawn(async move { rate.acquire(1).await });
        }
        while tasks.join_next().await.is_some() {}
        assert!(started.elapsed() >= Duration::from_millis(180));
    }

    #[test]
    fn rates_that_are_not_above_zero_are_refused() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            assert!(QueryRate::new(bad).is_err(), "{bad}");
        }
    }
}
