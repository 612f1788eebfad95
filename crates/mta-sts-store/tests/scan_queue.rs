//! The scan queue on a real PostgreSQL (a fresh database per test on `MTA_STS_TEST_POSTGRES`;
//! SKIPPED without it, failing instead with `MTA_STS_REQUIRE_TOOLS=1`): loading, leasing with
//! expiry, late completion, status and results.

use std::collections::BTreeSet;
use std::time::Duration;

use mta_sts_store::scan_queue::{QueuedDomain, ScanQueue};
use mta_sts_store::test_support::TestDatabase;
use mta_sts_store::{PostgresOptions, StoreError, StoreUrl};

const HOUR: Duration = Duration::from_secs(3600);
/// A lease that has run out by the next statement: expiry without waiting.
const EXPIRED: Duration = Duration::ZERO;
/// Leases a domain may have run out before it is given up.
const ATTEMPTS: u32 = 3;

fn list(count: u64) -> Vec<QueuedDomain> {
    (1..=count)
        .map(|line| QueuedDomain {
            domain: format!("d{line:03}.test"),
            line,
        })
        .collect()
}

async fn queue(test: &str) -> Option<(TestDatabase, ScanQueue)> {
    let database = TestDatabase::create(test).await?;
    let queue = ScanQueue::open(&database.store_url(), PostgresOptions::default())
        .await
        .expect("open the queue");
    Some((database, queue))
}

