//! Mail alerts against Debian's Postfix on loopback: submitted with STARTTLS, delivered, read
//! back from the mailbox; an untrusted relay certificate and a refused recipient fail.

use std::sync::Arc;

use mta_sts_alerts::postfix::{OWNER, Postfix};
use mta_sts_alerts::{
    Alert, AlertError, Condition, DeliverySettings, Dispatcher, MailSecurity, MailSettings, Mailer,
    Queued, RetryPolicy,
};
use mta_sts_core::Timestamp;
use mta_sts_core::time::ManualClock;

fn alert() -> Alert {
    Alert {
        domain: "example.com".into(),
        condition: Condition::VerdictChanged {
            previous: "testing, not ready".into(),
            current: "testing, ready".into(),
            reasons: Vec::new(),
        },
        period: "2026-12-07".into(),
        raised_at: Timestamp::parse("2026-12-07T04:00:00Z").expect("time"),
    }
}

fn settings(postfix: &Postfix, to: &str, trust: bool) -> MailSettings {
    MailSettings {
        relay: "localhost".into(),
        port: postfix.port(),
        security: MailSecurity::Starttls,
        from: "MTA-STS <mta-sts@example.com>".into(),
        to: vec![to.to_string()],
        username: None,
        password_file: None,
        password_env: None,
        ca_file: trust.then(|| postfix.ca_file()),
        timeout: 20,
        retry: RetryPolicy {
            attempts: 3,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
        },
    }
}

#[tokio::test]
async fn an_alert_is_submitted_with_starttls_and_delivered() {
    let Some(postfix) = Postfix::start() else {
        return;
    };
    let delivery = DeliverySettings {
        queue: 8,
        webhook: None,
        mail: Some(settings(&postfix, OWNER, true)),
    };
    let clock = Arc::new(ManualClock::new(
        Timestamp::parse("2026-12-07T04:00:00Z").expect("time"),
    ));
    let dispatcher = Dispatcher::start(&delivery, clock).expect("the dispatcher starts");
    let sent = alert();
    assert_eq!(dispatcher.enqueue(sent.clone()), Queued::Queued);
    let messages = postfix.wait_for_messages(1).await;
    let message = &messages[0];
    assert!(
        message.contains(&format!("Subject: {}", sent.subject())),
        "{message}"
    );
    assert!(
        message.contains("From: MTA-STS <mta-sts@example.com>"),
        "{message}"
    );
    assert!(message.contains(&format!("To: {OWNER}")), "{message}");
    assert!(message.contains("Content-Type: text/plain"), "{message}");
    // Postfix notes the TLS the message came in over (smtpd_tls_received_header).
    assert!(message.contains("(using TLS"), "{message}");
    assert!(
        message.contains("The rollout advisor's verdict for example.com changed from"),
        "{message}"
    );
    assert!(postfix.log().contains("starttls=1"), "{}", postfix.log());
}

#[tokio::test]
async fn an_untrusted_relay_certificate_is_refused() {
    let Some(postfix) = Postfix::start() else {
        return;
    };
    let mailer = Mailer::new(&settings(&postfix, OWNER, false)).expect("a mailer");
    let error = mailer.deliver(&alert()).await.expect_err("not trusted");
    assert!(matches!(&error, AlertError::Smtp { .. }), "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");
    assert!(postfix.messages().is_empty());
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_failure() {
    let Some(postfix) = Postfix::start() else {
        return;
    };
    let mailer =
        Mailer::new(&settings(&postfix, "someone@elsewhere.example", true)).expect("a mailer");
    let error = mailer
        .deliver(&alert())
        .await
        .expect_err("relaying is refused");
    assert!(error.is_permanent(), "{error}");
}

#[test]
fn unusable_mail_settings_are_refused_by_name() {
    let good = MailSettings {
        relay: "smtp.example.com".into(),
        port: 587,
        security: MailSecurity::Starttls,
        from: "mta-sts@example.com".into(),
        to: vec!["owner@example.com".into()],
        username: None,
        password_file: None,
        password_env: None,
        ca_file: None,
        timeout: 30,
        retry: RetryPolicy::default(),
    };
    Mailer::new(&good).expect("good settings");
    let key = |settings: MailSettings| match Mailer::new(&settings) {
        Err(AlertError::Setting { key, .. }) => key,
        Err(other) => panic!("expected a setting error, got {other}"),
        Ok(_) => panic!("expected a setting error"),
    };
    assert_eq!(
        key(MailSettings {
            from: "not an address".into(),
            ..good.clone()
        }),
        "alerts.mail.from"
    );
    assert_eq!(
        key(MailSettings {
            to: Vec::new(),
            ..good.clone()
        }),
        "alerts.mail.to"
    );
    assert_eq!(
        key(MailSettings {
            password_env: Some("MTA_STS_TEST_PASSWORD".into()),
            ..good.clone()
        }),
        "alerts.mail.username"
    );
    assert_eq!(
        key(MailSettings {
            timeout: 0,
            ..good.clone()
        }),
        "alerts.mail.timeout"
    );
    let unset = Mailer::new(&MailSettings {
        username: Some("mta-sts".into()),
        password_env: Some("MTA_STS_TEST_SURELY_UNSET_PASSWORD".into()),
        ..good
    });
    assert!(matches!(unset, Err(AlertError::MissingEnv { .. })));
}
