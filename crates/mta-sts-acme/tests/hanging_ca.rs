//! A CA that accepts connections and never answers does not hold an order (or its lease)
//! forever: the order is given up at its limit with an error naming it, and the next attempt
//! may claim the lease again.

use std::sync::Arc;
use std::time::Duration;

use mta_sts_acme::{AcmeError, AcmeIssuer, AcmeSettings, Challenges};
use mta_sts_net::clock::SystemClock;
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;
use mta_sts_store::test_support::TempDir;
use tokio::net::TcpListener;

#[tokio::test]
async fn a_ca_that_never_answers_is_given_up_at_the_order_limit() {
    // Accepts, reads nothing, answers nothing, keeps every connection open.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let dir = TempDir::new("mta-sts-acme-hanging");
    let key = rcgen::KeyPair::generate().expect("key");
    let ca = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    std::fs::write(dir.file("ca.pem"), ca.pem()).expect("CA file");
    let store = ReportStore::open(&StoreUrl::Sqlite(dir.file("store.db")))
        .await
        .expect("store");
    let name = "mta-sts.example.test";
    let issuer = AcmeIssuer::new(
        AcmeSettings {
            ca_file: Some(dir.file("ca.pem")),
            order_timeout: Duration::from_millis(500),
            ..AcmeSettings::new(format!("https://{address}/dir"))
        },
        [name.to_string()],
        store.clone(),
        Arc::new(Challenges::default()),
        Arc::new(SystemClock),
    );
    let error = tokio::time::timeout(Duration::from_secs(30), issuer.obtain(name))
        .await
        .expect("given up well before 30 s")
        .expect_err("nothing issued");
    assert!(matches!(error, AcmeError::Timeout { .. }), "{error}");
    assert!(error.to_string().contains(name), "{error}");
    // The lease was released: another server may try at once.
    let now = mta_sts_core::time::Clock::now(&SystemClock);
    assert!(
        store
            .claim_acme_lease(name, "another-server", now, now)
            .await
            .expect("claim")
    );
}
