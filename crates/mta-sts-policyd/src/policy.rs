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
//!
//! # DANE first (RFC 8461 §2)
//! RFC 8461 §2: senders "MUST NOT allow MTA-STS Policy validation to override a failing DANE
//! validation". A socketmap reply names one TLS level for the whole next-hop domain, so the
//! daemon decides per domain:
//!
//! - **When DANE applies.** The resolver validated the domain's MX RRset with DNSSEC (it set the
//!   AD bit), and at least one MX host has a DNSSEC-validated TLSA RRset at its TLSA base
//!   domain. The MX condition is RFC 7672 §2.2.1's: DANE can authenticate delivery to the domain
//!   only when its MX records were obtained by a DNSSEC-validated lookup, and for an "insecure"
//!   MX RRset "DANE TLS need not apply, and delivery MAY proceed via pre-DANE opportunistic TLS".
//!   (§2.2.1 also lets a client use DANE for MX hosts of an insecure MX RRset, e.g. a signed
//!   hosting provider behind an unsigned customer zone; this daemon does not: such domains get
//!   their MTA-STS answer.) The TLSA condition is RFC 7672 §2.2's: only a "secure" TLSA RRset
//!   is used; TLSA records the resolver did not validate are ignored.
//! - **MX hosts that are aliases.** The TLSA base domain is chosen as RFC 7672 §2.2.2 says
//!   (with RFC 7671 §7): when the MX host name is a CNAME whose expansion the resolver validated
//!   (AD on the address query that followed the chain), TLSA records are looked up first at
//!   `_25._tcp.<fully expanded name>`, and at `_25._tcp.<MX host name>` when there are none
//!   there (NXDOMAIN, NODATA, or records that are not validated); when the expansion is not
//!   validated, only the MX host name is a base domain, since a name reached through insecure
//!   data proves nothing. So `mx.example.com CNAME mx1.provider.net` with a validated
//!   `_25._tcp.mx1.provider.net TLSA 3 1 1 ...` is DANE, as Postfix sees it at delivery. A
//!   failed TLSA lookup at the expanded name is not "none there" (no fallback, RFC 7672
//!   §2.1.1), and a failed CNAME lookup leaves the base domain unknown: both count as failed
//!   lookups (below), unless the MX host name has validated TLSA records, which make DANE apply
//!   whichever name wins. The CNAME lookup and the TLSA lookup at the host name go out at once;
//!   the one at the expanded name follows.
//! - **The answer.** Where DANE applies the reply is `OK dane`, Postfix's opportunistic DANE
//!   level, instead of `OK secure match=...`: Postfix then authenticates each MX host with
//!   TLSA records by DANE, and MTA-STS never overrides it.
//! - **Only where it matters.** The DANE lookups are made only for domains whose MTA-STS reply
//!   would be `OK secure` (an enforce policy, or testing with `strict_testing`). Every other
//!   reply is `NOTFOUND`, which leaves the domain to Postfix's own default level (operators with
//!   a validating resolver set `smtp_tls_security_level = dane`), and domains without MTA-STS
//!   cost no extra lookups.
//! - **Lookup failures.** An MX lookup that fails, or an MX RRset the resolver did not
//!   validate: DANE does not apply, the MTA-STS answer is given. Under a validated MX RRset, a
//!   TLSA lookup that fails (SERVFAIL, timeout) is neither "TLSA" nor "no TLSA" (RFC 7672
//!   §2.1.1): the reply is `dane`, and Postfix, which looks TLSA records up again with its own
//!   DNSSEC-aware lookups at delivery, handles that host as RFC 7672 says. NXDOMAIN, NODATA or an
//!   unvalidated TLSA RRset: that host has no DANE.
//! - **Caching.** The facts ([`DaneEntry`]) are cached with the policy and rechecked as often as
//!   its TXT id, once `check_interval` has passed; within it the cached decision is used with no
//!   lookups. `dane = false` in the configuration never looks TLSA records up. A host whose
//!   TLSA lookup that decided was at its expanded name is stored (and shown by `mta-sts query`)
//!   as `mx.example.com (via mx1.provider.net)` in [`DaneEntry::hosts`] or
//!   [`DaneEntry::failed`]: the entry's host names are plain strings, and the name that was
//!   looked up is what an operator needs to see.
//!
//! Why `dane` and not `dane-only`:
//! 1. `dane` is RFC 7672's own semantics: authenticated delivery to MX hosts with secure TLSA
//!    records, opportunistic TLS to the others, and Postfix checks DNSSEC again at delivery
//!    time rather than trusting a decision made earlier.
//! 2. The decision is cached for up to `check_interval`. Under `dane-only`, a domain that
//!    drops DNSSEC or its TLSA records would have its mail deferred until the cache noticed;
//!    under `dane` Postfix sees the change at once and degrades as RFC 7672 allows.
//! 3. With mixed MX sets (some hosts with TLSA, some without) `dane-only` defers mail to the
//!    hosts without TLSA; `dane` delivers to them.
//!
//! What `dane` costs: MX hosts of such a domain without TLSA records get Postfix's
//! opportunistic TLS under `dane` (RFC 7672 §2.2: pre-DANE TLS), not MTA-STS's authenticated
//! TLS. For those hosts MTA-STS's protection is given up in favour of §2's rule, which only a
//! per-host answer could avoid, and a socketmap reply is per domain.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt as _, StreamExt as _, stream};
use mta_sts_core::sts_record;
use mta_sts_core::{Mode, MxPattern};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::cache::{
    BackoffEntry, CacheEntry, CachedPolicy, DaneEntry, NegativeEntry, NegativeReason, PolicyCache,
};
use crate::config::{Config, Zone};
use crate::event::Event;
use crate::socketmap::{Reply, SkipReason};
use crate::source::PolicySource;
use mta_sts_core::time::{Clock, Timestamp};

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
    /// DANE first (RFC 8461 §2): look up the DANE facts of domains whose reply would be
    /// `secure`, and answer `dane` where DANE applies (see the module documentation). `false`
    /// never looks TLSA records up.
    pub dane: bool,
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
            dane: config.dane,
        }
    }

    /// How much DANE the replies of `zone` depend on: none with DANE off; enforce policies;
    /// with `strict_testing`, testing ones too (both are answered `secure` there).
    fn dane_need(&self, zone: &Zone) -> DaneNeed {
        match (self.dane, zone.strict_testing) {
            (false, _) => DaneNeed::None,
            (true, false) => DaneNeed::Enforce,
            (true, true) => DaneNeed::EnforceAndTesting,
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

impl fmt::Display for Origin {
    /// What the lookup did, as a clause: `the cache alone answered, with no network traffic`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Cache => "the cache alone answered, with no network traffic",
            Origin::Dns => "the _mta-sts TXT record was looked up and no policy was fetched",
            Origin::Fetch => {
                "the _mta-sts TXT record was looked up and a policy fetch was attempted"
            }
        })
    }
}

