//! What a report says about its sender, which reports are built, and how large one may be.

use mta_sts_core::domain;
use mta_sts_core::report::MAX_REPORT_SIZE;
use serde::Deserialize;

use super::suppression::SuppressionList;

/// The smallest `max_size` accepted: below this not even a report's fixed part (organisation,
/// period, contact, id) with one small policy fits.
pub const MIN_MAX_SIZE: usize = 1024;

/// How the day's reports are built. Every field has a default, so a configuration file (our TOML
/// or tlsrpt-reporter's `reportd.cfg`) sets only what it needs; [`build_day`](super::build_day)
/// refuses settings that would give invalid reports (no organisation, no contact).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BuildSettings {
    /// `organization-name` of every report (RFC 8460 §4.4: who produced the report);
    /// tlsrpt-reporter's `organization_name`. Required.
    pub organization_name: String,
    /// `contact-info` of every report (RFC 8460 §4.4: an email address or a URL to ask about the
    /// report); tlsrpt-reporter's `contact_info`. Required.
    pub contact_info: String,
    /// The submitter domain: the `sender` of the report file name (RFC 8460 §5.3.1) and, for
    /// mail, `TLS-Report-Submitter`. When unset, the domain of `contact_info`, as RFC 8460 §5.3.1
    /// defines it and tlsrpt-reporter derives it.
    pub submitter: Option<String>,
    /// Build a report only when at least one of its sessions failed (mox's default). Off by
    /// default: a receiving domain needs the successful sessions too, to see that moving its
    /// policy from `testing` to `enforce` is safe, and tlsrpt-reporter reports every day with
    /// traffic.
    pub only_with_failures: bool,
    /// Recipient domains and destinations never reported to.
    pub suppress: SuppressionList,
    /// The largest report JSON, in bytes, before it is split into several reports (each complete
    /// and valid, each with its own report-id); at most and by default
    /// [`MAX_REPORT_SIZE`] (16 MiB), the most a receiver running this toolkit reads. The gzip
    /// delivered is smaller still.
    pub max_size: Option<usize>,
}

/// Why [`BuildSettings`] cannot build reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildSettingsError {
    /// `organization_name` is empty; RFC 8460 §4.4 requires `organization-name`.
    #[error(
        "the organization name is empty; RFC 8460 reports must name who produced them (set organization_name)"
    )]
    OrganizationNameMissing,
    /// `contact_info` is empty; receivers would have no one to ask.
    #[error(
        "the contact information is empty; RFC 8460 reports must say whom to ask about them (set contact_info to an email address)"
    )]
    ContactInfoMissing,
    /// No submitter domain is set and `contact_info` is not an email address to take one from.
    #[error(
        "no submitter domain: contact_info `{contact_info}` is not an email address, so set submitter to the domain the reports come from"
    )]
    SubmitterMissing {
        /// The contact information that had no domain.
        contact_info: String,
    },
    /// The submitter domain is not a host name.
    #[error("the submitter `{submitter}` is not a domain: {problem}")]
    SubmitterInvalid {
        /// The submitter as configured (or taken from `contact_info`).
        submitter: String,
        /// Why it is not a domain.
        problem: String,
    },
    /// `max_size` is below [`MIN_MAX_SIZE`].
    #[error("max_size {max_size} is too small: reports need at least {MIN_MAX_SIZE} bytes")]
    MaxSizeTooSmall {
        /// The size configured.
        max_size: usize,
    },
    /// A suppression list entry is neither a domain, a `.domain`, an address nor a URI.
    #[error("suppression list line {line}: `{entry}` {problem}")]
    SuppressionEntry {
        /// The line, counted from 1 (the position in a configured list).
        line: usize,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Settings checked and resolved, as the builder uses them.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    /// The submitter domain, lowercase A-labels.
    pub submitter: String,
    /// The largest report JSON.
    pub max_size: usize,
}

impl BuildSettings {
    /// The submitter domain reports name: `submitter`, or the domain of `contact_info` (an
    /// email address, with or without `mailto:`), as lowercase A-labels.
    pub fn submitter_domain(&self) -> Result<String, BuildSettingsError> {
        let submitter = match &self.submitter {
            Some(submitter) if !submitter.trim().is_empty() => submitter.trim().to_owned(),
            _ => {
                let contact = self.contact_info.trim();
                let contact = contact
                    .get(..7)
                    .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
                    .map_or(contact, |_| &contact[7..]);
                match contact.rsplit_once('@') {
                    Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                        domain.to_owned()
                    }
                    _ => {
                        return Err(BuildSettingsError::SubmitterMissing {
                            contact_info: self.contact_info.clone(),
                        });
                    }
                }
            }
        };
        domain::normalize_mail_domain(&submitter).map_err(|error| {
            BuildSettingsError::SubmitterInvalid {
                submitter: submitter.clone(),
                problem: error.diagnostic().message.clone(),
            }
        })
    }

    /// Checks the settings and resolves the submitter and the size limit.
    pub(super) fn resolve(&self) -> Result<Resolved, BuildSettingsError> {
        if self.organization_name.trim().is_empty() {
            return Err(BuildSettingsError::OrganizationNameMissing);
        }
        if self.contact_info.trim().is_empty() {
            return Err(BuildSettingsError::ContactInfoMissing);
        }
        let submitter = self.submitter_domain()?;
        let max_size = match self.max_size {
            Some(max_size) if max_size < MIN_MAX_SIZE => {
                return Err(BuildSettingsError::MaxSizeTooSmall { max_size });
            }
            Some(max_size) => max_size.min(MAX_REPORT_SIZE),
            None => MAX_REPORT_SIZE,
        };
        Ok(Resolved {
            submitter,
            max_size,
        })
    }
}
