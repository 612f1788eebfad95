//! What the advisor says: the stage a domain is at, whether it is ready for the next one (each
//! reason naming its evidence), and what to publish next. Serialises to the JSON of
//! `mta-sts rollout --json`: `{"domain", "stage", "ready", "reasons": [{"code", "ok",
//! "message", "evidence"}], "next": {"policy", "sts_record"}}`.

use mta_sts_core::time::UtcDate;
use serde::Serialize;

/// Where a domain stands in its MTA-STS rollout, read from the live policy (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// No MTA-STS: no `_mta-sts` record, or no policy senders can use.
    None,
    /// `mode: testing`: senders report failures and still deliver.
    Testing,
    /// `mode: enforce`: senders refuse to deliver to an MX that fails validation.
    Enforce,
    /// `mode: none`: MTA-STS is being withdrawn (RFC 8461 §5: senders treat the domain as having
    /// no policy once they have fetched this one).
    Retiring,
}

impl Stage {
    /// The word the JSON and every renderer use: `none`, `testing`, `enforce`, `retiring`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "none",
            Stage::Testing => "testing",
            Stage::Enforce => "enforce",
            Stage::Retiring => "retiring",
        }
    }

    /// What "ready" means at this stage, as a sentence ending: `to start testing`, `to enforce`,
    /// `to keep enforcing`, `to remove the records`.
    pub fn ready_for(self) -> &'static str {
        match self {
            Stage::None => "to start testing",
            Stage::Testing => "to enforce",
            Stage::Enforce => "to keep enforcing",
            Stage::Retiring => "to remove the records",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The advisor's answer for one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    /// The domain (A-labels, lowercase).
    pub domain: String,
    /// Where it stands.
    pub stage: Stage,
    /// Ready for the next stage (for `enforce`: enforcing costs no mail and nothing needs
    /// fixing): every reason is `ok`.
    pub ready: bool,
    /// Every condition checked, failed ones first, each naming its evidence. For `enforce`,
    /// regressions are reasons with the code [`ReasonCode::Regressions`].
    pub reasons: Vec<Reason>,
    /// What to publish next, when there is something to publish.
    pub next: Option<Next>,
}

impl Advice {
    /// The reasons that fail.
    pub fn failing(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| !r.ok)
    }

    /// The regressions of an `enforce` domain: sts failures since enforcing, each with the
    /// sessions it cost.
    pub fn regressions(&self) -> impl Iterator<Item = &Reason> {
        self.reasons
            .iter()
            .filter(|r| r.code == ReasonCode::Regressions && !r.ok)
    }

    /// One sentence for an overview or an alert: `ready to enforce`, or `not ready to enforce: 2
    /// conditions fail (report-days, sts-failures)`.
    pub fn verdict(&self) -> String {
        if self.ready {
            return format!("ready {}", self.stage.ready_for());
        }
        let mut codes: Vec<&str> = self.failing().map(|r| r.code.as_str()).collect();
        codes.dedup();
        let count = self.failing().count();
        format!(
            "not ready {}: {count} condition{} fail{} ({})",
            self.stage.ready_for(),
            if count == 1 { "" } else { "s" },
            if count == 1 { "s" } else { "" },
            codes.join(", ")
        )
    }
}

/// One condition and whether it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// Which condition.
    pub code: ReasonCode,
    /// Whether it holds.
    pub ok: bool,
    /// A sentence naming the evidence and, when it fails, what would fix it.
    pub message: String,
    /// The evidence itself, for scripts and the dashboard.
    pub evidence: Evidence,
}

/// The conditions the advisor checks; the names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    /// The live check found no errors (those of the conditions below are reported there).
    LiveCheck,
    /// A TLS-RPT record (RFC 8460 §3) asks senders for reports: without it there is no evidence.
    TlsrptRecord,
    /// The domain has MX hosts to protect.
    MxHosts,
    /// Reports cover enough distinct days of the window.
    ReportDays,
    /// Enough organisations report.
    Reporters,
    /// No `sts` failures in the window (or a failure rate under the threshold).
    StsFailures,
    /// Every current MX host matches a pattern of the policy (RFC 8461 §4.1).
    MxCovered,
    /// Every MX host presents a valid certificate with enough days left (RFC 8461 §4.2).
    MxCertificates,
    /// `enforce`: sts failures since enforcing, mail that senders refused to deliver.
    Regressions,
    /// `retiring`: the policy senders cached before `mode: none` has expired everywhere.
    OldPolicyExpired,
}

