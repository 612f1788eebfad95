//! The outbox on both backends (PostgreSQL through `MTA_STS_TEST_POSTGRES`; SKIPPED without it,
//! failing instead with `MTA_STS_REQUIRE_TOOLS=1`).

use super::*;
use crate::StoreUrl;
use crate::test_support::{TempDir, TestDatabase};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_796_601_600 + seconds).expect("in range")
}

fn entry(id: &str, destinations: &[&str]) -> OutboxEntry {
    OutboxEntry {
        report: OutboxReport {
            day: UtcDate::parse("2026-12-06").expect("day"),
            domain: "example.net".into(),
            tlsrpt_record: "v=TLSRPTv1; rua=mailto:r@example.net,https://r.example.net/".into(),
            report_id: id.into(),
            organization_name: "Example Org".into(),
            submitter: "example.org".into(),
            file_name: format!("example.org!example.net!1!2!{id}.json.gz"),
            gzip: vec![0x1f, 0x8b, 1, 2, 3],
        },
        destinations: destinations.iter().map(|d| d.to_string()).collect(),
    }
}

async fn the_outbox_sends_each_once_retries_and_gives_up(store: &SenderStore) {
    let day = UtcDate::parse("2026-12-06").expect("day");
    let both = ["mailto:r@example.net", "https://r.example.net/"];
    let added = store
        .enqueue(&[entry("r1", &both), entry("r2", &both[..1])], at(0))
        .await
        .expect("enqueue");
    assert_eq!(
        added,
        Enqueued {
            reports: 2,
            deliveries: 3
        }
    );
    // The same day built again (and one new destination): only the new one is added.
    let again = store
        .enqueue(
            &[entry(
                "r1",
                &["mailto:r@example.net", "mailto:new@example.net"],
            )],
            at(1),
        )
        .await
        .expect("enqueue again");
    assert_eq!(
        again,
        Enqueued {
            reports: 0,
            deliveries: 1
        }
    );

    // Four due; a claim takes them and leases them, so a second claim finds none.
    let due = store.claim_due(at(10), at(70), 10).await.expect("claim");
    assert_eq!(due.len(), 4);
    assert!(due.iter().all(|d| d.attempts == 0));
    assert_eq!(due[0].report.gzip, vec![0x1f, 0x8b, 1, 2, 3]);
    assert_eq!(due[0].report.day, day);
    assert!(
        store
            .claim_due(at(20), at(80), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // The limit is kept.
    assert_eq!(
        store
            .claim_due(at(70), at(130), 1)
            .await
            .expect("claim")
            .len(),
        1
    );

    store
        .mark_sent("r1", "mailto:r@example.net", at(30))
        .await
        .expect("sent");
    store
        .mark_failed(
            "r1",
            "https://r.example.net/",
            NextTry::At(at(500)),
            "r.example.net answered 503",
        )
        .await
        .expect("retry");
    store
        .mark_failed(
            "r2",
            "mailto:r@example.net",
            NextTry::GiveUp,
            "the relay said 550",
        )
        .await
        .expect("give up");

    let statuses = store.day_deliveries(day).await.expect("status");
    assert_eq!(statuses.len(), 4);
    let find = |id: &str, destination: &str| {
        statuses
            .iter()
            .find(|s| s.report_id == id && s.destination == destination)
            .cloned()
            .expect("a delivery")
    };
    let sent = find("r1", "mailto:r@example.net");
    assert_eq!(
        (sent.state, sent.attempts, sent.sent_at),
        (DeliveryState::Sent, 1, Some(at(30)))
    );
    let retried = find("r1", "https://r.example.net/");
    assert_eq!(retried.state, DeliveryState::Pending);
    assert_eq!(retried.next_try_at, Some(at(500)));
    assert_eq!(
        retried.last_error.as_deref(),
        Some("r.example.net answered 503")
    );
    let given_up = find("r2", "mailto:r@example.net");
    assert_eq!(
        (given_up.state, given_up.attempts),
        (DeliveryState::GivenUp, 1)
    );
    assert_eq!(given_up.next_try_at, None);

    // Only the retry comes back, at its time, with its attempt counted.
    let due = store.claim_due(at(500), at(560), 10).await.expect("claim");
    let ids: Vec<(&str, &str, u32)> = due
        .iter()
        .map(|d| {
            (
                d.report.report_id.as_str(),
                d.destination.as_str(),
                d.attempts,
            )
        })
        .collect();
    assert!(
        ids.contains(&("r1", "https://r.example.net/", 1)),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|(_, d, _)| *d == "mailto:r@example.net"),
        "{ids:?}"
    );
    // Sent and given-up deliveries are never enqueued again.
    let none = store
        .enqueue(&[entry("r1", &both), entry("r2", &both[..1])], at(600))
        .await
        .expect("enqueue once more");
    assert_eq!(none, Enqueued::default());
    assert!(
        store
            .day_deliveries(UtcDate::parse("2026-12-05").expect("day"))
            .await
            .expect("none")
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_outbox() {
    let dir = TempDir::new("sender-outbox");
    let store = SenderStore::open(&StoreUrl::Sqlite(dir.file("sender.db")))
        .await
        .expect("open");
    the_outbox_sends_each_once_retries_and_gives_up(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox() {
    let Some(database) = TestDatabase::create("postgres_outbox").await else {
        return;
    };
    let store = SenderStore::open(&database.store_url())
        .await
        .expect("open");
    the_outbox_sends_each_once_retries_and_gives_up(&store).await;
}

/// Two reporters of a fleet claiming at once never take the same delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reporters_never_claim_the_same_delivery() {
    let Some(database) = TestDatabase::create("postgres_outbox_claims").await else {
        return;
    };
    let store = SenderStore::open(&database.store_url())
        .await
        .expect("open");
    let entries: Vec<OutboxEntry> = (0..50)
        .map(|n| entry(&format!("r{n}"), &["mailto:r@example.net"]))
        .collect();
    store.enqueue(&entries, at(0)).await.expect("enqueue");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = SenderStore::open(&database.store_url())
            .await
            .expect("open");
        tasks.push(tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let due = store.claim_due(at(10), at(1000), 3).await.expect("claim");
                if due.is_empty() {
                    return taken;
                }
                taken.extend(due.into_iter().map(|d| d.report.report_id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort();
    let count = all.len();
    all.dedup();
    assert_eq!((count, all.len()), (50, 50));
}
