//! Per-client rate limiting: one token bucket per client address.
//!
//! Written by hand rather than taken from a crate: a map behind a mutex and forty lines of
//! arithmetic are all a checker needs, and a small map we bound ourselves beats a dependency
//! whose generality (keyed quotas, clocks, jitter) this service would not use.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Clients remembered at most. Beyond this, idle entries go first, then the one seen longest
/// ago, so a flood from many addresses costs bounded memory (the global concurrency cap still
/// holds for them).
const MAX_CLIENTS: usize = 10_000;

/// A token bucket per client: `per_minute` checks in a burst, refilled at `per_minute` a minute.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    capacity: f64,
    per_second: f64,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` checks a minute to each client (at least 1).
    pub(crate) fn new(per_minute: u32) -> RateLimiter {
        let capacity = f64::from(per_minute.max(1));
        RateLimiter {
            capacity,
            per_second: capacity / 60.0,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` at `now`; otherwise, how long until one is there.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = bucket_key(client);
        // A poisoned map only means another request panicked mid-update; the buckets are still
        // numbers, so keep limiting with them.
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
            self.evict(&mut clients, now);
        }
        let bucket = clients.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        *bucket = self.refilled(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * self.per_second).min(self.capacity),
            updated: now,
        }
    }

    fn evict(&self, clients: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        // A bucket that has refilled is the same as no entry: dropping it forgets nothing.
        clients.retain(|_, bucket| self.refilled(*bucket, now).tokens < self.capacity);
        if clients.len() >= MAX_CLIENTS {
            let oldest = clients
                .iter()
                .min_by_key(|(_, bucket)| bucket.updated)
                .map(|(key, _)| *key);
            if let Some(key) = oldest {
                clients.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The bucket an address counts against. An IPv6 subscriber is usually given a whole /64, so
/// buckets per address would let one client rotate through fresh addresses for free.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn a_burst_then_one_token_per_interval() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        let client = ip("198.51.100.7");
        assert_eq!(limiter.take(client, t0), Ok(()));
        assert_eq!(limiter.take(client, t0), Ok(()));
        // Two a minute: the next token comes 30 s after the bucket ran dry.
        let wait = limiter.take(client, t0).expect_err("bucket is empty");
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limiter.take(client, t0 + Duration::from_secs(10)).is_err());
        assert_eq!(limiter.take(client, t0 + Duration::from_secs(31)), Ok(()));
        // Another client has its own bucket.
        assert_eq!(limiter.take(ip("198.51.100.8"), t0), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        assert_eq!(limiter.take(ip("2001:db8:1:2::1"), t0), Ok(()));
        assert!(limiter.take(ip("2001:db8:1:2:ffff::9"), t0).is_err());
        assert_eq!(limiter.take(ip("2001:db8:1:3::1"), t0), Ok(()));
        // An IPv4-mapped address is the IPv4 client.
        assert_eq!(limiter.take(ip("192.0.2.1"), t0), Ok(()));
        assert!(limiter.take(ip("::ffff:192.0.2.1"), t0).is_err());
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        let client = |n: usize| IpAddr::from(u32::try_from(n).expect("small").to_be_bytes());
        for n in 0..MAX_CLIENTS {
            assert_eq!(limiter.take(client(n), t0), Ok(()));
        }
        // All active: a newcomer pushes out the one seen longest ago, not itself.
        assert_eq!(limiter.take(client(MAX_CLIENTS), t0), Ok(()));
        assert_eq!(limiter.len(), MAX_CLIENTS);
        // A minute on, every bucket has refilled: they are all dropped as idle.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(limiter.take(client(MAX_CLIENTS + 1), later), Ok(()));
        assert_eq!(limiter.len(), 1);
    }
}
