//! One report's bytes read, linted and judged against the owner's domains, without the store.
//!
//! Pure: [`examine_report`] and [`examine_message`] turn bytes into [`Examined`] values; the
//! [`crate::Intake`] stores the accepted ones and counts every outcome.

use mta_sts_core::report::Timestamp;
use mta_sts_core::report::{self, Report};
use mta_sts_core::{Diagnostic, Error as CoreError};
use mta_sts_core::{lint_text, report_lint};
use serde::Serialize;

use crate::domains::{self, DomainFilter};
use crate::message::{self, Attachment, MailReports};
use crate::payload::{self, PayloadKind};

/// How deep JSON may nest: a report nests five levels (report, policies, entry, failure-details,
/// detail), so this leaves room for senders' extensions while refusing inputs built to exhaust a
/// parser's stack.
pub const MAX_JSON_DEPTH: usize = 32;

/// What became of one report (or of an input that held none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Stored now.
    Imported {
        /// `organization-name`.
        organization: String,
        /// `report-id`.
        report_id: String,
        /// `date-range.start-datetime`.
        start: Timestamp,
        /// `date-range.end-datetime`.
        end: Timestamp,
    },
    /// Already stored: the same report (by content, or by organisation, report id and date range).
    Duplicate {
        /// `organization-name`.
        organization: String,
        /// `report-id`.
        report_id: String,
        /// `date-range.start-datetime`.
        start: Timestamp,
        /// `date-range.end-datetime`.
        end: Timestamp,
    },
    /// The input holds no TLS-RPT report (a mail without one, a DMARC report, text).
    NotAReport {
        /// Why, as a sentence.
        reason: String,
    },
    /// The input is a TLS-RPT report that cannot be read even tolerantly (broken gzip, missing
    /// fields, over a size or nesting limit).
    Invalid {
        /// Why, as a sentence.
        reason: String,
    },
    /// A readable report about domains that are not the owner's: not stored.
    RefusedDomain {
        /// `organization-name`.
        organization: String,
        /// `report-id`.
        report_id: String,
        /// The policy domains the report names (empty when it names none).
        domains: Vec<String>,
    },
}

impl Outcome {
    /// The outcome's name as `--json` and the metrics write it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Imported { .. } => "imported",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::NotAReport { .. } => "not-a-report",
            Outcome::Invalid { .. } => "invalid",
            Outcome::RefusedDomain { .. } => "refused-domain",
        }
    }

    /// Whether the report is now stored (taken now or before).
    pub fn is_taken(&self) -> bool {
        matches!(self, Outcome::Imported { .. } | Outcome::Duplicate { .. })
    }
}

/// A report read and accepted, ready for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedReport {
    /// The tolerant reading; a policy entry without `policy-domain` is given the domain the
    /// report is about, when that is known (see [`examine_report`]).
    pub report: Report,
    /// The report as received, decompressed.
    pub json: Vec<u8>,
    /// The gzip bytes it arrived as, when it arrived gzip-compressed: the store keeps them as
    /// they are instead of compressing `json` again.
    pub gzip: Option<Vec<u8>>,
    /// The lint's findings against it (RFC 8460 §4 departures).
    pub findings: Vec<Diagnostic>,
}

/// The judgement on one report before the store: accepted, or an outcome already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Examined {
    /// Readable and about the owner's domains: to be stored.
    Accepted(Box<AcceptedReport>),
    /// Not stored: not a report, invalid, or refused.
    Rejected(Outcome),
}

