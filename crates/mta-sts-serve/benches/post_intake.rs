//! HTTPS POST intake throughput: reports/s over loopback, several clients at once, each on its
//! own keep-alive TLS connection, into SQLite (and PostgreSQL when `MTA_STS_TEST_POSTGRES` names
//! a server). Every report is distinct (its own id and day), gzip-compressed as reporters send
//! them, and answered 200 only once stored.
//!
//! `cargo bench -p mta-sts-serve --bench post_intake` (release); `POST_BENCH_REPORTS` (default
//! 20000) and `POST_BENCH_CLIENTS` (default 8) change the run.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use mta_sts_serve::{ServeConfig, Server};
use mta_sts_service::Shutdown;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(n: usize) -> Vec<u8> {
    let day = n % 28 + 1;
    let json = serde_json::json!({
        "organization-name": format!("Reporter {}", n % 50),
        "date-range": {
            "start-datetime": format!("2026-11-{day:02}T00:00:00Z"),
            "end-datetime": format!("2026-11-{day:02}T23:59:59Z"),
        },
        "contact-info": "tlsrpt@reporter.example",
        "report-id": format!("bench-{n}"),
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: enforce", "mx: mail.acme.test", "max_age: 86400"],
                "policy-domain": "acme.test",
                "mx-host": ["mail.acme.test"],
            },
            "summary": {"total-successful-session-count": 1000 + n, "total-failure-session-count": 3},
            "failure-details": [{
                "result-type": "certificate-expired",
                "sending-mta-ip": "192.0.2.1",
                "receiving-mx-hostname": "mail.acme.test",
                "failed-session-count": 3,
            }],
        }],
    })
    .to_string();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

struct Tls {
    dir: std::path::PathBuf,
    client: Arc<rustls::ClientConfig>,
}

fn tls() -> Tls {
    let dir = std::env::temp_dir().join(format!("mta-sts-post-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert.pem().as_bytes()).expect("pem"))
        .expect("root");
    let client = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    Tls { dir, client }
}

async fn client(
    address: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    bodies: Vec<Vec<u8>>,
) -> Vec<Duration> {
    let tcp = TcpStream::connect(address).await.expect("connect");
    let stream = TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("http");
    tokio::spawn(connection);
    let mut latencies = Vec::with_capacity(bodies.len());
    for body in bodies {
        let request = http::Request::post("/tlsrpt")
            .header("host", "localhost")
            .header("content-type", "application/tlsrpt+gzip")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let started = Instant::now();
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        let _ = response.into_body().collect().await.expect("body");
        assert_eq!(status, 200);
        latencies.push(started.elapsed());
    }
    latencies
}

async fn run(label: &str, store: String, tls: &Tls, reports: usize, clients: usize) {
    let config = ServeConfig {
        domains: vec!["acme.test".into()],
        https: Some("127.0.0.1:0".parse().expect("address")),
        cert: Some(tls.dir.join("cert.pem")),
        key: Some(tls.dir.join("key.pem")),
        store,
        reports_per_minute: u32::MAX,
        max_concurrent_per_client: clients,
        metrics: false,
        ..ServeConfig::default()
    };
    let mut config = config;
    // Only intake is measured.
    config.monitor.enabled = false;
    config.validate().expect("config");
    let server = Server::start(config).await.expect("start");
    let address = server.https_addr().expect("https");
    let shutdown = Shutdown::new();
    let serving = tokio::spawn(server.serve(shutdown.triggered()));
    let bodies: Vec<Vec<u8>> = (0..reports).map(report).collect();
    let mut per_client: Vec<Vec<Vec<u8>>> = vec![Vec::new(); clients];
    for (n, body) in bodies.into_iter().enumerate() {
        per_client[n % clients].push(body);
    }
    let started = Instant::now();
    let tasks: Vec<_> = per_client
        .into_iter()
        .map(|bodies| tokio::spawn(client(address, tls.client.clone(), bodies)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "{label}: {reports} reports by {clients} clients in {:.2} s: {:.0} reports/s; latency \
         p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        reports as f64 / elapsed.as_secs_f64(),
        percentile(0.5).as_secs_f64() * 1000.0,
        percentile(0.99).as_secs_f64() * 1000.0,
    );
    shutdown.trigger();
    serving.await.expect("server");
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reports = env_number("POST_BENCH_REPORTS", 20_000);
    let clients = env_number("POST_BENCH_CLIENTS", 8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tls = tls();
        let sqlite = tls.dir.join("bench.db");
        let _ = std::fs::remove_file(&sqlite);
        run(
            "sqlite",
            format!("sqlite:{}", sqlite.display()),
            &tls,
            reports,
            clients,
        )
        .await;
        match mta_sts_store::test_support::TestDatabase::create("post_intake").await {
            Some(database) => {
                run(
                    "postgres",
                    database.url().to_string(),
                    &tls,
                    reports,
                    clients,
                )
                .await;
            }
            None => println!("postgres: skipped (MTA_STS_TEST_POSTGRES is not set)"),
        }
        let _ = std::fs::remove_dir_all(&tls.dir);
    });
}
