//! The dashboard in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! Debian's chromedriver on loopback (a small client below: a handful of JSON calls do not
//! justify a WebDriver crate and its dependency tree). It logs in through the form, opens the
//! overview, a domain page with failures and the pages of hostile reports, saves a screenshot of
//! each under `target/screenshots/`, and asserts on the rendered DOM: the chart has one bar per
//! day, its legend names the result types, and no script of a report ran (no alert, no
//! `window.__xss`), its text shown as text.

mod dashboard_fixture;
mod serve_harness;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use dashboard_fixture::{CLEAN, FAILING, HOSTILE, PASSWORD, USER, fill, start, write_config};
use mta_sts_store::test_support::skip;
use serde_json::{Value, json};
use serve_harness::{TempDir, request};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    child: Child,
    address: SocketAddr,
}

impl Driver {
    fn start() -> Driver {
        // A free port: the OS picks one, it is let go, chromedriver takes it (it has no
        // port-0 mode that reports the port).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let mut child = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        // It says when it listens; that line is the synchronisation.
        let mut lines = stdout.lines();
        loop {
            let line = lines
                .next()
                .expect("chromedriver stopped before listening")
                .expect("read chromedriver");
            if line.contains("started successfully") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Driver {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session.
struct Browser {
    driver: SocketAddr,
    session: String,
}

impl Browser {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(self.driver, method, &path, body).await
    }

    async fn open(driver: SocketAddr) -> Browser {
        Browser::open_with(driver, &[]).await
    }

    async fn open_with(driver: SocketAddr, extra: &[&str]) -> Browser {
        let mut args = vec![
            // The flags browser.rs uses on this machine: no sandbox as root, no background
            // network traffic (the closed network would refuse it).
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,2400",
        ];
        args.extend_from_slice(extra);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
            },
        }}});
        let answer = call(driver, "POST", "/session", Some(capabilities)).await;
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Browser { driver, session }
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url}))).await;
    }

    async fn url(&self) -> String {
        self.call("GET", "/url", None).await["value"]
            .as_str()
            .expect("url")
            .to_string()
    }

    /// Waits (at most ten seconds) for the page a click started to be the current one:
    /// WebDriver's click returns before a form's POST and its redirect are done, and no
    /// command waits for that, so the URL is asked until it is the one expected.
    async fn until_url(&self, expected: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if expected(&url) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "still at {url}");
            tokio::task::yield_now().await;
        }
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let answer = self
            .call(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        answer["value"]
            .as_array()
            .unwrap_or_else(|| panic!("{css}: {answer}"))
            .iter()
            .map(|element| element[ELEMENT].as_str().expect("element id").to_string())
            .collect()
    }

    async fn find(&self, css: &str) -> String {
        let all = self.find_all(css).await;
        all.into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element {css}"))
    }

    async fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None)
            .await["value"]
            .as_str()
            .expect("text")
            .to_string()
    }

    async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.call("GET", &format!("/element/{element}/attribute/{name}"), None)
            .await["value"]
            .as_str()
            .map(str::to_string)
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Runs a script through WebDriver (not the page's: the page's own scripts are what must
    /// not run).
    async fn script(&self, source: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": source, "args": []})),
        )
        .await["value"]
            .clone()
    }

    /// Whether a JavaScript dialog is open (an `alert()` that ran).
    async fn alert_open(&self) -> bool {
        let answer = self.call("GET", "/alert/text", None).await;
        answer["value"]["error"] != "no such alert"
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let answer = self.call("GET", "/screenshot", None).await;
        let png = base64_decode(answer["value"].as_str().expect("screenshot"));
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "not a screenshot"
        );
        let path = screenshots().join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    async fn close(self) {
        call(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        )
        .await;
    }
}

async fn call(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let answer = request(
        driver,
        None,
        method,
        path,
        &[("content-type", "application/json; charset=utf-8")],
        body,
    )
    .await;
    serde_json::from_str(&answer.body)
        .unwrap_or_else(|_| panic!("{method} {path}: {} {}", answer.status, answer.body))
}

