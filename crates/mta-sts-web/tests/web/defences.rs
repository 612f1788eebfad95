//! Each defence of a public checker: the address guard, input checks, the rate limit, the
//! concurrency cap, the cache and the time limit.

use std::time::{Duration, Instant};

use mta_sts_lab::Lab;
use mta_sts_net::AddressGuard;
use mta_sts_web::WebConfig;

use crate::client::{Conn, encode};
use crate::{Server, config, domain, metric, settings};

#[tokio::test(flavor = "multi_thread")]
async fn with_the_guard_on_private_hosts_are_refused() {
    let lab = Lab::start().await.expect("lab");
    let mut config = config(&lab);
    config.settings.guard = AddressGuard::PublicOnly;
    let server = Server::start(config).await;
    // Every lab host is on loopback: a public checker must dial none of them.
    let report = server.check(&domain(&lab, "healthy-enforce")).await.json();
    let codes = crate::problem_codes(&report);
    assert!(
        codes.contains("policy-host-private") && codes.contains("mx-host-private"),
        "{codes:?}"
    );
    let page = server.page(&domain(&lab, "mx-wrong-name")).await;
    assert!(page.body.contains("data-code=\"mx-host-private\""));
    assert!(!page.body.contains("data-code=\"mx-cert-hostname\""));
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_the_form_again_or_a_json_error() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    let long = "a".repeat(300);
    let cases: &[(&str, &str)] = &[
        ("https://x.com", "domain-invalid"),
        ("a.com/path", "domain-invalid"),
        ("a.com:25", "domain-invalid"),
        ("192.0.2.1", "domain-invalid"),
        ("user@a.com", "domain-invalid"),
        (&long, "domain-invalid"),
        ("", "domain-missing"),
        ("\"><script>alert(1)</script>", "domain-invalid"),
    ];
    for (input, code) in cases {
        let page = server.page(input).await;
        assert_eq!(page.status, 400, "{input}");
        let body = &page.body;
        assert!(
            body.contains("<form") && body.contains("id=\"domain-error\""),
            "{input}: {body}"
        );
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(!body.contains("id=\"verdict\""));

        let api = server.check(input).await;
        assert_eq!(api.status, 400, "{input}");
        assert_eq!(api.error_code(), *code, "{input}");
        assert!(api.json()["error"]["message"].is_string());
    }
    // What was typed comes back in the input, escaped.
    let page = server.page("\"><script>alert(1)</script>").await;
    assert!(
        page.body
            .contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "{}",
        page.body
    );
    let page = server.page("a.com:25").await;
    assert!(page.body.contains("value=\"a.com:25\""));

    let missing = server.get("/api/v1/check").await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (400, "domain-missing")
    );
    let metrics = server.get("/metrics").await.body;
    let refused = 2 * cases.len() + 3;
    assert_eq!(
        metric(
            &metrics,
            "mta_sts_rejected_requests_total{reason=\"invalid\"}"
        ),
        refused as f64
    );
    assert_eq!(
        metric(&metrics, "mta_sts_check_duration_seconds_count"),
        0.0
    );
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disguised_names_are_refused_saying_what_is_wrong() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    // Without the zero-width space this is a lab domain the checker would check.
    let healthy = domain(&lab, "healthy-enforce");
    let hidden = healthy.replacen('-', "-\u{200B}", 1);
    let cases: &[(&str, &[&str])] = &[
        (&hidden, &["U+200B (zero width space)", "invisible"]),
        (
            "0x7f000001",
            &["IPv4 address 127.0.0.1", "not a mail domain"],
        ),
        (
            "0177.0.0.1",
            &["IPv4 address 127.0.0.1", "not a mail domain"],
        ),
        (
            "example.com\r\nHost: evil",
            &["U+000D (carriage return)", "control character"],
        ),
    ];
    for (input, words) in cases {
        let api = server.check(input).await;
        assert_eq!(api.status, 400, "{input:?}");
        assert_eq!(api.error_code(), "domain-invalid", "{input:?}");
        let message = api.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_string();
        for word in *words {
            assert!(message.contains(word), "{input:?}: {message}");
        }
        assert!(!message.contains("port"), "{input:?}: {message}");
        let page = server.page(input).await;
        assert_eq!(page.status, 400, "{input:?}");
        assert!(page.body.contains(words[0]), "{input:?}: {}", page.body);
    }
    // The name without the invisible character is checked as before.
    assert_eq!(server.check(&healthy).await.status, 200);
    server.stop().await;
    lab.shutdown().await;
}

