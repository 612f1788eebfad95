//! `mta-sts serve` as an administrator runs it: the real binary on loopback, HTTPS with a
//! certificate from a CA made for the test, reports POSTed into a real store (SQLite, and
//! PostgreSQL when `MTA_STS_TEST_POSTGRES` names a server).

mod serve_harness;

use std::process::Command;

use serde_json::Value;
use serve_harness::{
    BIN, Server, TempDir, TestCa, gzip, path_arg, peak_memory, report, request, try_request,
};

const GZIP: &str = "application/tlsrpt+gzip";
const JSON: &str = "application/tlsrpt+json";

/// `mta-sts reports list --json` of a store: the reports in it.
fn stored(store: &str) -> Vec<Value> {
    let output = Command::new(BIN)
        .args(["reports", "list", "--json", "--store", store])
        .output()
        .expect("run reports list");
    assert!(
        output.status.success(),
        "reports list: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_slice(&output.stdout).expect("list JSON");
    value["reports"].as_array().expect("reports").clone()
}

/// Starts a server over HTTPS and plain HTTP on `store`, for acme.test.
fn start(dir: &TempDir, ca: &TestCa, store: &str, extra: &[&str]) -> Server {
    let cert = path_arg(&ca.cert);
    let key = path_arg(&ca.key);
    let mut args = vec![
        "--https",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
        "--listen",
        "127.0.0.1:0",
        "--store",
        store,
        "--domain",
        "acme.test",
    ];
    args.extend_from_slice(extra);
    let _ = dir;
    Server::start(&args)
}

/// Every answer of the endpoint, on one store.
async fn every_status_on(store: &str, dir: &TempDir) {
    let ca = TestCa::new(dir);
    let tls = ca.client();
    let server = start(
        dir,
        &ca,
        store,
        &["--max-body", "65536", "--reports-per-minute", "30"],
    );
    let https = server.https.expect("https");
    let post = |content_type: &'static str, body: Vec<u8>| {
        let tls = tls.clone();
        async move {
            request(
                https,
                Some(&tls),
                "POST",
                "/tlsrpt",
                &[("content-type", content_type)],
                body,
            )
            .await
        }
    };

    // 200, stored; then the same report again: 200, already stored; stored once.
    let first = report("acme.test", "report-1", 1);
    let answer = post(GZIP, gzip(&first)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("is stored"), "{}", answer.body);
    let answer = post(JSON, first.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("already stored"), "{}", answer.body);
    // Media type case and parameters do not matter.
    let answer = post(
        "Application/TLSRPT+JSON; charset=utf-8",
        report("acme.test", "report-2", 2),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let reports = stored(store);
    assert_eq!(reports.len(), 2, "{reports:?}");

    // 400: broken JSON, truncated gzip.
    let answer = post(JSON, b"{\"organization-name\": ".to_vec()).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let mut cut = gzip(&report("acme.test", "report-3", 3));
    cut.truncate(cut.len() / 2);
    let answer = post(GZIP, cut).await;
    assert_eq!(answer.status, 400, "{}", answer.body);

    // 403: a report about someone else's domain, counted.
    let answer = post(JSON, report("foreign.example", "report-4", 4)).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("foreign.example"), "{}", answer.body);

    // 413: over the body cap. The server answers on the Content-Length without reading the
    // body and closes, so the client may get a broken pipe while still writing it instead of
    // the answer (a race of the two sockets); either way the refusal is counted, which the
    // metrics below check.
    match try_request(
        https,
        Some(&tls),
        "POST",
        "/tlsrpt",
        &[("content-type", JSON)],
        vec![b' '; 65_537],
    )
    .await
    {
        Ok(answer) => assert_eq!(answer.status, 413, "{}", answer.body),
        Err(error) => {
            let kind = std::error::Error::source(&error)
                .and_then(|source| source.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind);
            assert!(
                matches!(
                    kind,
                    Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
                ),
                "{error:?}"
            );
        }
    }

    // 415: another media type.
    let answer = post("application/json", first.clone()).await;
    assert_eq!(answer.status, 415, "{}", answer.body);

    // 405: another method on the intake path.
    let answer = request(https, Some(&tls), "GET", "/tlsrpt", &[], Vec::new()).await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.headers["allow"], "POST");

    // /healthz and /metrics over plain HTTP.
    let http = server.http.expect("http");
    let answer = request(http, None, "GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(answer.status, 200);
    let answer = request(http, None, "GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(answer.status, 200);
    for line in [
        "mta_sts_serve_posts_total{answer=\"refused_domain\"} 1",
        "mta_sts_serve_posts_total{answer=\"stored\"} 2",
        "mta_sts_serve_posts_total{answer=\"duplicate\"} 1",
        "mta_sts_serve_posts_total{answer=\"too_large\"} 1",
    ] {
        assert!(
            answer.body.contains(line),
            "{line} missing from\n{}",
            answer.body
        );
    }
    assert_eq!(stored(store).len(), 2, "nothing refused was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_on_sqlite() {
    let dir = TempDir::new("sqlite");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    every_status_on(&store, &dir).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_on_postgres() {
    let Some(database) =
        mta_sts_store::test_support::TestDatabase::create("every_answer_on_postgres").await
    else {
        return;
    };
    let dir = TempDir::new("postgres");
    every_status_on(database.url(), &dir).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_answers_429_with_retry_after() {
    let dir = TempDir::new("rate");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let server = start(&dir, &ca, &store, &["--reports-per-minute", "2"]);
    let https = server.https.expect("https");
    let tls = ca.client();
    for (n, expected) in [(1, 200), (2, 200), (3, 429)] {
        let body = report("acme.test", &format!("rate-{n}"), n);
        let answer = request(
            https,
            Some(&tls),
            "POST",
            "/tlsrpt",
            &[("content-type", JSON)],
            body,
        )
        .await;
        assert_eq!(answer.status, expected, "report {n}: {}", answer.body);
        if expected == 429 {
            let wait: u64 = answer.headers["retry-after"]
                .to_str()
                .expect("text")
                .parse()
                .expect("seconds");
            assert!((1..=60).contains(&wait), "Retry-After: {wait}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_is_413_and_costs_no_more_than_the_cap() {
    let dir = TempDir::new("bomb");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let server = start(&dir, &ca, &store, &[]);
    let https = server.https.expect("https");
    let tls = ca.client();
    // 1 GiB of spaces compresses to about 1 MiB; send 64 MiB of them (about 64 KiB of gzip),
    // four times the 16 MiB cap.
    let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    // What the started server holds already: mostly the (debug) binary's own mapped pages,
    // which grow with the program, not with the request.
    let before = peak_memory(server.child.id());
    let answer = request(
        https,
        Some(&tls),
        "POST",
        "/tlsrpt",
        &[("content-type", GZIP)],
        bomb,
    )
    .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.body.contains("16 MiB"), "{}", answer.body);
    // Decompression stops at the 16 MiB cap: the process never held the 64 MiB (the cap and
    // the decoder's buffers fit in half of it).
    let peak = peak_memory(server.child.id());
    assert!(
        peak < before + 32 * 1024 * 1024,
        "peak resident memory {peak} bytes, {before} before the request"
    );
    assert!(stored(&store).is_empty());
}

#[test]
fn serve_refuses_to_start_without_domains_and_says_how_to_give_them() {
    let dir = TempDir::new("nodomain");
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
        .output()
        .expect("run serve");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--domain D"), "{stderr}");
    assert!(!dir.path("reports.db").exists(), "nothing was opened");
}

#[test]
fn a_setting_that_cannot_work_is_named() {
    let dir = TempDir::new("badconfig");
    let config = dir.path("serve.toml");
    std::fs::write(
        &config,
        "domains = [\"acme.test\"]\nlisten = \"127.0.0.1:0\"\nmax_body = 0\n",
    )
    .expect("write config");
    let output = Command::new(BIN)
        .args(["serve", "--config", &path_arg(&config)])
        .output()
        .expect("run serve");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_body"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_report_by_post_and_by_import_is_stored_once() {
    let dir = TempDir::new("crosspath");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let server = start(&dir, &ca, &store, &[]);
    let https = server.https.expect("https");
    let body = report("acme.test", "both-ways", 5);
    let file = dir.path("acme.json.gz");
    std::fs::write(&file, gzip(&body)).expect("write report");
    let imported = Command::new(BIN)
        .args(["reports", "import", "--store", &store, &path_arg(&file)])
        .output()
        .expect("import");
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let answer = request(
        https,
        Some(&ca.client()),
        "POST",
        "/tlsrpt",
        &[("content-type", JSON)],
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("already stored"), "{}", answer.body);
    assert_eq!(stored(&store).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_and_the_domains() {
    let dir = TempDir::new("reload");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = dir.path("serve.toml");
    std::fs::write(&config, "domains = [\"acme.test\"]\n").expect("write config");
    let (cert, key) = (path_arg(&ca.cert), path_arg(&ca.key));
    // The domains come from the file alone: a --domain flag would override it at every reload.
    let server = Server::start(&[
        "--https",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
        "--store",
        &store,
        "--config",
        &path_arg(&config),
    ]);
    let https = server.https.expect("https");
    let tls = ca.client();
    // A fresh client each time: a resumed TLS session would show the first certificate again.
    let before = serve_harness::served_certificate(https, &ca.client()).await;
    let post = |id: &str, domain: &str| {
        request(
            https,
            Some(&tls),
            "POST",
            "/tlsrpt",
            &[("content-type", JSON)],
            report(domain, id, 6),
        )
    };
    assert_eq!(post("other-1", "other.test").await.status, 403);

    let renewed = ca.issue("renewed");
    std::fs::write(&config, "domains = [\"acme.test\", \"other.test\"]\n").expect("write config");
    server.signal("HUP");
    server.wait_for("reloaded");
    let after = serve_harness::served_certificate(https, &ca.client()).await;
    assert_ne!(before, after);
    assert_eq!(after, renewed);
    assert_eq!(post("other-2", "other.test").await.status, 200);

    // A configuration that does not check is refused whole; the running one stays.
    std::fs::write(&config, "domains = []\n").expect("write config");
    server.signal("HUP");
    let refused = server.wait_for("reload-failed");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("--domain"),
        "{refused}"
    );
    assert_eq!(post("other-3", "other.test").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_post_in_progress() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let dir = TempDir::new("drain");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let mut server = start(&dir, &ca, &store, &[]);
    let https = server.https.expect("https");
    let body = report("acme.test", "in-flight", 7);
    let tcp = tokio::net::TcpStream::connect(https)
        .await
        .expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(ca.client())
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("handshake");
    // `Expect: 100-continue`: the server says `100 Continue` once the handler reads the body,
    // so the test knows the POST is in progress before it signals.
    let head = format!(
        "POST /tlsrpt HTTP/1.1\r\nhost: localhost\r\ncontent-type: {JSON}\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.flush().await.expect("flush");
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.expect("100 Continue");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    let (first, rest) = body.split_at(body.len() / 2);
    tls.write_all(first).await.expect("first half");
    tls.flush().await.expect("flush");
    // The server is told to stop while the body is half sent...
    server.signal("TERM");
    server.wait_for("stopping");
    // ... and still takes the rest, stores the report and answers before it exits.
    tls.write_all(rest).await.expect("second half");
    tls.flush().await.expect("flush");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{:?}",
        server.log.lock().expect("log")
    );
    assert!(server.wait().success());
    assert_eq!(stored(&store).len(), 1);
}

/// A TCP relay to PostgreSQL that the test can take down (every connection cut, new ones
/// closed at once) and bring back: the database going away and returning, as the server sees
/// it.
struct Relay {
    address: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let address = listener.local_addr().expect("relay address");
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let relay_up = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !relay_up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Relay { address, up, cut }
    }

    fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The URL with its `host:port` replaced by `address`.
fn through(url: &str, address: std::net::SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (format!("{userinfo}@"), rest),
        None => (String::new(), rest),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    (
        format!("{scheme}://{userinfo}{address}{path}"),
        authority.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_is_down_answers_503_and_the_retry_is_stored() {
    let Some(database) =
        mta_sts_store::test_support::TestDatabase::create("a_store_that_is_down_answers_503").await
    else {
        return;
    };
    let (_, target) = through(database.url(), "127.0.0.1:1".parse().expect("address"));
    let relay = Relay::start(target).await;
    let (store, _) = through(database.url(), relay.address);
    let dir = TempDir::new("storedown");
    let ca = TestCa::new(&dir);
    let server = start(&dir, &ca, &store, &[]);
    let https = server.https.expect("https");
    let tls = ca.client();
    let body = report("acme.test", "while-down", 8);
    let post = || {
        request(
            https,
            Some(&tls),
            "POST",
            "/tlsrpt",
            &[("content-type", JSON)],
            body.clone(),
        )
    };
    relay.down();
    let answer = post().await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.headers["retry-after"], "60");
    relay.up();
    let answer = post().await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("is stored"), "{}", answer.body);
    assert_eq!(stored(database.url()).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_reports_older_than_keep_days() {
    let dir = TempDir::new("retention");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let old = dir.path("old.json");
    let recent = dir.path("recent.json");
    std::fs::write(
        &old,
        serve_harness::report_ended_days_ago("acme.test", "old", 40),
    )
    .expect("write");
    std::fs::write(
        &recent,
        serve_harness::report_ended_days_ago("acme.test", "recent", 2),
    )
    .expect("write");
    let imported = Command::new(BIN)
        .args([
            "reports",
            "import",
            "--store",
            &store,
            &path_arg(&old),
            &path_arg(&recent),
        ])
        .output()
        .expect("import");
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(stored(&store).len(), 2);
    let server = start(&dir, &ca, &store, &["--keep-days", "30"]);
    let pruned = server.wait_for("pruned");
    assert_eq!(pruned["count"], 1, "{pruned}");
    let left = stored(&store);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["report_id"], "recent");
    // Intake goes on beside retention.
    let answer = request(
        server.https.expect("https"),
        Some(&ca.client()),
        "POST",
        "/tlsrpt",
        &[("content-type", JSON)],
        serve_harness::report_ended_days_ago("acme.test", "after", 1),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stalls_is_408_and_metrics_can_be_turned_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let dir = TempDir::new("stall");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = dir.path("serve.toml");
    std::fs::write(&config, "body_timeout = 1\nmetrics = false\n").expect("write config");
    let config_arg = path_arg(&config);
    let server = start(&dir, &ca, &store, &["--config", &config_arg]);
    let http = server.http.expect("http");
    let mut tcp = tokio::net::TcpStream::connect(http).await.expect("connect");
    // Announces 1000 bytes, sends 10, then nothing.
    tcp.write_all(
        format!(
            "POST /tlsrpt HTTP/1.1\r\nhost: localhost\r\ncontent-type: {JSON}\r\ncontent-length: 1000\r\n\r\n{{\"report\":"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let answer = request(http, None, "GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(answer.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_posts_are_each_stored_once() {
    let dir = TempDir::new("concurrent");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = dir.path("serve.toml");
    std::fs::write(
        &config,
        "max_concurrent_per_client = 16\nreports_per_minute = 1000\n",
    )
    .expect("write config");
    let config_arg = path_arg(&config);
    let server = start(&dir, &ca, &store, &["--config", &config_arg]);
    let https = server.https.expect("https");
    let tls = ca.client();
    // The same report eight times at once (likely in one transaction), and eight others.
    let mut bodies: Vec<Vec<u8>> = (0..8).map(|_| report("acme.test", "same", 9)).collect();
    bodies.extend((0..8).map(|n| report("acme.test", &format!("other-{n}"), 10)));
    let posts: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let tls = tls.clone();
            tokio::spawn(async move {
                request(
                    https,
                    Some(&tls),
                    "POST",
                    "/tlsrpt",
                    &[("content-type", JSON)],
                    body,
                )
                .await
            })
        })
        .collect();
    let mut stored_now = 0;
    for post in posts {
        let answer = post.await.expect("post");
        assert_eq!(answer.status, 200, "{}", answer.body);
        stored_now += usize::from(answer.body.contains("is stored"));
    }
    assert_eq!(
        stored_now, 9,
        "one of the eight copies is new, the others duplicates"
    );
    assert_eq!(stored(&store).len(), 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_starts_tls_is_cut_off_and_others_are_served() {
    use tokio::io::AsyncReadExt as _;

    let dir = TempDir::new("silent");
    let ca = TestCa::new(&dir);
    let store = format!("sqlite:{}", dir.path("reports.db").display());
    let config = dir.path("serve.toml");
    std::fs::write(&config, "header_timeout = 1\n").expect("write config");
    let config_arg = path_arg(&config);
    let server = start(&dir, &ca, &store, &["--config", &config_arg]);
    let https = server.https.expect("https");
    // Connects and says nothing: no handshake ever starts.
    let mut silent = tokio::net::TcpStream::connect(https)
        .await
        .expect("connect");
    // Meanwhile another client is served.
    let answer = request(
        https,
        Some(&ca.client()),
        "POST",
        "/tlsrpt",
        &[("content-type", JSON)],
        report("acme.test", "beside-silent", 11),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The silent one is closed by the server at the header time limit (end of stream).
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), silent.read(&mut byte))
        .await
        .expect("the server closes a silent connection")
        .expect("read");
    assert_eq!(read, 0);
}