/// Reads one report (plain JSON, gzip or zip, detected by content) and judges it.
///
/// `report_domain` is what the transport says the report is about (a mail's `TLS-Report-Domain`
/// header). It matters when the report itself names no policy domain: Postfix's tlsrpt-reporter
/// leaves `policy-domain` out of `no-policy-found` entries. Such entries are taken to be about
/// the domain the rest of the report names, or else the transport's domain, and are filled in
/// with it. A report that names no domain at all and arrives without one is kept only when every
/// domain is accepted ([`DomainFilter::Any`]): with a list, nothing shows it is the owner's.
pub fn examine_report(
    bytes: &[u8],
    filter: &DomainFilter,
    report_domain: Option<&str>,
) -> Examined {
    let kind = payload::sniff(bytes);
    let unzipped;
    let bytes = match kind {
        PayloadKind::Zip => match payload::unzip_first(bytes) {
            Ok(entry) => {
                unzipped = entry;
                unzipped.as_slice()
            }
            Err(error) => return invalid(format!("The report cannot be read: {error}.")),
        },
        PayloadKind::Json | PayloadKind::Gzip => bytes,
        PayloadKind::Mbox | PayloadKind::Message | PayloadKind::Unknown => {
            return Examined::Rejected(Outcome::NotAReport {
                reason: "The input is not a TLS-RPT report: it is neither JSON nor gzip nor zip."
                    .to_string(),
            });
        }
    };
    let json = match report::decode(bytes) {
        Ok(json) => json,
        Err(error) => return refusal(&error),
    };
    if let Some(depth) = too_deep(&json) {
        return invalid(format!(
            "The report nests JSON deeper than {MAX_JSON_DEPTH} levels (at least {depth}); a \
             TLS-RPT report needs five, so it is refused."
        ));
    }
    let lint = report_lint::lint(&json);
    let Some(mut parsed) = lint.parsed else {
        return match lint.first_error() {
            Some(diagnostic) => refusal(&CoreError::InvalidReport(diagnostic.clone())),
            None => invalid("The report cannot be read.".to_string()),
        };
    };
    if let Some(count) = unstorable_count(&parsed) {
        return invalid(format!(
            "The report counts {count} sessions in one place, more than any store can keep \
             (2^63 - 1); it is refused."
        ));
    }
    let domains = policy_domains(&parsed);
    let inferred = match domains.as_slice() {
        [only] => Some(only.clone()),
        [] => report_domain.map(domains::comparable),
        _ => None,
    };
    let named: Vec<String> = if domains.is_empty() {
        inferred.iter().cloned().collect()
    } else {
        domains
    };
    let foreign: Vec<&String> = named.iter().filter(|d| !filter.accepts(d)).collect();
    if !foreign.is_empty() || (named.is_empty() && !filter.is_any()) {
        return Examined::Rejected(Outcome::RefusedDomain {
            organization: parsed.organization_name,
            report_id: parsed.report_id,
            domains: named,
        });
    }
    if let Some(domain) = inferred {
        for entry in &mut parsed.policies {
            if entry.policy.policy_domain.is_none() {
                entry.policy.policy_domain = Some(domain.clone());
            }
        }
    }
    Examined::Accepted(Box::new(AcceptedReport {
        report: parsed,
        json,
        // The decoder read these bytes whole, within the size cap, to exactly `json`.
        gzip: (kind == PayloadKind::Gzip).then(|| bytes.to_vec()),
        findings: lint.diagnostics,
    }))
}

/// Reads every report attachment of one mail message and judges each; a message without one
/// gives a single [`Outcome::NotAReport`].
pub fn examine_message(raw: &[u8], filter: &DomainFilter) -> Vec<Examined> {
    let mail = match message::report_attachments(raw) {
        Ok(mail) => mail,
        Err(error @ message::MessageError::TooLarge) => {
            return vec![invalid(format!("The message cannot be taken: {error}."))];
        }
        Err(error) => {
            return vec![Examined::Rejected(Outcome::NotAReport {
                reason: format!("The message cannot be read: {error}."),
            })];
        }
    };
    examine_mail_reports(&mail, filter)
}

/// [`examine_message`] for a message already taken apart.
pub fn examine_mail_reports(mail: &MailReports, filter: &DomainFilter) -> Vec<Examined> {
    if mail.attachments.is_empty() {
        let reason = if mail.declares_tlsrpt {
            "The message says it carries a TLS-RPT report, but no part holds JSON, gzip or zip."
        } else {
            "The message carries no TLS-RPT report: no part holds JSON, gzip or zip."
        };
        return vec![Examined::Rejected(Outcome::NotAReport {
            reason: reason.to_string(),
        })];
    }
    let mut examined: Vec<Examined> = mail
        .attachments
        .iter()
        .map(|attachment| examine_attachment(attachment, mail, filter))
        .collect();
    if mail.attachments_left_out > 0 {
        examined.push(invalid(format!(
            "The message has {} more report attachments than the {} taken from one message; \
             they were left out.",
            mail.attachments_left_out,
            message::MAX_ATTACHMENTS
        )));
    }
    examined
}

