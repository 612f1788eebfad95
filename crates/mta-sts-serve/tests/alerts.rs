//! Alerts from a running server: the watcher finds failure reports however they arrived (an
//! HTTPS POST, a report put in the store by another route) and silent reporters, raises one
//! alert per condition per period, notices the rollout advisor's verdict change on a lab
//! domain, and a webhook that never answers does not slow intake.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mta_sts_alerts::{RetryPolicy, WebhookSettings};
use mta_sts_core::Timestamp;
use mta_sts_serve::{ServeConfig, Server};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::{NewReport, ReportStore, Source};
use mta_sts_store::test_support::{TempDir, TestDatabase};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};

/// A webhook receiver on loopback: every request's JSON body goes to the test; with `hold`,
/// it never answers.
struct Receiver {
    url: String,
    bodies: mpsc::UnboundedReceiver<serde_json::Value>,
    _release: Arc<Notify>,
}

impl Receiver {
    async fn start(hold: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let (sender, bodies) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let released = release.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                let released = released.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let sender = sender.clone();
                        let released = released.clone();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let json = serde_json::from_slice(&body).expect("a JSON body");
                            let _ = sender.send(json);
                            if hold {
                                released.notified().await;
                            }
                            Ok::<_, hyper::Error>(
                                Response::builder()
                                    .status(StatusCode::OK)
                                    .body(Full::new(Bytes::new()))
                                    .expect("a response"),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            url,
            bodies,
            _release: release,
        }
    }

    async fn next(&mut self) -> serde_json::Value {
        tokio::time::timeout(Duration::from_secs(30), self.bodies.recv())
            .await
            .expect("an alert within 30 s")
            .expect("the receiver runs")
    }
}

struct Running {
    address: std::net::SocketAddr,
    store_url: StoreUrl,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Running {
    async fn start(receiver: &Receiver, seed: impl AsyncFnOnce(&ReportStore)) -> Running {
        Running::start_with(receiver, seed, |_, _| {}).await
    }

    async fn start_with(
        receiver: &Receiver,
        seed: impl AsyncFnOnce(&ReportStore),
        adjust: impl FnOnce(&mut ServeConfig, &TempDir),
    ) -> Running {
        Running::start_on(None, receiver, seed, adjust).await
    }

    /// Starts on the store URL `store` (a SQLite file in the test's directory when `None`), with `adjust`
    /// applied to the configuration (given the test's directory).
    async fn start_on(
        store: Option<String>,
        receiver: &Receiver,
        seed: impl AsyncFnOnce(&ReportStore),
        adjust: impl FnOnce(&mut ServeConfig, &TempDir),
    ) -> Running {
        let dir = TempDir::new("mta-sts-serve-alerts");
        std::fs::write(dir.file("secret"), "webhook secret").expect("write the secret");
        // The URL as text: a StoreUrl displays its password hidden.
        let store_text =
            store.unwrap_or_else(|| format!("sqlite:{}", dir.file("store.db").display()));
        let store_url: StoreUrl = store_text.parse().expect("a store URL");
        // Reports already stored before the server starts (the silent reporter's history).
        seed(&ReportStore::open(&store_url).await.expect("open the store")).await;
        let mut config = ServeConfig {
            domains: vec!["example.com".into(), "example.net".into()],
            listen: Some("127.0.0.1:0".parse().expect("address")),
            store: store_text,
            ..ServeConfig::default()
        };
        config.alerts.poll_interval = Duration::from_secs(1);
        // Stopping gives queued alerts this long (the stuck webhook's test waits it out).
        config.shutdown_timeout = Duration::from_secs(1);
        config.alerts.advisor = false;
        // The monitor's alerts have their own test (monitor.rs); here they would be noise.
        config.monitor.enabled = false;
        config.alerts.queue = 4;
        config.alerts.webhook = Some(WebhookSettings {
            url: receiver.url.clone(),
            secret_file: Some(dir.file("secret")),
            secret_env: None,
            ca_file: None,
            timeout: 30,
            retry: RetryPolicy {
                attempts: 2,
                initial_backoff_ms: 100,
                max_backoff_ms: 100,
            },
        });
        adjust(&mut config, &dir);
        config.validate().expect("a valid configuration");
        let server = Server::start(config).await.expect("the server starts");
        let address = server.http_addr().expect("plain HTTP");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            address,
            store_url,
            stop: Some(stop),
            served,
            _dir: dir,
        }
    }

    /// POSTs a report as JSON; returns the status.
    async fn post(&self, report: &[u8]) -> u16 {
        let head = format!(
            "POST /tlsrpt HTTP/1.1\r\nHost: reports.example.com\r\nContent-Type: \
             application/tlsrpt+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            report.len()
        );
        let answer = self.exchange(head.as_bytes(), report).await;
        answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
    }

