//! The webhook against a real HTTP(S) receiver on loopback: the body and its signature as a
//! receiver checks them, retries after 503 with growing waits, giving up, no retry after a
//! 4xx, and a receiver that never answers does not hold up whoever raises alerts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mta_sts_alerts::{
    Alert, ChannelKind, Condition, DeliverySettings, Dispatcher, Outcome, Queued, RetryPolicy,
    WebhookSettings,
};
use mta_sts_core::Timestamp;
use mta_sts_core::time::{ManualClock, UtcDate};
use mta_sts_store::test_support::TempDir;
use ring::hmac;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const SECRET: &[u8] = b"a webhook secret of thirty-two bytes or more";

/// One request as the receiver saw it.
#[derive(Debug)]
struct Seen {
    at: Instant,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("the request has no {name} header"))
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    fn alert_id(&self) -> String {
        self.json()["id"].as_str().expect("an id").to_string()
    }

    fn assert_signed(&self) {
        assert!(
            self.signature_verifies(),
            "the signature verifies with the shared secret"
        );
    }

    /// Checks the signature as a receiver would: HMAC-SHA256 over `TIMESTAMP.BODY`.
    fn signature_verifies(&self) -> bool {
        let timestamp = self.header("mta-sts-timestamp");
        let signature = self.header("mta-sts-signature");
        let hex = signature.strip_prefix("v1=").expect("a v1= signature");
        let tag: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(&self.body);
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), &message, &tag).is_ok()
    }
}

/// How the receiver answers: by alert id, a list of statuses taken in turn (the last repeats);
/// `hold` makes it answer only once released.
#[derive(Default)]
struct Script {
    statuses: HashMap<String, Vec<StatusCode>>,
    hold: bool,
}

struct Receiver {
    address: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    release: watch::Sender<bool>,
}

impl Receiver {
    async fn start(script: Script, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (sender, seen) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(script));
        let (release, released) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let sender = sender.clone();
                let script = script.clone();
                let released = released.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let sender = sender.clone();
                        let script = script.clone();
                        let released = released.clone();
                        async move {
                            let at = Instant::now();
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let seen = Seen {
                                at,
                                headers: parts.headers,
                                body,
                            };
                            let id = seen.alert_id();
                            let _ = sender.send(seen);
                            let (status, hold) = {
                                let mut script = script.lock().expect("lock");
                                let hold = script.hold;
                                let statuses = script.statuses.entry(id).or_default();
                                let status = if statuses.len() > 1 {
                                    statuses.remove(0)
                                } else {
                                    statuses.first().copied().unwrap_or(StatusCode::OK)
                                };
                                (status, hold)
                            };
                            if hold {
                                let mut released = released.clone();
                                // Gone only when the test ends: answering then is moot.
                                let _ = released.wait_for(|released| *released).await;
                            }
                            Ok::<_, hyper::Error>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from_static(b"noted")))
                                    .expect("a response"),
                            )
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Receiver {
            address,
            seen,
            release,
        }
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(30), self.seen.recv())
            .await
            .expect("a request within 30 s")
            .expect("the receiver runs")
    }
}

fn alert(domain: &str) -> Alert {
    Alert {
        domain: domain.to_string(),
        condition: Condition::SilentReporter {
            organization: "Google LLC".into(),
            last_day: UtcDate::parse("2026-12-01").expect("a date"),
            days_reported: 14,
            silent_days: 5,
        },
        period: "2026-12-01".into(),
        raised_at: Timestamp::parse("2026-12-07T00:00:00Z").expect("time"),
    }
}

struct Setup {
    dir: TempDir,
    clock: Arc<ManualClock>,
}

impl Setup {
    fn new() -> Setup {
        let dir = TempDir::new("mta-sts-alerts-webhook");
        std::fs::write(dir.file("secret"), [SECRET, b"\n"].concat()).expect("write the secret");
        Setup {
            dir,
            clock: Arc::new(ManualClock::new(
                Timestamp::parse("2026-12-07T04:00:00Z").expect("time"),
            )),
        }
    }

