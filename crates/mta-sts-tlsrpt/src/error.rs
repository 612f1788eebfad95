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
}
