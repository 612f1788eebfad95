//! The one error type of the publishing engine.

use mta_sts_core::Diagnostic;
use mta_sts_net::{DnsError, FetchError};

/// Why nothing was published or planned. Each variant's message is a sentence that says what
/// was refused, for which domain or value, and what to do instead.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The domain is not a valid mail domain name.
    #[error("`{domain}` is not a domain MTA-STS can be published for: {reason}")]
    InvalidDomain {
        /// The domain as given.
        domain: String,
        /// Why it was refused.
        reason: String,
    },
    /// The domain publishes a null MX (RFC 7505): it accepts no mail, so there is nothing for a
    /// policy to protect.
    #[error(
        "{domain} publishes a null MX (RFC 7505 `0 .`): it accepts no mail, so there is no MX host for an MTA-STS policy to name; remove the null MX first if the domain should receive mail"
    )]
    NullMx {
        /// The domain.
        domain: String,
    },
    /// The domain has no MX records (or does not exist).
    #[error(
        "{domain} has no MX records ({detail}); an MTA-STS policy names the MX hosts senders may deliver to (RFC 8461 §4.1), and a domain receiving through its implicit MX (RFC 5321 §5.1: its own address records) has none to name, so publish MX records for {domain} first"
    )]
    NoMx {
        /// The domain.
        domain: String,
        /// What DNS answered (NXDOMAIN or no MX records).
        detail: DnsError,
    },
    /// The MX lookup failed (SERVFAIL, timeout, unreachable resolver): the MX set is unknown.
    #[error(
        "the MX records of {domain} could not be looked up ({error}); nothing was generated, try again when DNS answers"
    )]
    MxLookup {
        /// The domain.
        domain: String,
        /// What went wrong.
        error: DnsError,
    },
    /// An MX host name cannot be written as an `mx` pattern (an address-shaped or invalid name).
    #[error("the MX host `{host}` of {domain} cannot be named in a policy: {reason}")]
    InvalidMxHost {
        /// The domain.
        domain: String,
        /// The MX host as DNS (or the command line) gave it.
        host: String,
        /// Why it was refused.
        reason: String,
    },
    /// `max_age` is over RFC 8461 §3.2's limit.
    #[error(
        "max_age {max_age} is over 31557600 seconds (about a year), the most RFC 8461 §3.2 allows"
    )]
    MaxAgeTooLarge {
        /// The value asked for.
        max_age: u64,
    },
    /// A TLS-RPT reporting address is not one senders accept (RFC 8460 §3).
    #[error("`{uri}` cannot be a TLS-RPT reporting address: {reason}")]
    InvalidRua {
        /// The address as given.
        uri: String,
        /// Why it was refused.
        reason: String,
    },
    /// What would be published fails our own linter; nothing is returned rather than something
    /// the checker would flag.
    #[error("the generated {what} for {domain} fails the linter ({}), so it was not published", .diagnostic.message)]
    LintRefused {
        /// The domain.
        domain: String,
        /// Which output: `policy`, `_mta-sts record` or `_smtp._tls record`.
        what: &'static str,
        /// The first error the linter found.
        diagnostic: Box<Diagnostic>,
    },
    /// The current policy, needed to plan an MX change, could not be fetched.
    #[error(
        "the current policy of {domain} could not be fetched ({error}); the MX change cannot be planned without knowing its max_age"
    )]
    PolicyFetch {
        /// The domain.
        domain: String,
        /// What went wrong.
        error: Box<FetchError>,
    },
    /// The current policy was fetched but is not one senders accept.
    #[error(
        "the current policy of {domain} is not valid ({}), so senders do not use it; publish a valid policy with `mta-sts publish` instead of planning a change", .diagnostic.message
    )]
    CurrentPolicyInvalid {
        /// The domain.
        domain: String,
        /// The first error a sender refuses it for.
        diagnostic: Box<Diagnostic>,
    },
    /// An MX change was asked for without any new MX host.
    #[error("no new MX host was given for {domain}; name the hosts the MX records will point at")]
    NoNewMx {
        /// The domain.
        domain: String,
    },
    /// The network layer could not be set up (a bad resolver setting).
    #[error("{0}")]
    Setup(#[from] mta_sts_net::Error),
}
