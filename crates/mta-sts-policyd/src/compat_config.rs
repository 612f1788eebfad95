//! postfix-mta-sts-resolver's YAML configuration (`/etc/mta-sts-daemon.yml`), read into a
//! [`Config`], so that switching daemons is one line:
//! `mta-sts daemon --compat-config /etc/mta-sts-daemon.yml`.
//!
//! The format is the one postfix-mta-sts-resolver 1.5 reads (`utils.load_config` and
//! `populate_cfg_defaults`, documented in its `mta-sts-daemon.yml(5)`). A key that file leaves
//! out gets postfix-mta-sts-resolver's default, not ours, where the two differ: the user keeps
//! what they had. Everything it lacks (resolver, CA file, metrics, negative TTL, backoff, DANE)
//! takes our defaults, and command-line flags override the result as they override `--config`.
//!
//! | postfix-mta-sts-resolver | default | mta-sts |
//! |---|---|---|
//! | `host`, `port` | `127.0.0.1`, `8461` | `listen = "IP:PORT"` (`host` must be an IP address; `localhost` is `127.0.0.1`) |
//! | `path` | unset | `listen = "unix:PATH"` (`host` and `port` are then ignored, as there) |
//! | `mode` | unset | `socket_mode` (YAML 1.1 integers: `0666` is octal, as PyYAML reads it; decimal `438` too) |
//! | `reuse_port` | `true` | ignored (a note if `true`): one daemon serves every connection (`threads` sets its cores), no `SO_REUSEPORT` |
//! | `shutdown_timeout` | `20` | `shutdown_timeout` |
//! | `cache_grace` | `60` | `check_interval` |
//! | `cache: {type: internal, options: {cache_size}}` | `internal`, `10000` | `cache = "memory"`, `cache_size` |
//! | `cache: {type: sqlite, options: {filename, threads, timeout}}` | | `cache = "sqlite:…"` beside `filename`, its policies imported on first start (see below); `threads`, `timeout` ignored |
//! | `cache: {type: redis, options: {url, …}}` | | `cache = "redis://…"` built from `url` (or the older `address`), `host`, `port`, `db`, `username`, `password`; `ssl_ca_certs` → `cache_ca_file`; pool and timeout options ignored |
//! | `cache: {type: redis_sentinel \| postgres}` | | refused, naming the alternative |
//! | `proactive_policy_fetching.enabled` | `false` | `refresh.enabled` |
//! | `proactive_policy_fetching.interval` | `86400` | `refresh.interval` |
//! | `proactive_policy_fetching.concurrency_limit` | `100` | `refresh.concurrency` |
//! | `proactive_policy_fetching.grace_ratio` | `2.0` | `refresh.refetch_after = interval / grace_ratio` |
//! | `default_zone`, `zones.NAME`: `strict_testing`, `timeout`, `require_sni`, `tlsrpt` | `false`, `4`, `true`, `false` | `default_zone`, `zones.NAME` (a zone's missing keys take these defaults, not the default zone's, as there), except a missing `tlsrpt`, which follows `postfix_version` (see below) |
//! | `logfile` (in old examples; never read) | | ignored (a note): the daemon logs to standard error |
//!
//! # Differences
//! - **Unknown keys are errors**, naming the key, where it is and the keys known there;
//!   postfix-mta-sts-resolver ignores them, so a typo (`strict_tesing: true`) silently loses
//!   protection. A zone key at the top level (`tlsrpt: true`, as its commented examples suggest)
//!   has no effect there either, and is refused with a pointer to `default_zone`.
//! - **SQLite**: the file postfix-mta-sts-resolver wrote has another schema, and our cache refuses
//!   foreign files rather than alter them; policies are kept in a sibling file
//!   (`cache.db` → `cache.mta-sts.db`) and the old file is left alone (opened read-only, never
//!   written), so switching back still works. The sibling, not the daemon's default
//!   ([`crate::config::DEFAULT_CACHE_FILE`]): it is where that configuration keeps its cache, in
//!   a directory the user the peer ran as can write (a drop-in replacement runs as that user),
//!   and it can be neither the peer's file nor the default daemon's; `--cache sqlite:PATH` puts
//!   it elsewhere. Its cached policies are **imported** on the first
//!   start, when the sibling file does not exist yet ([`CompatConfig::peer_cache`], done by
//!   [`crate::Daemon::new_importing`]; see [`crate::cache::import_peer_cache`]): a policy learnt
//!   before the switch keeps protecting its domain (RFC 8461 §5.1) instead of every domain being
//!   trust-on-first-use again. A policy keeps the lifetime the peer gave it (`max_age` from the
//!   time the peer last fetched or confirmed it), expired ones are left out, and a missing or
//!   foreign file is a note, not a failure.
//! - **Refresh age**: postfix-mta-sts-resolver skips a domain whose entry was checked less than
//!   `interval / grace_ratio` ago; we refetch a policy once it is `refetch_after` old (measured
//!   from its fetch) or half its `max_age`, whichever comes first.
//! - **Booleans and numbers** follow YAML 1.1 as PyYAML reads them (`yes`, `on`, `0666`,
//!   `1_000`); numbers also accept fractions where a duration is meant. A value of the wrong type
//!   is an error rather than whatever Python would make of it later.
//! - **TLSRPT attributes**: a zone without `tlsrpt` sends them to Postfix 3.10.5 and later (the
//!   version `postconf -dh mail_version` prints at start, or `postfix_version` in a TOML
//!   configuration), which then connects only to MX hosts matching the policy and checks their
//!   certificates against the MX host name (`smtp_tls_enforce_sts_mx_patterns`), and never to
//!   older Postfix, which cannot parse them; the peer sends them only with `tlsrpt: true`. An
//!   explicit `tlsrpt: true` or `false` is kept. See [`crate::postfix`].
//! - **`mx` addresses**: a policy line such as `mx: 192.0.2.25` is left out of the reply; the
//!   peer passes it on in `match=`, where OpenSSL then demands the address in the certificate.
//! - `redis_sentinel` and `postgres` caches are not supported: use `redis` (pointed at the
//!   primary) for a shared cache, `sqlite` for a persistent local one. Redis over a unix socket
//!   is not supported either.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::Value;

use crate::config::{CacheKind, Config, ListenAddr, RedisUrl, RefreshConfig, SocketMode, Zone};
use crate::error::PolicydError;

/// A key that was accepted but is ignored or read differently, worth one line in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The key, dotted (`cache.options.threads`).
    pub key: String,
    /// What happens to it instead.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// postfix-mta-sts-resolver's defaults (its `defaults.py`), written out rather than taken from
/// our [`Config::default`], so that a change to ours never changes what a migrated user gets.
mod peer {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    pub const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
    pub const PORT: u16 = 8461;
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
    pub const CACHE_GRACE: Duration = Duration::from_secs(60);
    pub const INTERNAL_CACHE_SIZE: usize = 10_000;
    pub const PROACTIVE_FETCH_ENABLED: bool = false;
    pub const PROACTIVE_FETCH_INTERVAL: Duration = Duration::from_secs(86_400);
    pub const PROACTIVE_FETCH_CONCURRENCY_LIMIT: usize = 100;
    pub const PROACTIVE_FETCH_GRACE_RATIO: f64 = 2.0;
    pub const TIMEOUT: Duration = Duration::from_secs(4);
    pub const STRICT_TESTING: bool = false;
    pub const REQUIRE_SNI: bool = true;
}

const TOP_KEYS: &[&str] = &[
    "host",
    "port",
    "path",
    "mode",
    "reuse_port",
    "shutdown_timeout",
    "cache_grace",
    "cache",
    "proactive_policy_fetching",
    "default_zone",
    "zones",
    "logfile",
];
const ZONE_KEYS: &[&str] = &["strict_testing", "timeout", "require_sni", "tlsrpt"];
const FETCH_KEYS: &[&str] = &["enabled", "interval", "concurrency_limit", "grace_ratio"];
const CACHE_KEYS: &[&str] = &["type", "options"];
const CACHE_TYPES: &str = "internal, sqlite or redis";
const INTERNAL_KEYS: &[&str] = &["cache_size"];
const SQLITE_KEYS: &[&str] = &["filename", "threads", "timeout"];
/// The redis options that make the address and its TLS settings.
const REDIS_ADDRESS_KEYS: &[&str] = &[
    "url",
    "address",
    "host",
    "port",
    "db",
    "username",
    "password",
    "ssl_ca_certs",
    "ssl_cert_reqs",
    "ssl_check_hostname",
];
/// Connection-pool and timeout options of redis-py (and of aioredis 1.x, which older
/// postfix-mta-sts-resolver releases used). Our Redis cache keeps one reconnecting connection
/// and its own per-command limit, so these have nothing to set.
const REDIS_TUNING_KEYS: &[&str] = &[
    "max_connections",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "health_check_interval",
    "retry_on_timeout",
    "client_name",
    "encoding",
    "decode_responses",
    "minsize",
    "maxsize",
    "timeout",
];

