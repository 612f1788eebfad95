use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

const REPORT: &str = include_str!("../../tests/fixtures/mail.ru.json");

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A report mail whose attachment is `body` under the given headers.
fn mail(content_type: &str, encoding: &str, body: &str) -> Vec<u8> {
    format!(
        "From: reporter@sender.example\r\nTo: tlsrpt@example.com\r\n\
Subject: Report Domain: example.com Submitter: sender.example Report-ID: <1>\r\n\
TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: sender.example\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate TLS report.\r\n\
--b\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\
Content-Disposition: attachment; filename=\"sender.example!example.com!1!2.json.gz\"\r\n\r\n\
{body}\r\n--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn finds_the_gzip_part_of_real_mail() {
    for (raw, domain) in [
        (
            &include_bytes!("../../tests/fixtures/google-mox.eml")[..],
            "test.xmox.nl",
        ),
        (
            include_bytes!("../../tests/fixtures/microsoft-mox.eml"),
            "test.xmox.nl",
        ),
        (
            include_bytes!("../../tests/fixtures/google-parsedmarc.eml"),
            "cardinalhealth.ca",
        ),
        (
            include_bytes!("../../tests/fixtures/stalwart-rpt01.eml"),
            "example.net",
        ),
    ] {
        let found = report_attachments(raw).expect("a message");
        assert!(found.declares_tlsrpt);
        assert_eq!(found.report_domain.as_deref(), Some(domain));
        assert_eq!(found.attachments.len(), 1, "{found:?}");
        assert_eq!(found.attachments[0].kind, PayloadKind::Gzip);
        assert_eq!(found.attachments[0].media_type, "application/tlsrpt+gzip");
    }
}

#[test]
fn a_bare_tlsrpt_part_holding_json_is_found() {
    let found = report_attachments(include_bytes!("../../tests/fixtures/stalwart-rpt02.eml"))
        .expect("a message");
    assert_eq!(found.attachments.len(), 1);
    assert_eq!(found.attachments[0].kind, PayloadKind::Json);
    assert_eq!(found.attachments[0].media_type, "application/tlsrpt");
}

#[test]
fn variants_real_senders_use_are_detected_by_content() {
    let gz = base64(&gzip(REPORT.as_bytes()));
    for (content_type, encoding, body, kind) in [
        ("application/gzip", "base64", gz.clone(), PayloadKind::Gzip),
        (
            "application/octet-stream",
            "base64",
            gz.clone(),
            PayloadKind::Gzip,
        ),
        // A +gzip label on plain JSON.
        (
            "application/tlsrpt+gzip",
            "8bit",
            REPORT.to_string(),
            PayloadKind::Json,
        ),
        (
            "application/tlsrpt+json",
            "base64",
            base64(REPORT.as_bytes()),
            PayloadKind::Json,
        ),
    ] {
        let found = report_attachments(&mail(content_type, encoding, &body)).expect("a message");
        assert_eq!(found.attachments.len(), 1, "{content_type}");
        assert_eq!(found.attachments[0].kind, kind, "{content_type}");
        assert_eq!(
            found.attachments[0].file_name.as_deref(),
            Some("sender.example!example.com!1!2.json.gz")
        );
    }
}

#[test]
fn base64_with_stray_line_breaks_decodes() {
    let compressed = gzip(REPORT.as_bytes());
    let encoded = base64(&compressed);
    // Lines of odd lengths, some CRLF and some bare LF, and a blank line.
    let mut broken = String::new();
    for (index, piece) in encoded.as_bytes().chunks(37).enumerate() {
        broken.push_str(std::str::from_utf8(piece).expect("ascii"));
        broken.push_str(if index % 2 == 0 { "\r\n" } else { "\n" });
        if index == 3 {
            broken.push_str("\r\n");
        }
    }
    let found =
        report_attachments(&mail("application/tlsrpt+gzip", "base64", &broken)).expect("a message");
    assert_eq!(found.attachments.len(), 1);
    assert_eq!(found.attachments[0].bytes, compressed);
}

#[test]
fn a_forwarded_report_is_found_inside_message_rfc822() {
    let inner = String::from_utf8(mail("application/tlsrpt+json", "8bit", REPORT)).expect("utf-8");
    let outer = format!(
        "From: person@example.com\r\nTo: tlsrpt@example.com\r\nSubject: Fwd: report\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n\
--o\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--o\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--o--\r\n"
    );
    let found = report_attachments(outer.as_bytes()).expect("a message");
    assert_eq!(found.attachments.len(), 1);
    assert_eq!(found.attachments[0].kind, PayloadKind::Json);
    assert!(found.declares_tlsrpt);
}

#[test]
fn a_single_part_report_mail_is_found() {
    let raw = format!(
        "From: r@sender.example\r\nTo: t@example.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
Content-Type: application/tlsrpt+json\r\n\r\n{REPORT}"
    );
    let found = report_attachments(raw.as_bytes()).expect("a message");
    assert_eq!(found.attachments.len(), 1);
    assert!(found.declares_tlsrpt);
}

#[test]
fn mail_without_a_report_has_no_attachments() {
    let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello.\r\n";
    let found = report_attachments(raw).expect("a message");
    assert!(found.attachments.is_empty());
    assert!(!found.declares_tlsrpt);
}

#[test]
fn dmarc_report_mail_is_not_declared_tlsrpt() {
    for raw in [
        &include_bytes!("../../tests/fixtures/not-a-report-dmarc-google.eml")[..],
        include_bytes!("../../tests/fixtures/not-a-report-dmarc-mimecast.eml"),
    ] {
        let found = report_attachments(raw).expect("a message");
        assert!(!found.declares_tlsrpt);
        assert!(
            !found.attachments.is_empty(),
            "the XML is compressed: a candidate"
        );
    }
}

#[test]
fn refuses_what_is_not_a_message_or_too_large() {
    assert_eq!(report_attachments(b""), Err(MessageError::NotAMessage));
    let huge = vec![b'a'; MAX_MESSAGE_SIZE + 1];
    assert_eq!(report_attachments(&huge), Err(MessageError::TooLarge));
}
