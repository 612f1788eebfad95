//! The one error type of the intake.

use std::path::PathBuf;

use mta_sts_store::StoreError;

/// Why the intake could not do its work. What a report itself is (not a report, invalid,
/// refused) is an [`crate::Outcome`], not an error: an error means the input was not judged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    /// A domain given as one of the owner's is not a domain name.
    #[error("{domain:?} is not a mail domain: {reason}")]
    Domain {
        /// The name as given.
        domain: String,
        /// Why it is not one.
        reason: String,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The store is unavailable for now (down, locked, out of space): nothing of the batch was
    /// stored, and the same input is worth giving again later (the CLI exits 75 so the MTA
    /// keeps the mail; the server answers 503).
    #[error("{0}")]
    StoreUnavailable(#[source] StoreError),
    /// The store failed in a way retrying will not mend (a newer schema, a corrupt file, a
    /// value it cannot keep): nothing of the batch was stored.
    #[error("{0}")]
    Store(#[source] StoreError),
    /// The thread examining a large input stopped before finishing (a panic, or the runtime
    /// shutting down).
    #[error("examining the input stopped before finishing: {source}")]
    Worker {
        /// Why it stopped.
        source: tokio::task::JoinError,
    },
    /// The store answered for a different number of reports than it was given.
    #[error("the store answered for a different number of reports than it was given")]
    Lost,
}

impl IntakeError {
    /// The error for a store failure, sorted by whether retrying may help.
    pub fn from_store(error: StoreError) -> IntakeError {
        if error.is_unavailable() {
            IntakeError::StoreUnavailable(error)
        } else {
            IntakeError::Store(error)
        }
    }

    /// Whether the same input is worth giving again later (the store was unavailable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, IntakeError::StoreUnavailable(_))
    }
}
