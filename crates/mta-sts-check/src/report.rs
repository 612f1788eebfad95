//! What one check found: the report the CLI, the web page and the bulk scanner render.

use mta_sts_core::Policy;
use mta_sts_core::{Severity, StsRecord, TlsRptRecord};
use mta_sts_net::PolicyFetch;
use mta_sts_net::dns::MxSet;
use mta_sts_net::policy_fetch::FetchError;
use mta_sts_net::smtp_probe::MxProbe;
use serde::Serialize;

use crate::{Finding, Verdict};

/// The policy as fetched and read.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    /// The body as text (lossy for non-UTF-8).
    pub text: String,
    /// SHA-256 of the body, hex: shown beside the TXT id so a forgotten id change is visible.
    pub sha256: String,
    /// The fetch (URL, address, TLS, certificate).
    pub fetch: PolicyFetch,
    /// The policy a sender reads, if valid.
    pub parsed: Option<Policy>,
}

/// Everything one check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The domain checked (A-labels).
    pub domain: String,
    /// pass, warn or fail.
    pub verdict: Verdict,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
    /// The `_mta-sts` record a sender would use.
    pub sts_record: Option<StsRecord>,
    /// The policy, when the fetch returned one.
    pub policy: Option<PolicyReport>,
    /// Why the fetch failed, when it did.
    pub policy_error: Option<FetchError>,
    /// The MX set, when the lookup answered.
    pub mx: Option<MxSet>,
    /// Each MX host as the probe saw it (empty with `--no-smtp`).
    pub mx_hosts: Vec<MxProbe>,
    /// The `_smtp._tls` record a reporter would use.
    pub tlsrpt_record: Option<TlsRptRecord>,
    /// Wall time of the whole check.
    pub elapsed_ms: u64,
}

impl CheckReport {
    /// The codes of the errors and warnings: what a lab scenario declares it must produce.
    pub fn problem_codes(&self) -> std::collections::BTreeSet<&'static str> {
        self.findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| f.code)
            .collect()
    }

    /// Whether a finding with this code was made.
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}
