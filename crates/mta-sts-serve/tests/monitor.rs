//! The monitor inside a running server: it checks a lab domain every second, the lab changes
//! the domain while both run (`Lab::update`), and a real webhook receiver gets the raise and
//! then the clear of each event; the gauges show on /metrics and the history on the API.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mta_sts_alerts::{RetryPolicy, WebhookSettings};
use mta_sts_lab::{Lab, PolicyResponse, Scenario};
use mta_sts_serve::{Reloader, ServeConfig, Server};
use mta_sts_store::test_support::{TempDir, TestDatabase};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const DOMAIN: &str = "healthy-enforce.test";
const TOKEN: &str = "monitor-test-token";

/// A webhook receiver on loopback: every request's JSON body goes to the test.
struct Receiver {
    url: String,
    bodies: mpsc::UnboundedReceiver<serde_json::Value>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let (sender, bodies) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let sender = sender.clone();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let json = serde_json::from_slice(&body).expect("a JSON body");
                            let _ = sender.send(json);
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
        Receiver { url, bodies }
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
    /// The configuration it started with, and what applies another one (SIGHUP's part).
    config: ServeConfig,
    reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Running {
    /// A server monitoring the lab domain every second, on a SQLite store of its own or on
    /// `store`.
    async fn start(lab: &Lab, receiver: &Receiver, store: Option<String>) -> Running {
        let dir = TempDir::new("mta-sts-serve-monitor");
        std::fs::write(dir.file("secret"), "webhook secret").expect("write the secret");
        let mut config = ServeConfig {
            domains: vec![DOMAIN.into()],
            listen: Some("127.0.0.1:0".parse().expect("address")),
            store: store.unwrap_or_else(|| format!("sqlite:{}", dir.file("store.db").display())),
            ..ServeConfig::default()
        };
        config.tokens = vec![
            toml::from_str(&format!(
                "name = \"test\"\ntoken_hash = \"{}\"",
                sha256_hex(TOKEN)
            ))
            .expect("a token table"),
        ];
        config.shutdown_timeout = Duration::from_secs(1);
        config.check.resolver = Some(lab.dns_addr());
        config.check.ca_file = Some(lab.ca_file().to_path_buf());
        config.check.https_port = lab.https_port();
        config.check.smtp_port = lab.smtp_port();
        config.check.timeout = Duration::from_secs(5);
        // A check every second, none shifted: each change is seen within a second or two.
        config.monitor.interval = Duration::from_secs(1);
        config.monitor.jitter = Some(Duration::ZERO);
        // Only the monitor's alerts here (the advisor's have their own test).
        config.alerts.advisor = false;
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
        config.validate().expect("a valid configuration");
        let server = Server::start(config.clone())
            .await
            .expect("the server starts");
        let address = server.http_addr().expect("plain HTTP");
        let reloader = server.reloader();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            address,
            config,
            reloader,
            stop: Some(stop),
            served,
            _dir: dir,
        }
    }

    /// Applies the starting configuration with `domains` instead, as a SIGHUP would.
    fn reload_with(&self, domains: &[&str]) {
        let mut fresh = self.config.clone();
        fresh.domains = domains.iter().map(|d| (*d).to_string()).collect();
        fresh.validate().expect("a valid configuration");
        self.reloader.reload(Ok(fresh));
    }

    /// The body of a GET of `path` with the API token.
    async fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(self.address).await.expect("connect");
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: reports.example.com\r\nAuthorization: Bearer \
             {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .expect("a body")
    }