    /// The metrics text.
    async fn metrics(&self) -> String {
        let head =
            "GET /metrics HTTP/1.1\r\nHost: reports.example.com\r\nConnection: close\r\n\r\n";
        self.exchange(head.as_bytes(), b"").await
    }

    async fn exchange(&self, head: &[u8], body: &[u8]) -> String {
        let mut stream = TcpStream::connect(self.address).await.expect("connect");
        stream.write_all(head).await.expect("write");
        stream.write_all(body).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.served).await;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("the clock is after 1970")
}

fn rfc3339(seconds: i64) -> String {
    Timestamp::from_unix_seconds(seconds)
        .expect("a time")
        .to_string()
}

/// A report from `organization` for `domain` over the UTC day `days_ago` days back, with
/// `failed` failed sessions.
fn report(organization: &str, domain: &str, id: &str, days_ago: i64, failed: u64) -> Vec<u8> {
    let start = (now() / 86_400 - days_ago) * 86_400;
    let failures: Vec<serde_json::Value> = (failed > 0)
        .then(|| {
            serde_json::json!({
                "result-type": "certificate-host-mismatch",
                "sending-mta-ip": "192.0.2.1",
                "receiving-mx-hostname": "mx2.example.com",
                "failed-session-count": failed,
            })
        })
        .into_iter()
        .collect();
    serde_json::json!({
        "organization-name": organization,
        "date-range": {
            "start-datetime": rfc3339(start),
            "end-datetime": rfc3339(start + 86_399),
        },
        "contact-info": "tlsrpt@reporter.example",
        "report-id": id,
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: testing", "mx: *.example.com", "max_age: 86400"],
                "policy-domain": domain,
                "mx-host": ["*.example.com"],
            },
            "summary": {"total-successful-session-count": 100, "total-failure-session-count": failed},
            "failure-details": failures,
        }],
    })
    .to_string()
    .into_bytes()
}

fn stored(json: Vec<u8>, source: Source) -> NewReport {
    NewReport {
        report: mta_sts_core::report::parse(&json).expect("a report"),
        json,
        gzip: None,
        findings: Vec::new(),
        received_at: Timestamp::from_unix_seconds(now()).expect("now"),
        source,
    }
}

fn today() -> String {
    Timestamp::from_unix_seconds(now())
        .expect("now")
        .utc_date()
        .to_string()
}

#[tokio::test]
async fn failure_reports_raise_one_alert_per_domain_and_day_however_they_arrive() {
    failure_alerts(None).await;
}

#[tokio::test]
async fn failure_reports_raise_one_alert_per_domain_and_day_on_postgresql() {
    let Some(database) = TestDatabase::create("failure alerts").await else {
        return;
    };
    failure_alerts(Some(database.url().to_string())).await;
}

async fn failure_alerts(store: Option<String>) {
    let mut receiver = Receiver::start(false).await;
    let server = Running::start_on(store, &receiver, async |_: &ReportStore| {}, |_, _| {}).await;

    // A clean report raises nothing; the first failure report of the day does.
    assert_eq!(
        server
            .post(&report("Google LLC", "example.com", "clean", 1, 0))
            .await,
        200
    );
    assert_eq!(
        server
            .post(&report("Google LLC", "example.com", "r1", 1, 31))
            .await,
        200
    );
    let first = receiver.next().await;
    assert_eq!(first["id"], format!("example.com/failures/{}", today()));
    assert_eq!(first["details"]["failed_sessions"], 31);
    assert_eq!(first["details"]["reports"][0]["report_id"], "r1");
    assert_eq!(first["details"]["reports"][0]["source"], "https");

    // A second failure report the same day for the same domain raises nothing...
    assert_eq!(
        server
            .post(&report("Microsoft Corporation", "example.com", "r2", 1, 5))
            .await,
        200
    );
    // ...while one for the other domain, put in the store by another route (as an IMAP fetch
    // or an import would), does. Alerts leave in order, so the next one is that one.
    let store = ReportStore::open(&server.store_url)
        .await
        .expect("open the store");
    store
        .insert(vec![stored(
            report("Mail.ru", "example.net", "r3", 1, 2),
            Source::Imap,
        )])
        .await
        .expect("insert");
    let second = receiver.next().await;
    assert_eq!(second["id"], format!("example.net/failures/{}", today()));
    assert_eq!(second["details"]["reports"][0]["source"], "imap");
    // Counted: two raised; the first delivered (the channel sends in order, so it was answered
    // before the second arrived).
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("mta_sts_serve_alerts_raised_total{condition=\"failures\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "mta_sts_serve_alert_deliveries_total{channel=\"webhook\",outcome=\"delivered\"}"
        ),
        "{metrics}"
    );
    server.stop().await;
    assert!(
        receiver.bodies.try_recv().is_err(),
        "no other alert was sent"
    );
}