/// What a postfix-mta-sts-resolver configuration becomes: our configuration, the notes, and the
/// peer's cache file to import from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatConfig {
    /// The configuration, checked with [`Config::validate`].
    pub config: Config,
    /// Keys accepted but ignored or read differently.
    pub notes: Vec<Note>,
    /// postfix-mta-sts-resolver's SQLite cache (`cache.options.filename`), whose policies are to
    /// be imported into our cache when it is new: pass it to [`crate::Daemon::new_importing`].
    /// `None` for its other cache types (nothing persistent to import) and for `:memory:`.
    pub peer_cache: Option<PathBuf>,
}

impl CompatConfig {
    /// Reads a postfix-mta-sts-resolver configuration file.
    pub fn load(path: &Path) -> Result<CompatConfig, PolicydError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicydError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        parse_named(&text, &path.display().to_string())
    }

    /// Reads postfix-mta-sts-resolver configuration text.
    pub fn from_yaml(text: &str) -> Result<CompatConfig, PolicydError> {
        parse_named(text, "<compat-config>")
    }
}

/// Reads a postfix-mta-sts-resolver configuration file: the configuration and the notes
/// ([`CompatConfig::load`] also says which cache file to import).
pub fn load(path: &Path) -> Result<(Config, Vec<Note>), PolicydError> {
    CompatConfig::load(path).map(|compat| (compat.config, compat.notes))
}

/// Reads postfix-mta-sts-resolver configuration text: the configuration (checked with
/// [`Config::validate`]) and the notes about keys accepted but ignored or read differently
/// ([`CompatConfig::from_yaml`] also says which cache file to import).
pub fn from_yaml(text: &str) -> Result<(Config, Vec<Note>), PolicydError> {
    CompatConfig::from_yaml(text).map(|compat| (compat.config, compat.notes))
}

fn parse_named(text: &str, origin: &str) -> Result<CompatConfig, PolicydError> {
    let mut document: Value =
        serde_yaml_ng::from_str(text).map_err(|e| PolicydError::ConfigSyntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
    // PyYAML resolves `<<: *anchor` merge keys; so do we.
    document
        .apply_merge()
        .map_err(|e| PolicydError::ConfigSyntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
    if !matches!(document, Value::Null | Value::Mapping(_)) {
        return Err(PolicydError::ConfigSyntax {
            origin: origin.to_string(),
            message: format!(
                "the file must be a mapping of keys ({}), not {}",
                TOP_KEYS.join(", "),
                describe(&document)
            ),
        });
    }
    let mut reader = Reader {
        origin,
        notes: Vec::new(),
        peer_cache: None,
    };
    let config = reader.config(&document)?;
    config.validate()?;
    Ok(CompatConfig {
        config,
        notes: reader.notes,
        peer_cache: reader.peer_cache,
    })
}

/// The conversion's state: where errors are, and the notes so far.
struct Reader<'o> {
    origin: &'o str,
    notes: Vec<Note>,
    /// postfix-mta-sts-resolver's SQLite cache file, once `cache` has named one.
    peer_cache: Option<PathBuf>,
}

/// One mapping of the file, its keys as text, in file order.
struct Map<'a> {
    /// The dotted path of the mapping (`""` for the top level).
    path: String,
    entries: Vec<(String, &'a Value)>,
}

impl<'a> Map<'a> {
    /// The dotted path of `key` in this mapping.
    fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }

    /// The value of `key`, with a YAML null (`key:` with nothing after it) read as absent.
    fn given(&self, key: &str) -> Option<&'a Value> {
        self.get(key).filter(|value| !value.is_null())
    }
}

