//! The suppression list: recipient domains and report destinations that never get a report
//! (mox and Stalwart have one; tlsrpt-reporter does not).
//!
//! One entry a line (or one per list item in a configuration file), `#` starts a comment:
//! - `example.com`: reports about this recipient domain;
//! - `.example.com`: reports about every subdomain of it (not the domain itself, as in Postfix
//!   tables);
//! - `mailto:tlsrpt@example.net` or `tlsrpt@example.net`: this destination, in every report
//!   (address compared without case, a `?query` ignored);
//! - `https://reports.example.net/tlsrpt`: this destination, compared exactly.
//!
//! A line that is none of these refuses the whole list: a suppression that silently did not
//! apply would send reports someone asked not to send.

use mta_sts_core::domain;
use mta_sts_core::tlsrpt_record::ReportUri;
use serde::Deserialize;

use super::settings::BuildSettingsError;

/// Recipient domains and destinations not reported to; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct SuppressionList {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Exactly this recipient domain.
    Domain(String),
    /// Every subdomain of this domain.
    Subdomains(String),
    /// A `mailto:` destination, by its address in lowercase.
    Address(String),
    /// An `https:` destination, exactly.
    Url(String),
}

impl SuppressionList {
    /// Reads a suppression list file: one entry a line, blank lines and `#` comments skipped.
    pub fn read(text: &str) -> Result<SuppressionList, BuildSettingsError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or_default().trim();
            if !entry.is_empty() {
                entries.push(read_entry(index + 1, entry)?);
            }
        }
        Ok(SuppressionList { entries })
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the entries of `other` (a file's entries to a configured list).
    pub fn extend(&mut self, other: SuppressionList) {
        self.entries.extend(other.entries);
    }

    /// Whether reports about `recipient_domain` (lowercase A-labels) are suppressed.
    pub fn suppresses_domain(&self, recipient_domain: &str) -> bool {
        self.entries.iter().any(|entry| match entry {
            Entry::Domain(domain) => recipient_domain == domain,
            Entry::Subdomains(parent) => recipient_domain
                .strip_suffix(parent.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            Entry::Address(_) | Entry::Url(_) => false,
        })
    }

    /// Whether reports are never sent to `destination`.
    pub fn suppresses_destination(&self, destination: &ReportUri) -> bool {
        self.entries.iter().any(|entry| match (entry, destination) {
            (Entry::Address(address), ReportUri::Mailto(uri)) => {
                mailto_address(uri).is_some_and(|a| a == *address)
            }
            (Entry::Url(url), ReportUri::Https(uri)) => uri == url,
            _ => false,
        })
    }
}

impl TryFrom<Vec<String>> for SuppressionList {
    type Error = BuildSettingsError;

    /// A configured list: each item one entry, numbered from 1 in errors.
    fn try_from(items: Vec<String>) -> Result<SuppressionList, BuildSettingsError> {
        let entries = items
            .iter()
            .enumerate()
            .map(|(index, item)| read_entry(index + 1, item.trim()))
            .collect::<Result<_, _>>()?;
        Ok(SuppressionList { entries })
    }
}

/// The address of a `mailto:` URI in lowercase, without a `?query`.
fn mailto_address(uri: &str) -> Option<String> {
    let scheme = uri.get(..7)?;
    if !scheme.eq_ignore_ascii_case("mailto:") {
        return None;
    }
    let address = uri[7..].split('?').next().unwrap_or_default();
    Some(address.to_lowercase())
}

fn read_entry(line: usize, entry: &str) -> Result<Entry, BuildSettingsError> {
    let refuse = |problem: &str| BuildSettingsError::SuppressionEntry {
        line,
        entry: entry.to_owned(),
        problem: problem.to_owned(),
    };
    if let Some(address) = mailto_address(entry) {
        return address_entry(&address).ok_or_else(|| refuse("is not a `mailto:` address"));
    }
    if entry
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        return if entry.len() > 8 && !entry.contains(char::is_whitespace) {
            Ok(Entry::Url(entry.to_owned()))
        } else {
            Err(refuse("is not an `https:` URL"))
        };
    }
    if entry.contains(':') {
        return Err(refuse(
            "has a scheme other than `mailto:` or `https:`, the only destinations of RFC 8460",
        ));
    }
    if entry.contains('@') {
        return address_entry(&entry.to_lowercase())
            .ok_or_else(|| refuse("is not an email address"));
    }
    let (subdomains, name) = match entry.strip_prefix('.') {
        Some(parent) => (true, parent),
        None => (false, entry),
    };
    let name = domain::normalize_mail_domain(name)
        .map_err(|error| refuse(&format!("is not a domain: {}", error.diagnostic().message)))?;
    Ok(if subdomains {
        Entry::Subdomains(name)
    } else {
        Entry::Domain(name)
    })
}

fn address_entry(address: &str) -> Option<Entry> {
    match address.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            Some(Entry::Address(address.to_owned()))
        }
        _ => None,
    }
}
