//! The report mail (RFC 8460 §5.3): `multipart/report; report-type="tlsrpt"` with a short
//! text part and the gzip report as `application/tlsrpt+gzip`, named as §5.3.1 says.
//!
//! Written by hand, not with lettre's builder: its multipart kinds are a closed set without
//! `multipart/report`, its custom headers each need a type of their own, and DKIM wants the
//! exact bytes that are sent. The message is the same for the same report, destination and
//! time, and a retry differs only in its `Date` (boundary and Message-ID come from a hash of
//! the report-id and the destination), so a receiver can drop a duplicate by its Message-ID.

use lettre::Address;
use lettre::message::Mailbox;
use mta_sts_core::Timestamp;
use ring::digest::{SHA256, digest};

use super::OutboxReport;

/// The addresses of a `mailto:` rua (RFC 6068: `mailto:a@x,b@y?query`, percent-encoded).
pub fn mailto_addresses(uri: &str) -> Result<Vec<Address>, String> {
    let rest = uri
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map(|_| &uri[7..])
        .ok_or_else(|| format!("`{uri}` is not a mailto: URI"))?;
    let to = rest.split('?').next().unwrap_or_default();
    let mut addresses = Vec::new();
    for part in to.split(',').filter(|part| !part.is_empty()) {
        let decoded =
            percent_decode(part).ok_or_else(|| format!("`{uri}` has a broken %-escape"))?;
        let address = decoded
            .parse::<Address>()
            .map_err(|e| format!("`{decoded}` in `{uri}` is not a mail address: {e}"))?;
        addresses.push(address);
    }
    if addresses.is_empty() {
        return Err(format!("`{uri}` names no address"));
    }
    Ok(addresses)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The unsigned message, CRLF line ends, ready for DKIM and submission.
pub fn report_mail(
    report: &OutboxReport,
    from: &Mailbox,
    to: &[Address],
    now: Timestamp,
) -> Vec<u8> {
    let to_text: Vec<String> = to.iter().map(ToString::to_string).collect();
    // The report's texts come from a TLSRPT record, a datagram and the settings: in the
    // header they are kept to one line of visible ASCII, so nothing can add a header field.
    let domain = header_text(&report.domain);
    let submitter = header_text(&report.submitter);
    let report_id = header_text(&report.report_id);
    let file_name = header_text(&report.file_name).replace(['"', '\\'], "_");
    let tag = unique_tag(&report.report_id, &to_text.join(","));
    let boundary = format!("=_tlsrpt_{tag}");
    let mut mail = String::with_capacity(report.gzip.len() * 4 / 3 + 2048);
    let mut header = |name: &str, value: &str| {
        mail.push_str(name);
        mail.push_str(": ");
        mail.push_str(value);
        mail.push_str("\r\n");
    };
    header("From", &from.to_string());
    header("To", &to_text.join(", "));
    // RFC 8460 §5.3: "Subject: Report Domain: ... Submitter: ... Report-ID: <...>", folded at
    // its spaces so the line stays short.
    header(
        "Subject",
        &format!(
            "Report Domain: {}\r\n Submitter: {}\r\n Report-ID: <{}>",
            domain, submitter, report_id
        ),
    );
    header("Date", &rfc5322_date(now));
    header("Message-ID", &format!("<tlsrpt.{tag}@{submitter}>"));
    header("MIME-Version", "1.0");
    header(
        "Content-Type",
        &format!("multipart/report; report-type=\"tlsrpt\";\r\n boundary=\"{boundary}\""),
    );
    // RFC 8460 §5.3: the two report headers.
    header("TLS-Report-Domain", &domain);
    header("TLS-Report-Submitter", &submitter);
    // RFC 8689 §5: the report goes out even where TLS fails (the report may be about that);
    // RFC 8460 §5.3 asks for it.
    header("TLS-Required", "No");
    // RFC 3834 §5: machine-made, so nobody auto-replies; and the mark tlsrpt-reporter's #50
    // asked for so the reporting MTA can leave its own report mails out of its reports.
    header("Auto-Submitted", "auto-generated");
    mail.push_str("\r\nThis is a multipart message in MIME format (RFC 8460 TLS report).\r\n");
    mail.push_str(&format!("\r\n--{boundary}\r\n"));
    mail.push_str(
        "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
    );
    mail.push_str(&format!(
        "This is an aggregate TLS report (RFC 8460) from {} ({})\r\n\
         about the mail sent to {} on {} (UTC).\r\n\
         The report is attached as\r\n{}.\r\n",
        header_text(&report.organization_name),
        submitter,
        domain,
        report.day,
        file_name
    ));
    mail.push_str(&format!("\r\n--{boundary}\r\n"));
    mail.push_str("Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n");
    mail.push_str(&format!(
        "Content-Disposition: attachment;\r\n filename=\"{file_name}\"\r\n\r\n"
    ));
    let encoded = data_encoding::BASE64.encode(&report.gzip);
    for line in encoded.as_bytes().chunks(76) {
        mail.push_str(std::str::from_utf8(line).unwrap_or_default());
        mail.push_str("\r\n");
    }
    mail.push_str(&format!("\r\n--{boundary}--\r\n"));
    mail.into_bytes()
}

/// `text` as one header line: visible ASCII and spaces as they are, anything else `?`.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// 32 hex digits from the report-id and the destination: the boundary and the Message-ID.
fn unique_tag(report_id: &str, destination: &str) -> String {
    let hash = digest(&SHA256, format!("{report_id}\n{destination}").as_bytes());
    hash.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 5322 §3.3: `Mon, 07 Dec 2026 13:57:16 +0000`.
pub fn rfc5322_date(now: Timestamp) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // RFC 3339 text is `YYYY-MM-DDTHH:MM:SSZ`; its fields are read back by position.
    let text = now.to_string();
    let weekday = DAYS[now.day_number().rem_euclid(7) as usize];
    let month = text
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {} {month} {} {} +0000",
        text.get(8..10).unwrap_or("01"),
        text.get(0..4).unwrap_or("1970"),
        text.get(11..19).unwrap_or("00:00:00")
    )
}

#[cfg(test)]
mod tests;
