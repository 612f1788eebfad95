//! What one check found: the report the CLI, the web page and the bulk scanner render.

use mta_sts_core::{FindingCode, Mode, Policy, Section};
use mta_sts_core::{Severity, StsRecord, TlsRptRecord};
use mta_sts_net::PolicyFetch;
use mta_sts_net::dns::MxSet;
use mta_sts_net::policy_fetch::FetchError;
use mta_sts_net::smtp_probe::MxProbe;
use serde::{Deserialize, Serialize};

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
    /// How far the check got: `complete`, `incomplete` (see `not_learnt`) or `no-such-domain`.
    pub outcome: Outcome,
    /// What the check could not learn, and why; nothing is judged about these parts.
    pub not_learnt: Vec<NotLearnt>,
    /// Each section's status, in report order.
    pub sections: Vec<SectionStatus>,
    /// Set when the check could not be completed: one sentence saying why. The findings then
    /// cover only what was learnt.
    pub incomplete: Option<String>,
}

/// How far a check got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything was learnt: the findings are the whole answer.
    Complete,
    /// Some lookups got no usable answer ([`CheckReport::not_learnt`]); the findings cover the
    /// rest.
    Incomplete,
    /// The domain does not exist (NXDOMAIN for the domain itself): there is nothing to check.
    NoSuchDomain,
}

/// Something the check could not learn: a lookup without a usable answer, which says nothing
/// about the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotLearnt {
    /// The part of the setup left unjudged.
    pub section: Section,
    /// What could not be learnt (`the MX records of example.com`).
    pub what: String,
    /// Why (`the resolver did not answer in time`).
    pub why: String,
}

impl std::fmt::Display for NotLearnt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not learn {}: {}", self.what, self.why)
    }
}

/// The status of one section of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SectionStatus {
    /// The section.
    pub section: Section,
    /// Its status: its worst finding, or `unknown` when part of it could not be learnt.
    pub status: Verdict,
}

/// One section as every renderer shows it: its status word, its findings and what of it could
/// not be learnt.
#[derive(Debug, Clone)]
pub struct SectionView<'a> {
    /// The section.
    pub section: Section,
    /// Its status.
    pub status: Verdict,
    /// Its findings, errors first.
    pub findings: Vec<&'a Finding>,
    /// What of it could not be learnt.
    pub not_learnt: Vec<&'a NotLearnt>,
}

impl CheckReport {
    /// The codes of the errors and warnings: what a lab scenario declares it must produce.
    pub fn problem_codes(&self) -> std::collections::BTreeSet<FindingCode> {
        self.findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| f.code)
            .collect()
    }

    /// Whether a finding with this code was made.
    pub fn has(&self, code: FindingCode) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// A report of `domain` with nothing found yet.
    pub(crate) fn empty(domain: &str, timings_ms: Timings) -> CheckReport {
        CheckReport {
            domain: domain.to_string(),
            verdict: Verdict::Unknown,
            findings: Vec::new(),
            sts_record: None,
            policy: None,
            policy_error: None,
            mx: None,
            mx_hosts: Vec::new(),
            tlsrpt_record: None,
            dane: Vec::new(),
            publish: Publish::default(),
            timings_ms,
            outcome: Outcome::Complete,
            not_learnt: Vec::new(),
            sections: Vec::new(),
            incomplete: None,
        }
    }

    /// One section with its status, findings and what of it could not be learnt.
    pub fn section(&self, section: Section) -> SectionView<'_> {
        let findings: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.section == section)
            .collect();
        let not_learnt: Vec<&NotLearnt> = self
            .not_learnt
            .iter()
            .filter(|n| n.section == section)
            .collect();
        SectionView {
            section,
            status: Verdict::judge(
                findings.iter().copied(),
                !not_learnt.is_empty() || self.outcome == Outcome::NoSuchDomain,
            ),
            findings,
            not_learnt,
        }
    }

    /// Every section in report order.
    pub fn sections(&self) -> impl Iterator<Item = SectionView<'_>> {
        Section::ALL
            .into_iter()
            .map(|section| self.section(section))
    }

    /// The verdict, each section's status and [`CheckReport::incomplete`], from the findings and
    /// what could not be learnt.
    pub(crate) fn conclude(&mut self) {
        self.outcome = match self.outcome {
            Outcome::NoSuchDomain => Outcome::NoSuchDomain,
            _ if self.not_learnt.is_empty() => Outcome::Complete,
            _ => Outcome::Incomplete,
        };
        self.verdict = Verdict::judge(&self.findings, self.outcome != Outcome::Complete);
        self.sections = Section::ALL
            .into_iter()
            .map(|section| SectionStatus {
                section,
                status: self.section(section).status,
            })
            .collect();
        self.incomplete = match self.outcome {
            Outcome::Complete => None,
            Outcome::NoSuchDomain => Some(format!(
                "{} does not exist (its MX lookup answered NXDOMAIN), so there is nothing to check; is the name spelt right?",
                self.domain
            )),
            Outcome::Incomplete => {
                let count = self.not_learnt.len();
                let mut reasons: Vec<&str> =
                    self.not_learnt.iter().map(|n| n.why.as_str()).collect();
                reasons.dedup();
                let why = match reasons.as_slice() {
                    [one] => format!(": {one}"),
                    _ => String::new(),
                };
                Some(format!(
                    "{count} lookup{} got no usable answer{why}; nothing is said about what {} would have shown",
                    if count == 1 { "" } else { "s" },
                    if count == 1 { "it" } else { "they" }
                ))
            }
        };
    }

    /// The summary every renderer puts beside the verdict: `2 errors, 1 warning`, or why the
    /// check could not be completed.
    pub fn summary(&self) -> String {
        let errors = crate::count(&self.findings, Severity::Error);
        let warnings = crate::count(&self.findings, Severity::Warning);
        let counts = format!(
            "{errors} error{}, {warnings} warning{}",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
        match self.outcome {
            Outcome::Complete => counts,
            Outcome::Incomplete => {
                format!("{counts} in what could be learnt; the check could not be completed")
            }
            Outcome::NoSuchDomain => "the domain does not exist".to_string(),
        }
    }
}
