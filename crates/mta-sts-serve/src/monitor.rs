//! The monitor of `mta-sts serve`: a task that checks every domain of the server (the
//! configured `domains` and the hosted `[[hosts]]`, following a reload) on a schedule with the
//! `[check]` settings, through the monitor engine (`mta_sts_monitor`), which keeps each check
//! as history and raises and clears events in the store.
//!
//! - **Schedule** (`schedule`): every `interval`, each domain shifted by its own random part
//!   of `jitter`, the first pass soon after start; at most `concurrency` checks at once.
//! - **Hosted domains**: after each check, the organisations that stopped fetching the hosted
//!   policy (`fetcher-stopped`, from the fetches this server logged).
//! - **Alerts**: each event raised or cleared goes through the `[alerts]` channels as a
//!   `monitor` alert, claimed in the store under `monitor:CODE:SUBJECT:STATE` for the event's
//!   time: several servers sharing the store send each raise and each clear once (the engine
//!   already gives an event only to the server that changed it; the claim makes a retry after
//!   a failed raise safe). Without channels the events are logged and shown on the dashboard.
//! - **Gauges** (`gauges`): verdict, certificate expiry, policy age, time since the last
//!   complete check and open events, per domain.
//! - **History**: checks older than `keep_days` are pruned once an interval; events are kept.
//!
//! A check that fails to be kept (the store down) is logged and tried again at the next
//! interval; the monitor never stops the server.

mod gauges;
mod schedule;

use std::sync::Arc;
use std::time::Duration;

use mta_sts_alerts::{Alert, Condition, MonitorState, Queued};
use mta_sts_core::time::Clock;
use mta_sts_monitor::{Event, EventState, Monitor, MonitorSettings};
use mta_sts_reports::{DomainFilter, Intake};
use mta_sts_service::Stopping;
use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub(crate) use self::gauges::MonitorGauges;
use self::schedule::{Schedule, random_share};
use crate::config::{MonitorConfig, ServeConfig};
use crate::error::ServeError;
use crate::hosting::ConfiguredDomains;
use crate::watch::CountedAlerter;

/// The longest the schedule sleeps before looking at the list of domains again, so a domain a
/// reload adds is scheduled within this time.
const RELOAD_LOOK: Duration = Duration::from_secs(60);

/// Checks read back at start per domain, to seed the gauges (the last check, and the last
/// complete one among these).
const SEED_CHECKS: u32 = 50;

/// The monitor task of one server.
#[derive(Clone)]
pub(crate) struct MonitorTask {
    monitor: Monitor,
    settings: MonitorConfig,
    /// The intake: its domains are the monitored ones, changed by a reload.
    intake: Intake,
    /// The hosted domains, whose policy fetchers are watched too.
    hosted: Arc<ConfiguredDomains>,
    alerter: Option<CountedAlerter>,
    clock: Arc<dyn Clock>,
    gauges: MonitorGauges,
}

impl MonitorTask {
    /// The monitor of `config` (`None` when `[monitor]` is off), its gauges registered in
    /// `registry`.
    pub(crate) fn new(
        config: &ServeConfig,
        intake: Intake,
        hosted: Arc<ConfiguredDomains>,
        clock: Arc<dyn Clock>,
        registry: &mut Registry,
    ) -> Result<Option<MonitorTask>, ServeError> {
        if !config.monitor.enabled {
            return Ok(None);
        }
        let bad = |error: mta_sts_monitor::MonitorError| ServeError::ConfigValue {
            key: "monitor.cert_days".into(),
            message: error.to_string(),
        };
        let mut settings =
            MonitorSettings::with_cert_days(&config.monitor.cert_days).map_err(bad)?;
        settings.fetcher_silence =
            Duration::from_secs(u64::from(config.monitor.fetcher_silence_days) * 86_400);
        let monitor = Monitor::new(config.checker()?, intake.store().clone(), settings);
        Ok(Some(MonitorTask {
            monitor,
            settings: config.monitor.clone(),
            intake,
            hosted,
            alerter: None,
            gauges: MonitorGauges::register(registry, clock.clone()),
            clock,
        }))
    }