    fn settings(&self, url: String, retry: RetryPolicy, queue: usize) -> DeliverySettings {
        DeliverySettings {
            queue,
            webhook: Some(WebhookSettings {
                url,
                secret_file: Some(self.dir.file("secret")),
                secret_env: None,
                ca_file: self
                    .dir
                    .file("ca.pem")
                    .exists()
                    .then(|| self.dir.file("ca.pem")),
                timeout: 10,
                retry,
            }),
            mail: None,
        }
    }

    fn start(&self, url: String, retry: RetryPolicy, queue: usize) -> Dispatcher {
        Dispatcher::start(&self.settings(url, retry, queue), self.clock.clone())
            .expect("the dispatcher starts")
    }
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_backoff_ms: 100,
        max_backoff_ms: 1_000,
    }
}

#[tokio::test]
async fn delivers_a_signed_body_over_https() {
    let setup = Setup::new();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    std::fs::write(setup.dir.file("ca.pem"), certified.cert.pem()).expect("write the CA");
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .expect("a key");
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("a server configuration");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let mut receiver = Receiver::start(Script::default(), Some(acceptor)).await;
    let url = format!(
        "https://localhost:{}/hooks/mta-sts?x=1",
        receiver.address.port()
    );
    let dispatcher = setup.start(url, quick_retries(3), 8);

    let sent = alert("example.com");
    assert_eq!(dispatcher.enqueue(sent.clone()), Queued::Queued);
    let seen = receiver.next().await;
    seen.assert_signed();
    assert_eq!(seen.header("mta-sts-timestamp"), "1796616000");
    assert_eq!(seen.header("content-type"), "application/json");
    assert_eq!(seen.header("mta-sts-alert-id"), sent.id());
    assert_eq!(seen.body.as_ref(), sent.to_json().as_slice());
    assert_eq!(seen.json()["details"]["kind"], "silent-reporter");
}

#[tokio::test]
async fn a_forged_signature_does_not_verify() {
    // The check the other tests rely on can fail: a body signed with another secret.
    let other = mta_sts_alerts::signature::SigningKey::new(b"another secret");
    let body = alert("example.com").to_json();
    let seen = Seen {
        at: Instant::now(),
        headers: {
            let mut headers = http::HeaderMap::new();
            headers.insert("mta-sts-timestamp", "1".parse().expect("a value"));
            headers.insert(
                "mta-sts-signature",
                other.sign(1, &body).parse().expect("a value"),
            );
            headers
        },
        body: Bytes::from(body),
    };
    assert!(!seen.signature_verifies());
}

#[tokio::test]
async fn retries_after_503_with_growing_waits() {
    let setup = Setup::new();
    let sent = alert("example.com");
    let script = Script {
        statuses: HashMap::from([(
            sent.id(),
            vec![
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::OK,
            ],
        )]),
        hold: false,
    };
    let mut receiver = Receiver::start(script, None).await;
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(5),
        8,
    );
    dispatcher.enqueue(sent.clone());
    let attempts = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ];
    for seen in &attempts {
        seen.assert_signed();
        assert_eq!(seen.alert_id(), sent.id());
    }
    // Backoff: after the first failure at least half of 100 ms, after the second at least half
    // of 200 ms (jitter takes off at most half).
    assert!(attempts[1].at - attempts[0].at >= Duration::from_millis(50));
    assert!(attempts[2].at - attempts[1].at >= Duration::from_millis(100));
    // Success ends the retries: the next request is the next alert.
    let next = alert("example.net");
    dispatcher.enqueue(next.clone());
    assert_eq!(receiver.next().await.alert_id(), next.id());
}

