//! The monitor's one error enum.

use mta_sts_store::StoreError;

/// Why the monitor could not run a domain. The check itself never fails (what it could not
/// learn is in its report); only keeping the result can.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The name given is not a mail domain (caller misuse: fix the argument).
    #[error("{input} is not a mail domain: {reason}")]
    Domain {
        /// The name as given.
        input: String,
        /// Why, in the core's words.
        reason: String,
    },
    /// Certificate thresholds that mean nothing (none, or 0 days).
    #[error(
        "certificate thresholds must be whole numbers of days above 0, at least one (such as 30, 14, 7, 1)"
    )]
    CertDays,
    /// The report store could not answer; [`StoreError::is_unavailable`] says whether trying
    /// again later may work. Nothing of this run was announced.
    #[error("the report store could not answer: {0}")]
    Store(#[from] StoreError),
    /// The snapshot could not be written as JSON (a bug: every field serializes).
    #[error("the snapshot of {domain} could not be written as JSON: {source}")]
    Snapshot {
        /// The domain checked.
        domain: String,
        /// serde_json's reason.
        source: serde_json::Error,
    },
}
