//! The resolver engine, free of any transport: given a domain, which policy applies
//! ([`Resolver::lookup`]), and what Postfix is told ([`render`]).
//!
//! # Cache semantics (RFC 8461 §3.3, §5.1)
//! - A cached policy is applied until `max_age` after its fetch. Within `check_interval` of the
//!   last TXT check it is served with no network traffic at all; after that the `_mta-sts` TXT
//!   id is looked up: the same id means no fetch, a new id means a fetch.
//! - A failed fetch, a failed TXT lookup or a vanished TXT record never drops an unexpired
//!   cached policy: it is applied (the answer says why it was not confirmed).
//! - A failed fetch is not retried for the same id for `backoff` (five minutes or more),
//!   doubling per further failure up to `backoff_max`; a new id is fetched at once.
//! - "No STSv1 record" is remembered for `negative_ttl`, so a domain without MTA-STS costs one
//!   TXT lookup per TTL, not one per message (postfix-mta-sts-resolver has no negative cache). A
//!   failed TXT lookup (SERVFAIL, timeout) is remembered for `check_interval` at most, so a dead
//!   name server does not cost every message the full timeout.
//! - However many requests wait for a domain, one lookup and at most one fetch run for it.
//! - [`Resolver::refresh_due`] refetches policies before they expire, for a background task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt as _, StreamExt as _, stream};
use mta_sts_core::Mode;
use mta_sts_core::sts_record;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::cache::{
    BackoffEntry, CacheEntry, CachedPolicy, NegativeEntry, NegativeReason, PolicyCache,
};
use crate::clock::{Clock, Timestamp};
use crate::config::{Config, Zone};
use crate::event::Event;
use crate::socketmap::{Reply, SkipReason};
use crate::source::PolicySource;

/// The resolver's timing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSettings {
    /// How long a cached policy is served before its TXT id is checked again.
    pub check_interval: Duration,
    /// How long "no STSv1 record" is remembered.
    pub negative_ttl: Duration,
    /// The first wait after a failed fetch.
    pub backoff: Duration,
    /// The longest wait after repeated failed fetches.
    pub backoff_max: Duration,
    /// Policies older than this (or than half their `max_age`) are due for a refresh.
    pub refetch_after: Duration,
    /// Domains refreshed at once.
    pub refresh_concurrency: usize,
    /// The network timeout of refresh lookups and fetches.
    pub refresh_timeout: Duration,
}

impl ResolverSettings {
    /// The settings in a daemon configuration (refreshes use the default zone's timeout).
    pub fn from_config(config: &Config) -> ResolverSettings {
        ResolverSettings {
            check_interval: config.check_interval,
            negative_ttl: config.negative_ttl,
            backoff: config.backoff,
            backoff_max: config.backoff_max,
            refetch_after: config.refresh.refetch_after,
            refresh_concurrency: config.refresh.concurrency,
            refresh_timeout: config.default_zone.timeout,
        }
    }

    /// The wait after the `failures`-th failure in a row: `backoff`, doubled per further
    /// failure, capped at `backoff_max`.
    fn backoff_after(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.backoff_max)
    }
}

/// How far an answer had to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The cache alone answered: no network traffic.
    Cache,
    /// The `_mta-sts` TXT record was looked up; no policy was fetched.
    Dns,
    /// A policy fetch was attempted.
    Fetch,
}

/// What kept a lookup from a live, confirmed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// No usable `v=STSv1` TXT record: none, several or an invalid one (RFC 8461 §3.1).
    NoRecord,
    /// The TXT lookup failed (SERVFAIL, timeout, unreachable resolver).
    LookupFailed {
        /// What DNS said.
        error: String,
    },
    /// The policy for `id` could not be fetched, or was refused (RFC 8461 §3.2, §3.3).
    FetchFailed {
        /// The TXT id.
        id: String,
        /// Why.
        error: String,
    },
    /// The policy for `id` failed recently and is not retried before `until` (RFC 8461 §3.3).
    BackingOff {
        /// The TXT id.
        id: String,
        /// The earliest next attempt.
        until: Timestamp,
        /// The last failure.
        error: String,
    },
}

