//! Policy and id in step, end to end: `mta-sts serve` hosting an `auto` domain of a zone on a
//! real authoritative server (Debian's Knot DNS on loopback, started by each test; skipped
//! visibly when knotd is missing). An MX host added to the zone by an RFC 2136 update makes the
//! server serve a new policy and then change the `_mta-sts` id; an observer fetching the policy
//! as a sender does (DNS, then HTTPS with SNI) asserts the order. Without a `[[dns_update]]`
//! zone, the API says "id not updated yet" until the test publishes the id itself.

use std::path::Path;
use std::time::{Duration, Instant};

use mta_sts_core::sts_record::content_id;
use mta_sts_net::dns_update::knot::{Knot, UPDATE_KEY, Zone};
use mta_sts_net::policy_fetch::fetch_policy;
use mta_sts_net::{Dns, DnsConfig, FetchConfig, Trust};
use mta_sts_serve::config::{DnsUpdateConfig, HostConfig};
use mta_sts_serve::{Reloader, ServeConfig, Server};
use mta_sts_store::test_support::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const DOMAIN: &str = "example.test";
const TOKEN: &str = "in-step-test-token";
const USER: &str = "owner";
const PASSWORD: &str = "in-step-test-password";

fn zone() -> Zone {
    Zone::new(
        DOMAIN,
        "@ MX 10 mx1\nmx1 A 127.0.0.1\nmx2 A 127.0.0.1\nmta-sts A 127.0.0.1\n",
    )
}

/// A private CA and its leaf for `mta-sts.example.test`, written as the `[hosting] certs`
/// directory expects; returns the CA's PEM (what the observer trusts).
fn write_certificates(dir: &Path) -> String {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA parameters");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "in-step test CA");
    let issuer = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA");
    let leaf_key = rcgen::KeyPair::generate().expect("a leaf key");
    let leaf = rcgen::CertificateParams::new(vec![format!("mta-sts.{DOMAIN}")])
        .expect("leaf parameters")
        .signed_by(&leaf_key, &issuer)
        .expect("the leaf");
    std::fs::create_dir_all(dir).expect("the certificate directory");
    std::fs::write(
        dir.join(format!("mta-sts.{DOMAIN}.pem")),
        format!("{}{}", leaf.pem(), issuer.pem()),
    )
    .expect("write the chain");
    std::fs::write(
        dir.join(format!("mta-sts.{DOMAIN}.key")),
        leaf_key.serialize_pem(),
    )
    .expect("write the key");
    issuer.pem()
}

