//! Delivering what the outbox holds: each due delivery claimed, attempted once, and recorded
//! as sent, to be retried (backoff with jitter, [`RetrySchedule`]) or given up (the last
//! attempt, or a permanent refusal at once).

use std::time::Duration;

use mta_sts_core::Timestamp;
use mta_sts_store::sender_reports::{NextTry, SenderStore};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Serialize;

use super::{Deliverer, Permanence, RetrySchedule};
use crate::TlsRptError;

/// How long a claimed delivery stays away from other reporters sharing the store: longer than
/// one attempt can take (every transport has a timeout well below it), short enough that a
/// reporter that stopped mid-attempt does not delay the report long.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(15 * 60);

/// What became of one delivery in [`deliver_due`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum DeliveryOutcome {
    /// Delivered.
    Sent,
    /// Failed; tried again at `next_try_at`.
    Retry {
        /// When.
        next_try_at: Timestamp,
        /// Why it failed.
        error: String,
    },
    /// Failed for the last time (the last attempt, or a permanent refusal).
    GivenUp {
        /// Why it failed.
        error: String,
    },
}

/// One delivery attempted by [`deliver_due`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryEvent {
    /// The report.
    pub report_id: String,
    /// The recipient domain it is about.
    pub domain: String,
    /// Where it went.
    pub destination: String,
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: DeliveryOutcome,
}

/// Attempts up to `limit` deliveries due at `now`, one after the other, and records each
/// outcome in the store; returns what happened, in order. A store error stops the round (what
/// was recorded stays recorded; a delivery claimed but not recorded is due again after
/// [`DELIVERY_LEASE`]).
pub async fn deliver_due(
    store: &SenderStore,
    deliverer: &Deliverer,
    schedule: &RetrySchedule,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<DeliveryEvent>, TlsRptError> {
    let due = store
        .claim_due(now, now.saturating_add(DELIVERY_LEASE), limit)
        .await?;
    let mut events = Vec::with_capacity(due.len());
    for delivery in due {
        let attempt = delivery.attempts.saturating_add(1);
        let report = &delivery.report;
        let destination = delivery.destination.as_str();
        let outcome = match deliverer.deliver(report, destination, now).await {
            Ok(()) => {
                store.mark_sent(&report.report_id, destination, now).await?;
                tracing::info!(
                    kind = "tlsrpt-sent",
                    report_id = %report.report_id,
                    domain = %report.domain,
                    destination,
                    attempt,
                    "The TLS report {} about {} for {} was delivered to {destination} (attempt {attempt}).",
                    report.report_id,
                    report.domain,
                    report.day
                );
                DeliveryOutcome::Sent
            }
            Err(failure) => {
                let last = failure.permanence == Permanence::Permanent || schedule.is_last(attempt);
                if last {
                    store
                        .mark_failed(
                            &report.report_id,
                            destination,
                            NextTry::GiveUp,
                            &failure.message,
                        )
                        .await?;
                    tracing::warn!(
                        kind = "tlsrpt-given-up",
                        report_id = %report.report_id,
                        domain = %report.domain,
                        destination,
                        attempt,
                        "The TLS report {} about {} was not delivered to {destination} and is given up after attempt {attempt}: {}.",
                        report.report_id,
                        report.domain,
                        failure.message
                    );
                    DeliveryOutcome::GivenUp {
                        error: failure.message,
                    }
                } else {
                    let wait = schedule.wait(attempt, jitter(), failure.retry_after);
                    let next_try_at = now.saturating_add(wait);
                    store
                        .mark_failed(
                            &report.report_id,
                            destination,
                            NextTry::At(next_try_at),
                            &failure.message,
                        )
                        .await?;
                    tracing::warn!(
                        kind = "tlsrpt-retry",
                        report_id = %report.report_id,
                        domain = %report.domain,
                        destination,
                        attempt,
                        "The TLS report {} about {} was not delivered to {destination} (attempt {attempt}): {}; it is tried again at {next_try_at}.",
                        report.report_id,
                        report.domain,
                        failure.message
                    );
                    DeliveryOutcome::Retry {
                        next_try_at,
                        error: failure.message,
                    }
                }
            }
        };
        events.push(DeliveryEvent {
            report_id: report.report_id.clone(),
            domain: report.domain.clone(),
            destination: delivery.destination.clone(),
            attempt,
            outcome,
        });
    }
    Ok(events)
}

/// A number in 0..=1 from the system's random source; without randomness, 0 (the longest
/// wait of the range: never shorter than asked).
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.0,
    }
}