    /// Sends the events through `alerter` (the `[alerts]` channels), counted with the other
    /// alerts as `condition="monitor"`.
    pub(crate) fn alert_through(&mut self, alerter: CountedAlerter) {
        self.alerter = Some(alerter);
    }

    /// Runs until `stopping`: the checks due are started as they come due; once stopping, the
    /// checks under way get up to `drain` to finish and keep their result.
    pub(crate) async fn run(self, mut stopping: Stopping, drain: Duration) {
        let jitter = self.settings.jitter();
        tracing::info!(
            kind = %"monitor-started",
            "The monitor checks {} every {} seconds, each domain shifted by up to {} seconds.",
            self.domains().join(", "),
            self.settings.interval.as_secs(),
            jitter.as_secs()
        );
        self.seed_gauges().await;
        let mut schedule = Schedule::new(self.settings.interval, jitter);
        let mut running: JoinSet<String> = JoinSet::new();
        let mut in_progress: Vec<String> = Vec::new();
        let mut next_prune = Instant::now();
        loop {
            let now = Instant::now();
            let domains = self.domains();
            self.gauges.retain(&domains);
            schedule.follow(&domains, now, random_share);
            for domain in schedule.due(now) {
                if running.len() >= self.settings.concurrency {
                    break;
                }
                // A check still under way after a whole interval is not doubled.
                schedule.started(&domain, now);
                if !in_progress.contains(&domain) {
                    in_progress.push(domain.clone());
                    let task = self.clone();
                    running.spawn(async move {
                        task.check(&domain).await;
                        domain
                    });
                }
            }
            if now >= next_prune {
                self.prune().await;
                next_prune = now + self.settings.interval;
            }
            // At the cap, the next wake-up is a check finishing, not a domain that is due.
            let wake = match schedule.next_due() {
                Some(due) if running.len() < self.settings.concurrency => {
                    due.min(now + RELOAD_LOOK)
                }
                _ => now + RELOAD_LOOK,
            };
            tokio::select! {
                () = stopping.wait() => break,
                () = tokio::time::sleep_until(wake) => {}
                Some(done) = running.join_next() => {
                    if let Ok(domain) = done {
                        in_progress.retain(|d| *d != domain);
                    }
                }
            }
        }
        if !running.is_empty()
            && tokio::time::timeout(drain, async {
                while running.join_next().await.is_some() {}
            })
            .await
            .is_err()
        {
            tracing::warn!(
                kind = %"monitor-cut-short",
                "Stopping: {} monitor checks were still running after {} seconds and are cut \
                 short; they run again at the next start.",
                running.len(),
                drain.as_secs()
            );
        }
    }

    /// The domains monitored now (a reload may have changed them).
    fn domains(&self) -> Vec<String> {
        match &*self.intake.domains() {
            DomainFilter::Only(domains) => domains.iter().cloned().collect(),
            // The server always has a list; "every domain" would be nothing to check.
            DomainFilter::Any => Vec::new(),
        }
    }

    /// One domain's check, its fetchers when it is hosted, and what follows from them.
    async fn check(&self, domain: &str) {
        let now = self.clock.now();
        match self.monitor.run(domain, now).await {
            Ok(run) => {
                self.gauges
                    .update(domain, |state| state.record(&run.snapshot));
                tracing::debug!(
                    kind = %"monitor-checked",
                    domain = %domain,
                    "The monitor checked {domain} at {now}: {}.",
                    run.snapshot.verdict.as_str()
                );
                for event in run.events {
                    self.announce(event).await;
                }
            }
            Err(error) => tracing::warn!(
                kind = %"monitor-failed",
                domain = %domain,
                "The monitor's check of {domain} at {now} could not be kept: {error}; it is \
                 made again in {} seconds.",
                self.settings.interval.as_secs()
            ),
        }
        if self.hosted.contains(domain) {
            match self.monitor.run_fetchers(domain, now).await {
                Ok(events) => {
                    for event in events {
                        self.announce(event).await;
                    }
                }
                Err(error) => tracing::warn!(
                    kind = %"monitor-failed",
                    domain = %domain,
                    "The policy fetchers of {domain} could not be looked at: {error}; they are \
                     looked at again in {} seconds.",
                    self.settings.interval.as_secs()
                ),
            }
        }
        self.count_open(domain).await;
    }

