//! Report mail end to end: reports put in the outbox, delivered by [`deliver_due`] through a
//! real Postfix on loopback (STARTTLS, Debian's `postfix` as the alerts' test harness starts
//! it) into a mailbox; the delivered message parsed back (mail-parser), its report read with
//! the core's reader, and its DKIM signature verified by dkimpy, an independent verifier; a
//! recipient the relay refuses (5xx) is given up at once, with the relay's sentence; a relay
//! whose certificate is not trusted gets nothing.

mod dkimpy;

use mail_parser::{MessageParser, MimeHeaders as _};
use mta_sts_alerts::postfix::{OWNER, Postfix};
use mta_sts_core::Timestamp;
use mta_sts_core::report::{
    self, AppliedPolicy, DateRange, FailureDetail, PolicyResult, PolicyType, Report, ResultType,
    Summary,
};
use mta_sts_core::time::UtcDate;
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::{DeliveryState, OutboxEntry, OutboxReport, SenderStore};
use mta_sts_store::test_support::TempDir;
use mta_sts_tlsrpt::delivery::{
    Deliverer, DeliveryOutcome, DeliverySettings, DkimSettings, MailSettings, MailTransport,
    RelaySecurity, RelaySettings, RetrySchedule, deliver_due,
};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");

fn day() -> UtcDate {
    UtcDate::parse("2026-12-06").expect("day")
}

/// A report as the builder makes them: one day, one sts policy with a failure.
fn report(domain: &str, id: &str) -> (Report, OutboxReport) {
    let report = Report {
        organization_name: "Sender Test Org".into(),
        date_range: DateRange {
            start: day().start(),
            end: day().last_second(),
        },
        contact_info: Some("mailto:postmaster@sender.test".into()),
        report_id: id.into(),
        policies: vec![PolicyResult {
            policy: AppliedPolicy {
                policy_type: PolicyType::Sts,
                policy_string: vec!["version: STSv1".into(), "mode: enforce".into()],
                policy_domain: Some(domain.into()),
                mx_host: vec![format!("mx.{domain}")],
            },
            summary: Summary {
                total_successful_session_count: 41,
                total_failure_session_count: 1,
            },
            failure_details: vec![FailureDetail {
                result_type: ResultType::CertificateExpired,
                sending_mta_ip: Some("192.0.2.10".into()),
                receiving_mx_hostname: Some(format!("mx.{domain}")),
                receiving_mx_helo: None,
                receiving_ip: Some("198.51.100.20".into()),
                failed_session_count: 1,
                additional_information: None,
                failure_reason_code: None,
            }],
        }],
    };
    let json = serde_json::to_vec(&report).expect("JSON");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &json).expect("gzip");
    let outbox = OutboxReport {
        day: day(),
        domain: domain.into(),
        tlsrpt_record: format!("v=TLSRPTv1; rua=mailto:{OWNER}"),
        report_id: id.into(),
        organization_name: "Sender Test Org".into(),
        submitter: "sender.test".into(),
        file_name: format!(
            "sender.test!{domain}!{}!{}!{id}.json.gz",
            day().start().unix_seconds(),
            day().last_second().unix_seconds()
        ),
        gzip: gzip.finish().expect("gzip"),
    };
    (report, outbox)
}

fn settings(postfix: &Postfix, key: &str, selector: &str) -> DeliverySettings {
    DeliverySettings {
        mail: MailSettings {
            from: Some("TLS reports <tlsrpt@sender.test>".into()),
            transport: MailTransport::Relay,
            relay: Some(RelaySettings {
                host: "localhost".into(),
                port: postfix.port(),
                security: RelaySecurity::Starttls,
                username: None,
                password_file: None,
                password_env: None,
                ca_file: Some(postfix.ca_file()),
                timeout: 20,
            }),
            ..MailSettings::default()
        },
        dkim: Some(DkimSettings {
            key_file: format!("{KEYS}/{key}").into(),
            selector: selector.into(),
            domain: None,
        }),
        retry: RetrySchedule::default(),
        ..DeliverySettings::default()
    }
}

