//! The aggregate on its own, and the collector over a real unix datagram socket into a real
//! SQLite store (and PostgreSQL, through `MTA_STS_TEST_POSTGRES`).

use std::os::unix::fs::PermissionsExt as _;

use mta_sts_core::report::{AppliedPolicy, FailureDetail, PolicyType, ResultType};
use mta_sts_core::time::{ManualClock, Timestamp, UtcDate};
use mta_sts_core::tlsrpt_datagram::{self, Datagram, DatagramPolicy};
use mta_sts_store::StoreUrl;
use mta_sts_store::test_support::{TempDir, TestDatabase};

use super::aggregate::{Added, Aggregate};
use super::*;

const RECORD: &str = "v=TLSRPTv1; rua=mailto:tlsrpt@a.example";

fn date(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a date")
}

fn datagram(domain: &str, failures: &[ResultType]) -> Datagram {
    Datagram {
        domain: domain.into(),
        tlsrpt_record: RECORD.into(),
        policies: vec![DatagramPolicy {
            policy: AppliedPolicy {
                policy_type: PolicyType::Sts,
                policy_string: vec!["version: STSv1".into(), "mode: enforce".into()],
                policy_domain: Some(domain.into()),
                mx_host: vec![format!("mx.{domain}")],
            },
            failed: !failures.is_empty(),
            failures: failures
                .iter()
                .map(|result_type| FailureDetail {
                    result_type: result_type.clone(),
                    sending_mta_ip: Some("192.0.2.1".into()),
                    receiving_mx_hostname: Some(format!("mx.{domain}")),
                    receiving_mx_helo: None,
                    receiving_ip: Some("198.51.100.1".into()),
                    failed_session_count: 1,
                    additional_information: None,
                    failure_reason_code: None,
                })
                .collect(),
        }],
        notes: Vec::new(),
    }
}

#[test]
fn the_aggregate_adds_up_per_day_and_failure() {
    let today = date("2026-12-07");
    let yesterday = date("2026-12-06");
    let mut aggregate = Aggregate::default();
    for _ in 0..3 {
        aggregate.add(today, datagram("a.example", &[]), 100);
    }
    aggregate.add(
        today,
        datagram("a.example", &[ResultType::CertificateExpired]),
        100,
    );
    aggregate.add(
        today,
        datagram("a.example", &[ResultType::CertificateExpired]),
        100,
    );
    aggregate.add(yesterday, datagram("a.example", &[]), 100);
    aggregate.malformed(today);
    // Two count rows (today, yesterday) and one failure row.
    assert_eq!(aggregate.keys(), 3);
    let batch = aggregate.to_batch();
    let mut counts = batch.counts.clone();
    counts.sort_by_key(|c| c.day);
    assert_eq!(counts.len(), 2);
    let today_counts = &counts[1].counts.result;
    assert_eq!(today_counts.summary.total_successful_session_count, 3);
    assert_eq!(today_counts.summary.total_failure_session_count, 2);
    assert_eq!(today_counts.failure_details.len(), 1);
    assert_eq!(today_counts.failure_details[0].failed_session_count, 2);
    assert_eq!(batch.figures.len(), 2);
    let today_figures = batch
        .figures
        .iter()
        .find(|f| f.day == today)
        .expect("today's figures");
    assert_eq!(
        (
            today_figures.datagrams,
            today_figures.malformed,
            today_figures.lost
        ),
        (6, 1, 0)
    );
}

#[test]
fn past_the_cap_a_datagram_is_lost_whole() {
    let day = date("2026-12-07");
    let mut aggregate = Aggregate::default();
    assert_eq!(
        aggregate.add(day, datagram("a.example", &[]), 2),
        Added::Counted
    );
    // Needs two new keys (count and failure) where one is left: lost whole.
    assert_eq!(
        aggregate.add(
            day,
            datagram("b.example", &[ResultType::StarttlsNotSupported]),
            2
        ),
        Added::Lost
    );
    // Known keys need no room: still counted at the cap.
    assert_eq!(
        aggregate.add(day, datagram("c.example", &[]), 2),
        Added::Counted
    );
    assert_eq!(
        aggregate.add(day, datagram("a.example", &[]), 2),
        Added::Counted
    );
    assert_eq!(aggregate.keys(), 2);
    let batch = aggregate.to_batch();
    assert_eq!(batch.counts.len(), 2);
    assert_eq!((batch.figures[0].datagrams, batch.figures[0].lost), (4, 1));
}

fn settings(dir: &TempDir) -> CollectSettings {
    CollectSettings {
        socket: dir.file("collectd.sock"),
        // No flush before the shutdown: what is stored then is exactly what was sent.
        flush_interval: Duration::from_secs(3600),
        shutdown_timeout: Duration::from_secs(30),
        ..CollectSettings::default()
    }
}

fn clock(at: &str) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::parse(at).expect("a time")))
}