impl fmt::Display for Problem {
    /// What kept the lookup from a live, confirmed policy, as a clause (times in RFC 3339).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoRecord => f.write_str(
                "the domain publishes no usable v=STSv1 TXT record (none, several, or an invalid \
                 one; RFC 8461 §3.1)",
            ),
            Problem::LookupFailed { error } => {
                write!(f, "the _mta-sts TXT lookup failed: {error}")
            }
            Problem::FetchFailed { id, error } => {
                write!(f, "the policy with id {id} could not be fetched: {error}")
            }
            Problem::BackingOff { id, until, error } => write!(
                f,
                "the policy with id {id} failed recently ({error}) and is not fetched again \
                 before {until} (RFC 8461 §3.3)"
            ),
        }
    }
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

/// The socketmap reply data of the DANE-first answer: Postfix's opportunistic DANE level.
pub const DANE_REPLY: &str = "dane";

/// What applies to a domain in one zone: the MTA-STS lookup, and the DANE facts when they decide
/// the reply ([`Resolver::decide`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Which MTA-STS policy applies, and how that was found out.
    pub lookup: Lookup,
    /// The DANE facts of the domain when the reply depends on them (DANE first is on and the
    /// MTA-STS reply would be `secure`): fresh, from the cache or just looked up. `None` when
    /// they do not matter; then none were looked up for this request.
    pub dane: Option<DaneEntry>,
}

/// The DANE facts behind a reply, for display (`mta-sts query`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneSummary {
    /// DANE applies: the reply is `dane`, not the MTA-STS policy.
    pub applies: bool,
    /// The facts.
    #[serde(flatten)]
    pub facts: DaneEntry,
    /// Seconds since they were looked up.
    pub age: u64,
}

impl DaneSummary {
    /// The summary of `facts` at `now`.
    pub fn new(facts: &DaneEntry, now: Timestamp) -> DaneSummary {
        DaneSummary {
            applies: facts.applies(),
            facts: facts.clone(),
            age: now.duration_since(facts.checked_at).as_secs(),
        }
    }
}

