//! The dashboard of `mta-sts serve` over real sockets: every route refuses without a session
//! (pages send to the login, the API answers 401), the login form (cookie attributes, Origin
//! check, wrong passwords, rate limit), bearer tokens for the API only, logout with its CSRF
//! token, the OpenAPI document, and hostile report contents shown escaped.

mod dashboard_fixture;
mod serve_harness;

use std::net::SocketAddr;

use dashboard_fixture::{
    CLEAN, FAILING, HOSTILE, PASSWORD, QUIET, TOKEN, USER, fill, login, start, write_config,
};
use serde_json::Value;
use serve_harness::{Answer, TempDir, request};

const OPENAPI: &str = include_str!("../../mta-sts-serve/src/dashboard/openapi.json");

/// Every page route, with a path to try it on (the API's come from the OpenAPI document).
const PAGES: [(&str, &str); 4] = [
    ("GET", "/"),
    ("GET", "/domains/acme.test"),
    ("GET", "/reports/1"),
    ("POST", "/logout"),
];

/// Every API route of the OpenAPI document, with `{domain}` filled in.
fn api_routes() -> Vec<String> {
    let document: Value = serde_json::from_str(OPENAPI).expect("OpenAPI JSON");
    document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|path| path.replace("{domain}", CLEAN).replace("{key}", "1"))
        .collect()
}

async fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(address, None, "GET", path, headers, Vec::new()).await
}

async fn post_form(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    request(address, None, "POST", path, &all, body.as_bytes().to_vec()).await
}