impl ReasonCode {
    /// The stable name (`report-days`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::LiveCheck => "live-check",
            ReasonCode::TlsrptRecord => "tlsrpt-record",
            ReasonCode::MxHosts => "mx-hosts",
            ReasonCode::ReportDays => "report-days",
            ReasonCode::Reporters => "reporters",
            ReasonCode::StsFailures => "sts-failures",
            ReasonCode::MxCovered => "mx-covered",
            ReasonCode::MxCertificates => "mx-certificates",
            ReasonCode::Regressions => "regressions",
            ReasonCode::OldPolicyExpired => "old-policy-expired",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The evidence behind one [`Reason`], tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// A finding of the live check.
    Finding {
        /// Its stable code (`mx-cert-hostname`).
        code: String,
        /// What was found.
        message: String,
        /// What to change.
        remediation: String,
    },
    /// The live check's verdict and counts.
    Check {
        /// `pass`, `warn`, `fail` or `unknown`.
        verdict: String,
        /// Errors found.
        errors: u64,
        /// Warnings found.
        warnings: u64,
    },
    /// The live check could not learn everything.
    Incomplete {
        /// What could not be learnt, and why, one sentence each.
        not_learnt: Vec<String>,
    },
    /// The `_smtp._tls` record, as the live check read it.
    TlsrptRecord {
        /// The record, if a usable one is published.
        record: Option<String>,
    },
    /// The MX hosts of the live check.
    MxHosts {
        /// Their names, in preference order.
        hosts: Vec<String>,
    },
    /// The days with reports in the window.
    ReportDays {
        /// The first day of the window.
        from: UtcDate,
        /// The last day of the window.
        to: UtcDate,
        /// The days with at least one report, oldest first.
        days: Vec<UtcDate>,
        /// How many are needed.
        required: u32,
    },
    /// The organisations that reported in the window.
    Reporters {
        /// Each of them.
        reporters: Vec<ReporterEvidence>,
        /// How many are needed.
        required: u32,
    },
    /// `sts` sessions in the window, and the failures among them.
    StsSessions {
        /// Successful sessions.
        successful: u64,
        /// Failed sessions.
        failed: u64,
        /// Failed / all, from 0 to 1 (0 with no sessions).
        failure_rate: f64,
        /// The highest rate allowed (0: none).
        max_failure_rate: f64,
    },
    /// One group of failures: one result type towards one MX host.
    Failures(FailureEvidence),
    /// An MX host and the policy's patterns.
    MxCoverage {
        /// The MX host.
        host: String,
        /// Whether a pattern matches it.
        matched: bool,
        /// The policy's `mx` patterns.
        patterns: Vec<String>,
    },
    /// An MX host's certificate as the live probe saw it.
    Certificate(CertificateEvidence),
    /// When the policy senders cached before `mode: none` expires.
    PolicyExpiry {
        /// The mode of that policy (`enforce` or `testing`), if a report showed one.
        mode: Option<String>,
        /// Its max_age in seconds.
        max_age: Option<u32>,
        /// The last day a report showed senders using it.
        last_seen: Option<UtcDate>,
        /// The first day every sender's copy has expired.
        expires: Option<UtcDate>,
    },
}

/// One reporting organisation in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReporterEvidence {
    /// `organization-name`.
    pub organization: String,
    /// Distinct days it reported.
    pub days: u64,
    /// Its reports.
    pub reports: u64,
    /// The last day it reported.
    pub last_day: UtcDate,
}

/// A group of failed sessions from the reports: one result type, one receiving MX.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureEvidence {
    /// `policy-type` (`sts`).
    pub policy_type: String,
    /// `result-type` (`certificate-host-mismatch`).
    pub result_type: String,
    /// `receiving-mx-hostname`, when the reports gave it.
    pub receiving_mx_hostname: Option<String>,
    /// Failed sessions.
    pub sessions: u64,
    /// The organisations that reported them.
    pub organizations: Vec<String>,
    /// The first day they were reported.
    pub first_day: UtcDate,
    /// The last day they were reported.
    pub last_day: UtcDate,
}

/// An MX host's certificate, as the live check's probe saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateEvidence {
    /// The MX host.
    pub host: String,
    /// Whether a sender accepts it for the host (trusted, right name, in its validity period).
    pub valid: bool,
    /// Whole days until it expires, if known.
    pub days_left: Option<i64>,
    /// The DNS names it is for.
    pub names: Vec<String>,
    /// Why it could not be seen (no STARTTLS, no answer), if it could not.
    pub problem: Option<String>,
}

/// What to publish next: the exact policy file and the `_mta-sts` record announcing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Next {
    /// The policy file to serve at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, LF line
    /// ends.
    pub policy: String,
    /// The `_mta-sts` TXT record announcing it, with an id derived from its text (so a new
    /// policy always has a new id, RFC 8461 §3.1), as a zone-file line.
    pub sts_record: String,
}
