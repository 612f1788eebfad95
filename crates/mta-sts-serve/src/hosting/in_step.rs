//! Keeping each hosted domain's `_mta-sts` id in step with the policy served for it.
//!
//! RFC 8461 §3.1: senders fetch the policy again only when the id of the `_mta-sts` TXT record
//! changes, and cache what they fetched under that id. So the order is fixed: the new policy is
//! served FIRST, and only then is the id changed; an id announcing a policy that is not served
//! yet would have senders cache the old policy under the new id. This task therefore never
//! publishes an id other than that of the policy in [`HostedPolicies`] at that moment, and it is
//! the one writer of the policies of `auto` hosts, which it sets before it touches DNS.
//!
//! Each pass:
//! 1. `auto` hosts whose `mx_refresh` is due get their policy regenerated from the live MX set
//!    (`mta_sts_publish::Publisher`); a changed policy is served at once;
//! 2. every served policy whose id DNS does not show yet is published: through an RFC 2136
//!    update signed with TSIG where a `[[dns_update]]` zone holds `_mta-sts.<domain>`, then read
//!    back from the primary; elsewhere the exact record to publish is logged, and DNS (the
//!    `[check]` resolver) is looked at again, sooner at first, until it shows the id.
//!
//! [`IdStatuses`] holds the outcome per domain for the dashboard ("id not updated yet").

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use mta_sts_core::Timestamp;
use mta_sts_core::sts_record;
use mta_sts_core::time::Clock;
use mta_sts_net::{Dns, DnsConfig, DnsUpdater, UpdateError};
use mta_sts_publish::{PublishError, PublishOptions, Publisher};
use mta_sts_service::Stopping;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{HostedPolicies, HostedPolicy};
use crate::config::{PolicySource, ServeConfig};
use crate::error::ServeError;

/// The first wait before DNS is looked at again after it did not show a new id (or an update
/// failed); doubled after each miss up to [`LONGEST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between two looks while an id is not in step.
const LONGEST_RETRY: Duration = Duration::from_secs(300);
/// How often an id already in step is looked at again: someone may have edited the record.
const IN_STEP_RECHECK: Duration = Duration::from_secs(3600);

/// The key of the resolver in [`InStep`]'s unreachable servers.
const RESOLVER: &str = "resolver";

/// An `auto` host: its policy is generated from the live MX set every `refresh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AutoHost {
    /// The policy domain.
    pub(crate) domain: String,
    /// Mode and max_age of the generated policy.
    pub(crate) options: PublishOptions,
    /// Time between two looks at the MX set.
    pub(crate) refresh: Duration,
}

/// A zone whose `_mta-sts` records are updated by RFC 2136.
#[derive(Debug, Clone)]
pub(crate) struct ZoneUpdater {
    /// The zone.
    pub(crate) zone: String,
    /// The time to live of the records written.
    pub(crate) ttl: u32,
    /// The client.
    pub(crate) updater: DnsUpdater,
}

/// What the task works from; replaced as a whole on reload.
#[derive(Debug, Clone, Default)]
pub(crate) struct InStepSettings {
    /// The `auto` hosts.
    pub(crate) auto: Vec<AutoHost>,
    /// The `[[dns_update]]` zones.
    pub(crate) zones: Vec<ZoneUpdater>,
    /// The resolver for MX lookups and for looking at ids published by hand.
    pub(crate) dns: DnsConfig,
}

impl InStepSettings {
    /// The settings of a checked configuration: its `auto` hosts, its `[[dns_update]]` zones
    /// (each secret file read now: a missing key stops the start, or keeps the running
    /// settings on reload), and the `[check]` resolver.
    pub(crate) fn from_config(config: &ServeConfig) -> Result<InStepSettings, ServeError> {
        let auto = config
            .hosts
            .iter()
            .filter_map(|host| match host.source() {
                PolicySource::Auto(auto) => Some(AutoHost {
                    domain: host.domain.clone(),
                    options: PublishOptions {
                        mode: auto.mode,
                        max_age: auto.max_age.unwrap_or(mta_sts_publish::DEFAULT_MAX_AGE),
                        ..PublishOptions::default()
                    },
                    refresh: auto.mx_refresh,
                }),
                _ => None,
            })
            .collect();
        let zones = config
            .dns_update
            .iter()
            .map(|zone| {
                Ok(ZoneUpdater {
                    zone: zone.zone.clone(),
                    ttl: zone.ttl,
                    updater: zone.updater()?,
                })
            })
            .collect::<Result<Vec<_>, ServeError>>()?;
        Ok(InStepSettings {
            auto,
            zones,
            dns: DnsConfig {
                upstream: config.check.resolver,
                timeout: config.check.timeout,
                ..DnsConfig::default()
            },
        })
    }

