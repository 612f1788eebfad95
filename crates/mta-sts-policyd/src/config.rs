//! The daemon's TOML configuration. Every option has a default, so an empty file is a working
//! configuration; an unknown key is an error that names it (a typo must not silently fall back to
//! a default). [`EXAMPLE`] shows every option with its default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error as _};

use crate::error::PolicydError;
use crate::postfix::PostfixVersionSetting;

/// Every option, with its default value, as a commented TOML file.
pub const EXAMPLE: &str = r#"# mta-sts daemon: a Postfix socketmap server answering smtp_tls_policy_maps lookups with
# MTA-STS (RFC 8461) policies. Every value below is the default.
#
# Postfix main.cf:
#   smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix

# "IP:PORT", or "unix:PATH" for a unix socket (for a chrooted Postfix, put it under the
# chroot, e.g. "unix:/var/spool/postfix/mta-sts/socketmap", and use
# smtp_tls_policy_maps = socketmap:unix:mta-sts/socketmap:postfix).
listen = "127.0.0.1:8461"
# File mode of the unix socket, set right after it is bound (ignored for TCP). Octal:
# 0o660 or "0660". Unset: whatever the umask gives.
# socket_mode = 0o660
# Owner and group of the unix socket (names or numeric ids), set right after it is bound;
# the daemon must run as root or be a member of the group. Unset: the daemon's own.
# socket_owner = "postfix"
# socket_group = "postfix"
# Connections held open at once. At the cap, the connection that has gone longest without
# sending a whole request is closed to make room, so a new client (Postfix) is always served
# however many connections others hold open. Kept below the open-file limit at start.
max_connections = 1024
# Seconds a request may take to arrive once its first byte has (and a reply to be taken by
# the client): a half-sent netstring is dropped then. Postfix sends each request in one write.
read_timeout = 10
# Seconds a connection may stay open with no request. Postfix's socketmap client closes its
# own after 10 s idle and 100 s in all (dict_sockmap.c; not ipc_idle/ipc_ttl, which are for
# Postfix's internal services), so Postfix always closes first; after a longer pause it simply
# reconnects.
idle_timeout = 120
# Threads answering requests. One thread serves well over 100,000 cache hits a second, and on a
# small machine more threads cost more in handing work between them than they add; raise it
# only when cold lookups (DNS, TLS policy fetches) keep a whole core busy.
threads = 1
# Seconds the daemon waits, once told to stop, for in-flight requests.
shutdown_timeout = 20
# Prometheus metrics over HTTP at http://ADDR/metrics ("IP:PORT"); unset: not served.
# metrics = "127.0.0.1:9464"

# Recursive resolver "IP" or "IP:PORT"; unset: the system's (/etc/resolv.conf).
# resolver = "127.0.0.1:53"
# Extra trusted roots (PEM) for policy hosts, added to the Web PKI roots.
# ca_file = "/etc/mta-sts/extra-roots.pem"
# The port policy hosts are fetched from; only test labs change it.
https_port = 443

