//! The Redis cache against a real `redis-server` on loopback: one server per test, shared by
//! several caches and daemons the way a fleet of MTAs shares one.
//!
//! Redis expires keys by its own wall clock, so these tests start their manual clock at the
//! real time (not [`crate::support::START`]): entries must expire in Redis when they expire for
//! the daemon.
//!
//! The `rediss://` tests run `redis-server` with TLS only (`--port 0 --tls-port`), with
//! certificates made by the `openssl` command for each test: a CA, a server certificate for
//! 127.0.0.1 signed by it, and a second, unrelated CA.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mta_sts_lab::Lab;
use mta_sts_policyd::cache::{CacheEntry, CacheError, CachedPolicy, NegativeEntry, NegativeReason};
use mta_sts_policyd::{
    CacheKind, Clock as _, Daemon, Event, ManualClock, Origin, PolicyCache, PolicydError,
    RedisCache, RedisUrl, SystemClock, Timestamp,
};
use mta_sts_store::test_support::skip;

use crate::support::{TempDir, daemon, lab_config, scenarios};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const OPENSSL: &str = "/usr/bin/openssl";

const HEALTHY_REPLY: &str = "OK secure match=mx.healthy-enforce.test servername=hostname";

/// A `redis-server` of our own on 127.0.0.1, killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
    tls: Option<ServerTls>,
}

/// What a TLS-only server presents, and the password it asks for.
#[derive(Clone)]
struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    /// Required by redis-server with TLS on, though unused: clients are not asked for
    /// certificates (`--tls-auth-clients no`).
    ca: PathBuf,
    password: String,
}

impl RedisServer {
    /// Starts one, or returns `None` (the test is skipped) when redis-server is not installed
    /// (a failure with `MTA_STS_REQUIRE_TOOLS=1`).
    fn start() -> Option<RedisServer> {
        RedisServer::start_with(None)
    }

    /// Starts one that speaks TLS only, presenting `tls.cert`; skipped as [`RedisServer::start`].
    fn start_tls(tls: &ServerTls) -> Option<RedisServer> {
        RedisServer::start_with(Some(tls.clone()))
    }

    fn start_with(tls: Option<ServerTls>) -> Option<RedisServer> {
        if !skip::installed(REDIS_SERVER, "redis-server") {
            return None;
        }
        // The free port may be taken again between the probe and redis-server's bind: retry.
        for _ in 0..10 {
            let port = free_port();
            if let Some(child) = spawn_redis(port, tls.as_ref()) {
                return Some(RedisServer { child, port, tls });
            }
        }
        panic!("redis-server did not start on any of 10 free ports");
    }

