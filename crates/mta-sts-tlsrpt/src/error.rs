//! The sender side's one error enum.

use mta_sts_store::StoreError;

/// Why collecting, building or delivering reports failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsRptError {
    /// The store could not answer; [`StoreError::is_unavailable`] says whether trying again
    /// later may work. Nothing stored was lost.
    #[error("the report store could not answer: {0}")]
    Store(#[from] StoreError),
    /// The report settings cannot give valid reports (no organisation, no contact, ...).
    #[error("the report settings are unusable: {0}")]
    BuildSettings(#[from] crate::report_builder::BuildSettingsError),
    /// A built report could not be written as JSON or gzip (out of memory, in practice).
    #[error("a built report could not be encoded: {0}")]
    ReportEncoding(#[source] std::io::Error),
    /// The collector's socket could not be bound, set up or read.
    #[error("the collector's socket {} failed while {action}: {source}", path.display())]
    Socket {
        /// The socket's path.
        path: std::path::PathBuf,
        /// What was being done.
        action: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
    /// The socket's owner or group names no user or group of this system.
    #[error("there is no {kind} {name} on this system to own the collector's socket")]
    UnknownOwner {
        /// `user` or `group`.
        kind: &'static str,
        /// The name given.
        name: String,
    },
}