/// Whether an answer gives away nothing of the reports: a redirect to the login page or a 401
/// with a sentence, and no domain data in the body.
fn refused(answer: &Answer, api: bool) -> bool {
    let status_ok = if api {
        answer.status == 401 && answer.headers.contains_key("www-authenticate")
    } else {
        answer.status == 303
            && answer.headers["location"]
                .to_str()
                .is_ok_and(|location| location.starts_with("/login"))
    };
    status_ok && !answer.body.contains("Example Mail") && !answer.body.contains("sessions")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_without_a_session_and_serves_with_one() {
    let dir = TempDir::new("dashboard-access");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = write_config(&dir, &store, true, "");
    let (_server, address) = start(&config);
    fill(address).await;

    let api = api_routes();
    assert!(api.len() >= 4, "{api:?}");
    // Without anything, with a made-up session, with a wrong token, with a token sent as a
    // cookie: refused, every route.
    for headers in [
        vec![],
        vec![(
            "cookie",
            "mta-sts-session=0000000000000000000000000000000000000000000000000000000000000000",
        )],
        vec![("authorization", "Bearer not-the-token")],
        vec![("cookie", "mta-sts-session=dashboard-test-token-0123456789")],
    ] {
        for (method, path) in PAGES {
            let answer = request(address, None, method, path, &headers, Vec::new()).await;
            assert!(
                refused(&answer, false),
                "{method} {path} {headers:?}: {} {}",
                answer.status,
                answer.body
            );
        }
        for path in &api {
            let answer = get(address, path, &headers).await;
            assert!(
                refused(&answer, true),
                "GET {path} {headers:?}: {} {}",
                answer.status,
                answer.body
            );
        }
    }
    // A bearer token opens the API, never the pages.
    let bearer = format!("Bearer {TOKEN}");
    for path in &api {
        let answer = get(address, path, &[("authorization", &bearer)]).await;
        assert_eq!(
            answer.status, 200,
            "GET {path} with the token: {}",
            answer.body
        );
    }
    for (method, path) in PAGES {
        let answer = request(
            address,
            None,
            method,
            path,
            &[("authorization", &bearer)],
            Vec::new(),
        )
        .await;
        assert!(
            refused(&answer, false),
            "{method} {path} with a token: {}",
            answer.status
        );
    }
    // The intake, /healthz and /metrics stay open.
    assert_eq!(get(address, "/healthz", &[]).await.status, 200);
    assert_eq!(get(address, "/metrics", &[]).await.status, 200);

    // A session opens every page and the API.
    let cookie = login(address).await;
    for (method, path) in PAGES.iter().filter(|(method, _)| *method == "GET") {
        let answer = request(
            address,
            None,
            method,
            path,
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await;
        assert_eq!(answer.status, 200, "{method} {path}: {}", answer.body);
        assert!(
            answer.headers["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'")
        );
    }
    for path in &api {
        assert_eq!(
            get(address, path, &[("cookie", &cookie)]).await.status,
            200,
            "GET {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn login_logout_csrf_and_rate_limits() {
    let dir = TempDir::new("dashboard-login");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = write_config(&dir, &store, true, "logins_per_minute = 4");
    let (_server, address) = start(&config);

    let form = get(address, "/login?next=/domains/acme.test", &[]).await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("name=\"password\"")
            && form.body.contains("value=\"/domains/acme.test\"")
    );

    let good = format!(
        "name={USER}&password={}&next=%2Fdomains%2Facme.test",
        PASSWORD.replace(' ', "+")
    );
    // From another site, or without an Origin: refused before the password is looked at.
    for origin in [vec![("origin", "https://evil.example")], vec![]] {
        let answer = post_form(address, "/login", &origin, &good).await;
        assert_eq!(answer.status, 403, "{origin:?}");
        assert!(!answer.headers.contains_key("set-cookie"));
    }
    let same = [("origin", "http://localhost")];
    let answer = post_form(
        address,
        "/login",
        &same,
        &format!("name={USER}&password=wrong"),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert!(
        answer.body.contains("The name or the password is wrong."),
        "{}",
        answer.body
    );
    assert!(!answer.headers.contains_key("set-cookie"));

    let answer = post_form(address, "/login", &same, &good).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.headers["location"], "/domains/acme.test");
    let set_cookie = answer.headers["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().expect("pair").to_string();
    let id = cookie.split_once('=').expect("value").1;
    assert_eq!(id.len(), 64, "256 random bits in hex");

    // A login never sends anyone off this server.
    let away = post_form(
        address,
        "/login",
        &same,
        &good.replace("%2Fdomains%2Facme.test", "%2F%2Fevil.example"),
    )
    .await;
    assert_eq!(away.headers["location"], "/");
    // A page far past the last is empty, not an error.
    let far = get(
        address,
        "/api/v1/domains/acme.test/reports?page=18446744073709551615",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(far.status, 200, "{}", far.body);

    // Logout needs the session's CSRF token and this server's Origin.
    let page = get(address, "/", &[("cookie", &cookie)]).await;
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the logout form's token")
        .to_string();
    let with_cookie = [("cookie", cookie.as_str()), ("origin", "http://localhost")];
    assert_eq!(
        post_form(address, "/logout", &with_cookie, "csrf=forged")
            .await
            .status,
        403
    );
    let cross = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(
        post_form(address, "/logout", &cross, &format!("csrf={csrf}"))
            .await
            .status,
        403
    );
    assert_eq!(
        get(address, "/", &[("cookie", &cookie)]).await.status,
        200,
        "still logged in"
    );
    let out = post_form(address, "/logout", &with_cookie, &format!("csrf={csrf}")).await;
    assert_eq!(out.status, 303);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .expect("cookie")
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(address, "/", &[("cookie", &cookie)]).await.status,
        303,
        "the session is gone"
    );

    // Four attempts a minute from this client were allowed (two counted above, plus the
    // redirect test's and this one); then 429 with Retry-After, even for the right password.
    let mut limited = None;
    for _ in 0..4 {
        let answer = post_form(address, "/login", &same, &good).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a 429 within four more attempts");
    assert!(limited.headers.contains_key("retry-after"));
    assert!(
        limited.body.contains("Too many login attempts"),
        "{}",
        limited.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_users_everyone_is_refused_and_the_login_page_says_how_to_add_one() {
    let dir = TempDir::new("dashboard-nousers");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = write_config(&dir, &store, false, "metrics_public = false");
    let (_server, address) = start(&config);
    let page = get(address, "/login", &[]).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("No user is configured"), "{}", page.body);
    assert!(page.body.contains("mta-sts serve hash-password"));
    assert!(!page.body.contains("name=\"password\""), "no form to fill");
    let answer = post_form(
        address,
        "/login",
        &[("origin", "http://localhost")],
        "name=owner&password=x",
    )
    .await;
    assert_eq!(answer.status, 503);
    assert!(refused(&get(address, "/", &[]).await, false));
    assert!(refused(&get(address, "/api/v1/domains", &[]).await, true));
    // metrics_public = false: /metrics wants a login too.
    assert_eq!(get(address, "/metrics", &[]).await.status, 401);
    assert_eq!(get(address, "/healthz", &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_and_api_show_the_reports_with_hostile_text_escaped_on_sqlite() {
    let dir = TempDir::new("dashboard-pages");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    pages_and_api_on(&store, &dir).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_and_api_show_the_reports_with_hostile_text_escaped_on_postgres() {
    let Some(database) =
        mta_sts_store::test_support::TestDatabase::create("dashboard_pages_on_postgres").await
    else {
        return;
    };
    let dir = TempDir::new("dashboard-pages-pg");
    pages_and_api_on(database.url(), &dir).await;
}

async fn pages_and_api_on(store: &str, dir: &TempDir) {
    let config = write_config(dir, store, true, "");
    let (_server, address) = start(&config);
    fill(address).await;
    let cookie = login(address).await;
    let headers = [("cookie", cookie.as_str())];

    let overview = get(address, "/", &headers).await;
    assert!(
        overview.body.contains(&format!(
            "data-domain=\"{FAILING}\" data-verdict=\"failures\""
        )),
        "{}",
        overview.body
    );
    assert!(
        overview
            .body
            .contains(&format!("data-domain=\"{CLEAN}\" data-verdict=\"healthy\""))
    );
    assert!(overview.body.contains(&format!(
        "data-domain=\"{QUIET}\" data-verdict=\"no-reports\""
    )));
    // Failing domains first.
    let first_row = overview.body.find("data-verdict=").expect("rows");
    assert!(overview.body[first_row..].starts_with("data-verdict=\"failures\""));

    let quiet = get(address, &format!("/domains/{QUIET}"), &headers).await;
    assert!(
        quiet.body.contains(&format!("No reports yet for {QUIET}")),
        "{}",
        quiet.body
    );

    let page = get(address, &format!("/domains/{FAILING}"), &headers).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<g class=\"bar\"").count(),
        30,
        "one bar per day of the 30-day window"
    );
    assert!(page.body.contains(&format!("mx2.{FAILING}")));
    // The reporter that stopped five days ago is flagged silent, the others are not.
    assert!(
        page.body
            .contains("<tr data-silent=\"true\"><th scope=\"row\">Quiet Reporter"),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("data-silent=\"true\"").count(), 1);
    // The legend names each result type that failed, and successful sessions.
    for series in [
        "successful",
        "certificate-expired",
        "starttls-not-supported",
    ] {
        assert!(
            page.body
                .contains(&format!("class=\"legend-item\" data-series=\"{series}\"")),
            "{series}"
        );
    }
    assert!(
        page.body.contains("id=\"advice\""),
        "the live check and advice section"
    );

    let hostile = get(address, &format!("/domains/{HOSTILE}"), &headers).await;
    assert_eq!(hostile.status, 200);
    for raw in ["<script", "<img", "onerror=\"window"] {
        assert!(
            !hostile.body.contains(raw),
            "{raw} unescaped in {}",
            hostile.body
        );
    }
    assert!(
        hostile
            .body
            .contains("&lt;script&gt;window.__xss=1;alert(1)&lt;/script&gt;"),
        "{}",
        hostile.body
    );

    // The API says the same as the pages.
    let bearer = format!("Bearer {TOKEN}");
    let list: Value = serde_json::from_str(
        &get(address, "/api/v1/domains", &[("authorization", &bearer)])
            .await
            .body,
    )
    .expect("JSON");
    let row = list["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|row| row["domain"] == FAILING)
        .expect("row")
        .clone();
    assert_eq!(row["verdict"]["code"], "failures");
    assert_eq!(row["failed"], 31 * 3 + 4 + 10);
    let view: Value = serde_json::from_str(
        &get(
            address,
            &format!("/api/v1/domains/{HOSTILE}"),
            &[("authorization", &bearer)],
        )
        .await
        .body,
    )
    .expect("JSON");
    let hostile_reports = view["reports"]["reports"]
        .as_array()
        .expect("reports")
        .clone();
    assert_eq!(hostile_reports.len(), 4);
    assert!(hostile_reports.iter().any(|r| {
        r["organization"]
            .as_str()
            .is_some_and(|o| o.contains("<script>"))
    }));
    // Each hostile report's page: every field of every failure detail, the policy, the contact
    // and the raw JSON are shown, escaped.
    for report in &hostile_reports {
        let key = report["key"].as_i64().expect("key");
        let page = get(address, &format!("/reports/{key}"), &headers).await;
        assert_eq!(page.status, 200);
        for raw in ["<script", "<img", "onerror=\"window"] {
            assert!(!page.body.contains(raw), "{raw} unescaped in {}", page.body);
        }
        let escaped = [
            "&lt;script&gt;window.__xss=1;alert(1)&lt;/script&gt;",
            "&quot;&gt;&lt;img src=x onerror=&quot;window.__xss=2;alert(2)&quot;&gt;",
        ];
        let shown = escaped
            .iter()
            .map(|text| page.body.matches(text).count())
            .sum::<usize>();
        // organisation, report id (heading), contact, policy string, mx host, result type, IP,
        // MX, HELO, receiving IP, reason code, additional information: at least 12 places.
        assert!(shown >= 12, "{shown} escaped copies in {}", page.body);
        assert!(page.body.contains("id=\"raw-json\""));
        let detail: Value = serde_json::from_str(
            &get(
                address,
                &format!("/api/v1/reports/{key}"),
                &[("authorization", &bearer)],
            )
            .await
            .body,
        )
        .expect("JSON");
        assert_eq!(detail["key"], key);
        assert!(
            detail["raw_json"]
                .as_str()
                .is_some_and(|raw| raw.contains("additional-information"))
        );
    }
    let unknown = get(
        address,
        "/api/v1/domains/elsewhere.example",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(serde_json::from_str::<Value>(&unknown.body).expect("JSON")["error"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_added_on_reload_can_log_in_and_a_removed_one_is_logged_out() {
    let dir = TempDir::new("dashboard-reload");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = write_config(&dir, &store, false, "");
    let (server, address) = start(&config);
    assert_eq!(get(address, "/login", &[]).await.status, 503);
    // The same file, now with the user: read again on SIGHUP.
    write_config(&dir, &store, true, "");
    server.signal("HUP");
    server.wait_for("reloaded");
    let cookie = login(address).await;
    assert_eq!(get(address, "/", &[("cookie", &cookie)]).await.status, 200);
    // Without the user again: its session no longer opens anything.
    write_config(&dir, &store, false, "");
    server.signal("HUP");
    server.wait_for("reloaded");
    assert!(refused(
        &get(address, "/", &[("cookie", &cookie)]).await,
        false
    ));
}
