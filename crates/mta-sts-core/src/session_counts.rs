//! What a sending MTA counted for one recipient domain, TLSRPT record and policy over one UTC
//! day: the form in which TLS-RPT results pass from the collector, through the store, to the
//! report builder (RFC 8460 §4.4 is what they become).

use crate::report::PolicyResult;

/// The sessions towards one recipient domain under one policy, with the domain's TLSRPT record
/// as it was seen when they were counted. Sessions under another policy or another record are
/// another [`SessionCounts`]: a record change during the day gives reports to both sets of
/// `rua` (RFC 8460 §3: the record says where reports go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCounts {
    /// The recipient (policy) domain: lowercase A-labels, no trailing dot.
    pub domain: String,
    /// The `_smtp._tls.<domain>` TXT record's text, exactly as the MTA saw it.
    pub tlsrpt_record: String,
    /// The policy applied, the session counts and the failures grouped by kind, each with its
    /// `failed-session-count`.
    pub result: PolicyResult,
}
