//! The shared store: one Redis server for a fleet of daemons, so that a policy one MTA fetched
//! is an answer from the cache for all of them.
//!
//! Each domain is one string key, [`RedisCache::KEY_PREFIX`] + domain, holding the entry as JSON
//! with a schema version (`{"version":1,"checked_at":...,"policy":{...},...}`). A key is written
//! with `SET ... EXAT` at the moment nothing in its entry holds any more (the latest of the
//! policy's expiry, `fetched_at + max_age`, and the negative and backoff deadlines), so Redis
//! forgets dead entries by itself and a shared cache never needs a janitor. Expiry is an absolute
//! time compared with Redis' clock; a few seconds of skew between hosts do not matter against
//! TTLs of minutes to days.
//!
//! One [`ConnectionManager`] (one multiplexed connection that reconnects by itself) serves every
//! request; each command is bounded by the cache's timeout, so a Redis that stalls or goes away
//! makes lookups fall back to DNS and HTTPS (the resolver treats a failed read as a miss) rather
//! than hang.
//!
//! A `rediss://` URL connects over TLS (rustls, with the ring provider) and the server's
//! certificate is always checked, for the URL's host name or IP address; there is no way to turn
//! the check off (`#insecure` is refused when the URL is parsed). Which roots it is checked
//! against follows from how the redis client (1.8, feature `tls-rustls`) builds its rustls
//! configuration:
//!
//! - without `cache_ca_file`, the system's trust store, loaded by `rustls-native-certs` on each
//!   (re)connection: `SSL_CERT_FILE` / `SSL_CERT_DIR` if set, else OpenSSL's default places (on
//!   Debian, /etc/ssl/certs). It is not the bundled Web PKI list (webpki-roots) that policy
//!   fetches use: the redis dependency is built without its `tls-rustls-webpki-roots` feature;
//! - with `cache_ca_file`, only the certificates in that PEM file. The redis client's
//!   `TlsCertificates::root_cert` replaces the root store rather than adding to it, which suits
//!   the usual case, a private CA for the cache: no public CA can then vouch for the cache.
//!
//! The file is read and checked (readable, PEM, at least one usable certificate) when the cache
//! is opened, so a wrong path is a start-up error naming the file, not a TLS failure later.
//!
//! A value that cannot be decoded (not JSON, another schema version, another program's data
//! under the prefix) is a [`CacheError::RedisEntry`] naming the key. It is left in place for an
//! administrator to inspect; the next lookup of that domain overwrites it with a fresh entry.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, ErrorKind, FromRedisValue, RedisError, TlsCertificates};
use serde::{Deserialize, Serialize};

use super::{
    BackoffEntry, CacheEntry, CacheError, CachedPolicy, NegativeEntry, NegativeReason, PolicyCache,
};
use crate::config::RedisUrl;
use mta_sts_core::time::Timestamp;

/// Keys asked for per `SCAN` step (a hint to Redis, which may return more or fewer).
const SCAN_COUNT: usize = 500;

/// 9999-12-31T23:59:59Z: the latest `EXAT` written. Redis refuses expiry times whose
/// milliseconds overflow, and a saturated [`Timestamp`] would otherwise fail the write.
const LATEST_EXPIRY: u64 = 253_402_300_799;

/// A [`PolicyCache`] in a Redis server, shared by every daemon pointed at it.
#[derive(Clone)]
pub struct RedisCache {
    url: RedisUrl,
    connection: ConnectionManager,
    timeout: Duration,
}

impl RedisCache {
    /// The prefix of every key the cache writes; the domain follows it.
    pub const KEY_PREFIX: &'static str = "mta-sts:policy:";

    /// The version of the JSON stored under each key, in its `version` field.
    pub const SCHEMA_VERSION: u32 = 1;

    /// The limit [`crate::Daemon`] uses for connecting and for each command.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Connects to the Redis server at `url`; `timeout` bounds the connection at start-up,
    /// each reconnection and each command later. A `rediss://` server's certificate is checked
    /// against the system's trust store (see [`RedisCache::open_with_ca_file`] for a private CA).
    ///
    /// Blocking, for up to about twice `timeout` if the server does not answer: the server is
    /// asked for a `PING` before the daemon starts, so a Redis that is down, refuses the
    /// password or database, or presents a certificate that does not check out is reported now,
    /// naming the URL, rather than as a cache failure on every lookup. Must be called inside a
    /// Tokio runtime, which then runs the connection.
    pub fn open(url: &RedisUrl, timeout: Duration) -> Result<RedisCache, CacheError> {
        RedisCache::open_with_ca_file(url, None, timeout)
    }

