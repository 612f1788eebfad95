//! Events as announced: raised or cleared, with a sentence a person reads.

use mta_sts_core::Timestamp;
use serde::{Deserialize, Serialize};

/// The monitor's own event codes, stable (never renamed). Every checker finding code is an
/// event code too.
pub mod codes {
    /// The served policy changed while the `_mta-sts` id did not.
    pub const POLICY_CHANGED_ID_UNCHANGED: &str = "policy-changed-id-unchanged";
    /// The `_mta-sts` id changed while the served policy did not.
    pub const ID_CHANGED_POLICY_UNCHANGED: &str = "id-changed-policy-unchanged";
    /// An MX host matches no `mx` pattern of the policy.
    pub const MX_NOT_COVERED: &str = "mx-not-covered";
    /// A certificate expires within 30 days.
    pub const CERT_EXPIRING_30D: &str = "cert-expiring-30d";
    /// A certificate expires within 14 days.
    pub const CERT_EXPIRING_14D: &str = "cert-expiring-14d";
    /// A certificate expires within 7 days.
    pub const CERT_EXPIRING_7D: &str = "cert-expiring-7d";
    /// A certificate expires within a day.
    pub const CERT_EXPIRING_1D: &str = "cert-expiring-1d";
    /// The policy host cannot be reached.
    pub const POLICY_HOST_UNREACHABLE: &str = "policy-host-unreachable";
    /// `_smtp._tls` is gone after it was seen.
    pub const TLSRPT_RECORD_GONE: &str = "tlsrpt-record-gone";
    /// The domain does not exist.
    pub const NO_SUCH_DOMAIN: &str = "no-such-domain";
    /// An organisation that fetched the hosted policy regularly stopped.
    pub const FETCHER_STOPPED: &str = "fetcher-stopped";

    /// The code of the certificate event for a threshold of `days` (`cert-expiring-7d`).
    pub fn cert_expiring(days: u32) -> String {
        format!("cert-expiring-{days}d")
    }

    /// Whether `code` is a certificate expiry event (any threshold).
    pub fn is_cert_expiring(code: &str) -> bool {
        code.strip_prefix("cert-expiring-")
            .and_then(|rest| rest.strip_suffix('d'))
            .is_some_and(|days| !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Whether an event was raised or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// The condition began to hold.
    Raised,
    /// The condition no longer holds.
    Cleared,
}

impl EventState {
    /// `raised` or `cleared`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Raised => "raised",
            EventState::Cleared => "cleared",
        }
    }
}

impl std::fmt::Display for EventState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event raised or cleared by this caller (another server's are not repeated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The domain (A-labels, lowercase).
    pub domain: String,
    /// The stable code.
    pub code: String,
    /// What it is about: a host, an organisation, or the domain itself.
    pub subject: String,
    /// Raised or cleared.
    pub state: EventState,
    /// A sentence naming the domain, host, ids and dates.
    pub message: String,
    /// When (the check's time).
    pub at: Timestamp,
}
