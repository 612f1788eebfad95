//! `mta-sts serve` with an `[acme]` table, the binary on loopback: it orders its policy host's
//! certificate from Debian's `pebble` (the lab's DNS resolving the policy host to the server,
//! pebble validating HTTP-01 on the server's plain HTTP listener), says so in its log, and
//! serves the policy with it over HTTPS; a domain added to the configuration on SIGHUP gets its
//! certificate without a restart. SKIPPED without pebble; failing instead with
//! `MTA_STS_REQUIRE_TOOLS=1`.

mod serve_harness;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use mta_sts_acme::test_support::{Pebble, free_port};
use mta_sts_lab::{DnsRecord, Lab, RecordData, Scenario};
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::ReportStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serve_harness::{Server, TempDir, path_arg};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const DOMAIN: &str = "acme-binary.test";
const HOST: &str = "mta-sts.acme-binary.test";
const ADDED_DOMAIN: &str = "acme-added.test";
const ADDED_HOST: &str = "mta-sts.acme-added.test";
const POLICY: &str = "version: STSv1\nmode: testing\nmx: mail.acme-binary.test\nmax_age: 86400\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_orders_its_policy_host_certificate_and_serves_the_policy_with_it() {
    let lab = Lab::start_with(
        vec![
            hosted("acme-binary", DOMAIN, HOST),
            hosted("acme-added", ADDED_DOMAIN, ADDED_HOST),
        ],
        0,
    )
    .await
    .expect("lab");
    let (https, http) = (free_port(), free_port());
    let Some(pebble) = Pebble::start(lab.dns_addr(), http, https, Duration::from_secs(3600)) else {
        return;
    };
    let dir = TempDir::new("serve-acme");
    let store = dir.path("store.db");
    std::fs::write(dir.path("policy.txt"), POLICY).expect("policy");
    let config = |domains: &[&str]| {
        let mut text = format!(
            "store = \"sqlite:{}\"\n\
             [acme]\n\
             directory = \"{}\"\n\
             ca_file = \"{}\"\n\
             contact = [\"hostmaster@acme-binary.test\"]\n\
             challenge = \"http-01\"\n\
             retry_first = 1\n\
             order_timeout = 30\n",
            path_arg(&store),
            pebble.directory,
            path_arg(&pebble.ca_file)
        );
        for domain in domains {
            text.push_str(&format!(
                "[[hosts]]\ndomain = \"{domain}\"\npolicy_file = \"{}\"\n",
                path_arg(&dir.path("policy.txt"))
            ));
        }
        std::fs::write(dir.path("serve.toml"), text).expect("config");
    };
    config(&[DOMAIN]);
    let server = Server::start(&[
        "--config",
        &path_arg(&dir.path("serve.toml")),
        "--https",
        &format!("127.0.0.1:{https}"),
        "--listen",
        &format!("127.0.0.1:{http}"),
    ]);
    // The server says when the certificate is served.
    let installed = server.wait_for("certificate-installed");
    assert_eq!(installed["host"], HOST, "{installed}");

    let kept = ReportStore::open(&StoreUrl::Sqlite(store.clone()))
        .await
        .expect("store")
        .acme_certificate(HOST)
        .await
        .expect("read")
        .expect("kept in the store");
    let chain = CertificateDer::pem_slice_iter(kept.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM chain");
    // Pebble's intermediate as the only trust anchor: the served leaf must chain to it.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(chain[1].clone()).expect("anchor");
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(server.https.expect("https"))
        .await
        .expect("connect");
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from(HOST).expect("name"), tcp)
        .await
        .expect("the handshake verifies against the ACME chain");
    assert_eq!(
        stream.get_ref().1.peer_certificates().expect("chain")[0],
        chain[0]
    );
    stream
        .write_all(
            format!(
                "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(POLICY), "{response}");

    // A domain added on SIGHUP gets its certificate without a restart.
    config(&[DOMAIN, ADDED_DOMAIN]);
    server.signal("HUP");
    let installed = server.wait_for("certificate-installed");
    assert_eq!(installed["host"], ADDED_HOST, "{installed}");
    drop(lab);
}

/// A lab domain whose policy host resolves to the server (127.0.0.1).
fn hosted(name: &'static str, domain: &str, host: &str) -> Scenario {
    Scenario {
        name,
        domain: domain.to_string(),
        story: "a policy hosted by the mta-sts binary with a certificate by ACME",
        expect: &[],
        records: vec![DnsRecord::new(host, RecordData::A(Ipv4Addr::LOCALHOST))],
        policy_hosts: Vec::new(),
        mx_hosts: Vec::new(),
        signed: false,
    }
}