    /// [`RedisCache::open`], with the server certificate of a `rediss://` cache checked against
    /// the certificates in the PEM file `ca_file` (the `cache_ca_file` option) alone, instead
    /// of the system's trust store.
    ///
    /// A `ca_file` that cannot be read, holds no certificate or holds an unusable one, or that
    /// is given for a plain `redis://` URL, is an error naming the file.
    pub fn open_with_ca_file(
        url: &RedisUrl,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<RedisCache, CacheError> {
        let open_error = |source| CacheError::RedisOpen {
            url: url.clone(),
            source,
        };
        // The connection manager spawns its reconnection task on the current runtime; without
        // one it would panic.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(open_error(RedisError::from((
                ErrorKind::Client,
                "the Redis cache must be opened inside a Tokio runtime",
            ))));
        }
        let client = match ca_file {
            None => Client::open(url.as_str()),
            Some(path) => {
                let root_cert = read_roots(url, path).map_err(open_error)?;
                Client::build_with_tls(
                    url.as_str(),
                    TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
            }
        }
        .map_err(open_error)?;
        let mut probe = client
            .get_connection_with_timeout(timeout)
            .map_err(open_error)?;
        probe
            .set_read_timeout(Some(timeout))
            .and_then(|()| probe.set_write_timeout(Some(timeout)))
            .map_err(open_error)?;
        redis::cmd("PING")
            .query::<()>(&mut probe)
            .map_err(open_error)?;
        drop(probe);
        // One retry per reconnection: while Redis is down every command waits for the current
        // attempt, so attempts must end quickly (a refused connection fails at once); the next
        // command starts another.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        // Lazy: the server has just answered, and connecting here would need an async context;
        // the first command connects, on the runtime that serves the daemon.
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(open_error)?;
        Ok(RedisCache {
            url: url.clone(),
            connection,
            timeout,
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// The key holding `domain`'s entry.
    pub fn key(domain: &str) -> String {
        format!("{}{domain}", RedisCache::KEY_PREFIX)
    }

    /// Runs one command, bounded by the timeout.
    async fn query<T: FromRedisValue>(
        &self,
        operation: &'static str,
        command: &Cmd,
    ) -> Result<T, CacheError> {
        // Clones share the one multiplexed connection; commands take `&mut`, hence the clone.
        let mut connection = self.connection.clone();
        // The manager's response timeout covers a command sent; this also covers waiting for a
        // reconnection in progress, which retries for longer than a lookup should wait.
        match tokio::time::timeout(self.timeout, command.query_async(&mut connection)).await {
            Ok(result) => result.map_err(|source| CacheError::Redis { operation, source }),
            Err(_) => Err(CacheError::Redis {
                operation,
                source: RedisError::from(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no answer from {} within {} ms",
                        self.url,
                        self.timeout.as_millis()
                    ),
                )),
            }),
        }
    }
}

