//! The `mx` patterns of a policy, from a list of MX host names: one line per host, lowercase,
//! without the trailing dot, sorted and deduplicated; hosts under a known provider's suffix (see
//! [`crate::providers`]) or, when asked, hosts sharing a parent domain, collapsed into one `*.`
//! pattern.

use std::collections::BTreeMap;

use mta_sts_core::MxPattern;
use serde::Serialize;

use crate::PublishError;
use crate::providers::provider_of;

/// Why a pattern is in the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PatternReason {
    /// An MX host, named as it is.
    Host,
    /// The MX hosts are a provider's, under a suffix it may move them within.
    Provider {
        /// The provider's name.
        provider: &'static str,
    },
    /// `--wildcard`: several MX hosts share this parent domain.
    Wildcard,
}

/// One `mx` line of the policy and the MX hosts it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyPattern {
    /// The pattern as written in the policy (`mx.example.org`, `*.mail.protection.outlook.com`).
    pub pattern: String,
    /// The MX hosts it was made for, sorted.
    pub covers: Vec<String>,
    /// Why it has this shape.
    #[serde(flatten)]
    pub reason: PatternReason,
}

/// A host name as policies compare it: lowercase, without the trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// The patterns covering `hosts` (the MX hosts of `domain`), sorted by pattern.
///
/// A host that no sender could match (an address-shaped name, an invalid name, a `*`) is refused
/// with its reason rather than written into a policy our linter would flag.
pub fn mx_patterns(
    domain: &str,
    hosts: &[String],
    wildcard: bool,
) -> Result<Vec<PolicyPattern>, PublishError> {
    let mut exact: BTreeMap<String, ()> = BTreeMap::new();
    for host in hosts {
        let host = normalize_host(host);
        check_host(domain, &host)?;
        exact.insert(host, ());
    }
    // Pattern text → (hosts, reason); a BTreeMap keeps the output sorted and deduplicated.
    let mut out: BTreeMap<String, (Vec<String>, PatternReason)> = BTreeMap::new();
    let mut by_parent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for host in exact.into_keys() {
        if let Some(provider) = provider_of(&host) {
            let entry = out
                .entry(format!("*.{}", provider.suffix))
                .or_insert_with(|| {
                    (
                        Vec::new(),
                        PatternReason::Provider {
                            provider: provider.provider,
                        },
                    )
                });
            entry.0.push(host);
        } else if let (true, Some((_, parent))) = (wildcard, host.split_once('.')) {
            by_parent.entry(parent.to_string()).or_default().push(host);
        } else {
            out.insert(host.clone(), (vec![host], PatternReason::Host));
        }
    }
    for (parent, hosts) in by_parent {
        let pattern = format!("*.{parent}");
        // RFC 8461 §4.1: `*.parent` matches one label below `parent`. A lone host stays exact
        // (a wildcard for one host only widens the policy), and so do hosts whose parent would
        // make a pattern the linter flags (`*.com`, a single-label parent).
        if hosts.len() >= 2 && MxPattern::lint(&pattern).diagnostics.is_empty() {
            out.insert(pattern, (hosts, PatternReason::Wildcard));
        } else {
            for host in hosts {
                out.insert(host.clone(), (vec![host], PatternReason::Host));
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(pattern, (covers, reason))| PolicyPattern {
            pattern,
            covers,
            reason,
        })
        .collect())
}

/// Refuses a host no `mx` line can name.
fn check_host(domain: &str, host: &str) -> Result<(), PublishError> {
    let refuse = |reason: String| PublishError::InvalidMxHost {
        domain: domain.to_string(),
        host: host.to_string(),
        reason,
    };
    if host.contains('*') {
        return Err(refuse(
            "an MX host is a name, not a pattern; `*` has no place in it".to_string(),
        ));
    }
    let lint = MxPattern::lint(host);
    match lint.pattern {
        Some(pattern) if pattern.is_address_shaped() => Err(refuse(
            // RFC 8461 §4.1: patterns match MX host names; an address-shaped name matches no
            // certificate a sender accepts.
            "it is shaped like an IPv4 address, and senders match MX host names against certificates, never addresses".to_string(),
        )),
        Some(_) => Ok(()),
        None => Err(refuse(lint.diagnostics.first().map_or_else(
            || "it is not a valid host name".to_string(),
            |d| d.message.clone(),
        ))),
    }
}

#[cfg(test)]
#[path = "patterns/tests.rs"]
mod tests;
