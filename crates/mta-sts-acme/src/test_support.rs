//! For tests of this and other crates (cargo feature `test-support`): Debian's `pebble` ACME
//! test server on loopback, started per test with its own configuration and TLS certificate,
//! resolving names through a DNS server of the test's (the lab's), validating challenges on
//! the ports the test gives it. Skipped visibly when pebble is missing (a failure with
//! `MTA_STS_REQUIRE_TOOLS=1`).

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mta_sts_store::test_support::TempDir;
use mta_sts_store::test_support::skip::installed;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// Where Debian installs pebble.
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

/// A free port on 127.0.0.1, for a server that takes its ports only from a configuration
/// (pebble, and the server whose ports pebble validates against).
pub fn free_port() -> u16 {
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

    /// # Panics
    /// When pebble is installed but does not start.
    ///
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
