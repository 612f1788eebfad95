use std::io::Read as _;

use mail_parser::{MessageParser, MimeHeaders as _};
use mta_sts_core::time::UtcDate;

use super::*;

fn report() -> OutboxReport {
    let json = br#"{"organization-name":"Example Org","date-range":{"start-datetime":"2026-12-06T00:00:00Z","end-datetime":"2026-12-06T23:59:59Z"},"report-id":"2026-12-06_example.net@example.org","policies":[]}"#;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, json).expect("gzip");
    OutboxReport {
        day: UtcDate::parse("2026-12-06").expect("day"),
        domain: "example.net".into(),
        tlsrpt_record: "v=TLSRPTv1; rua=mailto:reports@example.net".into(),
        report_id: "2026-12-06_example.net@example.org".into(),
        organization_name: "Example Org ™".into(),
        submitter: "example.org".into(),
        file_name: "example.org!example.net!1796515200!1796601599!1.json.gz".into(),
        gzip: gzip.finish().expect("gzip"),
    }
}

fn when() -> Timestamp {
    Timestamp::parse("2026-12-07T00:17:03Z").expect("time")
}

#[test]
fn the_mail_is_an_rfc_8460_report_a_parser_reads_back() {
    let report = report();
    let from: Mailbox = "TLS reports <tlsrpt@example.org>".parse().expect("from");
    let to = mailto_addresses("mailto:reports@example.net").expect("to");
    let bytes = report_mail(&report, &from, &to, when());
    let text = String::from_utf8(bytes.clone()).expect("ascii");
    assert!(text.split("\r\n").all(|line| line.len() <= 78), "{text}");
    assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
    let message = MessageParser::default().parse(&bytes).expect("parsed");
    assert_eq!(
        message.subject(),
        Some(
            "Report Domain: example.net Submitter: example.org Report-ID: <2026-12-06_example.net@example.org>"
        )
    );
    let content_type = message.content_type().expect("content type");
    assert_eq!(content_type.ctype(), "multipart");
    assert_eq!(content_type.subtype(), Some("report"));
    assert_eq!(content_type.attribute("report-type"), Some("tlsrpt"));
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|value| value.trim().to_string())
    };
    assert_eq!(header("TLS-Report-Domain").as_deref(), Some("example.net"));
    assert_eq!(
        header("TLS-Report-Submitter").as_deref(),
        Some("example.org")
    );
    assert_eq!(header("TLS-Required").as_deref(), Some("No"));
    assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-generated"));
    assert_eq!(
        header("Date").as_deref(),
        Some("Mon, 07 Dec 2026 00:17:03 +0000")
    );
    assert!(header("Message-ID").is_some_and(|id| id.ends_with("@example.org>")));
    assert_eq!(message.attachment_count(), 1);
    let attachment = message.attachment(0).expect("attachment");
    let attachment_type = attachment.content_type().expect("its type");
    assert_eq!(attachment_type.ctype(), "application");
    assert_eq!(attachment_type.subtype(), Some("tlsrpt+gzip"));
    assert_eq!(
        attachment.attachment_name(),
        Some(report.file_name.as_str())
    );
    assert_eq!(attachment.contents(), report.gzip.as_slice());
    let mut json = String::new();
    flate2::read::GzDecoder::new(attachment.contents())
        .read_to_string(&mut json)
        .expect("gunzip");
    assert!(json.contains("2026-12-06_example.net@example.org"));
    assert!(
        message
            .body_text(0)
            .is_some_and(|body| body.contains("Example Org ?"))
    );
}

#[test]
fn the_same_report_and_destination_give_the_same_message() {
    let from: Mailbox = "tlsrpt@example.org".parse().expect("from");
    let one = mailto_addresses("mailto:a@example.net").expect("to");
    let other = mailto_addresses("mailto:b@example.net").expect("to");
    let first = report_mail(&report(), &from, &one, when());
    assert_eq!(first, report_mail(&report(), &from, &one, when()));
    assert_ne!(first, report_mail(&report(), &from, &other, when()));
}

#[test]
fn mailto_uris_are_read_as_rfc_6068_writes_them() {
    let addresses = |uri: &str| {
        mailto_addresses(uri).map(|list| list.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(
        addresses("mailto:tlsrpt@example.net"),
        Ok(vec!["tlsrpt@example.net".to_string()])
    );
    assert_eq!(
        addresses("MAILTO:a%2Bb@example.net?subject=x"),
        Ok(vec!["a+b@example.net".to_string()])
    );
    assert_eq!(
        addresses("mailto:a@example.net,b@example.net"),
        Ok(vec![
            "a@example.net".to_string(),
            "b@example.net".to_string()
        ])
    );
    // tlsrpt-reporter #54: a rua without mailto: is an error with a sentence, not a crash.
    assert!(addresses("reports@example.net").is_err());
    assert!(addresses("mailto:").is_err());
    assert!(addresses("mailto:not an address").is_err());
    assert!(addresses("mailto:a%zz@example.net").is_err());
}

#[test]
fn dates_are_rfc_5322() {
    assert_eq!(
        rfc5322_date(Timestamp::UNIX_EPOCH),
        "Thu, 01 Jan 1970 00:00:00 +0000"
    );
    assert_eq!(
        rfc5322_date(Timestamp::parse("2024-02-29T23:59:59Z").expect("time")),
        "Thu, 29 Feb 2024 23:59:59 +0000"
    );
}

proptest::proptest! {
    /// Whatever the report's texts hold (they come from DNS, datagrams and settings), the
    /// message has exactly its own header fields, one line each, and parses back.
    #[test]
    fn no_report_text_can_add_a_header_field(
        domain in "\\PC{0,40}|[a-z.\r\n:]{0,40}",
        submitter in "\\PC{0,40}",
        report_id in "\\PC{0,60}|[a-z\r\n:\"<>]{0,40}",
        file_name in "\\PC{0,60}|[a-z!.\"\\\\\r\n]{0,40}",
        organization in "\\PC{0,60}",
    ) {
        let mut report = report();
        report.domain = domain;
        report.submitter = submitter;
        report.report_id = report_id;
        report.file_name = file_name;
        report.organization_name = organization;
        let from: Mailbox = "tlsrpt@example.org".parse().expect("from");
        let to = mailto_addresses("mailto:reports@example.net").expect("to");
        let bytes = report_mail(&report, &from, &to, when());
        let text = String::from_utf8(bytes.clone()).expect("ASCII");
        proptest::prop_assert!(text.is_ascii());
        proptest::prop_assert!(!text.replace("\r\n", "").contains(['\r', '\n']));
        let header = &text[..text.find("\r\n\r\n").expect("a header")];
        let names: Vec<&str> = header
            .split("\r\n")
            .filter(|line| !line.starts_with(' '))
            .filter_map(|line| line.split(':').next())
            .collect();
        proptest::prop_assert_eq!(
            names,
            [
                "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
                "TLS-Report-Domain", "TLS-Report-Submitter", "TLS-Required", "Auto-Submitted"
            ]
        );
        let message = MessageParser::default().parse(&bytes).expect("parsed");
        proptest::prop_assert_eq!(message.attachment_count(), 1);
        proptest::prop_assert_eq!(message.attachment(0).expect("report").contents(), report.gzip.as_slice());
    }
}