/// Which MTA-STS modes a request renders as `secure` with DANE first on, so that the DANE facts
/// decide its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DaneNeed {
    /// DANE first is off: no mode.
    None,
    /// Enforce policies.
    Enforce,
    /// Enforce and testing policies (a `strict_testing` zone).
    EnforceAndTesting,
}

impl DaneNeed {
    fn covers(self, mode: Mode) -> bool {
        match mode {
            Mode::Enforce => self != DaneNeed::None,
            Mode::Testing => self == DaneNeed::EnforceAndTesting,
            Mode::None => false,
        }
    }

    /// Whether `lookup` gives this need what it wants: no DANE facts needed, or facts that were
    /// fresh when the request started at `started` (or were looked up since).
    fn satisfied_by(self, lookup: &Lookup, started: Timestamp, check_interval: Duration) -> bool {
        match lookup {
            Lookup::Policy { policy, .. } if self.covers(policy.policy().mode) => {
                policy.dane().is_some_and(|facts| {
                    facts.checked_at >= started || facts.is_fresh(started, check_interval)
                })
            }
            _ => true,
        }
    }

    /// The decision for a lookup that satisfies this need.
    fn decision(self, lookup: Lookup) -> Decision {
        let dane = match &lookup {
            Lookup::Policy { policy, .. } if self.covers(policy.policy().mode) => {
                policy.dane().cloned()
            }
            _ => None,
        };
        Decision { lookup, dane }
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

/// Flights one request joins or starts before doing its work outside the flight map.
const MAX_FLIGHTS_PER_REQUEST: usize = 3;

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
        self.flight(domain, timeout, false, DaneNeed::None).await
    }

