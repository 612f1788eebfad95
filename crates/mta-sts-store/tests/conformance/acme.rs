//! What the ACME client keeps: one account per directory, the longest-lasting certificate per
//! name, and issuance leases that exactly one server holds at a time.

use std::time::Duration;

use mta_sts_core::report::Timestamp;
use mta_sts_store::reports::{ReportStore, StoredCertificate};

use crate::backend::Backend;
use crate::fixtures::{november, shift};

const DIRECTORY: &str = "https://acme.example/directory";

fn certificate(name: &str, chain: &str, not_after: Timestamp) -> StoredCertificate {
    StoredCertificate {
        name: name.to_string(),
        chain_pem: chain.to_string(),
        key_pem: format!("key of {chain}"),
        not_before: shift(not_after, -90 * 86_400),
        not_after,
        issued_at: shift(not_after, -90 * 86_400),
    }
}

pub async fn the_first_acme_account_kept_is_the_one_every_server_uses(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    assert_eq!(first.acme_account(DIRECTORY).await.expect("read"), None);
    let mut tasks = Vec::new();
    for (n, store) in [&first, &second].into_iter().cycle().take(8).enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .keep_acme_account(DIRECTORY, &format!("{{\"account\":{n}}}"), november(1))
                .await
        }));
    }
    let mut kept = Vec::new();
    for task in tasks {
        kept.push(task.await.expect("task").expect("keep"));
    }
    // Every racer got the same account back: the one stored.
    let stored = second.acme_account(DIRECTORY).await.expect("read");
    assert!(stored.is_some());
    assert!(kept.iter().all(|k| Some(k) == stored.as_ref()), "{kept:?}");
    // Another directory has an account of its own.
    assert_eq!(
        first
            .keep_acme_account("https://other.example/dir", "{\"other\":1}", november(2))
            .await
            .expect("keep"),
        "{\"other\":1}"
    );
}

pub async fn a_certificate_is_replaced_only_by_a_longer_lasting_one(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(
        store
            .acme_certificate("mta-sts.example.com")
            .await
            .expect("read"),
        None
    );
    let old = certificate("mta-sts.example.com", "old", november(20));
    assert!(store.keep_acme_certificate(&old).await.expect("keep"));
    // Read back by any case of the name.
    assert_eq!(
        store
            .acme_certificate("MTA-STS.Example.com")
            .await
            .expect("read"),
        Some(old.clone())
    );
    let renewed = certificate("mta-sts.example.com", "renewed", november(28));
    assert!(store.keep_acme_certificate(&renewed).await.expect("keep"));
    // An older order finishing late does not put back a shorter-lived certificate.
    let late = certificate("mta-sts.example.com", "late", november(25));
    assert!(!store.keep_acme_certificate(&late).await.expect("keep"));
    assert_eq!(
        store
            .acme_certificate("mta-sts.example.com")
            .await
            .expect("read"),
        Some(renewed)
    );
    // Another name is kept apart.
    let other = certificate("mta-sts.other.example", "other", november(10));
    assert!(store.keep_acme_certificate(&other).await.expect("keep"));
    assert_eq!(
        store
            .acme_certificate("mta-sts.other.example")
            .await
            .expect("read"),
        Some(other)
    );
}

/// `n` claims of one name's lease at once through each of two stores, each by a holder of its
/// own (named after `round`).
async fn race_leases(
    first: &ReportStore,
    second: &ReportStore,
    n: usize,
    round: &str,
    now: Timestamp,
) -> usize {
    let mut tasks = Vec::new();
    for (s, store) in [first, second].into_iter().enumerate() {
        for i in 0..n {
            let store = store.clone();
            let holder = format!("{round}-server-{s}-{i}");
            tasks.push(tokio::spawn(async move {
                store
                    .claim_acme_lease(
                        "mta-sts.example.com",
                        &holder,
                        now,
                        now.saturating_add(Duration::from_secs(600)),
                    )
                    .await
            }));
        }
    }
    let mut won = 0;
    for task in tasks {
        if task.await.expect("task").expect("claim") {
            won += 1;
        }
    }
    won
}

pub async fn an_issuance_lease_has_one_holder_until_it_expires(backend: Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    let now = november(3);
    assert_eq!(race_leases(&first, &second, 6, "first", now).await, 1);
    assert_eq!(
        race_leases(&first, &second, 6, "second", now).await,
        0,
        "still held"
    );
    let holder = backend
        .query_text("SELECT holder FROM acme_lease WHERE name = 'mta-sts.example.com'")
        .await;
    // The holder may extend its own lease; releasing by another holder does nothing.
    assert!(
        first
            .claim_acme_lease("mta-sts.example.com", &holder, now, shift(now, 1200))
            .await
            .expect("extend")
    );
    first
        .release_acme_lease("mta-sts.example.com", "somebody-else")
        .await
        .expect("release");
    assert!(
        !second
            .claim_acme_lease(
                "mta-sts.example.com",
                "late",
                shift(now, 900),
                shift(now, 1500)
            )
            .await
            .expect("claim")
    );
    // Expired: anyone may take it.
    assert_eq!(
        race_leases(&first, &second, 6, "third", shift(now, 1200)).await,
        1
    );
    // Released: anyone may take it at once.
    let holder = backend
        .query_text("SELECT holder FROM acme_lease WHERE name = 'mta-sts.example.com'")
        .await;
    second
        .release_acme_lease("MTA-STS.example.com", &holder)
        .await
        .expect("release");
    assert!(
        first
            .claim_acme_lease(
                "mta-sts.example.com",
                "next",
                shift(now, 1201),
                shift(now, 1800)
            )
            .await
            .expect("claim")
    );
    // Another name has a lease of its own.
    assert!(
        first
            .claim_acme_lease("mta-sts.other.example", "next", now, shift(now, 600))
            .await
            .expect("claim")
    );
}