# "sqlite:PATH" keeps policies across restarts (RFC 8461 §5.1: a policy learnt before an
# attack still protects during it; the directory is created if missing; under systemd,
# StateDirectory=mta-sts-policyd makes /var/lib/mta-sts-policyd for the daemon's user; a
# damaged file is salvaged at start, the damaged one kept aside); "memory" forgets them
# at every restart; "redis://HOST:PORT/DB" is one cache shared by several daemons (a fleet of
# MTAs fetches each policy once); "rediss://..." for Redis over TLS, its certificate always
# checked (a URL ending in #insecure is refused).
cache = "sqlite:/var/lib/mta-sts-policyd/cache.sqlite3"
# The roots (PEM) a rediss:// cache's server certificate is checked against, typically the
# private CA that signed it. Set, these are the only roots trusted for the cache (they replace,
# not extend, the system's); unset, the system's trust store is used (SSL_CERT_FILE,
# SSL_CERT_DIR, or OpenSSL's default places such as /etc/ssl/certs). Only for rediss://.
# cache_ca_file = "/etc/mta-sts/redis-ca.pem"
# Domains kept in memory (the whole cache for "memory", the front of "sqlite:..."; unused
# for "redis://...", which keeps no memory tier so that every daemon sees the others' updates).
cache_size = 10000
# Seconds a cached policy is served without checking the _mta-sts TXT id again.
check_interval = 60
# Seconds a domain without an STSv1 TXT record is remembered as having no policy.
negative_ttl = 300
# Seconds before a failed policy fetch for the same id is retried (RFC 8461 §3.3: five
# minutes or more), doubling after each further failure up to backoff_max.
backoff = 300
backoff_max = 3600
# DANE first (RFC 8461 §2): when the resolver validates (DNSSEC, AD bit) a domain's MX set and
# TLSA records of its MX hosts, answer Postfix's "dane" level instead of the MTA-STS policy, so
# MTA-STS never overrides DANE. Set false without a validating resolver, or to answer
# MTA-STS alone.
dane = true
# The Postfix version the replies are for, or "auto": run `postconf -dh mail_version` at start.
# Postfix 3.10.5 and later get the TLSRPT attributes (policy_type=sts, mx_host_pattern, ...),
# with which Postfix connects only to MX hosts matching the policy and checks their
# certificates against the MX host name (smtp_tls_enforce_sts_mx_patterns); older Postfix, or
# an unknown version (no postconf here), gets replies without them (Postfix before 3.10 cannot
# parse them). Write the version when Postfix runs on another host: postfix_version = "3.10.5".
postfix_version = "auto"
# The postconf that "auto" runs.
postconf = "/usr/sbin/postconf"

[refresh]
# Refetch cached policies in the background before they expire (RFC 8461 §3.3).
enabled = true
# Seconds between refresh passes (the first runs at start-up).
interval = 3600
# Refetch a policy once it is this many seconds old (or half its max_age, if less).
refetch_after = 86400
# Domains refreshed at once.
concurrency = 16

# The zone for any socketmap name not listed under [zones].
[default_zone]
# Enforce policies in "testing" mode as if they said "enforce" (not RFC compliant).
strict_testing = false
# Seconds for each DNS lookup and for the whole policy fetch.
timeout = 4
# Add servername=hostname so Postfix sends SNI (Postfix 3.4 and later).
require_sni = true
# Add the TLSRPT policy attributes (true) or leave them out (false) whatever postfix_version
# says. Unset: sent to Postfix 3.10.5 and later only (see postfix_version).
# tlsrpt = true

# A zone per socketmap name: smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:strict
# Options not given take the defaults above (not the default_zone's values).
# [zones.strict]
# strict_testing = true
"#;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

impl FromStr for ListenAddr {
    type Err = String;

    /// `IP:PORT` (`[::1]:8461` for IPv6) or `unix:PATH`.
    fn from_str(text: &str) -> Result<ListenAddr, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("`unix:` needs a socket path".into());
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        text.parse()
            .map(ListenAddr::Tcp)
            .map_err(|_| format!("`{text}` is neither IP:PORT (e.g. 127.0.0.1:8461) nor unix:PATH"))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ListenAddr, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// Where cached policies live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    /// In memory only.
    Memory,
    /// In an SQLite file, with a memory tier in front.
    Sqlite(PathBuf),
    /// In a Redis server shared by several daemons, with no memory tier in front.
    Redis(RedisUrl),
}

impl FromStr for CacheKind {
    type Err = String;

    /// `memory`, `sqlite:PATH`, `redis://HOST:PORT/DB` or `rediss://HOST:PORT/DB`.
    fn from_str(text: &str) -> Result<CacheKind, String> {
        match text.split_once(':') {
            None if text == "memory" => Ok(CacheKind::Memory),
            Some(("sqlite", path)) if !path.is_empty() => {
                Ok(CacheKind::Sqlite(PathBuf::from(path)))
            }
            Some(("redis" | "rediss", _)) => text.parse().map(CacheKind::Redis),
            _ => Err(format!(
                "`{text}` is neither `memory`, `sqlite:PATH`, `redis://HOST:PORT/DB` nor \
                 `rediss://HOST:PORT/DB`"
            )),
        }
    }
}

