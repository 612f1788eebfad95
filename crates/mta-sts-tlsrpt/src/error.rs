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
}
