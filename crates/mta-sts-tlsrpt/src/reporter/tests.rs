//! The reporter over a real SQLite store, with real transports: mail through a sendmail
//! command (`tee`, which keeps the message in a file to read back), HTTPS to a closed port on
//! loopback (a refusal that is retried, then given up).

use std::sync::Arc;
use std::time::Duration;

use mta_sts_core::SessionCounts;
use mta_sts_core::report::{AppliedPolicy, PolicyResult, PolicyType, Summary};
use mta_sts_core::time::{ManualClock, SECONDS_PER_DAY};
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::{CountBatch, DayCounts, DayFigures, DeliveryState};
use mta_sts_store::test_support::TempDir;

use super::*;
use crate::delivery::{DeliverySettings, MailSettings, MailTransport};

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a time")
}

fn counts(domain: &str, record: &str) -> SessionCounts {
    SessionCounts {
        domain: domain.into(),
        tlsrpt_record: record.into(),
        result: PolicyResult {
            policy: AppliedPolicy {
                policy_type: PolicyType::Sts,
                policy_string: vec![
                    "version: STSv1".into(),
                    "mode: enforce".into(),
                    format!("mx: mx.{domain}"),
                    "max_age: 86400".into(),
                ],
                policy_domain: Some(domain.into()),
                mx_host: vec![format!("mx.{domain}")],
            },
            summary: Summary {
                total_successful_session_count: 7,
                total_failure_session_count: 0,
            },
            failure_details: Vec::new(),
        },
    }
}

struct Setup {
    dir: TempDir,
    store: SenderStore,
    clock: Arc<ManualClock>,
    metrics: Arc<ReporterMetrics>,
}

const DAY: &str = "2026-12-06";

async fn setup(records: &[(&str, &str)]) -> Setup {
    let dir = TempDir::new("tlsrpt-reporter");
    let url = StoreUrl::Sqlite(dir.file("sender.db"));
    setup_on(dir, &url, records).await
}

async fn setup_on(dir: TempDir, url: &StoreUrl, records: &[(&str, &str)]) -> Setup {
    let store = SenderStore::open(url).await.expect("open");
    let day = UtcDate::parse(DAY).expect("a day");
    store
        .add(&CountBatch {
            counts: records
                .iter()
                .map(|(domain, record)| DayCounts {
                    day,
                    counts: counts(domain, record),
                })
                .collect(),
            figures: vec![DayFigures {
                day,
                datagrams: 7,
                malformed: 0,
                lost: 0,
            }],
        })
        .await
        .expect("add");
    Setup {
        dir,
        store,
        clock: Arc::new(ManualClock::new(at("2026-12-06T12:00:00Z"))),
        metrics: Arc::new(ReporterMetrics::new()),
    }
}

fn reporter(setup: &Setup, retry: RetrySchedule) -> Reporter {
    let delivery = DeliverySettings {
        mail: MailSettings {
            from: Some("tlsrpt-noreply@sender.example".into()),
            transport: MailTransport::Sendmail,
            // Appending: a message sent twice would show twice.
            sendmail_command: format!("tee -a {}", setup.dir.file("mail.eml").display()),
            ..MailSettings::default()
        },
        retry,
        ..DeliverySettings::default()
    };
    Reporter::new(
        setup.store.clone(),
        BuildSettings {
            organization_name: "Sender Example".into(),
            contact_info: "tlsrpt@sender.example".into(),
            ..BuildSettings::default()
        },
        Deliverer::new(&delivery).expect("deliverer"),
        retry,
        ScheduleSettings {
            spread: Duration::from_secs(3600),
            catch_up_days: 3,
            keep_days: 10,
            settle: Duration::from_secs(60),
            poll_interval: Duration::from_secs(300),
        },
        setup.clock.clone(),
        setup.metrics.clone(),
    )
    .expect("reporter")
}

