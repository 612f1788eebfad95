//! Policy fetch counts: added in batches by several servers sharing the store, per domain and
//! organisation, the first and last fetch kept.

use mta_sts_store::reports::{PolicyFetches, ReportStore};

use crate::backend::Backend;
use crate::fixtures::november;

fn row(domain: &str, organization: &str, fetches: u64, first: u32, last: u32) -> PolicyFetches {
    PolicyFetches {
        domain: domain.into(),
        organization: organization.into(),
        fetches,
        first_fetch: november(first),
        last_fetch: november(last),
    }
}

async fn add_many(store: ReportStore, n: usize) {
    for _ in 0..n {
        store
            .add_policy_fetches(&[
                row("example.com", "Google", 2, 5, 6),
                row("example.com", "Microsoft", 1, 4, 4),
            ])
            .await
            .expect("add");
    }
}

pub async fn policy_fetches_add_up_across_servers(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    first
        .add_policy_fetches(&[row("Example.COM.", "Google", 3, 10, 12)])
        .await
        .expect("add");
    let tasks = [
        tokio::spawn(add_many(first.clone(), 10)),
        tokio::spawn(add_many(second.clone(), 10)),
    ];
    for task in tasks {
        task.await.expect("task");
    }
    first.add_policy_fetches(&[]).await.expect("nothing to add");
    let rows = second.policy_fetches("example.com").await.expect("read");
    // The latest fetch first; first and last fetch are the earliest and latest of every batch.
    assert_eq!(
        rows,
        [
            row("example.com", "Google", 3 + 2 * 20, 5, 12),
            row("example.com", "Microsoft", 20, 4, 4),
        ]
    );
    assert!(
        first
            .policy_fetches("example.net")
            .await
            .expect("read")
            .is_empty()
    );
}
