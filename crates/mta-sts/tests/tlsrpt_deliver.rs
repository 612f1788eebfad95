//! Our sender's reports into our own receiver: a report put in the sender's outbox is POSTed
//! by `mta-sts-tlsrpt`'s delivery (RFC 8460 §5.4, `application/tlsrpt+gzip`) over HTTPS into a
//! real `mta-sts serve`, where it lands in the report store and the dashboard's API; a
//! destination that refuses (404) is given up at once, one that is down is retried with
//! backoff and then given up, each with its sentence in the outbox.

mod dashboard_fixture;
mod serve_harness;

use std::time::Duration;

use dashboard_fixture::{CLEAN, TOKEN, write_config};
use mta_sts_core::Timestamp;
use mta_sts_core::report::{
    AppliedPolicy, DateRange, FailureDetail, PolicyResult, PolicyType, Report, ResultType, Summary,
};
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::{DeliveryState, OutboxEntry, OutboxReport, SenderStore};
use mta_sts_tlsrpt::delivery::{
    Deliverer, DeliveryOutcome, DeliverySettings, HttpsSettings, RetrySchedule, deliver_due,
};
use serde_json::Value;
use serve_harness::{Server, TempDir, TestCa, path_arg, request};

fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    Timestamp::from_unix_seconds(i64::try_from(seconds).expect("seconds")).expect("now")
}

