//! [`Intake`]: reports examined, stored once, and counted.

use std::sync::{Arc, PoisonError, RwLock};

use mta_sts_core::report::Report;
use mta_sts_core::{Clock, Timestamp};
use mta_sts_net::SystemClock;
use mta_sts_store::reports::{Insertion, NewReport, ReportStore, Source, StoredFinding};
use prometheus_client::registry::Registry;

use crate::examine::{self, AcceptedReport};
use crate::metrics::Metrics;
use crate::{DomainFilter, Examined, IntakeError, Outcome};

/// Inputs larger than this are examined on a blocking thread, so decompressing a large report
/// does not hold up an async worker.
const INLINE_EXAMINE_LIMIT: usize = 256 * 1024;

/// The TLS-RPT intake: examines reports (by file, pipe, mail, IMAP or HTTPS), keeps those about
/// the owner's domains in the store, once each, and counts every outcome in the metrics.
/// Cheap to clone; clones share the store, the metrics and the domain list (which
/// [`Intake::set_domains`] changes for all of them while they run).
#[derive(Clone)]
pub struct Intake {
    store: ReportStore,
    /// Read once per input: a report is judged against one list even when the list changes
    /// while it is examined.
    domains: Arc<RwLock<Arc<DomainFilter>>>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
}

impl Intake {
    /// An intake into `store`, keeping reports about `domains`, with its metrics registered in
    /// `registry` (`mta_sts_reports_taken_total`, `mta_sts_report_sessions_total`).
    pub fn new(store: ReportStore, domains: DomainFilter, registry: &mut Registry) -> Intake {
        Intake {
            store,
            domains: Arc::new(RwLock::new(Arc::new(domains))),
            metrics: Metrics::new(registry),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same intake, dating receptions by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Intake {
        self.clock = clock;
        self
    }

    /// The domains whose reports are kept, as they are now.
    pub fn domains(&self) -> Arc<DomainFilter> {
        // A poisoned lock only means a writer panicked between two whole values.
        self.domains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps reports about `domains` from now on, in this intake and every clone of it (a
    /// server's reload): inputs already being examined finish with the list they started with;
    /// the store and the metrics are untouched.
    pub fn set_domains(&self, domains: DomainFilter) {
        *self.domains.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(domains);
    }

    /// The store reports go to.
    pub fn store(&self) -> &ReportStore {
        &self.store
    }

    /// One report: an HTTPS body, or a `.json`, `.json.gz` or `.zip` file (detected by content).
    pub async fn take_report(&self, bytes: &[u8], source: Source) -> Result<Outcome, IntakeError> {
        let examined = if bytes.len() <= INLINE_EXAMINE_LIMIT {
            self.examine_report(bytes)
        } else {
            let domains = self.domains();
            let owned = bytes.to_vec();
            tokio::task::spawn_blocking(move || examine::examine_report(&owned, &domains, None))
                .await
                .map_err(|source| IntakeError::Worker { source })?
        };
        let mut outcomes = self.take(vec![(examined, source)]).await?;
        outcomes.pop().ok_or(IntakeError::Lost)
    }

    /// One mail message (RFC 5322 bytes): every report attachment in it, one outcome each; a
    /// message without one gives a single [`Outcome::NotAReport`].
    pub async fn take_message(
        &self,
        raw: &[u8],
        source: Source,
    ) -> Result<Vec<Outcome>, IntakeError> {
        let examined = if raw.len() <= INLINE_EXAMINE_LIMIT {
            self.examine_message(raw)
        } else {
            let domains = self.domains();
            let owned = raw.to_vec();
            tokio::task::spawn_blocking(move || examine::examine_message(&owned, &domains))
                .await
                .map_err(|source| IntakeError::Worker { source })?
        };
        self.take(examined.into_iter().map(|e| (e, source)).collect())
            .await
    }

    /// [`examine::examine_report`] with this intake's domains; no store, no metrics.
    pub fn examine_report(&self, bytes: &[u8]) -> Examined {
        examine::examine_report(bytes, &self.domains(), None)
    }

    /// [`examine::examine_message`] with this intake's domains; no store, no metrics.
    pub fn examine_message(&self, raw: &[u8]) -> Vec<Examined> {
        examine::examine_message(raw, &self.domains())
    }

    /// Stores every accepted report of `batch` in one transaction and counts every outcome;
    /// one outcome per entry, in order. When the store fails nothing of the batch is stored and
    /// nothing is counted: the caller may give the same batch again later.
    pub async fn take(&self, batch: Vec<(Examined, Source)>) -> Result<Vec<Outcome>, IntakeError> {
        let received_at = self.clock.now();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
        let mut new_reports = Vec::new();
        let mut slots = Vec::new();
        for (examined, source) in batch {
            match examined {
                Examined::Rejected(outcome) => outcomes.push(Some(outcome)),
                Examined::Accepted(accepted) => {
                    slots.push(outcomes.len());
                    outcomes.push(None);
                    new_reports.push(new_report(*accepted, source, received_at));
                }
            }
        }
        let reports: Vec<Report> = new_reports.iter().map(|new| new.report.clone()).collect();
        let insertions = if new_reports.is_empty() {
            Vec::new()
        } else {
            self.store
                .insert(new_reports)
                .await
                .map_err(IntakeError::from_store)?
        };
        if insertions.len() != reports.len() {
            return Err(IntakeError::Lost);
        }
        let mut newly_stored = vec![None; outcomes.len()];
        for ((slot, insertion), report) in slots.into_iter().zip(insertions).zip(reports) {
            let (organization, report_id) =
                (report.organization_name.clone(), report.report_id.clone());
            let (start, end) = (report.date_range.start, report.date_range.end);
            let outcome = match insertion {
                Insertion::Imported(_) => Outcome::Imported {
                    organization,
                    report_id,
                    start,
                    end,
                },
                Insertion::Duplicate(_) => Outcome::Duplicate {
                    organization,
                    report_id,
                    start,
                    end,
                },
            };
            if let Some(place) = outcomes.get_mut(slot) {
                *place = Some(outcome);
            }
            if let Some(place) = newly_stored.get_mut(slot) {
                *place = Some(report);
            }
        }
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .collect::<Option<_>>()
            .ok_or(IntakeError::Lost)?;
        for (outcome, report) in outcomes.iter().zip(&newly_stored) {
            self.metrics.record(outcome, report.as_ref());
        }
        Ok(outcomes)
    }
}

fn new_report(accepted: AcceptedReport, source: Source, received_at: Timestamp) -> NewReport {
    NewReport {
        findings: accepted
            .findings
            .iter()
            .map(|finding| StoredFinding {
                code: finding.code.to_string(),
                severity: finding.severity,
                message: finding.message.clone(),
            })
            .collect(),
        report: accepted.report,
        json: accepted.json,
        gzip: accepted.gzip,
        received_at,
        source,
    }
}

#[cfg(test)]
mod tests;