impl Reader<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> PolicydError {
        PolicydError::CompatConfig {
            origin: self.origin.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn note(&mut self, key: &str, message: impl Into<String>) {
        self.notes.push(Note {
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// The mapping at `path`; null (a section with everything commented out) is empty.
    fn map<'a>(
        &self,
        value: &'a Value,
        path: &str,
        known: &[&str],
    ) -> Result<Map<'a>, PolicydError> {
        let at = if path.is_empty() { "(top level)" } else { path };
        let entries = match value {
            Value::Null => Vec::new(),
            Value::Mapping(mapping) => {
                let mut entries = Vec::with_capacity(mapping.len());
                for (key, value) in mapping {
                    let name = match key {
                        Value::String(name) => name.clone(),
                        // PyYAML would make these ints or bools, which never equal a key it
                        // looks up; a zone named `1` could never be asked for.
                        other => {
                            return Err(self.error(
                                at,
                                format!("keys must be names, not {}", describe(other)),
                            ));
                        }
                    };
                    entries.push((name, value));
                }
                entries
            }
            other => {
                return Err(self.error(
                    at,
                    format!(
                        "must be a mapping ({}), not {}",
                        if known.is_empty() {
                            "zone names".to_string()
                        } else {
                            known.join(", ")
                        },
                        describe(other)
                    ),
                ));
            }
        };
        let map = Map {
            path: path.to_string(),
            entries,
        };
        if !known.is_empty() {
            self.check_keys(&map, known)?;
        }
        Ok(map)
    }

    /// Refuses the first key of `map` not in `known`.
    fn check_keys(&self, map: &Map<'_>, known: &[&str]) -> Result<(), PolicydError> {
        let Some((unknown, _)) = map
            .entries
            .iter()
            .find(|(name, _)| !known.contains(&name.as_str()))
        else {
            return Ok(());
        };
        let key = map.key(unknown);
        if map.path.is_empty() && ZONE_KEYS.contains(&unknown.as_str()) {
            return Err(self.error(
                &key,
                format!(
                    "`{unknown}` is a zone option, which postfix-mta-sts-resolver ignores at the \
                     top level (so it has had no effect); move it under `default_zone:` to \
                     apply it, or delete it to keep today's behaviour"
                ),
            ));
        }
        let place = if map.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{}`", map.path)
        };
        // Cache options become keyword arguments of a Python constructor, which fails on an
        // unknown one; everywhere else postfix-mta-sts-resolver looks keys up and ignores the
        // rest.
        let peer = if map.path == "cache.options" {
            "postfix-mta-sts-resolver would fail on it too"
        } else {
            "postfix-mta-sts-resolver would silently ignore it"
        };
        Err(self.error(
            &key,
            format!(
                "unknown key {place} ({peer}); the keys there are {}",
                known.join(", ")
            ),
        ))
    }

    fn config(&mut self, document: &Value) -> Result<Config, PolicydError> {
        let top = self.map(document, "", TOP_KEYS)?;
        let mut config = Config {
            shutdown_timeout: peer::SHUTDOWN_TIMEOUT,
            check_interval: peer::CACHE_GRACE,
            ..Config::default()
        };

        config.listen = self.listen(&top)?;
        config.socket_mode = self.socket_mode(&top)?;
        if top.given("reuse_port").is_some() {
            let key = top.key("reuse_port");
            let reuse = self.boolean(top.given("reuse_port"), &key, false)?;
            if reuse {
                self.note(
                    &key,
                    "ignored: one mta-sts daemon serves every connection (its `threads` \
                     setting decides how many cores), so no second instance shares the port \
                     (no SO_REUSEPORT); restart the daemon instead of starting another beside it",
                );
            }
        }
        if let Some(value) = top.get("shutdown_timeout") {
            config.shutdown_timeout = self.seconds(value, &top.key("shutdown_timeout"), true)?;
        }
        if let Some(value) = top.get("cache_grace") {
            config.check_interval = self.seconds(value, &top.key("cache_grace"), true)?;
        }
        if top.get("logfile").is_some() {
            self.note(
                &top.key("logfile"),
                "ignored (postfix-mta-sts-resolver never read it from this file either; its log \
                 file is the -l flag): mta-sts daemon logs to standard error, which systemd \
                 sends to the journal",
            );
        }

        let cache = self.cache(top.get("cache").unwrap_or(&Value::Null))?;
        config.cache = cache.kind;
        config.cache_size = cache.size;
        config.cache_ca_file = cache.ca_file;

        config.refresh =
            self.refresh(top.get("proactive_policy_fetching").unwrap_or(&Value::Null))?;
        config.default_zone = self.zone(
            top.get("default_zone").unwrap_or(&Value::Null),
            "default_zone",
        )?;
        let zones = self.map(top.get("zones").unwrap_or(&Value::Null), "zones", &[])?;
        for (name, value) in &zones.entries {
            let zone = self.zone(value, &zones.key(name))?;
            config.zones.insert(name.clone(), zone);
        }
        Ok(config)
    }

    /// `host`/`port`, or `path` (which wins, as it does there), and `mode`.
    fn listen(&mut self, top: &Map<'_>) -> Result<ListenAddr, PolicydError> {
        let mode_key = top.key("mode");
        if let Some(path) = top.given("path") {
            let key = top.key("path");
            let path = self.string(path, &key)?;
            if path.is_empty() {
                return Err(self.error(&key, "must name the socket file"));
            }
            for ignored in ["host", "port"] {
                if top.get(ignored).is_some() {
                    self.note(
                        &top.key(ignored),
                        "ignored: `path` is set, so the daemon listens on that unix socket (as \
                         postfix-mta-sts-resolver does)",
                    );
                }
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        if top.given("mode").is_some() {
            self.note(
                &mode_key,
                "ignored: it applies to a unix socket (`path`), and none is set",
            );
        }
        let host_key = top.key("host");
        let ip = match top.get("host") {
            None => IpAddr::V4(peer::HOST),
            Some(value) => {
                let host = self.string(value, &host_key)?;
                match host.parse::<IpAddr>() {
                    Ok(ip) => ip,
                    Err(_) if host.eq_ignore_ascii_case("localhost") => {
                        self.note(
                            &host_key,
                            "`localhost` is read as 127.0.0.1 (postfix-mta-sts-resolver binds \
                             every address the name resolves to, e.g. ::1 as well)",
                        );
                        IpAddr::V4(Ipv4Addr::LOCALHOST)
                    }
                    Err(_) if host.is_empty() => {
                        return Err(self.error(
                            &host_key,
                            "is empty; write 0.0.0.0 or :: to listen on every address",
                        ));
                    }
                    Err(_) => {
                        return Err(self.error(
                            &host_key,
                            format!(
                                "`{host}` is not an IP address; write the address to listen on \
                                 (e.g. 127.0.0.1)"
                            ),
                        ));
                    }
                }
            }
        };
        let port = match top.get("port") {
            None => peer::PORT,
            Some(value) => {
                let key = top.key("port");
                let number = self.integer(value, &key)?;
                u16::try_from(number)
                    .map_err(|_| self.error(&key, format!("{number} is not a port (0 to 65535)")))?
            }
        };
        Ok(ListenAddr::Tcp(SocketAddr::new(ip, port)))
    }

    /// `mode`, for a unix socket.
    fn socket_mode(&self, top: &Map<'_>) -> Result<Option<SocketMode>, PolicydError> {
        if top.given("path").is_none() {
            return Ok(None);
        }
        let Some(value) = top.given("mode") else {
            return Ok(None);
        };
        let key = top.key("mode");
        let bits = self.integer(value, &key)?;
        let too_big = || {
            self.error(
                &key,
                format!(
                    "{bits} (octal {bits:o}) is not a file mode; write the mode in octal with a \
                     leading zero, e.g. 0660 (YAML reads 660 as a decimal number)"
                ),
            )
        };
        let bits = u32::try_from(bits).map_err(|_| too_big())?;
        SocketMode::try_from(bits).map(Some).map_err(|_| too_big())
    }

    fn cache(&mut self, value: &Value) -> Result<Cache, PolicydError> {
        let section = self.map(value, "cache", CACHE_KEYS)?;
        let kind = match section.get("type") {
            None => "internal".to_string(),
            Some(value) => self.string(value, &section.key("type"))?,
        };
        let options_value = section.get("options").unwrap_or(&Value::Null);
        let type_key = section.key("type");
        match kind.as_str() {
            "internal" => {
                let options = self.map(options_value, "cache.options", INTERNAL_KEYS)?;
                let size = match options.given("cache_size") {
                    None => peer::INTERNAL_CACHE_SIZE,
                    Some(value) => self.count(value, &options.key("cache_size"))?,
                };
                Ok(Cache {
                    kind: CacheKind::Memory,
                    size,
                    ca_file: None,
                })
            }
            "sqlite" => {
                let options = self.map(options_value, "cache.options", SQLITE_KEYS)?;
                let kind = self.sqlite(&options)?;
                Ok(Cache {
                    kind,
                    size: peer::INTERNAL_CACHE_SIZE,
                    ca_file: None,
                })
            }
            "redis" => {
                let known = [REDIS_ADDRESS_KEYS, REDIS_TUNING_KEYS].concat();
                let options = self.map(options_value, "cache.options", &known)?;
                let (url, ca_file) = self.redis(&options)?;
                Ok(Cache {
                    kind: CacheKind::Redis(url),
                    size: peer::INTERNAL_CACHE_SIZE,
                    ca_file,
                })
            }
            "redis_sentinel" => Err(self.error(
                &type_key,
                "cache type `redis_sentinel` is not supported: mta-sts talks to one Redis \
                 server. Use `type: redis` with `options: {url: \"redis://PRIMARY:6379/0\"}` \
                 pointed at the Redis primary for a cache shared by several MTAs, or \
                 `type: sqlite` for a persistent cache on this host",
            )),
            "postgres" => Err(self.error(
                &type_key,
                "cache type `postgres` is not supported. For a cache shared by several MTAs use \
                 `type: redis` with `options: {url: \"redis://HOST:6379/0\"}`; for a persistent \
                 cache on this host use `type: sqlite` with `options: {filename: \
                 /var/lib/mta-sts/cache.db}`",
            )),
            other => Err(self.error(
                &type_key,
                format!("unknown cache type `{other}`; the types are {CACHE_TYPES}"),
            )),
        }
    }

    /// `filename` → our own file beside it; `threads` and `timeout` have nothing to set.
    fn sqlite(&mut self, options: &Map<'_>) -> Result<CacheKind, PolicydError> {
        let key = options.key("filename");
        let Some(value) = options.given("filename") else {
            return Err(self.error(
                &key,
                "is required for `type: sqlite` (the database file, e.g. \
                 /var/lib/mta-sts/cache.db)",
            ));
        };
        let filename = self.string(value, &key)?;
        for ignored in ["threads", "timeout"] {
            if let Some(value) = options.given(ignored) {
                // Still checked, so that a value postfix-mta-sts-resolver would choke on is
                // reported rather than carried along.
                let ignored_key = options.key(ignored);
                self.seconds(value, &ignored_key, true)?;
                self.note(
                    &ignored_key,
                    "ignored: the SQLite cache uses one connection behind a memory tier, with \
                     no pool to size or wait for",
                );
            }
        }
        if filename == ":memory:" {
            self.note(
                &key,
                "`:memory:` keeps nothing across restarts: the cache is in memory",
            );
            return Ok(CacheKind::Memory);
        }
        let peer_file = Path::new(&filename);
        let Some(own) = own_sqlite_file(peer_file) else {
            return Err(self.error(&key, format!("`{filename}` does not name a file")));
        };
        self.note(
            &key,
            format!(
                "postfix-mta-sts-resolver's cache {} is only read, never changed (another format; \
                 switching back still works); policies are cached in {} beside it (--cache \
                 sqlite:PATH puts them elsewhere), and the first start (while that file does not \
                 exist) imports the peer's unexpired policies into it",
                peer_file.display(),
                own.display()
            ),
        );
        self.peer_cache = Some(peer_file.to_path_buf());
        Ok(CacheKind::Sqlite(own))
    }

