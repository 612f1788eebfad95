use http_body_util::BodyExt as _;
use prometheus_client::registry::Registry;
use tower_service::Service as _;

use super::*;

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n";

fn router(scheme: Scheme) -> (HostRouter, Hosting) {
    let hosting = Hosting::default();
    hosting
        .policies
        .set(HostedPolicy::new("example.com", POLICY));
    let fetches = FetchLog::register(&mut Registry::default());
    let app = Router::new().fallback(|| async { "the app" });
    (
        HostRouter::new(scheme, hosting.clone(), fetches, app),
        hosting,
    )
}

async fn ask(router: &mut HostRouter, method: Method, host: &str, target: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .body(Body::empty())
        .expect("request");
    let response = router.call(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

#[test]
fn the_policy_domain_comes_from_the_host_in_any_case_with_or_without_port() {
    let domain = |host: &str| {
        let request = Request::builder()
            .uri("/")
            .header(header::HOST, host)
            .body(())
            .expect("request");
        policy_domain(&request)
    };
    assert_eq!(
        domain("mta-sts.example.com").as_deref(),
        Some("example.com")
    );
    assert_eq!(
        domain("MTA-STS.Example.COM:443").as_deref(),
        Some("example.com")
    );
    assert_eq!(
        domain("mta-sts.example.com.").as_deref(),
        Some("example.com")
    );
    assert_eq!(domain("reports.example.com"), None);
    assert_eq!(domain("mta-sts."), None);
    assert_eq!(domain("[::1]:443"), None);
    // HTTP/2's :authority (and an absolute-form target) wins over the Host header.
    let request = Request::builder()
        .uri("https://mta-sts.example.net/.well-known/mta-sts.txt")
        .header(header::HOST, "mta-sts.example.com")
        .body(())
        .expect("request");
    assert_eq!(policy_domain(&request).as_deref(), Some("example.net"));
}

#[tokio::test]
async fn exactly_the_policy_path_is_served_and_nothing_redirects() {
    let (mut router, _) = router(Scheme::Https);
    let host = "mta-sts.example.com";
    let answer = ask(&mut router, Method::GET, host, POLICY_PATH).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, POLICY);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        answer.headers[header::CONTENT_LENGTH],
        POLICY.len().to_string().as_str()
    );
    let head = ask(&mut router, Method::HEAD, host, POLICY_PATH).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.body, "");
    assert_eq!(
        head.headers[header::CONTENT_LENGTH],
        POLICY.len().to_string().as_str()
    );
    for target in [
        "/",
        "/.well-known/mta-sts.txt/",
        "/.well-known/MTA-STS.txt",
        "/.well-known/mta-sts.txt?",
        "/.well-known/mta-sts.txt?v=1",
        "/.well-known//mta-sts.txt",
        "/tlsrpt",
    ] {
        let answer = ask(&mut router, Method::GET, host, target).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{target}");
        assert!(answer.headers.get(header::LOCATION).is_none(), "{target}");
    }
    let post = ask(&mut router, Method::POST, host, POLICY_PATH).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers[header::ALLOW], "GET, HEAD");
}

#[tokio::test]
async fn other_hosts_and_unhosted_policy_hosts_reach_the_app() {
    let (mut router, hosting) = router(Scheme::Https);
    for host in ["reports.example.com", "mta-sts.example.org"] {
        let answer = ask(&mut router, Method::GET, host, POLICY_PATH).await;
        assert_eq!(answer.body, "the app", "{host}");
    }
    hosting.policies.remove("example.com");
    let answer = ask(&mut router, Method::GET, "mta-sts.example.com", POLICY_PATH).await;
    assert_eq!(answer.body, "the app");
    // Configured as hosted but without a policy yet (auto, before its first generation): a
    // plain 404, never the app.
    hosting.configured.replace(["example.com".to_string()]);
    let answer = ask(&mut router, Method::GET, "mta-sts.example.com", "/").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_ne!(answer.body, "the app");
}

#[tokio::test]
async fn plain_http_answers_only_pending_acme_challenges_for_policy_hosts() {
    let (mut router, hosting) = router(Scheme::Http);
    let host = "mta-sts.example.com";
    let policy = ask(&mut router, Method::GET, host, POLICY_PATH).await;
    assert_eq!(policy.status, StatusCode::NOT_FOUND);
    assert!(policy.headers.get(header::LOCATION).is_none());
    let challenge = "/.well-known/acme-challenge/token-1";
    assert_eq!(
        ask(&mut router, Method::GET, host, challenge).await.status,
        StatusCode::NOT_FOUND
    );
    hosting
        .challenges
        .insert_http01("token-1", "token-1.thumbprint");
    let answer = ask(&mut router, Method::GET, host, challenge).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "token-1.thumbprint");
    // Other hosts go to the app, which serves no challenge.
    let answer = ask(&mut router, Method::GET, "reports.example.com", challenge).await;
    assert_eq!(answer.body, "the app");
}