/// Yesterday's report for `domain` from our sender, and its outbox form.
fn outbox_report(domain: &str, id: &str) -> OutboxReport {
    let day = now().utc_date();
    let day =
        mta_sts_core::time::UtcDate::from_day_number(day.day_number() - 1).expect("yesterday");
    let report = Report {
        organization_name: "Sender Test Org".into(),
        date_range: DateRange {
            start: day.start(),
            end: day.last_second(),
        },
        contact_info: Some("mailto:postmaster@sender.test".into()),
        report_id: id.into(),
        policies: vec![PolicyResult {
            policy: AppliedPolicy {
                policy_type: PolicyType::Sts,
                policy_string: vec![
                    "version: STSv1".into(),
                    "mode: testing".into(),
                    format!("mx: mx.{domain}"),
                    "max_age: 86400".into(),
                ],
                policy_domain: Some(domain.into()),
                mx_host: vec![format!("mx.{domain}")],
            },
            summary: Summary {
                total_successful_session_count: 97,
                total_failure_session_count: 3,
            },
            failure_details: vec![FailureDetail {
                result_type: ResultType::CertificateHostMismatch,
                sending_mta_ip: Some("192.0.2.10".into()),
                receiving_mx_hostname: Some(format!("mx.{domain}")),
                receiving_mx_helo: None,
                receiving_ip: Some("198.51.100.20".into()),
                failed_session_count: 3,
                additional_information: None,
                failure_reason_code: None,
            }],
        }],
    };
    let json = serde_json::to_vec(&report).expect("JSON");
    OutboxReport {
        day,
        domain: domain.into(),
        tlsrpt_record: "v=TLSRPTv1; rua=https://localhost/tlsrpt".into(),
        report_id: id.into(),
        organization_name: "Sender Test Org".into(),
        submitter: "sender.test".into(),
        file_name: format!("sender.test!{domain}!{id}.json.gz"),
        gzip: serve_harness::gzip(&json),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_posted_by_our_sender_lands_in_our_dashboard() {
    let dir = TempDir::new("tlsrpt-deliver-https");
    let ca = TestCa::new(&dir);
    let reports_store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = write_config(&dir, &reports_store, true, "");
    let (cert, key) = (path_arg(&ca.cert), path_arg(&ca.key));
    let server = Server::start(&[
        "--config",
        &config,
        "--https",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
        "--listen",
        "127.0.0.1:0",
    ]);
    let https = server.https.expect("https listener");
    let http = server.http.expect("http listener");
    let intake = format!("https://localhost:{}/tlsrpt", https.port());
    // A port that was free a moment ago: nothing listens there.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        format!("https://localhost:{port}/tlsrpt")
    };
    let missing = format!("https://localhost:{}/no-such-path", https.port());

    let sender = SenderStore::open(&StoreUrl::Sqlite(dir.path("sender.db")))
        .await
        .expect("sender store");
    let report = outbox_report(CLEAN, "sender-test-https-1");
    let start = now();
    sender
        .enqueue(
            &[OutboxEntry {
                report: report.clone(),
                destinations: vec![intake.clone(), missing.clone(), down.clone()],
            }],
            start,
        )
        .await
        .expect("enqueue");
    let deliverer = Deliverer::new(&DeliverySettings {
        https: HttpsSettings {
            ca_file: Some(ca.cert.clone()),
            timeout: 10,
        },
        ..DeliverySettings::default()
    })
    .expect("deliverer");
    let schedule = RetrySchedule {
        max_attempts: 2,
        min_wait: 60,
        max_wait: 60,
    };

    let first = deliver_due(&sender, &deliverer, &schedule, start, 10)
        .await
        .expect("first round");
    let outcome = |events: &[mta_sts_tlsrpt::delivery::DeliveryEvent], destination: &str| {
        events
            .iter()
            .find(|e| e.destination == destination)
            .map(|e| e.outcome.clone())
            .unwrap_or_else(|| panic!("no attempt at {destination}: {events:?}"))
    };
    assert_eq!(outcome(&first, &intake), DeliveryOutcome::Sent);
    match outcome(&first, &missing) {
        DeliveryOutcome::GivenUp { error } => assert!(error.contains("404"), "{error}"),
        other => panic!("a 404 is given up at once, not {other:?}"),
    }
    let retry_at = match outcome(&first, &down) {
        DeliveryOutcome::Retry { next_try_at, error } => {
            assert!(error.contains("connecting"), "{error}");
            next_try_at
        }
        other => panic!("a receiver that is down is retried, not {other:?}"),
    };
    assert_eq!(retry_at, start.saturating_add(Duration::from_secs(60)));
    // Before its time nothing is due; at its time the second and last attempt gives up.
    assert!(
        deliver_due(
            &sender,
            &deliverer,
            &schedule,
            start.saturating_add(Duration::from_secs(30)),
            10
        )
        .await
        .expect("round")
        .is_empty()
    );
    let second = deliver_due(&sender, &deliverer, &schedule, retry_at, 10)
        .await
        .expect("second round");
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(matches!(
        outcome(&second, &down),
        DeliveryOutcome::GivenUp { .. }
    ));
    let states: Vec<(String, DeliveryState, u32)> = sender
        .day_deliveries(report.day)
        .await
        .expect("status")
        .into_iter()
        .map(|s| (s.destination, s.state, s.attempts))
        .collect();
    assert!(
        states.contains(&(intake.clone(), DeliveryState::Sent, 1)),
        "{states:?}"
    );
    assert!(
        states.contains(&(missing.clone(), DeliveryState::GivenUp, 1)),
        "{states:?}"
    );
    assert!(
        states.contains(&(down.clone(), DeliveryState::GivenUp, 2)),
        "{states:?}"
    );

    // The report is in our receiver's store and its dashboard's API, as we sent it.
    let bearer = format!("Bearer {TOKEN}");
    let answer = request(
        http,
        None,
        "GET",
        &format!("/api/v1/domains/{CLEAN}/reports"),
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("sender-test-https-1") && answer.body.contains("Sender Test Org"),
        "{}",
        answer.body
    );
    let listed: Value = serde_json::from_str(&answer.body).expect("JSON");
    assert!(listed.to_string().contains("sender-test-https-1"));
    // And `mta-sts reports list` of the receiver's store shows it, with its gzip as we sent it.
    let output = std::process::Command::new(serve_harness::BIN)
        .args(["reports", "list", "--json", "--store", &reports_store])
        .output()
        .expect("reports list");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let ids: Vec<&str> = listed["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .filter_map(|r| r["report_id"].as_str())
        .collect();
    assert_eq!(ids, ["sender-test-https-1"], "{listed}");
}