/// Sends each datagram as libtlsrpt does: one `sendto` from an unbound socket.
fn send_all(path: &Path, datagrams: &[Vec<u8>]) {
    let sender = UnixDatagram::unbound().expect("a socket");
    for bytes in datagrams {
        sender.send_to(bytes, path).expect("send");
    }
}

async fn collect(url: StoreUrl, dir: &TempDir) {
    let store = SenderStore::open(&url).await.expect("open the store");
    let clock = clock("2026-12-07T10:00:00Z");
    let collector =
        Collector::bind(settings(dir), store.clone(), clock.clone()).expect("bind the socket");
    let path = collector.socket_path().to_path_buf();
    let counters = collector.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    let mut datagrams = Vec::new();
    for _ in 0..50 {
        datagrams.push(tlsrpt_datagram::write(&datagram("a.example", &[])).into_bytes());
    }
    for _ in 0..5 {
        datagrams.push(
            tlsrpt_datagram::write(&datagram("a.example", &[ResultType::CertificateExpired]))
                .into_bytes(),
        );
    }
    datagrams.push(b"not json".to_vec());
    datagrams.push(b"{\"d\":\"b.example\"}".to_vec());
    send_all(&path, &datagrams);
    stop.send(()).expect("stop");
    let figures = running.await.expect("the run task").expect("a clean run");
    assert_eq!(figures.datagrams, 57);
    assert_eq!(figures.malformed, 2);
    assert_eq!(figures.lost, 0);
    assert_eq!(counters.snapshot().datagrams, 57);
    // The socket file is removed at shutdown.
    assert!(!path.exists());

    let day = date("2026-12-07");
    let counts = store.day_counts(day).await.expect("read back");
    assert_eq!(counts.len(), 1);
    let result = &counts[0].result;
    assert_eq!(counts[0].domain, "a.example");
    assert_eq!(counts[0].tlsrpt_record, RECORD);
    assert_eq!(result.summary.total_successful_session_count, 50);
    assert_eq!(result.summary.total_failure_session_count, 5);
    assert_eq!(result.failure_details.len(), 1);
    assert_eq!(result.failure_details[0].failed_session_count, 5);
    let figures = store.day_figures(day).await.expect("figures");
    assert_eq!((figures.datagrams, figures.malformed), (57, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_over_the_socket_land_in_sqlite() {
    let dir = TempDir::new("collector-sqlite");
    collect(StoreUrl::Sqlite(dir.file("sender.db")), &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_over_the_socket_land_in_postgres() {
    let Some(database) = TestDatabase::create("datagrams_over_the_socket_land_in_postgres").await
    else {
        return;
    };
    let dir = TempDir::new("collector-postgres");
    collect(database.store_url(), &dir).await;
}

/// SQLite options whose writes fail fast while another connection holds the write lock.
fn impatient() -> mta_sts_store::StoreOptions {
    mta_sts_store::StoreOptions {
        sqlite: mta_sts_store::SqliteOptions {
            busy_timeout: Duration::from_millis(10),
            ..mta_sts_store::SqliteOptions::default()
        },
        ..mta_sts_store::StoreOptions::default()
    }
}

/// The store stuck (another connection holds SQLite's write lock): the first half of the room
/// goes to the flusher early, the second half fills, and what needs more is lost, counted as
/// such; once the store answers, everything counted is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_keys_datagrams_are_counted_as_lost() {
    let dir = TempDir::new("collector-lost");
    let path = dir.file("sender.db");
    let store = SenderStore::open_with(&StoreUrl::Sqlite(path.clone()), impatient())
        .await
        .expect("open");
    let settings = CollectSettings {
        max_keys: 10,
        ..settings(&dir)
    };
    let collector =
        Collector::bind(settings, store.clone(), clock("2026-12-07T23:00:00Z")).expect("bind");
    let socket = collector.socket_path().to_path_buf();
    let counters = collector.counters();
    let locker = rusqlite::Connection::open(&path).expect("a second connection");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    let datagrams: Vec<Vec<u8>> = (0..30)
        .map(|i| tlsrpt_datagram::write(&datagram(&format!("d{i}.example"), &[])).into_bytes())
        .collect();
    send_all(&socket, &datagrams);
    while counters.snapshot().datagrams < 30 {
        tokio::task::yield_now().await;
    }
    assert_eq!(counters.snapshot().held_keys, 10);
    stop.send(()).expect("stop");
    locker.execute_batch("ROLLBACK").expect("release the lock");
    let figures = running.await.expect("run task").expect("clean run");
    assert_eq!((figures.datagrams, figures.lost), (30, 20));
    let day = date("2026-12-07");
    assert_eq!(store.day_counts(day).await.expect("read").len(), 10);
    let stored = store.day_figures(day).await.expect("figures");
    assert_eq!((stored.datagrams, stored.lost), (30, 20));
}

#[tokio::test]
async fn the_socket_gets_its_mode_and_a_stale_one_is_replaced() {
    let dir = TempDir::new("collector-socket");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    let path = dir.file("collectd.sock");
    // A socket file nobody receives on any more.
    drop(UnixDatagram::bind(&path).expect("a stale socket"));
    let settings = CollectSettings {
        socket_mode: Some(0o620),
        ..settings(&dir)
    };
    let collector = Collector::bind(
        settings.clone(),
        store.clone(),
        clock("2026-12-07T10:00:00Z"),
    )
    .expect("the stale socket is replaced");
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o620);
    // A second collector on the same live socket is refused.
    let second = Collector::bind(settings, store, clock("2026-12-07T10:00:00Z"));
    assert!(
        matches!(second, Err(TlsRptError::Socket { .. })),
        "{second:?}"
    );
    drop(collector);
    // A file that is not a socket is never deleted.
    let file = dir.file("not-a-socket");
    std::fs::write(&file, b"keep me").expect("a file");
    let settings = CollectSettings {
        socket: file.clone(),
        ..CollectSettings::default()
    };
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    assert!(Collector::bind(settings, store, clock("2026-12-07T10:00:00Z")).is_err());
    assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
}

#[tokio::test]
async fn an_unknown_socket_owner_is_refused_with_a_sentence() {
    let dir = TempDir::new("collector-owner");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    let settings = CollectSettings {
        socket_group: Some("no-such-group-here".into()),
        ..settings(&dir)
    };
    let error =
        Collector::bind(settings, store, clock("2026-12-07T10:00:00Z")).expect_err("refused");
    assert!(matches!(
        error,
        TlsRptError::UnknownOwner { kind: "group", .. }
    ));
    assert!(error.to_string().contains("no-such-group-here"), "{error}");
}

/// The day is the clock's at receipt: datagrams either side of midnight land on two days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_count_on_the_day_they_arrive() {
    let dir = TempDir::new("collector-midnight");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    let clock = clock("2026-12-07T23:59:59Z");
    let collector = Collector::bind(settings(&dir), store.clone(), clock.clone()).expect("bind");
    let path = collector.socket_path().to_path_buf();
    let counters = collector.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    let one = tlsrpt_datagram::write(&datagram("a.example", &[])).into_bytes();
    send_all(&path, std::slice::from_ref(&one));
    // Wait until the first one is counted, then move the clock past midnight.
    while counters.snapshot().datagrams < 1 {
        tokio::task::yield_now().await;
    }
    clock.set(Timestamp::parse("2026-12-08T00:00:01Z").expect("a time"));
    send_all(&path, &[one.clone(), one]);
    stop.send(()).expect("stop");
    running.await.expect("run task").expect("clean run");
    let first = store.day_counts(date("2026-12-07")).await.expect("read");
    let second = store.day_counts(date("2026-12-08")).await.expect("read");
    assert_eq!(first[0].result.summary.total_successful_session_count, 1);
    assert_eq!(second[0].result.summary.total_successful_session_count, 2);
}

/// The store refusing writes (another connection holds SQLite's write lock): flushes fail,
/// counting goes on, and once the lock is gone every datagram is stored, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_loses_nothing() {
    let dir = TempDir::new("collector-failing-store");
    let path = dir.file("sender.db");
    let store = SenderStore::open_with(&StoreUrl::Sqlite(path.clone()), impatient())
        .await
        .expect("open");
    let settings = CollectSettings {
        flush_interval: Duration::from_millis(20),
        ..settings(&dir)
    };
    let collector =
        Collector::bind(settings, store.clone(), clock("2026-12-07T12:00:00Z")).expect("bind");
    let socket = collector.socket_path().to_path_buf();
    let counters = collector.counters();
    // Another writer holds the lock from before the first flush.
    let locker = rusqlite::Connection::open(&path).expect("a second connection");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    let one =
        tlsrpt_datagram::write(&datagram("a.example", &[ResultType::DaneRequired])).into_bytes();
    send_all(&socket, &vec![one.clone(); 100]);
    while counters.snapshot().flush_failures < 2 {
        tokio::task::yield_now().await;
    }
    // Counted while the flush is failing: into the aggregate, handed over later.
    send_all(&socket, &vec![one.clone(); 50]);
    locker.execute_batch("ROLLBACK").expect("release the lock");
    while counters.snapshot().flushes < 1 {
        tokio::task::yield_now().await;
    }
    send_all(&socket, &vec![one; 25]);
    stop.send(()).expect("stop");
    let figures = running.await.expect("run task").expect("clean run");
    assert_eq!((figures.datagrams, figures.lost), (175, 0));
    let counts = store.day_counts(date("2026-12-07")).await.expect("read");
    assert_eq!(counts[0].result.summary.total_failure_session_count, 175);
    assert_eq!(
        counts[0].result.failure_details[0].failed_session_count,
        175
    );
    let stored = store
        .day_figures(date("2026-12-07"))
        .await
        .expect("figures");
    assert_eq!(stored.datagrams, 175);
}
