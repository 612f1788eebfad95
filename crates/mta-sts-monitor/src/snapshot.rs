//! What the monitor keeps of one check: what the next check is compared with, and what the
//! server's gauges and timeline show.

use mta_sts_check::{CheckReport, Outcome, Verdict};
use mta_sts_core::{Mode, Section, Severity, Timestamp};
use mta_sts_net::policy_fetch::FetchError;
use mta_sts_net::trust::CertVerdict;
use serde::{Deserialize, Serialize};

use crate::MonitorSettings;

/// One check as the monitor keeps it (serialized as JSON in the store). Every field but the
/// first four has a default, so a snapshot kept before a field was added still reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The domain checked (A-labels, lowercase).
    pub domain: String,
    /// When.
    pub checked_at: Timestamp,
    /// The check's verdict.
    pub verdict: Verdict,
    /// How far the check got.
    pub outcome: Outcome,
    /// The sections of which something could not be learnt: nothing is decided about them.
    #[serde(default)]
    pub unlearnt: Vec<Section>,
    /// The warnings and errors found.
    #[serde(default)]
    pub findings: Vec<SeenFinding>,
    /// The `_mta-sts` id seen (`None` when there is no usable record, or it was not learnt).
    #[serde(default)]
    pub sts_id: Option<String>,
    /// The SHA-256 (hex) of the policy served, when one was fetched.
    #[serde(default)]
    pub policy_sha256: Option<String>,
    /// The policy's mode (`enforce`, `testing`, `none`), when it is valid.
    #[serde(default)]
    pub policy_mode: Option<String>,
    /// The policy's `mx` patterns, when it is valid.
    #[serde(default)]
    pub policy_mx: Option<Vec<String>>,
    /// The MX hosts, lowest preference first, when the lookup answered.
    #[serde(default)]
    pub mx: Option<Vec<String>>,
    /// MX hosts that match no `mx` pattern of the policy (empty when either is unknown).
    #[serde(default)]
    pub mx_not_covered: Vec<String>,
    /// The certificates seen: the policy host's and each MX host's.
    #[serde(default)]
    pub certificates: Vec<CertificateSeen>,
    /// Why the policy host could not be reached, when it could not (a sentence).
    #[serde(default)]
    pub policy_host_unreachable: Option<String>,
    /// Whether the `_smtp._tls` record is there.
    #[serde(default)]
    pub tlsrpt_record: bool,
    /// Carried: whether this or an earlier check saw the `_smtp._tls` record.
    #[serde(default)]
    pub tlsrpt_seen: bool,
    /// Carried: the id the `id_policy_sha256` belongs to.
    #[serde(default)]
    pub carried_id: Option<String>,
    /// Carried: the policy hash the current id was first seen with (RFC 8461 §3.1: senders
    /// fetch the policy again only when the id changes, so this is what they keep using).
    #[serde(default)]
    pub id_policy_sha256: Option<String>,
    /// Carried: the last policy hash known.
    #[serde(default)]
    pub last_policy_sha256: Option<String>,
    /// Carried: when the served policy last changed (or was first seen by the monitor).
    #[serde(default)]
    pub policy_changed_at: Option<Timestamp>,
    /// What the previous check saw, for the events about a change between two checks.
    #[serde(default)]
    pub previous: Option<Previous>,
}

/// What the previous check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// When it ran.
    pub checked_at: Timestamp,
    /// Its `_mta-sts` id.
    pub sts_id: Option<String>,
    /// Its policy hash.
    pub policy_sha256: Option<String>,
    /// The policy hash its id was first seen with.
    pub id_policy_sha256: Option<String>,
    /// Its MX hosts.
    pub mx: Option<Vec<String>>,
}

/// A warning or error of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenFinding {
    /// The finding code (`mx-cert-expired`).
    pub code: String,
    /// Its section.
    pub section: Section,
    /// The checker's sentence.
    pub message: String,
}

/// Whose certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateRole {
    /// The policy host's (`mta-sts.<domain>`).
    PolicyHost,
    /// An MX host's.
    Mx,
}

/// A certificate as seen by the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSeen {
    /// The host that presented it.
    pub host: String,
    /// Policy host or MX.
    pub role: CertificateRole,
    /// The leaf's `notAfter`.
    pub not_after: Timestamp,
    /// The tightest expiry threshold it falls within (days), if any.
    pub expiring_within_days: Option<u32>,
}

