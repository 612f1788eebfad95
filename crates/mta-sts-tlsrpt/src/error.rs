//! The sender side's one error enum.

use std::path::PathBuf;

use mta_sts_store::StoreError;

/// Why collecting, building or delivering reports failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsRptError {
    /// The store could not answer; [`StoreError::is_unavailable`] says whether trying again
    /// later may work. Nothing stored was lost.
    #[error("the report store could not answer: {0}")]
    Store(#[from] StoreError),
    /// A configuration file (ours or tlsrpt-reporter's) could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A configuration file is not valid TOML (ours) or INI (tlsrpt-reporter's), or has an
    /// unknown key or a value of the wrong type.
    #[error("the configuration {origin} is not valid: {message}")]
    ConfigSyntax {
        /// The file (or `<config>` for text), with the line where one is known.
        origin: String,
        /// What is wrong, and what is accepted.
        message: String,
    },
    /// A setting parses but cannot work (or, from tlsrpt-reporter's files, cannot be carried
    /// over without changing what is sent).
    #[error("the setting {key} cannot be used: {message}")]
    ConfigValue {
        /// The key as written (`[section] key`, or the environment variable).
        key: String,
        /// Why, and what to do instead.
        message: String,
    },
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
