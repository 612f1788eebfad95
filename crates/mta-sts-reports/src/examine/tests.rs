use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

const MAIL_RU: &[u8] = include_bytes!("../../tests/fixtures/mail.ru.json");

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn only(domains: &[&str]) -> DomainFilter {
    DomainFilter::from_names(domains.iter().copied()).expect("valid domains")
}

fn accepted(examined: Examined) -> AcceptedReport {
    match examined {
        Examined::Accepted(report) => *report,
        Examined::Rejected(outcome) => panic!("rejected: {outcome:?}"),
    }
}

fn rejected(examined: Examined) -> Outcome {
    match examined {
        Examined::Accepted(report) => panic!("accepted: {:?}", report.report.report_id),
        Examined::Rejected(outcome) => outcome,
    }
}

#[test]
fn every_real_report_is_accepted() {
    for (bytes, organization) in [
        (MAIL_RU, "Mail.ru"),
        (
            include_bytes!("../../tests/fixtures/mail.ru.json.gz"),
            "Mail.ru",
        ),
        (
            include_bytes!("../../tests/fixtures/rfc8460.json"),
            "Company-X",
        ),
        (
            include_bytes!("../../tests/fixtures/example-inc.json"),
            "Example Inc.",
        ),
        (
            include_bytes!("../../tests/fixtures/stalwart-rpt01.json"),
            "Company-X",
        ),
        (
            include_bytes!("../../tests/fixtures/stalwart-rpt02.json"),
            "Google Inc.",
        ),
    ] {
        let report = accepted(examine_report(bytes, &DomainFilter::Any, None));
        assert_eq!(report.report.organization_name, organization);
        assert!(serde_json::from_slice::<serde_json::Value>(&report.json).is_ok());
        // A gzip report is kept as it arrived; plain JSON is left to the store to compress.
        let arrived_gzip = bytes.starts_with(&[0x1f, 0x8b]);
        assert_eq!(report.gzip.as_deref(), arrived_gzip.then_some(bytes));
    }
}

#[test]
fn every_real_report_mail_gives_one_report() {
    for (raw, organization) in [
        (
            &include_bytes!("../../tests/fixtures/google-mox.eml")[..],
            "Google Inc.",
        ),
        (
            include_bytes!("../../tests/fixtures/microsoft-mox.eml"),
            "Microsoft Corporation",
        ),
        (
            include_bytes!("../../tests/fixtures/google-parsedmarc.eml"),
            "Google Inc.",
        ),
        (
            include_bytes!("../../tests/fixtures/stalwart-rpt01.eml"),
            "Company-X",
        ),
        (
            include_bytes!("../../tests/fixtures/stalwart-rpt02.eml"),
            "Google Inc.",
        ),
    ] {
        let mut examined = examine_message(raw, &DomainFilter::Any);
        assert_eq!(examined.len(), 1);
        let report = accepted(examined.remove(0));
        assert_eq!(report.report.organization_name, organization);
    }
}

#[test]
fn lint_findings_are_kept_beside_the_report() {
    // mail.ru leaves out policy-string and its summary disagrees with the details.
    let report = accepted(examine_report(MAIL_RU, &DomainFilter::Any, None));
    assert!(!report.findings.is_empty());
}

#[test]
fn a_report_for_another_domain_is_refused() {
    let outcome = rejected(examine_report(MAIL_RU, &only(&["example.org"]), None));
    assert_eq!(
        outcome,
        Outcome::RefusedDomain {
            organization: "Mail.ru".to_string(),
            report_id: "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru".to_string(),
            domains: vec!["example.com".to_string()],
        }
    );
    // Case and a trailing dot do not matter.
    accepted(examine_report(MAIL_RU, &only(&["EXAMPLE.com."]), None));
}

