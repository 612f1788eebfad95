//! Debian's `pebble` ACME test server on loopback, started per test with its own configuration
//! and TLS certificate, resolving through the lab's DNS; and a responder answering its
//! challenges from a [`Challenges`] on the ports it validates against.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mta_sts_acme::{ACME_TLS_ALPN, Challenges};
use mta_sts_store::test_support::TempDir;
use mta_sts_store::test_support::skip::installed;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

pub const PEBBLE: &str = "/usr/bin/pebble";

/// A running pebble, killed when dropped.
pub struct Pebble {
    child: Child,
    /// The directory URL.
    pub directory: String,
    /// The CA file its TLS certificate chains to.
    pub ca_file: PathBuf,
    _dir: TempDir,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on 127.0.0.1 (pebble takes ports only from its configuration).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Pebble {
    /// Stops it (the CA going away); again does nothing.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port` of the
    /// addresses `dns` gives, issuing certificates valid `validity`; `None` (after a SKIPPED
    /// line) when pebble is not installed.
    pub fn start(
        dns: SocketAddr,
        http_port: u16,
        tls_port: u16,
        validity: Duration,
    ) -> Option<Pebble> {
        if !installed(PEBBLE, "pebble") {
            return None;
        }
        let dir = TempDir::new("mta-sts-acme-pebble");
        // Its TLS certificate: a leaf for 127.0.0.1 under a CA of the test's own.
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf");
        let ca_file = dir.file("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("CA file");
        std::fs::write(dir.file("cert.pem"), leaf.pem()).expect("cert");
        std::fs::write(dir.file("key.pem"), leaf_key.serialize_pem()).expect("key");
        let (listen, management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.file("cert.pem"),
            "privateKey": dir.file("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity.as_secs(),
        }});
        std::fs::write(dir.file("pebble.json"), config.to_string()).expect("config");
        let mut child = Command::new(PEBBLE)
            .arg("-config")
            .arg(dir.file("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            // No random validation delays, no rejected nonces, and a new validation for every
            // order (so each test's challenge type is the one validated).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble starts");
        // Ready once it says where its directory is.
        let stdout = child.stdout.take().expect("stdout");
        let (ready, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut said = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let done = line.contains("ACME directory available at");
                said.push(line);
                if done {
                    let _ = ready.send(Ok(()));
                    // Keep reading so pebble never blocks on a full pipe.
                    continue;
                }
            }
            let _ = ready.send(Err(said.join("\n")));
        });
        match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            other => panic!("pebble did not start: {other:?}"),
        }
        Some(Pebble {
            child,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            ca_file,
            _dir: dir,
        })
    }
}

/// Answers pebble's challenges from `challenges`: HTTP-01 on `http`, TLS-ALPN-01 on `tls`.
pub fn answer_challenges(challenges: Arc<Challenges>, http: TcpListener, tls: TcpListener) {
    let from_http = Arc::clone(&challenges);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = http.accept().await {
            let challenges = Arc::clone(&from_http);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("");
                let answer = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .and_then(|token| challenges.http01(token));
                let response = match answer {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(AlpnAnswers(challenges)));
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((stream, _)) = tls.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
}

#[derive(Debug)]
struct AlpnAnswers(Arc<Challenges>);

impl ResolvesServerCert for AlpnAnswers {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if !offers_acme {
            return None;
        }
        self.0.tls_alpn01(hello.server_name()?)
    }
}