/// The PEM text of `cache_ca_file`, checked: the redis client would take a file without
/// certificates as an empty root store and fail every handshake with an unknown-issuer error
/// that does not name the file.
fn read_roots(url: &RedisUrl, path: &Path) -> Result<Vec<u8>, RedisError> {
    let refuse = |reason: String| {
        RedisError::from(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cache_ca_file {}: {reason}", path.display()),
        ))
    };
    if !url.is_tls() {
        return Err(refuse(
            "CA roots are only used for a rediss:// (Redis over TLS) server".into(),
        ));
    }
    let pem = std::fs::read_to_string(path).map_err(|e| {
        refuse(match e.kind() {
            io::ErrorKind::InvalidData => {
                "it is not PEM text (for a DER certificate: openssl x509 -inform der -in FILE)"
                    .into()
            }
            _ => format!("cannot read it: {e}"),
        })
    })?;
    // The same parsing (rustls-pki-types) and root-store checks the redis client applies, run
    // now so that the error names the file.
    mta_sts_net::Trust::only_pem(&pem).map_err(|e| {
        let reason = e.to_string();
        refuse(reason.trim_start_matches("CA PEM: ").to_string())
    })?;
    Ok(pem.into_bytes())
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PolicyCache for RedisCache {
    fn get<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>, CacheError>> {
        async move {
            let key = RedisCache::key(domain);
            let mut get = redis::cmd("GET");
            get.arg(&key);
            let value: Option<Vec<u8>> = self.query("get", &get).await?;
            value.map(|value| decode(&key, &value)).transpose()
        }
        .boxed()
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let key = RedisCache::key(domain);
            let Some(expiry) = expiry(&entry) else {
                // Nothing in the entry can ever hold, so there is no time to expire it at;
                // reading no entry back means the same to the resolver.
                let mut del = redis::cmd("DEL");
                del.arg(&key);
                return self.query("put", &del).await;
            };
            let value = encode(&entry).map_err(|e| CacheError::RedisEntry {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            // One command: the value and its expiry land together. An expiry already past
            // makes Redis drop the key at once.
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value).arg("EXAT").arg(expiry);
            self.query("put", &set).await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let mut del = redis::cmd("DEL");
            del.arg(RedisCache::key(domain));
            self.query("delete", &del).await
        }
        .boxed()
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<(String, CacheEntry)>, CacheError>> {
        async move {
            // SCAN, not KEYS: it walks the keyspace in steps, so a large shared Redis is not
            // blocked for the whole walk. A key may come back twice; the map keeps one.
            let pattern = format!("{}*", RedisCache::KEY_PREFIX);
            let mut entries = BTreeMap::new();
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT);
                let (next, keys): (u64, Vec<String>) = self.query("scan", &scan).await?;
                if !keys.is_empty() {
                    let mut mget = redis::cmd("MGET");
                    mget.arg(&keys);
                    let values: Vec<Option<Vec<u8>>> = self.query("scan", &mget).await?;
                    for (key, value) in keys.into_iter().zip(values) {
                        // None: the key expired or was deleted since the SCAN step.
                        let Some(value) = value else { continue };
                        let entry = decode(&key, &value)?;
                        // MATCH on the prefix guarantees it is there.
                        if let Some(domain) = key.strip_prefix(RedisCache::KEY_PREFIX) {
                            entries.insert(domain.to_string(), entry);
                        }
                    }
                }
                cursor = next;
                if cursor == 0 {
                    return Ok(entries.into_iter().collect());
                }
            }
        }
        .boxed()
    }
}

/// When nothing in `entry` holds any more (the moment [`CacheEntry::is_dead`] turns true), as
/// an `EXAT` value; `None` if nothing in it ever holds.
fn expiry(entry: &CacheEntry) -> Option<u64> {
    let policy = entry.policy.as_ref().map(CachedPolicy::expires_at);
    let negative = entry.negative.as_ref().map(|n| n.until);
    let backoff = entry.backoff.as_ref().map(|b| b.until);
    [policy, negative, backoff]
        .into_iter()
        .flatten()
        .max()
        // Redis refuses EXAT 0; 1 is equally in the past.
        .map(|at| to_stored(at).clamp(1, LATEST_EXPIRY))
}

/// Just the version, read first, so a value of another version is reported as such rather than
/// as whatever field it lacks.
#[derive(Deserialize)]
struct Versioned {
    version: u32,
}

