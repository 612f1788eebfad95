//! Which policy domains are the owner's.
//!
//! TLS-RPT has no authorisation step: anyone can mail or post a report about any domain (RFC 8460
//! §7 leaves it to the receiver). A receiver keeps only the reports about its own domains.

use std::collections::BTreeSet;
use std::fmt;

use mta_sts_core::domain;

use crate::IntakeError;

/// The policy domains whose reports are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainFilter {
    /// Every domain: `mta-sts reports import` without `--domain` (a person importing files
    /// knows what they are).
    Any,
    /// Only these domains, as lowercase A-labels without a trailing dot.
    Only(BTreeSet<String>),
}

impl DomainFilter {
    /// The filter for the given domains as a person typed them (U-labels are converted,
    /// case and a trailing dot ignored); [`DomainFilter::Any`] when there are none.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, IntakeError> {
        let mut set = BTreeSet::new();
        for name in names {
            let normalized =
                domain::normalize_mail_domain(name).map_err(|error| IntakeError::Domain {
                    domain: name.to_string(),
                    reason: error.diagnostic().message.clone(),
                })?;
            set.insert(normalized);
        }
        Ok(if set.is_empty() {
            DomainFilter::Any
        } else {
            DomainFilter::Only(set)
        })
    }

    /// Whether reports about `domain` (already in [`comparable`] form) are kept.
    pub fn accepts(&self, domain: &str) -> bool {
        match self {
            DomainFilter::Any => true,
            DomainFilter::Only(domains) => domains.contains(domain),
        }
    }

    /// Whether every domain is accepted.
    pub fn is_any(&self) -> bool {
        matches!(self, DomainFilter::Any)
    }
}

impl fmt::Display for DomainFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainFilter::Any => f.write_str("every domain"),
            DomainFilter::Only(domains) => {
                let names: Vec<&str> = domains.iter().map(String::as_str).collect();
                f.write_str(&names.join(", "))
            }
        }
    }
}

/// A domain as a report or a header names it, in the form the filter compares: lowercase
/// A-labels without a trailing dot. Names that cannot be converted are kept lowercased, so they
/// are compared (and refused) as written.
pub fn comparable(name: &str) -> String {
    let trimmed = name.trim().trim_end_matches('.');
    if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        domain::to_a_labels(trimmed).unwrap_or_else(|| trimmed.to_lowercase())
    }
}

#[cfg(test)]
mod tests;
