//! The HTTPS transport against receivers that misbehave, on real loopback sockets: one that
//! accepts and never answers is given up on after the time limit (and retried later); a URL
//! that is not https is refused for good.

use std::time::{Duration, Instant};

use mta_sts_tlsrpt::delivery::{HttpsSettings, HttpsUploader, Permanence};

#[tokio::test]
async fn a_receiver_that_never_answers_is_left_after_the_time_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    // Accepts and holds the connection without a byte of TLS.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let uploader = HttpsUploader::new(&HttpsSettings {
        ca_file: None,
        timeout: 1,
    })
    .expect("uploader");
    let started = Instant::now();
    let failure = uploader
        .post(&format!("https://127.0.0.1:{port}/tlsrpt"), b"\x1f\x8b")
        .await
        .expect_err("no answer");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(failure.permanence, Permanence::Temporary);
    assert!(
        failure.message.contains("within 1 seconds"),
        "{}",
        failure.message
    );
    holder.abort();
}

#[tokio::test]
async fn only_https_urls_are_posted_to() {
    let uploader = HttpsUploader::new(&HttpsSettings::default()).expect("uploader");
    for url in ["http://127.0.0.1:9/tlsrpt", "not a url", "https:///no-host"] {
        let failure = uploader.post(url, b"").await.expect_err("refused");
        assert_eq!(
            failure.permanence,
            Permanence::Permanent,
            "{url}: {}",
            failure.message
        );
    }
}
