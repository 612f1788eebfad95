//! [`Daemon`]: configuration, resolver and server put together, and [`QueryOutcome`], the
//! explained answer for one key (`mta-sts query`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use mta_sts_core::Mode;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::cache::{
    DaneEntry, MemoryCache, OwnCache, PeerImport, PolicyCache, RedisCache, Salvage, SqliteCache,
    TieredCache, import_once,
};
use crate::config::{CacheKind, Config};
use crate::error::PolicydError;
use crate::event::Event;
use crate::metrics::{self, Metrics};
use crate::policy::{
    DaneSummary, Decision, Lookup, NotFoundReason, Origin, Problem, RefreshReport, Resolver,
    ResolverSettings, render,
};
use crate::postfix::PostfixTarget;
use crate::server::{self, Listener};
use crate::socketmap::{Key, Reply, Request, normalize_key};
use crate::source::{NetSource, PolicySource};
use mta_sts_core::time::{Clock, Timestamp};
use mta_sts_net::SystemClock;

/// The policy daemon. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Daemon {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    /// The Postfix the replies are for: whether zones without `tlsrpt` send the attributes.
    postfix: PostfixTarget,
    resolver: Resolver,
    metrics: Arc<Metrics>,
    /// What was salvaged from a damaged SQLite cache when it was opened.
    salvage: Option<Salvage>,
}

impl Daemon {
    /// A daemon for `config`: its resolver and CA roots, its cache (an SQLite cache is opened
    /// here, which blocks briefly; a Redis cache is asked for a `PING`, which blocks up to a few
    /// seconds if it does not answer, and needs a Tokio runtime), the system clock, and the
    /// Postfix version (with `postfix_version = "auto"`, `postconf` is run here, once).
    pub fn new(config: Config) -> Result<Daemon, PolicydError> {
        config.validate()?;
        let source = Arc::new(NetSource::from_config(&config)?);
        let (cache, salvage) = Daemon::open_cache_salvaging(&config)?;
        let postfix = PostfixTarget::detect(&config);
        Ok(
            Daemon::assemble(config, source, cache, Arc::new(SystemClock), salvage)
                .for_postfix(postfix),
        )
    }

    /// A daemon as [`Daemon::new`] makes it, whose cache first receives the policies of
    /// postfix-mta-sts-resolver's SQLite cache `peer` (from
    /// [`crate::compat_config::CompatConfig::peer_cache`]) if the cache is new: an SQLite file
    /// that did not exist, a memory cache, an empty Redis cache (see
    /// [`crate::cache::import_once`]). The import never fails the start-up: the returned
    /// [`PeerImport`] says what happened, for the log.
    pub async fn new_importing(
        config: Config,
        peer: &Path,
    ) -> Result<(Daemon, PeerImport), PolicydError> {
        config.validate()?;
        // Before opening: opening an SQLite cache creates its file.
        let own = OwnCache::before_opening(&config.cache);
        let source = Arc::new(NetSource::from_config(&config)?);
        let (cache, salvage) = Daemon::open_cache_salvaging(&config)?;
        let clock = Arc::new(SystemClock);
        let imported = import_once(peer, cache.as_ref(), own, clock.now()).await;
        let postfix = PostfixTarget::detect(&config);
        let daemon = Daemon::assemble(config, source, cache, clock, salvage).for_postfix(postfix);
        Ok((daemon, imported))
    }

    /// A daemon for a diagnostic (`mta-sts query`) that reads the configured cache and never
    /// writes it: an SQLite file is opened read-only (a missing one is not created:
    /// [`crate::cache::CacheError::Missing`]), and what lookups learn is kept in memory in front
    /// of it ([`TieredCache::read_only`]). With `peer`, postfix-mta-sts-resolver's cache is
    /// imported into that memory if the daemon's own cache is new, as the daemon would on its
    /// first start.
    pub async fn new_read_only(
        config: Config,
        peer: Option<&Path>,
    ) -> Result<(Daemon, Option<PeerImport>), PolicydError> {
        config.validate()?;
        let own = OwnCache::before_opening(&config.cache);
        let source = Arc::new(NetSource::from_config(&config)?);
        let cache: Arc<dyn PolicyCache> = match &config.cache {
            CacheKind::Memory => Arc::new(MemoryCache::new(config.cache_size)),
            CacheKind::Sqlite(path) => Arc::new(TieredCache::read_only(
                config.cache_size,
                Arc::new(SqliteCache::open_read_only(path)?),
            )),
            CacheKind::Redis(url) => Arc::new(TieredCache::read_only(
                config.cache_size,
                Arc::new(RedisCache::open_with_ca_file(
                    url,
                    config.cache_ca_file.as_deref(),
                    RedisCache::DEFAULT_TIMEOUT,
                )?),
            )),
        };
        let clock = Arc::new(SystemClock);
        let imported = match peer {
            Some(peer) => Some(import_once(peer, cache.as_ref(), own, clock.now()).await),
            None => None,
        };
        // The diagnostic shows the reply the daemon would give this host's Postfix.
        let postfix = PostfixTarget::detect(&config);
        let daemon = Daemon::assemble(config, source, cache, clock, None).for_postfix(postfix);
        Ok((daemon, imported))
    }