impl fmt::Display for CacheKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheKind::Memory => f.write_str("memory"),
            CacheKind::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            CacheKind::Redis(url) => write!(f, "{url}"),
        }
    }
}

/// A Redis server address, `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (port 6379 and database
/// 0 by default), or `rediss://...` for Redis over TLS, checked when parsed.
///
/// A `rediss://` URL always has its server certificate checked: the redis client's
/// `#insecure` fragment, which would turn the check off, is refused.
///
/// It prints (`Display`, `Debug`) with any password replaced by `***`, because the daemon logs
/// its cache at start-up and errors name it; [`RedisUrl::as_str`] gives the URL as written.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    text: String,
    tls: bool,
}

impl RedisUrl {
    /// The URL as written, password included: for connecting, not for printing.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the URL is `rediss://` (Redis over TLS).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<RedisUrl, String> {
        use redis::IntoConnectionInfo as _;

        let example = "redis://HOST:PORT/DB or rediss://HOST:PORT/DB, e.g. \
                       redis://127.0.0.1:6379/0";
        let Some(url) = redis::parse_redis_url(text) else {
            return Err(format!("not a Redis URL; expected {example}"));
        };
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            scheme => return Err(format!("{scheme}:// is not supported; expected {example}")),
        };
        match url.fragment() {
            None => {}
            // The redis client reads `#insecure` as "accept any certificate". A cache that
            // anyone on the path can impersonate could feed every daemon forged policies, so
            // the check is never turned off: trust the server's CA instead.
            Some("insecure") => {
                return Err(
                    "`#insecure` would turn off the check of the Redis server's certificate, \
                     which is never done; remove it and put the CA that signed the server's \
                     certificate in `cache_ca_file`"
                        .into(),
                );
            }
            Some(fragment) => {
                return Err(format!(
                    "`#{fragment}` has no meaning in a Redis URL; remove it (expected {example})"
                ));
            }
        }
        text.into_connection_info()
            .map_err(|e| format!("not a usable Redis URL ({e}); expected {example}"))?;
        Ok(RedisUrl {
            text: text.to_string(),
            tls,
        })
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match redis::parse_redis_url(&self.text) {
            Some(mut url) if url.password().is_some() => {
                // Never fails for the host-based URLs `from_str` accepts; if it did, print
                // nothing of the URL rather than the password.
                match url.set_password(Some("***")) {
                    Ok(()) => write!(f, "{url}"),
                    Err(()) => write!(f, "{}://***", url.scheme()),
                }
            }
            _ => f.write_str(&self.text),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

impl<'de> Deserialize<'de> for CacheKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CacheKind, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// A unix socket's file mode (permission bits only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketMode(u32);

impl SocketMode {
    /// The permission bits, e.g. `0o660`.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for SocketMode {
    type Error = String;

    fn try_from(bits: u32) -> Result<SocketMode, String> {
        if bits > 0o777 {
            // 660 written in decimal is 0o1224: almost certainly meant as octal.
            return Err(format!(
                "{bits} is not a file mode; write it in octal, e.g. 0o660 or \"0660\""
            ));
        }
        Ok(SocketMode(bits))
    }
}

impl FromStr for SocketMode {
    type Err = String;

    /// Octal digits, with or without a leading `0` or `0o`: `"0660"`, `"660"`, `"0o660"`.
    fn from_str(text: &str) -> Result<SocketMode, String> {
        let digits = text.strip_prefix("0o").unwrap_or(text);
        let bits = u32::from_str_radix(digits, 8)
            .map_err(|_| format!("\"{text}\" is not an octal file mode such as \"0660\""))?;
        SocketMode::try_from(bits)
    }
}

impl<'de> Deserialize<'de> for SocketMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SocketMode, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u32),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(bits) => SocketMode::try_from(bits),
            Written::Text(text) => text.parse(),
        }
        .map_err(D::Error::custom)
    }
}