impl From<&NegativeReason> for Problem {
    fn from(reason: &NegativeReason) -> Problem {
        match reason {
            NegativeReason::NoRecord => Problem::NoRecord,
            NegativeReason::LookupFailed { error } => Problem::LookupFailed {
                error: error.clone(),
            },
        }
    }
}

impl From<&BackoffEntry> for Problem {
    fn from(backoff: &BackoffEntry) -> Problem {
        Problem::BackingOff {
            id: backoff.id.clone(),
            until: backoff.until,
            error: backoff.error.clone(),
        }
    }
}

/// Which policy applies to a domain, and how that was found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// This policy applies.
    Policy {
        /// The policy.
        policy: CachedPolicy,
        /// How far the lookup went.
        origin: Origin,
        /// Set when the policy comes from the cache because the live record could not confirm it
        /// (RFC 8461 §3.3: a valid cached policy still applies).
        fallback: Option<Problem>,
    },
    /// No policy applies: deliver as if the domain had no MTA-STS (RFC 8461 §5.1).
    NoPolicy {
        /// How far the lookup went.
        origin: Origin,
        /// Why.
        problem: Problem,
    },
}

impl Lookup {
    /// The policy that applies, if any.
    pub fn policy(&self) -> Option<&CachedPolicy> {
        match self {
            Lookup::Policy { policy, .. } => Some(policy),
            Lookup::NoPolicy { .. } => None,
        }
    }

    /// How far the lookup went.
    pub fn origin(&self) -> Origin {
        match self {
            Lookup::Policy { origin, .. } | Lookup::NoPolicy { origin, .. } => *origin,
        }
    }
}

/// What one [`Resolver::refresh_due`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// Cache entries looked at.
    pub examined: usize,
    /// Policies due for a refetch.
    pub due: usize,
    /// Policies refetched successfully.
    pub refreshed: usize,
    /// Policies that could not be refetched, and why (each cached policy stays in force until it
    /// expires).
    pub failed: Vec<(String, Problem)>,
    /// Entries dropped because nothing in them was of use any more.
    pub purged: usize,
}

type Flight = Shared<BoxFuture<'static, Lookup>>;

/// The resolver: cache, network source, clock and the in-flight lookups. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: Arc<dyn PolicySource>,
    cache: Arc<dyn PolicyCache>,
    clock: Arc<dyn Clock>,
    settings: ResolverSettings,
    events: broadcast::Sender<Event>,
    flights: Mutex<HashMap<String, Flight>>,
}

/// Events kept for slow subscribers before the oldest are dropped.
const EVENT_BACKLOG: usize = 1024;

