//! ACME through the real server: `mta-sts serve` with `[acme]` gets its policy host's
//! certificate from Debian's `pebble` on loopback (the lab's DNS resolving the policy host to
//! the server, pebble validating on the server's own listeners), serves the policy with it over
//! HTTPS, and a second server sharing the store serves the same certificate without ordering
//! one; a name that is not hosted gets no certificate; `mta-sts check` of the domain then
//! passes (policy from the server with pebble's certificate, MX from the lab). Both challenge
//! types. When the CA goes
//! away and the certificate nears its end, the owner gets a `certificate-expiring` alert.
//! SKIPPED without pebble; failing instead with `MTA_STS_REQUIRE_TOOLS=1`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mta_sts_acme::ChallengeKind;
use mta_sts_acme::test_support::{Pebble, free_port};
use mta_sts_alerts::{RetryPolicy, WebhookSettings};
use mta_sts_check::{Checker, NetSettings};
use mta_sts_core::sts_record::content_id;
use mta_sts_lab::{CertKind, DnsRecord, Lab, MxHost, RecordData, Scenario, SmtpBehaviour};
use mta_sts_net::{AddressGuard, Trust};
use mta_sts_serve::config::{AcmeConfig, HostConfig};
use mta_sts_serve::{ServeConfig, Server};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;
use mta_sts_store::test_support::TempDir;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const DOMAIN: &str = "acme-serve.test";
const HOST: &str = "mta-sts.acme-serve.test";
const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mail.acme-serve.test\nmax_age: 604800\n";
const MX: &str = "mail.acme-serve.test";

/// The lab domain whose policy host resolves to the server (127.0.0.1).
fn scenario() -> Scenario {
    Scenario {
        name: "acme-serve",
        domain: DOMAIN.to_string(),
        story: "a domain whose policy is hosted by mta-sts serve with a certificate by ACME",
        expect: &[],
        records: vec![
            DnsRecord::new(HOST, RecordData::A(Ipv4Addr::LOCALHOST)),
            // What `mta-sts publish` prints for the policy: its content id.
            DnsRecord::new(
                format!("_mta-sts.{DOMAIN}"),
                RecordData::Txt(vec![format!("v=STSv1; id={}", content_id(POLICY))]),
            ),
            DnsRecord::new(
                format!("_smtp._tls.{DOMAIN}"),
                RecordData::Txt(vec![format!("v=TLSRPTv1; rua=mailto:tlsrpt@{DOMAIN}")]),
            ),
            DnsRecord::new(
                DOMAIN,
                RecordData::Mx {
                    preference: 10,
                    exchange: MX.to_string(),
                },
            ),
            DnsRecord::new(MX, RecordData::A(Ipv4Addr::LOCALHOST)),
        ],
        policy_hosts: Vec::new(),
        mx_hosts: vec![MxHost {
            name: MX.to_string(),
            behaviour: SmtpBehaviour::Starttls(CertKind::Valid),
        }],
        signed: false,
    }
}

/// A server hosting [`DOMAIN`] on the given ports, with ACME from `pebble`.
fn config(
    https: u16,
    http: u16,
    store: &StoreUrl,
    pebble: &Pebble,
    challenge: ChallengeKind,
) -> ServeConfig {
    let mut host = HostConfig::auto(DOMAIN);
    host.auto = false;
    host.policy = Some(POLICY.to_string());
    let mut config = ServeConfig {
        https: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, https))),
        listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, http))),
        store: store.to_string(),
        hosts: vec![host],
        acme: Some(AcmeConfig {
            ca_file: Some(pebble.ca_file.clone()),
            contact: vec!["hostmaster@acme-serve.test".to_string()],
            challenge,
            retry_first: Duration::from_secs(1),
            retry_max: Duration::from_secs(2),
            order_timeout: Duration::from_secs(30),
            ..AcmeConfig::new(&pebble.directory)
        }),
        ..ServeConfig::default()
    };
    // The monitor's alerts have their own test (monitor.rs); here they would be noise.
    config.monitor.enabled = false;
    config.validate().expect("a valid configuration");
    config
}

