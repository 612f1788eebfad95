//! The one error type of the intake.

use std::path::PathBuf;

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
}
