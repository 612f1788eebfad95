//! What `mta-sts tlsrpt status` shows: per day (today and yesterday by default) what the
//! collectors received and counted, and what became of the day's reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mta_sts_core::SessionCounts;
use mta_sts_core::time::{Timestamp, UtcDate};
use mta_sts_store::sender_reports::{DayFigures, DeliveryState, DeliveryStatus, SenderStore};
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
    /// Reports delivered, one per report and destination.
    pub sent: usize,
    /// Deliveries not done yet (to be tried again, or not tried yet).
    pub pending: usize,
    /// Deliveries given up.
    pub given_up: usize,
    /// Every delivery of the day's reports, by domain, report and destination.
    pub deliveries: Vec<DeliveryStatus>,
}

impl DayStatus {
    /// A day's status from its collector figures, counts and deliveries.
    pub fn new(
        figures: &DayFigures,
        counts: &[SessionCounts],
        deliveries: Vec<DeliveryStatus>,
        today: UtcDate,
    ) -> DayStatus {
        let in_state = |state| deliveries.iter().filter(|d| d.state == state).count();
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
            sent: in_state(DeliveryState::Sent),
            pending: in_state(DeliveryState::Pending),
            given_up: in_state(DeliveryState::GivenUp),
            deliveries,
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
        let deliveries = store.day_deliveries(*day).await?;
        statuses.push(DayStatus::new(&figures, &counts, deliveries, today));
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
            if day.deliveries.is_empty() {
                let _ = writeln!(
                    out,
                    "  No report has been built for it yet{}.",
                    if day.partial {
                        " (a day is reported after its UTC midnight)"
                    } else {
                        ""
                    }
                );
            } else {
                let _ = writeln!(
                    out,
                    "  Reports: {} delivery(ies) sent, {} pending, {} given up.",
                    day.sent, day.pending, day.given_up
                );
            }
            for delivery in &day.deliveries {
                let _ = writeln!(out, "  {}", describe(delivery));
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

/// One delivery as a sentence.
fn describe(delivery: &DeliveryStatus) -> String {
    let attempts = match delivery.attempts {
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    };
    let error = delivery
        .last_error
        .as_deref()
        .map(|e| format!("; last error: {e}"))
        .unwrap_or_default();
    match delivery.state {
        DeliveryState::Sent => format!(
            "The report {} about {} was sent to {}{} ({attempts}).",
            delivery.report_id,
            delivery.domain,
            delivery.destination,
            delivery
                .sent_at
                .map(|at| format!(" at {at}"))
                .unwrap_or_default()
        ),
        DeliveryState::Pending => format!(
            "The report {} about {} is waiting to go to {}{} ({attempts} so far){error}.",
            delivery.report_id,
            delivery.domain,
            delivery.destination,
            delivery
                .next_try_at
                .map(|at| format!(", next try at {at}"))
                .unwrap_or_default()
        ),
        DeliveryState::GivenUp => format!(
            "The report {} about {} was given up for {} after {attempts}{error}.",
            delivery.report_id, delivery.domain, delivery.destination
        ),
    }
}

#[cfg(test)]
mod tests;