impl Resolver {
    /// A resolver over these parts.
    pub fn new(
        source: Arc<dyn PolicySource>,
        cache: Arc<dyn PolicyCache>,
        clock: Arc<dyn Clock>,
        settings: ResolverSettings,
    ) -> Resolver {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        Resolver {
            inner: Arc::new(Inner {
                source,
                cache,
                clock,
                settings,
                events,
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A stream of [`Event`]s from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, event: Event) {
        self.inner.emit(event);
    }

    /// The resolver's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Which policy applies to `domain` (lowercase A-labels), with network steps bounded by
    /// `timeout`. Never fails: every failure is an answer (RFC 8461 §5.1).
    pub async fn lookup(&self, domain: &str, timeout: Duration) -> Lookup {
        let now = self.inner.clock.now();
        let entry = self.inner.load(domain).await;
        if let Some(answer) = self.inner.settings.answer_from_cache(&entry, now) {
            return answer;
        }
        self.flight(domain, timeout, false).await
    }

    /// Refetches cached policies that are due (RFC 8461 §3.3: "MTAs SHOULD proactively refresh
    /// cached policies before they expire"), and drops entries nothing in which is still of use.
    pub async fn refresh_due(&self) -> RefreshReport {
        let now = self.inner.clock.now();
        let mut report = RefreshReport::default();
        let entries = match self.inner.cache.scan().await {
            Ok(entries) => entries,
            Err(error) => {
                self.inner.cache_failed("scan", &error);
                return report;
            }
        };
        report.examined = entries.len();
        let mut due = Vec::new();
        for (domain, entry) in entries {
            if entry.is_dead(now) {
                // Read again just before deleting: a request may have refilled the entry since
                // the scan, and its fresh answer must not be thrown away.
                if self.inner.load(&domain).await.is_dead(now) {
                    match self.inner.cache.delete(&domain).await {
                        Ok(()) => report.purged += 1,
                        Err(error) => self.inner.cache_failed("delete", &error),
                    }
                }
                continue;
            }
            if let Some(policy) = entry.valid_policy(now) {
                let half_life = Duration::from_secs(u64::from(policy.policy().max_age) / 2);
                let threshold = self.inner.settings.refetch_after.min(half_life);
                if now.since(policy.fetched_at()) >= threshold {
                    due.push(domain);
                }
            }
        }
        report.due = due.len();
        let timeout = self.inner.settings.refresh_timeout;
        let results: Vec<(String, Lookup)> = stream::iter(due)
            .map(|domain| async move {
                let lookup = self.flight(&domain, timeout, true).await;
                (domain, lookup)
            })
            .buffer_unordered(self.inner.settings.refresh_concurrency.max(1))
            .collect()
            .await;
        for (domain, lookup) in results {
            match lookup {
                Lookup::Policy {
                    origin: Origin::Fetch,
                    fallback: None,
                    ..
                } => report.refreshed += 1,
                Lookup::Policy {
                    fallback: Some(problem),
                    ..
                }
                | Lookup::NoPolicy { problem, .. } => report.failed.push((domain, problem)),
                // Answered by a concurrent request's lookup, which confirmed the policy.
                Lookup::Policy { .. } => {}
            }
        }
        report
    }

    /// Joins the lookup in flight for `domain`, or starts one. The work runs in its own task,
    /// so a client that goes away does not cancel a fetch others are waiting for. Flights are per
    /// domain, not per zone: a request joining a flight gets the timeout of the one that started
    /// it.
    async fn flight(&self, domain: &str, timeout: Duration, refresh: bool) -> Lookup {
        let flight = {
            let mut flights = self.inner.flights();
            match flights.get(domain) {
                Some(flight) => flight.clone(),
                None => {
                    let landing = Landing {
                        inner: Arc::clone(&self.inner),
                        domain: domain.to_string(),
                    };
                    let task = tokio::spawn(async move {
                        let job = Job {
                            domain: &landing.domain,
                            timeout,
                            refresh,
                        };
                        let lookup = landing.inner.resolve(job).await;
                        // The cache is written before the flight lands, so a request arriving
                        // after this point finds the new entry.
                        drop(landing);
                        lookup
                    });
                    let flight = async move {
                        task.await.unwrap_or_else(|error| Lookup::NoPolicy {
                            origin: Origin::Dns,
                            problem: Problem::LookupFailed {
                                error: format!("internal error: {error}"),
                            },
                        })
                    }
                    .boxed()
                    .shared();
                    flights.insert(domain.to_string(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }
}

/// One flight's task: the domain, the network timeout, and whether it is a refresh (the policy is
/// refetched even if the TXT id is unchanged, to extend its lifetime; backoff still applies).
#[derive(Debug, Clone, Copy)]
struct Job<'a> {
    domain: &'a str,
    timeout: Duration,
    refresh: bool,
}

/// Removes a flight from the in-flight map when its task ends, however it ends.
struct Landing {
    inner: Arc<Inner>,
    domain: String,
}

impl Drop for Landing {
    fn drop(&mut self) {
        self.inner.flights().remove(&self.domain);
    }
}

impl ResolverSettings {
    /// The answer the cache alone gives at `now`, if it can.
    fn answer_from_cache(&self, entry: &CacheEntry, now: Timestamp) -> Option<Lookup> {
        let recently_checked = entry
            .checked_at
            .is_some_and(|checked| now < checked.plus(self.check_interval));
        if let Some(policy) = entry.valid_policy(now) {
            // RFC 8461 §5.1: a cached policy younger than max_age is used; the TXT id is
            // checked again only once check_interval has passed.
            return recently_checked.then(|| Lookup::Policy {
                policy: policy.clone(),
                origin: Origin::Cache,
                fallback: fallback(entry, now),
            });
        }
        if let Some(negative) = entry.negative_at(now) {
            return Some(Lookup::NoPolicy {
                origin: Origin::Cache,
                problem: Problem::from(&negative.reason),
            });
        }
        if recently_checked && let Some(backoff) = entry.backoff_at(now) {
            return Some(Lookup::NoPolicy {
                origin: Origin::Cache,
                problem: Problem::from(backoff),
            });
        }
        None
    }
}

/// Why a valid cached policy is being applied unconfirmed, if it is.
fn fallback(entry: &CacheEntry, now: Timestamp) -> Option<Problem> {
    entry
        .negative_at(now)
        .map(|negative| Problem::from(&negative.reason))
        .or_else(|| entry.backoff_at(now).map(Problem::from))
}

impl Inner {
    fn flights(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        // Every critical section is one map operation, so a poisoned map is consistent.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: Event) {
        // No subscriber is not an error: events are for whoever listens.
        let _ = self.events.send(event);
    }

    fn cache_failed(&self, operation: &'static str, error: &crate::cache::CacheError) {
        self.emit(Event::CacheFailed {
            operation,
            error: error.to_string(),
        });
    }

    /// The entry for `domain`; a cache that fails reads as empty (the domain is looked up).
    async fn load(&self, domain: &str) -> CacheEntry {
        match self.cache.get(domain).await {
            Ok(entry) => entry.unwrap_or_default(),
            Err(error) => {
                self.cache_failed("get", &error);
                CacheEntry::default()
            }
        }
    }

    async fn store(&self, domain: &str, entry: CacheEntry) {
        if let Err(error) = self.cache.put(domain, entry).await {
            self.cache_failed("put", &error);
        }
    }

    /// The network part of a lookup, run once per flight.
    async fn resolve(&self, job: Job<'_>) -> Lookup {
        let Job {
            domain,
            timeout,
            refresh,
        } = job;
        let settings = &self.settings;
        let now = self.clock.now();
        let mut entry = self.load(domain).await;
        // A flight that ended between this request's cache read and its joining the map has
        // already done the work.
        if !refresh && let Some(answer) = settings.answer_from_cache(&entry, now) {
            return answer;
        }
        let valid = entry.valid_policy(now).cloned();
        entry.checked_at = Some(now);
        let lookup = match self.source.sts_records(domain, timeout).await {
            // NXDOMAIN and NODATA say there is no record; anything else is a failure to find out.
            Err(error) if !error.is_negative() => {
                let until = now.plus(settings.check_interval.min(settings.negative_ttl));
                let reason = NegativeReason::LookupFailed {
                    error: error.to_string(),
                };
                entry.negative = Some(NegativeEntry {
                    reason: reason.clone(),
                    since: now,
                    until,
                });
                without_live_policy(valid, Origin::Dns, Problem::from(&reason))
            }
            Err(_) => self.no_record(&mut entry, now, valid),
            // RFC 8461 §3.1: anything but exactly one valid STSv1 record is "no policy".
            Ok(records) => match sts_record::discover(&records).record() {
                None => self.no_record(&mut entry, now, valid),
                Some(record) => {
                    entry.negative = None;
                    let id = record.id.clone();
                    self.with_record(job, &mut entry, now, valid, id).await
                }
            },
        };
        self.store(domain, entry).await;
        lookup
    }

    fn no_record(
        &self,
        entry: &mut CacheEntry,
        now: Timestamp,
        valid: Option<CachedPolicy>,
    ) -> Lookup {
        entry.negative = Some(NegativeEntry {
            reason: NegativeReason::NoRecord,
            since: now,
            until: now.plus(self.settings.negative_ttl),
        });
        // RFC 8461 §3.3: a vanished record does not remove a cached policy; it applies until
        // it expires.
        without_live_policy(valid, Origin::Dns, Problem::NoRecord)
    }

    /// The part after a valid TXT record with `id` was found.
    async fn with_record(
        &self,
        job: Job<'_>,
        entry: &mut CacheEntry,
        now: Timestamp,
        valid: Option<CachedPolicy>,
        id: String,
    ) -> Lookup {
        let Job {
            domain,
            timeout,
            refresh,
        } = job;
        if !refresh && let Some(policy) = valid.as_ref().filter(|p| p.id() == id) {
            // RFC 8461 §5.1: the id is unchanged, so the cached policy is current: no fetch.
            return Lookup::Policy {
                policy: policy.clone(),
                origin: Origin::Dns,
                fallback: entry.backoff_at(now).map(Problem::from),
            };
        }
        if let Some(backoff) = entry.backoff_at(now).filter(|b| b.id == id) {
            // RFC 8461 §3.3: "limit further attempts to a period of five minutes or longer per
            // version ID".
            let problem = Problem::from(backoff);
            return without_live_policy(valid, Origin::Dns, problem);
        }
        let fetched = self
            .source
            .fetch_policy(domain, timeout)
            .await
            .map_err(|e| e.to_string())
            .and_then(|body| {
                String::from_utf8(body).map_err(|_| "the policy is not UTF-8 text".to_string())
            })
            .and_then(|body| CachedPolicy::new(id.clone(), body, now).map_err(|e| e.to_string()));
        match fetched {
            Ok(policy) => {
                entry.policy = Some(policy.clone());
                entry.backoff = None;
                Lookup::Policy {
                    policy,
                    origin: Origin::Fetch,
                    fallback: None,
                }
            }
            Err(error) => {
                let failures = entry
                    .backoff
                    .as_ref()
                    .filter(|b| b.id == id)
                    .map_or(1, |b| b.failures.saturating_add(1));
                let retry_at = now.plus(self.settings.backoff_after(failures));
                entry.backoff = Some(BackoffEntry {
                    id: id.clone(),
                    failures,
                    last_failure: now,
                    until: retry_at,
                    error: error.clone(),
                });
                self.emit(Event::FetchFailed {
                    domain: domain.to_string(),
                    id: id.clone(),
                    error: error.clone(),
                    retry_at,
                    kept_cached: valid.is_some(),
                });
                // RFC 8461 §3.3: with no policy fetchable, a valid cached policy still applies;
                // without one, deliver as if the domain had no MTA-STS.
                without_live_policy(valid, Origin::Fetch, Problem::FetchFailed { id, error })
            }
        }
    }
}

/// The answer when the live record or policy could not be had: the valid cached policy if there
/// is one (RFC 8461 §3.3), else no policy.
fn without_live_policy(valid: Option<CachedPolicy>, origin: Origin, problem: Problem) -> Lookup {
    match valid {
        Some(policy) => Lookup::Policy {
            policy,
            origin,
            fallback: Some(problem),
        },
        None => Lookup::NoPolicy { origin, problem },
    }
}

/// Why Postfix is told `NOTFOUND`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum NotFoundReason {
    /// The key is not a domain to look up.
    Key(SkipReason),
    /// No policy applies.
    NoPolicy(Problem),
    /// The policy is in `testing` mode and the zone does not set `strict_testing` (RFC 8461 §5:
    /// testing-mode failures must not stop delivery).
    ModeTesting,
    /// The policy is in `none` mode (RFC 8461 §5: treated as no policy).
    ModeNone,
}

/// The reply for `domain` given what applies to it and the zone's settings, and why it is
/// `NOTFOUND` when it is.
pub fn render(domain: &str, lookup: &Lookup, zone: &Zone) -> (Reply, Option<NotFoundReason>) {
    let policy = match lookup {
        Lookup::NoPolicy { problem, .. } => {
            return (
                Reply::NotFound,
                Some(NotFoundReason::NoPolicy(problem.clone())),
            );
        }
        Lookup::Policy { policy, .. } => policy,
    };
    match policy.policy().mode {
        Mode::None => (Reply::NotFound, Some(NotFoundReason::ModeNone)),
        Mode::Testing if !zone.strict_testing => {
            (Reply::NotFound, Some(NotFoundReason::ModeTesting))
        }
        // Policy::parse refuses enforce and testing policies without mx lines (RFC 8461 §3.2),
        // so `match=` always has at least one host.
        Mode::Enforce | Mode::Testing => (Reply::Ok(secure(domain, policy, zone)), None),
    }
}

/// `secure match=... [servername=hostname] [TLSRPT attributes]`.
fn secure(domain: &str, policy: &CachedPolicy, zone: &Zone) -> String {
    // Postfix's `match=` syntax: `.example.com` matches subdomains, so `*.example.com` becomes
    // `.example.com` (Postfix cannot say "exactly one label"; RFC 8461 §4.1 is stricter). Kept in
    // policy order, duplicates dropped: the same policy always gives the same reply.
    let mut matches: Vec<String> = Vec::with_capacity(policy.policy().mx.len());
    for pattern in &policy.policy().mx {
        let item = if pattern.is_wildcard() {
            format!(".{}", pattern.base())
        } else {
            pattern.base().to_string()
        };
        if !matches.contains(&item) {
            matches.push(item);
        }
    }
    let mut out = format!("secure match={}", matches.join(":"));
    if zone.require_sni {
        // RFC 8461 §4.2 expects SNI; Postfix sends the MX host name as SNI with this
        // (Postfix 3.4 and later).
        out.push_str(" servername=hostname");
    }
    if zone.tlsrpt {
        push_tlsrpt(&mut out, domain, policy);
    }
    out
}

/// The TLSRPT policy attributes Postfix 3.10+ puts in its RFC 8460 reports.
///
/// `policy_type=sts policy_domain=D` and one `mx_host_pattern=P` per pattern in policy order are
/// what postfix-mta-sts-resolver sends with `tlsrpt: true`
/// (postfix_mta_sts_resolver/responder.py); the `{ policy_string = LINE }` attribute per policy
/// line follows Postfix's TLSRPT_README as postfix-tlspol implements it
/// (Zuplu/postfix-tlspol): RFC 8460 §4.3 reports carry the policy's lines as `policy-string`.
fn push_tlsrpt(out: &mut String, domain: &str, policy: &CachedPolicy) {
    out.push_str(" policy_type=sts policy_domain=");
    out.push_str(domain);
    for pattern in &policy.policy().mx {
        out.push_str(" mx_host_pattern=");
        out.push_str(pattern.as_str());
    }
    for line in policy.body().lines() {
        let line = line.trim();
        // A Postfix `{ name = value }` attribute cannot hold a brace; such a line (only possible
        // in an extension field) is left out of the report rather than breaking the reply.
        if line.is_empty() || line.contains(['{', '}']) {
            continue;
        }
        out.push_str(" { policy_string = ");
        out.push_str(line);
        out.push_str(" }");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(body: &str) -> CachedPolicy {
        CachedPolicy::new("1", body, Timestamp::from_unix_secs(1_000)).expect("valid policy")
    }

    fn found(body: &str) -> Lookup {
        Lookup::Policy {
            policy: policy(body),
            origin: Origin::Fetch,
            fallback: None,
        }
    }

    const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx2.example.com\nmx: *.Example.NET\nmx: mx1.example.com\nmx: mx2.example.com\nmax_age: 86400\n";

    #[test]
    fn enforce_keeps_policy_order_and_postfix_wildcards() {
        let (reply, why) = render("example.com", &found(ENFORCE), &Zone::default());
        assert_eq!(
            reply,
            Reply::Ok(
                "secure match=mx2.example.com:.example.net:mx1.example.com servername=hostname"
                    .into()
            )
        );
        assert_eq!(why, None);
        let no_sni = Zone {
            require_sni: false,
            ..Zone::default()
        };
        let (reply, _) = render("example.com", &found(ENFORCE), &no_sni);
        assert_eq!(
            reply,
            Reply::Ok("secure match=mx2.example.com:.example.net:mx1.example.com".into())
        );
    }

    #[test]
    fn tlsrpt_attributes() {
        let body = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmx: *.example.net\r\n\r\nmax_age: 86400\r\nodd: {x}\r\n";
        let zone = Zone {
            tlsrpt: true,
            ..Zone::default()
        };
        let (reply, _) = render("example.com", &found(body), &zone);
        assert_eq!(
            reply,
            Reply::Ok(
                "secure match=mx.example.com:.example.net servername=hostname \
                 policy_type=sts policy_domain=example.com \
                 mx_host_pattern=mx.example.com mx_host_pattern=*.example.net \
                 { policy_string = version: STSv1 } { policy_string = mode: enforce } \
                 { policy_string = mx: mx.example.com } { policy_string = mx: *.example.net } \
                 { policy_string = max_age: 86400 }"
                    .into()
            )
        );
    }

    #[test]
    fn testing_and_none() {
        let testing = "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n";
        let (reply, why) = render("example.com", &found(testing), &Zone::default());
        assert_eq!(
            (reply, why),
            (Reply::NotFound, Some(NotFoundReason::ModeTesting))
        );
        let strict = Zone {
            strict_testing: true,
            ..Zone::default()
        };
        let (reply, _) = render("example.com", &found(testing), &strict);
        assert_eq!(
            reply,
            Reply::Ok("secure match=mx.example.com servername=hostname".into())
        );
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        let (reply, why) = render("example.com", &found(none), &strict);
        assert_eq!(
            (reply, why),
            (Reply::NotFound, Some(NotFoundReason::ModeNone))
        );
    }

    #[test]
    fn no_policy_is_notfound_with_the_reason() {
        let lookup = Lookup::NoPolicy {
            origin: Origin::Cache,
            problem: Problem::NoRecord,
        };
        assert_eq!(
            render("example.com", &lookup, &Zone::default()),
            (
                Reply::NotFound,
                Some(NotFoundReason::NoPolicy(Problem::NoRecord))
            )
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = ResolverSettings::from_config(&Config::default());
        let waits: Vec<u64> = [1, 2, 3, 4, 5, 40]
            .into_iter()
            .map(|n| settings.backoff_after(n).as_secs())
            .collect();
        assert_eq!(waits, [300, 600, 1200, 2400, 3600, 3600]);
    }

    #[test]
    fn reasons_serialize_as_tagged_json() {
        let reason = NotFoundReason::NoPolicy(Problem::FetchFailed {
            id: "1".into(),
            error: "HTTP 404".into(),
        });
        assert_eq!(
            serde_json::to_string(&reason).ok().as_deref(),
            Some(
                r#"{"kind":"no-policy","detail":{"kind":"fetch-failed","id":"1","error":"HTTP 404"}}"#
            )
        );
    }
}
