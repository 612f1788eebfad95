use mta_sts_core::report::{PolicyType, ResultType};
use mta_sts_store::reports::{StoredFailure, StoredPolicy};

use mta_sts_core::time::UtcDate;

use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a timestamp")
}

fn failures() -> Alert {
    Alert {
        domain: "example.com".into(),
        condition: Condition::Failures {
            failed_sessions: 31,
            reports: vec![FailedReport {
                organization: "Google LLC".into(),
                report_id: "2026-12-06Z_example.com".into(),
                start: at("2026-12-06T00:00:00Z"),
                end: at("2026-12-06T23:59:59Z"),
                received_at: at("2026-12-07T04:10:00Z"),
                source: "https".into(),
                policies: vec![StoredPolicy {
                    policy_type: PolicyType::Sts,
                    policy_domain: Some("example.com".into()),
                    successful: 1000,
                    failed: 31,
                    failures: vec![StoredFailure {
                        result_type: ResultType::CertificateHostMismatch,
                        count: 31,
                        receiving_mx_hostname: Some("mx2.example.com".into()),
                        sending_mta_ip: Some("192.0.2.1".into()),
                    }],
                }],
            }],
        },
        period: "2026-12-07".into(),
        raised_at: at("2026-12-07T04:11:00Z"),
    }
}

#[test]
fn the_webhook_body_has_the_documented_shape() {
    let body: serde_json::Value =
        serde_json::from_slice(&failures().to_json()).expect("the body is JSON");
    assert_eq!(body["version"], 1);
    assert_eq!(body["id"], "example.com/failures/2026-12-07");
    assert_eq!(body["domain"], "example.com");
    assert_eq!(body["condition"], "failures");
    assert_eq!(body["period"], "2026-12-07");
    assert_eq!(body["raised_at"], "2026-12-07T04:11:00Z");
    assert_eq!(
        body["summary"],
        "1 report from Google LLC counted 31 failed TLS sessions with example.com."
    );
    let details = &body["details"];
    assert_eq!(details["kind"], "failures");
    assert_eq!(details["failed_sessions"], 31);
    let failure = &details["reports"][0]["policies"][0]["failures"][0];
    assert_eq!(failure["result_type"], "certificate-host-mismatch");
    assert_eq!(failure["receiving_mx_hostname"], "mx2.example.com");
}

#[test]
fn the_mail_names_the_evidence_in_sentences() {
    let alert = failures();
    assert_eq!(
        alert.subject(),
        "[mta-sts] example.com: 31 failed TLS sessions reported"
    );
    let text = alert.text();
    assert!(
        text.contains("Google LLC (report 2026-12-06Z_example.com"),
        "{text}"
    );
    assert!(
        text.contains(
            "certificate-host-mismatch in 31 sessions to mx2.example.com from 192.0.2.1."
        ),
        "{text}"
    );
    assert!(!text.contains("Some("), "no debug output: {text}");
}

#[test]
fn each_silent_reporter_is_its_own_condition() {
    let silent = |organization: &str| Alert {
        domain: "example.com".into(),
        condition: Condition::SilentReporter {
            organization: organization.into(),
            last_day: UtcDate::parse("2026-12-01").expect("a date"),
            days_reported: 20,
            silent_days: 5,
        },
        period: "2026-12-01".into(),
        raised_at: at("2026-12-07T00:00:00Z"),
    };
    assert_ne!(
        silent("Google LLC").condition_key(),
        silent("Microsoft Corporation").condition_key()
    );
    let alert = silent("Google LLC");
    assert_eq!(
        alert.summary(),
        "Google LLC has sent no TLS report for example.com for 5 days (its last report covers \
         2026-12-01), after reporting regularly."
    );
    let body: serde_json::Value = serde_json::from_slice(&alert.to_json()).expect("JSON");
    assert_eq!(body["details"]["kind"], "silent-reporter");
    assert_eq!(body["details"]["organization"], "Google LLC");
}

#[test]
fn a_verdict_change_lists_what_does_not_hold() {
    let alert = Alert {
        domain: "example.com".into(),
        condition: Condition::VerdictChanged {
            previous: "testing, ready".into(),
            current: "testing, not ready".into(),
            reasons: vec!["Reports cover 5 of the last 14 days; 7 are needed.".into()],
        },
        period: "2026-12-07".into(),
        raised_at: at("2026-12-07T00:00:00Z"),
    };
    assert_eq!(alert.condition_key(), "verdict-changed");
    let text = alert.text();
    assert!(
        text.contains("- Reports cover 5 of the last 14 days"),
        "{text}"
    );
    assert!(text.contains("`mta-sts rollout example.com`"), "{text}");
}