/// How requests for one socketmap name are answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Zone {
    /// Answer `testing` policies as if they were `enforce` (not RFC 8461 behaviour: §5 says
    /// testing-mode failures must not stop delivery).
    pub strict_testing: bool,
    /// The limit for each DNS lookup and for the whole policy fetch.
    #[serde(deserialize_with = "seconds")]
    pub timeout: Duration,
    /// Add `servername=hostname` (Postfix 3.4+ sends SNI; RFC 8461 §4.2 expects it).
    pub require_sni: bool,
    /// Add the TLSRPT policy attributes (`Some(true)`) or leave them out (`Some(false)`);
    /// `None`: as the Postfix version decides ([`crate::postfix::PostfixTarget`]).
    pub tlsrpt: Option<bool>,
}

impl Zone {
    /// Whether replies in this zone carry the TLSRPT attributes, given what the Postfix version
    /// decides for zones that do not say.
    pub fn sends_tlsrpt(&self, by_default: bool) -> bool {
        self.tlsrpt.unwrap_or(by_default)
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone {
            strict_testing: false,
            timeout: Duration::from_secs(4),
            require_sni: true,
            tlsrpt: None,
        }
    }
}

/// The background refresh of cached policies (RFC 8461 §3.3: "MTAs SHOULD proactively refresh
/// cached policies before they expire").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshConfig {
    /// Whether [`crate::Daemon::serve`] runs refresh passes.
    pub enabled: bool,
    /// Time between passes.
    #[serde(deserialize_with = "seconds")]
    pub interval: Duration,
    /// A policy older than this (or than half its `max_age`, if less) is refetched.
    #[serde(deserialize_with = "seconds")]
    pub refetch_after: Duration,
    /// Domains refreshed at once.
    pub concurrency: usize,
}

impl Default for RefreshConfig {
    fn default() -> RefreshConfig {
        RefreshConfig {
            enabled: true,
            interval: Duration::from_secs(3600),
            // RFC 8461 §3.3: "a suggested refresh frequency is once per day".
            refetch_after: Duration::from_secs(86_400),
            concurrency: 16,
        }
    }
}

