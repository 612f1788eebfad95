//! Per-client limits: a token bucket per client ([`RateLimiter`]) and a cap on each client's
//! requests in progress ([`ClientConcurrency`]). A client is an IPv4 address or an IPv6 /64
//! (see [`client_key`]).
//!
//! Written by hand rather than taken from a crate: a map behind a mutex and some arithmetic are
//! all a server needs, and a map we bound ourselves beats a dependency whose generality (keyed
//! quotas, clocks, jitter) these services would not use. Both tables are bounded, so a flood
//! from many source addresses costs bounded memory.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::ServiceError;

/// Clients a [`RateLimiter`] remembers by default.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// The key a client's address counts under. An IPv6 subscriber is usually given a whole /64,
/// so keys per address would let one client rotate through fresh addresses for free; an
/// IPv4-mapped IPv6 address is the IPv4 client.
pub fn client_key(ip: IpAddr) -> IpAddr {
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

/// A poisoned table only means a request panicked mid-update; every entry is still a number,
/// so keep limiting with them.
fn lock<T>(table: &Mutex<T>) -> MutexGuard<'_, T> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A token bucket per client: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    max_clients: usize,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_minute` requests a minute for each client (at least 1), all of them at once if the
    /// client was quiet for a minute; at most [`DEFAULT_MAX_CLIENTS`] clients remembered.
    pub fn per_minute(per_minute: u32) -> RateLimiter {
        let capacity = f64::from(per_minute.max(1));
        RateLimiter::new(capacity, capacity / 60.0, DEFAULT_MAX_CLIENTS)
    }

    /// `burst` requests at once (at least 1), refilled at `per_second` (more than 0); at most
    /// `max_clients` clients remembered (at least 1): beyond that, the clients whose buckets
    /// have refilled are forgotten (forgetting them changes nothing), then the one seen
    /// longest ago.
    pub fn new(burst: f64, per_second: f64, max_clients: usize) -> RateLimiter {
        RateLimiter {
            capacity: burst.max(1.0),
            per_second: if per_second > 0.0 {
                per_second
            } else {
                f64::MIN_POSITIVE
            },
            max_clients: max_clients.max(1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` at `now` (the clock is the caller's, so tests choose it);
    /// [`ServiceError::RateLimited`] says how long until one is there.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), ServiceError> {
        let key = client_key(client);
        let mut clients = lock(&self.clients);
        if clients.len() >= self.max_clients && !clients.contains_key(&key) {
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
            Err(ServiceError::RateLimited {
                // A rate too slow for a Duration to hold the wait: as good as never.
                retry_after: Duration::try_from_secs_f64((1.0 - bucket.tokens) / self.per_second)
                    .unwrap_or(Duration::MAX),
            })
        }
    }

    /// Clients remembered now.
    pub fn len(&self) -> usize {
        lock(&self.clients).len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * self.per_second).min(self.capacity),
            updated: now.max(bucket.updated),
        }
    }

    fn evict(&self, clients: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        // A bucket that has refilled is the same as no entry: dropping it forgets nothing.
        clients.retain(|_, bucket| self.refilled(*bucket, now).tokens < self.capacity);
        while clients.len() >= self.max_clients {
            let oldest = clients
                .iter()
                .min_by_key(|(_, bucket)| bucket.updated)
                .map(|(key, _)| *key);
            match oldest {
                Some(key) => clients.remove(&key),
                None => break,
            };
        }
    }
}

/// A cap on the requests each client has in progress at once, over a table of at most
/// `max_clients` clients (only clients with a request in progress are in it). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientConcurrency {
    per_client: usize,
    max_clients: usize,
    in_progress: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One request in progress for a client (from [`ClientConcurrency::acquire`]); dropping it
/// ends the request.
#[derive(Debug)]
#[must_use = "the request counts as in progress only while this is kept"]
pub struct ClientPermit {
    key: IpAddr,
    in_progress: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientConcurrency {
    /// At most `per_client` requests in progress for each client, and clients with a request in
    /// progress tracked for at most `max_clients` (both at least 1).
    pub fn new(per_client: usize, max_clients: usize) -> ClientConcurrency {
        ClientConcurrency {
            per_client: per_client.max(1),
            max_clients: max_clients.max(1),
            in_progress: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// One more request in progress for `client`, or [`ServiceError::ClientBusy`] when it has
    /// `per_client` already, or [`ServiceError::TooManyClients`] when `max_clients` others have
    /// requests in progress.
    pub fn acquire(&self, client: IpAddr) -> Result<ClientPermit, ServiceError> {
        let key = client_key(client);
        let mut table = lock(&self.in_progress);
        let full = table.len() >= self.max_clients;
        match table.get_mut(&key) {
            Some(count) if *count >= self.per_client => {
                return Err(ServiceError::ClientBusy {
                    limit: self.per_client,
                });
            }
            Some(count) => *count += 1,
            None if full => {
                return Err(ServiceError::TooManyClients {
                    limit: self.max_clients,
                });
            }
            None => {
                table.insert(key, 1);
            }
        }
        Ok(ClientPermit {
            key,
            in_progress: Arc::clone(&self.in_progress),
        })
    }

    /// Clients with a request in progress.
    pub fn clients(&self) -> usize {
        lock(&self.in_progress).len()
    }
}

impl Drop for ClientPermit {
    fn drop(&mut self) {
        let mut table = lock(&self.in_progress);
        if let Some(count) = table.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                table.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