    /// The `redis://` URL the options describe, as redis-py's `from_url(url, **options)` reads
    /// them: a component in the URL wins over the same option; an option fills what the URL
    /// leaves out.
    fn redis(&mut self, options: &Map<'_>) -> Result<(RedisUrl, Option<PathBuf>), PolicydError> {
        let mut host = None;
        let mut port = None;
        let (url_key, url_text) = match (options.given("url"), options.given("address")) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    &options.key("address"),
                    "give `url` or `address` (its older name), not both",
                ));
            }
            (Some(value), None) => {
                let key = options.key("url");
                let text = self.string(value, &key)?;
                (key, Some(text))
            }
            // aioredis 1.x (postfix-mta-sts-resolver before 1.0): a URL, a socket path or
            // [host, port].
            (None, Some(value)) => {
                let key = options.key("address");
                match value {
                    Value::Sequence(items) if items.len() == 2 => {
                        host = Some(self.string(&items[0], &key)?);
                        port = Some(self.integer(&items[1], &key)?);
                        (key, None)
                    }
                    Value::String(text) if text.contains("://") => (key, Some(text.clone())),
                    Value::String(_) => return Err(self.unix_redis(&key)),
                    other => {
                        return Err(self.error(
                            &key,
                            format!(
                                "must be a Redis URL or [host, port], not {}",
                                describe(other)
                            ),
                        ));
                    }
                }
            }
            (None, None) => (options.key("url"), None),
        };
        let url_text = url_text.unwrap_or_else(|| "redis://".to_string());
        let Some(mut url) = redis::parse_redis_url(&url_text) else {
            return Err(self.error(
                &url_key,
                // Not the text itself: it may hold a password.
                "is not a Redis URL; expected redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0",
            ));
        };
        if matches!(url.scheme(), "unix" | "redis+unix" | "valkey+unix") {
            return Err(self.unix_redis(&url_key));
        }

        // The host and port.
        if let Some(value) = options.given("host") {
            host = Some(self.string(value, &options.key("host"))?);
        }
        if let Some(value) = options.given("port") {
            port = Some(self.integer(value, &options.key("port"))?);
        }
        let url_host = url.host_str().filter(|h| !h.is_empty()).map(str::to_string);
        match (url_host, host) {
            (Some(_), Some(_)) => self.overridden(options, "host"),
            (Some(_), None) => {}
            (None, host) => {
                let host = host.unwrap_or_else(|| "localhost".to_string());
                url.set_host(Some(&host)).map_err(|e| {
                    self.error(&options.key("host"), format!("`{host}` is not a host: {e}"))
                })?;
            }
        }
        match (url.port(), port) {
            (Some(_), Some(_)) => self.overridden(options, "port"),
            (None, Some(port)) => {
                let key = options.key("port");
                let port = u16::try_from(port)
                    .map_err(|_| self.error(&key, format!("{port} is not a port (1 to 65535)")))?;
                url.set_port(Some(port))
                    .map_err(|()| self.error(&key, "cannot be set on this URL"))?;
            }
            _ => {}
        }

        // The database: `?db=` wins over the path (redis-py's parse_url), which wins over `db`.
        let mut query_db = None;
        let query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (name, value) in query {
            if name == "db" {
                query_db = Some(value);
            } else {
                self.note(
                    &url_key,
                    format!("URL parameter `{name}` ignored (a connection setting of redis-py)"),
                );
            }
        }
        let path_db = Some(url.path().trim_matches('/').to_string()).filter(|p| !p.is_empty());
        let url_db =
            match query_db.or(path_db) {
                Some(text) => Some(text.parse::<u32>().map_err(|_| {
                    self.error(&url_key, format!("database `{text}` is not a number"))
                })?),
                None => None,
            };
        let option_db = match options.given("db") {
            Some(value) => {
                let key = options.key("db");
                let db = self.integer(value, &key)?;
                Some(
                    u32::try_from(db)
                        .map_err(|_| self.error(&key, format!("{db} is not a database number")))?,
                )
            }
            None => None,
        };
        if url_db.is_some() && option_db.is_some() {
            self.overridden(options, "db");
        }
        url.set_query(None);
        url.set_path(&format!("/{}", url_db.or(option_db).unwrap_or(0)));

        // The credentials.
        if let Some(value) = options.given("username") {
            let key = options.key("username");
            let name = self.string(value, &key)?;
            if url.username().is_empty() {
                url.set_username(&name)
                    .map_err(|()| self.error(&key, "cannot be set on this URL"))?;
            } else {
                self.overridden(options, "username");
            }
        }
        if let Some(value) = options.given("password") {
            let key = options.key("password");
            let password = self.string(value, &key)?;
            if url.password().is_none() {
                url.set_password(Some(&password))
                    .map_err(|()| self.error(&key, "cannot be set on this URL"))?;
            } else {
                self.overridden(options, "password");
            }
        }

        let ca_file = self.redis_tls(options, url.scheme() == "rediss")?;
        for tuning in REDIS_TUNING_KEYS {
            if options.get(tuning).is_some() {
                self.note(
                    &options.key(tuning),
                    "ignored: the Redis cache keeps one reconnecting connection per daemon and \
                     gives each command 2 s",
                );
            }
        }
        let text = url.to_string();
        let redis_url = text
            .parse::<RedisUrl>()
            .map_err(|e| self.error(&url_key, e))?;
        Ok((redis_url, ca_file))
    }

    /// `ssl_ca_certs` → `cache_ca_file` (for a `rediss://` URL only: our configuration refuses
    /// roots that nothing would use); the options that would turn certificate checks off are
    /// refused, because ours never are.
    fn redis_tls(&mut self, options: &Map<'_>, tls: bool) -> Result<Option<PathBuf>, PolicydError> {
        let off = |reader: &Self, key: &str| {
            reader.error(
                key,
                "certificate checks cannot be turned off: mta-sts always checks the Redis \
                 server's certificate; give `ssl_ca_certs` the CA that signed it",
            )
        };
        if let Some(value) = options.given("ssl_cert_reqs") {
            let key = options.key("ssl_cert_reqs");
            let required = self.string(value, &key)?;
            if !matches!(required.as_str(), "required" | "CERT_REQUIRED") {
                return Err(off(self, &key));
            }
        }
        if options.given("ssl_check_hostname").is_some() {
            let key = options.key("ssl_check_hostname");
            if !self.boolean(options.given("ssl_check_hostname"), &key, true)? {
                return Err(off(self, &key));
            }
        }
        let Some(value) = options.given("ssl_ca_certs") else {
            return Ok(None);
        };
        let key = options.key("ssl_ca_certs");
        let path = self.string(value, &key)?;
        if !tls {
            self.note(&key, "ignored: the URL is not rediss:// (Redis over TLS)");
            return Ok(None);
        }
        Ok(Some(PathBuf::from(path)))
    }

    fn unix_redis(&self, key: &str) -> PolicydError {
        self.error(
            key,
            "Redis over a unix socket is not supported; give a TCP address, e.g. \
             redis://127.0.0.1:6379/0",
        )
    }

    /// Notes an option that the URL's own component overrides.
    fn overridden(&mut self, options: &Map<'_>, name: &str) {
        self.note(
            &options.key(name),
            format!("ignored: the URL gives the {name}, and the URL wins (as in redis-py)"),
        );
    }

    fn refresh(&mut self, value: &Value) -> Result<RefreshConfig, PolicydError> {
        let section = self.map(value, "proactive_policy_fetching", FETCH_KEYS)?;
        let enabled = self.boolean(
            section.get("enabled"),
            &section.key("enabled"),
            peer::PROACTIVE_FETCH_ENABLED,
        )?;
        let interval_key = section.key("interval");
        let interval = match section.get("interval") {
            None => peer::PROACTIVE_FETCH_INTERVAL,
            Some(value) => self.seconds(value, &interval_key, true)?,
        };
        // Its fetcher sleeps at least a second between passes.
        if enabled && interval < Duration::from_secs(1) {
            return Err(self.error(&interval_key, "must be at least 1 second"));
        }
        let concurrency = match section.get("concurrency_limit") {
            None => peer::PROACTIVE_FETCH_CONCURRENCY_LIMIT,
            Some(value) => self.count(value, &section.key("concurrency_limit"))?,
        };
        let ratio_key = section.key("grace_ratio");
        let ratio = match section.get("grace_ratio") {
            None => peer::PROACTIVE_FETCH_GRACE_RATIO,
            Some(value) => self.number(value, &ratio_key)?,
        };
        if !(ratio > 0.0 && ratio.is_finite()) {
            return Err(self.error(&ratio_key, format!("{ratio} must be more than 0")));
        }
        // It skips a domain checked less than interval / grace_ratio ago; the nearest thing we
        // have is the age at which a policy is refetched.
        let refetch_after = Duration::try_from_secs_f64(interval.as_secs_f64() / ratio)
            .map_err(|_| self.error(&ratio_key, format!("{ratio} is too small")))?;
        Ok(RefreshConfig {
            enabled,
            interval,
            refetch_after,
            concurrency,
        })
    }

    fn zone(&mut self, value: &Value, path: &str) -> Result<Zone, PolicydError> {
        let section = self.map(value, path, ZONE_KEYS)?;
        let timeout_key = section.key("timeout");
        let timeout = match section.get("timeout") {
            None => peer::TIMEOUT,
            Some(value) => self.seconds(value, &timeout_key, false)?,
        };
        Ok(Zone {
            strict_testing: self.boolean(
                section.get("strict_testing"),
                &section.key("strict_testing"),
                peer::STRICT_TESTING,
            )?,
            timeout,
            require_sni: self.boolean(
                section.get("require_sni"),
                &section.key("require_sni"),
                peer::REQUIRE_SNI,
            )?,
            // The peer's default is false. Here a zone that does not say follows the Postfix
            // version (`postfix_version`, "auto" by default): Postfix 3.10.5 and later get the
            // attributes that make it enforce the MX patterns, older Postfix never gets them. An
            // explicit `tlsrpt:` is kept either way.
            tlsrpt: match section.get("tlsrpt") {
                None => None,
                value => Some(self.boolean(value, &section.key("tlsrpt"), false)?),
            },
        })
    }

    // Scalars, read as PyYAML (YAML 1.1) reads them.

    fn string(&self, value: &Value, key: &str) -> Result<String, PolicydError> {
        match value {
            Value::String(text) => Ok(text.clone()),
            other => Err(self.error(key, format!("must be text, not {}", describe(other)))),
        }
    }

    /// A boolean: `true`/`false`, YAML 1.1's `yes`/`no`/`on`/`off`, or 0/1 (which Python takes
    /// as false and true). Absent: `default`.
    fn boolean(
        &self,
        value: Option<&Value>,
        key: &str,
        default: bool,
    ) -> Result<bool, PolicydError> {
        let Some(value) = value else {
            return Ok(default);
        };
        let found = match value {
            Value::Bool(b) => Some(*b),
            // PyYAML's spellings exactly (`TrUe` is text there, not a boolean).
            Value::String(text) => match text.as_str() {
                "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => Some(true),
                "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
                    Some(false)
                }
                _ => None,
            },
            Value::Number(n) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            _ => None,
        };
        found.ok_or_else(|| {
            self.error(
                key,
                format!("must be true or false, not {}", describe(value)),
            )
        })
    }

    /// A whole number, in any of YAML 1.1's notations.
    fn integer(&self, value: &Value, key: &str) -> Result<i128, PolicydError> {
        let found = match value {
            Value::Number(n) => n
                .as_u64()
                .map(i128::from)
                .or_else(|| n.as_i64().map(i128::from)),
            Value::String(text) => yaml11_int(text),
            _ => None,
        };
        found.ok_or_else(|| {
            self.error(
                key,
                format!("must be a whole number, not {}", describe(value)),
            )
        })
    }

    /// A whole number of at least 1.
    fn count(&self, value: &Value, key: &str) -> Result<usize, PolicydError> {
        let number = self.integer(value, key)?;
        usize::try_from(number)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| self.error(key, format!("{number} must be at least 1")))
    }

    /// A number, whole or not.
    fn number(&self, value: &Value, key: &str) -> Result<f64, PolicydError> {
        let found = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(text) => yaml11_int(text)
                .map(|n| n as f64)
                .or_else(|| text.replace('_', "").parse::<f64>().ok()),
            _ => None,
        };
        found.ok_or_else(|| self.error(key, format!("must be a number, not {}", describe(value))))
    }

    /// Seconds, possibly fractional; zero only where `zero_ok`.
    fn seconds(&self, value: &Value, key: &str, zero_ok: bool) -> Result<Duration, PolicydError> {
        let seconds = self.number(value, key)?;
        let duration = Duration::try_from_secs_f64(seconds).map_err(|_| {
            self.error(
                key,
                format!("{seconds} is not a number of seconds (0 or more)"),
            )
        })?;
        if duration.is_zero() && !zero_ok {
            return Err(self.error(key, "must be more than 0 seconds"));
        }
        Ok(duration)
    }
}