    /// Replaces the server by one on the same port presenting `tls.cert`, as after a
    /// certificate change or when someone else answers at the cache's address.
    fn restart_tls(&mut self, tls: &ServerTls) {
        self.stop();
        // The old server's port is free once it is reaped; redis-server binds with
        // SO_REUSEADDR, so only a rare race with another process can get in the way.
        for _ in 0..10 {
            if let Some(child) = spawn_redis(self.port, Some(tls)) {
                self.child = child;
                self.tls = Some(tls.clone());
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not start again on port {}", self.port);
    }

    fn url(&self) -> RedisUrl {
        match &self.tls {
            None => format!("redis://127.0.0.1:{}/0", self.port),
            Some(tls) => format!("rediss://:{}@127.0.0.1:{}/0", tls.password, self.port),
        }
        .parse()
        .expect("a Redis URL")
    }

    /// A cache of its own over this server, as a second daemon would have.
    fn cache(&self) -> Arc<dyn PolicyCache> {
        Arc::new(RedisCache::open(&self.url(), Duration::from_secs(2)).expect("Redis cache"))
    }

    /// A cache of its own over this TLS server, trusting the roots in `ca_file` alone.
    fn tls_cache(&self, ca_file: &Path) -> Result<RedisCache, CacheError> {
        RedisCache::open_with_ca_file(&self.url(), Some(ca_file), Duration::from_secs(2))
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

/// Starts redis-server on `port` and waits until it accepts connections; `None` if it exited
/// (most likely the port was taken).
fn spawn_redis(port: u16, tls: Option<&ServerTls>) -> Option<Child> {
    let mut command = Command::new(REDIS_SERVER);
    command.args(["--bind", "127.0.0.1"]);
    match tls {
        None => {
            command.args(["--port", &port.to_string()]);
        }
        Some(tls) => {
            // TLS only: nothing answers in clear text, so a connection that works went
            // through TLS.
            command
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-auth-clients", "no"])
                .args(["--requirepass", &tls.password]);
        }
    }
    let mut child = command
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
            return None;
        }
        // A TLS server cannot be pinged in clear text; that it accepts is enough here, the
        // cache's own PING at open goes through TLS.
        let ready = match tls {
            None => ping(port),
            Some(_) => TcpStream::connect(("127.0.0.1", port)).is_ok(),
        };
        if ready {
            return Some(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-server on port {port} did not answer within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Certificates made with the `openssl` command in a private directory.
struct Pki {
    dir: TempDir,
}

impl Pki {
    /// An empty directory, or `None` (the test is skipped) without openssl, as for redis-server.
    fn new() -> Option<Pki> {
        skip::installed(OPENSSL, "openssl").then(|| Pki {
            dir: TempDir::new("pki"),
        })
    }

    /// Runs openssl in the directory; `args` are split at spaces (file names here have none).
    fn openssl(&self, args: &str) {
        let output = Command::new(OPENSSL)
            .args(args.split_whitespace())
            .current_dir(&self.dir.0)
            .stdin(Stdio::null())
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A self-signed CA `name` (`name.pem`, `name.key`); its certificate's path.
    fn ca(&self, name: &str) -> PathBuf {
        self.openssl(&format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout {name}.key -out {name}.pem -days 2 -subj /CN=mta-sts-test-{name} \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ));
        self.dir.file(&format!("{name}.pem"))
    }

    /// A server certificate `name` for the subject alternative names `san` (openssl syntax,
    /// e.g. `IP:127.0.0.1,DNS:localhost`), signed by the CA `ca`, served with `password`.
    fn server(&self, ca: &str, name: &str, san: &str, password: &str) -> ServerTls {
        std::fs::write(
            self.dir.file(&format!("{name}.ext")),
            format!(
                "subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("extensions file");
        self.openssl(&format!(
            "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout {name}.key -out {name}.csr -subj /CN=redis.test"
        ));
        // X.509 wants serials unique per CA; several servers here share one.
        let serial = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .as_nanos();
        self.openssl(&format!(
            "x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -set_serial 0x{serial:x} \
             -days 2 -extfile {name}.ext -out {name}.pem"
        ));
        ServerTls {
            cert: self.dir.file(&format!("{name}.pem")),
            key: self.dir.file(&format!("{name}.key")),
            ca: self.dir.file(&format!("{ca}.pem")),
            password: password.to_string(),
        }
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
    let later = now.saturating_add(Duration::from_secs(60));
    second
        .put("example.com", policy_entry(later))
        .await
        .expect("overwrite");
    assert_eq!(
        first.get("example.com").await.expect("get"),
        Some(policy_entry(later))
    );
    let negative = negative_entry(now, now.saturating_add(Duration::from_secs(300)));
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
    let expires: i64 = redis::cmd("EXPIRETIME")
        .arg("mta-sts:policy:example.com")
        .query(&mut raw)
        .expect("EXPIRETIME");
    assert_eq!(expires, later.unix_seconds() + 86_400);
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
        Timestamp::from_unix_seconds_saturating(1_000),
        Timestamp::from_unix_seconds_saturating(1_300),
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
    let until = since.saturating_add(Duration::from_secs(2));
    let entry = negative_entry(since, until);
    cache
        .put("short.example", entry.clone())
        .await
        .expect("put");
    assert_eq!(cache.get("short.example").await.expect("get"), Some(entry));
    let mut raw = server.raw();
    let expires: i64 = redis::cmd("EXPIRETIME")
        .arg("mta-sts:policy:short.example")
        .query(&mut raw)
        .expect("EXPIRETIME");
    assert_eq!(expires, until.unix_seconds());
    // The one sleep: Redis keeps its own clock. Half a second past the deadline.
    let deadline =
        UNIX_EPOCH + Duration::from_secs(u64::try_from(until.unix_seconds()).expect("after 1970"));
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
    let outcome = first.query("mx-wildcard.test", "postfix").await;
    assert_eq!(
        outcome.reply.to_string(),
        "OK secure match=.mx-wildcard.test servername=hostname"
    );
    assert_eq!(outcome.origin, Some(Origin::Fetch));
    // A server that went away fails the command at once (a broken pipe, a refused
    // reconnection): the cache does not wait out its command timeout. Said by the error, not by
    // a stopwatch, which a loaded machine beats.
    let event = events.try_recv().expect("a cache failure is reported");
    match &event {
        Event::CacheFailed {
            operation: "get",
            error,
        } => assert!(
            !error.contains("no answer") && !error.contains("timed out"),
            "{error}"
        ),
        other => panic!("not a failed cache get: {other:?}"),
    }
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

const PASSWORD: &str = "s3cret-for-tls";

/// A rediss:// cache as the configuration builds it: the CA, a TLS-only server for 127.0.0.1
/// with a password, and two daemons sharing it.
#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_share_a_rediss_cache() {
    let Some(pki) = Pki::new() else { return };
    let ca = pki.ca("ca");
    let tls = pki.server("ca", "redis", "IP:127.0.0.1,DNS:localhost", PASSWORD);
    let Some(server) = RedisServer::start_tls(&tls) else {
        return;
    };
    let lab = Lab::start_with(scenarios(), 0).await.expect("lab starts");
    let mut config = lab_config(&lab);
    config.cache = CacheKind::Redis(server.url());
    config.cache_ca_file = Some(ca.clone());
    config.validate().expect("a rediss:// cache with its CA");

    // The password never shows when the cache is printed.
    let printed = config.cache.to_string();
    assert_eq!(
        printed,
        format!("rediss://:***@127.0.0.1:{}/0", server.port),
        "{printed}"
    );
    assert!(!format!("{config:?}").contains(PASSWORD));

    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let (first, first_source) = daemon(
        &config,
        Daemon::open_cache(&config).expect("rediss:// cache"),
        &clock,
    );
    let outcome = first.query("healthy-enforce.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), HEALTHY_REPLY);
    assert_eq!(outcome.origin, Some(Origin::Fetch));
    assert_eq!(first_source.fetches(), 1);

    let (second, second_source) = daemon(
        &config,
        Daemon::open_cache(&config).expect("rediss:// cache"),
        &clock,
    );
    let outcome = second.query("healthy-enforce.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), HEALTHY_REPLY);
    assert_eq!(outcome.origin, Some(Origin::Cache));
    assert_eq!(second_source.fetches(), 0, "the policy came from Redis");
    assert_eq!(second_source.txt_lookups(), 0);

    // The server speaks TLS only, so the entry went through TLS; in clear text, the same
    // address is no Redis at all.
    let plain: RedisUrl = format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port)
        .parse()
        .expect("a Redis URL");
    let error = RedisCache::open(&plain, Duration::from_secs(1)).expect_err("TLS only");
    assert!(!error.to_string().contains(PASSWORD), "{error}");
    // Nor does a wrong password get in over TLS.
    let wrong: RedisUrl = format!("rediss://:nope@127.0.0.1:{}/0", server.port)
        .parse()
        .expect("a Redis URL");
    let error = RedisCache::open_with_ca_file(&wrong, Some(&ca), Duration::from_secs(2))
        .expect_err("wrong password");
    assert!(error.to_string().contains("rediss://:***@"), "{error}");
    lab.shutdown().await;
}

/// Whether `error` is a failed certificate check (rustls' message).
fn is_certificate_error(error: &str) -> bool {
    error.contains("invalid peer certificate")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_that_does_not_check_out_is_refused() {
    let Some(pki) = Pki::new() else { return };
    let ca = pki.ca("ca");
    let other_ca = pki.ca("other-ca");
    let tls = pki.server("ca", "redis", "IP:127.0.0.1,DNS:localhost", PASSWORD);
    let Some(mut server) = RedisServer::start_tls(&tls) else {
        return;
    };
    let config = mta_sts_policyd::Config {
        cache: CacheKind::Redis(server.url()),
        cache_ca_file: Some(other_ca.clone()),
        ..mta_sts_policyd::Config::default()
    };

    // At start-up: a CA that did not sign the server's certificate.
    let error = Daemon::open_cache(&config).expect_err("wrong CA");
    assert!(
        matches!(error, PolicydError::Cache(CacheError::RedisOpen { .. })),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(is_certificate_error(&message), "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("rediss://:***@127.0.0.1"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");

    // Without cache_ca_file the system's trust store applies, which has never heard of a test
    // CA.
    let error = RedisCache::open(&server.url(), Duration::from_secs(2)).expect_err("untrusted");
    assert!(error.to_string().contains("certificate"), "{error}");

    // The right CA, but a certificate for another name: the host is checked too.
    let misnamed = pki.server("ca", "misnamed", "DNS:other.example", PASSWORD);
    server.restart_tls(&misnamed);
    let error = server.tls_cache(&ca).expect_err("wrong name");
    let message = error.to_string();
    assert!(is_certificate_error(&message), "{message}");

    // While serving: the cache was opened against the right server, then another certificate
    // (another CA's) answers at its address. The cache reports certificate errors and the
    // daemon answers from DNS and HTTPS, as with Redis down.
    server.restart_tls(&tls);
    let cache = server.tls_cache(&ca).expect("the right CA");
    assert_eq!(cache.get("healthy-enforce.test").await.expect("get"), None);
    let impostor = pki.server("other-ca", "impostor", "IP:127.0.0.1", PASSWORD);
    server.restart_tls(&impostor);
    // The first command may see the old connection close; the reconnections that follow
    // meet the impostor's certificate.
    let mut errors = Vec::new();
    for _ in 0..10 {
        let error = cache
            .get("healthy-enforce.test")
            .await
            .expect_err("no trusted server");
        let error = error.to_string();
        let done = is_certificate_error(&error);
        errors.push(error);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        errors.iter().any(|e| is_certificate_error(e)),
        "{errors:#?}"
    );
    assert!(errors.iter().all(|e| !e.contains(PASSWORD)), "{errors:#?}");

    let lab = Lab::start_with(scenarios(), 0).await.expect("lab starts");
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let (daemon, source) = daemon(&lab_config(&lab), Arc::new(cache), &clock);
    let mut events = daemon.subscribe();
    let outcome = daemon.query("healthy-enforce.test", "postfix").await;
    assert_eq!(outcome.reply.to_string(), HEALTHY_REPLY);
    assert_eq!(outcome.origin, Some(Origin::Fetch));
    assert_eq!(source.fetches(), 1);
    match events.try_recv() {
        Ok(Event::CacheFailed {
            operation: "get",
            error,
        }) => assert!(is_certificate_error(&error), "{error}"),
        other => panic!("{other:?}"),
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_cache_ca_file_is_a_start_up_error_naming_it() {
    // Refused before any connection: no server needed.
    let url: RedisUrl = format!("rediss://:{PASSWORD}@127.0.0.1:{}/0", free_port())
        .parse()
        .expect("a Redis URL");
    let dir = TempDir::new("cache-ca");
    let missing = dir.file("missing.pem");
    let empty = dir.file("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let no_certificate = dir.file("key-only.pem");
    std::fs::write(
        &no_certificate,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let garbage = dir.file("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let binary = dir.file("binary.der");
    std::fs::write(&binary, [0x30, 0x82, 0xff, 0xfe, 0x00]).expect("write");
    for (file, reason) in [
        (&missing, "cannot read"),
        (&empty, "no certificate"),
        (&no_certificate, "no certificate"),
        (&garbage, "certificate"),
        (&binary, "not PEM text"),
    ] {
        let config = mta_sts_policyd::Config {
            cache: CacheKind::Redis(url.clone()),
            cache_ca_file: Some(file.clone()),
            ..mta_sts_policyd::Config::default()
        };
        let started = Instant::now();
        let error = Daemon::open_cache(&config).expect_err("unusable CA file");
        let message = error.to_string();
        assert!(
            message.contains(&format!("cache_ca_file {}", file.display())),
            "{message}"
        );
        assert!(message.contains(reason), "{file:?}: {message}");
        assert!(!message.contains(PASSWORD), "{message}");
        // Nothing was dialled.
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    // Roots for a plain redis:// cache: the configuration says which key, the cache which file.
    let plain: RedisUrl = "redis://127.0.0.1:6379/0".parse().expect("a Redis URL");
    let config = mta_sts_policyd::Config {
        cache: CacheKind::Redis(plain.clone()),
        cache_ca_file: Some(empty.clone()),
        ..mta_sts_policyd::Config::default()
    };
    match Daemon::new(config) {
        Err(PolicydError::ConfigValue { key, .. }) => assert_eq!(key, "cache_ca_file"),
        other => panic!("{other:?}"),
    }
    let error = RedisCache::open_with_ca_file(&plain, Some(&empty), Duration::from_secs(1))
        .expect_err("no TLS");
    assert!(error.to_string().contains("rediss://"), "{error}");
}
