//! The sendmail transport with real programs in sendmail's place: `tee` takes the message as
//! sendmail would (standard input, local line ends), a script's exit status says what
//! sendmail's would (sysexits), `sleep` never finishes, and a missing program cannot start.

use mta_sts_core::Timestamp;
use mta_sts_core::time::UtcDate;
use mta_sts_store::sender_reports::OutboxReport;
use mta_sts_store::test_support::TempDir;
use mta_sts_tlsrpt::delivery::{
    Deliverer, DeliveryFailure, DeliverySettings, MailSettings, MailTransport, Permanence,
};

fn report() -> OutboxReport {
    OutboxReport {
        day: UtcDate::parse("2026-12-06").expect("day"),
        domain: "example.net".into(),
        tlsrpt_record: "v=TLSRPTv1; rua=mailto:reports@example.net".into(),
        report_id: "r-1".into(),
        organization_name: "Sender Test Org".into(),
        submitter: "sender.test".into(),
        file_name: "sender.test!example.net!1796515200!1796601599!r-1.json.gz".into(),
        gzip: vec![
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    }
}

fn deliverer(command: &str, timeout: u64) -> Deliverer {
    let mut by_domain = std::collections::BTreeMap::new();
    by_domain.insert("net".to_string(), "tlsrpt-net@sender.test".to_string());
    by_domain.insert(
        "example.net".to_string(),
        "tlsrpt-example@sender.test".to_string(),
    );
    Deliverer::new(&DeliverySettings {
        mail: MailSettings {
            from: Some("tlsrpt@sender.test".into()),
            from_by_domain: by_domain,
            transport: MailTransport::Sendmail,
            sendmail_command: command.into(),
            sendmail_timeout: timeout,
            relay: None,
        },
        ..DeliverySettings::default()
    })
    .expect("deliverer")
}

async fn attempt(command: &str, timeout: u64) -> Result<(), DeliveryFailure> {
    deliverer(command, timeout)
        .deliver(
            &report(),
            "mailto:reports@example.net",
            Timestamp::parse("2026-12-07T00:20:00Z").expect("time"),
        )
        .await
}

#[tokio::test]
async fn sendmail_gets_the_message_on_standard_input_with_local_line_ends() {
    let dir = TempDir::new("tlsrpt-sendmail");
    let file = dir.file("message.eml");
    attempt(&format!("tee {}", file.display()), 10)
        .await
        .expect("tee takes it");
    let message = std::fs::read_to_string(&file).expect("the message");
    assert!(!message.contains('\r'), "CRLF handed to sendmail");
    // The most specific per-domain sender wins (tlsrpt-reporter #42: several senders).
    assert!(
        message.starts_with("From: tlsrpt-example@sender.test\n"),
        "{message}"
    );
    assert!(message.contains("\nTo: reports@example.net\n"));
    assert!(message.contains("\nTLS-Report-Domain: example.net\n"));
    assert!(
        message.contains("filename=\"sender.test!example.net!1796515200!1796601599!r-1.json.gz\"")
    );
}

#[tokio::test]
async fn sendmails_exit_status_says_whether_to_retry() {
    let dir = TempDir::new("tlsrpt-sendmail-exit");
    let script = |name: &str, body: &str| {
        let path = dir.file(name);
        std::fs::write(&path, body).expect("write the script");
        format!("sh {}", path.display())
    };
    // EX_NOUSER: the address will not exist tomorrow either.
    let no_user = attempt(
        &script(
            "nouser.sh",
            "cat >/dev/null; echo 'no such user' >&2; exit 67\n",
        ),
        10,
    )
    .await
    .expect_err("refused");
    assert_eq!(no_user.permanence, Permanence::Permanent);
    assert!(
        no_user.message.contains("no such user"),
        "{}",
        no_user.message
    );
    // EX_TEMPFAIL: try again later.
    let tempfail = attempt(&script("tempfail.sh", "cat >/dev/null; exit 75\n"), 10)
        .await
        .expect_err("refused");
    assert_eq!(tempfail.permanence, Permanence::Temporary);
    assert!(tempfail.message.contains("75"), "{}", tempfail.message);
}

#[tokio::test]
async fn a_sendmail_that_hangs_is_stopped_and_a_missing_one_is_named() {
    let hung = attempt("sleep 30", 1).await.expect_err("stopped");
    assert_eq!(hung.permanence, Permanence::Temporary);
    assert!(
        hung.message.contains("within 1 seconds"),
        "{}",
        hung.message
    );
    let missing = attempt("/nonexistent/sendmail -i -t", 10)
        .await
        .expect_err("missing");
    assert_eq!(missing.permanence, Permanence::Temporary);
    assert!(
        missing.message.contains("/nonexistent/sendmail"),
        "{}",
        missing.message
    );
}

#[tokio::test]
async fn a_destination_that_is_neither_mail_nor_https_is_refused_for_good() {
    // tlsrpt-reporter #54: a rua without mailto: crashed it.
    let failure = deliverer("true", 10)
        .deliver(
            &report(),
            "reports@example.net",
            Timestamp::parse("2026-12-07T00:20:00Z").expect("time"),
        )
        .await
        .expect_err("refused");
    assert_eq!(failure.permanence, Permanence::Permanent);
}

#[test]
fn settings_that_cannot_work_are_named() {
    let refused = |settings: DeliverySettings| match Deliverer::new(&settings) {
        Err(mta_sts_tlsrpt::TlsRptError::DeliverySetting { key, .. }) => key,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let relay_without_host = DeliverySettings {
        mail: MailSettings {
            transport: MailTransport::Relay,
            ..MailSettings::default()
        },
        ..DeliverySettings::default()
    };
    assert_eq!(refused(relay_without_host), "mail.relay");
    let bad_from = DeliverySettings {
        mail: MailSettings {
            from: Some("not an address".into()),
            ..MailSettings::default()
        },
        ..DeliverySettings::default()
    };
    assert_eq!(refused(bad_from), "mail.from");
    let plain_to_the_world = DeliverySettings {
        mail: MailSettings {
            transport: MailTransport::Relay,
            relay: Some(mta_sts_tlsrpt::delivery::RelaySettings {
                host: "smtp.example.com".into(),
                port: 25,
                security: mta_sts_tlsrpt::delivery::RelaySecurity::None,
                username: None,
                password_file: None,
                password_env: None,
                ca_file: None,
                timeout: 30,
            }),
            ..MailSettings::default()
        },
        ..DeliverySettings::default()
    };
    assert_eq!(refused(plain_to_the_world), "mail.relay.security");
}