    /// A daemon over given parts: a policy source, a cache and a clock (tests, simulations, or an
    /// embedding program with its own). `config` supplies everything else; no program is run,
    /// so `postfix_version = "auto"` counts as an unknown Postfix (replies without the TLSRPT
    /// attributes) until [`Daemon::for_postfix`] says otherwise.
    pub fn with_parts(
        config: Config,
        source: Arc<dyn PolicySource>,
        cache: Arc<dyn PolicyCache>,
        clock: Arc<dyn Clock>,
    ) -> Daemon {
        Daemon::assemble(config, source, cache, clock, None)
    }

    fn assemble(
        config: Config,
        source: Arc<dyn PolicySource>,
        cache: Arc<dyn PolicyCache>,
        clock: Arc<dyn Clock>,
        salvage: Option<Salvage>,
    ) -> Daemon {
        let resolver = Resolver::new(source, cache, clock, ResolverSettings::from_config(&config));
        let postfix = PostfixTarget::without_detection(&config);
        Daemon {
            inner: Arc::new(Inner {
                config,
                postfix,
                resolver,
                metrics: Arc::new(Metrics::new()),
                salvage,
            }),
        }
    }

    /// What was salvaged when the daemon's SQLite cache was opened, if the file was damaged:
    /// one line for the log (see [`Salvage`]).
    pub fn cache_salvage(&self) -> Option<&Salvage> {
        self.inner.salvage.as_ref()
    }

    /// The cache `config` asks for: memory, SQLite with a memory tier in front, or Redis alone.
    /// A damaged SQLite file is salvaged as it is opened; [`Daemon::new`] keeps the report.
    pub fn open_cache(config: &Config) -> Result<Arc<dyn PolicyCache>, PolicydError> {
        Daemon::open_cache_salvaging(config).map(|(cache, _)| cache)
    }

    fn open_cache_salvaging(
        config: &Config,
    ) -> Result<(Arc<dyn PolicyCache>, Option<Salvage>), PolicydError> {
        let mut salvage = None;
        let cache: Arc<dyn PolicyCache> = match &config.cache {
            CacheKind::Memory => Arc::new(MemoryCache::new(config.cache_size)),
            CacheKind::Sqlite(path) => {
                let file = SqliteCache::open(path)?;
                salvage = file.salvage().cloned();
                Arc::new(TieredCache::new(config.cache_size, Arc::new(file)))
            }
            // No memory tier: Redis is shared, and a private copy in front would keep serving
            // what this daemon last saw after another one learnt better (a new policy id, a
            // policy where this one remembers none) until check_interval or negative_ttl ran
            // out, and would refetch what the fleet already has. A GET on the local network
            // costs well under a millisecond against the DNS lookup and fetch it saves.
            CacheKind::Redis(url) => Arc::new(RedisCache::open_with_ca_file(
                url,
                config.cache_ca_file.as_deref(),
                RedisCache::DEFAULT_TIMEOUT,
            )?),
        };
        Ok((cache, salvage))
    }

    /// This daemon answering `postfix` (a daemon is configured before it serves: call it on a
    /// fresh daemon, whose clones are not in use yet).
    pub fn for_postfix(self, postfix: PostfixTarget) -> Daemon {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => Inner { postfix, ..inner },
            Err(shared) => Inner {
                config: shared.config.clone(),
                postfix,
                resolver: shared.resolver.clone(),
                metrics: Arc::clone(&shared.metrics),
                salvage: shared.salvage.clone(),
            },
        };
        Daemon {
            inner: Arc::new(inner),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The Postfix the replies are for ([`PostfixTarget::describe`] says it in a sentence).
    pub fn postfix(&self) -> &PostfixTarget {
        &self.inner.postfix
    }

    /// The resolver (lookups and refreshes without the socketmap layer).
    pub fn resolver(&self) -> &Resolver {
        &self.inner.resolver
    }

    /// Fetch failures, cache failures and bad requests, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.resolver.subscribe()
    }

    /// The reply to one socketmap request payload (`"<name> <key>"`, without the netstring).
    pub async fn answer(&self, payload: &[u8]) -> Reply {
        let started = std::time::Instant::now();
        let request = Request::parse(payload);
        let evaluation = self.evaluate(&request.name, &request.key).await;
        self.inner.metrics.record(
            &evaluation.reply,
            evaluation.lookup.as_ref().map(Lookup::origin),
            started.elapsed(),
        );
        evaluation.reply
    }

