//! What the daemon reports while it keeps answering: failures an administrator should hear about
//! (RFC 8461 §3.3: "MTAs SHOULD alert administrators ... when such attempts fail") but that never
//! stop a reply.

use crate::clock::Timestamp;
use crate::netstring::FramingError;

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
    /// The connection cap (`max_connections`) was reached: to serve new clients, the
    /// connections that had gone longest without sending a whole request were closed. Emitted
    /// at most once a minute, however many connections are closed meanwhile.
    ConnectionCapReached {
        /// The cap.
        limit: usize,
        /// Connections closed to make room since the previous such event, the one that
        /// prompted this one included.
        evicted: u64,
    },
}