fn examine_attachment(
    attachment: &Attachment,
    mail: &MailReports,
    filter: &DomainFilter,
) -> Examined {
    let examined = examine_report(&attachment.bytes, filter, mail.report_domain.as_deref());
    let named = match &attachment.file_name {
        // The name comes from the sender: shown escaped, so control and invisible characters
        // cannot rewrite the line it is printed on.
        Some(name) => format!("The attachment “{}”", lint_text::escaped(name)),
        None => format!("The {} part", describe_media_type(&attachment.media_type)),
    };
    match examined {
        // An undeclared mail whose gzip or JSON part is not a report is some other mail (a DMARC
        // report is gzip too): not a report, rather than a broken one.
        Examined::Rejected(Outcome::Invalid { reason } | Outcome::NotAReport { reason })
            if !mail.declares_tlsrpt =>
        {
            Examined::Rejected(Outcome::NotAReport {
                reason: format!("{named} holds no TLS-RPT report. {reason}"),
            })
        }
        Examined::Rejected(Outcome::Invalid { reason } | Outcome::NotAReport { reason }) => {
            Examined::Rejected(Outcome::Invalid {
                reason: format!("{named} is not a readable TLS-RPT report. {reason}"),
            })
        }
        other => other,
    }
}

fn describe_media_type(media_type: &str) -> &str {
    if media_type.is_empty() {
        "untyped"
    } else {
        media_type
    }
}

/// A session count past `i64::MAX`, which neither SQLite nor PostgreSQL integers hold.
fn unstorable_count(report: &Report) -> Option<u64> {
    let limit = i64::MAX as u64;
    report.policies.iter().find_map(|entry| {
        let summary = &entry.summary;
        [
            summary.total_successful_session_count,
            summary.total_failure_session_count,
        ]
        .into_iter()
        .chain(entry.failure_details.iter().map(|d| d.failed_session_count))
        .find(|count| *count > limit)
    })
}

/// The distinct policy domains the report names, comparable, in order of first appearance.
pub fn policy_domains(report: &Report) -> Vec<String> {
    let mut domains: Vec<String> = Vec::new();
    for entry in &report.policies {
        if let Some(domain) = &entry.policy.policy_domain {
            let domain = domains::comparable(domain);
            if !domain.is_empty() && !domains.contains(&domain) {
                domains.push(domain);
            }
        }
    }
    domains
}

fn invalid(reason: String) -> Examined {
    Examined::Rejected(Outcome::Invalid { reason })
}

/// The outcome for a refusal of the core's reader: bytes that are not JSON are not a report;
/// anything else (broken gzip, too large, missing fields) is a broken report.
fn refusal(error: &CoreError) -> Examined {
    let diagnostic = error.diagnostic();
    let mut reason = sentence(&diagnostic.message);
    if let Some(hint) = &diagnostic.hint {
        reason.push(' ');
        reason.push_str(&sentence(hint));
    }
    if diagnostic.code == report_lint::ReportCode::NotJson.as_str() {
        Examined::Rejected(Outcome::NotAReport { reason })
    } else {
        invalid(reason)
    }
}

/// A diagnostic's message made a sentence: capitalised (unless it starts with a JSON path such
/// as `policies[1].policy`, which is written as it is), with a full stop.
fn sentence(text: &str) -> String {
    let first_word = text.split(' ').next().unwrap_or_default();
    let is_path = first_word.contains(['.', '[']);
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) if !is_path => first.to_uppercase().chain(chars).collect(),
        _ => text.to_string(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The nesting depth reached when it passes [`MAX_JSON_DEPTH`], or `None`. Brackets inside
/// strings are skipped; the text need not be valid JSON (the parser judges that).
fn too_deep(json: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Some(depth);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
