//! The report attachments of one mail message (RFC 8460 §5.3).
//!
//! A conforming report mail is `multipart/report; report-type="tlsrpt"` with a human-readable part
//! and an `application/tlsrpt+gzip` (or `+json`) part. Real senders also use `application/gzip`,
//! `application/octet-stream`, zip archives, bare `application/tlsrpt`, a `+gzip` part holding
//! plain JSON, text parts, and forward reports inside `message/rfc822` parts; so every leaf part
//! is judged by its content ([`crate::payload::sniff`]), and a part labelled as a TLS-RPT report
//! is taken even when its content looks like nothing (the reader then says what is wrong).

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::payload::{self, PayloadKind};

/// The largest message taken: a report of [`mta_sts_core::report::MAX_REPORT_SIZE`] compressed,
/// in base64, with room for the rest of the message.
pub const MAX_MESSAGE_SIZE: usize = 32 * 1024 * 1024;

/// How deep `message/rfc822` parts are followed (a forwarded report is one level).
const MAX_NESTED_MESSAGES: usize = 3;

/// How many report attachments one message may carry; a real report mail has one.
pub const MAX_ATTACHMENTS: usize = 100;

/// What a message carries for the intake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailReports {
    /// The `TLS-Report-Domain` header (RFC 8460 §5.3): the policy domain the reports are about.
    pub report_domain: Option<String>,
    /// The `TLS-Report-Submitter` header (RFC 8460 §5.3): who sent them.
    pub submitter: Option<String>,
    /// Whether the message says it carries TLS-RPT reports: `multipart/report;
    /// report-type=tlsrpt`, a TLS-RPT header, or a part labelled `application/tlsrpt…`.
    pub declares_tlsrpt: bool,
    /// The parts that may hold a report, in message order.
    pub attachments: Vec<Attachment>,
    /// Attachments past [`MAX_ATTACHMENTS`], left out.
    pub attachments_left_out: usize,
}

/// One part that may hold a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The part's content, transfer decoding undone (still gzip or zip if it was).
    pub bytes: Vec<u8>,
    /// The part's media type as labelled, lowercase (`application/tlsrpt+gzip`).
    pub media_type: String,
    /// The attachment's file name, if it has one.
    pub file_name: Option<String>,
    /// What its content is.
    pub kind: PayloadKind,
}

/// Why a message gave nothing to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is larger than [`MAX_MESSAGE_SIZE`].
    #[error("the message is larger than {} MiB", MAX_MESSAGE_SIZE / (1024 * 1024))]
    TooLarge,
    /// The bytes are not a mail message at all.
    #[error("the input is not a mail message")]
    NotAMessage,
}

/// The report attachments of the RFC 5322 message `raw`, and its TLS-RPT headers.
pub fn report_attachments(raw: &[u8]) -> Result<MailReports, MessageError> {
    if raw.len() > MAX_MESSAGE_SIZE {
        return Err(MessageError::TooLarge);
    }
    let message = MessageParser::default()
        .parse(raw)
        .filter(|message| !message.headers().is_empty())
        .ok_or(MessageError::NotAMessage)?;
    let mut found = MailReports {
        report_domain: header_text(&message, "TLS-Report-Domain"),
        submitter: header_text(&message, "TLS-Report-Submitter"),
        ..MailReports::default()
    };
    found.declares_tlsrpt = found.report_domain.is_some() || found.submitter.is_some();
    collect(&message, 0, &mut found);
    Ok(found)
}

/// A header's value, trimmed, if present and not empty.
fn header_text(message: &Message<'_>, name: &str) -> Option<String> {
    message
        .header_raw(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

fn collect(message: &Message<'_>, depth: usize, found: &mut MailReports) {
    for part in &message.parts {
        let Some(content_type) = part.content_type() else {
            if let Some(kind) = report_kind(part.contents(), false) {
                push(found, part.contents(), String::new(), None, kind);
            }
            continue;
        };
        let main = content_type.c_type.to_ascii_lowercase();
        let sub = content_type
            .c_subtype
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // RFC 8460 §5.3: "multipart/report" with report-type "tlsrpt".
        if main == "multipart" && sub == "report" {
            if content_type
                .attribute("report-type")
                .is_some_and(|value| value.eq_ignore_ascii_case("tlsrpt"))
            {
                found.declares_tlsrpt = true;
            }
            continue;
        }
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Message(nested) => {
                if depth < MAX_NESTED_MESSAGES {
                    collect(nested, depth + 1, found);
                }
            }
            PartType::Text(_)
            | PartType::Html(_)
            | PartType::Binary(_)
            | PartType::InlineBinary(_) => {
                // RFC 8460 §5.3: application/tlsrpt+gzip or application/tlsrpt+json.
                let labelled = main == "application" && sub.starts_with("tlsrpt");
                if labelled {
                    found.declares_tlsrpt = true;
                }
                if let Some(kind) = report_kind(part.contents(), labelled) {
                    let name = part.attachment_name().map(str::to_string);
                    push(found, part.contents(), format!("{main}/{sub}"), name, kind);
                }
            }
        }
    }
}

/// What a part's content is, if it may be a report: JSON, gzip or zip by content, or anything
/// at all when the part is labelled as a TLS-RPT report.
fn report_kind(content: &[u8], labelled: bool) -> Option<PayloadKind> {
    let kind = payload::sniff(content);
    (kind.is_report() || labelled).then_some(kind)
}

fn push(
    found: &mut MailReports,
    content: &[u8],
    media_type: String,
    file_name: Option<String>,
    kind: PayloadKind,
) {
    if found.attachments.len() >= MAX_ATTACHMENTS {
        found.attachments_left_out += 1;
        return;
    }
    found.attachments.push(Attachment {
        bytes: content.to_vec(),
        media_type,
        file_name,
        kind,
    });
}

#[cfg(test)]
mod tests;