/// The cache settings one `cache:` section makes.
struct Cache {
    kind: CacheKind,
    size: usize,
    ca_file: Option<PathBuf>,
}

/// Our SQLite file beside postfix-mta-sts-resolver's: `cache.db` → `cache.mta-sts.db`,
/// `cache` → `cache.mta-sts`. `None` if `peer` names no file.
fn own_sqlite_file(peer: &Path) -> Option<PathBuf> {
    let stem = peer.file_stem()?;
    let mut name = stem.to_os_string();
    name.push(".mta-sts");
    if let Some(extension) = peer.extension() {
        name.push(".");
        name.push(extension);
    }
    Some(peer.with_file_name(name))
}

/// An integer as YAML 1.1 (PyYAML) writes it where YAML 1.2 does not: a leading `0` is octal
/// (`0666`), `_` separates digits, `0b` binary, `0x` hex (and `0o` octal, for good measure).
fn yaml11_int(text: &str) -> Option<i128> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let body = body.replace('_', "");
    let (radix, digits) = if let Some(rest) = body.strip_prefix("0b") {
        (2, rest)
    } else if let Some(rest) = body.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = body.strip_prefix("0o") {
        (8, rest)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body.as_str())
    };
    // from_str_radix takes a sign of its own; one sign is all YAML allows.
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// A value, for an error message.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (an empty value)".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(text) => format!("the text \"{text}\""),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Config, Vec<Note>) {
        from_yaml(text).unwrap_or_else(|e| panic!("{text}\n=> {e}"))
    }

    /// The error for `text`, which must be a `CompatConfig` one about `key`.
    fn refused(text: &str, key: &str) -> String {
        match from_yaml(text) {
            Err(PolicydError::CompatConfig {
                key: found,
                message,
                ..
            }) => {
                assert_eq!(found, key, "{text}: {message}");
                message
            }
            other => panic!("{text}: expected an error about {key}, got {other:?}"),
        }
    }

    fn noted(notes: &[Note], key: &str) -> String {
        notes
            .iter()
            .find(|note| note.key == key)
            .unwrap_or_else(|| panic!("no note for {key} in {notes:?}"))
            .message
            .clone()
    }

    fn tcp(text: &str) -> ListenAddr {
        ListenAddr::Tcp(text.parse().expect("socket address"))
    }

    /// What postfix-mta-sts-resolver runs with when its file says nothing.
    fn peer_defaults() -> Config {
        Config {
            listen: tcp("127.0.0.1:8461"),
            shutdown_timeout: Duration::from_secs(20),
            check_interval: Duration::from_secs(60),
            cache: CacheKind::Memory,
            cache_size: 10_000,
            refresh: RefreshConfig {
                enabled: false,
                interval: Duration::from_secs(86_400),
                refetch_after: Duration::from_secs(43_200),
                concurrency: 100,
            },
            default_zone: Zone {
                strict_testing: false,
                timeout: Duration::from_secs(4),
                require_sni: true,
                tlsrpt: None,
            },
            ..Config::default()
        }
    }

    #[test]
    fn an_empty_file_is_the_peers_defaults() {
        for text in [
            "",
            "# nothing set\n",
            "---\n",
            "cache:\nzones:\ndefault_zone:\n",
        ] {
            let (config, notes) = parse(text);
            assert_eq!(config, peer_defaults(), "{text:?}");
            assert!(notes.is_empty(), "{text:?}: {notes:?}");
        }
    }

    #[test]
    fn the_peers_defaults_differ_from_ours_only_in_refresh() {
        let (config, _) = parse("");
        let ours = Config::default();
        // The user keeps what they had: no background refresh unless they asked for it.
        assert!(!config.refresh.enabled && ours.refresh.enabled);
        assert_eq!(config.refresh.concurrency, 100);
        // Everything the peer has no setting for is ours.
        assert_eq!(config.resolver, ours.resolver);
        assert_eq!(config.negative_ttl, ours.negative_ttl);
        assert_eq!(config.backoff, ours.backoff);
        assert_eq!(config.dane, ours.dane);
        assert_eq!(config.max_connections, ours.max_connections);
        assert_eq!(config.https_port, 443);
    }

    /// The structure of postfix-mta-sts-resolver's own config_examples/mta-sts-daemon.yml.internal.
    #[test]
    fn the_peers_example_configuration() {
        let (config, notes) = parse(
            "host: 127.0.0.1\n\
             port: 8461\n\
             reuse_port: true\n\
             shutdown_timeout: 20\n\
             # tlsrpt: true\n\
             cache:\n  type: internal\n  options:\n    cache_size: 10000\n\
             default_zone:\n  strict_testing: false\n  timeout: 4\n\
             zones:\n  myzone:\n    strict_testing: false\n    timeout: 4\n",
        );
        let mut expected = peer_defaults();
        expected
            .zones
            .insert("myzone".into(), expected.default_zone.clone());
        assert_eq!(config, expected);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(noted(&notes, "reuse_port").contains("ignored"));
        assert_eq!(config.zone("myzone").0, Some("myzone"));
    }

    /// The structure of its older mta-sts-daemon.yml.example, with a `logfile` key it never read.
    #[test]
    fn the_peers_old_example_with_logfile() {
        let (config, notes) = parse(
            "host: 127.0.0.1\nport: 8461\nlogfile: /var/log/mta-sts.log\n\
             cache:\n  type: internal\n  options:\n    cache_size: 10000\n\
             default_zone:\n  strict_testing: false\n  timeout: 4\n",
        );
        assert_eq!(config, peer_defaults());
        assert!(noted(&notes, "logfile").contains("standard error"));
    }

    #[test]
    fn the_shipped_example_loads() {
        let (config, notes) = parse(include_str!("../../../examples/mta-sts-daemon.yml"));
        assert_eq!(config.listen, tcp("127.0.0.1:8461"));
        assert_eq!(
            config.cache,
            CacheKind::Sqlite("/var/lib/mta-sts/cache.mta-sts.db".into())
        );
        assert_eq!(
            config.refresh,
            RefreshConfig {
                enabled: true,
                interval: Duration::from_secs(86_400),
                refetch_after: Duration::from_secs(43_200),
                concurrency: 100,
            }
        );
        assert_eq!(config.default_zone, peer_defaults().default_zone);
        let (name, strict) = config.zone("strict");
        assert_eq!(name, Some("strict"));
        assert!(strict.strict_testing && strict.require_sni && strict.tlsrpt.is_none());
        let keys: Vec<&str> = notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, ["reuse_port", "cache.options.filename"]);
    }

    #[test]
    fn tcp_listen_addresses() {
        let (config, notes) = parse("host: '::1'\nport: 10025\nreuse_port: false\n");
        assert_eq!(config.listen, tcp("[::1]:10025"));
        assert!(
            notes.is_empty(),
            "reuse_port: false is what we do: {notes:?}"
        );
        let (config, _) = parse("host: 0.0.0.0\n");
        assert_eq!(config.listen, tcp("0.0.0.0:8461"));
        let (config, _) = parse("port: 0\n");
        assert_eq!(config.listen, tcp("127.0.0.1:0"));
        let (config, notes) = parse("host: localhost\n");
        assert_eq!(config.listen, tcp("127.0.0.1:8461"));
        assert!(noted(&notes, "host").contains("127.0.0.1"));
        let (config, notes) = parse("mode: 0660\n");
        assert_eq!(config.socket_mode, None);
        assert!(noted(&notes, "mode").contains("unix socket"));

        assert!(refused("host: mail.example.net\n", "host").contains("not an IP address"));
        assert!(refused("host: ''\n", "host").contains("0.0.0.0"));
        assert!(refused("host: 127\n", "host").contains("text"));
        assert!(refused("port: 70000\n", "port").contains("not a port"));
        assert!(refused("port: -1\n", "port").contains("not a port"));
        assert!(refused("port: smtp\n", "port").contains("whole number"));
        assert!(refused("port:\n", "port").contains("whole number"));
    }

    #[test]
    fn unix_sockets_and_their_mode() {
        let (config, notes) = parse("path: /var/run/mta-sts.sock\nmode: 0666\n");
        assert_eq!(
            config.listen,
            ListenAddr::Unix("/var/run/mta-sts.sock".into())
        );
        // PyYAML reads 0666 as octal (YAML 1.1): os.chmod gets 438.
        assert_eq!(config.socket_mode.map(SocketMode::bits), Some(0o666));
        assert!(notes.is_empty(), "{notes:?}");
        for (written, bits) in [
            ("438", 0o666),
            ("0o660", 0o660),
            ("0x1b6", 0o666),
            ("0_660", 0o660),
            ("'0600'", 0o600),
        ] {
            let (config, _) = parse(&format!("path: /run/s\nmode: {written}\n"));
            assert_eq!(
                config.socket_mode.map(SocketMode::bits),
                Some(bits),
                "{written}"
            );
        }
        let (config, _) = parse("path: /run/s\nmode:\n");
        assert_eq!(config.socket_mode, None);
        // path wins over host and port, as there.
        let (config, notes) = parse("path: /run/s\nhost: 127.0.0.1\nport: 8461\n");
        assert_eq!(config.listen, ListenAddr::Unix("/run/s".into()));
        assert!(noted(&notes, "host").contains("path"));
        assert!(noted(&notes, "port").contains("path"));
        // `path:` with no value means TCP, as there.
        let (config, _) = parse("path:\n");
        assert_eq!(config.listen, tcp("127.0.0.1:8461"));

        // 666 without the leading zero is decimal: 0o1232, not a mode anyone means.
        let message = refused("path: /run/s\nmode: 666\n", "mode");
        assert!(message.contains("leading zero"), "{message}");
        assert!(refused("path: /run/s\nmode: 01777\n", "mode").contains("not a file mode"));
        assert!(refused("path: /run/s\nmode: rw-rw-rw-\n", "mode").contains("whole number"));
        assert!(refused("path: ''\n", "path").contains("socket file"));
        assert!(refused("path: [a]\n", "path").contains("text"));
    }

    #[test]
    fn timings() {
        let (config, _) = parse("shutdown_timeout: 5.5\ncache_grace: 0\n");
        assert_eq!(config.shutdown_timeout, Duration::from_millis(5500));
        assert_eq!(config.check_interval, Duration::ZERO);
        let (config, _) = parse("cache_grace: 1_800\n");
        assert_eq!(config.check_interval, Duration::from_secs(1800));
        assert!(refused("cache_grace: -1\n", "cache_grace").contains("seconds"));
        assert!(refused("cache_grace: .nan\n", "cache_grace").contains("seconds"));
        assert!(refused("shutdown_timeout: soon\n", "shutdown_timeout").contains("number"));
        assert!(refused("shutdown_timeout:\n", "shutdown_timeout").contains("number"));
    }

    #[test]
    fn internal_cache() {
        let (config, notes) = parse("cache:\n  type: internal\n  options:\n    cache_size: 500\n");
        assert_eq!((config.cache, config.cache_size), (CacheKind::Memory, 500));
        assert!(notes.is_empty());
        let (config, _) = parse("cache:\n  options:\n    cache_size: 7\n");
        assert_eq!((config.cache, config.cache_size), (CacheKind::Memory, 7));
        assert!(
            refused(
                "cache: {options: {cache_size: 0}}\n",
                "cache.options.cache_size"
            )
            .contains("at least 1")
        );
        let message = refused("cache: {options: {size: 10}}\n", "cache.options.size");
        assert!(message.contains("cache_size"), "{message}");
        assert!(
            refused(
                "cache: {options: {filename: x}}\n",
                "cache.options.filename"
            )
            .contains("unknown key")
        );
    }

    #[test]
    fn sqlite_cache_goes_beside_the_peers_file() {
        let (config, notes) = parse(
            "cache:\n  type: sqlite\n  options:\n    filename: /var/lib/mta-sts/cache.db\n    \
             threads: 4\n    timeout: 5\n",
        );
        assert_eq!(
            config.cache,
            CacheKind::Sqlite("/var/lib/mta-sts/cache.mta-sts.db".into())
        );
        assert_eq!(config.cache_size, 10_000);
        let message = noted(&notes, "cache.options.filename");
        assert!(
            message.contains("/var/lib/mta-sts/cache.db") && message.contains("cache.mta-sts.db"),
            "{message}"
        );
        assert!(message.contains("imports"), "{message}");
        assert!(noted(&notes, "cache.options.threads").contains("ignored"));
        assert!(noted(&notes, "cache.options.timeout").contains("ignored"));

        // The peer's file is the one to import from; the other cache types have none.
        let peer_cache = |text: &str| {
            CompatConfig::from_yaml(text)
                .unwrap_or_else(|e| panic!("{text}\n=> {e}"))
                .peer_cache
        };
        assert_eq!(
            peer_cache("cache: {type: sqlite, options: {filename: /var/lib/mta-sts/cache.db}}\n"),
            Some(PathBuf::from("/var/lib/mta-sts/cache.db"))
        );
        assert_eq!(
            peer_cache("cache: {type: sqlite, options: {filename: ':memory:'}}\n"),
            None
        );
        assert_eq!(peer_cache("cache: {type: internal}\n"), None);
        assert_eq!(
            peer_cache("cache: {type: redis, options: {url: \"redis://a\"}}\n"),
            None
        );
        assert_eq!(peer_cache(""), None);

        let (config, _) = parse("cache: {type: sqlite, options: {filename: cache}}\n");
        assert_eq!(config.cache, CacheKind::Sqlite("cache.mta-sts".into()));
        let (config, notes) = parse("cache: {type: sqlite, options: {filename: ':memory:'}}\n");
        assert_eq!(config.cache, CacheKind::Memory);
        assert!(noted(&notes, "cache.options.filename").contains("memory"));

        assert!(refused("cache: {type: sqlite}\n", "cache.options.filename").contains("required"));
        assert!(
            refused(
                "cache: {type: sqlite, options: {filename: /}}\n",
                "cache.options.filename"
            )
            .contains("does not name a file")
        );
        assert!(
            refused(
                "cache: {type: sqlite, options: {filename: a, threads: many}}\n",
                "cache.options.threads"
            )
            .contains("number")
        );
        assert!(
            refused(
                "cache: {type: sqlite, options: {filename: a, cache_size: 5}}\n",
                "cache.options.cache_size"
            )
            .contains("filename, threads, timeout")
        );
    }

    fn redis(options: &str) -> (String, Vec<Note>) {
        let (config, notes) = parse(&format!("cache:\n  type: redis\n  options: {options}\n"));
        match config.cache {
            CacheKind::Redis(url) => (url.as_str().to_string(), notes),
            other => panic!("{options}: {other:?}"),
        }
    }

    #[test]
    fn redis_cache_from_the_peers_options() {
        // config_examples/mta-sts-daemon.yml.redis
        let (url, notes) = redis(
            "{url: \"redis://127.0.0.1/0\", max_connections: 25, socket_timeout: 1.0, \
             socket_connect_timeout: 1.0}",
        );
        assert_eq!(url, "redis://127.0.0.1/0");
        let keys: Vec<&str> = notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cache.options.max_connections",
                "cache.options.socket_timeout",
                "cache.options.socket_connect_timeout"
            ]
        );

        // Options fill what the URL leaves out (redis-py: from_url(url, **options)).
        let (url, notes) = redis("{url: \"redis://cache.example.net\", port: 6380, db: 2}");
        assert_eq!(url, "redis://cache.example.net:6380/2");
        assert!(notes.is_empty(), "{notes:?}");
        // ... and the URL wins where both say.
        let (url, notes) = redis("{url: \"redis://10.0.0.1:6379/1\", db: 3, port: 7000}");
        assert_eq!(url, "redis://10.0.0.1:6379/1");
        assert!(noted(&notes, "cache.options.db").contains("URL wins"));
        assert!(noted(&notes, "cache.options.port").contains("URL wins"));
        // `?db=` wins over the path, as in redis-py's parse_url.
        let (url, notes) = redis("{url: \"redis://10.0.0.1/1?db=4&health_check_interval=5\"}");
        assert_eq!(url, "redis://10.0.0.1/4");
        assert!(noted(&notes, "cache.options.url").contains("health_check_interval"));

        // Credentials, kept out of what is printed.
        let (config, _) = parse(
            "cache: {type: redis, options: {url: \"redis://10.0.0.1/0\", password: \"s3cr:t@\"}}\n",
        );
        let CacheKind::Redis(url) = &config.cache else {
            panic!("{:?}", config.cache);
        };
        assert_eq!(url.as_str(), "redis://:s3cr%3At%40@10.0.0.1/0");
        assert!(!url.to_string().contains("s3cr"));
        let (url, _) = redis("{url: \"redis://10.0.0.1\", username: mta, password: pw}");
        assert_eq!(url, "redis://mta:pw@10.0.0.1/0");

        // aioredis 1.x's `address`, from postfix-mta-sts-resolver before 1.0.
        let (url, notes) =
            redis("{address: \"redis://10.0.0.2:6379\", db: 1, minsize: 5, maxsize: 10}");
        assert_eq!(url, "redis://10.0.0.2:6379/1");
        assert!(noted(&notes, "cache.options.maxsize").contains("ignored"));
        let (url, _) = redis("{address: [10.0.0.3, 6390]}");
        assert_eq!(url, "redis://10.0.0.3:6390/0");
        // Nothing but options: redis-py's defaults.
        let (url, _) = redis("{host: 10.0.0.4}");
        assert_eq!(url, "redis://10.0.0.4/0");
        let (url, _) = redis("{}");
        assert_eq!(url, "redis://localhost/0");

        // Redis over TLS: redis-py's CA option is our cache_ca_file.
        let (config, notes) = parse(
            "cache: {type: redis, options: {url: \"rediss://10.0.0.1:6380\", \
             ssl_ca_certs: /etc/ca.pem, ssl_cert_reqs: required}}\n",
        );
        assert_eq!(config.cache_ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert!(notes.is_empty(), "{notes:?}");
        let (config, notes) = parse(
            "cache: {type: redis, options: {url: \"redis://10.0.0.1\", ssl_ca_certs: /etc/ca.pem}}\n",
        );
        assert_eq!(config.cache_ca_file, None);
        assert!(noted(&notes, "cache.options.ssl_ca_certs").contains("rediss"));
    }

    #[test]
    fn redis_options_that_cannot_work() {
        let cache = |options: &str| format!("cache: {{type: redis, options: {options}}}\n");
        assert!(
            refused(
                &cache("{url: \"unix:///run/redis.sock\"}"),
                "cache.options.url"
            )
            .contains("unix socket")
        );
        assert!(
            refused(
                &cache("{address: /run/redis.sock}"),
                "cache.options.address"
            )
            .contains("unix socket")
        );
        assert!(
            refused(
                &cache("{url: \"redis://a\", address: \"redis://b\"}"),
                "cache.options.address"
            )
            .contains("not both")
        );
        assert!(
            refused(&cache("{url: \"http://cache\"}"), "cache.options.url")
                .contains("not a Redis URL")
        );
        assert!(
            refused(&cache("{url: \"redis://cache/zero\"}"), "cache.options.url")
                .contains("not a number")
        );
        assert!(
            refused(&cache("{url: \"redis://0.0.0.0\"}"), "cache.options.url")
                .contains("Redis URL")
        );
        assert!(refused(&cache("{url: 6379}"), "cache.options.url").contains("text"));
        assert!(
            refused(&cache("{url: \"redis://a\", db: -1}"), "cache.options.db")
                .contains("database")
        );
        let message = refused(
            &cache("{url: \"redis://a\", ssl_certfile: c.pem}"),
            "cache.options.ssl_certfile",
        );
        assert!(
            message.contains("unknown key") && message.contains("url"),
            "{message}"
        );
        let tls = "{url: \"rediss://a\", ssl_cert_reqs: none}";
        assert!(
            refused(&cache(tls), "cache.options.ssl_cert_reqs").contains("cannot be turned off")
        );
        let tls = "{url: \"rediss://a\", ssl_check_hostname: false}";
        assert!(
            refused(&cache(tls), "cache.options.ssl_check_hostname")
                .contains("cannot be turned off")
        );
        // A password in a bad URL is not repeated in the error.
        let error =
            from_yaml(&cache("{url: \"redis://:hunter2@cache:99999/0\"}")).expect_err("bad port");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn unsupported_cache_types_name_the_alternative() {
        for kind in ["redis_sentinel", "postgres"] {
            let message = refused(
                &format!("cache:\n  type: {kind}\n  options:\n    dsn: x\n"),
                "cache.type",
            );
            assert!(message.contains(kind), "{message}");
            assert!(message.contains("type: redis"), "{message}");
            assert!(message.contains("type: sqlite"), "{message}");
        }
        let message = refused("cache: {type: memcached}\n", "cache.type");
        assert!(message.contains("internal, sqlite or redis"), "{message}");
        assert!(refused("cache:\n  type:\n", "cache.type").contains("text"));
        assert!(refused("cache: memory\n", "cache").contains("mapping"));
    }

    #[test]
    fn proactive_fetching_becomes_refresh() {
        let (config, _) = parse(
            "proactive_policy_fetching:\n  enabled: yes\n  interval: 3600\n  \
             concurrency_limit: 8\n  grace_ratio: 4\n",
        );
        assert_eq!(
            config.refresh,
            RefreshConfig {
                enabled: true,
                interval: Duration::from_secs(3600),
                refetch_after: Duration::from_secs(900),
                concurrency: 8,
            }
        );
        let (config, _) = parse("proactive_policy_fetching: {enabled: true}\n");
        assert_eq!(config.refresh.interval, Duration::from_secs(86_400));
        assert_eq!(config.refresh.refetch_after, Duration::from_secs(43_200));
        let (config, _) = parse("proactive_policy_fetching: {enabled: on, grace_ratio: 1.5}\n");
        assert_eq!(config.refresh.refetch_after, Duration::from_secs(57_600));
        // Disabled, an interval of 0 is never used.
        let (config, _) = parse("proactive_policy_fetching: {interval: 0}\n");
        assert!(!config.refresh.enabled);

        let section = |body: &str| format!("proactive_policy_fetching: {{{body}}}\n");
        assert!(
            refused(
                &section("enabled: true, interval: 0"),
                "proactive_policy_fetching.interval"
            )
            .contains("at least 1 second")
        );
        assert!(
            refused(
                &section("grace_ratio: 0"),
                "proactive_policy_fetching.grace_ratio"
            )
            .contains("more than 0")
        );
        assert!(
            refused(
                &section("grace_ratio: 1e-300"),
                "proactive_policy_fetching.grace_ratio"
            )
            .contains("too small")
        );
        assert!(
            refused(
                &section("concurrency_limit: 0"),
                "proactive_policy_fetching.concurrency_limit"
            )
            .contains("at least 1")
        );
        assert!(
            refused(
                &section("enabled: maybe"),
                "proactive_policy_fetching.enabled"
            )
            .contains("true or false")
        );
        assert!(
            refused(
                "proactive_policy_fetching:\n  enabled:\n",
                "proactive_policy_fetching.enabled"
            )
            .contains("true or false")
        );
        let message = refused(&section("enable: true"), "proactive_policy_fetching.enable");
        assert!(
            message.contains("enabled, interval, concurrency_limit, grace_ratio"),
            "{message}"
        );
    }

    #[test]
    fn zones_take_the_peers_defaults_not_the_default_zones() {
        let (config, notes) = parse(
            "default_zone:\n  strict_testing: yes\n  timeout: 10\n  require_sni: off\n  tlsrpt: 1\n\
             zones:\n  strict:\n    strict_testing: True\n  quick:\n    timeout: 2.5\n  empty:\n",
        );
        assert!(notes.is_empty());
        assert_eq!(
            config.default_zone,
            Zone {
                strict_testing: true,
                timeout: Duration::from_secs(10),
                require_sni: false,
                tlsrpt: Some(true),
            }
        );
        let defaults = peer_defaults().default_zone;
        assert_eq!(
            config.zone("strict").1,
            &Zone {
                strict_testing: true,
                ..defaults.clone()
            }
        );
        assert_eq!(
            config.zone("quick").1,
            &Zone {
                timeout: Duration::from_millis(2500),
                ..defaults.clone()
            }
        );
        assert_eq!(config.zone("empty"), (Some("empty"), &defaults));
        assert_eq!(config.zone("postfix"), (None, &config.default_zone));

        // YAML merge keys, which PyYAML also resolves.
        let (config, _) = parse(
            "zones:\n  a: &base\n    strict_testing: true\n  b:\n    <<: *base\n    tlsrpt: true\n",
        );
        assert!(config.zone("b").1.strict_testing && config.zone("b").1.tlsrpt == Some(true));
        // An explicit false is kept (the version does not override it).
        let (config, _) = parse("default_zone:\n  tlsrpt: no\n");
        assert_eq!(config.default_zone.tlsrpt, Some(false));

        assert!(
            refused("default_zone: {timeout: 0}\n", "default_zone.timeout").contains("more than 0")
        );
        assert!(refused("zones: {x: {timeout: fast}}\n", "zones.x.timeout").contains("number"));
        assert!(
            refused("zones: {x: {tlsrpt: TrUe}}\n", "zones.x.tlsrpt").contains("true or false")
        );
        assert!(refused("zones: {x: {tlsrpt: 2}}\n", "zones.x.tlsrpt").contains("true or false"));
        assert!(refused("zones: [a, b]\n", "zones").contains("zone names"));
        assert!(refused("zones: {1: {}}\n", "zones").contains("names"));
        assert!(refused("default_zone: strict\n", "default_zone").contains("mapping"));
    }

    #[test]
    fn unknown_keys_are_named_with_where_they_are_and_what_is_known() {
        let message = refused("host: 127.0.0.1\nchache:\n  type: internal\n", "chache");
        assert!(message.contains("at the top level"), "{message}");
        assert!(message.contains("host, port, path, mode"), "{message}");
        let message = refused(
            "zones:\n  x:\n    strict_tesing: true\n",
            "zones.x.strict_tesing",
        );
        assert!(message.contains("in `zones.x`"), "{message}");
        assert!(
            message.contains("strict_testing, timeout, require_sni, tlsrpt"),
            "{message}"
        );
        let message = refused("cache: {kind: redis}\n", "cache.kind");
        assert!(message.contains("type, options"), "{message}");
        // The peer's examples carry a commented `# tlsrpt: true` at the top level, where it does
        // nothing; uncommented, it is refused with the way to get what was meant.
        let message = refused("tlsrpt: true\n", "tlsrpt");
        assert!(message.contains("default_zone"), "{message}");
        assert!(message.contains("no effect"), "{message}");
        refused("strict_testing: true\n", "strict_testing");
        assert!(refused("1: x\n", "(top level)").contains("names"));
        assert!(
            refused("cache: {options: {size: 1}}\n", "cache.options.size").contains("fail on it")
        );
    }

    #[test]
    fn broken_yaml_says_where() {
        let error = from_yaml("host: 127.0.0.1\nport: [8461\ncache:\n").expect_err("syntax");
        let PolicydError::ConfigSyntax { origin, message } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(origin, "<compat-config>");
        assert!(message.contains("line "), "{message}");
        assert!(message.contains("column "), "{message}");

        let error = from_yaml("port: 1\nport: 2\n").expect_err("duplicate");
        assert!(error.to_string().contains("duplicate"), "{error}");
        let error = from_yaml("- host\n- port\n").expect_err("a list");
        assert!(
            matches!(error, PolicydError::ConfigSyntax { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("mapping"), "{error}");
        let error = from_yaml("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert!(
            matches!(error, PolicydError::ConfigSyntax { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn files_are_read_and_named_in_errors() {
        let error = load(Path::new("/nonexistent/mta-sts-daemon.yml")).expect_err("missing");
        assert!(
            matches!(error, PolicydError::ReadConfig { .. }),
            "{error:?}"
        );

        let dir = std::env::temp_dir().join(format!("mta-sts-compat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("mta-sts-daemon.yml");
        std::fs::write(&path, "cache:\n  type: postgres\n").expect("write");
        let error = load(&path).expect_err("postgres");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: `cache.type`: ", path.display())),
            "{error}"
        );
        std::fs::write(&path, "reuse_port: yes\n").expect("write");
        let (config, notes) = load(&path).expect("loads");
        assert_eq!(config, peer_defaults());
        assert_eq!(
            notes[0].to_string(),
            format!("reuse_port: {}", notes[0].message)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn yaml_1_1_integers() {
        for (text, value) in [
            ("0666", Some(0o666)),
            ("0_666", Some(0o666)),
            ("1_000", Some(1000)),
            ("0x1b6", Some(438)),
            ("0b11", Some(3)),
            ("0o17", Some(15)),
            ("-0", Some(0)),
            ("+12", Some(12)),
            ("-010", Some(-8)),
            ("0", Some(0)),
            ("089", None),
            ("", None),
            ("-", None),
            ("_1", None),
            ("0x", None),
            ("--1", None),
            ("0x-1", None),
            ("1.5", None),
            ("twelve", None),
        ] {
            assert_eq!(yaml11_int(text), value, "{text:?}");
        }
    }
}
