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
    /// A delivery setting is wrong (`key` names it in the configuration).
    #[error("the delivery setting {key} is wrong: {message}")]
    DeliverySetting {
        /// The setting, as in the configuration file.
        key: &'static str,
        /// What is wrong, a sentence without its full stop.
        message: String,
    },
    /// A file delivery needs (DKIM key, password, CA certificates) could not be read.
    #[error("{what} could not be read from {}: {source}", path.display())]
    DeliveryFile {
        /// What the file holds.
        what: &'static str,
        /// Where it was looked for.
        path: std::path::PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// One attempt to deliver a report to one destination failed.
    #[error("delivering the report to {dest} failed: {0}", dest = .0.destination)]
    Delivery(#[from] crate::delivery::DeliveryFailure),
}
