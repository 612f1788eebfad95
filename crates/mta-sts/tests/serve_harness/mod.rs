//! What the `mta-sts serve` tests share: a CA made for the test and certificates it issues, the
//! real binary started on loopback ports the OS picks, and an HTTPS client that trusts the CA.

#![allow(dead_code)] // Each test binary uses its own part of the harness.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-serve-test-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA made for one test, and the leaf files it issued for `localhost` and 127.0.0.1.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(dir: &TempDir) -> TestCa {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "mta-sts serve test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA");
        let ca = TestCa {
            issuer,
            cert: dir.path("server.crt"),
            key: dir.path("server.key"),
        };
        ca.issue("first");
        ca
    }

    /// Issues a new leaf (its common name `label`) and writes it over the server's files.
    pub fn issue(&self, label: &str) -> Vec<u8> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.distinguished_name.push(DnType::CommonName, label);
        let key = KeyPair::generate().expect("leaf key");
        let leaf = params.signed_by(&key, &self.issuer).expect("leaf");
        let chain = format!("{}{}", leaf.pem(), self.issuer.pem());
        // Written beside and renamed, as a certificate renewal does, so that the server never
        // reads half a file.
        let cert_tmp = self.cert.with_extension("new");
        let key_tmp = self.key.with_extension("newkey");
        std::fs::write(&cert_tmp, chain).expect("write cert");
        std::fs::write(&key_tmp, key.serialize_pem()).expect("write key");
        std::fs::rename(&key_tmp, &self.key).expect("rename key");
        std::fs::rename(&cert_tmp, &self.cert).expect("rename cert");
        leaf.der().to_vec()
    }

    /// Issues a leaf for `name` into `cert` (the chain) and `key`; returns the leaf (DER).
    pub fn issue_for(&self, name: &str, cert: &Path, key: &Path) -> Vec<u8> {
        let params = CertificateParams::new(vec![name.to_string()]).expect("leaf params");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = params.signed_by(&leaf_key, &self.issuer).expect("leaf");
        std::fs::write(cert, format!("{}{}", leaf.pem(), self.issuer.pem())).expect("write cert");
        std::fs::write(key, leaf_key.serialize_pem()).expect("write key");
        leaf.der().to_vec()
    }

    /// A TLS client configuration that trusts this CA only.
    pub fn client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.issuer.pem().as_bytes()).expect("CA pem"))
            .expect("CA root");
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// A running `mta-sts serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub https: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    /// Every log line so far, as JSON.
    pub log: Arc<Mutex<Vec<Value>>>,
    log_lines: std::sync::mpsc::Receiver<Value>,
}

impl Server {
    /// Starts the binary with `args` (plus `--log-format json`) and waits for it to say where it
    /// listens.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .args(["--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mta-sts serve");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, log_lines) = std::sync::mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let value: Value =
                    serde_json::from_str(&line).unwrap_or_else(|_| Value::String(line.clone()));
                kept.lock().expect("log").push(value.clone());
                let _ = sender.send(value);
            }
        });
        let mut server = Server {
            child,
            https: None,
            http: None,
            log,
            log_lines,
        };
        let wants_https = args.contains(&"--https");
        let wants_http = args.contains(&"--listen");
        while (wants_https && server.https.is_none()) || (wants_http && server.http.is_none()) {
            let line = server.next_log_line().unwrap_or_else(|| {
                panic!(
                    "mta-sts serve stopped before listening: {:?}",
                    server.log.lock().expect("log")
                )
            });
            if line["kind"] == "listening" {
                let address: SocketAddr = line["address"]
                    .as_str()
                    .expect("address")
                    .parse()
                    .expect("socket address");
                match line["scheme"].as_str() {
                    Some("https") => server.https = Some(address),
                    _ => server.http = Some(address),
                }
            }
        }
        server
    }

    /// The next log line, waiting at most a minute; `None` once the server's stderr closed.
    pub fn next_log_line(&self) -> Option<Value> {
        self.log_lines.recv_timeout(Duration::from_secs(60)).ok()
    }

    /// Waits for a log line of `kind`.
    pub fn wait_for(&self, kind: &str) -> Value {
        loop {
            let line = self
                .next_log_line()
                .unwrap_or_else(|| panic!("no `{kind}` line in the log"));
            if line["kind"] == kind {
                return line;
            }
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to end, at most a minute.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mta-sts serve did not stop within a minute");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// Sends one request over a new connection, over TLS when `tls` is given.
pub async fn request(
    address: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    try_request(address, tls, method, path, headers, body)
        .await
        .expect("response")
}

/// As [`request`], but the client's error is returned: a server that answers before it has
/// read the whole body and closes (serve's 413 on a Content-Length over the cap) may leave the
/// client a broken pipe while it still writes its body, before it reads the answer.
pub async fn try_request(
    address: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, hyper::Error> {
    let tcp = TcpStream::connect(address).await.expect("connect");
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body))).expect("request");
    match tls {
        Some(config) => {
            let stream = TlsConnector::from(config.clone())
                .connect(ServerName::try_from("localhost").expect("name"), tcp)
                .await
                .expect("TLS handshake");
            send(stream, request).await
        }
        None => send(tcp, request).await,
    }
}

async fn send<S>(stream: S, request: http::Request<Full<Bytes>>) -> Result<Answer, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A report for `domain` with its own id and day.
pub fn report(domain: &str, id: &str, day: u32) -> Vec<u8> {
    serde_json::json!({
        "organization-name": "Example Reporter",
        "date-range": {
            "start-datetime": format!("2026-11-{day:02}T00:00:00Z"),
            "end-datetime": format!("2026-11-{day:02}T23:59:59Z"),
        },
        "contact-info": "tlsrpt@reporter.example",
        "report-id": id,
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: enforce", "mx: mail.acme.test", "max_age: 86400"],
                "policy-domain": domain,
                "mx-host": ["mail.acme.test"],
            },
            "summary": {"total-successful-session-count": 10, "total-failure-session-count": 1},
            "failure-details": [{
                "result-type": "certificate-expired",
                "sending-mta-ip": "192.0.2.1",
                "receiving-mx-hostname": "mail.acme.test",
                "failed-session-count": 1,
            }],
        }],
    })
    .to_string()
    .into_bytes()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The peak resident memory of a process, in bytes (VmHWM).
pub fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    kib * 1024
}

pub fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// The leaf certificate (DER) a TLS handshake with `address` is given.
pub async fn served_certificate(address: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let tcp = TcpStream::connect(address).await.expect("connect");
    let stream = TlsConnector::from(tls.clone())
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let (_, session) = stream.get_ref();
    session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a certificate")
        .to_vec()
}

/// A report for `domain` whose one-day date range ended `days` days before now.
pub fn report_ended_days_ago(domain: &str, id: &str, days: u64) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let end = now - days * 86_400;
    let at = |seconds: u64| {
        mta_sts_core::Timestamp::from_unix_seconds(i64::try_from(seconds).expect("seconds"))
            .expect("timestamp")
            .to_string()
    };
    let mut value: Value = serde_json::from_slice(&report(domain, id, 1)).expect("report");
    value["date-range"]["start-datetime"] = Value::String(at(end - 86_400));
    value["date-range"]["end-datetime"] = Value::String(at(end));
    value.to_string().into_bytes()
}