    /// What applies to `domain` (lowercase A-labels) for a request in `zone`: the MTA-STS
    /// lookup with the zone's timeout, and, with DANE first on and a reply that would be
    /// `secure`, the domain's DANE facts (RFC 8461 §2; the rule is in the module
    /// documentation), cached with the policy for `check_interval`. Never fails.
    pub async fn decide(&self, domain: &str, zone: &Zone) -> Decision {
        let settings = &self.inner.settings;
        let need = settings.dane_need(zone);
        let started = self.inner.clock.now();
        let entry = self.inner.load(domain).await;
        if let Some(answer) = settings.answer_from_cache(&entry, started)
            && need.satisfied_by(&answer, started, settings.check_interval)
        {
            return need.decision(answer);
        }
        // The flight joined may have been started by a request that needed less DANE (another
        // zone, a refresh): then one of ours follows, which finds the policy just cached and
        // only looks the DANE facts up.
        for _ in 0..MAX_FLIGHTS_PER_REQUEST {
            let lookup = self.flight(domain, zone.timeout, false, need).await;
            if need.satisfied_by(&lookup, started, settings.check_interval) {
                return need.decision(lookup);
            }
        }
        // Flights of other needs kept landing first: do the work here, outside the map. It
        // looks up whatever DANE facts it needs, so its answer is used as it is.
        let job = Job {
            domain,
            timeout: zone.timeout,
            refresh: false,
            dane: need,
        };
        need.decision(self.inner.resolve(job).await)
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
                if now.duration_since(policy.fetched_at()) >= threshold {
                    due.push(domain);
                }
            }
        }
        report.due = due.len();
        let timeout = self.inner.settings.refresh_timeout;
        let results: Vec<(String, Lookup)> = stream::iter(due)
            .map(|domain| async move {
                let lookup = self.flight(&domain, timeout, true, DaneNeed::None).await;
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
    async fn flight(
        &self,
        domain: &str,
        timeout: Duration,
        refresh: bool,
        dane: DaneNeed,
    ) -> Lookup {
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
                            dane,
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

/// One flight's task: the domain, the network timeout, whether it is a refresh (the policy is
/// refetched even if the TXT id is unchanged, to extend its lifetime; backoff still applies),
/// and for which modes the DANE facts are wanted.
#[derive(Debug, Clone, Copy)]
struct Job<'a> {
    domain: &'a str,
    timeout: Duration,
    refresh: bool,
    dane: DaneNeed,
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
            .is_some_and(|checked| now < checked.saturating_add(self.check_interval));
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

    /// The network part of a lookup, run once per flight: the policy unless the cache answers
    /// for it, then the DANE facts if the job wants them and the cached ones are stale. The
    /// entry is written once, at the end, if anything changed.
    async fn resolve(&self, job: Job<'_>) -> Lookup {
        let settings = &self.settings;
        let now = self.clock.now();
        let mut entry = self.load(job.domain).await;
        // A flight that ended between this request's cache read and its joining the map has
        // already done the policy part.
        let cached = if job.refresh {
            None
        } else {
            settings.answer_from_cache(&entry, now)
        };
        let (mut lookup, mut changed) = match cached {
            Some(answer) => (answer, false),
            None => (self.resolve_policy(job, &mut entry, now).await, true),
        };
        if let Lookup::Policy { policy, .. } = &mut lookup
            && job.dane.covers(policy.policy().mode)
            && !policy
                .dane()
                .is_some_and(|facts| facts.is_fresh(now, settings.check_interval))
        {
            let facts = self.look_up_dane(job.domain, job.timeout, now).await;
            let updated = policy.with_dane(Some(facts));
            // The policy applied is the entry's valid one: the facts are kept with it, for the
            // requests of the next check_interval.
            if let Some(stored) = entry.valid_policy(now)
                && stored.id() == updated.id()
                && stored.fetched_at() == updated.fetched_at()
            {
                entry.policy = Some(updated.clone());
                changed = true;
            }
            *policy = updated;
        }
        if changed {
            self.store(job.domain, entry).await;
        }
        lookup
    }

    /// The DANE facts of `domain` at `now`; a failed MX lookup is facts too (DANE does not
    /// apply), and failures are reported as events.
    async fn look_up_dane(&self, domain: &str, timeout: Duration, now: Timestamp) -> DaneEntry {
        match self.source.dane(domain, timeout).await {
            Ok(facts) => {
                for (host, error) in &facts.failed {
                    self.emit(Event::DaneLookupFailed {
                        domain: domain.to_string(),
                        host: Some(facts.label(host)),
                        error: error.to_string(),
                    });
                }
                // The cached entry keeps host names as strings; a host decided at its
                // CNAME-expanded name is written `mx.example.com (via mx1.provider.net)`
                // (`DaneFacts::label`), so `mta-sts query` and the cache say where the TLSA
                // records were looked up.
                DaneEntry {
                    mx_validated: facts.mx_validated,
                    hosts: facts.hosts.iter().map(|host| facts.label(host)).collect(),
                    failed: facts
                        .failed
                        .iter()
                        .map(|(host, _)| facts.label(host))
                        .collect(),
                    mx_error: None,
                    checked_at: now,
                }
            }
            Err(error) => {
                // No MX records at all is an answer, not a failure worth an alert.
                if !error.is_negative() {
                    self.emit(Event::DaneLookupFailed {
                        domain: domain.to_string(),
                        host: None,
                        error: error.to_string(),
                    });
                }
                DaneEntry {
                    mx_validated: false,
                    hosts: Vec::new(),
                    failed: Vec::new(),
                    mx_error: Some(error.to_string()),
                    checked_at: now,
                }
            }
        }
    }

    /// The policy part of a flight: the TXT record, and the policy fetch if its id is new.
    async fn resolve_policy(&self, job: Job<'_>, entry: &mut CacheEntry, now: Timestamp) -> Lookup {
        let Job {
            domain, timeout, ..
        } = job;
        let settings = &self.settings;
        let valid = entry.valid_policy(now).cloned();
        entry.checked_at = Some(now);
        match self.source.sts_records(domain, timeout).await {
            // NXDOMAIN and NODATA say there is no record; anything else is a failure to find out.
            Err(error) if !error.is_negative() => {
                let until = now.saturating_add(settings.check_interval.min(settings.negative_ttl));
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
            Err(_) => self.no_record(entry, now, valid),
            // RFC 8461 §3.1: anything but exactly one valid STSv1 record is "no policy".
            Ok(records) => match sts_record::discover(&records).record() {
                None => self.no_record(entry, now, valid),
                Some(record) => {
                    entry.negative = None;
                    let id = record.id.clone();
                    self.with_record(job, entry, now, valid, id).await
                }
            },
        }
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
            until: now.saturating_add(self.settings.negative_ttl),
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
            ..
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
                let addresses: Vec<String> = policy
                    .policy()
                    .mx
                    .iter()
                    .filter(|pattern| pattern.is_address_shaped())
                    .map(|pattern| pattern.as_str().to_string())
                    .collect();
                if !addresses.is_empty() {
                    self.emit(Event::AddressPatternsIgnored {
                        domain: domain.to_string(),
                        id: id.clone(),
                        all: addresses.len() == policy.policy().mx.len(),
                        patterns: addresses,
                    });
                }
                // The DANE facts concern the domain's MX hosts, not the policy text: a new
                // fetch keeps them, and their own age says when they are looked up again.
                let policy = policy.with_dane(valid.as_ref().and_then(|v| v.dane().cloned()));
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
                let retry_at = now.saturating_add(self.settings.backoff_after(failures));
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

impl fmt::Display for NotFoundReason {
    /// Why the reply is `NOTFOUND`, as a clause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotFoundReason::Key(reason) => write!(f, "{reason}"),
            NotFoundReason::NoPolicy(problem) => write!(f, "no policy applies: {problem}"),
            NotFoundReason::ModeTesting => f.write_str(
                "the policy is in testing mode and the zone does not set strict_testing \
                 (RFC 8461 §5: failures in testing mode must not stop delivery)",
            ),
            NotFoundReason::ModeNone => {
                f.write_str("the policy is in mode none, which means no policy (RFC 8461 §5)")
            }
        }
    }
}

/// The reply for `domain` given what applies to it and the zone's settings, and why it is
/// `NOTFOUND` when it is. `tlsrpt` says whether a `secure` reply carries the TLSRPT attributes
/// (the zone's `tlsrpt`, else the Postfix version: [`crate::postfix`]).
///
/// A reply that would be `secure` is `dane` instead where the decision's DANE facts say DANE
/// applies (RFC 8461 §2: MTA-STS must not override DANE; see the module documentation).
///
/// `mx` patterns shaped like IPv4 addresses (`192.0.2.25`, valid `Domain`s) are left out of the
/// reply: they match no MX host name (RFC 8461 §4.1), and Postfix hands `match=` to OpenSSL,
/// which reads an address there as an IP address the certificate must contain, so one such line
/// would fail delivery to every MX (Postfix's maintainers on postfix-tlspol issue #70: the plugin
/// should filter such entries out). When every pattern is one, the policy matches no MX host at
/// all: RFC 8461 §5 says a sender "MUST NOT deliver" to an MX host that fails MX matching under
/// `enforce`, so no MX host may be used and the mail must wait, as for any enforce policy that
/// names none of the domain's MX hosts. Answering `NOTFOUND` would deliver over plain or
/// unauthenticated TLS and give up the protection the owner asked for; the reply is `TEMP`, which
/// Postfix logs with its reason and answers by deferring the mail, until the owner fixes the
/// policy (a new id is fetched at once) or it expires.
pub fn render(
    domain: &str,
    decision: &Decision,
    zone: &Zone,
    tlsrpt: bool,
) -> (Reply, Option<NotFoundReason>) {
    let policy = match &decision.lookup {
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
        // RFC 8461 §2: "MUST NOT allow MTA-STS Policy validation to override a failing DANE
        // validation". Postfix's `dane` level authenticates the MX hosts with secure TLSA
        // records by DANE, and MTA-STS is not applied to this domain.
        Mode::Enforce | Mode::Testing if decision.dane.as_ref().is_some_and(DaneEntry::applies) => {
            (Reply::Ok(DANE_REPLY.to_string()), None)
        }
        // RFC 8461 §4.1, §5: no pattern can match an MX host name, so no MX host may be used
        // (see above).
        mode @ (Mode::Enforce | Mode::Testing)
            if policy.policy().mx.iter().all(MxPattern::is_address_shaped) =>
        {
            (
                Reply::Temp(format!(
                    "the MTA-STS policy of {domain} (mode {mode}) lists only IP addresses as mx, \
                     which match no MX host name (RFC 8461 section 4.1); the mail waits until the \
                     policy is fixed or expires"
                )),
                None,
            )
        }
        // Policy::parse refuses enforce and testing policies without mx lines (RFC 8461 §3.2),
        // and the arm above takes those whose every pattern is an address, so `match=` always
        // has at least one host.
        Mode::Enforce | Mode::Testing => (Reply::Ok(secure(domain, policy, zone, tlsrpt)), None),
    }
}

/// `secure match=... [servername=hostname] [TLSRPT attributes]`.
fn secure(domain: &str, policy: &CachedPolicy, zone: &Zone, tlsrpt: bool) -> String {
    // Postfix's `match=` syntax: `.example.com` matches subdomains, so `*.example.com` becomes
    // `.example.com` (Postfix cannot say "exactly one label"; RFC 8461 §4.1 is stricter). Kept in
    // policy order, duplicates dropped: the same policy always gives the same reply. Addresses
    // are left out (see `render`).
    let mut matches: Vec<String> = Vec::with_capacity(policy.policy().mx.len());
    for pattern in names_only(policy) {
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
    if tlsrpt {
        push_tlsrpt(&mut out, domain, policy);
    }
    out
}

/// The policy's `mx` patterns that are names, in policy order: those shaped like IPv4 addresses
/// are left out of replies (see [`render`]).
fn names_only(policy: &CachedPolicy) -> impl Iterator<Item = &MxPattern> {
    policy
        .policy()
        .mx
        .iter()
        .filter(|pattern| !pattern.is_address_shaped())
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
    // Postfix ≥ 3.10.5 connects only to MX hosts matching these (smtp_tls_enforce_sts_mx_patterns).
    // The policy strings below stay whole: a report shows the policy as published.
    for pattern in names_only(policy) {
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
mod display_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::dane_facts_for_tests as dane;

    fn policy(body: &str) -> CachedPolicy {
        CachedPolicy::new("1", body, Timestamp::from_unix_seconds_saturating(1_000))
            .expect("valid policy")
    }

    fn found(body: &str) -> Decision {
        Decision {
            lookup: Lookup::Policy {
                policy: policy(body),
                origin: Origin::Fetch,
                fallback: None,
            },
            dane: None,
        }
    }

    fn with_dane(body: &str, facts: DaneEntry) -> Decision {
        Decision {
            dane: Some(facts),
            ..found(body)
        }
    }

    const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx2.example.com\nmx: *.Example.NET\nmx: mx1.example.com\nmx: mx2.example.com\nmax_age: 86400\n";

    #[test]
    fn enforce_keeps_policy_order_and_postfix_wildcards() {
        let (reply, why) = render("example.com", &found(ENFORCE), &Zone::default(), false);
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
        let (reply, _) = render("example.com", &found(ENFORCE), &no_sni, false);
        assert_eq!(
            reply,
            Reply::Ok("secure match=mx2.example.com:.example.net:mx1.example.com".into())
        );
    }

    #[test]
    fn tlsrpt_attributes() {
        let body = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmx: *.example.net\r\n\r\nmax_age: 86400\r\nodd: {x}\r\n";
        let (reply, _) = render("example.com", &found(body), &Zone::default(), true);
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
    fn the_same_policy_with_and_without_attributes() {
        // The old form is a prefix of the new one: Postfix < 3.10 gets exactly it.
        let old = render("example.com", &found(ENFORCE), &Zone::default(), false).0;
        let new = render("example.com", &found(ENFORCE), &Zone::default(), true).0;
        let (Reply::Ok(old), Reply::Ok(new)) = (old, new) else {
            panic!("both secure");
        };
        assert!(!old.contains("policy_type"), "{old}");
        let tail = new.strip_prefix(&old).expect("the old form first");
        assert!(
            tail.starts_with(" policy_type=sts policy_domain=example.com mx_host_pattern=mx2.example.com mx_host_pattern=*.Example.NET mx_host_pattern=mx1.example.com {"),
            "{tail}"
        );
    }

    #[test]
    fn addresses_are_left_out_of_the_reply() {
        let body = "version: STSv1\nmode: enforce\nmx: 192.0.2.25\nmx: mx.example.com\nmx: 010.0.2.26\nmax_age: 86400\n";
        let (reply, why) = render("example.com", &found(body), &Zone::default(), false);
        assert_eq!(
            reply,
            Reply::Ok("secure match=mx.example.com servername=hostname".into())
        );
        assert_eq!(why, None);
        // With the attributes: no mx_host_pattern for them either; the policy strings, which
        // only go into TLSRPT reports, stay as published.
        let (Reply::Ok(data), _) = render("example.com", &found(body), &Zone::default(), true)
        else {
            panic!("secure");
        };
        assert!(data.contains(" mx_host_pattern=mx.example.com "), "{data}");
        assert_eq!(data.matches("mx_host_pattern=").count(), 1, "{data}");
        assert!(
            data.contains("{ policy_string = mx: 192.0.2.25 }"),
            "{data}"
        );
    }

    proptest::proptest! {
        /// Whatever mix of names and addresses a policy lists, no address reaches Postfix as a
        /// pattern, every name does, and the reply defers exactly when nothing else is left.
        #[test]
        fn addresses_never_reach_postfix(
            mx in proptest::collection::vec(
                proptest::prop_oneof![
                    "(\\*\\.)?[a-z]{1,8}\\.example\\.(com|net)",
                    proptest::strategy::Strategy::prop_map(
                        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255),
                        |(a, b, c, d)| format!("{a}.{b}.{c}.{d}"),
                    ),
                ],
                1..6,
            ),
            tlsrpt: bool,
        ) {
            let mut body = String::from("version: STSv1\nmode: enforce\n");
            for pattern in &mx {
                body.push_str(&format!("mx: {pattern}\n"));
            }
            body.push_str("max_age: 86400\n");
            let (reply, _) = render("example.com", &found(&body), &Zone::default(), tlsrpt);
            let names: Vec<&String> = mx.iter().filter(|p| p.contains("example")).collect();
            match reply {
                Reply::Ok(data) => {
                    proptest::prop_assert!(!names.is_empty());
                    let patterns: Vec<&str> = data
                        .split(' ')
                        .flat_map(|token| {
                            let list = token
                                .strip_prefix("match=")
                                .or_else(|| token.strip_prefix("mx_host_pattern="))
                                .unwrap_or_default();
                            list.split(':').filter(|p| !p.is_empty())
                        })
                        .collect();
                    for pattern in &patterns {
                        proptest::prop_assert!(
                            pattern.chars().any(|c| c.is_ascii_alphabetic()),
                            "{pattern} in {data}"
                        );
                    }
                    for name in names {
                        let postfix_form = name.replacen("*.", ".", 1);
                        proptest::prop_assert!(
                            patterns.contains(&postfix_form.as_str()),
                            "{name} missing from {data}"
                        );
                    }
                }
                Reply::Temp(_) => proptest::prop_assert!(names.is_empty()),
                other => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }

    #[test]
    fn a_policy_of_addresses_only_defers_where_it_applies() {
        let enforce =
            "version: STSv1\nmode: enforce\nmx: 192.0.2.25\nmx: 192.0.2.26\nmax_age: 86400\n";
        for tlsrpt in [false, true] {
            let (reply, why) = render("example.com", &found(enforce), &Zone::default(), tlsrpt);
            assert!(
                matches!(&reply, Reply::Temp(reason) if reason.contains("example.com") && reason.contains("only IP addresses")),
                "{reply:?}"
            );
            assert_eq!(why, None);
        }
        // Testing mode is not enforced (RFC 8461 §5): NOTFOUND as for any testing policy, and
        // under strict_testing it is enforced, so it defers too.
        let testing = enforce.replace("mode: enforce", "mode: testing");
        assert_eq!(
            render("example.com", &found(&testing), &Zone::default(), false),
            (Reply::NotFound, Some(NotFoundReason::ModeTesting))
        );
        let strict = Zone {
            strict_testing: true,
            ..Zone::default()
        };
        assert!(matches!(
            render("example.com", &found(&testing), &strict, false).0,
            Reply::Temp(_)
        ));
        // DANE still comes first (RFC 8461 §2).
        let signed = with_dane(enforce, dane(true, &["mx.example.com"], &[]));
        assert_eq!(
            render("example.com", &signed, &Zone::default(), false).0,
            Reply::Ok("dane".into())
        );
    }

    #[test]
    fn testing_and_none() {
        let testing = "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n";
        let (reply, why) = render("example.com", &found(testing), &Zone::default(), false);
        assert_eq!(
            (reply, why),
            (Reply::NotFound, Some(NotFoundReason::ModeTesting))
        );
        let strict = Zone {
            strict_testing: true,
            ..Zone::default()
        };
        let (reply, _) = render("example.com", &found(testing), &strict, false);
        assert_eq!(
            reply,
            Reply::Ok("secure match=mx.example.com servername=hostname".into())
        );
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        let (reply, why) = render("example.com", &found(none), &strict, false);
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
        let decision = Decision { lookup, dane: None };
        assert_eq!(
            render("example.com", &decision, &Zone::default(), false),
            (
                Reply::NotFound,
                Some(NotFoundReason::NoPolicy(Problem::NoRecord))
            )
        );
    }

    #[test]
    fn dane_replaces_secure_where_it_applies() {
        let zone = Zone::default();
        let dane_reply = (Reply::Ok("dane".into()), None);
        // RFC 8461 §2: a validated MX set with a validated TLSA host is answered `dane`...
        let signed = with_dane(ENFORCE, dane(true, &["mx1.example.com"], &[]));
        assert_eq!(render("example.com", &signed, &zone, false), dane_reply);
        // ...and so is one whose TLSA lookup failed: Postfix decides at delivery.
        let failed = with_dane(ENFORCE, dane(true, &[], &["mx1.example.com"]));
        assert_eq!(render("example.com", &failed, &zone, false), dane_reply);
        // No validated TLSA, or an unvalidated MX set: the MTA-STS answer.
        let secure = render("example.com", &found(ENFORCE), &zone, false);
        for facts in [
            dane(true, &[], &[]),
            dane(false, &["mx1.example.com"], &[]),
            DaneEntry {
                mx_error: Some("SERVFAIL".into()),
                ..dane(false, &[], &[])
            },
        ] {
            assert_eq!(
                render(
                    "example.com",
                    &with_dane(ENFORCE, facts.clone()),
                    &zone,
                    false
                ),
                secure,
                "{facts:?}"
            );
        }
        assert!(matches!(&secure.0, Reply::Ok(data) if data.starts_with("secure match=")));
    }

    #[test]
    fn dane_never_turns_notfound_into_an_answer() {
        let applies = dane(true, &["mx.example.com"], &[]);
        let testing = "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n";
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        let (reply, why) = render(
            "example.com",
            &with_dane(testing, applies.clone()),
            &Zone::default(),
            false,
        );
        assert_eq!(
            (reply, why),
            (Reply::NotFound, Some(NotFoundReason::ModeTesting))
        );
        let strict = Zone {
            strict_testing: true,
            ..Zone::default()
        };
        assert_eq!(
            render(
                "example.com",
                &with_dane(testing, applies.clone()),
                &strict,
                false
            )
            .0,
            Reply::Ok("dane".into())
        );
        assert_eq!(
            render("example.com", &with_dane(none, applies), &strict, false),
            (Reply::NotFound, Some(NotFoundReason::ModeNone))
        );
    }

    #[test]
    fn dane_is_needed_exactly_where_the_reply_would_be_secure() {
        let settings = ResolverSettings::from_config(&Config::default());
        assert!(settings.dane, "DANE first is on by default");
        let strict = Zone {
            strict_testing: true,
            ..Zone::default()
        };
        let off = ResolverSettings {
            dane: false,
            ..settings.clone()
        };
        assert_eq!(settings.dane_need(&Zone::default()), DaneNeed::Enforce);
        assert_eq!(settings.dane_need(&strict), DaneNeed::EnforceAndTesting);
        assert_eq!(off.dane_need(&strict), DaneNeed::None);
        let testing = "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n";
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        for (zone, need) in [
            (Zone::default(), DaneNeed::Enforce),
            (strict.clone(), DaneNeed::EnforceAndTesting),
        ] {
            for body in [ENFORCE, testing, none] {
                let secure = matches!(
                    render("example.com", &found(body), &zone, false).0,
                    Reply::Ok(_)
                );
                assert_eq!(
                    need.covers(policy(body).policy().mode),
                    secure,
                    "{body:?} in {zone:?}"
                );
            }
        }
        assert!(!DaneNeed::None.covers(Mode::Enforce));
    }

    #[test]
    fn cached_dane_facts_satisfy_a_request_while_fresh() {
        let interval = Duration::from_secs(60);
        let started = Timestamp::from_unix_seconds_saturating(1_030);
        let lookup = |facts: Option<DaneEntry>| Lookup::Policy {
            policy: policy(ENFORCE).with_dane(facts),
            origin: Origin::Cache,
            fallback: None,
        };
        let need = DaneNeed::Enforce;
        assert!(!need.satisfied_by(&lookup(None), started, interval));
        let facts = dane(true, &["mx1.example.com"], &[]);
        assert!(need.satisfied_by(&lookup(Some(facts.clone())), started, interval));
        let stale = Timestamp::from_unix_seconds_saturating(1_060);
        assert!(!need.satisfied_by(&lookup(Some(facts.clone())), stale, interval));
        // Looked up after the request started: used even with check_interval = 0.
        assert!(need.satisfied_by(
            &lookup(Some(facts.clone())),
            Timestamp::from_unix_seconds_saturating(1_000),
            Duration::ZERO
        ));
        assert_eq!(
            need.decision(lookup(Some(facts.clone()))).dane,
            Some(facts.clone())
        );
        // Without need, facts are neither required nor handed to render.
        assert!(DaneNeed::None.satisfied_by(&lookup(None), stale, interval));
        assert_eq!(DaneNeed::None.decision(lookup(Some(facts))).dane, None);
        let no_policy = Lookup::NoPolicy {
            origin: Origin::Dns,
            problem: Problem::NoRecord,
        };
        assert!(need.satisfied_by(&no_policy, stale, interval));
    }

    #[test]
    fn dane_summaries_serialize_flat() {
        let facts = dane(true, &["mx1.example.com"], &["mx2.example.com"]);
        let summary = DaneSummary::new(&facts, Timestamp::from_unix_seconds_saturating(1_042));
        assert_eq!(
            serde_json::to_value(&summary).ok(),
            Some(serde_json::json!({
                "applies": true,
                "mx_validated": true,
                "hosts": ["mx1.example.com"],
                "failed": ["mx2.example.com"],
                "mx_error": null,
                "checked_at": "1970-01-01T00:16:40Z",
                "age": 42
            }))
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
