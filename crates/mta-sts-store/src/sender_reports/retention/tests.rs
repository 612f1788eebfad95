//! Retention on both backends (PostgreSQL through `MTA_STS_TEST_POSTGRES`; SKIPPED without it,
//! failing instead with `MTA_STS_REQUIRE_TOOLS=1`).

use mta_sts_core::SessionCounts;
use mta_sts_core::report::{
    AppliedPolicy, FailureDetail, PolicyResult, PolicyType, ResultType, Summary, Timestamp,
};

use super::*;
use crate::StoreUrl;
use crate::sender_reports::{
    CountBatch, DayCounts, DayFigures, DeliveryState, NextTry, OutboxEntry, OutboxReport,
};
use crate::test_support::{TempDir, TestDatabase};

fn day(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a date")
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_796_601_600 + seconds).expect("in range")
}

/// One count row (with one failure) and the collector's figures for `on`.
fn batch(on: UtcDate) -> CountBatch {
    CountBatch {
        counts: vec![DayCounts {
            day: on,
            counts: SessionCounts {
                domain: "a.example".into(),
                tlsrpt_record: "v=TLSRPTv1; rua=mailto:tlsrpt@a.example".into(),
                result: PolicyResult {
                    policy: AppliedPolicy {
                        policy_type: PolicyType::Sts,
                        policy_string: vec!["version: STSv1".into(), "mode: enforce".into()],
                        policy_domain: Some("a.example".into()),
                        mx_host: vec!["mx.a.example".into()],
                    },
                    summary: Summary {
                        total_successful_session_count: 5,
                        total_failure_session_count: 1,
                    },
                    failure_details: vec![FailureDetail {
                        result_type: ResultType::CertificateExpired,
                        sending_mta_ip: None,
                        receiving_mx_hostname: Some("mx.a.example".into()),
                        receiving_mx_helo: None,
                        receiving_ip: None,
                        failed_session_count: 1,
                        additional_information: None,
                        failure_reason_code: None,
                    }],
                },
            },
        }],
        figures: vec![DayFigures {
            day: on,
            datagrams: 6,
            malformed: 0,
            lost: 0,
        }],
    }
}

fn entry(on: UtcDate, id: &str, destinations: &[&str]) -> OutboxEntry {
    OutboxEntry {
        report: OutboxReport {
            day: on,
            domain: "a.example".into(),
            tlsrpt_record: "v=TLSRPTv1; rua=mailto:tlsrpt@a.example".into(),
            report_id: id.into(),
            organization_name: "Example Org".into(),
            submitter: "example.org".into(),
            file_name: format!("example.org!a.example!1!2!{id}.json.gz"),
            gzip: vec![0x1f, 0x8b, 1, 2, 3],
        },
        destinations: destinations.iter().map(|d| d.to_string()).collect(),
    }
}

const MAIL: &str = "mailto:tlsrpt@a.example";
const HTTPS: &str = "https://r.a.example/";

async fn old_days_go_and_pending_ones_stay(store: &SenderStore) {
    // Sent; pending; one sent and one given up; recent.
    let (sent, pending, ended, recent) = (
        day("2026-11-20"),
        day("2026-11-21"),
        day("2026-11-22"),
        day("2026-11-30"),
    );
    for on in [sent, pending, ended, recent] {
        store.add(&batch(on)).await.expect("add");
    }
    store
        .enqueue(
            &[
                entry(sent, "sent", &[MAIL]),
                entry(pending, "pending", &[MAIL]),
                entry(ended, "ended", &[MAIL, HTTPS]),
                entry(recent, "recent", &[MAIL]),
            ],
            at(0),
        )
        .await
        .expect("enqueue");
    store.mark_sent("sent", MAIL, at(1)).await.expect("sent");
    store.mark_sent("ended", MAIL, at(1)).await.expect("sent");
    store
        .mark_failed("ended", HTTPS, NextTry::GiveUp, "r.a.example answered 404")
        .await
        .expect("given up");
    store.mark_sent("recent", MAIL, at(1)).await.expect("sent");
    store
        .mark_failed("pending", MAIL, NextTry::At(at(3600)), "the relay said 451")
        .await
        .expect("retry");

    let before = day("2026-11-25");
    let pruned = store.prune_days(before).await.expect("prune");
    assert_eq!(
        pruned,
        Pruned {
            days: 2,
            counts: 2,
            reports: 2,
            kept_pending: vec![pending],
        }
    );
    assert_eq!(store.days().await.expect("days"), vec![pending, recent]);
    for gone in [sent, ended] {
        assert!(store.day_counts(gone).await.expect("counts").is_empty());
        assert_eq!(
            store.day_figures(gone).await.expect("figures"),
            DayFigures::zero(gone)
        );
        assert!(store.day_deliveries(gone).await.expect("status").is_empty());
    }
    // The pending day is whole: its counts, figures and delivery, still due at its time.
    for kept in [pending, recent] {
        assert_eq!(store.day_counts(kept).await.expect("counts").len(), 1);
        assert_eq!(store.day_figures(kept).await.expect("figures").datagrams, 6);
        assert_eq!(store.day_deliveries(kept).await.expect("status").len(), 1);
    }
    let due = store
        .claim_due(at(3600), at(3660), 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].report.report_id, "pending");

    // Again: nothing more while the delivery is pending; once it ends, the day goes.
    let again = store.prune_days(before).await.expect("prune again");
    assert_eq!((again.days, again.counts, again.reports), (0, 0, 0));
    assert_eq!(again.kept_pending, vec![pending]);
    store
        .mark_sent("pending", MAIL, at(3610))
        .await
        .expect("sent");
    assert_eq!(
        store.day_deliveries(pending).await.expect("status")[0].state,
        DeliveryState::Sent
    );
    let last = store.prune_days(before).await.expect("prune at last");
    assert_eq!(
        last,
        Pruned {
            days: 1,
            counts: 1,
            reports: 1,
            kept_pending: Vec::new(),
        }
    );
    assert_eq!(store.days().await.expect("days"), vec![recent]);
    // A day is kept up to `before` itself.
    assert_eq!(store.prune_days(recent).await.expect("prune").days, 0);
}

#[tokio::test]
async fn sqlite_prunes_old_days() {
    let dir = TempDir::new("sender-retention");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    old_days_go_and_pending_ones_stay(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_prunes_old_days() {
    let Some(database) = TestDatabase::create("postgres_sender_retention").await else {
        return;
    };
    let store = SenderStore::open(&database.store_url())
        .await
        .expect("open");
    old_days_go_and_pending_ones_stay(&store).await;
}
