//! The Redis cache against a real `redis-server` on loopback: one server per test, shared by
//! several caches and daemons the way a fleet of MTAs shares one.
//!
//! Redis expires keys by its own wall clock, so these tests start their manual clock at the
//! real time (not [`crate::support::START`]): entries must expire in Redis when they expire for
//! the daemon.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mta_sts_lab::Lab;
use mta_sts_policyd::cache::{CacheEntry, CacheError, CachedPolicy, NegativeEntry, NegativeReason};
use mta_sts_policyd::{
    CacheKind, Clock as _, Daemon, Event, ManualClock, Origin, PolicyCache, PolicydError,
    RedisCache, RedisUrl, SystemClock, Timestamp,
};

use crate::support::{daemon, lab_config, scenarios};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

const HEALTHY_REPLY: &str = "OK secure match=mx.healthy-enforce.test servername=hostname";

/// A `redis-server` of our own on 127.0.0.1, killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one, or returns `None` (the test is skipped) when redis-server is not installed
    /// and `CI` is not set; on CI a missing server is a failure.
    fn start() -> Option<RedisServer> {
        if !Path::new(REDIS_SERVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {REDIS_SERVER} is missing: install the redis-server package"
            );
            eprintln!("skipped: {REDIS_SERVER} is not installed (apt install redis-server)");
            return None;
        }
        // The free port may be taken again between the probe and redis-server's bind: retry.
        for _ in 0..10 {
            let port = free_port();
            let mut child = Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait().expect("redis-server status").is_some() {
                    // It exited: most likely the port was taken.
                    break;
                }
                if ping(port) {
                    return Some(RedisServer { child, port });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("redis-server on port {port} did not answer PING within 10 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    fn url(&self) -> RedisUrl {
        format!("redis://127.0.0.1:{}/0", self.port)
            .parse()
            .expect("a Redis URL")
    }

    /// A cache of its own over this server, as a second daemon would have.
    fn cache(&self) -> Arc<dyn PolicyCache> {
        Arc::new(RedisCache::open(&self.url(), Duration::from_secs(2)).expect("Redis cache"))
    }

    /// A plain client connection, to look at and tamper with what the cache stored.
    fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url().as_str())
            .and_then(|client| client.get_connection())
            .expect("raw Redis connection")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

const BODY: &str = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";

fn policy_entry(at: Timestamp) -> CacheEntry {
    CacheEntry {
        policy: Some(CachedPolicy::new("20260101T000000", BODY, at).expect("valid policy")),
        checked_at: Some(at),
        negative: None,
        backoff: None,
    }
}

fn negative_entry(since: Timestamp, until: Timestamp) -> CacheEntry {
    CacheEntry {
        negative: Some(NegativeEntry {
            reason: NegativeReason::NoRecord,
            since,
            until,
        }),
        checked_at: Some(since),
        ..CacheEntry::default()
    }
}

async fn domains(cache: &dyn PolicyCache) -> Vec<String> {
    let mut domains: Vec<String> = cache
        .scan()
        .await
        .expect("scan")
        .into_iter()
        .map(|(domain, _)| domain)
        .collect();
    domains.sort();
    domains
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_round_trip_between_caches_sharing_one_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (first, second) = (server.cache(), server.cache());
    let now = SystemClock.now();
    assert_eq!(first.get("example.com").await.expect("get"), None);
    first
        .put("example.com", policy_entry(now))
        .await
        .expect("put");
    // The other cache (another daemon) reads what this one wrote.
    assert_eq!(
        second.get("example.com").await.expect("get"),
        Some(policy_entry(now))
    );
    let later = now.plus(Duration::from_secs(60));
    second
        .put("example.com", policy_entry(later))
        .await
        .expect("overwrite");
    assert_eq!(
        first.get("example.com").await.expect("get"),
        Some(policy_entry(later))
    );
    let negative = negative_entry(now, now.plus(Duration::from_secs(300)));
    first
        .put("none.example", negative.clone())
        .await
        .expect("put");
    assert_eq!(
        second.get("none.example").await.expect("get"),
        Some(negative)
    );

    // One key per domain under the prefix, JSON with a schema version, expiring with the entry.
    let mut raw = server.raw();
    let stored: String = redis::cmd("GET")
        .arg("mta-sts:policy:example.com")
        .query(&mut raw)
        .expect("raw GET");
    assert!(stored.starts_with(r#"{"version":1,"#), "{stored}");
    let expires: u64 = redis::cmd("EXPIRETIME")
        .arg("mta-sts:policy:example.com")
        .query(&mut raw)
        .expect("EXPIRETIME");
    assert_eq!(expires, later.as_unix_secs() + 86_400);
    // Keys outside the prefix are not the cache's.
    redis::cmd("SET")
        .arg("someone-else:example.com")
        .arg("not ours")
        .query::<()>(&mut raw)
        .expect("raw SET");

    assert_eq!(domains(&*second).await, ["example.com", "none.example"]);
    first.delete("none.example").await.expect("delete");
    assert_eq!(second.get("none.example").await.expect("get"), None);
    // An entry with nothing that can hold is not kept (there is nothing to expire it by).
    first
        .put("empty.example", CacheEntry::default())
        .await
        .expect("put");
    assert_eq!(second.get("empty.example").await.expect("get"), None);
    // An entry already dead is dropped by Redis at once.
    let dead = negative_entry(
        Timestamp::from_unix_secs(1_000),
        Timestamp::from_unix_secs(1_300),
    );
    first.put("dead.example", dead).await.expect("put");
    assert_eq!(second.get("dead.example").await.expect("get"), None);

    // Enough keys that SCAN needs several steps.
    for n in 0..1_200 {
        first
            .put(&format!("d{n}.example"), policy_entry(now))
            .await
            .expect("put");
    }
    let all = domains(&*second).await;
    assert_eq!(all.len(), 1_201, "each domain once");
    assert!(
        all.iter()
            .all(|d| d.ends_with(".example") || d == "example.com")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_forgets_an_entry_when_it_expires() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let cache = server.cache();
    // Whole seconds, like every cache timestamp: the deadline is between 1 and 2 s ahead.
    let since = SystemClock.now();
    let until = since.plus(Duration::from_secs(2));
    let entry = negative_entry(since, until);
    cache
        .put("short.example", entry.clone())
        .await
        .expect("put");
    assert_eq!(cache.get("short.example").await.expect("get"), Some(entry));
    let mut raw = server.raw();
    let expires: u64 = redis::cmd("EXPIRETIME")
        .arg("mta-sts:policy:short.example")
        .query(&mut raw)
        .expect("EXPIRETIME");
    assert_eq!(expires, until.as_unix_secs());
    // The one sleep: Redis keeps its own clock. Half a second past the deadline.
    let deadline = UNIX_EPOCH + Duration::from_secs(until.as_unix_secs());
    let wait = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        + Duration::from_millis(500);
    tokio::time::sleep(wait).await;
    assert_eq!(cache.get("short.example").await.expect("get"), None);
    let exists: u32 = redis::cmd("EXISTS")
        .arg("mta-sts:policy:short.example")
        .query(&mut raw)
        .expect("EXISTS");
    assert_eq!(exists, 0);
    assert!(domains(&*cache).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_answers_from_what_the_first_fetched() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let lab = Lab::start_with(scenarios(), 0).await.expect("lab starts");
    let mut config = lab_config(&lab);
    config.cache = CacheKind::Redis(server.url());
    let clock = Arc::new(ManualClock::new(SystemClock.now()));

    // The first daemon's cache as the configuration builds it.
    let (first, first_source) = daemon(
        &config,
        Daemon::open_cache(&config).expect("Redis cache"),
        &clock,
    );
    let outcome = first.query("healthy-enforce.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), HEALTHY_REPLY);
    assert_eq!(outcome.origin, Some(Origin::Fetch));
    assert_eq!(first_source.fetches(), 1);

    let (second, second_source) = daemon(&config, server.cache(), &clock);
    let outcome = second.query("healthy-enforce.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), HEALTHY_REPLY);
    assert_eq!(outcome.origin, Some(Origin::Cache));
    assert_eq!(second_source.fetches(), 0, "the policy came from Redis");
    assert_eq!(second_source.txt_lookups(), 0);
    // A domain without MTA-STS, learnt by the second, is known to the first.
    second.query("sts-missing.test", "postfix").await;
    let outcome = first.query("sts-missing.test", "postfix").await;
    assert_eq!(outcome.origin, Some(Origin::Cache));
    assert_eq!(first_source.txt_lookups(), 1);

    // Redis going away costs the cache, not the answers.
    let mut events = first.subscribe();
    server.stop();
    let started = Instant::now();
    let outcome = first.query("mx-wildcard.test", "postfix").await;
    assert_eq!(
        outcome.reply.to_string(),
        "OK secure match=.mx-wildcard.test servername=hostname"
    );
    assert_eq!(outcome.origin, Some(Origin::Fetch));
    // Less than one command timeout: a refused connection fails at once, it does not wait.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let event = events.try_recv().expect("a cache failure is reported");
    assert!(
        matches!(
            event,
            Event::CacheFailed {
                operation: "get",
                ..
            }
        ),
        "{event:?}"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_at_start_is_a_clear_error() {
    // Nothing listens: refused at once.
    let url: RedisUrl = format!("redis://:s3cret@127.0.0.1:{}/0", free_port())
        .parse()
        .expect("a Redis URL");
    let config = mta_sts_policyd::Config {
        cache: CacheKind::Redis(url.clone()),
        ..mta_sts_policyd::Config::default()
    };
    let error = Daemon::open_cache(&config).expect_err("no Redis");
    assert!(
        matches!(
            error,
            PolicydError::Cache(CacheError::RedisOpen { ref url, .. }) if url.as_str().contains("s3cret")
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("cannot use the Redis cache redis://:***@127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");

    // Something accepts connections but never answers: bounded by the timeout, not forever.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url: RedisUrl = format!("redis://{}", silent.local_addr().expect("address"))
        .parse()
        .expect("a Redis URL");
    let started = Instant::now();
    let error = RedisCache::open(&url, Duration::from_millis(300)).expect_err("no answer");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        error
            .to_string()
            .contains(&format!("cannot use the Redis cache {url}")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_value_is_an_error_naming_its_key_and_is_kept() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let cache = RedisCache::open(&server.url(), Duration::from_secs(2)).expect("Redis cache");
    assert_eq!(cache.url(), &server.url());
    let key = RedisCache::key("bad.example");
    assert_eq!(key, "mta-sts:policy:bad.example");
    let mut raw = server.raw();
    for value in [&b"\xff\xfe not json"[..], br#"{"version":99}"#] {
        redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .query::<()>(&mut raw)
            .expect("raw SET");
        let error = cache.get("bad.example").await.expect_err("corrupt");
        assert!(
            matches!(&error, CacheError::RedisEntry { key: named, .. } if *named == key),
            "{error:?}"
        );
        assert!(error.to_string().contains(&key), "{error}");
        let error = cache.scan().await.expect_err("corrupt");
        assert!(matches!(error, CacheError::RedisEntry { .. }), "{error:?}");
        let kept: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut raw).expect("GET");
        assert_eq!(kept, value, "left in place");
    }

    // A daemon reads it as a miss, says so, answers, and replaces it with what it learnt.
    let lab = Lab::start_with(scenarios(), 0).await.expect("lab starts");
    let config = lab_config(&lab);
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    redis::cmd("SET")
        .arg(RedisCache::key("healthy-enforce.test"))
        .arg("garbage")
        .query::<()>(&mut raw)
        .expect("raw SET");
    let (daemon, source) = daemon(&config, Arc::new(cache.clone()), &clock);
    let mut events = daemon.subscribe();
    let outcome = daemon.query("healthy-enforce.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), HEALTHY_REPLY);
    assert_eq!(source.fetches(), 1);
    match events.try_recv() {
        Ok(Event::CacheFailed {
            operation: "get",
            error,
        }) => assert!(
            error.contains("mta-sts:policy:healthy-enforce.test"),
            "{error}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        cache
            .get("healthy-enforce.test")
            .await
            .expect("readable again")
            .is_some_and(|entry| entry.policy.is_some())
    );
    lab.shutdown().await;
}