struct Running {
    https: std::net::SocketAddr,
    api: std::net::SocketAddr,
    trust: Trust,
    dns: DnsConfig,
    /// The configuration it was started with (validated), for reloads.
    config: ServeConfig,
    reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Running {
    async fn start(knot: &Knot, dns_update: bool) -> Running {
        Running::start_hosting(knot, dns_update, HostConfig::auto(DOMAIN)).await
    }

    async fn start_hosting(knot: &Knot, dns_update: bool, host: HostConfig) -> Running {
        let dir = TempDir::new("mta-sts-serve-in-step");
        let ca = write_certificates(&dir.file("certs"));
        let mut config = ServeConfig {
            https: Some("127.0.0.1:0".parse().expect("address")),
            listen: Some("127.0.0.1:0".parse().expect("address")),
            store: format!("sqlite:{}", dir.file("store.db").display()),
            hosts: vec![host],
            ..ServeConfig::default()
        };
        config.hosting.certs = Some(dir.file("certs"));
        config.monitor.enabled = false;
        config.check.resolver = Some(knot.addr());
        config.check.timeout = Duration::from_secs(5);
        config.shutdown_timeout = Duration::from_secs(1);
        config.dashboard.secure_cookie = false;
        config.tokens = vec![
            toml::from_str(&format!(
                "name = \"test\"\ntoken_hash = \"{}\"",
                sha256_hex(TOKEN)
            ))
            .expect("a token table"),
        ];
        config.users = vec![
            toml::from_str(&format!(
                "name = \"{USER}\"\npassword_hash = \"{}\"",
                mta_sts_serve::hash_password(PASSWORD).expect("a hash")
            ))
            .expect("a user table"),
        ];
        if dns_update {
            config.dns_update = vec![
                toml::from_str::<DnsUpdateConfig>(&format!(
                    "zone = \"{DOMAIN}\"\nserver = \"{}\"\nkey_name = \"{UPDATE_KEY}\"\n\
                     secret_file = \"{}\"\nttl = 1\n",
                    knot.addr(),
                    knot.write_update_key_file().display()
                ))
                .expect("a dns_update table"),
            ];
        }
        config.validate().expect("a valid configuration");
        // Below the configurable minimum (a minute), so the test sees the MX change in
        // seconds: the schedule is what is tested, not its length.
        if config.hosts[0].auto {
            config.hosts[0].mx_refresh = Some(Duration::from_secs(1));
        }
        let server = Server::start(config.clone())
            .await
            .expect("the server starts");
        let reloader = server.reloader();
        let https = server.https_addr().expect("HTTPS");
        let api = server.http_addr().expect("plain HTTP");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            https,
            api,
            trust: Trust::only_pem(&ca).expect("the test CA"),
            dns: DnsConfig {
                upstream: Some(knot.addr()),
                ..DnsConfig::default()
            },
            config,
            reloader,
            stop: Some(stop),
            served,
            _dir: dir,
        }
    }

    /// The policy as a sender fetches it (DNS for mta-sts.example.test, HTTPS with SNI),
    /// with its content id; `None` while none is served.
    async fn served(&self) -> Option<(String, String)> {
        let dns = Dns::new(&self.dns).expect("a resolver");
        let mut fetch = FetchConfig::new(self.trust.clone());
        fetch.port = self.https.port();
        fetch.timeout = Duration::from_secs(5);
        let fetched = fetch_policy(DOMAIN, &dns, &fetch).await.ok()?;
        let text = String::from_utf8(fetched.body).expect("UTF-8");
        Some((content_id(&text), text))
    }

    /// The id the `_mta-sts` record announces now, as a sender reads it (a fresh resolver
    /// each time: nothing cached between looks).
    async fn dns_id(&self) -> Option<String> {
        let dns = Dns::new(&self.dns).expect("a resolver");
        let records = dns.txt(&format!("_mta-sts.{DOMAIN}")).await.ok()?;
        mta_sts_core::sts_record::discover(&records)
            .record()
            .map(|record| record.id.clone())
    }

