//! The alert watcher: a task of `mta-sts serve` that finds the conditions worth telling the
//! owner about and raises one alert per condition per period (`mta_sts_alerts`).
//!
//! - **Failures**: every `poll_interval`, the reports received since the last look, however
//!   they arrived (HTTPS, mail, IMAP, import), read from the store in receipt order; those with
//!   failed sessions for a configured domain raise the domain's `failures` alert of the period
//!   (the UTC day by default): the first failure report of the day alerts, the others that day
//!   do not.
//! - **Silent reporters**: every `check_interval`, per domain, the organisations that reported
//!   on at least `regular_days` of the last `lookback_days` but on none of the last
//!   `silent_after_days` whole days (today does not count: a day's reports come the day
//!   after); one alert per silence (its period is the last day reported).
//! - **Verdict changes**: with `advisor` on, every `check_interval`, per domain, the rollout
//!   advisor's stage and readiness (`testing: not ready to enforce`), compared with the one
//!   the store kept from the last look (by any server sharing it); a change raises an alert
//!   naming what does not hold now. The first verdict of a domain raises nothing.
//!
//! Where the watcher has read up to is kept in the store: after a restart it goes on from there,
//! so reports received meanwhile are not missed.
//!
//! The watcher only reads the store and queues alerts: intake never waits for it, and it never
//! waits for a receiver.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use mta_sts_alerts::{
    Alert, AlertError, Alerter, ChannelKind, Condition, Dispatcher, FailedReport, Outcome, Queued,
};
use mta_sts_core::Clock;
use mta_sts_core::Timestamp;
use mta_sts_core::time::SECONDS_PER_DAY;
use mta_sts_reports::{DomainFilter, Intake};
use mta_sts_rollout::{Advice, Advisor};
use mta_sts_service::Stopping;
use mta_sts_store::reports::{EvidenceQuery, ReceiptCursor, ReportKey, ReportStore, StoredReport};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::config::{AlertsConfig, FailurePeriod, ServeConfig};
use crate::error::ServeError;

/// Reports read from the store at once.
const BATCH: u64 = 500;

/// How far before its cursor each look starts again: a report is stamped when received but
/// seen when its batch commits, so one of a slower batch may land behind the cursor (the
/// store's `received_since` says so). Keys already seen in the overlap are skipped.
const OVERLAP: Duration = Duration::from_secs(60);

/// Where the watcher has read reports up to is kept as a state of this pseudo-domain (no
/// domain name is `*`).
const CURSOR_DOMAIN: &str = "*";
/// The state the watcher's place in the reports is kept under.
const CURSOR_STATE: &str = "alerts.cursor";

/// The domain state the advisor's last verdict is kept under.
const VERDICT_STATE: &str = "alerts.verdict";

/// The watcher of one server.
#[derive(Clone)]
pub(crate) struct Watcher {
    store: ReportStore,
    alerter: Alerter,
    advisor: Option<Advisor>,
    /// The intake: its domains are the watched ones, changed by a reload.
    intake: Intake,
    settings: AlertsConfig,
    clock: Arc<dyn Clock>,
    counted: CountedAlerter,
}

/// The alerter with the server's counters: every part of the server that raises alerts (the
/// watcher, the monitor) raises them through this, so `alerts_raised` and `alerts_repeated`
/// count each kind alike.
#[derive(Clone)]
pub(crate) struct CountedAlerter {
    alerter: Alerter,
    raised: Family<ConditionLabel, Counter>,
    repeated: Family<ConditionLabel, Counter>,
}

