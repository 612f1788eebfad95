//! A store that is down or locked: an error that says "retry later", and nothing lost.

use std::time::Duration;

use mta_sts_store::reports::{Insertion, ListQuery, ReportStore};
use mta_sts_store::{PostgresOptions, StoreOptions, StoreUrl};

use crate::backend::{Backend, postgres_client};
use crate::fixtures::{november, simple};

/// Another connection holds the store's write lock past the store's timeout.
pub async fn a_locked_store_is_unavailable(backend: Backend) {
    let store = ReportStore::open_with(&backend.url(), Backend::short_timeouts())
        .await
        .expect("open");
    let report = simple("google.com", "r1", november(1), "example.com", 5);
    let error = if let Some(path) = backend.sqlite_path() {
        let holder = rusqlite::Connection::open(path).expect("raw");
        holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        let error = store
            .insert(vec![report.clone()])
            .await
            .expect_err("locked");
        holder.execute_batch("ROLLBACK").expect("unlock");
        error
    } else {
        let holder = postgres_client(backend.postgres_url().expect("url")).await;
        holder
            .batch_execute("BEGIN; LOCK TABLE report IN ACCESS EXCLUSIVE MODE;")
            .await
            .expect("lock");
        let error = store
            .insert(vec![report.clone()])
            .await
            .expect_err("locked");
        holder.batch_execute("ROLLBACK").await.expect("unlock");
        error
    };
    assert!(error.is_unavailable(), "retry later: {error}");
    // The caller kept the report and retries: it is taken, once.
    let retry = store.insert(vec![report]).await.expect("retry");
    assert!(matches!(retry[0], Insertion::Imported(_)), "{retry:?}");
    assert_eq!(
        store.list(&ListQuery::default()).await.expect("list").len(),
        1
    );
}

/// Nothing listens on the port: needs no PostgreSQL server, so it always runs.
#[tokio::test]
async fn postgres_on_a_closed_port_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let url: StoreUrl = format!("postgres://mta:s3cret@127.0.0.1:{port}/mta_sts")
        .parse()
        .expect("url");
    let options = StoreOptions {
        postgres: PostgresOptions {
            connect_timeout: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(2),
            ..PostgresOptions::default()
        },
        ..StoreOptions::default()
    };
    let error = ReportStore::open_with(&url, options)
        .await
        .expect_err("nothing listens");
    assert!(error.is_unavailable(), "retry later: {error}");
    let message = error.to_string();
    assert!(!message.contains("s3cret"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

/// The SQLite file's directory cannot be made (a file is in the way): a person must act.
#[tokio::test]
async fn a_store_path_blocked_by_a_file_is_not_unavailable() {
    let dir = mta_sts_store::test_support::TempDir::new("mta-sts-store-blocked");
    std::fs::write(dir.file("blocked"), b"keep").expect("write");
    let url = StoreUrl::Sqlite(dir.file("blocked/store/reports.db"));
    let error = ReportStore::open(&url).await.expect_err("blocked");
    assert!(!error.is_unavailable(), "{error}");
    assert!(error.to_string().contains("--store sqlite:PATH"), "{error}");
    assert_eq!(std::fs::read(dir.file("blocked")).expect("kept"), b"keep");
}
