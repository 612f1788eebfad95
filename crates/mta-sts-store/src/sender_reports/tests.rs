//! The sender store on both backends (PostgreSQL through `MTA_STS_TEST_POSTGRES`; SKIPPED
//! without it, failing instead with `MTA_STS_REQUIRE_TOOLS=1`).

use mta_sts_core::report::Summary;

use super::*;
use crate::test_support::{TempDir, TestDatabase};

fn day(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a date")
}

fn sts_policy(domain: &str) -> AppliedPolicy {
    AppliedPolicy {
        policy_type: PolicyType::Sts,
        policy_string: vec!["version: STSv1".into(), "mode: enforce".into()],
        policy_domain: Some(domain.into()),
        mx_host: vec![format!("mx.{domain}")],
    }
}

fn failure(result_type: ResultType, count: u64) -> FailureDetail {
    FailureDetail {
        result_type,
        sending_mta_ip: Some("192.0.2.1".into()),
        receiving_mx_hostname: Some("mx.a.example".into()),
        receiving_mx_helo: None,
        receiving_ip: Some("198.51.100.7".into()),
        failed_session_count: count,
        additional_information: None,
        failure_reason_code: Some("X509_V_ERR_CERT_HAS_EXPIRED".into()),
    }
}

fn counts(
    domain: &str,
    record: &str,
    policy: AppliedPolicy,
    successful: u64,
    failed: u64,
    failures: Vec<FailureDetail>,
) -> SessionCounts {
    SessionCounts {
        domain: domain.into(),
        tlsrpt_record: record.into(),
        result: PolicyResult {
            policy,
            summary: Summary {
                total_successful_session_count: successful,
                total_failure_session_count: failed,
            },
            failure_details: failures,
        },
    }
}

const RECORD: &str = "v=TLSRPTv1; rua=mailto:tlsrpt@a.example";

fn batch(on: UtcDate) -> CountBatch {
    CountBatch {
        counts: vec![
            DayCounts {
                day: on,
                counts: counts(
                    "a.example",
                    RECORD,
                    sts_policy("a.example"),
                    10,
                    2,
                    vec![
                        failure(ResultType::CertificateExpired, 2),
                        failure(ResultType::StarttlsNotSupported, 1),
                    ],
                ),
            },
            DayCounts {
                day: on,
                counts: counts(
                    "b.example",
                    "v=TLSRPTv1; rua=https://r.b.example/",
                    AppliedPolicy {
                        policy_type: PolicyType::NoPolicyFound,
                        policy_string: Vec::new(),
                        policy_domain: None,
                        mx_host: Vec::new(),
                    },
                    3,
                    0,
                    Vec::new(),
                ),
            },
        ],
        figures: vec![DayFigures {
            day: on,
            datagrams: 16,
            malformed: 1,
            lost: 0,
        }],
    }
}

async fn adding_adds_up(store: &SenderStore) {
    let today = day("2026-12-07");
    let yesterday = day("2026-12-06");
    assert_eq!(store.day_counts(today).await.expect("read"), Vec::new());
    assert_eq!(
        store.day_figures(today).await.expect("read"),
        DayFigures::zero(today)
    );
    store.add(&batch(today)).await.expect("add");
    store.add(&batch(today)).await.expect("add again");
    store.add(&batch(yesterday)).await.expect("add yesterday");
    store
        .add(&CountBatch::default())
        .await
        .expect("add nothing");

    let stored = store.day_counts(today).await.expect("read");
    assert_eq!(stored.len(), 2);
    let a = &stored[0];
    assert_eq!(a.domain, "a.example");
    assert_eq!(a.tlsrpt_record, RECORD);
    assert_eq!(a.result.policy, sts_policy("a.example"));
    assert_eq!(a.result.summary.total_successful_session_count, 20);
    assert_eq!(a.result.summary.total_failure_session_count, 4);
    let mut kinds: Vec<(String, u64)> = a
        .result
        .failure_details
        .iter()
        .map(|f| (f.result_type.to_string(), f.failed_session_count))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("certificate-expired".to_string(), 4),
            ("starttls-not-supported".to_string(), 2)
        ]
    );
    assert_eq!(
        a.result.failure_details[0].failure_reason_code.as_deref(),
        Some("X509_V_ERR_CERT_HAS_EXPIRED")
    );
    let b = &stored[1];
    assert_eq!(b.domain, "b.example");
    assert_eq!(b.result.policy.policy_type, PolicyType::NoPolicyFound);
    assert_eq!(b.result.policy.policy_domain, None);
    assert_eq!(b.result.summary.total_successful_session_count, 6);
    assert!(b.result.failure_details.is_empty());

    assert_eq!(
        store.day_figures(today).await.expect("figures"),
        DayFigures {
            day: today,
            datagrams: 32,
            malformed: 2,
            lost: 0
        }
    );
    assert_eq!(store.day_counts(yesterday).await.expect("read").len(), 2);
    assert_eq!(store.days().await.expect("days"), vec![yesterday, today]);
}

