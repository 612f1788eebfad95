//! The reporter, the counterpart of tlsrpt-reportd: once a day's collection is complete, its
//! reports are built ([`crate::report_builder`]), put in the outbox in the store, and delivered
//! ([`crate::delivery`]), failures retried until given up.
//!
//! [`Reporter::round`] is one pass: the collection figures for the metrics, each due day
//! ([`crate::schedule`]) built and enqueued once its time in the spread has come, then every
//! delivery due attempted. [`Reporter::run`] repeats rounds until told to stop, sleeping until
//! the next thing to do. Once per UTC day, after its round, [`Reporter::run`]'s rounds delete
//! the days older than `keep_days` ([`Reporter::prune`]). Everything lives in the store (the outbox is keyed by report-id and
//! destination), so a restart, or a second reporter sharing a PostgreSQL store, neither loses
//! nor doubles a report.

pub mod metrics;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use mta_sts_core::time::{Clock, Timestamp, UtcDate};
use mta_sts_store::sender_reports::{Enqueued, OutboxEntry, OutboxReport, Pruned, SenderStore};

use crate::delivery::{Deliverer, DeliveryEvent, DeliveryOutcome, RetrySchedule, deliver_due};
use crate::error::TlsRptError;
use crate::report_builder::{BuildSettings, DayReports, SkipReason, build_day};
use crate::schedule::{self, ScheduleSettings};
use metrics::{AttemptOutcome, ReporterMetrics};

/// Deliveries attempted per claim from the store: a round claims again until none is due.
const DELIVERIES_PER_CLAIM: u32 = 64;

/// Claims per round at most, so a round ends even when retries are due at once (a retry
/// schedule of zero seconds, in tests) and the loop stays responsive to a stop.
const CLAIMS_PER_ROUND: usize = 64;

/// What was built and enqueued for one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueuedDay {
    /// The reports built, and what was skipped and why.
    pub built: DayReports,
    /// What the outbox did not hold before (a day built again adds nothing).
    pub enqueued: Enqueued,
}

/// The reporter's parts, set up once.
pub struct Reporter {
    store: SenderStore,
    build: BuildSettings,
    deliverer: Deliverer,
    retry: RetrySchedule,
    schedule: ScheduleSettings,
    clock: Arc<dyn Clock>,
    metrics: Arc<ReporterMetrics>,
    /// When each day waiting for its turn is built: drawn once per day in the spread.
    planned: BTreeMap<UtcDate, Timestamp>,
    /// Days this process has built (also those that gave no report, which leave nothing in
    /// the outbox to say so).
    done: BTreeSet<UtcDate>,
    /// The UTC day old days were last deleted on (or tried: a failure waits for the next day).
    pruned_on: Option<UtcDate>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("store", self.store.url())
            .field("schedule", &self.schedule)
            .field("planned", &self.planned)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter over `store`. The build settings are checked here, so a reporter that
    /// starts can build.
    pub fn new(
        store: SenderStore,
        build: BuildSettings,
        deliverer: Deliverer,
        retry: RetrySchedule,
        schedule: ScheduleSettings,
        clock: Arc<dyn Clock>,
        metrics: Arc<ReporterMetrics>,
    ) -> Result<Reporter, TlsRptError> {
        build_day(clock.now().utc_date(), &[], &build)?;
        Ok(Reporter {
            store,
            build,
            deliverer,
            retry,
            schedule,
            clock,
            metrics,
            planned: BTreeMap::new(),
            done: BTreeSet::new(),
            pruned_on: None,
        })
    }

    /// The store.
    pub fn store(&self) -> &SenderStore {
        &self.store
    }

    /// Builds `day`'s reports from the store and puts them in the outbox, due at `now`. A day
    /// built before adds nothing (the same report-ids), so nothing is sent twice.
    pub async fn enqueue_day(
        &self,
        day: UtcDate,
        now: Timestamp,
    ) -> Result<EnqueuedDay, TlsRptError> {
        let counts = self.store.day_counts(day).await?;
        let built = build_day(day, &counts, &self.build)?;
        let entries: Vec<OutboxEntry> = built
            .reports
            .iter()
            .map(|report| OutboxEntry {
                report: OutboxReport {
                    day,
                    domain: report.domain.clone(),
                    tlsrpt_record: report.tlsrpt_record.clone(),
                    report_id: report.report.report_id.clone(),
                    organization_name: report.report.organization_name.clone(),
                    submitter: built.submitter.clone(),
                    file_name: report.gzip_file_name(),
                    gzip: report.gzip.clone(),
                },
                destinations: report
                    .destinations
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            })
            .collect();
        let enqueued = self.store.enqueue(&entries, now).await?;
        self.metrics.built(enqueued.reports);
        // Domains without a TLSRPT record asked for nothing: a count, not a line each (most
        // domains mail goes to have none).
        let without_record = built
            .skipped
            .iter()
            .filter(|s| s.reason == SkipReason::NoRecord)
            .count();
        for skipped in built
            .skipped
            .iter()
            .filter(|s| s.reason != SkipReason::NoRecord)
        {
            tracing::info!(kind = %"tlsrpt-skipped", day = %day, "{skipped}.");
        }
        for report in &built.reports {
            for note in &report.notes {
                tracing::info!(
                    kind = %"tlsrpt-note",
                    day = %day,
                    domain = %report.domain,
                    "The report {} about {}: {note}.",
                    report.report.report_id,
                    report.domain
                );
            }
        }
        tracing::info!(
            kind = %"tlsrpt-built",
            day = %day,
            reports = built.reports.len(),
            enqueued = enqueued.reports,
            skipped = built.skipped.len(),
            "The reports for {day} were built: {} report(s), {} of them new in the outbox with \
             {} delivery(ies); {} domain(s) gave no report ({without_record} of them publish no \
             TLSRPT record).",
            built.reports.len(),
            enqueued.reports,
            enqueued.deliveries,
            built.skipped.len()
        );
        Ok(EnqueuedDay { built, enqueued })
    }