impl CountedAlerter {
    /// Raises `alert` and counts it by its condition's kind: raised (queued, or dropped by a
    /// full queue with its own log line: raised either way), or repeated (already raised for
    /// its period, here or by another server sharing the store). An error counts nothing: the
    /// alert is raised at the next look.
    pub(crate) async fn raise(&self, alert: Alert) -> Result<Queued, AlertError> {
        let label = ConditionLabel {
            condition: alert.condition.kind(),
        };
        let queued = self.alerter.raise(alert).await?;
        match queued {
            Queued::AlreadyRaised => self.repeated.get_or_create(&label).inc(),
            _ => self.raised.get_or_create(&label).inc(),
        };
        Ok(queued)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ConditionLabel {
    condition: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeliveryLabel {
    channel: &'static str,
    outcome: &'static str,
}

impl Watcher {
    /// The watcher of `config`, its delivery started (secrets and CA files read now, so a bad
    /// one stops the server from starting) and its counters registered in `registry`
    /// (`mta_sts_serve_alerts_raised_total{condition}`,
    /// `mta_sts_serve_alerts_repeated_total{condition}`,
    /// `mta_sts_serve_alert_deliveries_total{channel, outcome}`); `None` when no webhook or
    /// mail is configured.
    pub(crate) fn start(
        config: &ServeConfig,
        intake: Intake,
        clock: Arc<dyn Clock>,
        registry: &mut Registry,
    ) -> Result<Option<Watcher>, ServeError> {
        let store = intake.store().clone();
        if !config.alerts.is_enabled() {
            return Ok(None);
        }
        let registry = registry.sub_registry_with_prefix("mta_sts_serve");
        let raised = Family::<ConditionLabel, Counter>::default();
        let repeated = Family::<ConditionLabel, Counter>::default();
        let monitor = config.monitor.enabled.then_some("monitor");
        let conditions = ["failures", "silent-reporter", "verdict-changed"];
        for condition in conditions.into_iter().chain(monitor) {
            let _ = raised.get_or_create(&ConditionLabel { condition });
            let _ = repeated.get_or_create(&ConditionLabel { condition });
        }
        registry.register(
            "alerts_raised",
            "Alerts raised (each once per condition and period), by condition (monitor: each \
             monitor event raised or cleared)",
            raised.clone(),
        );
        registry.register(
            "alerts_repeated",
            "Conditions found again in a period whose alert was already raised (by this server \
             or another sharing the store), so not raised again, by condition",
            repeated.clone(),
        );
        let deliveries = Family::<DeliveryLabel, Counter>::default();
        registry.register(
            "alert_deliveries",
            "What became of raised alerts, by channel (webhook, mail) and outcome (delivered, \
             gave_up after the attempts, dropped by a full queue)",
            deliveries.clone(),
        );
        let hook = Arc::new(move |channel: ChannelKind, outcome: Outcome| {
            deliveries
                .get_or_create(&DeliveryLabel {
                    channel: channel.as_str(),
                    outcome: outcome.as_str(),
                })
                .inc();
        });
        let dispatcher = Dispatcher::start_observed(&config.alerts.delivery(), clock.clone(), hook)
            .map_err(|error| ServeError::ConfigValue {
                key: "alerts".into(),
                message: error.to_string(),
            })?;
        let advisor = if config.alerts.advisor {
            Some(config.advisor(store.clone())?)
        } else {
            None
        };
        let alerter = Alerter::new(store.clone(), dispatcher);
        Ok(Some(Watcher {
            alerter: alerter.clone(),
            advisor,
            store,
            intake,
            settings: config.alerts.clone(),
            clock,
            counted: CountedAlerter {
                alerter,
                raised,
                repeated,
            },
        }))
    }

    /// What raises this watcher's alerts, for the other parts of the server that raise
    /// alerts of their own (ACME's expiring certificates).
    pub(crate) fn alerter(&self) -> Alerter {
        self.alerter.clone()
    }

    /// The same, counted in this watcher's `alerts_raised` and `alerts_repeated` (the
    /// monitor's events, `condition="monitor"`).
    pub(crate) fn counted_alerter(&self) -> CountedAlerter {
        self.counted.clone()
    }

    /// Watches until `stopping`: new reports every `poll_interval`, reporters every
    /// `check_interval`, each in its own loop so a slow one does not delay the other. Then
    /// the alerts still queued get up to `drain` to be delivered.
    pub(crate) async fn run(self, stopping: Stopping, drain: Duration) {
        tracing::info!(
            kind = %"alerts-watching",
            "Alerts are on for {}: new reports are looked at every {} seconds, reporters every \
             {} seconds.",
            self.intake.domains(),
            self.settings.poll_interval.as_secs(),
            self.settings.check_interval.as_secs()
        );
        tokio::join!(
            self.clone().watch_reports(stopping.clone()),
            self.clone().watch_reporters(stopping)
        );
        // Both loops have ended and dropped their clones: this is the last.
        self.alerter.finish(drain).await;
    }

    async fn watch_reports(self, mut stopping: Stopping) {
        let mut cursor = Cursor::new(self.resume_from().await);
        let mut kept = cursor.from;
        loop {
            let poll = async {
                let started = self.clock.now();
                self.poll_reports(&mut cursor).await;
                // With no report for a while the cursor still moves on (keeping the overlap),
                // so a restart does not read old reports again.
                cursor.from = cursor.from.max(started.saturating_sub(OVERLAP));
                if cursor.from != kept {
                    self.keep_cursor(cursor.from).await;
                    kept = cursor.from;
                }
            };
            tokio::select! {
                () = stopping.wait() => return,
                () = poll => {}
            }
            tokio::select! {
                () = stopping.wait() => return,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    async fn watch_reporters(self, mut stopping: Stopping) {
        loop {
            let check = async {
                self.check_reporters().await;
                self.check_verdicts().await;
            };
            tokio::select! {
                () = stopping.wait() => return,
                () = check => {}
            }
            tokio::select! {
                () = stopping.wait() => return,
                () = tokio::time::sleep(self.settings.check_interval) => {}
            }
        }
    }

    /// Where the last run stopped reading, as kept in the store, so the reports received while
    /// the server was down (imported, fetched by IMAP) are still looked at; now on a first run.
    async fn resume_from(&self) -> Timestamp {
        let now = self.clock.now();
        let kept = match self
            .store
            .swap_domain_state(CURSOR_DOMAIN, CURSOR_STATE, &now.to_string(), now)
            .await
        {
            Ok(kept) => kept,
            Err(error) => {
                tracing::warn!(
                    kind = %"alerts-read-failed",
                    "Where alerts stopped reading reports could not be read: {error}; reports \
                     received from now on are looked at."
                );
                return now;
            }
        };
        match kept.and_then(|text| Timestamp::parse(&text).ok()) {
            Some(from) if from < now => {
                // Keep the older place until the reports since are read.
                self.keep_cursor(from).await;
                from
            }
            _ => now,
        }
    }

    async fn keep_cursor(&self, from: Timestamp) {
        if let Err(error) = self
            .store
            .swap_domain_state(
                CURSOR_DOMAIN,
                CURSOR_STATE,
                &from.to_string(),
                self.clock.now(),
            )
            .await
        {
            tracing::warn!(
                kind = %"alerts-write-failed",
                "Where alerts stopped reading reports could not be kept: {error}; after a \
                 restart, reports may be looked at again (their alerts are not repeated within \
                 their period)."
            );
        }
    }

    /// One look at the reports received since the last.
    async fn poll_reports(&self, cursor: &mut Cursor) {
        let fresh = match cursor.read(&self.store).await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(
                    kind = %"alerts-read-failed",
                    "New reports could not be read for alerts: {error}; the next look, in {} \
                     seconds, tries again.",
                    self.settings.poll_interval.as_secs()
                );
                return;
            }
        };
        let now = self.clock.now();
        for (domain, reports) in failures_by_domain(&fresh, &self.domains()) {
            let failed_sessions = reports.iter().map(FailedReport::failed_sessions).sum();
            let alert = Alert {
                period: failure_period(now, self.settings.failure_period),
                domain,
                condition: Condition::Failures {
                    failed_sessions,
                    reports,
                },
                raised_at: now,
            };
            self.raise(alert).await;
        }
    }

    /// One look for reporters gone silent, domain by domain.
    async fn check_reporters(&self) {
        let now = self.clock.now();
        let today = now.utc_date().day_number();
        let back = Duration::from_secs(
            u64::from(self.settings.lookback_days.saturating_sub(1))
                * SECONDS_PER_DAY.unsigned_abs(),
        );
        for domain in &self.domains() {
            let query = EvidenceQuery {
                domain: domain.clone(),
                from: now.start_of_day().saturating_sub(back),
                to: now,
            };
            let evidence = match self.store.evidence(&query).await {
                Ok(evidence) => evidence,
                Err(error) => {
                    tracing::warn!(
                        kind = %"alerts-read-failed",
                        domain = %domain,
                        "The reporters of {domain} could not be read for alerts: {error}; the \
                         next look tries again."
                    );
                    continue;
                }
            };
            for reporter in evidence.reporters {
                // Today's reports come tomorrow: only whole days before today count.
                let silent_days = today - reporter.last_day.day_number() - 1;
                if reporter.days < u64::from(self.settings.regular_days)
                    || silent_days < i64::from(self.settings.silent_after_days)
                {
                    continue;
                }
                let alert = Alert {
                    domain: domain.clone(),
                    period: reporter.last_day.to_string(),
                    condition: Condition::SilentReporter {
                        organization: reporter.organization,
                        last_day: reporter.last_day,
                        days_reported: reporter.days,
                        silent_days: silent_days.unsigned_abs(),
                    },
                    raised_at: now,
                };
                self.raise(alert).await;
            }
        }
    }

    /// One look at the advisor's verdict on each domain.
    async fn check_verdicts(&self) {
        let Some(advisor) = &self.advisor else {
            return;
        };
        for domain in &self.domains() {
            let now = self.clock.now();
            let advice = match advisor.assess(domain, now).await {
                Ok(assessment) => assessment.advice,
                Err(error) => {
                    tracing::warn!(
                        kind = %"alerts-advice-failed",
                        domain = %domain,
                        "The rollout advisor could not assess {domain} for alerts: {error}; the \
                         next look tries again."
                    );
                    continue;
                }
            };
            let current = verdict(&advice);
            let previous = match self
                .store
                .swap_domain_state(domain, VERDICT_STATE, &current, now)
                .await
            {
                Ok(previous) => previous,
                Err(error) => {
                    tracing::warn!(
                        kind = %"alerts-read-failed",
                        domain = %domain,
                        "The last verdict on {domain} could not be read or kept: {error}; the \
                         next look tries again."
                    );
                    continue;
                }
            };
            let Some(previous) = previous.filter(|previous| *previous != current) else {
                continue;
            };
            let alert = Alert {
                domain: domain.clone(),
                period: format!("{}: {current}", now.utc_date()),
                condition: Condition::VerdictChanged {
                    previous,
                    current,
                    reasons: advice.failing().map(|r| r.message.clone()).collect(),
                },
                raised_at: now,
            };
            self.raise(alert).await;
        }
    }

    /// The domains watched now (a reload may have changed them).
    fn domains(&self) -> Vec<String> {
        match &*self.intake.domains() {
            DomainFilter::Only(domains) => domains.iter().cloned().collect(),
            // The server always has a list; "every domain" would be no list to look through.
            DomainFilter::Any => Vec::new(),
        }
    }

    async fn raise(&self, alert: Alert) {
        let id = alert.id();
        match self.counted.raise(alert).await {
            Ok(Queued::AlreadyRaised) => {}
            Ok(_) => {
                tracing::info!(kind = %"alert-raised", alert = %id, "The alert {id} was raised.");
            }
            Err(error) => tracing::warn!(
                kind = %"alert-not-raised",
                alert = %id,
                "The alert {id} could not be raised: {error}; it is raised at the next look \
                 that finds its condition."
            ),
        }
    }
}

/// The verdict compared between looks: the stage and whether it is ready for the next.
fn verdict(advice: &Advice) -> String {
    format!(
        "{}: {} {}",
        advice.stage,
        if advice.ready { "ready" } else { "not ready" },
        advice.stage.ready_for()
    )
}

/// Where the watcher is in the order reports were received, and the keys it saw in the
/// overlap before it.
struct Cursor {
    from: Timestamp,
    seen: HashMap<ReportKey, Timestamp>,
}

impl Cursor {
    fn new(now: Timestamp) -> Cursor {
        Cursor {
            from: now,
            seen: HashMap::new(),
        }
    }

    /// The reports received since the last read, each once.
    async fn read(
        &mut self,
        store: &ReportStore,
    ) -> Result<Vec<StoredReport>, mta_sts_store::StoreError> {
        let mut query = ReceiptCursor::since(self.from.saturating_sub(OVERLAP));
        let mut fresh = Vec::new();
        loop {
            let batch = store.received_since(&query, BATCH).await?;
            let full = batch.len() as u64 == BATCH;
            if let Some(last) = batch.last() {
                query = ReceiptCursor::after(last);
            }
            for report in batch {
                if self.seen.insert(report.key, report.received_at).is_none() {
                    self.from = self.from.max(report.received_at);
                    fresh.push(report);
                }
            }
            if !full {
                break;
            }
        }
        let keep_from = self.from.saturating_sub(OVERLAP);
        self.seen.retain(|_, received_at| *received_at >= keep_from);
        Ok(fresh)
    }
}

/// The reports of `fresh` with failed sessions for one of `domains`, by domain, each with only
/// its entries for that domain that count failures.
fn failures_by_domain(
    fresh: &[StoredReport],
    domains: &[String],
) -> BTreeMap<String, Vec<FailedReport>> {
    let mut found: BTreeMap<String, Vec<FailedReport>> = BTreeMap::new();
    for report in fresh {
        let mut by_domain: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for policy in &report.policies {
            let Some(domain) = policy
                .policy_domain
                .as_deref()
                .and_then(|d| mta_sts_core::domain::normalize_mail_domain(d).ok())
            else {
                continue;
            };
            if policy.failed > 0 && domains.contains(&domain) {
                by_domain.entry(domain).or_default().push(policy.clone());
            }
        }
        for (domain, policies) in by_domain {
            found.entry(domain).or_default().push(FailedReport {
                organization: report.organization.clone(),
                report_id: report.report_id.clone(),
                start: report.start,
                end: report.end,
                received_at: report.received_at,
                source: report.source.to_string(),
                policies,
            });
        }
    }
    found
}

/// The period a failure alert raised at `now` stands for.
fn failure_period(now: Timestamp, period: FailurePeriod) -> String {
    match period {
        FailurePeriod::Day => now.utc_date().to_string(),
        FailurePeriod::Hour => {
            let hour = now.unix_seconds().rem_euclid(SECONDS_PER_DAY) / 3600;
            format!("{}T{hour:02}", now.utc_date())
        }
    }
}

#[cfg(test)]
mod tests;