    /// The zone that holds `_mta-sts.<domain>`: the longest zone that is the domain or a parent.
    fn zone_for(&self, domain: &str) -> Option<&ZoneUpdater> {
        self.zones
            .iter()
            .filter(|zone| domain == zone.zone || domain.ends_with(&format!(".{}", zone.zone)))
            .max_by_key(|zone| zone.zone.len())
    }
}

/// Whether DNS shows the id of the policy served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum IdState {
    /// DNS shows the served policy's id.
    InStep,
    /// DNS does not show it yet: senders keep the policy they cached.
    NotUpdatedYet,
}

/// How the id reaches DNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum IdMethod {
    /// By an RFC 2136 update, from this server.
    DnsUpdate,
    /// By the domain's owner, by hand.
    ByHand,
}

/// One hosted domain's id, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct IdStatus {
    /// The policy domain.
    pub(crate) domain: String,
    /// The id of the policy served (its content id).
    pub(crate) id: String,
    /// The `_mta-sts` record that announces it, as a zone-file line.
    pub(crate) record: String,
    /// Whether DNS shows it.
    pub(crate) state: IdState,
    /// How it gets there.
    pub(crate) method: IdMethod,
    /// The id DNS showed at the last look (`None`: no valid record, or not looked at yet).
    pub(crate) dns_id: Option<String>,
    /// When this policy began to be served.
    pub(crate) served_since: Timestamp,
    /// When DNS was last looked at.
    pub(crate) checked: Option<Timestamp>,
    /// Why the last update or look failed, as a sentence.
    pub(crate) problem: Option<String>,
}

