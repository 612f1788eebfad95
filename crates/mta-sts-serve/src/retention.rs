//! Retention: a task that deletes, every `prune_interval`, the reports whose date range ended
//! more than `keep_days` ago. The store deletes in small batches, each its own transaction, so
//! a pass never holds the store long enough to keep intake out.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mta_sts_core::Timestamp;
use mta_sts_service::Stopping;
use mta_sts_store::reports::ReportStore;

use crate::metrics::ServeMetrics;

/// What a SIGHUP may change of retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetentionSettings {
    /// How long a report is kept after its date range ends; `None`: forever.
    pub(crate) keep: Option<Duration>,
    /// Time between passes.
    pub(crate) interval: Duration,
}

/// The cut-off of a pass at `now`: reports that ended before it go.
pub(crate) fn cutoff(now: SystemTime, keep: Duration) -> Option<Timestamp> {
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let seconds = i64::try_from(now.saturating_sub(keep.as_secs())).ok()?;
    Timestamp::from_unix_seconds(seconds)
}

/// Runs a pass at once, then one every interval, until `stopping`; the settings are read again
/// before each pass.
pub(crate) async fn run(
    store: ReportStore,
    settings: Arc<RwLock<RetentionSettings>>,
    metrics: ServeMetrics,
    mut stopping: Stopping,
) {
    loop {
        let current = *settings.read().unwrap_or_else(PoisonError::into_inner);
        let wait = current.interval;
        if let Some(before) = current
            .keep
            .and_then(|keep| cutoff(SystemTime::now(), keep))
        {
            let pass = store.prune(before);
            let result = tokio::select! {
                // A pass cut short by shutdown loses nothing: each batch is its own transaction.
                () = stopping.wait() => return,
                result = pass => result,
            };
            log_pass(result, before, wait, &metrics);
        }
        tokio::select! {
            () = stopping.wait() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn log_pass(
    result: Result<u64, mta_sts_store::StoreError>,
    before: Timestamp,
    wait: Duration,
    metrics: &ServeMetrics,
) {
    match result {
        Ok(count) => {
            metrics.pruned(count);
            if count > 0 {
                tracing::info!(
                    kind = %"pruned",
                    count,
                    "{count} reports whose date range ended before {before} were deleted \
                     (keep_days)."
                );
            }
        }
        Err(error) => {
            metrics.prune_failed();
            tracing::warn!(
                kind = %"prune-failed",
                "Reports older than {before} could not be deleted: {error}; the next pass in {} \
                 seconds tries again.",
                wait.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_keep_days_before_now() {
        let now = UNIX_EPOCH + Duration::from_secs(10 * 86_400 + 5);
        let cut = cutoff(now, Duration::from_secs(3 * 86_400)).expect("cutoff");
        assert_eq!(cut.unix_seconds(), 7 * 86_400 + 5);
        // Longer than the epoch: everything from 1970 on is kept.
        let cut = cutoff(now, Duration::from_secs(100 * 86_400)).expect("cutoff");
        assert_eq!(cut.unix_seconds(), 0);
    }
}