    /// The metrics text, once it has a line starting with `series` (within 30 s).
    async fn metrics_with(&self, series: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.get("/metrics").await;
            if text.lines().any(|line| line.starts_with(series)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {series} within 30 s:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.served).await;
    }
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The value of the metric line starting with `series` (name and labels).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Checks the monitor alert's shape and returns its (code, state).
fn monitor_alert(alert: &serde_json::Value) -> (String, String) {
    assert_eq!(alert["version"], 1, "{alert:#}");
    assert_eq!(alert["domain"], DOMAIN, "{alert:#}");
    let details = &alert["details"];
    assert_eq!(details["kind"], "monitor", "{alert:#}");
    let code = details["code"].as_str().expect("a code").to_string();
    let state = details["state"].as_str().expect("a state").to_string();
    assert_eq!(
        alert["condition"],
        format!(
            "monitor:{code}:{}:{state}",
            details["subject"].as_str().expect("a subject")
        ),
    );
    // The summary is the monitor's sentence, naming the domain.
    assert_eq!(alert["summary"], details["message"]);
    assert!(
        details["message"]
            .as_str()
            .expect("a message")
            .contains(DOMAIN),
        "{alert:#}"
    );
    (code, state)
}

fn set_policy(scenario: &mut Scenario, body: &str) {
    for host in &mut scenario.policy_hosts {
        host.response = PolicyResponse::policy(body.to_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breakage_in_the_lab_is_raised_then_cleared_through_the_webhook() {
    let scenario = mta_sts_lab::catalog()
        .into_iter()
        .find(|s| s.name == "healthy-enforce")
        .expect("the lab's healthy-enforce scenario");
    let original = scenario.clone();
    let mut lab = Lab::start_with(vec![scenario], 0)
        .await
        .expect("the lab starts");
    let mut receiver = Receiver::start().await;
    let server = Running::start(&lab, &receiver, None).await;
    let verdict = format!("mta_sts_monitor_verdict{{domain=\"{DOMAIN}\",verdict=\"pass\"}}");
    // The first check: a healthy domain, no event.
    let text = server.metrics_with(&verdict).await;
    assert_eq!(metric(&text, &verdict), 1.0, "{text}");
    assert_eq!(
        metric(
            &text,
            &format!("mta_sts_monitor_verdict{{domain=\"{DOMAIN}\",verdict=\"fail\"}}")
        ),
        0.0
    );
    let host = format!("mta-sts.{DOMAIN}");
    let expiry = metric(
        &text,
        &format!("mta_sts_monitor_certificate_expiry_days{{domain=\"{DOMAIN}\",host=\"{host}\"}}"),
    );
    assert!(expiry > 1.0, "the lab's certificate is valid: {expiry}");
    let age = metric(
        &text,
        &format!("mta_sts_monitor_policy_age_seconds{{domain=\"{DOMAIN}\"}}"),
    );
    assert!(age >= 0.0, "{age}");
    let since = metric(
        &text,
        &format!("mta_sts_monitor_seconds_since_success{{domain=\"{DOMAIN}\"}}"),
    );
    assert!((0.0..60.0).contains(&since), "{since}");
    // The monitor's alerts are counted with the others', none yet.
    let raised_series = "mta_sts_serve_alerts_raised_total{condition=\"monitor\"}";
    assert_eq!(metric(&text, raised_series), 0.0, "{text}");
    assert_eq!(
        metric(
            &text,
            "mta_sts_serve_alerts_repeated_total{condition=\"monitor\"}"
        ),
        0.0,
        "{text}"
    );

    // The policy edited while its id stays: raised.
    let body =
        String::from_utf8_lossy(&original.policy_host().expect("a policy host").response.body)
            .into_owned();
    let edited = body.replace("max_age: 604800", "max_age: 1234567");
    assert_ne!(edited, body);
    lab.update(DOMAIN, |s| set_policy(s, &edited))
        .expect("a valid change");
    let raised = receiver.next().await;
    assert_eq!(
        monitor_alert(&raised),
        ("policy-changed-id-unchanged".into(), "raised".into()),
        "{raised:#}"
    );
    let open = format!("mta_sts_monitor_open_events{{domain=\"{DOMAIN}\"}} 1");
    server.metrics_with(&open).await;

    // The policy back as the id announces it: cleared.
    let back = original.clone();
    lab.update(DOMAIN, move |s| *s = back)
        .expect("the original is valid");
    let cleared = receiver.next().await;
    assert_eq!(
        monitor_alert(&cleared),
        ("policy-changed-id-unchanged".into(), "cleared".into()),
        "{cleared:#}"
    );

    // The policy host down (HTTP 503), then back.
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("a valid change");
    let down = receiver.next().await;
    assert_eq!(
        monitor_alert(&down),
        ("policy-host-unreachable".into(), "raised".into()),
        "{down:#}"
    );
    let back = original.clone();
    lab.update(DOMAIN, move |s| *s = back)
        .expect("the original is valid");
    let up = receiver.next().await;
    assert_eq!(
        monitor_alert(&up),
        ("policy-host-unreachable".into(), "cleared".into()),
        "{up:#}"
    );
    // Two raises and two clears, each counted once (counted as it is queued, so perhaps just
    // after the webhook has it).
    server.metrics_with(&format!("{raised_series} 4")).await;

    // The history on the API: checks, both events cleared, the timeline newest first.
    let history: serde_json::Value = serde_json::from_str(
        &server
            .get(&format!("/api/v1/domains/{DOMAIN}/monitor?checks=5"))
            .await,
    )
    .expect("JSON");
    assert_eq!(history["domain"], DOMAIN);
    let checks = history["checks"].as_array().expect("checks");
    assert!(!checks.is_empty() && checks.len() <= 5, "{history:#}");
    assert!(checks[0]["snapshot"].is_object(), "{history:#}");
    let events = history["events"].as_array().expect("events");
    for code in ["policy-changed-id-unchanged", "policy-host-unreachable"] {
        let event = events
            .iter()
            .find(|event| event["code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {history:#}"));
        assert!(event["cleared_at"].is_string(), "{event:#}");
    }
    let timeline = history["timeline"].as_array().expect("a timeline");
    let kinds: Vec<&str> = timeline
        .iter()
        .filter(|entry| entry["code"] == "policy-host-unreachable")
        .map(|entry| entry["kind"].as_str().expect("a kind"))
        .collect();
    assert_eq!(kinds, ["cleared", "raised"], "{history:#}");
    // An unknown domain is a 404, not an empty history.
    let mut stream = TcpStream::connect(server.address).await.expect("connect");
    stream
        .write_all(
            format!(
                "GET /api/v1/domains/other.test/monitor HTTP/1.1\r\nHost: x\r\nAuthorization: \
                 Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    server.stop().await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_sharing_a_store_send_each_raise_and_clear_once() {
    let Some(database) = TestDatabase::create("two monitors sharing a store").await else {
        return;
    };
    let scenario = mta_sts_lab::catalog()
        .into_iter()
        .find(|s| s.name == "healthy-enforce")
        .expect("the lab's healthy-enforce scenario");
    let original = scenario.clone();
    let mut lab = Lab::start_with(vec![scenario], 0)
        .await
        .expect("the lab starts");
    let mut receiver = Receiver::start().await;
    let url = database.url().to_string();
    let servers = [
        Running::start(&lab, &receiver, Some(url.clone())).await,
        Running::start(&lab, &receiver, Some(url)).await,
    ];
    // Both have checked the healthy domain.
    let verdict = format!("mta_sts_monitor_verdict{{domain=\"{DOMAIN}\",verdict=\"pass\"}} 1");
    for server in &servers {
        server.metrics_with(&verdict).await;
    }
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("a valid change");
    // Both check every second: whichever comes first raises the event, the other finds it open.
    let mut seen = vec![monitor_alert(&receiver.next().await)];
    let back = original.clone();
    lab.update(DOMAIN, move |s| *s = back)
        .expect("the original is valid");
    while seen.last().map(|(_, state)| state.as_str()) != Some("cleared") {
        seen.push(monitor_alert(&receiver.next().await));
    }
    // The raise and the clear are counted once between the two servers (counted as queued,
    // so perhaps just after the webhook has them).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut raised = 0.0;
        for server in &servers {
            let text = server.get("/metrics").await;
            raised += metric(
                &text,
                "mta_sts_serve_alerts_raised_total{condition=\"monitor\"}",
            );
        }
        if raised == 2.0 {
            break;
        }
        assert!(
            raised < 2.0 && Instant::now() < deadline,
            "{raised} monitor alerts counted as raised"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stopped, each server has delivered what it had queued: nothing more came.
    for server in servers {
        server.stop().await;
    }
    while let Ok(late) = receiver.bodies.try_recv() {
        seen.push(monitor_alert(&late));
    }
    assert_eq!(
        seen,
        [
            ("policy-host-unreachable".to_string(), "raised".to_string()),
            ("policy-host-unreachable".to_string(), "cleared".to_string()),
        ]
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monitored_domains_follow_a_reload() {
    let catalog = mta_sts_lab::catalog();
    let scenarios: Vec<Scenario> = catalog
        .into_iter()
        .filter(|s| s.name == "healthy-enforce" || s.name == "mode-testing")
        .collect();
    let other = scenarios
        .iter()
        .find(|s| s.name == "mode-testing")
        .expect("the lab's mode-testing scenario")
        .domain
        .clone();
    let lab = Lab::start_with(scenarios, 0).await.expect("the lab starts");
    let receiver = Receiver::start().await;
    let server = Running::start(&lab, &receiver, None).await;
    let first = format!("mta_sts_monitor_verdict{{domain=\"{DOMAIN}\",verdict=\"pass\"}} 1");
    server.metrics_with(&first).await;
    // A domain added: checked within the schedule's next look at the list (at most a minute;
    // here the next second, as a check has just ended).
    server.reload_with(&[DOMAIN, &other]);
    let second = format!("mta_sts_monitor_verdict{{domain=\"{other}\",verdict=\"warn\"}} 1");
    server.metrics_with(&second).await;
    // A domain dropped: no more gauges of it, and no more checks.
    server.reload_with(&[&other]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = server.get("/metrics").await;
        if !text.contains(&format!("domain=\"{DOMAIN}\"")) {
            assert!(text.contains(&second), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "{DOMAIN} still shown:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
    lab.shutdown().await;
}