impl IdStatus {
    /// The state as one sentence, as the domain page shows it.
    pub(crate) fn sentence(&self) -> String {
        let shown = self.dns_id.as_ref().map_or_else(
            || "no valid _mta-sts record".to_string(),
            |id| format!("the id {id}"),
        );
        match (self.state, self.method) {
            (IdState::InStep, _) => format!(
                "DNS shows the id {} of the policy served: senders that cached an older policy \
                 fetch this one at their next delivery.",
                self.id
            ),
            (IdState::NotUpdatedYet, IdMethod::ByHand) => format!(
                "id not updated yet: the policy served since {} has the id {}, but DNS shows \
                 {shown}; publish {} (senders keep the policy they cached until then).",
                self.served_since, self.id, self.record
            ),
            (IdState::NotUpdatedYet, IdMethod::DnsUpdate) => format!(
                "id not updated yet: the policy served since {} has the id {}, and DNS shows \
                 {shown}; the update is tried again{}.",
                self.served_since,
                self.id,
                self.problem
                    .as_ref()
                    .map(|problem| format!(" ({problem})"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// The id status of every hosted domain, written by the task and read by the dashboard.
#[derive(Debug, Default)]
pub(crate) struct IdStatuses {
    by_domain: RwLock<BTreeMap<String, IdStatus>>,
}

impl IdStatuses {
    /// The status of `domain`, if it is hosted and the task has seen its policy.
    pub(crate) fn get(&self, domain: &str) -> Option<IdStatus> {
        self.by_domain
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(domain)
            .cloned()
    }

    fn set(&self, status: IdStatus) {
        self.by_domain
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(status.domain.clone(), status);
    }

    fn count(&self, state: IdState) -> usize {
        self.by_domain
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|status| status.state == state)
            .count()
    }

    fn retain(&self, domains: &[String]) {
        self.by_domain
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|domain, _| domains.contains(domain));
    }
}

/// The record announcing `id` for `domain`, as a zone-file line.
pub(crate) fn zone_line(domain: &str, ttl: u32, id: &str) -> String {
    format!("_mta-sts.{domain}. {ttl} IN TXT \"v=STSv1; id={id}\"")
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The in-step task's counters, under `mta_sts_serve_`.
#[derive(Debug, Clone, Default)]
pub(crate) struct InStepMetrics {
    updates: Family<OutcomeLabel, Counter>,
    policy_changes: Counter,
    not_in_step: Gauge,
}

impl InStepMetrics {
    /// Registers the counters.
    pub(crate) fn register(registry: &mut Registry) -> InStepMetrics {
        let metrics = InStepMetrics::default();
        let registry = registry.sub_registry_with_prefix("mta_sts_serve");
        registry.register(
            "sts_id_updates",
            "RFC 2136 updates of _mta-sts records, by outcome (updated: accepted and read back; \
             unconfirmed: accepted, but not read back; failed)",
            metrics.updates.clone(),
        );
        registry.register(
            "auto_policy_changes",
            "Policies of auto hosts generated again with a different text (the MX set changed)",
            metrics.policy_changes.clone(),
        );
        registry.register(
            "sts_ids_not_in_step",
            "Hosted domains whose _mta-sts id in DNS is not yet that of the policy served",
            metrics.not_in_step.clone(),
        );
        metrics
    }

    fn update(&self, outcome: &'static str) {
        self.updates.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

/// When a domain's DNS is looked at next, and how long the wait after a miss is.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    due: Instant,
    backoff: Duration,
}

/// The task.
pub(crate) struct InStep {
    policies: Arc<HostedPolicies>,
    statuses: Arc<IdStatuses>,
    settings: watch::Receiver<Arc<InStepSettings>>,
    clock: Arc<dyn Clock>,
    metrics: InStepMetrics,
    /// When each `auto` host is regenerated next.
    auto_due: HashMap<String, Instant>,
    /// When each domain's id is looked at next.
    checks: HashMap<String, Schedule>,
    /// The last problem logged per domain and step, so a failure repeating every pass is
    /// logged once.
    logged: HashMap<(String, &'static str), String>,
    /// The servers (a zone's primary, or the resolver) that did not answer in this pass, with
    /// the problem: their other domains wait for the next pass instead of each waiting out the
    /// time limit again, so one dead server cannot hold up every other domain.
    unreachable: HashMap<String, String>,
}

impl InStep {
    /// The task over the served `policies`, writing `statuses`; `settings` is replaced on reload.
    pub(crate) fn new(
        policies: Arc<HostedPolicies>,
        statuses: Arc<IdStatuses>,
        settings: watch::Receiver<Arc<InStepSettings>>,
        clock: Arc<dyn Clock>,
        metrics: InStepMetrics,
    ) -> InStep {
        InStep {
            policies,
            statuses,
            settings,
            clock,
            metrics,
            auto_due: HashMap::new(),
            checks: HashMap::new(),
            logged: HashMap::new(),
            unreachable: HashMap::new(),
        }
    }

    /// Runs a pass at once, then whenever something is due or the settings change, until
    /// `stopping`. A pass cut short by shutdown leaves nothing half done that matters: the
    /// policy is set before the update is sent, and an update is one DNS transaction.
    pub(crate) async fn run(mut self, mut stopping: Stopping) {
        loop {
            let pass = self.pass();
            tokio::select! {
                () = stopping.wait() => return,
                () = pass => {}
            }
            let next = self.next_due();
            tokio::select! {
                () = stopping.wait() => return,
                changed = self.settings.changed() => {
                    if changed.is_err() {
                        // The server dropped its side: it is stopping.
                        return;
                    }
                    // New settings (a reload): every domain is looked at again now.
                    self.auto_due.clear();
                    self.checks.clear();
                }
                () = sleep_until(next) => {}
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.auto_due
            .values()
            .copied()
            .chain(self.checks.values().map(|s| s.due))
            .min()
    }

    /// One pass: regenerate what is due, then bring every id that is due in step.
    async fn pass(&mut self) {
        let settings = Arc::clone(&self.settings.borrow_and_update());
        let now = Instant::now();
        self.unreachable.clear();
        for host in &settings.auto {
            if self
                .auto_due
                .get(&host.domain)
                .is_none_or(|due| *due <= now)
            {
                // The resolver did not answer another host's MX lookup in this pass: try this
                // one again soon rather than wait out its time limit too.
                let next = if self.unreachable.contains_key(RESOLVER) {
                    FIRST_RETRY
                } else {
                    self.regenerate(host, &settings.dns).await;
                    host.refresh
                };
                self.auto_due
                    .insert(host.domain.clone(), Instant::now() + next);
            }
        }
        self.auto_due
            .retain(|domain, _| settings.auto.iter().any(|h| &h.domain == domain));
        let domains = self.policies.domains();
        self.statuses.retain(&domains);
        self.checks.retain(|domain, _| domains.contains(domain));
        // What was logged about domains no longer hosted is forgotten with them.
        self.logged.retain(|(domain, _), _| {
            domains.contains(domain) || settings.auto.iter().any(|h| &h.domain == domain)
        });
        for domain in domains {
            let Some(served) = self.policies.get(&domain) else {
                continue;
            };
            let zone = settings.zone_for(&domain);
            let changed = self
                .statuses
                .get(&domain)
                .is_none_or(|status| status.id != served.id);
            if changed {
                self.set_status(IdStatus {
                    domain: domain.clone(),
                    id: served.id.clone(),
                    record: zone_line(
                        &domain,
                        zone.map_or(crate::config::DEFAULT_STS_TTL, |z| z.ttl),
                        &served.id,
                    ),
                    state: IdState::NotUpdatedYet,
                    method: if zone.is_some() {
                        IdMethod::DnsUpdate
                    } else {
                        IdMethod::ByHand
                    },
                    dns_id: None,
                    served_since: self.clock.now(),
                    checked: None,
                    problem: None,
                });
                self.checks.remove(&domain);
            }
            if self
                .checks
                .get(&domain)
                .is_some_and(|s| s.due > Instant::now())
            {
                continue;
            }
            let in_step = match zone {
                Some(zone) => self.update(&served, zone).await,
                None => self.look_by_hand(&served, &settings.dns).await,
            };
            self.schedule(&domain, in_step);
        }
        self.count_behind();
    }

    /// Records `status`, and the count of domains not in step with it.
    fn set_status(&self, status: IdStatus) {
        self.statuses.set(status);
        self.count_behind();
    }

    fn count_behind(&self) {
        let behind = self.statuses.count(IdState::NotUpdatedYet);
        self.metrics
            .not_in_step
            .set(i64::try_from(behind).unwrap_or(i64::MAX));
    }

    fn schedule(&mut self, domain: &str, in_step: bool) {
        let backoff = if in_step {
            FIRST_RETRY
        } else {
            self.checks
                .get(domain)
                .map_or(FIRST_RETRY, |s| (s.backoff * 2).min(LONGEST_RETRY))
        };
        let wait = if in_step { IN_STEP_RECHECK } else { backoff };
        self.checks.insert(
            domain.to_string(),
            Schedule {
                due: Instant::now() + wait,
                backoff,
            },
        );
    }

    /// Generates `host`'s policy from its live MX set and serves it when it changed.
    async fn regenerate(&mut self, host: &AutoHost, dns: &DnsConfig) {
        // A client per pass: answers are cached by the resolver as their TTL says, not here
        // for the life of the server.
        let publication = match Publisher::from_dns_config(dns) {
            Ok(publisher) => publisher.publish(&host.domain, &host.options).await,
            Err(error) => Err(error),
        };
        let served = self.policies.get(&host.domain);
        match publication {
            Ok(publication) => {
                self.logged.remove(&(host.domain.clone(), "regenerate"));
                if served
                    .as_ref()
                    .is_some_and(|s| *s.text == *publication.policy)
                {
                    return;
                }
                let policy = HostedPolicy::new(&host.domain, &publication.policy);
                let id = policy.id.clone();
                // FIRST the policy is served; the id follows in this same pass.
                self.policies.set(policy);
                self.metrics.policy_changes.inc();
                let hosts: Vec<&str> = publication.mx.iter().map(|mx| mx.host.as_str()).collect();
                tracing::info!(
                    kind = %"auto-policy-changed",
                    domain = %host.domain,
                    id = %id,
                    "The MX hosts of {} are now {}: its policy was generated again and is \
                     served from now on with the id {id}; the _mta-sts record follows.",
                    host.domain,
                    hosts.join(", ")
                );
            }
            Err(error) => {
                if let PublishError::MxLookup { error, .. } = &error
                    && error.is_unreachable()
                {
                    self.unreachable.insert(
                        RESOLVER.to_string(),
                        format!(
                            "the resolver did not answer an earlier lookup in this pass ({error})"
                        ),
                    );
                }
                let stays = if served.is_some() {
                    "the policy served stays"
                } else {
                    "no policy is served for it until this succeeds"
                };
                let said = format!(
                    "The policy of {} could not be generated again ({error}); {stays}, and it \
                     is tried again in {} seconds.",
                    host.domain,
                    host.refresh.as_secs()
                );
                if self.first_time(&host.domain, "regenerate", &said) {
                    tracing::warn!(kind = %"auto-policy-failed", domain = %host.domain, "{said}");
                }
            }
        }
    }

    /// Brings `_mta-sts.<domain>` at `zone`'s primary to the served id; true when DNS shows it.
    async fn update(&mut self, served: &HostedPolicy, zone: &ZoneUpdater) -> bool {
        let name = format!("_mta-sts.{}", served.domain);
        let record = format!("v=STSv1; id={}", served.id);
        let now = self.clock.now();
        let server = zone.updater.server().to_string();
        if let Some(problem) = self.unreachable.get(&server).cloned() {
            self.unsettled(served, None, now, problem, "update");
            return false;
        }
        // Already there (a restart, or another server sharing the configuration): no update.
        let before = zone
            .updater
            .txt(&name)
            .await
            .map(|records| dns_id(&records));
        if let Err(error @ (UpdateError::Timeout | UpdateError::Transport(_))) = &before {
            let problem = format!(
                "{} did not answer a query for {name} ({error}), so no update was sent",
                zone.updater.server()
            );
            self.unreachable.insert(
                server,
                format!(
                    "{} did not answer an earlier query in this pass ({error})",
                    zone.updater.server()
                ),
            );
            self.unsettled(served, None, now, problem, "update");
            return false;
        }
        if let Ok(Some(id)) = &before
            && *id == served.id
        {
            self.settle(served, Some(id.clone()), now);
            return true;
        }
        // RFC 8461 §3.1: the policy announced by this id is served already (it was set in
        // HostedPolicies before this pass read it), so the id may change now.
        if let Err(error) = zone.updater.replace_txt(&name, zone.ttl, &record).await {
            self.metrics.update("failed");
            let problem = format!(
                "the update of {name} at {} (zone {}, key {}) failed: {error}",
                zone.updater.server(),
                zone.zone,
                zone.updater.key_name()
            );
            if matches!(error, UpdateError::Timeout | UpdateError::Transport(_)) {
                self.unreachable.insert(
                    server,
                    format!(
                        "{} did not answer an earlier update in this pass ({error})",
                        zone.updater.server()
                    ),
                );
            }
            let shown = before.ok().flatten();
            self.unsettled(served, shown, now, problem, "update");
            return false;
        }
        // Confirmed by reading the record back from the primary, as a resolver would get it.
        match zone
            .updater
            .txt(&name)
            .await
            .map(|records| dns_id(&records))
        {
            Ok(Some(id)) if id == served.id => {
                tracing::info!(
                    kind = %"sts-id-updated",
                    domain = %served.domain,
                    id = %served.id,
                    server = %zone.updater.server(),
                    "The _mta-sts record of {} now announces the id {} at {} (zone {}), after \
                     its policy was served: senders fetch the new policy at their next delivery.",
                    served.domain,
                    served.id,
                    zone.updater.server(),
                    zone.zone
                );
                self.logged.remove(&(served.domain.clone(), "update"));
                self.metrics.update("updated");
                self.settle(served, Some(id), now);
                true
            }
            Ok(shown) => {
                let problem = format!(
                    "the update of {name} at {} was accepted, but the primary still shows {}",
                    zone.updater.server(),
                    shown.as_ref().map_or_else(
                        || "no valid record".to_string(),
                        |id| format!("the id {id}")
                    )
                );
                self.metrics.update("unconfirmed");
                self.unsettled(served, shown, now, problem, "update");
                false
            }
            Err(error) => {
                let problem = format!(
                    "the update of {name} at {} was accepted, but reading the record back from \
                     the primary failed: {error}",
                    zone.updater.server()
                );
                self.metrics.update("unconfirmed");
                self.unsettled(served, None, now, problem, "update");
                false
            }
        }
    }

    /// Looks whether DNS shows the served id of a domain kept in step by hand; true when it does.
    async fn look_by_hand(&mut self, served: &HostedPolicy, dns: &DnsConfig) -> bool {
        let name = format!("_mta-sts.{}", served.domain);
        let now = self.clock.now();
        if let Some(problem) = self.unreachable.get(RESOLVER).cloned() {
            self.unsettled(served, None, now, problem, "look");
            return false;
        }
        let records = match Dns::new(dns) {
            Ok(client) => client.txt(&name).await,
            Err(error) => {
                let problem = format!("the resolver cannot be used: {error}");
                self.unsettled(served, None, now, problem, "look");
                return false;
            }
        };
        let shown = match records {
            Ok(records) => dns_id_of_strings(&records),
            Err(error) if error.is_negative() => None,
            Err(error) => {
                if error.is_unreachable() {
                    self.unreachable.insert(
                        RESOLVER.to_string(),
                        format!(
                            "the resolver did not answer an earlier lookup in this pass ({error})"
                        ),
                    );
                }
                let problem = format!("{name} could not be looked up: {error}");
                self.unsettled(served, None, now, problem, "look");
                return false;
            }
        };
        if shown.as_deref() == Some(served.id.as_str()) {
            let was = self.statuses.get(&served.domain).map(|s| s.state);
            if was != Some(IdState::InStep) {
                tracing::info!(
                    kind = %"sts-id-published",
                    domain = %served.domain,
                    id = %served.id,
                    "DNS now shows the id {} for {}: its policy and its _mta-sts record are in \
                     step.",
                    served.id,
                    served.domain
                );
            }
            self.settle(served, shown, now);
            return true;
        }
        let line = zone_line(&served.domain, crate::config::DEFAULT_STS_TTL, &served.id);
        let showing = shown.as_ref().map_or_else(
            || "no valid record".to_string(),
            |id| format!("the id {id}"),
        );
        let said = format!(
            "The policy served for {} has the id {}, but DNS shows {showing}: publish \
             `{line}` (no [[dns_update]] zone holds it). Senders keep the policy they cached \
             until the id changes (RFC 8461 §3.1).",
            served.domain, served.id
        );
        // Logged once per id: the owner has to act on it, not read it every pass.
        if self.first_time(&served.domain, "by-hand", &served.id) {
            tracing::warn!(
                kind = %"sts-id-not-updated",
                domain = %served.domain,
                id = %served.id,
                "{said}"
            );
        }
        self.unsettled_quietly(served, shown, now);
        false
    }

    fn settle(&self, served: &HostedPolicy, shown: Option<String>, now: Timestamp) {
        if let Some(mut status) = self.statuses.get(&served.domain)
            && status.id == served.id
        {
            status.state = IdState::InStep;
            status.dns_id = shown;
            status.checked = Some(now);
            status.problem = None;
            self.set_status(status);
        }
    }

    fn unsettled_quietly(&self, served: &HostedPolicy, shown: Option<String>, now: Timestamp) {
        if let Some(mut status) = self.statuses.get(&served.domain)
            && status.id == served.id
        {
            status.state = IdState::NotUpdatedYet;
            status.dns_id = shown;
            status.checked = Some(now);
            status.problem = None;
            self.set_status(status);
        }
    }

    fn unsettled(
        &mut self,
        served: &HostedPolicy,
        shown: Option<String>,
        now: Timestamp,
        problem: String,
        step: &'static str,
    ) {
        if self.first_time(&served.domain, step, &problem) {
            tracing::warn!(
                kind = %"sts-id-update-failed",
                domain = %served.domain,
                id = %served.id,
                "The _mta-sts id of {} is not updated yet to {}: {problem}. The new policy is \
                 served meanwhile; senders keep the one they cached until the id changes, and \
                 the update is tried again.",
                served.domain,
                served.id
            );
        }
        if let Some(mut status) = self.statuses.get(&served.domain)
            && status.id == served.id
        {
            status.state = IdState::NotUpdatedYet;
            status.dns_id = shown;
            status.checked = Some(now);
            status.problem = Some(problem);
            self.set_status(status);
        }
    }

    /// Whether `said` differs from what was last logged for `domain`'s `step` (and records it).
    fn first_time(&mut self, domain: &str, step: &'static str, said: &str) -> bool {
        let key = (domain.to_string(), step);
        if self.logged.get(&key).is_some_and(|last| last == said) {
            return false;
        }
        self.logged.insert(key, said.to_string());
        true
    }
}

/// The id a sender would read from these TXT record values (RFC 8461 §3.1: exactly one
/// `v=STSv1` record, valid), if any.
fn dns_id(records: &[String]) -> Option<String> {
    let strings: Vec<Vec<&[u8]>> = records.iter().map(|r| vec![r.as_bytes()]).collect();
    sts_record::discover(&strings)
        .record()
        .map(|r| r.id.clone())
}

fn dns_id_of_strings(records: &[Vec<Vec<u8>>]) -> Option<String> {
    sts_record::discover(records).record().map(|r| r.id.clone())
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
