//! Policy hosting by `mta-sts serve` over real sockets on loopback: the one path served with
//! its headers (HTTP/1.1 and HTTP/2), 404 and never a redirect for anything else, the
//! certificate chosen by SNI (a wrong name or none refused), and SIGHUP swapping a policy and
//! a certificate without dropping an open keep-alive connection.

mod serve_harness;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use rustls::pki_types::ServerName;
use serve_harness::{Server, TempDir, TestCa, path_arg};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const POLICY_COM: &str = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n";
const POLICY_NET: &str =
    "version: STSv1\r\nmode: testing\r\nmx: *.mail.example.net\r\nmax_age: 86400\r\n";

/// A server hosting example.com and example.net from policy files, with certificates for
/// both policy hosts from a certificate directory and no default certificate.
struct Hosted {
    dir: TempDir,
    ca: TestCa,
    server: Server,
    com_leaf: Vec<u8>,
}

impl Hosted {
    fn start() -> Hosted {
        Hosted::start_with(|_| String::new())
    }

    /// Started with the configuration file `config(dir)` (flags over it).
    fn start_with(config: impl FnOnce(&TempDir) -> String) -> Hosted {
        let dir = TempDir::new("hosting");
        let config_path = dir.path("serve.toml");
        std::fs::write(&config_path, config(&dir)).expect("configuration");
        let config_path = path_arg(&config_path);
        let ca = TestCa::new(&dir);
        let certs = dir.path("certs");
        std::fs::create_dir_all(&certs).expect("certs dir");
        let com_leaf = ca.issue_for(
            "mta-sts.example.com",
            &certs.join("mta-sts.example.com.pem"),
            &certs.join("mta-sts.example.com.key"),
        );
        ca.issue_for(
            "mta-sts.example.net",
            &certs.join("mta-sts.example.net.pem"),
            &certs.join("mta-sts.example.net.key"),
        );
        std::fs::write(dir.path("example.com.txt"), POLICY_COM).expect("policy");
        std::fs::write(dir.path("example.net.txt"), POLICY_NET).expect("policy");
        let com = format!("example.com={}", path_arg(&dir.path("example.com.txt")));
        let net = format!("example.net={}", path_arg(&dir.path("example.net.txt")));
        let store = format!("sqlite:{}", path_arg(&dir.path("store.db")));
        let certs = path_arg(&certs);
        let server = Server::start(&[
            "--config",
            &config_path,
            "--https",
            "127.0.0.1:0",
            "--host",
            &com,
            "--host",
            &net,
            "--certs",
            &certs,
            "--store",
            &store,
        ]);
        Hosted {
            dir,
            ca,
            server,
            com_leaf,
        }
    }

    fn address(&self) -> SocketAddr {
        self.server.https.expect("HTTPS")
    }

    /// A TLS client trusting the test CA, offering `alpn`, sending SNI when `sni`.
    fn client(&self, alpn: &[&[u8]], sni: bool) -> Arc<rustls::ClientConfig> {
        let mut config = (*self.ca.client()).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.enable_sni = sni;
        Arc::new(config)
    }

    async fn connect(
        &self,
        name: &str,
        alpn: &[&[u8]],
        sni: bool,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        self.connect_from([127, 0, 0, 1].into(), name, alpn, sni)
            .await
    }

    /// A TLS connection from the local address `from`.
    async fn connect_from(
        &self,
        from: std::net::IpAddr,
        name: &str,
        alpn: &[&[u8]],
        sni: bool,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let tcp = socket.connect(self.address()).await?;
        TlsConnector::from(self.client(alpn, sni))
            .connect(ServerName::try_from(name.to_string()).expect("name"), tcp)
            .await
    }

    /// An HTTP/1.1 keep-alive connection to `mta-sts.<domain>`.
    async fn http1(&self, domain: &str) -> Http1 {
        self.http1_from([127, 0, 0, 1].into(), domain).await
    }

    /// An HTTP/1.1 keep-alive connection to `mta-sts.<domain>` from the local address `from`.
    async fn http1_from(&self, from: std::net::IpAddr, domain: &str) -> Http1 {
        let stream = self
            .connect_from(from, &format!("mta-sts.{domain}"), &[b"http/1.1"], true)
            .await
            .expect("TLS handshake");
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP handshake");
        tokio::spawn(connection);
        Http1 {
            sender,
            host: format!("mta-sts.{domain}"),
        }
    }
}

struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
}

struct Answer {
    status: u16,
    version: http::Version,
    headers: http::HeaderMap,
    body: String,
}

impl Http1 {
    async fn ask(&mut self, method: &str, target: &str) -> Answer {
        let host = self.host.clone();
        self.ask_host(method, target, &host).await
    }

    async fn ask_host(&mut self, method: &str, target: &str, host: &str) -> Answer {
        self.ask_with(method, target, host, &[]).await
    }

