//! The comparison, pure: which conditions hold in a snapshot, which of them this snapshot can
//! decide, and what to raise and clear against the open events. No clock, no I/O: the time is
//! the snapshot's.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;

use mta_sts_check::Outcome;
use mta_sts_core::{FindingCode, Section};

use crate::codes;
use crate::snapshot::{CertificateRole, Snapshot};

/// Which event: (code, subject).
pub type ConditionKey = (String, String);

/// The finding codes a dedicated event stands in for, so one breakage gives one event.
fn folded(snapshot: &Snapshot, code: &str) -> bool {
    match code {
        "mx-not-in-policy" | "cert-expiring-soon" => true,
        "policy-host-unresolvable" | "policy-fetch-failed" | "policy-http-status" => {
            snapshot.policy_host_unreachable.is_some()
        }
        "tlsrpt-missing" => snapshot.tlsrpt_seen,
        _ => false,
    }
}

/// Every condition that holds in `snapshot`, with the sentence announcing it.
pub fn conditions(snapshot: &Snapshot) -> BTreeMap<ConditionKey, String> {
    let domain = &snapshot.domain;
    let at = snapshot.checked_at;
    let mut out = BTreeMap::new();
    let mut add = |code: &str, subject: &str, message: String| {
        out.insert((code.to_string(), subject.to_string()), message);
    };
    if snapshot.outcome == Outcome::NoSuchDomain {
        add(
            codes::NO_SUCH_DOMAIN,
            domain,
            format!(
                "{domain} does not exist as of {at} (its MX lookup answered NXDOMAIN): no mail \
                 reaches it until it is published again."
            ),
        );
        return out;
    }
    // Several findings of one code (one per MX host) are one event, their sentences joined.
    let mut by_code: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for finding in &snapshot.findings {
        if !folded(snapshot, &finding.code) {
            by_code
                .entry(&finding.code)
                .or_default()
                .push(&finding.message);
        }
    }
    for (code, messages) in by_code {
        add(
            code,
            domain,
            format!(
                "As of {at}, the check of {domain} finds {code}: {}.",
                messages.join("; ")
            ),
        );
    }
    if let (Some(id), Some(first), Some(now)) = (
        &snapshot.sts_id,
        &snapshot.id_policy_sha256,
        &snapshot.policy_sha256,
    ) && snapshot.carried_id.as_ref() == Some(id)
        && first != now
    {
        // RFC 8461 §3.1: senders fetch the policy again only when the id changes.
        add(
            codes::POLICY_CHANGED_ID_UNCHANGED,
            domain,
            format!(
                "The policy of {domain} changed (SHA-256 {} → {}) while its _mta-sts id stayed \
                 {id}, as of {at}: senders that cached the old policy keep using it until its \
                 max_age runs out; publish a new id.",
                short(first),
                short(now)
            ),
        );
    }
    if let (Some(previous), Some(id), Some(sha)) = (
        &snapshot.previous,
        &snapshot.sts_id,
        &snapshot.policy_sha256,
        // The policy the old id announced: a policy edited without an id change and then given a
        // new id is the fix, not a wasted change.
    ) && let (Some(old_id), Some(old_sha)) = (&previous.sts_id, &previous.id_policy_sha256)
        && old_id != id
        && old_sha == sha
    {
        add(
            codes::ID_CHANGED_POLICY_UNCHANGED,
            domain,
            format!(
                "The _mta-sts id of {domain} changed from {old_id} to {id} between {} and {at} \
                 but the policy did not (SHA-256 {}): every sender fetches it again for \
                 nothing, or an edit of the policy was forgotten.",
                previous.checked_at,
                short(sha)
            ),
        );
    }
    let changed_mx =
        snapshot
            .previous
            .as_ref()
            .and_then(|previous| match (&previous.mx, &snapshot.mx) {
                (Some(old), Some(new)) if old != new => Some(format!(
                    "; the MX set changed since the check at {} ({} → {})",
                    previous.checked_at,
                    old.join(", "),
                    new.join(", ")
                )),
                _ => None,
            });
    for host in &snapshot.mx_not_covered {
        add(
            codes::MX_NOT_COVERED,
            host,
            format!(
                "The MX host {host} of {domain} matches no mx pattern of its policy ({}) as of \
                 {at}: enforcing senders will not deliver to it{}.",
                snapshot
                    .policy_mx
                    .as_ref()
                    .map_or_else(String::new, |patterns| format!(
                        "mx: {}",
                        patterns.join(", ")
                    )),
                changed_mx.as_deref().unwrap_or("")
            ),
        );
    }
    for cert in &snapshot.certificates {
        if let Some(days) = cert.expiring_within_days {
            let whose = match cert.role {
                CertificateRole::PolicyHost => "policy host",
                CertificateRole::Mx => "MX host",
            };
            add(
                &codes::cert_expiring(days),
                &cert.host,
                format!(
                    "The certificate of the {whose} {} of {domain} expires at {}, within {days} \
                     day{} of {at}: renew it.",
                    cert.host,
                    cert.not_after,
                    if days == 1 { "" } else { "s" }
                ),
            );
        }
    }
    if let Some(reason) = &snapshot.policy_host_unreachable {
        add(
            codes::POLICY_HOST_UNREACHABLE,
            domain,
            format!(
                "The policy host of {domain} is unreachable as of {at}: {reason}; senders \
                 without a cached policy send without MTA-STS."
            ),
        );
    }
    if snapshot.tlsrpt_seen && !snapshot.tlsrpt_record && snapshot.learnt(Section::TlsRpt) {
        add(
            codes::TLSRPT_RECORD_GONE,
            domain,
            format!(
                "The _smtp._tls record of {domain} is gone as of {at} (an earlier check saw \
                 it): reporters send no more TLS-RPT reports."
            ),
        );
    }
    out
}

