//! The network layer's error for things that stop it before any network work starts.

/// A setting that cannot be used. Failures of the network itself are not errors of this kind:
/// they are results ([`crate::DnsError`], [`crate::FetchError`], [`crate::ProbeError`]) that the
/// checker and the daemon report or act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is unusable (an unreadable CA file, a malformed resolver address).
    #[error("{0}")]
    Config(String),
}
