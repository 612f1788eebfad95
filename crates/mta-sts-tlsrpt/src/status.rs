//! What `mta-sts tlsrpt status` shows: per day (today and yesterday by default) what the
//! collectors received and counted, and what became of the day's reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mta_sts_core::SessionCounts;
use mta_sts_core::time::{Timestamp, UtcDate};
use mta_sts_store::sender_reports::{DayFigures, SenderStore};
use serde::Serialize;

use crate::error::TlsRptError;

/// The state of the sender side at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// When it was read.
    pub at: Timestamp,
    /// The store it was read from (a password hidden).
    pub store: String,
    /// The days asked about, newest first.
    pub days: Vec<DayStatus>,
}

/// One UTC day's collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayStatus {
    /// The day.
    pub day: UtcDate,
    /// Whether the day is still being collected (today).
    pub partial: bool,
    /// Datagrams the collectors received (counted, malformed and lost together).
    pub datagrams: u64,
    /// Datagrams that could not be read.
    pub malformed: u64,
    /// Datagrams lost because a collector's buffer was full while the store was slow.
    pub lost: u64,
    /// Recipient domains with counts.
    pub domains: usize,
    /// Successful TLS sessions counted.
    pub successful_sessions: u64,
    /// Failed TLS sessions counted.
    pub failed_sessions: u64,
    /// Failed sessions by `result-type`.
    pub failures: BTreeMap<String, u64>,
}

impl DayStatus {
    /// A day's status from its collector figures and counts.
    pub fn new(figures: &DayFigures, counts: &[SessionCounts], today: UtcDate) -> DayStatus {
        let mut domains: Vec<&str> = counts.iter().map(|c| c.domain.as_str()).collect();
        domains.sort_unstable();
        domains.dedup();
        let mut failures = BTreeMap::new();
        for detail in counts.iter().flat_map(|c| &c.result.failure_details) {
            *failures
                .entry(detail.result_type.as_str().to_string())
                .or_insert(0) += detail.failed_session_count;
        }
        DayStatus {
            day: figures.day,
            partial: figures.day >= today,
            datagrams: figures.datagrams,
            malformed: figures.malformed,
            lost: figures.lost,
            domains: domains.len(),
            successful_sessions: counts
                .iter()
                .map(|c| c.result.summary.total_successful_session_count)
                .sum(),
            failed_sessions: counts
                .iter()
                .map(|c| c.result.summary.total_failure_session_count)
                .sum(),
            failures,
        }
    }
}

/// Reads the status of `days` from the store at `now`.
pub async fn read(
    store: &SenderStore,
    days: &[UtcDate],
    now: Timestamp,
) -> Result<Status, TlsRptError> {
    let today = now.utc_date();
    let mut statuses = Vec::with_capacity(days.len());
    for day in days {
        let figures = store.day_figures(*day).await?;
        let counts = store.day_counts(*day).await?;
        statuses.push(DayStatus::new(&figures, &counts, today));
    }
    Ok(Status {
        at: now,
        store: store.url().to_string(),
        days: statuses,
    })
}

impl Status {
    /// The status as sentences, a paragraph per day.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Sender side of TLS-RPT in {} at {}.",
            self.store, self.at
        );
        for day in &self.days {
            out.push('\n');
            let when = if day.partial {
                " (today, still being collected)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "{}{when}: {} datagram(s) received, {} malformed, {} lost; {} successful and {} \
                 failed TLS session(s) to {} recipient domain(s).",
                day.day,
                day.datagrams,
                day.malformed,
                day.lost,
                day.successful_sessions,
                day.failed_sessions,
                day.domains
            );
            if !day.failures.is_empty() {
                let kinds: Vec<String> = day
                    .failures
                    .iter()
                    .map(|(kind, count)| format!("{kind} {count}"))
                    .collect();
                let _ = writeln!(out, "  Failures by result type: {}.", kinds.join(", "));
            }
            if day.lost > 0 {
                let _ = writeln!(
                    out,
                    "  {} datagram(s) were lost while the store was slow: that day's reports \
                     undercount by as many sessions.",
                    day.lost
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