async fn delivered_and_verified(key: &str, selector: &str, ed25519: bool) {
    let Some(python) = dkimpy::python(ed25519) else {
        return;
    };
    let Some(postfix) = Postfix::start() else {
        return;
    };
    let dir = TempDir::new("tlsrpt-deliver-mail");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open the store");
    let (sent_report, outbox) = report("example.net", "2026-12-06.example.net.1");
    let (_, refused) = report("example.org", "2026-12-06.example.org.1");
    let now = Timestamp::parse("2026-12-07T00:20:00Z").expect("time");
    store
        .enqueue(
            &[
                OutboxEntry {
                    report: outbox.clone(),
                    destinations: vec![format!("mailto:{OWNER}")],
                },
                // The relay takes mail for its own domain only: 554 for this one.
                OutboxEntry {
                    report: refused,
                    destinations: vec!["mailto:reports@elsewhere.test".into()],
                },
            ],
            now,
        )
        .await
        .expect("enqueue");
    let deliverer = Deliverer::new(&settings(&postfix, key, selector)).expect("deliverer");
    let signer = deliverer.signs().expect("a DKIM key");
    let events = deliver_due(&store, &deliverer, &RetrySchedule::default(), now, 10)
        .await
        .expect("a delivery round");
    assert_eq!(events.len(), 2, "{events:?}");
    let sent = events
        .iter()
        .find(|e| e.domain == "example.net")
        .expect("example.net's event");
    assert_eq!(sent.outcome, DeliveryOutcome::Sent, "{}", postfix.log());
    let given_up = events
        .iter()
        .find(|e| e.domain == "example.org")
        .expect("example.org's event");
    match &given_up.outcome {
        DeliveryOutcome::GivenUp { error } => {
            assert!(
                error.contains("elsewhere.test") || error.contains("554"),
                "{error}"
            )
        }
        other => panic!("a 5xx refusal is given up at once, not {other:?}"),
    }
    let statuses = store.day_deliveries(day()).await.expect("status");
    let states: Vec<(&str, DeliveryState)> = statuses
        .iter()
        .map(|s| (s.domain.as_str(), s.state))
        .collect();
    assert_eq!(
        states,
        [
            ("example.net", DeliveryState::Sent),
            ("example.org", DeliveryState::GivenUp)
        ]
    );
    // Nothing is due any more.
    let later = now.saturating_add(std::time::Duration::from_secs(86_400));
    assert!(
        deliver_due(&store, &deliverer, &RetrySchedule::default(), later, 10)
            .await
            .expect("round")
            .is_empty()
    );

    let messages = postfix.wait_for_messages(1).await;
    assert_eq!(messages.len(), 1);
    let wire = dkimpy::crlf(&messages[0]);
    let message = MessageParser::default()
        .parse(&wire)
        .expect("a parsable message");
    assert_eq!(
        message.subject(),
        Some(
            "Report Domain: example.net Submitter: sender.test Report-ID: <2026-12-06.example.net.1>"
        )
    );
    let content_type = message.content_type().expect("content type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("report"))
    );
    assert_eq!(content_type.attribute("report-type"), Some("tlsrpt"));
    for (name, value) in [
        ("TLS-Report-Domain", "example.net"),
        ("TLS-Report-Submitter", "sender.test"),
        ("TLS-Required", "No"),
        ("Auto-Submitted", "auto-generated"),
    ] {
        assert_eq!(
            message.header_raw(name).map(str::trim),
            Some(value),
            "{name}"
        );
    }
    let attachment = message.attachment(0).expect("the report part");
    assert_eq!(
        attachment.content_type().and_then(|t| t.subtype()),
        Some("tlsrpt+gzip")
    );
    assert_eq!(
        attachment.attachment_name(),
        Some(outbox.file_name.as_str())
    );
    let read = report::read(attachment.contents()).expect("the core reads the report");
    assert_eq!(read, sent_report);

    let verdict = dkimpy::verify(&python, &signer.record_name(), &signer.dns_record(), &wire);
    assert!(verdict.is_ok(), "dkimpy: {verdict:?}\n{}", messages[0]);
    // The same message changed after signing fails: the verifier is not a rubber stamp.
    let tampered = String::from_utf8_lossy(&wire)
        .replace("Report Domain: example.net", "Report Domain: example.com");
    assert!(
        dkimpy::verify(
            &python,
            &signer.record_name(),
            &signer.dns_record(),
            tampered.as_bytes()
        )
        .is_err()
    );
    // RFC 8460 §3: a key record without `s=tlsrpt` is refused by a strict verifier.
    let no_service = signer.dns_record().replace(" s=tlsrpt;", "");
    assert!(dkimpy::verify(&python, &signer.record_name(), &no_service, &wire).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_signed_report_is_delivered_by_postfix_and_verified_by_dkimpy() {
    delivered_and_verified("dkim-rsa-pkcs1.pem", "rsa2026", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_signed_report_is_delivered_by_postfix_and_verified_by_dkimpy() {
    delivered_and_verified("dkim-ed25519.pem", "ed2026", true).await;
}

/// A relay whose certificate is not trusted gets nothing: the attempt fails before a byte of
/// the report is sent, and is retried later (the trust may be fixed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_relay_gets_nothing_and_the_report_waits() {
    let Some(postfix) = Postfix::start() else {
        return;
    };
    let mut untrusted = settings(&postfix, "dkim-rsa-pkcs8.pem", "rsa2026");
    if let Some(relay) = untrusted.mail.relay.as_mut() {
        relay.ca_file = None;
    }
    let deliverer = Deliverer::new(&untrusted).expect("deliverer");
    let (_, outbox) = report("example.net", "2026-12-06.example.net.untrusted");
    let failure = deliverer
        .deliver(
            &outbox,
            &format!("mailto:{OWNER}"),
            Timestamp::parse("2026-12-07T00:20:00Z").expect("time"),
        )
        .await
        .expect_err("not trusted");
    assert_eq!(
        failure.permanence,
        mta_sts_tlsrpt::delivery::Permanence::Temporary,
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("localhost:"),
        "{}",
        failure.message
    );
    assert!(postfix.messages().is_empty());
}
