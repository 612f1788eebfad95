//! What the daemon reports while it keeps answering: failures an administrator should hear about
//! (RFC 8461 §3.3: "MTAs SHOULD alert administrators ... when such attempts fail") but that never
//! stop a reply.

use crate::clock::Timestamp;
use crate::netstring::FramingError;

impl Event {
    /// A sentence for the log, for the events that have one of their own (the others are
    /// printed by the caller).
    pub fn sentence(&self) -> Option<String> {
        match self {
            Event::AddressPatternsIgnored {
                domain,
                id,
                patterns,
                all,
            } => {
                let listed = patterns.join(", ");
                let what_follows = if *all {
                    "no pattern is left, so Postfix is told to defer mail for the domain while \
                     the policy is in force (RFC 8461 §5)"
                } else {
                    "the other patterns are sent to Postfix"
                };
                Some(format!(
                    "{domain}: the MTA-STS policy (id {id}) lists the IP address(es) {listed} as \
                     mx; they match no MX host name (RFC 8461 §4.1) and are left out of the \
                     replies to Postfix; {what_follows}"
                ))
            }
            _ => None,
        }
    }
}

/// Something worth logging or counting. Subscribe with [`crate::Daemon::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A policy could not be fetched (or was refused); the domain's id is not fetched again
    /// before `retry_at`.
    FetchFailed {
        /// The policy domain.
        domain: String,
        /// The TXT id whose policy failed.
        id: String,
        /// What went wrong.
        error: String,
        /// The earliest next attempt.
        retry_at: Timestamp,
        /// Whether an unexpired cached policy is still applied meanwhile.
        kept_cached: bool,
    },
    /// A DANE lookup (RFC 7672) failed: the MX lookup of a domain whose reply would be
    /// `secure` (`host` is `None`; the MTA-STS answer is given), or the TLSA lookup of one of
    /// its MX hosts under a validated MX RRset (the reply is `dane`, and Postfix looks again at
    /// delivery).
    DaneLookupFailed {
        /// The next-hop domain.
        domain: String,
        /// The MX host whose TLSA lookup failed; `None` for the MX lookup.
        host: Option<String>,
        /// What DNS said.
        error: String,
    },
    /// A newly fetched policy lists `mx` patterns shaped like IPv4 addresses (`192.0.2.25`).
    /// The policy is used; the addresses are left out of every reply (they match no MX host
    /// name, RFC 8461 §4.1), and if nothing else is left, enforcing replies defer the mail.
    /// Reported once per fetch, not per request.
    AddressPatternsIgnored {
        /// The policy domain.
        domain: String,
        /// The TXT id of the policy.
        id: String,
        /// The patterns left out, as written.
        patterns: Vec<String>,
        /// Whether they are all the policy's patterns.
        all: bool,
    },
    /// The cache failed an operation; the answer was given without it.
    CacheFailed {
        /// `get`, `put`, `delete` or `scan`.
        operation: &'static str,
        /// The cache's error.
        error: String,
    },
    /// A client broke the netstring framing (or sent an oversize request); its connection was
    /// closed after the replies it was owed.
    BadRequest {
        /// What was wrong.
        error: FramingError,
    },
}
