use mta_sts_core::report::{
    AppliedPolicy, FailureDetail, PolicyResult, PolicyType, ResultType, Summary,
};
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::{CountBatch, DayCounts};
use mta_sts_store::test_support::TempDir;

use super::*;

fn day(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a day")
}

fn counts(domain: &str, successful: u64, failures: &[(ResultType, u64)]) -> SessionCounts {
    SessionCounts {
        domain: domain.into(),
        tlsrpt_record: format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"),
        result: PolicyResult {
            policy: AppliedPolicy {
                policy_type: PolicyType::NoPolicyFound,
                policy_string: Vec::new(),
                policy_domain: Some(domain.into()),
                mx_host: Vec::new(),
            },
            summary: Summary {
                total_successful_session_count: successful,
                total_failure_session_count: failures.iter().map(|(_, n)| n).sum(),
            },
            failure_details: failures
                .iter()
                .map(|(result_type, n)| FailureDetail {
                    result_type: result_type.clone(),
                    sending_mta_ip: None,
                    receiving_mx_hostname: Some(format!("mx.{domain}")),
                    receiving_mx_helo: None,
                    receiving_ip: None,
                    failed_session_count: *n,
                    additional_information: None,
                    failure_reason_code: None,
                })
                .collect(),
        },
    }
}

#[test]
fn a_day_adds_up_sessions_domains_and_failure_kinds() {
    let figures = DayFigures {
        day: day("2026-12-06"),
        datagrams: 20,
        malformed: 1,
        lost: 2,
    };
    let status = DayStatus::new(
        &figures,
        &[
            counts("a.example", 10, &[(ResultType::CertificateExpired, 2)]),
            counts(
                "a.example",
                1,
                &[
                    (ResultType::CertificateExpired, 1),
                    (ResultType::StarttlsNotSupported, 1),
                ],
            ),
            counts("b.example", 3, &[]),
        ],
        vec![
            DeliveryStatus {
                report_id: "r1".into(),
                domain: "a.example".into(),
                destination: "mailto:tlsrpt@a.example".into(),
                state: DeliveryState::Sent,
                attempts: 1,
                next_try_at: None,
                last_error: None,
                sent_at: Some(Timestamp::parse("2026-12-07T03:00:00Z").expect("a time")),
            },
            DeliveryStatus {
                report_id: "r2".into(),
                domain: "b.example".into(),
                destination: "https://reports.b.example/".into(),
                state: DeliveryState::GivenUp,
                attempts: 5,
                next_try_at: None,
                last_error: Some("the receiver answered 404 Not Found".into()),
                sent_at: None,
            },
        ],
        day("2026-12-07"),
    );
    assert!(!status.partial);
    assert_eq!(status.domains, 2);
    assert_eq!(status.successful_sessions, 14);
    assert_eq!(status.failed_sessions, 4);
    assert_eq!(status.failures["certificate-expired"], 3);
    assert_eq!(status.failures["starttls-not-supported"], 1);
    let text = Status {
        at: Timestamp::parse("2026-12-07T08:00:00Z").expect("a time"),
        store: "sqlite:/x".into(),
        days: vec![status],
    }
    .to_text();
    assert!(
        text.contains("2026-12-06: 20 datagram(s) received, 1 malformed, 2 lost"),
        "{text}"
    );
    assert!(text.contains("certificate-expired 3"), "{text}");
    assert!(text.contains("undercount"), "{text}");
    assert!(
        text.contains("1 delivery(ies) sent, 0 pending, 1 given up"),
        "{text}"
    );
    assert!(
        text.contains("was given up for https://reports.b.example/ after 5 attempts; last error: the receiver answered 404 Not Found."),
        "{text}"
    );
    assert!(
        text.contains("was sent to mailto:tlsrpt@a.example at 2026-12-07T03:00:00Z (1 attempt)."),
        "{text}"
    );
}

#[tokio::test]
async fn status_reads_what_the_store_holds() {
    let dir = TempDir::new("tlsrpt-status");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    let today = day("2026-12-07");
    store
        .add(&CountBatch {
            counts: vec![DayCounts {
                day: today,
                counts: counts("a.example", 5, &[(ResultType::ValidationFailure, 1)]),
            }],
            figures: vec![DayFigures {
                day: today,
                datagrams: 6,
                malformed: 0,
                lost: 0,
            }],
        })
        .await
        .expect("add");
    let now = Timestamp::parse("2026-12-07T12:00:00Z").expect("a time");
    let status = read(&store, &[today, day("2026-12-06")], now)
        .await
        .expect("status");
    assert_eq!(status.days.len(), 2);
    let first = &status.days[0];
    assert!(first.partial);
    assert_eq!(
        (
            first.datagrams,
            first.successful_sessions,
            first.failed_sessions
        ),
        (6, 5, 1)
    );
    let second = &status.days[1];
    assert_eq!((second.datagrams, second.domains), (0, 0));
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["days"][0]["failures"]["validation-failure"], 1);
}
