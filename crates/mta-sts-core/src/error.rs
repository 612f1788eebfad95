//! The one error type of the format core.

use crate::Diagnostic;

/// Why a reader refused its input. Each variant carries the first error diagnostic, which names
/// the offending value and, where it can, its position; the matching linter lists all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `_mta-sts` TXT record breaks RFC 8461 §3.1. A sender treats the domain as having no
    /// available policy, but keeps any unexpired policy it already cached.
    #[error("invalid MTA-STS record: {}", .0.message)]
    InvalidStsRecord(Diagnostic),
    /// The policy file breaks RFC 8461 §3.2. A sender does not use it (and keeps any unexpired
    /// cached policy).
    #[error("invalid MTA-STS policy: {}", .0.message)]
    InvalidPolicy(Diagnostic),
    /// An `mx` pattern is not `[*.]Domain` (RFC 8461 §3.2, §4.1).
    #[error("invalid mx pattern: {}", .0.message)]
    InvalidMxPattern(Diagnostic),
    /// A host name is not a valid RFC 5321 domain.
    #[error("invalid domain name: {}", .0.message)]
    InvalidDomain(Diagnostic),
    /// The `_smtp._tls` TXT record breaks RFC 8460 §3. A sender does not report for the domain.
    #[error("invalid TLS-RPT record: {}", .0.message)]
    InvalidTlsRptRecord(Diagnostic),
    /// A TLS-RPT report could not be read even tolerantly (not JSON, not gzip, too large, or
    /// missing what every report must have).
    #[error("unreadable TLS-RPT report: {}", .0.message)]
    InvalidReport(Diagnostic),
}

impl Error {
    /// The diagnostic behind the error.
    pub fn diagnostic(&self) -> &Diagnostic {
        match self {
            Error::InvalidStsRecord(d)
            | Error::InvalidPolicy(d)
            | Error::InvalidMxPattern(d)
            | Error::InvalidDomain(d)
            | Error::InvalidTlsRptRecord(d)
            | Error::InvalidReport(d) => d,
        }
    }
}
