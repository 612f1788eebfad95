//! The HTTPS policy hosts and the plain-HTTP host.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::{Duration, Instant},
};

use mta_sts_lab::{CertKind, HTTP_ONLY_ADDR, Lab, POLICY_PATH};
use rustls::CertificateError;
use tokio::net::TcpStream;

use crate::support::{
    cert_error, client_config, client_config_at, fetch_policy, http_get, https_get,
    insecure_config, renamed, tls_connect,
};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn healthy_policy_is_served_as_text_plain() {
    let lab = Lab::start().await.expect("lab starts");
    let response = fetch_policy(&lab, "mta-sts.healthy-enforce.test")
        .await
        .expect("fetch works");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let body = String::from_utf8(response.body).expect("utf-8");
    let lines: Vec<_> = body.lines().collect();
    assert_eq!(
        lines,
        [
            "version: STSv1",
            "mode: enforce",
            "mx: mx.healthy-enforce.test",
            "max_age: 604800"
        ]
    );
}

#[tokio::test]
async fn alpn_is_http_1_1() {
    let lab = Lab::start().await.expect("lab starts");
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, lab.https_port()))
        .await
        .expect("connect");
    let config = client_config(&lab, &[b"h2", b"http/1.1"]);
    let tls = tls_connect(config, "mta-sts.healthy-enforce.test", tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn other_paths_get_404() {
    let lab = Lab::start().await.expect("lab starts");
    let config = client_config(&lab, &[]);
    let response = https_get(&lab, config, LOCAL, "mta-sts.healthy-enforce.test", "/")
        .await
        .expect("fetch works");
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn policy_404() {
    let lab = Lab::start().await.expect("lab starts");
    let response = fetch_policy(&lab, "mta-sts.policy-404.test")
        .await
        .expect("fetch works");
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn redirect_has_a_location_to_a_working_policy() {
    let lab = Lab::start().await.expect("lab starts");
    let response = fetch_policy(&lab, "mta-sts.policy-redirect.test")
        .await
        .expect("fetch works");
    assert_eq!(response.status, 301);
    let location = response.header("location").expect("Location header");
    assert_eq!(
        location,
        "https://www.policy-redirect.test/.well-known/mta-sts.txt"
    );
    let target = fetch_policy(&lab, "www.policy-redirect.test")
        .await
        .expect("target works");
    assert_eq!(target.status, 200);
}

#[tokio::test]
async fn html_page_and_oversized_policy() {
    let lab = Lab::start().await.expect("lab starts");
    let html = fetch_policy(&lab, "mta-sts.policy-html.test")
        .await
        .expect("fetch works");
    assert_eq!(html.status, 200);
    assert!(
        html.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let untyped = fetch_policy(&lab, "mta-sts.policy-no-type.test")
        .await
        .expect("fetch works");
    assert_eq!(untyped.status, 200);
    assert_eq!(untyped.header("content-type"), None);
    let big = fetch_policy(&lab, "mta-sts.policy-too-large.test")
        .await
        .expect("fetch works");
    assert!(big.body.len() > 64 * 1024);
    assert!(big.body.starts_with(b"version: STSv1\n"));
    let bom = fetch_policy(&lab, "mta-sts.policy-bom.test")
        .await
        .expect("fetch works");
    assert!(bom.body.starts_with(&[0xEF, 0xBB, 0xBF]));
}

#[tokio::test]
async fn bad_policy_certificates_fail_verification() {
    let lab = Lab::start().await.expect("lab starts");
    for (host, expected) in [
        ("mta-sts.policy-self-signed.test", "UnknownIssuer"),
        ("mta-sts.policy-wrong-name.test", "NotValidForName"),
        ("mta-sts.policy-expired.test", "Expired"),
    ] {
        let error = fetch_policy(&lab, host).await.expect_err(host);
        let kind = match cert_error(&error) {
            Some(CertificateError::UnknownIssuer) => "UnknownIssuer",
            Some(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => "NotValidForName",
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => "Expired",
            other => panic!("{host}: unexpected {other:?} ({error})"),
        };
        assert_eq!(kind, expected, "{host}");
        // Behind the bad certificate the policy itself is fine.
        let response = https_get(&lab, insecure_config(), LOCAL, host, POLICY_PATH)
            .await
            .expect("insecure fetch works");
        assert_eq!(response.status, 200, "{host}");
    }
}

#[tokio::test]
async fn unknown_sni_aborts_the_handshake() {
    let lab = Lab::start().await.expect("lab starts");
    let error = https_get(
        &lab,
        insecure_config(),
        LOCAL,
        "mta-sts.no-such-scenario.test",
        POLICY_PATH,
    )
    .await
    .expect_err("no certificate for an unknown name");
    assert!(
        matches!(
            error
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>()),
            Some(rustls::Error::AlertReceived(_))
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn https_refused_but_http_works() {
    let lab = Lab::start().await.expect("lab starts");
    let host = "mta-sts.policy-http-only.test";
    let refused = TcpStream::connect(SocketAddr::new(HTTP_ONLY_ADDR.into(), lab.https_port()))
        .await
        .expect_err("HTTPS port refuses");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    let tcp = TcpStream::connect(SocketAddr::new(HTTP_ONLY_ADDR.into(), lab.http_port()))
        .await
        .expect("HTTP port answers");
    let response = http_get(tcp, host, POLICY_PATH).await.expect("HTTP works");
    assert_eq!(response.status, 200);
    assert!(response.body.starts_with(b"version: STSv1"));
}

#[tokio::test]
async fn slow_host_outlasts_a_short_timeout() {
    let lab = Lab::start().await.expect("lab starts");
    let started = Instant::now();
    let fetch = fetch_policy(&lab, "mta-sts.policy-slow.test");
    let outcome = tokio::time::timeout(Duration::from_secs(1), fetch).await;
    assert!(outcome.is_err(), "answered within 1 s: {outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn cname_policy_host_presents_its_own_name() {
    let lab = Lab::start().await.expect("lab starts");
    let response = fetch_policy(&lab, "mta-sts.policy-cname.test")
        .await
        .expect("certificate valid for mta-sts.<domain>");
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn ipv6_listener_serves_the_same_hosts() {
    let lab = Lab::start().await.expect("lab starts");
    if !lab.ipv6() {
        return;
    }
    let config = client_config(&lab, &[]);
    let response = https_get(
        &lab,
        config,
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        "mta-sts.healthy-enforce.test",
        POLICY_PATH,
    )
    .await
    .expect("fetch over ::1 works");
    assert_eq!(response.status, 200);
}

/// Custom scenarios work too; this one covers the not-yet-valid certificate kind.
#[tokio::test]
async fn not_yet_valid_certificate() {
    let mut scenario = renamed("healthy-enforce", "not-yet-valid", "not-yet-valid.test");
    scenario.policy_hosts[0].cert = CertKind::NotYetValid;
    let lab = Lab::start_with(vec![scenario], 0)
        .await
        .expect("lab starts");
    let error = fetch_policy(&lab, "mta-sts.not-yet-valid.test")
        .await
        .expect_err("not valid yet");
    assert!(
        matches!(
            cert_error(&error),
            Some(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. })
        ),
        "{error:?}"
    );
    // Seen from 31 days ahead, it is fine.
    let later = client_config_at(&lab, &[], Duration::from_secs(31 * 86_400));
    let response = https_get(
        &lab,
        later,
        LOCAL,
        "mta-sts.not-yet-valid.test",
        POLICY_PATH,
    )
    .await
    .expect("valid a month from now");
    assert_eq!(response.status, 200);
}