#[tokio::test]
async fn gives_up_after_the_attempt_limit() {
    let setup = Setup::new();
    let doomed = alert("example.com");
    let script = Script {
        statuses: HashMap::from([(doomed.id(), vec![StatusCode::SERVICE_UNAVAILABLE])]),
        hold: false,
    };
    let mut receiver = Receiver::start(script, None).await;
    let (told, mut outcomes) = mpsc::unbounded_channel();
    let dispatcher = Dispatcher::start_observed(
        &setup.settings(
            format!("http://{}/hook", receiver.address),
            quick_retries(3),
            8,
        ),
        setup.clock.clone(),
        Arc::new(move |kind, outcome| {
            let _ = told.send((kind, outcome));
        }),
    )
    .expect("the dispatcher starts");
    let after = alert("example.net");
    dispatcher.enqueue(doomed.clone());
    dispatcher.enqueue(after.clone());
    // A channel delivers in order: the other alert comes only once the first is given up.
    let ids: Vec<String> = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ]
    .iter()
    .map(Seen::alert_id)
    .collect();
    assert_eq!(ids, [doomed.id(), doomed.id(), doomed.id(), after.id()]);
    // What became of each is told, in order (for metrics).
    let mut told = Vec::new();
    for _ in 0..2 {
        told.push(
            tokio::time::timeout(Duration::from_secs(30), outcomes.recv())
                .await
                .expect("an outcome within 30 s")
                .expect("the hook lives"),
        );
    }
    assert_eq!(
        told,
        [
            (ChannelKind::Webhook, Outcome::GaveUp),
            (ChannelKind::Webhook, Outcome::Delivered)
        ]
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    not_retried(StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_redirect_is_not_followed_nor_retried() {
    not_retried(StatusCode::MOVED_PERMANENTLY).await;
}

async fn not_retried(status: StatusCode) {
    let setup = Setup::new();
    let refused = alert("example.com");
    let script = Script {
        statuses: HashMap::from([(refused.id(), vec![status])]),
        hold: false,
    };
    let mut receiver = Receiver::start(script, None).await;
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(5),
        8,
    );
    let after = alert("example.net");
    dispatcher.enqueue(refused.clone());
    dispatcher.enqueue(after.clone());
    assert_eq!(receiver.next().await.alert_id(), refused.id());
    assert_eq!(receiver.next().await.alert_id(), after.id());
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_hold_up_raising() {
    let setup = Setup::new();
    let mut receiver = Receiver::start(
        Script {
            hold: true,
            ..Script::default()
        },
        None,
    )
    .await;
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(3),
        2,
    );
    dispatcher.enqueue(alert("first.example"));
    // The first alert is with the receiver, which holds it: the channel is stuck.
    assert_eq!(
        receiver.next().await.alert_id(),
        alert("first.example").id()
    );
    // Raising goes on regardless: two more fit in the queue, the rest are dropped, and every
    // call returns while the receiver still holds the first request.
    let outcomes: Vec<Queued> = (0..10)
        .map(|n| dispatcher.enqueue(alert(&format!("d{n}.example"))))
        .collect();
    assert_eq!(&outcomes[..2], [Queued::Queued, Queued::Queued]);
    assert!(
        outcomes[2..]
            .iter()
            .all(|o| *o == Queued::Dropped { channels: 1 })
    );
    assert!(
        receiver.seen.try_recv().is_err(),
        "nothing else was sent yet"
    );
    // Released, the receiver gets the queued two next.
    let _ = receiver.release.send(true);
    assert_eq!(receiver.next().await.alert_id(), alert("d0.example").id());
}

#[tokio::test]
async fn unusable_settings_are_refused_by_name() {
    let setup = Setup::new();
    for (url, key) in [
        ("ftp://example.com/", "alerts.webhook.url"),
        ("http://hooks.example.com/", "alerts.webhook.url"),
        ("https:///nohost", "alerts.webhook.url"),
    ] {
        let error = Dispatcher::start(
            &setup.settings(url.to_string(), quick_retries(1), 1),
            setup.clock.clone(),
        )
        .expect_err(url);
        assert!(
            matches!(error, mta_sts_alerts::AlertError::Setting { key: k, .. } if k == key),
            "{url}: {error}"
        );
    }
    let zero = Dispatcher::start(
        &setup.settings("http://127.0.0.1:9/".into(), quick_retries(0), 1),
        setup.clock.clone(),
    );
    assert!(zero.is_err());
}

#[tokio::test]
async fn an_alert_is_raised_once_per_condition_and_period() {
    let setup = Setup::new();
    let mut receiver = Receiver::start(Script::default(), None).await;
    let url: mta_sts_store::StoreUrl = format!("sqlite:{}", setup.dir.file("store.db").display())
        .parse()
        .expect("a store URL");
    let store = mta_sts_store::reports::ReportStore::open(&url)
        .await
        .expect("the store opens");
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(3),
        8,
    );
    let alerter = mta_sts_alerts::Alerter::new(store, dispatcher);
    let first = alert("example.com");
    // The same condition seen again the same period (another failure report the same day):
    // raised once.
    assert_eq!(
        alerter.raise(first.clone()).await.expect("raise"),
        Queued::Queued
    );
    assert_eq!(
        alerter.raise(first.clone()).await.expect("raise"),
        Queued::AlreadyRaised
    );
    // Another period, another domain: raised.
    let next_period = Alert {
        period: "2026-12-08".into(),
        ..first.clone()
    };
    let other_domain = alert("example.net");
    assert_eq!(
        alerter.raise(next_period.clone()).await.expect("raise"),
        Queued::Queued
    );
    assert_eq!(
        alerter.raise(other_domain.clone()).await.expect("raise"),
        Queued::Queued
    );
    let ids: Vec<String> = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ]
    .iter()
    .map(Seen::alert_id)
    .collect();
    assert_eq!(ids, [first.id(), next_period.id(), other_domain.id()]);
    assert!(receiver.seen.try_recv().is_err(), "nothing more was sent");
}