fn retry_after(response: &crate::client::Response) -> u64 {
    response
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", response.headers))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_third_uncached_check_in_a_minute_is_refused_at_two_a_minute() {
    let lab = Lab::start().await.expect("lab");
    let mut config = config(&lab);
    config.rate_per_minute = 2;
    let server = Server::start(config).await;
    for scenario in ["healthy-enforce", "policy-404"] {
        assert_eq!(server.check(&domain(&lab, scenario)).await.status, 200);
    }
    let refused = server.check(&domain(&lab, "mx-wrong-name")).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error_code(), "rate-limited");
    assert!((1..=30).contains(&retry_after(&refused)));
    // The page says so too, keeping what was typed.
    let page = server.page(&domain(&lab, "mx-wrong-name")).await;
    assert_eq!(page.status, 429);
    assert!(retry_after(&page) >= 1);
    assert!(page.body.contains("Too many checks"));
    assert!(page.body.contains("value=\"mx-wrong-name.test\""));
    let metrics = server.get("/metrics").await.body;
    assert_eq!(
        metric(
            &metrics,
            "mta_sts_rejected_requests_total{reason=\"rate-limited\"}"
        ),
        2.0
    );
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_beyond_the_concurrency_cap_is_refused_busy() {
    let lab = Lab::start().await.expect("lab");
    let mut settings = settings(&lab);
    settings.timeout = Duration::from_secs(6);
    let mut config = WebConfig::new(settings);
    config.max_concurrent_checks = 1;
    config.check_timeout = Duration::from_secs(15);
    let server = Server::start(config).await;

    // The slow check holds the only slot from the moment its page starts.
    let mut slow = Conn::open(
        server.addr,
        &format!("/?domain={}", domain(&lab, "policy-slow")),
    )
    .await;
    assert_eq!(slow.status, 200);
    slow.next_chunk().await.expect("the page head");
    let busy = server.check(&domain(&lab, "healthy-enforce")).await;
    assert_eq!(busy.status, 429);
    assert_eq!(busy.error_code(), "busy");
    assert!(retry_after(&busy) >= 1);

    // Once it is done, the slot is free again.
    assert!(slow.finish().await.body.contains("id=\"verdict\""));
    assert_eq!(
        server.check(&domain(&lab, "healthy-enforce")).await.status,
        200
    );
    let metrics = server.get("/metrics").await.body;
    assert_eq!(
        metric(&metrics, "mta_sts_rejected_requests_total{reason=\"busy\"}"),
        1.0
    );
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_result_is_served_without_a_check_or_a_token() {
    let lab = Lab::start().await.expect("lab");
    let mut config = config(&lab);
    config.rate_per_minute = 1;
    let server = Server::start(config).await;
    let healthy = domain(&lab, "healthy-enforce");

    let first = server.check(&healthy).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("age"), None);
    let again = server.check(&healthy).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.header("age").is_some());
    assert_eq!(again.json()["verdict"], first.json()["verdict"]);
    // The permalink, reloaded: the whole page at once, from the cache.
    let page = server.page(&healthy).await;
    assert_eq!(page.status, 200);
    assert!(page.header("age").is_some());
    assert!(page.body.contains("data-verdict=\"pass\""));
    assert!(page.body.contains("from the cache"));
    assert!(!page.body.contains("class=\"status\""));

    // The one token went to the first check: an uncached domain is refused.
    let other = server.check(&domain(&lab, "policy-404")).await;
    assert_eq!(other.error_code(), "rate-limited");

    let metrics = server.get("/metrics").await.body;
    assert_eq!(
        metric(&metrics, "mta_sts_checks_total{verdict=\"pass\"}"),
        1.0
    );
    assert_eq!(
        metric(&metrics, "mta_sts_check_duration_seconds_count"),
        1.0
    );
    assert_eq!(metric(&metrics, "mta_sts_cache_hits_total"), 2.0);
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_past_its_time_limit_is_cut_off() {
    let lab = Lab::start().await.expect("lab");
    // The fetch would wait 6 s for the slow policy host; the check may take 1 s.
    let mut settings = settings(&lab);
    settings.timeout = Duration::from_secs(6);
    let mut config = WebConfig::new(settings);
    config.check_timeout = Duration::from_secs(1);
    let server = Server::start(config).await;
    let slow = domain(&lab, "policy-slow");

    let started = Instant::now();
    let api = server.check(&slow).await;
    assert_eq!(api.status, 504, "{}", api.body);
    assert_eq!(api.error_code(), "check-timeout");
    assert!(started.elapsed() < Duration::from_millis(2900));

    // The page's status is sent before the check starts: the time-out is a section of it.
    let page = server.get(&format!("/?domain={}", encode(&slow))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"check-error\""), "{}", page.body);
    assert!(!page.body.contains("id=\"verdict\""));
    assert!(page.body.trim_end().ends_with("</html>"));

    let metrics = server.get("/metrics").await.body;
    assert_eq!(metric(&metrics, "mta_sts_check_timeouts_total"), 2.0);
    assert_eq!(
        metric(&metrics, "mta_sts_check_duration_seconds_count"),
        0.0
    );
    server.stop().await;
    lab.shutdown().await;
}