#[tokio::test]
async fn a_regular_reporter_gone_silent_raises_one_alert() {
    let mut receiver = Receiver::start(false).await;
    let seed = async |store: &ReportStore| {
        let mut reports = Vec::new();
        for day in 1..=10 {
            // "Alpha" still reports (up to yesterday); "Zulu" stopped five days ago.
            reports.push(stored(
                report("Alpha", "example.com", &format!("a{day}"), day, 0),
                Source::Mail,
            ));
            reports.push(stored(
                report("Zulu", "example.com", &format!("z{day}"), day + 4, 0),
                Source::Mail,
            ));
        }
        store.insert(reports).await.expect("insert");
    };
    let server = Running::start(&receiver, seed).await;
    // Reporters are looked at in name order: Alpha, had it been alerted, would come first.
    let alert = receiver.next().await;
    assert_eq!(alert["condition"], "silent-reporter:Zulu");
    assert_eq!(alert["details"]["kind"], "silent-reporter");
    assert_eq!(alert["details"]["organization"], "Zulu");
    assert_eq!(alert["details"]["silent_days"], 4);
    assert_eq!(alert["details"]["days_reported"], 10);
    server.stop().await;
}

#[tokio::test]
async fn a_webhook_that_never_answers_does_not_slow_intake() {
    let mut receiver = Receiver::start(true).await;
    let server = Running::start(&receiver, async |_: &ReportStore| {}).await;
    assert_eq!(
        server
            .post(&report("Google LLC", "example.com", "first", 1, 1))
            .await,
        200
    );
    // The receiver holds this alert's request and never answers: the webhook is stuck.
    let held = receiver.next().await;
    assert_eq!(held["domain"], "example.com");
    // Intake goes on: every report is taken and stored while the webhook still holds the
    // first alert (failure reports from many organisations, on both domains).
    for n in 0..40 {
        let domain = if n % 2 == 0 {
            "example.com"
        } else {
            "example.net"
        };
        let status = server
            .post(&report(&format!("Org {n}"), domain, &format!("r{n}"), 1, 3))
            .await;
        assert_eq!(status, 200, "report {n}");
    }
    let store = ReportStore::open(&server.store_url)
        .await
        .expect("open the store");
    let all = store
        .list(&mta_sts_store::reports::ListQuery::default())
        .await
        .expect("list");
    assert_eq!(all.len(), 41);
    assert!(
        receiver.bodies.try_recv().is_err(),
        "the first alert is still held"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_of_the_advisors_verdict_raises_an_alert() {
    let scenario = mta_sts_lab::catalog()
        .into_iter()
        .find(|s| s.name == "mode-testing")
        .expect("the lab's mode-testing scenario");
    let domain = scenario.domain.clone();
    let lab = mta_sts_lab::Lab::start_with(vec![scenario], 0)
        .await
        .expect("the lab starts");
    let mut receiver = Receiver::start(false).await;
    // A verdict kept from an earlier look (by this server before a restart, or another one
    // sharing the store): ready. With no report stored, the advisor now says not ready.
    let seeded = domain.clone();
    let seed = async move |store: &ReportStore| {
        let previous = store
            .swap_domain_state(
                &seeded,
                "alerts.verdict",
                "testing: ready to enforce",
                Timestamp::from_unix_seconds(now()).expect("now"),
            )
            .await
            .expect("keep the earlier verdict");
        assert_eq!(previous, None);
    };
    let watched = domain.clone();
    let server = Running::start_with(&receiver, seed, |config, dir| {
        std::fs::write(dir.file("lab-ca.pem"), lab.ca_pem()).expect("write the lab CA");
        config.domains = vec![watched];
        config.alerts.advisor = true;
        config.check.resolver = Some(lab.dns_addr());
        config.check.ca_file = Some(dir.file("lab-ca.pem"));
        config.check.https_port = lab.https_port();
        config.check.smtp_port = lab.smtp_port();
        config.check.timeout = Duration::from_secs(5);
    })
    .await;
    let alert = receiver.next().await;
    assert_eq!(alert["domain"], domain.as_str());
    assert_eq!(alert["condition"], "verdict-changed");
    assert_eq!(alert["details"]["previous"], "testing: ready to enforce");
    assert_eq!(alert["details"]["current"], "testing: not ready to enforce");
    let reasons = alert["details"]["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty(), "{alert:#}");
    // The new verdict is kept for the next look.
    let store = ReportStore::open(&server.store_url)
        .await
        .expect("open the store");
    let kept = store
        .swap_domain_state(
            &domain,
            "alerts.verdict",
            "testing: not ready to enforce",
            Timestamp::from_unix_seconds(now()).expect("now"),
        )
        .await
        .expect("read the verdict");
    assert_eq!(kept.as_deref(), Some("testing: not ready to enforce"));
    server.stop().await;
}

#[tokio::test]
async fn reports_received_while_the_server_was_down_are_looked_at() {
    let mut receiver = Receiver::start(false).await;
    let seed = async |store: &ReportStore| {
        // The last run read up to ten minutes ago; then a failure report was imported.
        let stopped = Timestamp::from_unix_seconds(now() - 600).expect("a time");
        store
            .swap_domain_state("*", "alerts.cursor", &stopped.to_string(), stopped)
            .await
            .expect("keep the place");
        let mut imported = stored(
            report("Google LLC", "example.com", "while-down", 1, 4),
            Source::File,
        );
        imported.received_at = Timestamp::from_unix_seconds(now() - 300).expect("a time");
        store.insert(vec![imported]).await.expect("insert");
    };
    let server = Running::start(&receiver, seed).await;
    let alert = receiver.next().await;
    assert_eq!(alert["id"], format!("example.com/failures/{}", today()));
    assert_eq!(alert["details"]["reports"][0]["report_id"], "while-down");
    assert_eq!(alert["details"]["reports"][0]["source"], "file");
    server.stop().await;
}

#[tokio::test]
async fn a_failure_report_is_mailed_through_the_relay_and_posted_to_the_webhook() {
    let Some(postfix) = mta_sts_alerts::postfix::Postfix::start() else {
        return;
    };
    let mut receiver = Receiver::start(false).await;
    let server = Running::start_with(
        &receiver,
        async |_: &ReportStore| {},
        |config, _| {
            config.alerts.mail = Some(mta_sts_alerts::MailSettings {
                relay: "localhost".into(),
                port: postfix.port(),
                security: mta_sts_alerts::MailSecurity::Starttls,
                from: "MTA-STS <mta-sts@example.com>".into(),
                to: vec![mta_sts_alerts::postfix::OWNER.into()],
                username: None,
                password_file: None,
                password_env: None,
                ca_file: Some(postfix.ca_file()),
                timeout: 20,
                retry: RetryPolicy::default(),
            });
        },
    )
    .await;
    assert_eq!(
        server
            .post(&report("Google LLC", "example.com", "mailed", 1, 31))
            .await,
        200
    );
    // Both channels get the one alert.
    assert_eq!(receiver.next().await["condition"], "failures");
    let messages = postfix.wait_for_messages(1).await;
    let message = &messages[0];
    assert!(
        message.contains("Subject: [mta-sts] example.com: 31 failed TLS sessions reported"),
        "{message}"
    );
    assert!(
        message.contains("certificate-host-mismatch in 31 sessions to mx2.example.com from"),
        "{message}"
    );
    assert!(message.contains("(using TLS"), "{message}");
    server.stop().await;
}

/// The value of the metric line starting with `series` (name and labels).
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[tokio::test]
async fn two_servers_sharing_a_store_raise_an_alert_once() {
    let Some(database) = TestDatabase::create("two servers racing for an alert").await else {
        return;
    };
    let mut receiver = Receiver::start(false).await;
    let url = database.url().to_string();
    let servers = [
        Running::start_on(
            Some(url.clone()),
            &receiver,
            async |_: &ReportStore| {},
            |_, _| {},
        )
        .await,
        Running::start_on(Some(url), &receiver, async |_: &ReportStore| {}, |_, _| {}).await,
    ];
    assert_eq!(
        servers[0]
            .post(&report("Google LLC", "example.com", "raced", 1, 7))
            .await,
        200
    );
    // Both watchers find the report within a poll or two; each either raises its alert or
    // finds it raised by the other. Wait until both have.
    let raised = r#"mta_sts_serve_alerts_raised_total{condition="failures"}"#;
    let repeated = r#"mta_sts_serve_alerts_repeated_total{condition="failures"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let counts = loop {
        let mut counts = Vec::new();
        for server in &servers {
            let text = server.metrics().await;
            counts.push((metric(&text, raised), metric(&text, repeated)));
        }
        if counts.iter().map(|(r, p)| r + p).sum::<u64>() >= 2 {
            break counts;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both servers did not look at the report within 30 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        counts.iter().map(|(r, _)| r).sum::<u64>(),
        1,
        "exactly one server raised it: {counts:?}"
    );
    assert_eq!(
        receiver.next().await["details"]["reports"][0]["report_id"],
        "raced"
    );
    for server in servers {
        server.stop().await;
    }
    assert!(
        receiver.bodies.try_recv().is_err(),
        "the alert was sent once"
    );
}
