//! What is published for a domain, built from its MX set without any I/O: the policy file, the
//! `_mta-sts` record with the policy's content id, the `_smtp._tls` record, and a zone-file
//! snippet; each linted by the core's own linters before it is returned.

use mta_sts_core::sts_record::content_id;
use mta_sts_core::{Diagnostic, Lint, Mode, MxPattern, Policy, Severity, StsRecord};
use mta_sts_core::{policy_lint, sts_record, tlsrpt_record};
use mta_sts_net::dns::MxSet;
use serde::Serialize;

use crate::patterns::{PolicyPattern, mx_patterns};
use crate::zone::zone_snippet;
use crate::{PublishError, PublishOptions};

/// One MX record of the domain, as DNS gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxRecord {
    /// Its preference (lower is tried first).
    pub preference: u16,
    /// The host, lowercase, without the trailing dot.
    pub host: String,
}

/// Everything to publish for one domain. Serialized as `{"policy", "sts_record",
/// "tlsrpt_record", "zone", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publication {
    /// The policy file, exactly as it must be served at
    /// `https://mta-sts.<domain>/.well-known/mta-sts.txt` (LF line ends).
    pub policy: String,
    /// The value of the `_mta-sts.<domain>` TXT record: `v=STSv1; id=<content id>`.
    pub sts_record: String,
    /// The value of the `_smtp._tls.<domain>` TXT record, when reporting addresses were given.
    pub tlsrpt_record: Option<String>,
    /// A zone-file snippet with both records (the TLS-RPT one as a commented suggestion when no
    /// address was given).
    pub zone: String,
    /// The domain, in A-labels.
    pub domain: String,
    /// The policy id, derived from the policy's text ([`content_id`]).
    pub id: String,
    /// The policy's mode.
    pub mode: Mode,
    /// The policy's `max_age`.
    pub max_age: u32,
    /// The MX records the policy was built from, by preference.
    pub mx: Vec<MxRecord>,
    /// The policy's `mx` lines and the hosts each covers.
    pub patterns: Vec<PolicyPattern>,
    /// What the linters noted about the output (warnings and notes; never errors).
    pub notes: Vec<Diagnostic>,
}

impl Publication {
    /// The name of the host that must serve the policy (RFC 8461 §3.3).
    pub fn policy_host(&self) -> String {
        format!("mta-sts.{}", self.domain)
    }
}

/// Builds the publication of `domain` (already in A-labels) from its MX set.
pub fn compose(
    domain: &str,
    mx: &MxSet,
    options: &PublishOptions,
) -> Result<Publication, PublishError> {
    options.validate()?;
    // RFC 7505 §3: a null MX says the domain accepts no mail; a policy would name no host.
    if mx.null_mx {
        return Err(PublishError::NullMx {
            domain: domain.to_string(),
        });
    }
    if mx.hosts.is_empty() {
        return Err(PublishError::NoMx {
            domain: domain.to_string(),
            detail: mta_sts_net::DnsError::NoData,
        });
    }
    let hosts: Vec<String> = mx.hosts.iter().map(|(_, host)| host.clone()).collect();
    let patterns = mx_patterns(domain, &hosts, options.wildcard)?;
    let policy = policy_text(&patterns, options.mode, options.max_age, domain)?;
    let mut notes = Vec::new();
    let policy_lint = policy_lint::lint(policy.as_bytes());
    notes.extend(checked(domain, "policy", &policy_lint)?);

    // RFC 8461 §3.1: the id must change whenever the policy does; derived from the text, it
    // does, and the same text keeps the same id.
    let record = StsRecord::for_policy(&policy);
    let sts_record = record.to_string();
    notes.extend(checked(
        domain,
        "_mta-sts record",
        &sts_record::lint(&sts_record),
    )?);

    let tlsrpt_record = tlsrpt_text(&options.rua)?;
    if let Some(text) = &tlsrpt_record {
        notes.extend(checked(
            domain,
            "_smtp._tls record",
            &tlsrpt_record::lint(text),
        )?);
    }
    let zone = zone_snippet(domain, &sts_record, tlsrpt_record.as_deref());
    Ok(Publication {
        id: content_id(&policy),
        policy,
        sts_record,
        tlsrpt_record,
        zone,
        domain: domain.to_string(),
        mode: options.mode,
        max_age: options.max_age,
        mx: mx
            .hosts
            .iter()
            .map(|(preference, host)| MxRecord {
                preference: *preference,
                host: host.clone(),
            })
            .collect(),
        patterns,
        notes,
    })
}

/// The policy file for `patterns`, in the RFC's field order with LF line ends.
pub(crate) fn policy_text(
    patterns: &[PolicyPattern],
    mode: Mode,
    max_age: u32,
    domain: &str,
) -> Result<String, PublishError> {
    let mx = patterns
        .iter()
        .map(|p| {
            MxPattern::parse(&p.pattern).map_err(|e| PublishError::LintRefused {
                domain: domain.to_string(),
                what: "policy",
                diagnostic: Box::new(e.diagnostic().clone()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        mode,
        max_age,
        mx,
        extensions: Vec::new(),
    }
    .to_string())
}

/// The `_smtp._tls` record for `rua`, or `None` without addresses (RFC 8460 §3: `rua` is
/// required, so no record is better than one without it).
fn tlsrpt_text(rua: &[String]) -> Result<Option<String>, PublishError> {
    if rua.is_empty() {
        return Ok(None);
    }
    for uri in rua {
        // RFC 8460 §3: addresses are separated by commas, so one cannot hold a comma or `;`.
        let single = format!("v=TLSRPTv1; rua={uri}");
        let lint = tlsrpt_record::lint(&single);
        if uri.contains([',', ';']) || uri.trim() != uri || uri.is_empty() {
            return Err(PublishError::InvalidRua {
                uri: uri.clone(),
                reason: "give one `mailto:` or `https:` address per --rua, without spaces, commas or semicolons".to_string(),
            });
        }
        if let Some(error) = lint.first_error() {
            return Err(PublishError::InvalidRua {
                uri: uri.clone(),
                reason: error.message.clone(),
            });
        }
    }
    Ok(Some(format!("v=TLSRPTv1; rua={}", rua.join(","))))
}

/// The linter's notes on `lint`, or the first error as a refusal.
fn checked<T>(
    domain: &str,
    what: &'static str,
    lint: &Lint<T>,
) -> Result<Vec<Diagnostic>, PublishError> {
    if let Some(error) = lint.first_error() {
        return Err(PublishError::LintRefused {
            domain: domain.to_string(),
            what,
            diagnostic: Box::new(error.clone()),
        });
    }
    Ok(lint
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Error)
        .cloned()
        .collect())
}

#[cfg(test)]
#[path = "publication/tests.rs"]
mod tests;