    /// Attempts the deliveries due at `now`, claiming again while any is due (a retry due at
    /// once included), up to a bound per call; counts each outcome.
    pub async fn deliver_due(&self, now: Timestamp) -> Result<Vec<DeliveryEvent>, TlsRptError> {
        let mut events = Vec::new();
        for _ in 0..CLAIMS_PER_ROUND {
            let round = deliver_due(
                &self.store,
                &self.deliverer,
                &self.retry,
                now,
                DELIVERIES_PER_CLAIM,
            )
            .await?;
            if round.is_empty() {
                break;
            }
            for event in &round {
                self.metrics.attempt(match event.outcome {
                    DeliveryOutcome::Sent => AttemptOutcome::Sent,
                    DeliveryOutcome::Retry { .. } => AttemptOutcome::Retry,
                    DeliveryOutcome::GivenUp { .. } => AttemptOutcome::GivenUp,
                });
            }
            events.extend(round);
        }
        Ok(events)
    }

    /// One pass; returns when to look again.
    pub async fn round(&mut self) -> Result<Timestamp, TlsRptError> {
        let now = self.clock.now();
        let today = now.utc_date();
        if let Some(yesterday) = UtcDate::from_day_number(today.day_number() - 1) {
            let figures_today = self.store.day_figures(today).await?;
            let figures_yesterday = self.store.day_figures(yesterday).await?;
            self.metrics.collected(&figures_today, &figures_yesterday);
        }
        let with_counts = self.store.days().await?;
        let candidates = schedule::days_due(now, &with_counts, &self.done, &self.schedule);
        let mut next_build: Option<Timestamp> = None;
        for day in candidates {
            if !self.store.day_deliveries(day).await?.is_empty() {
                // Built before (by this process before a restart, or by another reporter).
                self.done.insert(day);
                self.planned.remove(&day);
                continue;
            }
            let at = *self.planned.entry(day).or_insert_with(|| {
                schedule::first_send_time(day, now, &self.schedule, schedule::jitter())
            });
            if at <= now {
                self.enqueue_day(day, now).await?;
                self.done.insert(day);
                self.planned.remove(&day);
            } else {
                next_build = Some(next_build.map_or(at, |t| t.min(at)));
            }
        }
        self.deliver_due(now).await?;
        if self.pruned_on != Some(today) {
            self.pruned_on = Some(today);
            self.prune_logged(now).await;
        }
        let wake = schedule::next_wake(now, next_build, &self.schedule);
        Ok(wake)
    }

    /// Deletes the days older than `keep_days` at `now` from the store (their counts, figures
    /// and outbox, in one transaction), keeping a day whose reports are still being delivered
    /// ([`SenderStore::prune_days`]).
    pub async fn prune(&self, now: Timestamp) -> Result<Pruned, TlsRptError> {
        let before = schedule::prune_before(now, &self.schedule);
        Ok(self.store.prune_days(before).await?)
    }

    /// [`Reporter::prune`], with one log line and the metrics; a failure is logged, never
    /// returned: retention must not stop the reporting.
    async fn prune_logged(&self, now: Timestamp) {
        let before = schedule::prune_before(now, &self.schedule);
        match self.prune(now).await {
            Ok(pruned) => {
                self.metrics.pruned(pruned.days);
                let kept = if pruned.kept_pending.is_empty() {
                    String::new()
                } else {
                    let days: Vec<String> = pruned
                        .kept_pending
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    format!(
                        "; {} older day(s) stay until their pending deliveries end ({})",
                        days.len(),
                        days.join(", ")
                    )
                };
                tracing::info!(
                    kind = %"tlsrpt-pruned",
                    before = %before,
                    days = pruned.days,
                    "Old days were deleted from the store, keeping {before} and later \
                     (keep_days {}): {} day(s), with {} count row(s) and {} built report(s) \
                     and their deliveries{kept}.",
                    self.schedule.keep_days,
                    pruned.days,
                    pruned.counts,
                    pruned.reports
                );
            }
            Err(error) => {
                self.metrics.prune_failed();
                tracing::warn!(
                    kind = %"tlsrpt-prune-failed",
                    before = %before,
                    "Deleting the days before {before} from the store failed: {error}; it is \
                     tried again tomorrow (UTC), and reporting goes on."
                );
            }
        }
    }

    /// Rounds until `stop` completes; a round that fails (the store unreachable) is logged and
    /// tried again after the poll interval. The round under way when `stop` completes is
    /// finished first.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let wake = match self.round().await {
                Ok(wake) => wake,
                Err(error) => {
                    let retry_at = self.clock.now().saturating_add(self.schedule.poll_interval);
                    tracing::warn!(
                        kind = %"tlsrpt-round-failed",
                        "A reporting round failed: {error}; it is tried again at {retry_at}."
                    );
                    retry_at
                }
            };
            let sleep = wake.duration_since(self.clock.now());
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
