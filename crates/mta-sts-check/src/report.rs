//! What one check found: the report the CLI, the web page and the bulk scanner render.

use mta_sts_core::{Mode, Policy};
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
    /// The URL fetched.
    pub url: String,
    /// The body as text (lossy for non-UTF-8).
    pub text: String,
    /// SHA-256 of the body, hex: shown beside the TXT id so a forgotten id change is visible.
    pub sha256: String,
    /// The mode, if the policy is valid.
    pub mode: Option<Mode>,
    /// The max_age, if the policy is valid.
    pub max_age: Option<u32>,
    /// The `mx` patterns as written, if the policy is valid.
    pub mx: Vec<String>,
    /// How it was fetched: address, CNAMEs, TLS version, cipher, certificate.
    pub fetch: PolicyFetch,
    /// The policy a sender reads, if valid.
    #[serde(skip)]
    pub parsed: Option<Policy>,
}

/// How long each part of the check took; the parts run concurrently, so they overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// The `_mta-sts` TXT lookup.
    pub sts_record: u64,
    /// The `_smtp._tls` TXT lookup.
    pub tlsrpt_record: u64,
    /// The MX lookup.
    pub mx: u64,
    /// The policy fetch, DNS to last byte.
    pub policy: u64,
    /// All MX probes (and their TLSA lookups), which run concurrently.
    pub smtp: u64,
    /// The whole check.
    pub total: u64,
}

/// Records and files to publish, derived from what was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Publish {
    /// The `_mta-sts` TXT record, with a fresh id (any policy change needs a new id).
    pub sts_record: Option<String>,
    /// The policy file, listing the domain's real MX hosts.
    pub policy: Option<String>,
    /// The `_smtp._tls` TXT record.
    pub tlsrpt_record: Option<String>,
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
    /// TLSA records found for each MX host, for DANE (RFC 7672): at `_25._tcp.<host>`, or at
    /// `_25._tcp.<expanded name>` for a host that is an alias whose expansion the resolver
    /// validated (RFC 7672 §2.2.2), the host then given as `mx.example.com (via
    /// mx1.provider.net)`.
    pub dane: Vec<(String, mta_sts_net::dns::Tlsa)>,
    /// What to publish to fix the errors, where it can be derived.
    pub publish: Publish,
    /// Milliseconds spent, by part.
    pub timings_ms: Timings,
    /// Set when the check could not run: the resolver answered none of the queries, so the
    /// findings say nothing about the domain.
    pub incomplete: Option<String>,
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