    /// A GET on the plain-HTTP listener with the bearer token: the whole answer.
    async fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(self.api).await.expect("connect");
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: reports.example.test\r\n\
             Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    /// The domain's dashboard page, after logging in with the form: the HTML.
    async fn domain_page(&self) -> String {
        let form = format!("name={USER}&password={PASSWORD}&next=%2F");
        let login = format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            form.len()
        );
        let mut stream = TcpStream::connect(self.api).await.expect("connect");
        stream.write_all(login.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let cookie = answer
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .starts_with("set-cookie:")
                    .then(|| line["set-cookie:".len()..].trim().to_string())
            })
            .and_then(|value| value.split(';').next().map(str::to_string))
            .unwrap_or_else(|| panic!("no session cookie from the login: {answer}"));
        let mut stream = TcpStream::connect(self.api).await.expect("connect");
        let head = format!(
            "GET /domains/{DOMAIN} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut page = String::new();
        stream.read_to_string(&mut page).await.expect("read");
        page
    }

    /// `GET /api/v1/domains/example.test/sts-id`: status and JSON.
    async fn sts_id(&self) -> (u16, serde_json::Value) {
        let answer = self.get(&format!("/api/v1/domains/{DOMAIN}/sts-id")).await;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        // Chunked or not, the JSON object is the body's braces.
        let json = body
            .find('{')
            .zip(body.rfind('}'))
            .and_then(|(start, end)| serde_json::from_str(&body[start..=end]).ok())
            .unwrap_or(serde_json::Value::Null);
        (status, json)
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

/// Watches DNS and the served policy until DNS announces an id other than `old` (within 60 s);
/// in every round DNS is read FIRST and the policy after, so an id in DNS that the server does
/// not serve at that moment, or did not serve before DNS showed it, fails the test.
async fn observe_until_new_id(running: &Running, old: Option<&str>) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut served_ids: Vec<String> = Vec::new();
    loop {
        let dns_id = running.dns_id().await;
        let served = running.served().await;
        if let Some((id, _)) = &served
            && !served_ids.contains(id)
        {
            served_ids.push(id.clone());
        }
        if let Some(dns_id) = dns_id
            && Some(dns_id.as_str()) != old
        {
            let (served_id, text) = served
                .clone()
                .unwrap_or_else(|| panic!("DNS announces {dns_id} but no policy is served"));
            // The policy behind the new id is served when the id is seen, never after.
            assert_eq!(
                served_id, dns_id,
                "DNS announces {dns_id} while the server serves {served_id}"
            );
            return (dns_id, text);
        }
        assert!(
            Instant::now() < deadline,
            "DNS showed no new id within 60 s (served so far: {served_ids:?})"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mx_added_by_update_serves_the_new_policy_then_changes_the_id() {
    let Some(knot) = Knot::start(&[zone()]) else {
        return;
    };
    let running = Running::start(&knot, true).await;

    // The first policy, from the one MX host, is served and announced.
    let (first_id, first_policy) = observe_until_new_id(&running, None).await;
    assert!(
        first_policy.contains("mx: mx1.example.test"),
        "{first_policy}"
    );
    assert!(!first_policy.contains("mx2"), "{first_policy}");
    assert_eq!(first_id, content_id(&first_policy));

    // A second MX host, added to the zone by someone else's RFC 2136 update.
    knot.nsupdate(DOMAIN, "update add example.test. 1 MX 20 mx2.example.test.");
    let (second_id, second_policy) = observe_until_new_id(&running, Some(&first_id)).await;
    assert_ne!(second_id, first_id);
    assert!(
        second_policy.contains("mx: mx1.example.test"),
        "{second_policy}"
    );
    assert!(
        second_policy.contains("mx: mx2.example.test"),
        "{second_policy}"
    );
    assert_eq!(second_id, content_id(&second_policy));

    // The dashboard's API agrees: in step, by DNS update.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, json) = running.sts_id().await;
        assert_eq!(status, 200, "{json}");
        if json["id"] == second_id.as_str() && json["state"] == "in-step" {
            assert_eq!(json["method"], "dns-update");
            assert_eq!(json["dns_id"], second_id.as_str());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API never showed in-step: {json}"
        );
        tokio::task::yield_now().await;
    }
    // Two updates (the first id, then the second), two policies generated, none behind.
    let metrics = running.get("/metrics").await;
    for line in [
        "mta_sts_serve_sts_id_updates_total{outcome=\"updated\"} 2",
        "mta_sts_serve_auto_policy_changes_total 2",
        "mta_sts_serve_sts_ids_not_in_step 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dns_update_the_id_is_not_updated_yet_until_it_is_published() {
    let Some(knot) = Knot::start(&[zone()]) else {
        return;
    };
    let running = Running::start(&knot, false).await;

    // The policy is served; the API says the id is not updated yet and what to publish.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (id, json) = loop {
        let (status, json) = running.sts_id().await;
        assert_eq!(status, 200, "{json}");
        if json["policy_served"] == true {
            break (json["id"].as_str().expect("an id").to_string(), json);
        }
        // Before the first policy is generated, the API says so.
        assert!(json["state"].is_null(), "{json}");
        assert!(
            Instant::now() < deadline,
            "no policy was generated within 30 s: {status} {json}"
        );
        tokio::task::yield_now().await;
    };
    assert_eq!(json["state"], "not-updated-yet", "{json}");
    assert_eq!(json["method"], "by-hand");
    let record = format!("_mta-sts.{DOMAIN}. 300 IN TXT \"v=STSv1; id={id}\"");
    assert_eq!(json["record"], record.as_str());
    let message = json["message"].as_str().expect("a sentence");
    assert!(message.starts_with("id not updated yet"), "{message}");
    assert!(message.contains(&record), "{message}");
    let (served_id, _) = running.served().await.expect("the policy is served");
    assert_eq!(served_id, id);
    // The domain's page says it too, with the record to publish.
    let page = running.domain_page().await;
    assert!(
        page.contains("data-state=\"not-updated-yet\""),
        "no id state on the page:\n{page}"
    );
    assert!(page.contains("id not updated yet"), "{page}");
    assert!(page.contains(&format!("v=STSv1; id={id}")), "{page}");
    // Nothing was written to DNS by the server.
    assert_eq!(running.dns_id().await, None);

    // The owner publishes the record; the server notices at its next look.
    knot.nsupdate(
        DOMAIN,
        &format!("update add _mta-sts.example.test. 1 TXT \"v=STSv1; id={id}\""),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, json) = running.sts_id().await;
        assert_eq!(status, 200, "{json}");
        if json["state"] == "in-step" {
            assert_eq!(json["dns_id"], id.as_str());
            break;
        }
        assert_eq!(json["state"], "not-updated-yet", "{json}");
        assert!(
            Instant::now() < deadline,
            "the published id was not noticed within 30 s: {json}"
        );
        tokio::task::yield_now().await;
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_changed_by_a_reload_is_served_then_announced() {
    let Some(knot) = Knot::start(&[zone()]) else {
        return;
    };
    let policy = |mode: &str| {
        format!("version: STSv1\nmode: {mode}\nmx: mx1.example.test\nmax_age: 604800\n")
    };
    let host = toml::from_str::<HostConfig>(&format!(
        "domain = \"{DOMAIN}\"\npolicy = \"\"\"\n{}\"\"\"\n",
        policy("testing")
    ))
    .expect("a hosts table");
    let running = Running::start_hosting(&knot, true, host).await;
    let (first_id, first_policy) = observe_until_new_id(&running, None).await;
    assert!(first_policy.contains("mode: testing"), "{first_policy}");

    // SIGHUP with the policy edited to enforce: served first, then announced.
    let mut fresh = running.config.clone();
    fresh.hosts[0].policy = Some(policy("enforce"));
    fresh.validate().expect("still valid");
    running.reloader.reload(Ok(fresh));
    let (second_id, second_policy) = observe_until_new_id(&running, Some(&first_id)).await;
    assert!(second_policy.contains("mode: enforce"), "{second_policy}");
    assert_eq!(second_id, content_id(&policy("enforce")));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_update_leaves_the_id_not_updated_yet_until_the_key_is_fixed() {
    let Some(knot) = Knot::start(&[zone()]) else {
        return;
    };
    let running = Running::start(&knot, true).await;
    let (first_id, _) = observe_until_new_id(&running, None).await;
    let good_key = running.config.dns_update[0].secret_file.clone();

    // SIGHUP with a secret file holding a wrong secret, and the policy changed (mode enforce),
    // so an update is due at once.
    let wrong_key = good_key.with_file_name("wrong.key");
    std::fs::write(&wrong_key, "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE=\n")
        .expect("write the wrong key");
    let mut fresh = running.config.clone();
    fresh.dns_update[0].secret_file = wrong_key;
    fresh.hosts[0].mode = Some(mta_sts_core::Mode::Enforce);
    fresh.hosts[0].mx_refresh = None;
    fresh.validate().expect("still valid");
    fresh.hosts[0].mx_refresh = Some(Duration::from_secs(1));
    running.reloader.reload(Ok(fresh.clone()));

    // The enforce policy is served; its id cannot be published: BADSIG, said on the API.
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let (status, json) = running.sts_id().await;
        assert_eq!(status, 200, "{json}");
        if json["problem"]
            .as_str()
            .is_some_and(|p| p.contains("BADSIG"))
        {
            break json;
        }
        assert!(Instant::now() < deadline, "no BADSIG reported: {json}");
        tokio::task::yield_now().await;
    };
    assert_eq!(refused["state"], "not-updated-yet", "{refused}");
    assert_eq!(refused["method"], "dns-update");
    let id = refused["id"].as_str().expect("an id").to_string();
    let (served_id, text) = running.served().await.expect("served");
    assert_eq!(served_id, id);
    assert!(text.contains("mode: enforce"), "{text}");
    assert_eq!(running.dns_id().await, Some(first_id.clone()));
    let metrics = running.get("/metrics").await;
    assert!(
        metrics.contains("mta_sts_serve_sts_id_updates_total{outcome=\"failed\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mta_sts_serve_sts_ids_not_in_step 1"),
        "{metrics}"
    );

    // The key fixed by another SIGHUP: the id follows at once.
    fresh.dns_update[0].secret_file = good_key;
    running.reloader.reload(Ok(fresh));
    let (dns_id, policy) = observe_until_new_id(&running, Some(&first_id)).await;
    assert_eq!(dns_id, id);
    assert!(policy.contains("mode: enforce"), "{policy}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_never_answers_holds_up_only_its_first_domain() {
    // A real listener that accepts and then says nothing: the zone's primary is dead.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("address");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let dir = TempDir::new("mta-sts-serve-in-step-dead");
    std::fs::write(dir.file("update.key"), "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n").expect("key");
    let policy = "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 604800\n";
    let mut config = ServeConfig {
        https: Some("127.0.0.1:0".parse().expect("address")),
        listen: Some("127.0.0.1:0".parse().expect("address")),
        store: format!("sqlite:{}", dir.file("store.db").display()),
        hosts: ["a.example.test", "b.example.test"]
            .iter()
            .map(|domain| {
                toml::from_str::<HostConfig>(&format!(
                    "domain = \"{domain}\"\npolicy = \"\"\"\n{policy}\"\"\"\n"
                ))
                .expect("a hosts table")
            })
            .collect(),
        ..ServeConfig::default()
    };
    config.tokens = vec![
        toml::from_str(&format!(
            "name = \"test\"\ntoken_hash = \"{}\"",
            sha256_hex(TOKEN)
        ))
        .expect("a token table"),
    ];
    config.dns_update = vec![
        toml::from_str::<DnsUpdateConfig>(&format!(
            "zone = \"example.test\"\nserver = \"{silent_addr}\"\nkey_name = \"k\"\n\
             secret_file = \"{}\"\ntimeout = 1\n",
            dir.file("update.key").display()
        ))
        .expect("a dns_update table"),
    ];
    config.shutdown_timeout = Duration::from_secs(1);
    config.monitor.enabled = false;
    config.validate().expect("a valid configuration");
    let server = Server::start(config).await.expect("the server starts");
    let api = server.http_addr().expect("plain HTTP");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let problem = async |domain: &str| {
        let mut stream = TcpStream::connect(api).await.expect("connect");
        let head = format!(
            "GET /api/v1/domains/{domain}/sts-id HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = body
            .find('{')
            .zip(body.rfind('}'))
            .and_then(|(start, end)| serde_json::from_str(&body[start..=end]).ok())
            .unwrap_or(serde_json::Value::Null);
        json["problem"].as_str().map(str::to_string)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (first, second) = loop {
        if let (Some(a), Some(b)) = (
            problem("a.example.test").await,
            problem("b.example.test").await,
        ) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "no problem reported within 30 s");
        tokio::task::yield_now().await;
    };
    // The first domain waited out the time limit; the second was not sent to the dead
    // server again in the same pass.
    assert!(first.contains("in time"), "{first}");
    assert!(first.contains("no update was sent"), "{first}");
    assert!(second.contains("earlier query in this pass"), "{second}");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), served).await;
    holder.abort();
}
