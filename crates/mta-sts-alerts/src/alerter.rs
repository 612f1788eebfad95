//! Raising an alert: claimed once per condition and period in the store, then queued.

use mta_sts_store::reports::ReportStore;

use crate::Alert;
use crate::error::AlertError;
use crate::queue::{Dispatcher, Queued};

/// Raises alerts: deduplicated through the store, delivered by a [`Dispatcher`].
#[derive(Debug, Clone)]
pub struct Alerter {
    store: ReportStore,
    dispatcher: Dispatcher,
}

impl Alerter {
    /// Raises through `dispatcher`, deduplicating in `store`.
    pub fn new(store: ReportStore, dispatcher: Dispatcher) -> Alerter {
        Alerter { store, dispatcher }
    }

    /// Raises `alert` unless it was already raised for its condition and period (by this
    /// server or another sharing the store); waits only for the store's claim, never for a
    /// receiver. A claimed alert that a full queue drops is not raised again in its period:
    /// the drop is logged.
    pub async fn raise(&self, alert: Alert) -> Result<Queued, AlertError> {
        let claimed = self
            .store
            .claim_alert(
                &alert.domain,
                &alert.condition_key(),
                &alert.period,
                alert.raised_at,
            )
            .await?;
        if !claimed {
            return Ok(Queued::AlreadyRaised);
        }
        Ok(self.dispatcher.enqueue(alert))
    }

    /// Stops raising and gives the queued alerts up to `limit` to be delivered (see
    /// [`Dispatcher::finish`]); returns how many were still waiting.
    pub async fn finish(self, limit: std::time::Duration) -> usize {
        self.dispatcher.finish(limit).await
    }
}