/// The daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where to listen.
    pub listen: ListenAddr,
    /// The unix socket's file mode, applied after binding.
    pub socket_mode: Option<SocketMode>,
    /// The unix socket's owner (a user name or numeric uid), applied after binding.
    pub socket_owner: Option<String>,
    /// The unix socket's group (a group name or numeric gid), applied after binding.
    pub socket_group: Option<String>,
    /// Connections held open at once; at the cap the longest-idle one makes room.
    pub max_connections: usize,
    /// How long a request may take to arrive once its first byte has (and a reply to be
    /// taken by the client).
    #[serde(deserialize_with = "seconds")]
    pub read_timeout: Duration,
    /// How long a connection may stay open with no request.
    #[serde(deserialize_with = "seconds")]
    pub idle_timeout: Duration,
    /// Threads answering requests (the async runtime's workers).
    pub threads: usize,
    /// How long in-flight requests may take to finish once shutdown starts.
    #[serde(deserialize_with = "seconds")]
    pub shutdown_timeout: Duration,
    /// The recursive resolver; `None` for the system's.
    #[serde(deserialize_with = "upstream")]
    pub resolver: Option<SocketAddr>,
    /// Extra trusted roots for policy hosts.
    pub ca_file: Option<PathBuf>,
    /// Where Prometheus metrics are served (`GET /metrics`); `None`: not served.
    pub metrics: Option<SocketAddr>,
    /// The HTTPS port of policy hosts (443; test labs use their own).
    pub https_port: u16,
    /// Where cached policies live.
    pub cache: CacheKind,
    /// The roots (PEM) a `rediss://` cache's certificate is checked against, instead of the
    /// system's trust store; only for a `rediss://` cache.
    pub cache_ca_file: Option<PathBuf>,
    /// Domains kept in memory.
    pub cache_size: usize,
    /// How long a cached policy is served before the TXT id is checked again.
    #[serde(deserialize_with = "seconds")]
    pub check_interval: Duration,
    /// How long "no STSv1 record" is remembered.
    #[serde(deserialize_with = "seconds")]
    pub negative_ttl: Duration,
    /// The first wait after a failed fetch.
    #[serde(deserialize_with = "seconds")]
    pub backoff: Duration,
    /// The longest wait after repeated failed fetches.
    #[serde(deserialize_with = "seconds")]
    pub backoff_max: Duration,
    /// DANE first: answer Postfix's `dane` level for domains whose MX hosts have DNSSEC-validated
    /// TLSA records (RFC 8461 §2).
    pub dane: bool,
    /// The Postfix version replies are for, or `auto` (ask postconf at start).
    pub postfix_version: PostfixVersionSetting,
    /// The postconf program `auto` runs.
    pub postconf: PathBuf,
    /// The background refresh.
    pub refresh: RefreshConfig,
    /// The zone for socketmap names not in `zones`.
    pub default_zone: Zone,
    /// Zones by socketmap name.
    pub zones: BTreeMap<String, Zone>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 8461))),
            socket_mode: None,
            socket_owner: None,
            socket_group: None,
            max_connections: 1024,
            // Postfix writes each request in one go: a request still incomplete after this is
            // not Postfix, and its connection is better given to one that is.
            read_timeout: Duration::from_secs(10),
            // Postfix's socketmap client (dict_sockmap.c, through auto_clnt.c) closes a
            // connection after 10 s idle and 100 s in all, its own constants rather than
            // ipc_idle (5 s) and ipc_ttl (1000 s), which govern its clients of internal
            // services. Past both, Postfix has always closed first; a connection idle longer
            // is abandoned (or held by a process stuck in a long delivery, whose next lookup
            // finds the connection closed and reconnects: dict_sockmap retries once).
            idle_timeout: Duration::from_secs(120),
            threads: 1,
            shutdown_timeout: Duration::from_secs(20),
            resolver: None,
            ca_file: None,
            metrics: None,
            https_port: 443,
            cache: CacheKind::Sqlite(PathBuf::from(DEFAULT_CACHE_FILE)),
            cache_ca_file: None,
            cache_size: 10_000,
            // postfix-mta-sts-resolver's cache_grace: no lookups for a minute after a check.
            check_interval: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(300),
            // RFC 8461 §3.3: "limit further attempts to a period of five minutes or longer per
            // version ID".
            backoff: Duration::from_secs(300),
            backoff_max: Duration::from_secs(3600),
            dane: true,
            postfix_version: PostfixVersionSetting::Auto,
            postconf: PathBuf::from("/usr/sbin/postconf"),
            refresh: RefreshConfig::default(),
            default_zone: Zone::default(),
            zones: BTreeMap::new(),
        }
    }
}

/// Where policies are kept when the configuration does not say: a file, so that they survive
/// restarts (RFC 8461 §5.1).
///
/// A directory of its own, named for this daemon: `/var/lib/mta-sts/cache.db` is the file
/// postfix-mta-sts-resolver's documented configuration uses for its own SQLite cache, so a user
/// switching daemons would have ours refuse "another program's database"; and that directory is
/// the other daemon's (its user's, its systemd `StateDirectory=`), where ours may not be able to
/// write and must not take ownership. `.sqlite3` says what the file is.
pub const DEFAULT_CACHE_FILE: &str = "/var/lib/mta-sts-policyd/cache.sqlite3";

/// The most worker threads: far beyond any core count a policy daemon has use for, low enough
/// that a typo (`threads = 10000`) is caught.
const MAX_THREADS: usize = 256;