/// The JSON under each key. Decoupled from [`CacheEntry`] so that changing the public types
/// cannot silently change what other daemons read.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEntry {
    version: u32,
    checked_at: Option<u64>,
    policy: Option<StoredPolicy>,
    negative: Option<StoredNegative>,
    backoff: Option<StoredBackoff>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPolicy {
    id: String,
    body: String,
    fetched_at: u64,
    /// Derived from the body and `fetched_at` on load; stored for people inspecting Redis.
    expires_at: u64,
    /// The DANE facts of the policy's domain. Added within schema version 1: optional, absent
    /// (an entry written before it, or never checked) reads as "not yet checked", and it is
    /// left out when there are none, so such entries are written as before. A daemon from
    /// before the field refuses an entry carrying it ([`CacheError::RedisEntry`]), treats that
    /// as a miss and writes the entry anew without it: a mixed fleet costs lookups, never a
    /// wrong answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dane: Option<StoredDane>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredDane {
    mx_validated: bool,
    hosts: Vec<String>,
    failed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mx_error: Option<String>,
    checked_at: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredNegative {
    reason: StoredReason,
    since: u64,
    until: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum StoredReason {
    NoRecord,
    LookupFailed { error: String },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBackoff {
    id: String,
    failures: u32,
    last_failure: u64,
    until: u64,
    error: String,
}

/// Redis values keep Unix seconds as unsigned JSON numbers, as every release wrote them; a time
/// before 1970 (never written: the clock reads 1970 at the earliest) is stored as 0.
fn to_stored(at: Timestamp) -> u64 {
    u64::try_from(at.unix_seconds()).unwrap_or(0)
}

/// The reverse of [`to_stored`]; values past 9999-12-31T23:59:59Z (a saturated far future written
/// by an older release) read as that last second.
fn from_stored(seconds: u64) -> Timestamp {
    Timestamp::from_unix_seconds_saturating(i64::try_from(seconds).unwrap_or(i64::MAX))
}

fn encode(entry: &CacheEntry) -> serde_json::Result<String> {
    let stored = StoredEntry {
        version: RedisCache::SCHEMA_VERSION,
        checked_at: entry.checked_at.map(to_stored),
        policy: entry.policy.as_ref().map(|p| StoredPolicy {
            id: p.id().to_string(),
            body: p.body().to_string(),
            fetched_at: to_stored(p.fetched_at()),
            expires_at: to_stored(p.expires_at()),
            dane: p.dane().map(|d| StoredDane {
                mx_validated: d.mx_validated,
                hosts: d.hosts.clone(),
                failed: d.failed.clone(),
                mx_error: d.mx_error.clone(),
                checked_at: to_stored(d.checked_at),
            }),
        }),
        negative: entry.negative.as_ref().map(|n| StoredNegative {
            reason: match &n.reason {
                NegativeReason::NoRecord => StoredReason::NoRecord,
                NegativeReason::LookupFailed { error } => StoredReason::LookupFailed {
                    error: error.clone(),
                },
            },
            since: to_stored(n.since),
            until: to_stored(n.until),
        }),
        backoff: entry.backoff.as_ref().map(|b| StoredBackoff {
            id: b.id.clone(),
            failures: b.failures,
            last_failure: to_stored(b.last_failure),
            until: to_stored(b.until),
            error: b.error.clone(),
        }),
    };
    serde_json::to_string(&stored)
}

fn decode(key: &str, value: &[u8]) -> Result<CacheEntry, CacheError> {
    let unreadable = |reason: String| CacheError::RedisEntry {
        key: key.to_string(),
        reason,
    };
    let Versioned { version } = serde_json::from_slice(value)
        .map_err(|e| unreadable(format!("not an mta-sts cache entry: {e}")))?;
    if version != RedisCache::SCHEMA_VERSION {
        return Err(unreadable(format!(
            "it has schema version {version}; this mta-sts reads version {}",
            RedisCache::SCHEMA_VERSION
        )));
    }
    let stored: StoredEntry = serde_json::from_slice(value)
        .map_err(|e| unreadable(format!("not an mta-sts cache entry: {e}")))?;
    let at = from_stored;
    Ok(CacheEntry {
        // A stored body the current parser refuses (it was accepted when fetched) drops the
        // policy rather than the entry, as in the SQLite cache: the domain is looked up again.
        policy: stored.policy.and_then(|p| {
            let dane = p.dane.map(|d| super::DaneEntry {
                mx_validated: d.mx_validated,
                hosts: d.hosts,
                failed: d.failed,
                mx_error: d.mx_error,
                checked_at: at(d.checked_at),
            });
            CachedPolicy::new(p.id, p.body, at(p.fetched_at))
                .ok()
                .map(|policy| policy.with_dane(dane))
        }),
        checked_at: stored.checked_at.map(at),
        negative: stored.negative.map(|n| NegativeEntry {
            reason: match n.reason {
                StoredReason::NoRecord => NegativeReason::NoRecord,
                StoredReason::LookupFailed { error } => NegativeReason::LookupFailed { error },
            },
            since: at(n.since),
            until: at(n.until),
        }),
        backoff: stored.backoff.map(|b| BackoffEntry {
            id: b.id,
            failures: b.failures,
            last_failure: at(b.last_failure),
            until: at(b.until),
            error: b.error,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";

    fn full_entry() -> CacheEntry {
        let t = Timestamp::from_unix_seconds_saturating(1_700_000_000);
        CacheEntry {
            policy: CachedPolicy::new("20260101T000000", BODY, t).ok(),
            checked_at: Some(t),
            negative: Some(NegativeEntry {
                reason: NegativeReason::LookupFailed {
                    error: "SERVFAIL".into(),
                },
                since: t,
                until: t.saturating_add(Duration::from_secs(300)),
            }),
            backoff: Some(BackoffEntry {
                id: "2".into(),
                failures: 3,
                last_failure: t,
                until: t.saturating_add(Duration::from_secs(900)),
                error: "HTTP 404".into(),
            }),
        }
    }

    #[test]
    fn entries_round_trip_through_json() {
        let entry = full_entry();
        let json = encode(&entry).expect("encodes");
        assert!(json.starts_with(r#"{"version":1,"#), "{json}");
        assert_eq!(decode("k", json.as_bytes()).ok(), Some(entry));
        let negative_only = CacheEntry {
            negative: Some(NegativeEntry {
                reason: NegativeReason::NoRecord,
                since: Timestamp::from_unix_seconds_saturating(5),
                until: Timestamp::from_unix_seconds_saturating(305),
            }),
            ..CacheEntry::default()
        };
        let json = encode(&negative_only).expect("encodes");
        assert_eq!(decode("k", json.as_bytes()).ok(), Some(negative_only));
    }

    #[test]
    fn dane_facts_round_trip_and_their_absence_reads_as_not_checked() {
        let t = Timestamp::from_unix_seconds_saturating(1_700_000_000);
        let facts = super::super::DaneEntry {
            mx_validated: true,
            hosts: vec!["mx.example.com".into()],
            failed: vec!["mx2.example.net".into()],
            mx_error: None,
            checked_at: t.saturating_add(Duration::from_secs(5)),
        };
        let mut entry = full_entry();
        entry.policy = entry.policy.map(|p| p.with_dane(Some(facts.clone())));
        let json = encode(&entry).expect("encodes");
        assert!(json.contains(r#""dane":{"mx_validated":true,"#), "{json}");
        let decoded = decode("k", json.as_bytes()).expect("decodes");
        assert_eq!(decoded, entry);
        assert_eq!(decoded.policy.and_then(|p| p.dane().cloned()), Some(facts));

        // Without facts nothing is written for them: the JSON is what it was before the field.
        let json = encode(&full_entry()).expect("encodes");
        assert!(!json.contains("dane"), "{json}");
        // An entry as a daemon from before the field wrote it decodes, with DANE not yet
        // checked.
        let old = format!(
            r#"{{"version":1,"checked_at":{t},"policy":{{"id":"1","body":{body},"fetched_at":{t},"expires_at":{end}}},"negative":null,"backoff":null}}"#,
            t = t.unix_seconds(),
            body = serde_json::to_string(BODY).expect("json string"),
            end = t.unix_seconds() + 86_400,
        );
        let decoded = decode("k", old.as_bytes()).expect("an old entry decodes");
        let policy = decoded.policy.expect("its policy");
        assert_eq!((policy.id(), policy.dane()), ("1", None));
        // Unknown fields inside the facts are refused like anywhere else in the entry.
        let odd = json.replace(
            r#""expires_at""#,
            r#""dane":{"mx_validated":true,"hosts":[],"failed":[],"checked_at":1,"x":1},"expires_at""#,
        );
        assert!(decode("k", odd.as_bytes()).is_err(), "{odd}");
    }

    #[test]
    fn the_key_expires_when_the_last_thing_in_the_entry_does() {
        let entry = full_entry();
        // The policy's max_age (a day) outlives the negative and backoff deadlines.
        assert_eq!(expiry(&entry), Some(1_700_000_000 + 86_400));
        let backoff_only = CacheEntry {
            backoff: entry.backoff.clone(),
            ..CacheEntry::default()
        };
        assert_eq!(expiry(&backoff_only), Some(1_700_000_900));
        assert_eq!(expiry(&CacheEntry::default()), None);
        let far = CacheEntry {
            negative: Some(NegativeEntry {
                reason: NegativeReason::NoRecord,
                since: Timestamp::from_unix_seconds_saturating(0),
                until: Timestamp::MAX,
            }),
            ..CacheEntry::default()
        };
        assert_eq!(expiry(&far), Some(LATEST_EXPIRY));
    }

    #[test]
    fn unreadable_values_name_the_key() {
        let newer = r#"{"version":2,"whatever":true}"#;
        for value in [&b"\xff\x00garbage"[..], b"{}", b"[1,2]", newer.as_bytes()] {
            match decode("mta-sts:policy:bad.example", value) {
                Err(CacheError::RedisEntry { key, reason }) => {
                    assert_eq!(key, "mta-sts:policy:bad.example");
                    assert!(!reason.is_empty());
                }
                other => panic!("{value:?}: {other:?}"),
            }
        }
        let error = decode("k", newer.as_bytes()).expect_err("newer");
        assert!(error.to_string().contains("schema version 2"), "{error}");
    }

    #[test]
    fn a_body_the_parser_now_refuses_drops_only_the_policy() {
        let json = encode(&full_entry())
            .expect("encodes")
            .replace("mode: enforce", "mode: sometimes");
        let entry = decode("k", json.as_bytes()).expect("still an entry");
        assert!(entry.policy.is_none());
        assert!(entry.backoff.is_some() && entry.negative.is_some());
    }
}
