//! Every route: the form, the result page (healthy, broken, streamed), the assets, health,
//! metrics and 404s.

use std::time::Duration;

use mta_sts_lab::Lab;
use mta_sts_web::WebConfig;

use crate::{Server, config, domain, metric, settings};

#[tokio::test(flavor = "multi_thread")]
async fn form_assets_health_openapi_metrics_and_404() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;

    let form = server.get("/").await;
    assert_eq!(form.status, 200);
    assert_eq!(
        form.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for needle in [
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "name=\"viewport\"",
        "<label for=\"domain\">",
        "id=\"domain\" name=\"domain\"",
        "<button type=\"submit\">",
        "<h1>",
    ] {
        assert!(
            form.body.contains(needle),
            "{needle} missing:\n{}",
            form.body
        );
    }
    assert!(form.body.trim_end().ends_with("</html>"));
    let csp = form.header("content-security-policy").expect("CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");

    // The page links to its assets by versioned URLs, which serve the same files.
    for (path, content_type, marker) in [
        ("/assets/app.css", "text/css; charset=utf-8", ".result"),
        (
            "/assets/app.js",
            "text/javascript; charset=utf-8",
            "navigator.clipboard",
        ),
    ] {
        let linked = form
            .body
            .split('"')
            .find(|s| s.starts_with(&format!("{path}?v=")))
            .unwrap_or_else(|| panic!("{path} not linked"));
        for url in [path, linked] {
            let asset = server.get(url).await;
            assert_eq!(asset.status, 200, "{url}");
            assert_eq!(asset.header("content-type"), Some(content_type));
            assert!(
                asset
                    .header("cache-control")
                    .is_some_and(|c| c.contains("max-age=31536000")),
                "{:?}",
                asset.headers
            );
            assert!(asset.body.contains(marker));
        }
    }

    let health = server.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    let openapi = server.get("/api/v1/openapi.json").await;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.header("content-type"), Some("application/json"));
    let document = openapi.json();
    assert_eq!(document["openapi"], "3.1.0");
    for path in ["/api/v1/check", "/healthz", "/metrics"] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
    assert!(document["components"]["schemas"]["Error"].is_object());

    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text"))
    );
    assert_eq!(
        metric(&metrics.body, "mta_sts_checks_total{verdict=\"pass\"}"),
        0.0
    );

    let missing = server.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Not found"));
    let missing = server.get("/api/v1/nothing").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not-found");

    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_domain_passes_with_every_section() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    let domain = domain(&lab, "healthy-enforce");
    let page = server.page(&domain).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("transfer-encoding"), Some("chunked"));
    // The head, the first stage, then the rest.
    assert_eq!(page.chunk_times.len(), 3, "{:?}", page.chunk_times);
    let body = &page.body;
    for needle in [
        "id=\"verdict\"",
        "data-verdict=\"pass\"",
        "id=\"records\"",
        "id=\"policy\"",
        "id=\"tls-reporting\"",
        "id=\"mx-hosts\"",
        "MTA-STS record",
        "TLS reporting",
        "MX hosts",
        // The policy's hash beside the TXT id.
        "change the id whenever this hash changes",
        // The MX probe.
        "STARTTLS",
        "TLSv1.3",
        "days left",
        "What this check cannot prove: how each sending server behaves.",
        &format!("href=\"/?domain={domain}\""),
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    assert!(
        !body.contains("To publish"),
        "nothing to publish when healthy"
    );
    assert!(!body.contains("data-mark=\"fail\""));
    // Headings in order: the page's h1 before every h2.
    let h1 = body.find("<h1>").expect("h1");
    assert!(body.find("<h2").is_some_and(|h2| h2 > h1));
    assert!(body.trim_end().ends_with("</html>"));
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_domain_fails_with_the_finding_and_blocks_to_copy() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;

    let page = server.page(&domain(&lab, "mx-wrong-name")).await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    for needle in [
        "data-verdict=\"fail\"",
        "data-code=\"mx-cert-hostname\"",
        "data-mark=\"fail\"",
        // The policy as served, to copy and edit.
        "<pre class=\"copy",
        "default.hosting.test",
        "Fix:",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }

    // A policy that does not list the real MX: the fix is a new policy and TXT id to publish.
    let page = server.page(&domain(&lab, "mx-not-in-policy")).await;
    let body = &page.body;
    for needle in [
        "data-code=\"mx-not-in-policy\"",
        "To publish",
        "<pre class=\"copy\">_mta-sts.",
        "v=STSv1; id=",
        "version: STSv1",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_result_page_streams_before_the_check_ends() {
    let lab = Lab::start().await.expect("lab");
    // The policy host answers after 3 s; both limits allow for it.
    let mut settings = settings(&lab);
    settings.timeout = Duration::from_secs(6);
    let mut config = WebConfig::new(settings);
    config.check_timeout = Duration::from_secs(15);
    let server = Server::start(config).await;

    let mut conn = crate::client::Conn::open(
        server.addr,
        &format!("/?domain={}", domain(&lab, "policy-slow")),
    )
    .await;
    assert_eq!(conn.status, 200);
    assert!(conn.is_chunked());
    let (first, first_at) = conn.next_chunk().await.expect("a first chunk");
    let first = String::from_utf8(first).expect("UTF-8");
    // Head, form and status: everything a visitor needs while waiting.
    assert!(
        first.contains("<form") && first.contains("class=\"status\""),
        "{first}"
    );
    assert!(!first.contains("id=\"verdict\""));
    let rest = conn.finish().await;
    let last_at = *rest.chunk_times.last().expect("more chunks");
    assert!(
        first_at < Duration::from_secs(1) && last_at >= Duration::from_secs(3),
        "first chunk at {first_at:?}, last at {last_at:?}"
    );
    assert!(rest.body.contains("id=\"verdict\""));
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_checks_by_verdict() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;
    assert_eq!(
        server.check(&domain(&lab, "healthy-enforce")).await.status,
        200
    );
    assert_eq!(server.page(&domain(&lab, "policy-404")).await.status, 200);
    let text = server.get("/metrics").await.body;
    assert_eq!(metric(&text, "mta_sts_checks_total{verdict=\"pass\"}"), 1.0);
    assert_eq!(metric(&text, "mta_sts_checks_total{verdict=\"fail\"}"), 1.0);
    assert_eq!(metric(&text, "mta_sts_checks_total{verdict=\"warn\"}"), 0.0);
    assert_eq!(metric(&text, "mta_sts_check_duration_seconds_count"), 2.0);
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_could_not_be_learnt_is_said_without_blaming_the_domain() {
    let lab = Lab::start().await.expect("lab");
    let server = Server::start(config(&lab)).await;

    // Every name of this domain answers SERVFAIL: nothing can be learnt, nothing is judged.
    let page = server.page(mta_sts_lab::SERVFAIL_DOMAIN).await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    for needle in [
        "data-verdict=\"unknown\"",
        "data-mark=\"unknown\"",
        "The check could not be completed",
        "Could not learn the MX records of servfail.test: the resolver answered SERVFAIL",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    for blame in [
        "Fix:",
        "To publish",
        "data-code=",
        "data-mark=\"fail\"",
        "data-mark=\"pass\"",
    ] {
        assert!(!body.contains(blame), "{blame} in:\n{body}");
    }

    // A domain that does not exist is said so, with no sections to judge.
    let page = server.page("nonexistent.test").await;
    let body = &page.body;
    assert!(body.contains("data-verdict=\"unknown\""), "{body}");
    assert!(body.contains("the domain does not exist"), "{body}");
    assert!(
        body.contains("nonexistent.test does not exist (its MX lookup answered NXDOMAIN)"),
        "{body}"
    );
    assert!(
        !body.contains("id=\"records\"") && !body.contains("Fix:"),
        "{body}"
    );
    server.stop().await;
    lab.shutdown().await;
}
