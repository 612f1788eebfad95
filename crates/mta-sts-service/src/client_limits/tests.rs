use proptest::prelude::*;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn retry_after(result: Result<(), ServiceError>) -> Duration {
    match result {
        Err(ServiceError::RateLimited { retry_after }) => retry_after,
        other => panic!("expected a rate limit, got {other:?}"),
    }
}

#[test]
fn a_burst_then_one_token_per_interval() {
    let limiter = RateLimiter::per_minute(2);
    let t0 = Instant::now();
    let client = ip("198.51.100.7");
    assert!(limiter.take(client, t0).is_ok());
    assert!(limiter.take(client, t0).is_ok());
    // Two a minute: the next token comes 30 s after the bucket ran dry.
    let wait = retry_after(limiter.take(client, t0));
    assert!(
        wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    let wait = retry_after(limiter.take(client, t0 + Duration::from_secs(10)));
    assert!(wait <= Duration::from_secs(20), "{wait:?}");
    assert!(limiter.take(client, t0 + Duration::from_secs(31)).is_ok());
    // Another client has its own bucket.
    assert!(limiter.take(ip("198.51.100.8"), t0).is_ok());
}

#[test]
fn the_refill_never_goes_past_the_burst() {
    let limiter = RateLimiter::new(3.0, 1.0, 10);
    let t0 = Instant::now();
    let client = ip("192.0.2.9");
    // An hour of quiet refills three tokens, not 3,600.
    let later = t0 + Duration::from_secs(3600);
    assert!(limiter.take(client, t0).is_ok());
    for _ in 0..3 {
        assert!(limiter.take(client, later).is_ok());
    }
    assert!(limiter.take(client, later).is_err());
    // One second on: exactly one more.
    let next = later + Duration::from_secs(1);
    assert!(limiter.take(client, next).is_ok());
    assert!(limiter.take(client, next).is_err());
}

#[test]
fn a_rate_of_almost_nothing_says_so_without_overflowing() {
    let limiter = RateLimiter::new(1.0, 0.0, 10);
    let t0 = Instant::now();
    let client = ip("192.0.2.7");
    assert!(limiter.take(client, t0).is_ok());
    assert_eq!(retry_after(limiter.take(client, t0)), Duration::MAX);
}

#[test]
fn ipv6_clients_share_a_bucket_per_64() {
    let limiter = RateLimiter::per_minute(1);
    let t0 = Instant::now();
    assert!(limiter.take(ip("2001:db8:1:2::1"), t0).is_ok());
    assert!(limiter.take(ip("2001:db8:1:2:ffff::9"), t0).is_err());
    assert!(limiter.take(ip("2001:db8:1:3::1"), t0).is_ok());
    // An IPv4-mapped address is the IPv4 client.
    assert!(limiter.take(ip("192.0.2.1"), t0).is_ok());
    assert!(limiter.take(ip("::ffff:192.0.2.1"), t0).is_err());
}

#[test]
fn the_table_stays_bounded() {
    let limiter = RateLimiter::per_minute(10);
    let t0 = Instant::now();
    let client = |n: usize| IpAddr::from(u32::try_from(n).expect("small").to_be_bytes());
    for n in 0..DEFAULT_MAX_CLIENTS {
        assert!(limiter.take(client(n), t0).is_ok());
    }
    // All active: a newcomer pushes out the one seen longest ago, not itself.
    assert!(limiter.take(client(DEFAULT_MAX_CLIENTS), t0).is_ok());
    assert_eq!(limiter.len(), DEFAULT_MAX_CLIENTS);
    // A minute on, every bucket has refilled: they are all dropped as idle.
    let later = t0 + Duration::from_secs(61);
    assert!(limiter.take(client(DEFAULT_MAX_CLIENTS + 1), later).is_ok());
    assert_eq!(limiter.len(), 1);
}

#[test]
fn a_busy_client_waits_and_others_are_served() {
    let cap = ClientConcurrency::new(2, 2);
    let a = ip("192.0.2.1");
    let first = cap.acquire(a).expect("first");
    let _second = cap.acquire(a).expect("second");
    assert!(matches!(
        cap.acquire(a),
        Err(ServiceError::ClientBusy { limit: 2 })
    ));
    // The same /64 is the same client.
    let b = cap.acquire(ip("2001:db8::1")).expect("another client");
    let _same_64 = cap
        .acquire(ip("2001:db8::2:1"))
        .expect("one client may have two");
    assert!(matches!(
        cap.acquire(ip("192.0.2.3")),
        Err(ServiceError::TooManyClients { limit: 2 })
    ));
    drop(first);
    let _third = cap.acquire(a).expect("a permit was given back");
    drop(b);
    assert_eq!(cap.clients(), 2, "the /64 still has one in progress");
}

proptest! {
    /// Whatever the addresses and the order, the rate table never holds more than its bound,
    /// and the concurrency table holds exactly the clients with a permit.
    #[test]
    fn tables_stay_within_their_bounds(
        steps in proptest::collection::vec((any::<u32>(), 0u64..120, any::<bool>()), 1..300),
        max_clients in 1usize..8,
    ) {
        let limiter = RateLimiter::new(2.0, 0.5, max_clients);
        let cap = ClientConcurrency::new(1, max_clients);
        let t0 = Instant::now();
        let mut permits: Vec<ClientPermit> = Vec::new();
        for (address, second, release) in steps {
            let client = IpAddr::from((address % 16).to_be_bytes());
            let _ = limiter.take(client, t0 + Duration::from_secs(second));
            prop_assert!(limiter.len() <= max_clients);
            if release && !permits.is_empty() {
                drop(permits.remove(0));
            } else if let Ok(permit) = cap.acquire(client) {
                permits.push(permit);
            }
            prop_assert!(cap.clients() <= max_clients);
            prop_assert_eq!(cap.clients(), permits.len());
        }
    }
}