#[tokio::test]
async fn a_day_goes_out_once_within_its_spread_after_midnight() {
    let setup = setup(&[("a.example", "v=TLSRPTv1; rua=mailto:tlsrpt@a.example")]).await;
    let mut reporter = reporter(&setup, RetrySchedule::default());
    let day = UtcDate::parse(DAY).expect("a day");

    // During the day, and in the settling minute after midnight: nothing is built.
    let wake = reporter.round().await.expect("round");
    assert!(wake <= at("2026-12-06T12:05:00Z"));
    setup.clock.set(at("2026-12-07T00:00:30Z"));
    let wake = reporter.round().await.expect("round");
    assert_eq!(wake, at("2026-12-07T00:01:00Z"));
    assert!(
        setup
            .store
            .day_deliveries(day)
            .await
            .expect("read")
            .is_empty()
    );

    // Complete: the day is planned somewhere in the hour after 00:01; it is not built early,
    // and it is built and sent once its time has come.
    setup.clock.set(at("2026-12-07T00:01:00Z"));
    let wake = reporter.round().await.expect("round");
    assert!(wake <= at("2026-12-07T01:01:00Z"), "{wake}");
    setup.clock.set(at("2026-12-07T01:01:00Z"));
    reporter.round().await.expect("round");
    let deliveries = setup.store.day_deliveries(day).await.expect("read");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].state, DeliveryState::Sent);
    assert_eq!(deliveries[0].destination, "mailto:tlsrpt@a.example");
    let mail = std::fs::read_to_string(setup.dir.file("mail.eml")).expect("the mail");
    assert!(mail.contains("TLS-Report-Domain: a.example"), "{mail}");
    assert!(mail.contains("multipart/report"), "{mail}");

    // Later rounds send nothing more, even after a restart (a new reporter, same store).
    std::fs::remove_file(setup.dir.file("mail.eml")).expect("remove");
    setup.clock.set(at("2026-12-07T06:00:00Z"));
    reporter.round().await.expect("round");
    let mut restarted = self::reporter(&setup, RetrySchedule::default());
    restarted.round().await.expect("round");
    assert!(!setup.dir.file("mail.eml").exists());
    let text = setup.metrics.encode();
    assert!(
        text.contains("mta_sts_tlsrpt_reports_built_total 1"),
        "{text}"
    );
    assert!(
        text.contains("mta_sts_tlsrpt_deliveries_total{outcome=\"sent\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("mta_sts_tlsrpt_datagrams{day=\"yesterday\",kind=\"received\"} 7"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refusing_destination_is_retried_then_given_up_with_its_reason() {
    let record = closed_https_record();
    let setup = setup(&[("b.example", record.as_str())]).await;
    retried_then_given_up(&setup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_refusing_destination_is_retried_then_given_up() {
    let Some(database) = mta_sts_store::test_support::TestDatabase::create(
        "on_postgres_a_refusing_destination_is_retried_then_given_up",
    )
    .await
    else {
        return;
    };
    let record = closed_https_record();
    let setup = setup_on(
        TempDir::new("tlsrpt-reporter-pg"),
        &database.store_url(),
        &[("b.example", record.as_str())],
    )
    .await;
    retried_then_given_up(&setup).await;
}

/// Two reporters sharing one PostgreSQL store (a fleet), both at work when the day is due:
/// the report is built twice but enqueued once, and delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reporters_on_one_postgres_store_send_each_report_once() {
    let Some(database) = mta_sts_store::test_support::TestDatabase::create(
        "two_reporters_on_one_postgres_store_send_each_report_once",
    )
    .await
    else {
        return;
    };
    let setup = setup_on(
        TempDir::new("tlsrpt-reporter-fleet"),
        &database.store_url(),
        &[("a.example", "v=TLSRPTv1; rua=mailto:tlsrpt@a.example")],
    )
    .await;
    setup.clock.set(at("2026-12-07T02:00:00Z"));
    let mut first = reporter(&setup, RetrySchedule::default());
    let mut second = reporter(&setup, RetrySchedule::default());
    let (a, b) = tokio::join!(first.round(), second.round());
    a.expect("first round");
    b.expect("second round");
    let day = UtcDate::parse(DAY).expect("a day");
    let deliveries = setup.store.day_deliveries(day).await.expect("read");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].state, DeliveryState::Sent);
    assert_eq!(deliveries[0].attempts, 1);
    let mail = std::fs::read_to_string(setup.dir.file("mail.eml")).expect("the mail");
    assert_eq!(
        mail.matches("TLS-Report-Domain: a.example").count(),
        1,
        "{mail}"
    );
}

/// An `https` rua on a port nobody listens on: connections are refused, which may pass, so
/// it is retried.
fn closed_https_record() -> String {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    format!("v=TLSRPTv1; rua=https://127.0.0.1:{closed}/tlsrpt")
}

async fn retried_then_given_up(setup: &Setup) {
    // Retries due at once, so one call makes every attempt without waiting.
    let retry = RetrySchedule {
        max_attempts: 3,
        min_wait: 0,
        max_wait: 0,
    };
    let reporter = reporter(setup, retry);
    let day = UtcDate::parse(DAY).expect("a day");
    let now = day
        .start()
        .saturating_add(Duration::from_secs(SECONDS_PER_DAY.unsigned_abs() + 3600));
    let enqueued = reporter.enqueue_day(day, now).await.expect("enqueue");
    assert_eq!(
        (enqueued.enqueued.reports, enqueued.enqueued.deliveries),
        (1, 1)
    );
    let events = reporter.deliver_due(now).await.expect("deliver");
    let outcomes: Vec<&str> = events
        .iter()
        .map(|e| match e.outcome {
            DeliveryOutcome::Sent => "sent",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::GivenUp { .. } => "given-up",
        })
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "given-up"]);
    let deliveries = setup.store.day_deliveries(day).await.expect("read");
    assert_eq!(deliveries[0].state, DeliveryState::GivenUp);
    assert_eq!(deliveries[0].attempts, 3);
    let reason = deliveries[0].last_error.as_deref().unwrap_or_default();
    assert!(reason.contains("connecting to"), "{reason}");
    // Building the day again enqueues nothing: the given-up delivery stays given up.
    let again = reporter.enqueue_day(day, now).await.expect("enqueue");
    assert_eq!((again.enqueued.reports, again.enqueued.deliveries), (0, 0));
    assert!(reporter.deliver_due(now).await.expect("deliver").is_empty());
}