/// A policy string far past PostgreSQL's index entry limit (about 2.7 kB): the key is a hash.
async fn long_policies_are_kept(store: &SenderStore) {
    let on = day("2026-12-05");
    let mut policy = sts_policy("long.example");
    policy.policy_string = (0..200)
        .map(|i| format!("mx: mx{i}.long.example"))
        .collect();
    let batch = CountBatch {
        counts: vec![DayCounts {
            day: on,
            counts: counts("long.example", RECORD, policy.clone(), 1, 0, Vec::new()),
        }],
        figures: Vec::new(),
    };
    store.add(&batch).await.expect("add a long policy");
    store.add(&batch).await.expect("add it again");
    let stored = store.day_counts(on).await.expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].result.policy, policy);
    assert_eq!(stored[0].result.summary.total_successful_session_count, 2);
}

#[tokio::test]
async fn sqlite_adds_up() {
    let dir = TempDir::new("sender-store");
    let url = StoreUrl::Sqlite(dir.file("sender.db"));
    let store = SenderStore::open(&url).await.expect("open");
    adding_adds_up(&store).await;
    long_policies_are_kept(&store).await;
    drop(store);
    // Reopened, everything is still there.
    let store = SenderStore::open(&url).await.expect("reopen");
    assert_eq!(store.days().await.expect("days").len(), 3);
}

#[tokio::test]
async fn a_report_store_file_is_not_taken_for_a_sender_store() {
    let dir = TempDir::new("sender-store-foreign");
    let url = StoreUrl::Sqlite(dir.file("reports.db"));
    crate::reports::ReportStore::open(&url)
        .await
        .expect("a report store");
    let error = SenderStore::open(&url).await.expect_err("refused");
    assert!(matches!(error, StoreError::NotOurs { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_adds_up() {
    let Some(database) = TestDatabase::create("postgres_adds_up").await else {
        return;
    };
    let store = SenderStore::open(&database.store_url())
        .await
        .expect("open");
    adding_adds_up(&store).await;
    long_policies_are_kept(&store).await;
}

/// Collectors of a fleet adding the same rows at once: every count is added, none deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_collectors_of_a_fleet_add_at_once() {
    let Some(database) = TestDatabase::create("postgres_collectors_of_a_fleet_add_at_once").await
    else {
        return;
    };
    let on = day("2026-12-07");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = SenderStore::open(&database.store_url())
            .await
            .expect("open");
        let batch = batch(on);
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                store.add(&batch).await.expect("add");
            }
        }));
    }
    for task in tasks {
        task.await.expect("collector task");
    }
    let store = SenderStore::open(&database.store_url())
        .await
        .expect("open");
    let stored = store.day_counts(on).await.expect("read");
    assert_eq!(stored[0].result.summary.total_successful_session_count, 400);
    assert_eq!(stored[0].result.summary.total_failure_session_count, 80);
    assert_eq!(store.day_figures(on).await.expect("figures").datagrams, 640);
}
