//! The lab's one error type.
//!
//! Two groups: the host refused us something (a bind, a temp file), or the caller handed the lab
//! scenarios it cannot serve ([`LabError::InvalidScenario`]). Neither is retried by the caller:
//! the lab already retries port collisions itself before reporting [`LabError::Bind`].

use std::{io, net::SocketAddr};

/// Why a [`Lab`](crate::Lab) could not start, or refused a change ([`Lab::update`](crate::Lab::update)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A listener or socket could not be bound, even after retrying with fresh ports.
    ///
    /// On Linux every address of 127.0.0.0/8 is local; elsewhere (macOS) only 127.0.0.1 is, and
    /// the lab needs 127.0.0.2 and up: add aliases to the loopback interface there.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Local file-system work failed (the private directory holding the CA file).
    #[error("{what}: {source}")]
    Io {
        /// What the lab was doing.
        what: &'static str,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Generating the lab CA or its leaf key failed.
    #[error("cannot generate the lab CA: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused a server configuration or the leaf key.
    #[error("cannot build a TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The crypto provider has no SHA-256, which the digest in TLSA records of the lab's leaf
    /// key needs ([`TlsaAssociation::LabLeafSpkiSha256`](crate::TlsaAssociation)).
    #[error("the TLS crypto provider offers no SHA-256 for TLSA digests")]
    NoSha256,
    /// [`Lab::update`](crate::Lab::update) was asked to change a domain the lab does not serve.
    #[error("the lab serves no domain {0}, so it cannot change it")]
    UnknownDomain(String),
    /// A scenario describes something the lab cannot serve; nothing was started, or the change
    /// was refused and the lab serves the scenario as it was.
    #[error("scenario {scenario:?} is invalid: {problem}")]
    InvalidScenario {
        /// The name of the offending scenario.
        scenario: String,
        /// What is wrong with it.
        problem: ScenarioProblem,
    },
}

/// What is wrong with a scenario handed to [`Lab::start_with`](crate::Lab::start_with).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioProblem {
    /// Two scenarios (or a scenario and a generated domain) use the same domain.
    #[error("domain {0} is used twice")]
    DuplicateDomain(String),
    /// The domain is one of the lab's reserved DNS-failure domains.
    #[error("domain {0} is reserved by the lab")]
    ReservedDomain(String),
    /// A record or host name lies outside the scenario's own domain.
    #[error("name {0} is outside the scenario's domain")]
    OutsideDomain(String),
    /// A name is not a valid DNS name.
    #[error("name {0:?} is not a valid DNS name")]
    BadName(String),
    /// The zone refused a record (a CNAME beside other data, RFC 1034 §3.6.2).
    #[error("record at {0} conflicts with another record at that name")]
    RecordConflict(String),
    /// A TXT character-string is longer than 255 bytes (RFC 1035 §3.3); split it into several.
    #[error("TXT string of {} bytes is longer than 255", .0.len())]
    TxtStringTooLong(String),
    /// Two hosts (web or SMTP) share one name.
    #[error("host {0} is declared twice")]
    DuplicateHost(String),
    /// An SMTP host needs an address of its own that is not usable: outside 127.0.0.0/8,
    /// one of the shared addresses 127.0.0.1 / 127.0.0.2, or claimed by another host (hosts that
    /// never say their name, such as refusing or silent ones, may share one if they behave alike).
    #[error("address {0} cannot be given to this SMTP host")]
    AddressConflict(std::net::Ipv4Addr),
    /// A change to a running lab adds, removes or changes an SMTP host with an address of its
    /// own, whose listener is bound only at start.
    #[error(
        "SMTP host {0} has a listener of its own, which a running lab cannot add, remove or change"
    )]
    ListenerChange(String),
}