/// Whether `snapshot` learnt enough to say whether the event (`code`, `subject`) holds: an
/// open event it cannot decide is left open.
pub fn decides(snapshot: &Snapshot, code: &str, subject: &str) -> bool {
    if code == codes::FETCHER_STOPPED {
        return false;
    }
    if snapshot.outcome == Outcome::NoSuchDomain {
        return code == codes::NO_SUCH_DOMAIN;
    }
    if code == codes::NO_SUCH_DOMAIN {
        return true;
    }
    let records = snapshot.learnt(Section::Records);
    let policy = snapshot.learnt(Section::Policy);
    match code {
        codes::POLICY_CHANGED_ID_UNCHANGED => {
            records && (snapshot.sts_id.is_none() || snapshot.policy_sha256.is_some())
        }
        codes::ID_CHANGED_POLICY_UNCHANGED => records && policy,
        codes::MX_NOT_COVERED => {
            snapshot.learnt(Section::MxHosts)
                && snapshot.mx.is_some()
                && (snapshot.policy_mx.is_some() || (records && snapshot.sts_id.is_none()))
        }
        codes::POLICY_HOST_UNREACHABLE => records && policy,
        codes::TLSRPT_RECORD_GONE => snapshot.learnt(Section::TlsRpt),
        code if codes::is_cert_expiring(code) => snapshot
            .certificates
            .iter()
            .any(|cert| cert.host == subject),
        code => FindingCode::from_str(code).is_ok_and(|finding| snapshot.learnt(finding.section())),
    }
}

/// One raise or clear to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The code.
    pub code: String,
    /// The subject.
    pub subject: String,
    /// The sentence.
    pub message: String,
}

/// What to raise and what to clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Conditions that hold with no open event.
    pub raise: Vec<Change>,
    /// Open events whose condition no longer holds.
    pub clear: Vec<Change>,
}

/// The changes `snapshot` makes to the `open` events (code, subject): a check that was not
/// completed raises nothing, and no check clears what it could not decide. `fetcher-stopped`
/// is left to the fetcher comparison.
pub fn diff(snapshot: &Snapshot, open: &BTreeSet<ConditionKey>) -> Changes {
    let holding = conditions(snapshot);
    let mut changes = Changes::default();
    if snapshot.outcome != Outcome::Incomplete {
        for ((code, subject), message) in &holding {
            if !open.contains(&(code.clone(), subject.clone())) {
                changes.raise.push(Change {
                    code: code.clone(),
                    subject: subject.clone(),
                    message: message.clone(),
                });
            }
        }
    }
    for (code, subject) in open {
        if holding.contains_key(&(code.clone(), subject.clone()))
            || !decides(snapshot, code, subject)
        {
            continue;
        }
        changes.clear.push(Change {
            code: code.clone(),
            subject: subject.clone(),
            message: cleared_message(snapshot, code, subject),
        });
    }
    changes
}

/// The sentence announcing that an event no longer holds.
fn cleared_message(snapshot: &Snapshot, code: &str, subject: &str) -> String {
    let domain = &snapshot.domain;
    let at = snapshot.checked_at;
    match code {
        codes::POLICY_CHANGED_ID_UNCHANGED => match &snapshot.sts_id {
            Some(id) if snapshot.carried_id.as_deref() == Some(id.as_str()) => format!(
                "The policy of {domain} is in step with its _mta-sts id {id} again as of {at}."
            ),
            Some(id) => format!(
                "The _mta-sts id of {domain} is now {id} as of {at}: senders fetch the changed \
                 policy."
            ),
            None => format!("{domain} publishes no _mta-sts id as of {at}."),
        },
        codes::ID_CHANGED_POLICY_UNCHANGED => {
            format!("The _mta-sts id of {domain} did not change again by {at}.")
        }
        codes::MX_NOT_COVERED => format!(
            "The MX host {subject} of {domain} is covered by its policy, or is no longer an MX \
             host, as of {at}."
        ),
        codes::POLICY_HOST_UNREACHABLE => {
            format!("The policy host of {domain} answers again as of {at}.")
        }
        codes::TLSRPT_RECORD_GONE => {
            format!("The _smtp._tls record of {domain} is back as of {at}.")
        }
        codes::NO_SUCH_DOMAIN => format!("{domain} exists again as of {at}."),
        code if codes::is_cert_expiring(code) => {
            match snapshot.certificates.iter().find(|c| c.host == subject) {
                Some(cert) => match cert.expiring_within_days {
                    Some(days) => format!(
                        "The certificate of {subject} ({domain}) now expires within {days} \
                         day{} ({}) as of {at}.",
                        if days == 1 { "" } else { "s" },
                        cert.not_after
                    ),
                    None if cert.not_after <= at => format!(
                        "The certificate of {subject} ({domain}) expired at {}; the check \
                         reports it as expired.",
                        cert.not_after
                    ),
                    None => format!(
                        "The certificate of {subject} ({domain}) was renewed: it expires at {} \
                         as of {at}.",
                        cert.not_after
                    ),
                },
                None => format!("{subject} is no longer a host of {domain} as of {at}."),
            }
        }
        code => format!("As of {at}, the check of {domain} no longer finds {code}."),
    }
}

/// The first 12 hex digits of a hash: enough to tell two policies apart in a sentence.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

#[cfg(test)]
mod tests;