/// A started server, stopped when dropped.
struct Running {
    _stop: oneshot::Sender<()>,
    https: SocketAddr,
    http: SocketAddr,
}

async fn run(config: ServeConfig) -> Running {
    let server = Server::start(config).await.expect("the server starts");
    let https = server.https_addr().expect("https");
    let http = server.http_addr().expect("http");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Running {
        _stop: stop,
        https,
        http,
    }
}

/// `GET /.well-known/mta-sts.txt` over HTTPS from `addr`, asking for `sni` and trusting only
/// `anchor`: the chain the server showed and the response.
async fn fetch_policy(
    addr: SocketAddr,
    sni: &str,
    anchor: &CertificateDer<'static>,
) -> Result<(Vec<CertificateDer<'static>>, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(anchor.clone()).map_err(|e| e.to_string())?;
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let mut stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let chain = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    stream
        .write_all(
            format!(
                "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // A close without TLS close_notify after the whole response is fine here.
    let _ = stream.read_to_end(&mut response).await;
    Ok((chain, String::from_utf8_lossy(&response).into_owned()))
}

/// `GET path` over plain HTTP: the whole response.
async fn get_plain(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("response");
    String::from_utf8_lossy(&response).into_owned()
}

/// The certificate the store keeps for [`HOST`], once the server has it: its chain.
async fn issued_chain(store: &ReportStore) -> Vec<CertificateDer<'static>> {
    // Observed, not slept on: the store is read until the server's ACME task has kept the
    // certificate (pebble validates in well under a second; the deadline only bounds a fault).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(kept) = store.acme_certificate(HOST).await.expect("the store reads") {
            return CertificateDer::pem_slice_iter(kept.chain_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("a PEM chain");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no certificate for {HOST} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The policy fetched from `server` once its handshake for [`HOST`] shows `leaf` (the server
/// installs the certificate right after keeping it).
async fn policy_with(server: SocketAddr, anchor: &CertificateDer<'static>, leaf: &[u8]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match fetch_policy(server, HOST, anchor).await {
            Ok((chain, response)) if chain.first().is_some_and(|c| c.as_ref() == leaf) => {
                return response;
            }
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not serve the issued certificate: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn issued_and_served(challenge: ChallengeKind) {
    let lab = Lab::start_with(vec![scenario()], 0).await.expect("lab");
    let (https, http) = (free_port(), free_port());
    // Ninety days, as public CAs issue: a shorter certificate is one the checker calls expiring.
    let validity = Duration::from_secs(90 * 86_400);
    let Some(pebble) = Pebble::start(lab.dns_addr(), http, https, validity) else {
        return;
    };
    let dir = TempDir::new("mta-sts-serve-acme");
    let store_url = StoreUrl::Sqlite(dir.file("store.db"));
    let first = run(config(https, http, &store_url, &pebble, challenge)).await;
    let store = ReportStore::open(&store_url).await.expect("store");
    let chain = issued_chain(&store).await;
    assert!(chain.len() >= 2, "the leaf and pebble's intermediate");
    // The intermediate as the only trust anchor: the leaf must chain to it and name HOST.
    let anchor = chain[1].clone();
    let response = policy_with(first.https, &anchor, chain[0].as_ref()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(POLICY), "{response}");

    // The certificate's expiry is a gauge on /metrics.
    let kept = store
        .acme_certificate(HOST)
        .await
        .expect("read")
        .expect("kept");
    let metrics = get_plain(first.http, "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "mta_sts_serve_certificate_not_after_seconds{{host=\"{HOST}\"}} {}",
            kept.not_after.unix_seconds()
        )),
        "{metrics}"
    );

    // The checker, trusting pebble's chain (the policy host) and the lab CA (the MX host), finds
    // nothing wrong with the hosted domain.
    let trust = Trust::only_pem(&format!("{}{}", lab.ca_pem(), kept.chain_pem)).expect("roots");
    let checker = Checker::from_settings(&NetSettings {
        resolver: Some(lab.dns_addr()),
        trust,
        https_port: first.https.port(),
        smtp_port: lab.smtp_port(),
        timeout: Duration::from_secs(5),
        guard: AddressGuard::AllowAll,
        probe_smtp: true,
    })
    .expect("a checker");
    let report = checker.check(DOMAIN).await;
    assert!(
        report.problem_codes().is_empty(),
        "the check of {DOMAIN} found {:?}",
        report.problem_codes()
    );
    assert_eq!(
        report.policy.as_ref().and_then(|p| p.mode),
        Some(mta_sts_core::Mode::Enforce)
    );

    // A name that is not hosted gets no certificate, and none is ordered for it.
    assert!(
        fetch_policy(first.https, "mta-sts.other.test", &anchor)
            .await
            .is_err()
    );
    assert_eq!(
        store
            .acme_certificate("mta-sts.other.test")
            .await
            .expect("read"),
        None
    );

    // A second server on the same store serves the same certificate without ordering one.
    let (https2, http2) = (free_port(), free_port());
    let second = run(config(https2, http2, &store_url, &pebble, challenge)).await;
    let response = policy_with(second.https, &anchor, chain[0].as_ref()).await;
    assert!(response.ends_with(POLICY), "{response}");
    let kept = store.acme_certificate(HOST).await.expect("read");
    assert_eq!(
        CertificateDer::pem_slice_iter(kept.expect("kept").chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM")[0],
        chain[0],
        "still the first certificate"
    );
    drop(lab);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_certificate_is_issued_served_and_shared_through_the_store() {
    issued_and_served(ChallengeKind::Http01).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_certificate_is_issued_served_and_shared_through_the_store() {
    issued_and_served(ChallengeKind::TlsAlpn01).await;
}

/// A webhook receiver on loopback: every request's JSON body goes to the returned channel.
async fn webhook() -> (String, mpsc::UnboundedReceiver<serde_json::Value>) {
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
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_cannot_be_renewed_is_an_alert_before_it_expires() {
    let lab = Lab::start_with(vec![scenario()], 0).await.expect("lab");
    let (https, http) = (free_port(), free_port());
    // Twelve seconds: renewal due after three, the warning after six.
    let Some(mut pebble) = Pebble::start(lab.dns_addr(), http, https, Duration::from_secs(12))
    else {
        return;
    };
    let dir = TempDir::new("mta-sts-serve-acme-alert");
    let store_url = StoreUrl::Sqlite(dir.file("store.db"));
    std::fs::write(dir.file("secret"), "webhook secret").expect("secret");
    let (url, mut alerts) = webhook().await;
    let mut config = config(https, http, &store_url, &pebble, ChallengeKind::Http01);
    if let Some(acme) = &mut config.acme {
        acme.renew_at = 0.25;
        acme.warn_at = 0.5;
    }
    config.alerts.advisor = false;
    config.alerts.webhook = Some(WebhookSettings {
        url,
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
    config.validate().expect("valid");
    let server = run(config).await;
    let store = ReportStore::open(&store_url).await.expect("store");
    let chain = issued_chain(&store).await;
    policy_with(server.https, &chain[1], chain[0].as_ref()).await;
    let kept = store
        .acme_certificate(HOST)
        .await
        .expect("read")
        .expect("kept");

    // The CA goes away: every renewal fails from now on.
    pebble.stop();
    let alert = tokio::time::timeout(Duration::from_secs(30), alerts.recv())
        .await
        .expect("an alert within 30 s")
        .expect("the receiver runs");
    assert_eq!(alert["domain"], DOMAIN);
    assert_eq!(alert["condition"], "certificate-expiring");
    assert_eq!(alert["details"]["host"], HOST);
    assert_eq!(alert["details"]["not_after"], kept.not_after.to_string());
    assert!(
        alert["details"]["last_error"].is_string(),
        "the failed renewal is named: {alert}"
    );
    // Raised before the certificate expired.
    let raised = alert["raised_at"].as_str().expect("raised_at");
    assert!(raised < kept.not_after.to_string().as_str(), "{raised}");
    drop(lab);
}