    /// The Prometheus (OpenMetrics) text of the daemon's metrics: requests by reply, lookups by
    /// how far they went (`cache` is a hit), failed fetches, request latency, open connections
    /// and closed connections by reason.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.encode()
    }

    /// Serves `GET /metrics` on `listener` until `shutdown` completes.
    pub async fn serve_metrics(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        metrics::serve(&self.inner.metrics, listener, shutdown).await;
    }

    /// The metrics, for the server to count connections in.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Counts a failed fetch (the server does, from the event stream).
    pub(crate) fn count_fetch_failure(&self) {
        self.inner.metrics.fetch_failed();
    }

    /// What the daemon would answer for `key` in the zone named `zone`, and why: the reply, the
    /// policy (id, mode, age), where it came from, the DANE facts when they decided the reply
    /// (which MX hosts have validated TLSA records), or why it is `NOTFOUND`. This is a real
    /// lookup: it uses and updates the cache like a request from Postfix.
    pub async fn query(&self, key: &str, zone: &str) -> QueryOutcome {
        let evaluation = self.evaluate(zone, key).await;
        let now = self.inner.resolver.now();
        let (zone, _) = self.inner.config.zone(zone);
        let policy = evaluation
            .lookup
            .as_ref()
            .and_then(Lookup::policy)
            .map(|policy| PolicySummary {
                id: policy.id().to_string(),
                mode: policy.policy().mode,
                max_age: policy.policy().max_age,
                mx: policy
                    .policy()
                    .mx
                    .iter()
                    .map(|p| p.as_str().to_string())
                    .collect(),
                fetched_at: policy.fetched_at(),
                expires_at: policy.expires_at(),
                age: now.duration_since(policy.fetched_at()).as_secs(),
            });
        let fallback = match &evaluation.lookup {
            Some(Lookup::Policy { fallback, .. }) => fallback.clone(),
            _ => None,
        };
        let dane = evaluation
            .dane
            .as_ref()
            .map(|facts| DaneSummary::new(facts, now));
        QueryOutcome {
            key: key.to_string(),
            zone: zone.map(str::to_string),
            domain: evaluation.domain,
            reply: evaluation.reply,
            policy,
            origin: evaluation.lookup.as_ref().map(Lookup::origin),
            fallback,
            dane,
            not_found: evaluation.not_found,
        }
    }

    /// Serves socketmap requests on `listener` until `shutdown` completes; then stops accepting,
    /// finishes the requests already read (up to `shutdown_timeout`) and returns. With
    /// `refresh.enabled`, cached policies are refreshed in the background meanwhile.
    pub async fn serve(
        &self,
        listener: Listener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), PolicydError> {
        server::serve(self, listener, shutdown).await
    }

    /// One proactive refresh pass (RFC 8461 §3.3); [`Daemon::serve`] runs them on its own.
    pub async fn refresh_due(&self) -> RefreshReport {
        self.inner.resolver.refresh_due().await
    }

    async fn evaluate(&self, zone_name: &str, key: &str) -> Evaluation {
        let domain = match normalize_key(key) {
            Key::Domain(domain) => domain,
            Key::Skip(reason) => {
                return Evaluation {
                    domain: None,
                    reply: Reply::NotFound,
                    lookup: None,
                    dane: None,
                    not_found: Some(NotFoundReason::Key(reason)),
                };
            }
        };
        let (_, zone) = self.inner.config.zone(zone_name);
        let decision = self.inner.resolver.decide(&domain, zone).await;
        let tlsrpt = zone.sends_tlsrpt(self.inner.postfix.attributes_by_default());
        let (reply, not_found) = render(&domain, &decision, zone, tlsrpt);
        let Decision { lookup, dane } = decision;
        Evaluation {
            domain: Some(domain),
            reply,
            lookup: Some(lookup),
            dane,
            not_found,
        }
    }
}

struct Evaluation {
    domain: Option<String>,
    reply: Reply,
    lookup: Option<Lookup>,
    /// The DANE facts, when they decided (or could have decided) the reply.
    dane: Option<DaneEntry>,
    not_found: Option<NotFoundReason>,
}

/// The answer for one key, explained; `Serialize` for `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryOutcome {
    /// The key as given.
    pub key: String,
    /// The configured zone used; `None` for the default zone.
    pub zone: Option<String>,
    /// The domain looked up (normalised key); `None` if the key was not looked up.
    pub domain: Option<String>,
    /// The reply Postfix gets.
    pub reply: Reply,
    /// The policy that applies, if any (also when its mode makes the reply `NOTFOUND`).
    pub policy: Option<PolicySummary>,
    /// How far the lookup went (`cache`, `dns`, `fetch`); `None` if there was no lookup.
    pub origin: Option<Origin>,
    /// Why the policy applies unconfirmed (a failed fetch, a vanished record, ...), if it does.
    pub fallback: Option<Problem>,
    /// The DANE facts of the domain when the reply depended on them (DANE first on and an
    /// MTA-STS reply that would be `secure`): whether DANE applies (then the reply is `dane`,
    /// RFC 8461 §2) and which MX hosts have DNSSEC-validated TLSA records.
    pub dane: Option<DaneSummary>,
    /// Why the reply is `NOTFOUND`, if it is.
    pub not_found: Option<NotFoundReason>,
}

/// The facts of a policy, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    /// The TXT id it was fetched under.
    pub id: String,
    /// Its mode.
    pub mode: Mode,
    /// Its `max_age`, seconds.
    pub max_age: u32,
    /// Its `mx` patterns, in policy order.
    pub mx: Vec<String>,
    /// When it was fetched.
    pub fetched_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Seconds since it was fetched.
    pub age: u64,
}