    /// The open events of `domain`, for its gauge.
    async fn count_open(&self, domain: &str) {
        match self.monitor.store().open_monitor_events(domain).await {
            Ok(open) => self
                .gauges
                .update(domain, |state| state.open_events = open.len() as u64),
            Err(error) => tracing::warn!(
                kind = %"monitor-read-failed",
                domain = %domain,
                "The open monitor events of {domain} could not be read: {error}; their gauge \
                 keeps its last value."
            ),
        }
    }

    /// Logs an event and sends it through the alert channels.
    async fn announce(&self, event: Event) {
        tracing::info!(
            kind = %"monitor-event",
            domain = %event.domain,
            code = %event.code,
            state = %event.state,
            "{} (the monitor {} {} for {}.)",
            event.message,
            event.state,
            event.code,
            event.domain
        );
        let Some(alerter) = &self.alerter else {
            return;
        };
        let alert = monitor_alert(event);
        let id = alert.id();
        match alerter.raise(alert).await {
            Ok(Queued::AlreadyRaised) => {}
            Ok(_) => {
                tracing::debug!(kind = %"alert-raised", alert = %id, "The alert {id} was raised.")
            }
            Err(error) => tracing::warn!(
                kind = %"alert-not-raised",
                alert = %id,
                "The alert {id} could not be raised: {error}; the event stays on the \
                 dashboard and in the store."
            ),
        }
    }

    /// Deletes the checks older than `keep_days`.
    async fn prune(&self) {
        let Some(keep) = self.settings.retention() else {
            return;
        };
        let before = self.clock.now().saturating_sub(keep);
        match self.monitor.store().prune_monitor_checks(before).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(
                kind = %"monitor-pruned",
                "{count} monitor checks made before {before} were deleted (keep_days = {}).",
                self.settings.keep_days
            ),
            Err(error) => tracing::warn!(
                kind = %"monitor-prune-failed",
                "The monitor checks made before {before} could not be deleted: {error}; the \
                 next pass tries again."
            ),
        }
    }

    /// The gauges as the stored history says, so a restart does not blank them until each
    /// domain's next check.
    async fn seed_gauges(&self) {
        for domain in self.domains() {
            let checks = match mta_sts_monitor::history(self.monitor.store(), &domain, SEED_CHECKS)
                .await
            {
                Ok(checks) => checks,
                Err(error) => {
                    tracing::warn!(
                        kind = %"monitor-read-failed",
                        domain = %domain,
                        "The monitor history of {domain} could not be read: {error}; its gauges \
                         start at its next check."
                    );
                    continue;
                }
            };
            let Some(latest) = checks.first() else {
                continue;
            };
            let last_success = checks
                .iter()
                .find(|check| check.outcome == mta_sts_check::Outcome::Complete)
                .map(|check| check.checked_at);
            self.gauges.update(&domain, |state| {
                state.record(&latest.snapshot);
                state.last_success = last_success;
            });
            self.count_open(&domain).await;
        }
    }
}

/// The alert of a monitor event: its period is the event's time, so each raise and each clear
/// is claimed (and sent) once.
fn monitor_alert(event: Event) -> Alert {
    Alert {
        period: event.at.to_string(),
        raised_at: event.at,
        condition: Condition::Monitor {
            code: event.code,
            subject: event.subject,
            state: match event.state {
                EventState::Raised => MonitorState::Raised,
                EventState::Cleared => MonitorState::Cleared,
            },
            message: event.message,
        },
        domain: event.domain,
    }
}

#[cfg(test)]
mod tests;