#[tokio::test]
async fn an_sqlite_url_is_refused_with_a_sentence() {
    let url = StoreUrl::Sqlite("/tmp/scan.db".into());
    let error = ScanQueue::open(&url, PostgresOptions::default())
        .await
        .expect_err("sqlite refused");
    assert!(matches!(error, StoreError::InvalidUrl { .. }), "{error}");
    assert!(error.to_string().contains("PostgreSQL only"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_the_same_list_twice_adds_each_domain_once() {
    let Some((_db, queue)) = queue("loading_the_same_list_twice_adds_each_domain_once").await
    else {
        return;
    };
    let first = queue.load("s", &list(5)).await.expect("load");
    assert_eq!((first.added, first.total), (5, 5));
    let again = queue.load("s", &list(5)).await.expect("load again");
    assert_eq!((again.added, again.total), (0, 5));
    let longer = queue.load("s", &list(7)).await.expect("load a longer list");
    assert_eq!((longer.added, longer.total), (2, 7));
    // Another scan in the same database is apart.
    let other = queue.load("other", &list(3)).await.expect("load");
    assert_eq!((other.added, other.total), (3, 3));
    // Two loaders at once (two workers started with the file) add each domain once.
    let domains = list(50);
    let (a, b) = tokio::join!(queue.load("race", &domains), queue.load("race", &domains));
    let (a, b) = (a.expect("load a"), b.expect("load b"));
    assert_eq!(a.added + b.added, 50);
    assert_eq!(
        queue
            .status("race")
            .await
            .expect("status")
            .expect("scan")
            .total,
        50
    );
    assert_eq!(queue.status("missing").await.expect("status"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_leasing_at_once_never_share_a_domain() {
    let Some((_db, queue)) = queue("workers_leasing_at_once_never_share_a_domain").await else {
        return;
    };
    queue.load("s", &list(40)).await.expect("load");
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = queue
                    .lease("s", &format!("w{worker}"), 3, HOUR, ATTEMPTS)
                    .await
                    .expect("lease");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch);
            }
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        for lease in task.await.expect("task") {
            assert_eq!(lease.attempt, 1, "{lease:?}");
            assert!(
                seen.insert(lease.domain.clone()),
                "{} leased twice",
                lease.domain
            );
        }
    }
    assert_eq!(seen.len(), 40);
    let status = queue.status("s").await.expect("status").expect("scan");
    assert_eq!((status.leased, status.queued, status.done), (40, 0, 0));
    assert_eq!(status.workers.iter().map(|w| w.leased).sum::<u64>(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_returns_and_its_late_result_is_dropped() {
    let Some((_db, queue)) = queue("an_expired_lease_returns_and_its_late_result_is_dropped").await
    else {
        return;
    };
    queue.load("s", &list(4)).await.expect("load");
    // The killed worker's lease: its first two domains, a lease that has run out.
    let killed = queue
        .lease("s", "killed", 2, EXPIRED, ATTEMPTS)
        .await
        .expect("lease");
    assert_eq!(
        killed.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let status = queue.status("s").await.expect("status").expect("scan");
    assert_eq!((status.expired_leases, status.queued), (2, 2));
    assert_eq!(status.workers[0].worker, "killed");
    assert_eq!(status.workers[0].expired_leases, 2);
    // Nothing running to wait for: the expired lease is not waited on.
    assert_eq!(
        queue
            .others_lease_ends_in("s", "alive")
            .await
            .expect("read"),
        None
    );

    // The next worker takes them back first (list order), as a second attempt.
    let taken = queue
        .lease("s", "alive", 10, HOUR, ATTEMPTS)
        .await
        .expect("lease");
    let lines: Vec<(u64, i32)> = taken.iter().map(|l| (l.line, l.attempt)).collect();
    assert_eq!(lines, vec![(1, 2), (2, 2), (3, 1), (4, 1)]);

    // The killed worker's late result (it was only cut off) is dropped: the domain is the
    // alive worker's now.
    assert!(
        !queue
            .complete(&killed[0], "killed", "{\"late\":true}")
            .await
            .expect("complete")
    );
    for lease in &taken {
        let result = format!("{{\"domain\":\"{}\"}}", lease.domain);
        assert!(
            queue
                .complete(lease, "alive", &result)
                .await
                .expect("complete")
        );
    }
    // Completing twice keeps the first result only.
    assert!(
        !queue
            .complete(&taken[0], "alive", "{}")
            .await
            .expect("again")
    );
    // And the late result after the domain is done changes nothing either.
    assert!(
        !queue
            .complete(&killed[1], "killed", "{\"late\":true}")
            .await
            .expect("complete")
    );

    let results = queue.results("s", None, 100).await.expect("results");
    assert_eq!(results.len(), 4);
    assert!(
        results
            .iter()
            .all(|r| r.worker == "alive" && !r.result.contains("late"))
    );
    assert_eq!(results[0].attempts, 2);
    let status = queue.status("s").await.expect("status").expect("scan");
    assert!(status.finished());
    assert_eq!((status.done, status.retried, status.leased), (4, 2, 0));
    assert!(status.rate_per_second > 0.0);
    assert!(status.first_finished.is_some() && status.last_finished.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_lease_is_not_taken_and_is_extended_by_its_worker() {
    let Some((_db, queue)) =
        queue("a_running_lease_is_not_taken_and_is_extended_by_its_worker").await
    else {
        return;
    };
    queue.load("s", &list(3)).await.expect("load");
    let held = queue
        .lease("s", "a", 3, EXPIRED, ATTEMPTS)
        .await
        .expect("lease");
    assert_eq!(held.len(), 3);
    // Extended before anyone took them: they run again, and another worker gets nothing.
    assert_eq!(queue.extend("s", "a", HOUR).await.expect("extend"), 3);
    assert!(
        queue
            .lease("s", "b", 3, HOUR, ATTEMPTS)
            .await
            .expect("lease")
            .is_empty()
    );
    let wait = queue
        .others_lease_ends_in("s", "b")
        .await
        .expect("read")
        .expect("a's lease runs");
    assert!(wait > Duration::from_secs(3000) && wait <= HOUR, "{wait:?}");
    // A worker never waits on its own leases.
    assert_eq!(
        queue.others_lease_ends_in("s", "a").await.expect("read"),
        None
    );
    assert!(queue.complete(&held[1], "a", "{}").await.expect("complete"));
    let status = queue.status("s").await.expect("status").expect("scan");
    assert_eq!((status.leased, status.done, status.retried), (2, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_page_in_list_order() {
    let Some((_db, queue)) = queue("results_page_in_list_order").await else {
        return;
    };
    queue.load("s", &list(25)).await.expect("load");
    let mut leases = queue
        .lease("s", "w", 25, HOUR, ATTEMPTS)
        .await
        .expect("lease");
    // Finished in reverse order; read back in list order.
    leases.reverse();
    for lease in &leases {
        queue
            .complete(lease, "w", &format!("{{\"line\":{}}}", lease.line))
            .await
            .expect("complete");
    }
    let mut read = Vec::new();
    let mut after = None;
    loop {
        let page = queue.results("s", after.as_ref(), 10).await.expect("page");
        let Some(last) = page.last().cloned() else {
            break;
        };
        read.extend(page.into_iter().map(|r| (r.line, r.result)));
        after = Some(last);
    }
    let expected: Vec<(u64, String)> = (1..=25).map(|l| (l, format!("{{\"line\":{l}}}"))).collect();
    assert_eq!(read, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_leases_are_queued_again_at_once() {
    let Some((_db, queue)) = queue("released_leases_are_queued_again_at_once").await else {
        return;
    };
    queue.load("s", &list(4)).await.expect("load");
    let stopped = queue
        .lease("s", "stopped", 3, HOUR, ATTEMPTS)
        .await
        .expect("lease");
    assert!(
        queue
            .complete(&stopped[0], "stopped", "{}")
            .await
            .expect("complete")
    );
    // The finished domain stays done; the two others go back without waiting for the hour.
    assert_eq!(queue.release("s", "stopped").await.expect("release"), 2);
    let status = queue.status("s").await.expect("status").expect("scan");
    assert_eq!((status.done, status.leased, status.queued), (1, 0, 3));
    let next = queue
        .lease("s", "next", 10, HOUR, ATTEMPTS)
        .await
        .expect("lease");
    let lines: Vec<(u64, i32)> = next.iter().map(|l| (l.line, l.attempt)).collect();
    assert_eq!(lines, vec![(2, 2), (3, 2), (4, 1)]);
    // The stopped worker's result for a released domain is not kept.
    assert!(
        !queue
            .complete(&stopped[1], "stopped", "{}")
            .await
            .expect("late")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_whose_workers_all_die_is_given_up_with_an_error_line() {
    let Some((_db, queue)) =
        queue("a_domain_whose_workers_all_die_is_given_up_with_an_error_line").await
    else {
        return;
    };
    queue.load("s", &list(2)).await.expect("load");
    // d001.test takes down each worker that checks it: three leases run out.
    for worker in ["w1", "w2", "w3"] {
        let leases = queue
            .lease("s", worker, 1, EXPIRED, ATTEMPTS)
            .await
            .expect("lease");
        assert_eq!(leases[0].domain, "d001.test", "{leases:?}");
    }
    // The next lease gives it up and goes on with the rest.
    let next = queue
        .lease("s", "w4", 5, HOUR, ATTEMPTS)
        .await
        .expect("lease");
    assert_eq!(next.iter().map(|l| l.line).collect::<Vec<_>>(), vec![2]);
    assert!(
        queue
            .complete(&next[0], "w4", "{}")
            .await
            .expect("complete")
    );
    let results = queue.results("s", None, 10).await.expect("results");
    assert_eq!(results.len(), 2);
    let given_up: serde_json::Value = serde_json::from_str(&results[0].result).expect("JSON");
    assert_eq!(given_up["domain"], "d001.test");
    assert_eq!(given_up["error"]["code"], "scan-worker-lost");
    let message = given_up["error"]["message"].as_str().expect("message");
    assert!(message.contains("started 3 times"), "{message}");
    assert_eq!((results[0].worker.as_str(), results[0].attempts), ("w3", 3));
    assert!(
        queue
            .status("s")
            .await
            .expect("status")
            .expect("scan")
            .finished()
    );
}