/// Standard base64 (RFC 4648 §4), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let produced = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_in_headless_chromium() {
    // .ci/run installs Debian's chromium and chromedriver; only a machine without them skips.
    if !skip::installed(CHROMIUM, "chromium") || !skip::installed(CHROMEDRIVER, "chromium-driver") {
        return;
    }
    let dir = TempDir::new("dashboard-browser");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    // Plain HTTP on loopback: the cookie is sent without `Secure` (the setting's one use).
    let config = write_config(&dir, &store, true, "secure_cookie = false");
    let (_server, address) = start(&config);
    fill(address).await;
    let base = format!("http://{address}");

    let driver = Driver::start();
    let browser = Browser::open(driver.address).await;

    // Not logged in: the overview sends to the login form; log in through it.
    browser.go(&format!("{base}/")).await;
    assert!(
        browser.url().await.contains("/login"),
        "{}",
        browser.url().await
    );
    browser.screenshot("dashboard-login.png").await;
    browser.type_into("input[name=name]", USER).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.until_url(|url| url == format!("{base}/")).await;

    // The overview: a row per domain, each with its verdict.
    let rows = browser.find_all("#domains tbody tr").await;
    assert_eq!(rows.len(), 4);
    let first = browser.find("#domains tbody tr").await;
    assert_eq!(
        browser.attribute(&first, "data-verdict").await.as_deref(),
        Some("failures")
    );
    let shot = browser.screenshot("dashboard-overview.png").await;
    eprintln!("screenshot: {}", shot.display());

    // A domain with failures: one bar per day of the 30-day window, each with its date; the
    // legend names the result types that failed.
    browser.go(&format!("{base}/domains/{FAILING}")).await;
    let bars = browser.find_all("svg#sessions-chart g.bar").await;
    assert_eq!(bars.len(), 30, "one bar per day");
    let last = bars.last().expect("bar");
    let today = mta_sts_core::Timestamp::from_unix_seconds(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs(),
        )
        .expect("seconds"),
    )
    .expect("now")
    .utc_date()
    .to_string();
    assert_eq!(
        browser.attribute(last, "data-day").await.as_deref(),
        Some(today.as_str())
    );
    let mut legend = Vec::new();
    for item in browser.find_all("svg#sessions-chart g.legend-item").await {
        legend.push(browser.text(&item).await);
    }
    for name in [
        "successful",
        "certificate-expired",
        "starttls-not-supported",
    ] {
        assert!(
            legend.iter().any(|text| text == name),
            "{name} not in the legend {legend:?}"
        );
    }
    // Expired certificates every day (the Microsoft report's one a day), 31 more on three days.
    let expired = browser
        .find_all("svg#sessions-chart rect.segment[data-series=certificate-expired]")
        .await;
    assert_eq!(expired.len(), 10, "ten days with expired certificates");
    let mut large = 0;
    for segment in &expired {
        let value: u64 = browser
            .attribute(segment, "data-value")
            .await
            .expect("value")
            .parse()
            .expect("number");
        large += usize::from(value > 30);
    }
    assert_eq!(large, 3, "three days with 31 more");
    assert!(!browser.find_all("svg#rate-chart g.point").await.is_empty());
    browser.screenshot("dashboard-domain-failures.png").await;

    // A healthy domain, for the README's walk-through.
    browser.go(&format!("{base}/domains/{CLEAN}")).await;
    assert_eq!(browser.find_all("svg#sessions-chart g.bar").await.len(), 30);
    let verdict = browser.find("#verdict").await;
    assert_eq!(
        browser.attribute(&verdict, "data-verdict").await.as_deref(),
        Some("healthy")
    );
    browser.screenshot("dashboard-domain-healthy.png").await;

    // Hostile reports: their markup is shown as text, no script ran.
    browser.go(&format!("{base}/domains/{HOSTILE}")).await;
    let table = browser.text(&browser.find("#reports").await).await;
    assert!(
        table.contains("<script>window.__xss=1;alert(1)</script> org 0"),
        "{table}"
    );
    assert!(!browser.alert_open().await, "an alert ran");
    assert_eq!(
        browser.script("return typeof window.__xss").await,
        "undefined"
    );
    assert!(
        browser.find_all("img").await.is_empty(),
        "an injected image became an element"
    );
    browser.screenshot("dashboard-domain-hostile.png").await;
    let links = browser.find_all("#reports td.report-id a").await;
    assert_eq!(links.len(), 4);
    let mut hrefs = Vec::new();
    for link in &links {
        hrefs.push(browser.attribute(link, "href").await.expect("href"));
    }
    for (i, href) in hrefs.iter().enumerate() {
        let url = if href.starts_with("http") {
            href.clone()
        } else {
            format!("{base}{href}")
        };
        browser.go(&url).await;
        assert!(!browser.alert_open().await, "an alert ran on {href}");
        assert_eq!(
            browser.script("return typeof window.__xss").await,
            "undefined",
            "{href}"
        );
        assert!(browser.find_all("img").await.is_empty(), "{href}");
        assert!(browser.find_all("script").await.is_empty(), "{href}");
        let details = browser
            .text(&browser.find("table.failure-details").await)
            .await;
        assert!(details.contains("window.__xss"), "{details}");
        if i == 0 {
            browser.screenshot("dashboard-report-hostile.png").await;
        }
    }

    // Logging out ends the session: the overview sends to the login form again.
    browser.go(&format!("{base}/")).await;
    browser.click("form.logout button").await;
    browser.until_url(|url| url.contains("/login")).await;
    browser.go(&format!("{base}/domains/{FAILING}")).await;
    assert!(browser.url().await.contains("/login"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secure_session_cookie_works_over_https_in_chromium() {
    if !skip::installed(CHROMIUM, "chromium") || !skip::installed(CHROMEDRIVER, "chromium-driver") {
        return;
    }
    let dir = TempDir::new("dashboard-https");
    let ca = serve_harness::TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    // The default configuration: the cookie is Secure.
    let config = write_config(&dir, &store, true, "");
    let cert = serve_harness::path_arg(&ca.cert);
    let key = serve_harness::path_arg(&ca.key);
    let server = serve_harness::Server::start(&[
        "--config",
        &config,
        "--https",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    let https = server.https.expect("https listener");
    // The test CA's certificate names localhost; Chromium is told to accept it.
    let base = format!("https://localhost:{}", https.port());

    let driver = Driver::start();
    let browser = Browser::open_with(driver.address, &["--ignore-certificate-errors"]).await;
    browser.go(&format!("{base}/domains/{FAILING}")).await;
    browser.until_url(|url| url.contains("/login")).await;
    browser.type_into("input[name=name]", USER).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    // Back where it was going, with the Secure cookie sent back over HTTPS.
    browser
        .until_url(|url| url == format!("{base}/domains/{FAILING}"))
        .await;
    assert_eq!(
        browser.find_all("svg#sessions-chart").await.len(),
        0,
        "no reports stored here"
    );
    let verdict = browser.find("#verdict").await;
    assert_eq!(
        browser.attribute(&verdict, "data-verdict").await.as_deref(),
        Some("no-reports")
    );
    browser.close().await;
}

/// The monitor's history of `domain` from the API (at most ten checks).
async fn monitor_history(address: SocketAddr, domain: &str) -> Value {
    let authorization = format!("Bearer {}", dashboard_fixture::TOKEN);
    let answer = request(
        address,
        None,
        "GET",
        &format!("/api/v1/domains/{domain}/monitor?checks=10"),
        &[("authorization", authorization.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    serde_json::from_str(&answer.body).expect("JSON")
}

/// Asks the API until `holds` says yes of the monitor's history (within 30 s).
async fn until_history(address: SocketAddr, domain: &str, holds: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let history = monitor_history(address, domain).await;
        if holds(&history) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the monitor's history never got there: {history:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether the history has an event `code` that is open (`cleared` false) or cleared.
fn has_event(history: &Value, code: &str, cleared: bool) -> bool {
    history["events"].as_array().is_some_and(|events| {
        events
            .iter()
            .any(|event| event["code"] == code && event["cleared_at"].is_string() == cleared)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitor_timeline_in_headless_chromium() {
    if !skip::installed(CHROMIUM, "chromium") || !skip::installed(CHROMEDRIVER, "chromium-driver") {
        return;
    }
    const DOMAIN: &str = "healthy-enforce.test";
    let scenario = mta_sts_lab::catalog()
        .into_iter()
        .find(|s| s.name == "healthy-enforce")
        .expect("the lab's healthy-enforce scenario");
    let original = scenario.clone();
    let mut lab = mta_sts_lab::Lab::start_with(vec![scenario], 0)
        .await
        .expect("the lab starts");
    let dir = TempDir::new("dashboard-monitor");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    // The monitor checks the lab domain every second, with the lab's resolver and CA.
    let text = format!(
        "domains = [\"{DOMAIN}\"]\nstore = \"{store}\"\n\
         [check]\nresolver = \"{}\"\nca_file = \"{}\"\nhttps_port = {}\nsmtp_port = {}\ntimeout = 5\n\
         [monitor]\ninterval = 1\njitter = 0\n\
         [dashboard]\nsecure_cookie = false\n\
         [[users]]\nname = \"{USER}\"\npassword_hash = \"{}\"\n\
         [[tokens]]\nname = \"test\"\ntoken_hash = \"{}\"\n",
        lab.dns_addr(),
        serve_harness::path_arg(lab.ca_file()),
        lab.https_port(),
        lab.smtp_port(),
        dashboard_fixture::hash_password(PASSWORD),
        dashboard_fixture::sha256_hex(dashboard_fixture::TOKEN),
    );
    let config = dir.path("serve.toml");
    std::fs::write(&config, text).expect("write configuration");
    let (_server, address) = start(&serve_harness::path_arg(&config));
    let base = format!("http://{address}");

    // A first check, then the policy edited without a new id (raised), then put back (cleared).
    until_history(address, DOMAIN, |history| {
        history["checks"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    let body =
        String::from_utf8_lossy(&original.policy_host().expect("a policy host").response.body)
            .into_owned();
    let edited = body.replace("max_age: 604800", "max_age: 1234567");
    assert_ne!(edited, body);
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response = mta_sts_lab::PolicyResponse::policy(edited.clone());
        }
    })
    .expect("a valid change");
    until_history(address, DOMAIN, |history| {
        has_event(history, "policy-changed-id-unchanged", false)
    })
    .await;
    let back = original.clone();
    lab.update(DOMAIN, move |s| *s = back)
        .expect("the original is valid");
    until_history(address, DOMAIN, |history| {
        has_event(history, "policy-changed-id-unchanged", true)
    })
    .await;

    let driver = Driver::start();
    let browser = Browser::open(driver.address).await;
    browser.go(&format!("{base}/domains/{DOMAIN}")).await;
    browser.until_url(|url| url.contains("/login")).await;
    browser.type_into("input[name=name]", USER).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser
        .until_url(|url| url == format!("{base}/domains/{DOMAIN}"))
        .await;

    // The strip: one band per check kept, oldest left, each with its time and verdict.
    let section = browser.find("section#monitor").await;
    let checks: usize = browser
        .attribute(&section, "data-checks")
        .await
        .expect("data-checks")
        .parse()
        .expect("a number");
    let bands = browser.find_all("svg#monitor-strip g.check").await;
    assert_eq!(bands.len(), checks);
    assert!(checks >= 3, "{checks} checks");
    let mut times = Vec::new();
    for band in &bands {
        let verdict = browser
            .attribute(band, "data-verdict")
            .await
            .expect("verdict");
        assert!(
            ["pass", "warn", "fail", "unknown"].contains(&verdict.as_str()),
            "{verdict}"
        );
        times.push(browser.attribute(band, "data-at").await.expect("a time"));
    }
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest left");
    assert_eq!(
        browser.attribute(&section, "data-open").await.as_deref(),
        Some("0"),
        "the event was cleared"
    );
    // The timeline: the clear above the raise, each with its sentence naming the domain.
    let rows = browser
        .find_all("#timeline tr[data-code=policy-changed-id-unchanged]")
        .await;
    let mut kinds = Vec::new();
    for row in &rows {
        kinds.push(browser.attribute(row, "data-kind").await.expect("a kind"));
        assert!(browser.text(row).await.contains(DOMAIN));
    }
    assert_eq!(kinds, ["cleared", "raised"]);
    assert!(!browser.alert_open().await);
    browser.screenshot("dashboard-monitor.png").await;
    browser.close().await;
    lab.shutdown().await;
}
