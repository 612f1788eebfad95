//! What to publish: the records and policy that would clear the errors found, derived from the
//! domain's real MX hosts and what it already publishes.

use mta_sts_core::sts_record::content_id;
use mta_sts_core::time::Clock;
use mta_sts_core::{FindingCode, Mode, TlsRptRecord};
use mta_sts_net::SystemClock;
use mta_sts_net::dns::MxSet;

use crate::rules::Findings;
use crate::{PolicyReport, Publish};

/// max_age suggested when the current one is missing or short: a week (RFC 8461 §3.2 expects
/// weeks or more).
const SUGGESTED_MAX_AGE: u32 = 604_800;

/// Codes whose fix is a new or corrected policy file.
const POLICY_FIXES: &[FindingCode] = &[
    FindingCode::PolicyInvalid,
    FindingCode::PolicyMaxAgeLow,
    FindingCode::PolicyModeNone,
    FindingCode::PolicyHttpStatus,
    FindingCode::PolicyRedirect,
    FindingCode::PolicyContentType,
    FindingCode::PolicyTooLarge,
    FindingCode::PolicyHostUnresolvable,
    FindingCode::MxNotInPolicy,
    FindingCode::MxPatternUnused,
];

/// The records and policy to publish, for the errors and warnings found.
pub(crate) fn suggest(
    domain: &str,
    findings: &Findings,
    policy: Option<&PolicyReport>,
    mx: Option<&MxSet>,
    tlsrpt: Option<&TlsRptRecord>,
) -> Publish {
    let mut publish = Publish::default();
    let real_mx: Vec<&str> = mx
        .map(|m| m.hosts.iter().map(|(_, h)| h.as_str()).collect())
        .unwrap_or_default();
    let new_policy = POLICY_FIXES.iter().any(|code| findings.has(*code)) && !real_mx.is_empty();
    if new_policy {
        let mode = match policy.and_then(|p| p.mode) {
            Some(Mode::Enforce) => Mode::Enforce,
            // Start (or restart) in testing: failures are reported before anything is refused.
            _ => Mode::Testing,
        };
        let max_age = policy
            .and_then(|p| p.max_age)
            .filter(|age| *age >= SUGGESTED_MAX_AGE)
            .unwrap_or(SUGGESTED_MAX_AGE);
        let mut text = format!("version: STSv1\nmode: {mode}\n");
        for host in &real_mx {
            text.push_str(&format!("mx: {host}\n"));
        }
        text.push_str(&format!("max_age: {max_age}\n"));
        publish.policy = Some(text);
    }
    // RFC 8461 §3.1: the id must change whenever the policy does, or senders keep the old one.
    if new_policy
        || [
            FindingCode::StsRecordMissing,
            FindingCode::StsRecordMultiple,
            FindingCode::StsRecordInvalid,
        ]
        .iter()
        .any(|c| findings.has(*c))
    {
        // The id derived from the policy the record announces (the one to publish, else the
        // one served now), as `mta-sts rollout` and `publish` make it: the same policy always
        // gets the same id and any change a new one. Without a policy to go by, the time.
        let id = publish
            .policy
            .as_deref()
            .or(policy
                .filter(|p| p.parsed.is_some())
                .map(|p| p.text.as_str()))
            .map_or_else(fresh_id, content_id);
        publish.sts_record = Some(format!("_mta-sts.{domain}. IN TXT \"v=STSv1; id={id}\""));
    }
    if [
        FindingCode::TlsrptMissing,
        FindingCode::TlsrptMultiple,
        FindingCode::TlsrptInvalid,
    ]
    .iter()
    .any(|c| findings.has(*c))
    {
        let rua = tlsrpt.map_or_else(
            || format!("mailto:tlsrpt@{domain}"),
            |r| {
                r.rua
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
        publish.tlsrpt_record = Some(format!(
            "_smtp._tls.{domain}. IN TXT \"v=TLSRPTv1; rua={rua}\""
        ));
    }
    publish
}

/// A policy id from the current time, as operators are told to use (`20261123T053000`).
pub(crate) fn fresh_id() -> String {
    SystemClock
        .now()
        .to_string()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .filter(|c| *c != 'Z')
        .collect()
}
