use mta_sts_store::StoreUrl;
use mta_sts_store::test_support::{TempDir, TestDatabase};

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds_saturating(seconds)
}

async fn fetches_are_added_by_organisation_in_batches(store: ReportStore) {
    let log = FetchLog::register(&mut Registry::default());
    let organizations = Organizations::new(None);
    let (a, b): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [198, 51, 100, 7].into());
    log.tally("example.com", a, 1_000);
    log.tally("example.com", a, 1_200);
    log.tally("example.com", b, 1_100);
    log.tally("example.net", a, 1_050);
    log.flush(&organizations, &store).await;
    let expected = |fetches, first, last| PolicyFetches {
        domain: "example.com".into(),
        organization: super::super::organizations::UNKNOWN.into(),
        fetches,
        first_fetch: at(first),
        last_fetch: at(last),
    };
    assert_eq!(
        store.policy_fetches("Example.COM.").await.expect("read"),
        [expected(3, 1_000, 1_200)]
    );
    // Nothing tallied: nothing written. Then a second batch adds to the same row.
    log.flush(&organizations, &store).await;
    log.tally("example.com", b, 900);
    log.tally("example.com", b, 2_000);
    log.flush(&organizations, &store).await;
    assert_eq!(
        store.policy_fetches("example.com").await.expect("read"),
        [expected(5, 900, 2_000)]
    );
    assert_eq!(
        store.policy_fetches("example.net").await.expect("read")[0].fetches,
        1
    );
    assert!(
        store
            .policy_fetches("example.org")
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn fetches_are_added_by_organisation_in_batches_on_sqlite() {
    let dir = TempDir::new("serve-fetches");
    let url: StoreUrl = format!("sqlite:{}", dir.file("store.db").display())
        .parse()
        .expect("url");
    let store = ReportStore::open(&url).await.expect("open");
    fetches_are_added_by_organisation_in_batches(store).await;
}

#[tokio::test]
async fn fetches_a_failed_write_left_are_added_with_the_next() {
    let Some(database) = TestDatabase::create("serve_fetches_retry").await else {
        return;
    };
    let broken = ReportStore::open(&database.store_url())
        .await
        .expect("open");
    // The database goes away under the open store: its writes fail from now on.
    drop(database);
    let log = FetchLog::register(&mut Registry::default());
    let organizations = Organizations::new(None);
    let client: IpAddr = [192, 0, 2, 1].into();
    log.tally("example.com", client, 1_000);
    log.flush(&organizations, &broken).await;
    log.tally("example.com", client, 1_500);

    let dir = TempDir::new("serve-fetches-retry");
    let url: StoreUrl = format!("sqlite:{}", dir.file("store.db").display())
        .parse()
        .expect("url");
    let store = ReportStore::open(&url).await.expect("open");
    log.flush(&organizations, &store).await;
    let stored = store.policy_fetches("example.com").await.expect("read");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].fetches, 2, "the failed write's fetch is not lost");
    assert_eq!(
        (stored[0].first_fetch, stored[0].last_fetch),
        (at(1_000), at(1_500))
    );
    // Written once: nothing is added twice.
    log.flush(&organizations, &store).await;
    assert_eq!(
        store.policy_fetches("example.com").await.expect("read")[0].fetches,
        2
    );
}

#[tokio::test]
async fn fetches_are_added_by_organisation_in_batches_on_postgres() {
    let Some(database) = TestDatabase::create("serve_fetches").await else {
        return;
    };
    let store = ReportStore::open(&database.store_url())
        .await
        .expect("open");
    fetches_are_added_by_organisation_in_batches(store).await;
}

#[test]
fn past_the_cap_new_clients_are_tallied_together() {
    let log = FetchLog::register(&mut Registry::default());
    for n in 1..=MAX_TALLIED_CLIENTS {
        let ip = IpAddr::from(u32::try_from(n).expect("small").to_be_bytes());
        log.tally("example.com", ip, 1);
    }
    log.tally("example.com", [203, 0, 113, 1].into(), 2);
    log.tally("example.com", [203, 0, 113, 2].into(), 3);
    let tallies = log.take();
    let by_client = &tallies["example.com"];
    assert_eq!(by_client.len(), MAX_TALLIED_CLIENTS + 1);
    assert_eq!(by_client[&OVERFLOW].count, 2);
    assert!(log.take().is_empty());
}