#[tokio::test]
async fn an_organisation_name_of_any_characters_is_delivered() {
    let setup = Setup::new();
    let mut receiver = Receiver::start(Script::default(), None).await;
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(1),
        8,
    );
    let mut odd = alert("example.com");
    if let Condition::SilentReporter { organization, .. } = &mut odd.condition {
        *organization = "Почта\r\nX-Injected: 1".into();
    }
    dispatcher.enqueue(odd.clone());
    let seen = receiver.next().await;
    seen.assert_signed();
    assert_eq!(seen.alert_id(), odd.id());
    assert!(seen.headers.get("x-injected").is_none());
    assert_eq!(
        seen.header("mta-sts-alert-id"),
        "example.com/silent-reporter:%D0%9F%D0%BE%D1%87%D1%82%D0%B0%0D%0AX-Injected: 1/2026-12-01"
    );
}

#[tokio::test]
async fn finishing_delivers_what_is_queued() {
    let setup = Setup::new();
    let mut receiver = Receiver::start(
        Script {
            hold: true,
            ..Script::default()
        },
        None,
    )
    .await;
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(3),
        8,
    );
    for domain in ["a.example", "b.example", "c.example"] {
        dispatcher.enqueue(alert(domain));
    }
    assert_eq!(receiver.next().await.alert_id(), alert("a.example").id());
    // A server stopping: the queue is given time; the receiver answers meanwhile.
    let finishing = tokio::spawn(dispatcher.finish(Duration::from_secs(30)));
    let _ = receiver.release.send(true);
    assert_eq!(receiver.next().await.alert_id(), alert("b.example").id());
    assert_eq!(receiver.next().await.alert_id(), alert("c.example").id());
    assert_eq!(finishing.await.expect("finish"), 0, "nothing was left");
}

#[tokio::test]
async fn finishing_is_bounded_when_the_receiver_never_answers() {
    let setup = Setup::new();
    let mut receiver = Receiver::start(
        Script {
            hold: true,
            ..Script::default()
        },
        None,
    )
    .await;
    let dispatcher = setup.start(
        format!("http://{}/hook", receiver.address),
        quick_retries(3),
        8,
    );
    for domain in ["a.example", "b.example", "c.example"] {
        dispatcher.enqueue(alert(domain));
    }
    receiver.next().await;
    // The one held and the two behind it are counted as not sent.
    assert_eq!(dispatcher.finish(Duration::from_millis(200)).await, 3);
}
