//! Findings: the checker's public vocabulary. Codes are stable and never renamed.

use mta_sts_core::Severity;
use serde::Serialize;

/// The part of the setup a finding is about; reports group findings by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// The `_mta-sts` TXT record.
    Records,
    /// The policy host and the policy file.
    Policy,
    /// The MX set and each MX host.
    MxHosts,
    /// The `_smtp._tls` record.
    TlsRpt,
}

impl Section {
    /// Every section, in report order.
    pub const ALL: [Section; 4] = [
        Section::Records,
        Section::Policy,
        Section::MxHosts,
        Section::TlsRpt,
    ];

    /// The heading a report shows.
    pub fn title(self) -> &'static str {
        match self {
            Section::Records => "MTA-STS record",
            Section::Policy => "Policy",
            Section::MxHosts => "MX hosts",
            Section::TlsRpt => "TLS reporting",
        }
    }

    /// The section of a code, by its prefix (`cert-expiring-soon` defaults to MX hosts; the
    /// policy host's is placed explicitly).
    pub fn of(code: &str) -> Section {
        if code.starts_with("sts-record") {
            Section::Records
        } else if code.starts_with("policy-") {
            Section::Policy
        } else if code.starts_with("tlsrpt-") {
            Section::TlsRpt
        } else {
            Section::MxHosts
        }
    }
}

/// One thing the checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which part of the setup it is about.
    pub section: Section,
    /// The stable code (`mx-not-in-policy`).
    pub code: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What was found, naming the record, host or value.
    pub message: String,
    /// What to change.
    pub remediation: String,
}

/// Every finding code with its severity. The checker never emits a code outside this list, and
/// the lab's scenarios between them produce every one.
pub const CODES: &[(&str, Severity)] = &[
    ("sts-record-missing", Severity::Error),
    ("sts-record-multiple", Severity::Error),
    ("sts-record-invalid", Severity::Error),
    ("sts-record-lookup-failed", Severity::Error),
    ("policy-host-unresolvable", Severity::Error),
    ("policy-fetch-failed", Severity::Error),
    ("policy-host-private", Severity::Error),
    ("policy-cert-untrusted", Severity::Error),
    ("policy-cert-hostname", Severity::Error),
    ("policy-cert-expired", Severity::Error),
    ("policy-http-status", Severity::Error),
    ("policy-redirect", Severity::Error),
    ("policy-content-type", Severity::Error),
    ("policy-too-large", Severity::Error),
    ("policy-invalid", Severity::Error),
    ("policy-max-age-low", Severity::Warning),
    ("policy-mode-testing", Severity::Warning),
    ("policy-mode-none", Severity::Warning),
    ("mx-none", Severity::Error),
    ("mx-lookup-failed", Severity::Error),
    ("mx-not-in-policy", Severity::Error),
    ("mx-pattern-unused", Severity::Warning),
    ("mx-ip-address", Severity::Error),
    ("mx-unresolvable", Severity::Error),
    ("mx-unreachable", Severity::Warning),
    ("mx-host-private", Severity::Error),
    ("mx-starttls-missing", Severity::Error),
    ("mx-tls-failed", Severity::Error),
    ("mx-cert-untrusted", Severity::Error),
    ("mx-cert-hostname", Severity::Error),
    ("mx-cert-expired", Severity::Error),
    ("cert-expiring-soon", Severity::Warning),
    ("tlsrpt-missing", Severity::Warning),
    ("tlsrpt-multiple", Severity::Error),
    ("tlsrpt-invalid", Severity::Error),
    ("policy-host-cname", Severity::Info),
    ("mx-dane", Severity::Info),
];

/// The severity of a code from [`CODES`] (error for an unknown code, which tests rule out).
pub fn severity_of(code: &str) -> Severity {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(Severity::Error, |(_, severity)| *severity)
}

/// The overall verdict: `fail` with any error, else `warn` with any warning, else `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No errors, no warnings.
    Pass,
    /// Warnings only.
    Warn,
    /// At least one error.
    Fail,
}

impl Verdict {
    /// The verdict for a set of findings.
    pub fn of(findings: &[Finding]) -> Verdict {
        if findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Fail
        } else if findings.iter().any(|f| f.severity == Severity::Warning) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in CODES {
            assert!(seen.insert(code), "{code} twice");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code}"
            );
        }
    }

    #[test]
    fn verdicts() {
        let finding = |code: &'static str| Finding {
            section: Section::of(code),
            code,
            severity: severity_of(code),
            message: String::new(),
            remediation: String::new(),
        };
        assert_eq!(Verdict::of(&[]), Verdict::Pass);
        assert_eq!(Verdict::of(&[finding("tlsrpt-missing")]), Verdict::Warn);
        assert_eq!(
            Verdict::of(&[finding("tlsrpt-missing"), finding("mx-none")]),
            Verdict::Fail
        );
    }
}