impl Snapshot {
    /// The snapshot of `report`, made at `now`, carrying forward what `previous` (the latest
    /// stored snapshot of the domain) knew.
    pub fn of(
        report: &CheckReport,
        previous: Option<&Snapshot>,
        now: Timestamp,
        settings: &MonitorSettings,
    ) -> Snapshot {
        let mut unlearnt: Vec<Section> = report.not_learnt.iter().map(|n| n.section).collect();
        unlearnt.sort();
        unlearnt.dedup();
        let records_learnt = !unlearnt.contains(&Section::Records);
        let policy_learnt = !unlearnt.contains(&Section::Policy);
        let findings = report
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| SeenFinding {
                code: f.code.as_str().to_string(),
                section: f.section,
                message: f.message.clone(),
            })
            .collect();
        let sts_id = report.sts_record.as_ref().map(|r| r.id.clone());
        let sha = report.policy.as_ref().map(|p| p.sha256.clone());
        let parsed = report.policy.as_ref().and_then(|p| p.parsed.as_ref());
        let mx: Option<Vec<String>> = report
            .mx
            .as_ref()
            .map(|set| set.hosts.iter().map(|(_, host)| host.clone()).collect());
        // As the checker's alignment rule: only an announced, valid policy not in mode none
        // says which MX hosts senders accept.
        let mx_not_covered = match (parsed, &mx, report.sts_record.is_some()) {
            (Some(policy), Some(hosts), true) if policy.mode != Mode::None => hosts
                .iter()
                .filter(|host| !policy.matches_mx(host))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let (carried_id, id_policy_sha256) = match (&sts_id, previous) {
            (Some(id), Some(prev)) if prev.carried_id.as_ref() == Some(id) => (
                Some(id.clone()),
                prev.id_policy_sha256.clone().or_else(|| sha.clone()),
            ),
            (Some(id), _) => (Some(id.clone()), sha.clone()),
            // The record could not be learnt: what was known stays known.
            (None, Some(prev)) if !records_learnt => {
                (prev.carried_id.clone(), prev.id_policy_sha256.clone())
            }
            (None, _) => (None, None),
        };
        let (last_policy_sha256, policy_changed_at) = match (&sha, previous) {
            (Some(sha), Some(prev)) if prev.last_policy_sha256.as_ref() == Some(sha) => {
                (Some(sha.clone()), prev.policy_changed_at.or(Some(now)))
            }
            (Some(sha), _) => (Some(sha.clone()), Some(now)),
            (None, Some(prev)) => (prev.last_policy_sha256.clone(), prev.policy_changed_at),
            (None, None) => (None, None),
        };
        let tlsrpt_record = report.tlsrpt_record.is_some();
        Snapshot {
            domain: report.domain.clone(),
            checked_at: now,
            verdict: report.verdict,
            outcome: report.outcome,
            findings,
            sts_id,
            policy_sha256: sha,
            policy_mode: parsed.map(|p| p.mode.as_str().to_string()),
            policy_mx: parsed.map(|p| p.mx.iter().map(|m| m.as_str().to_string()).collect()),
            mx,
            mx_not_covered,
            certificates: certificates(report, now, settings),
            policy_host_unreachable: if policy_learnt && report.sts_record.is_some() {
                report
                    .policy_error
                    .as_ref()
                    .and_then(|error| unreachable(&report.domain, error))
            } else {
                None
            },
            tlsrpt_record,
            tlsrpt_seen: tlsrpt_record || previous.is_some_and(|p| p.tlsrpt_seen),
            carried_id,
            id_policy_sha256,
            last_policy_sha256,
            policy_changed_at,
            previous: previous.map(|prev| Previous {
                checked_at: prev.checked_at,
                sts_id: prev.sts_id.clone(),
                policy_sha256: prev.policy_sha256.clone(),
                id_policy_sha256: prev.id_policy_sha256.clone(),
                mx: prev.mx.clone(),
            }),
            unlearnt,
        }
    }

    /// Whether nothing of `section` was left unlearnt.
    pub fn learnt(&self, section: Section) -> bool {
        !self.unlearnt.contains(&section)
    }
}

/// Why the policy host counts as unreachable: no address, no connection, a failed handshake,
/// a server error or a time-out after the address was found. Certificate, redirect, media
/// type and size errors are the checker's own findings: the host answered.
fn unreachable(domain: &str, error: &FetchError) -> Option<String> {
    let host = format!("mta-sts.{domain}");
    match error {
        FetchError::Dns { error } if error.is_negative() => {
            Some(format!("{host} has no address ({error})"))
        }
        FetchError::Connect { .. } | FetchError::TlsHandshake { .. } | FetchError::Http { .. } => {
            Some(format!("fetching the policy from {host} failed: {error}"))
        }
        FetchError::Timeout { phase } if *phase != mta_sts_net::policy_fetch::Phase::Dns => {
            Some(format!("fetching the policy from {host} failed: {error}"))
        }
        FetchError::HttpStatus { status } if *status >= 500 => Some(format!(
            "https://{host}/.well-known/mta-sts.txt answered HTTP {status}, a server error"
        )),
        _ => None,
    }
}

fn certificates(
    report: &CheckReport,
    now: Timestamp,
    settings: &MonitorSettings,
) -> Vec<CertificateSeen> {
    let seen = |host: &str, role, verdict: &CertVerdict| {
        verdict.chain.first().and_then(|leaf| {
            let not_after = Timestamp::from_unix_seconds(leaf.not_after)?;
            Some(CertificateSeen {
                host: host.to_string(),
                role,
                not_after,
                expiring_within_days: settings
                    .cert_threshold(leaf.not_after.saturating_sub(now.unix_seconds())),
            })
        })
    };
    let policy_host = format!("mta-sts.{}", report.domain);
    let policy_verdict = match (&report.policy, &report.policy_error) {
        (Some(policy), _) => Some(&policy.fetch.certificate),
        (
            None,
            Some(
                FetchError::CertUntrusted { verdict }
                | FetchError::CertExpired { verdict }
                | FetchError::CertNameMismatch { verdict, .. },
            ),
        ) => Some(verdict),
        _ => None,
    };
    let mut out: Vec<CertificateSeen> = policy_verdict
        .and_then(|verdict| seen(&policy_host, CertificateRole::PolicyHost, verdict))
        .into_iter()
        .collect();
    for probe in &report.mx_hosts {
        if let Some(tls) = &probe.tls
            && let Some(cert) = seen(&probe.host, CertificateRole::Mx, &tls.certificate)
        {
            out.push(cert);
        }
    }
    out
}