#[tokio::test]
async fn old_days_are_deleted_once_a_utc_day_after_the_round() {
    let setup = setup(&[("a.example", "v=TLSRPTv1; rua=mailto:tlsrpt@a.example")]).await;
    let add_old = |text: &'static str| {
        let store = setup.store.clone();
        async move {
            store
                .add(&CountBatch {
                    counts: vec![DayCounts {
                        day: UtcDate::parse(text).expect("a day"),
                        counts: counts("old.example", "v=TLSRPTv1; rua=mailto:r@old.example"),
                    }],
                    figures: Vec::new(),
                })
                .await
                .expect("add");
        }
    };
    let day = UtcDate::parse(DAY).expect("a day");
    add_old("2026-11-20").await;
    let mut reporter = reporter(&setup, RetrySchedule::default());

    // On 2026-12-07 with keep_days 10, the days from 2026-11-28 on stay.
    setup.clock.set(at("2026-12-07T00:30:00Z"));
    reporter.round().await.expect("round");
    assert_eq!(setup.store.days().await.expect("days"), vec![day]);
    let text = setup.metrics.encode();
    assert!(
        text.contains("mta_sts_tlsrpt_pruned_days_total 1"),
        "{text}"
    );
    assert!(
        text.contains("mta_sts_tlsrpt_prune_failures_total 0"),
        "{text}"
    );

    // Once a UTC day: an old day appearing later that day stays until the next day's round.
    add_old("2026-11-21").await;
    setup.clock.set(at("2026-12-07T23:00:00Z"));
    reporter.round().await.expect("round");
    assert_eq!(
        setup.store.days().await.expect("days"),
        vec![UtcDate::parse("2026-11-21").expect("a day"), day]
    );
    setup.clock.set(at("2026-12-08T00:00:30Z"));
    reporter.round().await.expect("round");
    assert_eq!(setup.store.days().await.expect("days"), vec![day]);
    assert!(
        setup
            .metrics
            .encode()
            .contains("mta_sts_tlsrpt_pruned_days_total 2")
    );
}