#[test]
fn an_expiring_certificate_names_its_host_time_and_last_error() {
    let alert = Alert {
        domain: "example.com".into(),
        condition: Condition::CertificateExpiring {
            host: "mta-sts.example.com".into(),
            not_after: at("2026-12-20T00:00:00Z"),
            last_error: Some("the ACME server refused\nthe order".into()),
        },
        period: "2026-12-20T00:00:00Z".into(),
        raised_at: at("2026-12-17T00:00:00Z"),
    };
    assert_eq!(alert.condition_key(), "certificate-expiring");
    assert_eq!(
        alert.summary(),
        "The certificate of mta-sts.example.com expires at 2026-12-20T00:00:00Z and has not been \
         renewed."
    );
    assert!(
        alert.subject().contains("mta-sts.example.com"),
        "{}",
        alert.subject()
    );
    let text = alert.text();
    assert!(
        text.contains("The last renewal failed: the ACME server refused the order"),
        "{text}"
    );
    let body: serde_json::Value = serde_json::from_slice(&alert.to_json()).expect("JSON");
    assert_eq!(body["details"]["kind"], "certificate-expiring");
    assert_eq!(body["details"]["not_after"], "2026-12-20T00:00:00Z");
}

#[test]
fn line_breaks_from_a_report_cannot_add_headers_or_lines() {
    let mut alert = failures();
    let evil = "Evil\r\nBcc: victim@example.org";
    if let Condition::Failures { reports, .. } = &mut alert.condition {
        reports[0].organization = evil.into();
        reports[0].report_id = "id\nFAKE LINE".into();
    }
    assert!(!alert.summary().contains(['\r', '\n']));
    let text = alert.text();
    assert!(!text.lines().any(|line| line.starts_with("Bcc:")), "{text}");
    assert!(!text.lines().any(|line| line.starts_with("FAKE")), "{text}");
    let silent = Alert {
        condition: Condition::SilentReporter {
            organization: evil.into(),
            last_day: UtcDate::parse("2026-12-01").expect("a date"),
            days_reported: 9,
            silent_days: 4,
        },
        ..failures()
    };
    assert!(
        !silent.subject().contains(['\r', '\n']),
        "{}",
        silent.subject()
    );
    assert!(silent.subject().contains("Evil  Bcc: victim@example.org"));
}

fn monitor(state: MonitorState) -> Alert {
    Alert {
        domain: "example.com".into(),
        condition: Condition::Monitor {
            code: "cert-expiring-7d".into(),
            subject: "mx1.example.com".into(),
            state,
            message: "The certificate of mx1.example.com, an MX host of example.com, expires at \
                      2026-12-13T00:00:00Z, in 6 days."
                .into(),
        },
        period: "2026-12-07T10:00:00Z".into(),
        raised_at: at("2026-12-07T10:00:00Z"),
    }
}

#[test]
fn a_monitor_raise_and_its_clear_are_two_conditions() {
    let raised = monitor(MonitorState::Raised);
    let cleared = monitor(MonitorState::Cleared);
    assert_eq!(
        raised.condition_key(),
        "monitor:cert-expiring-7d:mx1.example.com:raised"
    );
    assert_eq!(
        cleared.condition_key(),
        "monitor:cert-expiring-7d:mx1.example.com:cleared"
    );
    assert_eq!(
        raised.id(),
        "example.com/monitor:cert-expiring-7d:mx1.example.com:raised/2026-12-07T10:00:00Z"
    );
    let body: serde_json::Value = serde_json::from_slice(&raised.to_json()).expect("JSON");
    assert_eq!(body["condition"], raised.condition_key());
    let details = &body["details"];
    assert_eq!(details["kind"], "monitor");
    assert_eq!(details["code"], "cert-expiring-7d");
    assert_eq!(details["subject"], "mx1.example.com");
    assert_eq!(details["state"], "raised");
    assert_eq!(body["summary"], details["message"]);
    let body: serde_json::Value = serde_json::from_slice(&cleared.to_json()).expect("JSON");
    assert_eq!(body["details"]["state"], "cleared");
}

#[test]
fn a_monitor_alert_reads_as_sentences() {
    let raised = monitor(MonitorState::Raised);
    assert_eq!(
        raised.subject(),
        "[mta-sts] example.com: monitor raised cert-expiring-7d (mx1.example.com)"
    );
    let text = raised.text();
    assert!(
        text.contains("expires at 2026-12-13T00:00:00Z, in 6 days."),
        "{text}"
    );
    assert!(text.contains("sends one more alert"), "{text}");
    let cleared = monitor(MonitorState::Cleared);
    assert!(
        cleared
            .subject()
            .ends_with("monitor cleared cert-expiring-7d (mx1.example.com)"),
        "{}",
        cleared.subject()
    );
    assert!(
        cleared.text().contains("no longer holds"),
        "{}",
        cleared.text()
    );
    // An event about the domain as a whole names no subject.
    let mut whole = monitor(MonitorState::Raised);
    if let Condition::Monitor { code, subject, .. } = &mut whole.condition {
        *code = "policy-changed-id-unchanged".into();
        subject.clear();
    }
    assert_eq!(
        whole.subject(),
        "[mta-sts] example.com: monitor raised policy-changed-id-unchanged"
    );
    // A message with a line break stays one line in the summary.
    if let Condition::Monitor { message, .. } = &mut whole.condition {
        *message = "one\nBcc: victim@example.org".into();
    }
    assert!(!whole.summary().contains('\n'));
}