#[test]
fn a_report_naming_no_domain_takes_the_transport_domain() {
    // As Postfix's tlsrpt-reporter writes no-policy-found entries: without policy-domain.
    let bytes = br#"{"organization-name":"Postfix","date-range":{"start-datetime":"2026-12-01T00:00:00Z",
        "end-datetime":"2026-12-02T00:00:00Z"},"contact-info":"postmaster@sender.example",
        "report-id":"2026-12-01_example.org","policies":[{"policy":{"policy-type":"no-policy-found"},
        "summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]}"#;
    // With a list and nothing naming the domain, nothing shows it is ours.
    assert!(matches!(
        rejected(examine_report(bytes, &only(&["example.org"]), None)),
        Outcome::RefusedDomain { domains, .. } if domains.is_empty()
    ));
    let report = accepted(examine_report(
        bytes,
        &only(&["example.org"]),
        Some("Example.ORG"),
    ));
    for entry in &report.report.policies {
        assert_eq!(entry.policy.policy_domain.as_deref(), Some("example.org"));
    }
    assert!(matches!(
        rejected(examine_report(
            bytes,
            &only(&["example.org"]),
            Some("example.net")
        )),
        Outcome::RefusedDomain { .. }
    ));
    // Without a list it is kept, its domain still unknown.
    let report = accepted(examine_report(bytes, &DomainFilter::Any, None));
    assert!(
        report
            .report
            .policies
            .iter()
            .all(|p| p.policy.policy_domain.is_none())
    );
}

#[test]
fn what_is_not_a_report_is_said_so() {
    for bytes in [
        &b"hello"[..],
        b"",
        b"<feedback></feedback>",
        &gzip(b"<feedback/>"),
    ] {
        assert!(
            matches!(
                rejected(examine_report(bytes, &DomainFilter::Any, None)),
                Outcome::NotAReport { .. }
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn broken_reports_are_invalid_with_a_sentence() {
    let compressed = gzip(MAIL_RU);
    let truncated = &compressed[..compressed.len() / 2];
    let Outcome::Invalid { reason } = rejected(examine_report(truncated, &DomainFilter::Any, None))
    else {
        panic!("a truncated gzip is invalid");
    };
    assert!(reason.contains("does not decompress"), "{reason}");
    assert!(reason.ends_with('.'));

    for unreadable in [
        &br#"{"organization-name":"x","policies":[]}"#[..],
        // Stalwart's fixture leaves out total-failure-session-count.
        include_bytes!("../../tests/fixtures/stalwart-rpt03.json"),
    ] {
        assert!(matches!(
            rejected(examine_report(unreadable, &DomainFilter::Any, None)),
            Outcome::Invalid { .. }
        ));
    }
}

#[test]
fn a_gzip_bomb_is_refused_at_the_cap() {
    let bomb = gzip(&vec![b' '; report::MAX_REPORT_SIZE + 1024]);
    let Outcome::Invalid { reason } = rejected(examine_report(&bomb, &DomainFilter::Any, None))
    else {
        panic!("a bomb is invalid");
    };
    assert!(reason.contains("16 MiB"), "{reason}");
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let Outcome::Invalid { reason } =
        rejected(examine_report(deep.as_bytes(), &DomainFilter::Any, None))
    else {
        panic!("deep nesting is invalid");
    };
    assert!(reason.contains("deeper than 32"), "{reason}");
    // Brackets inside strings do not count.
    assert_eq!(
        too_deep(format!("[\"{}\"]", "[".repeat(100)).as_bytes()),
        None
    );
}

#[test]
fn dmarc_mail_is_not_a_report() {
    for raw in [
        &include_bytes!("../../tests/fixtures/not-a-report-dmarc-google.eml")[..],
        include_bytes!("../../tests/fixtures/not-a-report-dmarc-mimecast.eml"),
        b"From: a@example.com\r\nSubject: hi\r\n\r\nHello.\r\n",
    ] {
        for examined in examine_message(raw, &DomainFilter::Any) {
            assert!(matches!(rejected(examined), Outcome::NotAReport { .. }));
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn report(organization: &str, id: &str, domain: &str, ok: u32, failed: u32) -> String {
        serde_json::json!({
            "organization-name": organization,
            "date-range": {"start-datetime": "2026-12-01T00:00:00Z",
                           "end-datetime": "2026-12-01T23:59:59Z"},
            "contact-info": null,
            "report-id": id,
            "policies": [{
                "policy": {"policy-type": "sts", "policy-domain": domain},
                "summary": {"total-successful-session-count": ok,
                            "total-failure-session-count": failed}
            }]
        })
        .to_string()
    }

    proptest! {
        /// Compression never changes what is read or decided.
        #[test]
        fn gzip_changes_nothing(
            organization in "[A-Za-z .]{1,20}",
            id in "[a-z0-9+@.-]{1,30}",
            domain in prop::sample::select(vec!["example.com", "Example.COM.", "example.org"]),
            ok in any::<u32>(),
            failed in any::<u32>(),
        ) {
            let json = report(&organization, &id, domain, ok, failed);
            let filter = only(&["example.com"]);
            let plain = examine_report(json.as_bytes(), &filter, None);
            let gzipped = gzip(json.as_bytes());
            let mut compressed = examine_report(&gzipped, &filter, None);
            // Only the received gzip, kept for the store, tells them apart.
            if let Examined::Accepted(accepted) = &mut compressed {
                prop_assert_eq!(accepted.gzip.take(), Some(gzipped));
            }
            prop_assert_eq!(&plain, &compressed);
            // Kept exactly when the domain is ours, whatever its case or final dot.
            let ours = domain.trim_end_matches('.').eq_ignore_ascii_case("example.com");
            prop_assert_eq!(matches!(plain, Examined::Accepted(_)), ours);
        }

        /// A report inside a mail, however its part is labelled, is read as from a file.
        #[test]
        fn a_mail_gives_what_the_file_gives(
            label in prop::sample::select(vec![
                "application/tlsrpt+gzip", "application/gzip", "application/octet-stream",
                "application/tlsrpt", "application/tlsrpt+json",
            ]),
            compress in any::<bool>(),
            id in "[a-z0-9-]{1,20}",
        ) {
            let json = report("Org", &id, "example.com", 1, 0);
            let bytes = if compress { gzip(json.as_bytes()) } else { json.clone().into_bytes() };
            let mut raw = format!(
                "From: r@sender.example\r\nTo: t@example.com\r\nSubject: report\r\n\
                 MIME-Version: 1.0\r\nContent-Type: {label}\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n"
            )
            .into_bytes();
            raw.extend_from_slice(base64(&bytes).as_bytes());
            let from_mail = examine_message(&raw, &DomainFilter::Any);
            prop_assert_eq!(from_mail, vec![examine_report(&bytes, &DomainFilter::Any, None)]);
        }
    }

    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for (index, chunk) in bytes.chunks(3).enumerate() {
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
            // Lines of 76, as mail writes base64.
            if index % 19 == 18 {
                out.push_str("\r\n");
            }
        }
        out
    }
}