    async fn ask_with(
        &mut self,
        method: &str,
        target: &str,
        host: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = http::Request::builder()
            .method(method)
            .uri(target)
            .header("host", host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).expect("request");
        self.sender
            .ready()
            .await
            .expect("the connection stays open");
        let response = self
            .sender
            .send_request(request)
            .await
            .expect("an answer on the same connection");
        answer(response).await
    }
}

async fn answer(response: http::Response<hyper::body::Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status.as_u16(),
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    }
}

fn peer_leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_is_served_on_exactly_its_path_and_nothing_redirects() {
    let hosted = Hosted::start();
    // The start says where each policy is served and the record that announces it.
    let hosting = hosted.server.wait_for("hosting");
    assert_eq!(hosting["domain"], "example.com");
    let id = mta_sts_core::sts_record::content_id(POLICY_COM);
    assert!(
        hosting["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("TXT \"v=STSv1; id={id}\""))),
        "{hosting}"
    );
    let mut com = hosted.http1("example.com").await;
    let got = com.ask("GET", "/.well-known/mta-sts.txt").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, POLICY_COM);
    assert_eq!(got.headers["content-type"], "text/plain; charset=utf-8");
    let head = com.ask("HEAD", "/.well-known/mta-sts.txt").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    assert_eq!(
        head.headers["content-length"],
        POLICY_COM.len().to_string().as_str()
    );
    // The host in any case, with a port.
    let got = com
        .ask_host("GET", "/.well-known/mta-sts.txt", "MTA-STS.Example.com:443")
        .await;
    assert_eq!(got.body, POLICY_COM);
    for target in [
        "/",
        "/.well-known/mta-sts.txt/",
        "/.well-known/MTA-STS.TXT",
        "/.well-known/mta-sts.txt?id=1",
        "/tlsrpt",
    ] {
        let got = com.ask("GET", target).await;
        assert_eq!(got.status, 404, "{target}");
        assert!(got.headers.get("location").is_none(), "{target}");
    }
    let post = com.ask("POST", "/.well-known/mta-sts.txt").await;
    assert_eq!(post.status, 405);
    assert_eq!(post.headers["allow"], "GET, HEAD");
    // Each policy host its own policy, line ends as written.
    let mut net = hosted.http1("example.net").await;
    assert_eq!(
        net.ask("GET", "/.well-known/mta-sts.txt").await.body,
        POLICY_NET
    );
    // The fetches are counted per domain (other hosts reach the server's other routes).
    let metrics = com.ask_host("GET", "/metrics", "localhost").await;
    assert!(
        metrics
            .body
            .contains("mta_sts_serve_policy_fetches_total{domain=\"example.com\"} 3"),
        "{}",
        metrics.body
    );
    let fetched = hosted.server.wait_for("policy-fetched");
    assert_eq!(fetched["domain"], "example.com");
    assert_eq!(fetched["client"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_chosen_by_sni_and_a_wrong_name_or_none_is_refused() {
    let hosted = Hosted::start();
    let com = hosted
        .connect("mta-sts.example.com", &[b"http/1.1"], true)
        .await
        .expect("the example.com policy host");
    assert_eq!(peer_leaf(&com), hosted.com_leaf);
    // The client checks the name: the handshake succeeding is the server choosing this one.
    hosted
        .connect("mta-sts.example.net", &[b"h2"], true)
        .await
        .expect("the example.net policy host");
    assert!(
        hosted
            .connect("mta-sts.example.org", &[b"http/1.1"], true)
            .await
            .is_err(),
        "a name not hosted, with no default certificate"
    );
    assert!(
        hosted
            .connect("mta-sts.example.com", &[b"http/1.1"], false)
            .await
            .is_err(),
        "no SNI, with no default certificate"
    );
    assert!(
        hosted
            .connect("mta-sts.example.com", &[b"acme-tls/1"], true)
            .await
            .is_err(),
        "TLS-ALPN-01 with no challenge pending"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_serves_the_policy_and_the_same_rules() {
    let hosted = Hosted::start();
    let stream = hosted
        .connect("mta-sts.example.com", &[b"h2", b"http/1.1"], true)
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let mut ask = async |method: &str, target: &str| {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("https://mta-sts.example.com{target}"))
            .body(Empty::<Bytes>::new())
            .expect("request");
        answer(sender.send_request(request).await.expect("response")).await
    };
    let got = ask("GET", "/.well-known/mta-sts.txt").await;
    assert_eq!(got.version, http::Version::HTTP_2);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, POLICY_COM);
    assert_eq!(got.headers["content-type"], "text/plain; charset=utf-8");
    let head = ask("HEAD", "/.well-known/mta-sts.txt").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let other = ask("GET", "/.well-known/mta-sts.txt/").await;
    assert_eq!(other.status, 404);
    assert!(other.headers.get("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_policy_and_certificate_without_dropping_a_keep_alive_connection() {
    let hosted = Hosted::start();
    let mut com = hosted.http1("example.com").await;
    assert_eq!(
        com.ask("GET", "/.well-known/mta-sts.txt").await.body,
        POLICY_COM
    );
    let changed = POLICY_COM.replace(
        "mx: mail.example.com\n",
        "mx: mail.example.com\nmx: mail2.example.com\n",
    );
    std::fs::write(hosted.dir.path("example.com.txt"), &changed).expect("policy");
    let certs = hosted.dir.path("certs");
    let renewed = hosted.ca.issue_for(
        "mta-sts.example.com",
        &certs.join("mta-sts.example.com.pem"),
        &certs.join("mta-sts.example.com.key"),
    );
    hosted.server.signal("HUP");
    let line = hosted.server.wait_for("policy-changed");
    assert_eq!(line["id"], mta_sts_core::sts_record::content_id(&changed));
    hosted.server.wait_for("reloaded");
    // The same connection, the new policy.
    assert_eq!(
        com.ask("GET", "/.well-known/mta-sts.txt").await.body,
        changed
    );
    let fresh = hosted
        .connect("mta-sts.example.com", &[b"http/1.1"], true)
        .await
        .expect("TLS handshake");
    assert_eq!(peer_leaf(&fresh), renewed);
    // A policy senders would refuse is not served: the one in use stays.
    std::fs::write(
        hosted.dir.path("example.com.txt"),
        "version: STSv1\nmode: strict\n",
    )
    .expect("policy");
    hosted.server.signal("HUP");
    let refused = hosted.server.wait_for("policy-reload-failed");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 2")),
        "{refused}"
    );
    assert_eq!(
        com.ask("GET", "/.well-known/mta-sts.txt").await.body,
        changed
    );
}

#[test]
fn a_policy_file_senders_would_refuse_stops_the_start_naming_the_line() {
    let dir = TempDir::new("hosting-refused");
    std::fs::write(
        dir.path("bad.txt"),
        "version: STSv1\nmode: enforce\nmax_age: 86400\n",
    )
    .expect("policy");
    let host = format!("example.com={}", path_arg(&dir.path("bad.txt")));
    let store = format!("sqlite:{}", path_arg(&dir.path("store.db")));
    let output = std::process::Command::new(serve_harness::BIN)
        .args([
            "serve",
            "--https",
            "127.0.0.1:0",
            "--host",
            &host,
            "--store",
            &store,
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("example.com") && stderr.contains("mx-missing"),
        "{stderr}"
    );
}

const TOKEN: &str = "hosting-test-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_names_who_fetched_the_policy_by_forward_confirmed_ptr() {
    let lab = mta_sts_lab::Lab::start().await.expect("the lab starts");
    let dns = lab.dns_addr();
    let token_hash: String = ring::digest::digest(&ring::digest::SHA256, TOKEN.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let hosted = Hosted::start_with(|_| {
        format!(
            "[check]\nresolver = \"{dns}\"\ntimeout = 2\n[hosting]\nfetch_log_seconds = 1\n\
             [[tokens]]\nname = \"test\"\ntoken_hash = \"{token_hash}\"\n"
        )
    });
    // 127.0.0.4's PTR resolves back to it; 127.0.0.3's does not (mta_sts_lab::REVERSE_NAMES).
    let (confirmed, claimed) = (mta_sts_lab::REVERSE_NAMES[0], mta_sts_lab::REVERSE_NAMES[1]);
    let mut from_confirmed = hosted.http1_from(confirmed.0.into(), "example.com").await;
    let mut from_claimed = hosted.http1_from(claimed.0.into(), "example.com").await;
    for _ in 0..2 {
        let got = from_confirmed.ask("GET", "/.well-known/mta-sts.txt").await;
        assert_eq!(got.status, 200);
    }
    let got = from_claimed.ask("HEAD", "/.well-known/mta-sts.txt").await;
    assert_eq!(got.status, 200);
    let mut counted = 0;
    while counted < 3 {
        let line = hosted.server.wait_for("policy-fetches-stored");
        counted += line["fetches"].as_u64().expect("a count");
    }
    assert_eq!(counted, 3);
    // The API (and the domain page) list who fetched, by organisation; another host name on
    // the policy host's connection reaches the dashboard.
    let bearer = format!("Bearer {TOKEN}");
    let answer = from_confirmed
        .ask_with(
            "GET",
            "/api/v1/domains/example.com",
            "localhost",
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let view: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    let mut fetchers: Vec<(String, u64)> = view["policy_fetchers"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|row| {
            (
                row["organization"].as_str().expect("a name").to_string(),
                row["fetches"].as_u64().expect("a count"),
            )
        })
        .collect();
    fetchers.sort();
    assert_eq!(
        fetchers,
        [("senders.test".to_string(), 2), ("unknown".to_string(), 1)]
    );
    let sentence = view["policy_fetchers"][0]["sentence"]
        .as_str()
        .expect("a sentence");
    assert!(sentence.contains("last fetched your policy"), "{sentence}");
}
