//! The monitor itself: check, compare with the store, keep, announce.

use std::collections::BTreeSet;

use mta_sts_check::{CheckReport, Checker, Outcome, Verdict};
use mta_sts_core::Timestamp;
use mta_sts_store::reports::{MonitorCheck, MonitorEvent, NewMonitorCheck, ReportStore};
use serde::Serialize;

use crate::state::{ConditionKey, diff};
use crate::{
    Event, EventState, MonitorError, MonitorSettings, Snapshot, codes, fetcher_conditions,
};

/// Checks domains and keeps their history and events in a report store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Monitor {
    checker: Checker,
    store: ReportStore,
    settings: MonitorSettings,
}

/// What one run of a domain gave.
#[derive(Debug, Clone)]
pub struct MonitorRun {
    /// The check's full report.
    pub report: CheckReport,
    /// What the monitor kept of it.
    pub snapshot: Snapshot,
    /// The events this run raised and cleared (not those another server announced).
    pub events: Vec<Event>,
}

/// One kept check, read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheck {
    /// The domain.
    pub domain: String,
    /// When it was checked.
    pub checked_at: Timestamp,
    /// Its verdict.
    pub verdict: Verdict,
    /// How far it got.
    pub outcome: Outcome,
    /// What the monitor kept of it.
    pub snapshot: Snapshot,
}

impl Monitor {
    /// A monitor checking with `checker`, keeping its history in `store`.
    pub fn new(checker: Checker, store: ReportStore, settings: MonitorSettings) -> Monitor {
        Monitor {
            checker,
            store,
            settings,
        }
    }

    /// The store it keeps its history in.
    pub fn store(&self) -> &ReportStore {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &MonitorSettings {
        &self.settings
    }

    /// Checks one domain now, compares with the stored history, stores the check and the event
    /// changes, returns them (only the changes this caller made: another server's are not
    /// repeated).
    pub async fn run(&self, domain: &str, now: Timestamp) -> Result<MonitorRun, MonitorError> {
        let domain = normalize(domain)?;
        let report = self.checker.check(&domain).await;
        let previous = match self.store.latest_monitor_check(&domain).await? {
            Some(row) => readable(row).map(|check| check.snapshot),
            None => None,
        };
        let snapshot = Snapshot::of(&report, previous.as_ref(), now, &self.settings);
        let open: BTreeSet<ConditionKey> = self
            .store
            .open_monitor_events(&domain)
            .await?
            .into_iter()
            .map(|event| (event.code, event.subject))
            .collect();
        let changes = diff(&snapshot, &open);
        let json = serde_json::to_string(&snapshot).map_err(|source| MonitorError::Snapshot {
            domain: domain.clone(),
            source,
        })?;
        self.store
            .record_monitor_check(&NewMonitorCheck {
                domain: domain.clone(),
                checked_at: now,
                verdict: snapshot.verdict.as_str().to_string(),
                outcome: outcome_word(snapshot.outcome).to_string(),
                snapshot: json,
            })
            .await?;
        let mut events = Vec::new();
        for change in changes.clear {
            if self
                .store
                .clear_monitor_event(&domain, &change.code, &change.subject, &change.message, now)
                .await?
            {
                events.push(event(&domain, change, EventState::Cleared, now));
            }
        }
        for change in changes.raise {
            if self
                .store
                .raise_monitor_event(&domain, &change.code, &change.subject, &change.message, now)
                .await?
            {
                events.push(event(&domain, change, EventState::Raised, now));
            }
        }
        Ok(MonitorRun {
            report,
            snapshot,
            events,
        })
    }

    /// Fetching organisations that stopped fetching a hosted domain's policy (store table
    /// `policy_fetch`): raises `fetcher-stopped` for each, clears it for those fetching again.
    pub async fn run_fetchers(
        &self,
        domain: &str,
        now: Timestamp,
    ) -> Result<Vec<Event>, MonitorError> {
        let domain = normalize(domain)?;
        let fetches = self.store.policy_fetches(&domain).await?;
        let holding = fetcher_conditions(&domain, &fetches, now, &self.settings);
        let open: BTreeSet<String> = self
            .store
            .open_monitor_events(&domain)
            .await?
            .into_iter()
            .filter(|event| event.code == codes::FETCHER_STOPPED)
            .map(|event| event.subject)
            .collect();
        let mut events = Vec::new();
        for organization in &open {
            let key = (codes::FETCHER_STOPPED.to_string(), organization.clone());
            if holding.contains_key(&key) {
                continue;
            }
            let message = format!(
                "{organization} fetches the policy of {domain} again (or its silence no longer \
                 stands out) as of {now}."
            );
            if self
                .store
                .clear_monitor_event(&domain, codes::FETCHER_STOPPED, organization, &message, now)
                .await?
            {
                events.push(Event {
                    domain: domain.clone(),
                    code: codes::FETCHER_STOPPED.to_string(),
                    subject: organization.clone(),
                    state: EventState::Cleared,
                    message,
                    at: now,
                });
            }
        }
        for ((code, organization), message) in holding {
            if open.contains(&organization) {
                continue;
            }
            if self
                .store
                .raise_monitor_event(&domain, &code, &organization, &message, now)
                .await?
            {
                events.push(Event {
                    domain: domain.clone(),
                    code,
                    subject: organization,
                    state: EventState::Raised,
                    message,
                    at: now,
                });
            }
        }
        Ok(events)
    }
}

/// At most `limit` checks of `domain` kept, the newest first (rows whose snapshot cannot be
/// read are left out).
pub async fn history(
    store: &ReportStore,
    domain: &str,
    limit: u32,
) -> Result<Vec<StoredCheck>, MonitorError> {
    let domain = normalize(domain)?;
    Ok(store
        .monitor_checks(&domain, limit)
        .await?
        .into_iter()
        .filter_map(readable)
        .collect())
}

/// At most `limit` events of `domain`: the open ones first, then the cleared ones, each the
/// latest raised first.
pub async fn events(
    store: &ReportStore,
    domain: &str,
    limit: u32,
) -> Result<Vec<MonitorEvent>, MonitorError> {
    let domain = normalize(domain)?;
    Ok(store.monitor_events(&domain, limit).await?)
}

fn normalize(domain: &str) -> Result<String, MonitorError> {
    mta_sts_core::domain::normalize_mail_domain(domain).map_err(|error| MonitorError::Domain {
        input: domain.to_string(),
        reason: error.diagnostic().message.clone(),
    })
}

/// A kept check with its snapshot read; `None` for one written by a version whose snapshot
/// this one cannot read: the monitor then starts afresh for that domain (what it carried, such
/// as the id's first policy, is learnt again from the next checks) rather than stopping.
fn readable(row: MonitorCheck) -> Option<StoredCheck> {
    match serde_json::from_str::<Snapshot>(&row.snapshot) {
        Ok(snapshot) => Some(StoredCheck {
            domain: row.domain,
            checked_at: row.checked_at,
            verdict: snapshot.verdict,
            outcome: snapshot.outcome,
            snapshot,
        }),
        Err(error) => {
            tracing::warn!(
                domain = %row.domain,
                "the monitor check of {} at {} cannot be read ({error}); it is left out",
                row.domain,
                row.checked_at
            );
            None
        }
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Complete => "complete",
        Outcome::Incomplete => "incomplete",
        Outcome::NoSuchDomain => "no-such-domain",
    }
}

fn event(domain: &str, change: crate::Change, state: EventState, at: Timestamp) -> Event {
    Event {
        domain: domain.to_string(),
        code: change.code,
        subject: change.subject,
        state,
        message: change.message,
        at,
    }
}