/// The shortest backoff RFC 8461 §3.3 allows.
const MIN_BACKOFF: Duration = Duration::from_secs(300);
/// The longest negative TTL: "no policy" must not outlive a day-long policy rollout.
const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(86_400);

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, PolicydError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicydError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse_named(&text, &path.display().to_string())
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Config, PolicydError> {
        Config::parse_named(text, "<config>")
    }

    fn parse_named(text: &str, origin: &str) -> Result<Config, PolicydError> {
        let config: Config = toml::from_str(text).map_err(|e| PolicydError::ConfigSyntax {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that parse but cannot work; call it again after overriding fields.
    pub fn validate(&self) -> Result<(), PolicydError> {
        let bad = |key: &str, message: String| {
            Err(PolicydError::ConfigValue {
                key: key.to_string(),
                message,
            })
        };
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1".into());
        }
        if self.read_timeout.is_zero() {
            return bad("read_timeout", "must be at least 1 s".into());
        }
        if self.idle_timeout.is_zero() {
            return bad("idle_timeout", "must be at least 1 s".into());
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return bad("threads", format!("must be between 1 and {MAX_THREADS}"));
        }
        if self.cache_size == 0 {
            return bad("cache_size", "must be at least 1".into());
        }
        if self.backoff < MIN_BACKOFF {
            return bad(
                "backoff",
                format!(
                    "{} s is too short; RFC 8461 §3.3 asks for at least {} s between attempts",
                    self.backoff.as_secs(),
                    MIN_BACKOFF.as_secs()
                ),
            );
        }
        if self.backoff_max < self.backoff {
            return bad("backoff_max", "must not be less than `backoff`".into());
        }
        if self.negative_ttl > MAX_NEGATIVE_TTL {
            return bad(
                "negative_ttl",
                format!("must be at most {} s", MAX_NEGATIVE_TTL.as_secs()),
            );
        }
        if self.refresh.enabled && self.refresh.interval.is_zero() {
            return bad("refresh.interval", "must be at least 1 s".into());
        }
        if self.refresh.concurrency == 0 {
            return bad("refresh.concurrency", "must be at least 1".into());
        }
        if let Some(path) = &self.cache_ca_file {
            // Roots for a server certificate only mean something when there is one; silently
            // ignoring them would let an administrator believe a plain redis:// link is checked.
            let tls = matches!(&self.cache, CacheKind::Redis(url) if url.is_tls());
            if !tls {
                return bad(
                    "cache_ca_file",
                    format!(
                        "{} is only used for a rediss:// (Redis over TLS) cache, and the cache \
                         is `{}`; remove cache_ca_file or use rediss://",
                        path.display(),
                        self.cache
                    ),
                );
            }
        }
        let zones = std::iter::once(("default_zone".to_string(), &self.default_zone)).chain(
            self.zones
                .iter()
                .map(|(name, zone)| (format!("zones.{name}"), zone)),
        );
        for (key, zone) in zones {
            if zone.timeout.is_zero() {
                return bad(&format!("{key}.timeout"), "must be at least 1 s".into());
            }
        }
        Ok(())
    }

    /// The zone for a socketmap name: its own, or the default zone.
    pub fn zone(&self, name: &str) -> (Option<&str>, &Zone) {
        match self.zones.get_key_value(name) {
            Some((name, zone)) => (Some(name.as_str()), zone),
            None => (None, &self.default_zone),
        }
    }
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

fn upstream<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    mta_sts_net::dns::parse_upstream(&text)
        .map(Some)
        .map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_the_default_configuration() {
        assert_eq!(Config::parse("").ok(), Some(Config::default()));
    }

    #[test]
    fn the_example_is_the_default_configuration() {
        assert_eq!(Config::parse(EXAMPLE).ok(), Some(Config::default()));
    }

    #[test]
    fn every_option_parses() {
        let config = Config::parse(
            r#"
            listen = "unix:/var/spool/postfix/mta-sts/socketmap"
            socket_mode = 0o660
            max_connections = 64
            read_timeout = 5
            idle_timeout = 30
            threads = 2
            shutdown_timeout = 5
            resolver = "127.0.0.53"
            ca_file = "/etc/mta-sts/roots.pem"
            https_port = 8443
            cache = "sqlite:/var/lib/mta-sts-policyd/cache.sqlite3"
            cache_size = 100
            check_interval = 30
            negative_ttl = 600
            backoff = 600
            backoff_max = 7200
            postfix_version = "3.11-20250906"
            postconf = "/opt/postfix/sbin/postconf"
            [refresh]
            enabled = false
            interval = 60
            refetch_after = 3600
            concurrency = 2
            [default_zone]
            timeout = 10
            [zones.strict]
            strict_testing = true
            require_sni = false
            tlsrpt = true
            "#,
        )
        .expect("valid");
        assert_eq!(
            config.listen,
            ListenAddr::Unix("/var/spool/postfix/mta-sts/socketmap".into())
        );
        assert_eq!(config.socket_mode.map(SocketMode::bits), Some(0o660));
        assert_eq!(config.resolver, "127.0.0.53:53".parse().ok());
        assert_eq!(
            config.cache,
            CacheKind::Sqlite("/var/lib/mta-sts-policyd/cache.sqlite3".into())
        );
        assert_eq!(config.default_zone.timeout, Duration::from_secs(10));
        assert_eq!(config.read_timeout, Duration::from_secs(5));
        assert_eq!(config.idle_timeout, Duration::from_secs(30));
        assert!(!config.refresh.enabled);
        let (name, strict) = config.zone("strict");
        assert_eq!(name, Some("strict"));
        // Options a zone leaves out take the built-in defaults.
        assert_eq!(strict.timeout, Duration::from_secs(4));
        assert!(strict.strict_testing && strict.tlsrpt == Some(true) && !strict.require_sni);
        assert_eq!(config.default_zone.tlsrpt, None);
        assert!(strict.sends_tlsrpt(false) && !config.default_zone.sends_tlsrpt(false));
        assert_eq!(
            config.postfix_version.to_string(),
            "3.11-20250906",
            "a snapshot version"
        );
        assert_eq!(config.postconf, Path::new("/opt/postfix/sbin/postconf"));
        assert_eq!(config.zone("postfix"), (None, &config.default_zone));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        for (text, key) in [
            ("chache = \"memory\"", "chache"),
            ("[default_zone]\nstrict = true", "strict"),
            ("[zones.a]\nrequire_sin = false", "require_sin"),
            ("[refresh]\nenable = true", "enable"),
        ] {
            let error = Config::parse(text).expect_err(text);
            assert!(
                matches!(&error, PolicydError::ConfigSyntax { .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        let cases: &[(&str, &str)] = &[
            // Wrong types and shapes: the parser says where.
            ("listen = \"localhost:8461\"", ""),
            ("listen = \"unix:\"", ""),
            // Certificate checks are never turned off.
            ("cache = \"rediss://localhost/#insecure\"", ""),
            ("cache = \"rediss://localhost#insecure\"", ""),
            ("cache = \"redis://localhost/#anything\"", ""),
            ("cache = \"valkeys://localhost\"", ""),
            ("cache = \"redis://localhost/zero\"", ""),
            ("cache = \"redis://0.0.0.0:6379\"", ""),
            ("cache = \"redis:localhost\"", ""),
            ("cache = \"redis+unix:///run/redis.sock\"", ""),
            ("cache = \"sqlite:\"", ""),
            ("resolver = \"dns.example\"", ""),
            ("socket_mode = 660", ""), // decimal 660 is not a mode
            ("socket_mode = \"rw-rw----\"", ""),
            ("shutdown_timeout = -1", ""),
            ("default_zone = 4", ""),
            ("postfix_version = \"3.10\"x", ""),
            ("postfix_version = \"latest\"", ""),
            ("postfix_version = 3.10", ""), // a number, not text
            // Well-formed but unusable: the key is named.
            ("max_connections = 0", "max_connections"),
            ("read_timeout = 0", "read_timeout"),
            ("idle_timeout = 0", "idle_timeout"),
            ("threads = 0", "threads"),
            ("threads = 1000", "threads"),
            ("cache_size = 0", "cache_size"),
            ("backoff = 60", "backoff"), // RFC 8461 §3.3: five minutes or more
            ("backoff = 600\nbackoff_max = 300", "backoff_max"),
            ("negative_ttl = 999999", "negative_ttl"),
            ("[refresh]\nconcurrency = 0", "refresh.concurrency"),
            ("[refresh]\ninterval = 0", "refresh.interval"),
            ("[default_zone]\ntimeout = 0", "default_zone.timeout"),
            ("[zones.x]\ntimeout = 0", "zones.x.timeout"),
            // Roots for a server certificate without TLS would be silently unused.
            ("cache_ca_file = \"/etc/ca.pem\"", "cache_ca_file"),
            (
                "cache = \"redis://127.0.0.1\"\ncache_ca_file = \"/etc/ca.pem\"",
                "cache_ca_file",
            ),
            (
                "cache = \"sqlite:/var/lib/c.db\"\ncache_ca_file = \"/etc/ca.pem\"",
                "cache_ca_file",
            ),
        ];
        for (text, key) in cases {
            match Config::parse(text) {
                Err(PolicydError::ConfigValue { key: found, .. }) => {
                    assert_eq!(&found, key, "{text}");
                }
                Err(PolicydError::ConfigSyntax { .. }) => assert!(key.is_empty(), "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn socket_modes_in_octal() {
        assert_eq!(
            "0660".parse::<SocketMode>().map(SocketMode::bits),
            Ok(0o660)
        );
        assert_eq!("660".parse::<SocketMode>().map(SocketMode::bits), Ok(0o660));
        assert_eq!(
            "0o600".parse::<SocketMode>().map(SocketMode::bits),
            Ok(0o600)
        );
        assert!("8".parse::<SocketMode>().is_err());
        assert!("01777".parse::<SocketMode>().is_err());
    }

    #[test]
    fn listen_and_cache_round_trip_through_text() {
        for text in ["127.0.0.1:8461", "[::1]:8461", "unix:/run/mta-sts.sock"] {
            assert_eq!(
                text.parse::<ListenAddr>().map(|a| a.to_string()).as_deref(),
                Ok(text)
            );
        }
        for text in [
            "memory",
            "sqlite:/var/lib/mta-sts-policyd/cache.sqlite3",
            "redis://127.0.0.1:6379/0",
            "redis://cache.example.net",
            "redis://[::1]:6380/2",
            "rediss://cache.example.net:6380/0",
            "rediss://127.0.0.1",
        ] {
            assert_eq!(
                text.parse::<CacheKind>().map(|c| c.to_string()).as_deref(),
                Ok(text)
            );
        }
    }

    #[test]
    fn redis_urls_keep_their_password_out_of_print() {
        let text = "redis://mta:s3cret@cache.example.net:6379/1";
        let Ok(CacheKind::Redis(url)) = text.parse::<CacheKind>() else {
            panic!("{text} is a Redis cache");
        };
        assert_eq!(url.as_str(), text);
        assert_eq!(url.to_string(), "redis://mta:***@cache.example.net:6379/1");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!url.is_tls());

        let text = "rediss://:s3cret@cache.example.net:6380/2";
        let Ok(CacheKind::Redis(url)) = text.parse::<CacheKind>() else {
            panic!("{text} is a Redis cache");
        };
        assert!(url.is_tls());
        assert_eq!(url.as_str(), text);
        assert_eq!(url.to_string(), "rediss://:***@cache.example.net:6380/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        let cache = CacheKind::Redis(url);
        assert_eq!(cache.to_string(), "rediss://:***@cache.example.net:6380/2");

        for text in [
            "rediss://cache.example.net/#insecure",
            "rediss://:s3cret@cache.example.net:6380/0#insecure",
        ] {
            let error = text.parse::<CacheKind>().expect_err("insecure");
            assert!(error.contains("never"), "{error}");
            assert!(error.contains("cache_ca_file"), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn cache_ca_file_goes_with_a_rediss_cache() {
        let config = Config::parse(
            "cache = \"rediss://cache.example.net:6380/0\"\n\
             cache_ca_file = \"/etc/mta-sts/redis-ca.pem\"",
        )
        .expect("valid");
        assert_eq!(
            config.cache_ca_file.as_deref(),
            Some(Path::new("/etc/mta-sts/redis-ca.pem"))
        );
        // A rediss:// cache without extra roots uses the system's.
        assert!(Config::parse("cache = \"rediss://cache.example.net\"").is_ok());
        let error = Config::parse("cache_ca_file = \"/etc/mta-sts/redis-ca.pem\"")
            .expect_err("no TLS cache");
        let message = error.to_string();
        assert!(message.contains("cache_ca_file"), "{message}");
        assert!(message.contains("rediss://"), "{message}");
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let error = Config::load(Path::new("/nonexistent/mta-sts.toml")).expect_err("missing");
        assert!(
            matches!(error, PolicydError::ReadConfig { .. }),
            "{error:?}"
        );
    }
}
