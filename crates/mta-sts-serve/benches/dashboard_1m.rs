//! The dashboard with 1,000,000 reports stored: how long `mta-sts serve` takes to answer a
//! domain's page (the store's evidence over the window, the newest reports, the advice, the
//! charts, rendered to HTML) and the overview, end to end over loopback with a logged-in session,
//! on SQLite and, when `MTA_STS_BENCH_POSTGRES_URL` names a database, on PostgreSQL.
//!
//! `cargo bench -p mta-sts-serve --bench dashboard_1m` (release). The store is the year of
//! generated reports of `mta_sts_store::test_support::bulk` (500 domains, Zipf-distributed: the
//! largest, `domain0.example`, has 15 % of them). `MTA_STS_BENCH_SQLITE_PATH=FILE` keeps the
//! SQLite store between runs (filled only when empty); `DASHBOARD_BENCH_REPORTS` (default
//! 1000000) and `DASHBOARD_BENCH_REQUESTS` (default 30) change the run.
//!
//! The live check of each domain is pointed at a resolver that does not exist, so it fails at
//! once; it is made before the timed requests (the page shows its cached result, as it does for
//! `check_cache_seconds`), so the times are the store's and the rendering's, not the network's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mta_sts_core::time::Timestamp;
use mta_sts_serve::config::{CheckConfig, UserConfig};
use mta_sts_serve::{ServeConfig, Server};
use mta_sts_service::Shutdown;
use mta_sts_store::StoreUrl;
use mta_sts_store::reports::{DomainsQuery, ReportStore};
use mta_sts_store::test_support::bulk;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const PASSWORD: &str = "dashboard bench";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One HTTP/1.1 exchange on a fresh connection: the status, the headers and the body.
async fn exchange(address: SocketAddr, request: String) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("read the answer");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

async fn login(address: SocketAddr) -> String {
    let body = format!(
        "name=bench&password={}&next=%2F",
        PASSWORD.replace(' ', "+")
    );
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, head, _) = exchange(address, request).await;
    assert_eq!(status, 303, "login: {head}");
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap_or("").to_string())
        })
        .expect("a session cookie")
}

async fn get(address: SocketAddr, cookie: &str, path: &str) -> (Duration, usize) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    let (status, head, body) = exchange(address, request).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "GET {path}: {head}");
    (elapsed, body.len())
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn run(label: &str, url: &str, reports: u64, requests: usize) {
    let store_url: StoreUrl = url.parse().expect("store URL");
    let store = ReportStore::open(&store_url).await.expect("open the store");
    let stored = store
        .domains(&DomainsQuery {
            since: Timestamp::UNIX_EPOCH,
        })
        .await
        .expect("domains")
        .iter()
        .map(|d| d.reports)
        .sum::<u64>();
    if stored == 0 {
        eprintln!("{label}: filling the store with {reports} reports...");
        let spent = bulk::fill(&store, reports, |done, _| {
            if done % 100_000 == 0 {
                eprintln!("  {done}");
            }
        })
        .await
        .expect("fill");
        eprintln!(
            "{label}: filled in {:.0} s of inserting",
            spent.as_secs_f64()
        );
    } else {
        eprintln!("{label}: the store holds {stored} reports already; only querying");
    }
    drop(store);

    let domains = vec![bulk::domain(0), bulk::domain(20), bulk::domain(400)];
    let mut config = ServeConfig {
        domains: domains.clone(),
        listen: Some("127.0.0.1:0".parse().expect("address")),
        store: url.to_string(),
        users: vec![UserConfig {
            name: "bench".into(),
            password_hash: mta_sts_serve::hash_password(PASSWORD).expect("hash"),
        }],
        check: CheckConfig {
            // Nothing answers there: the live check fails at once, and is cached.
            resolver: Some("127.0.0.1:9".parse().expect("address")),
            timeout: Duration::from_secs(1),
            ..CheckConfig::default()
        },
        metrics: false,
        ..ServeConfig::default()
    };
    config.dashboard.secure_cookie = false;
    // Only the dashboard is measured.
    config.monitor.enabled = false;
    config.dashboard.check_wait = Duration::from_secs(10);
    config.validate().expect("config");
    let server = Server::start(config).await.expect("start");
    let address = server.http_addr().expect("listener");
    let shutdown = Shutdown::new();
    let serving = tokio::spawn(server.serve(shutdown.triggered()));
    let cookie = login(address).await;
    // The first page of each domain waits for its live check; later ones show it cached.
    for domain in &domains {
        let _ = get(address, &cookie, &format!("/domains/{domain}")).await;
    }
    let mut paths: Vec<(String, String)> = domains
        .iter()
        .map(|domain| {
            (
                format!("domain page, {domain}"),
                format!("/domains/{domain}"),
            )
        })
        .collect();
    paths.push((
        "domain page, 90 days, domain0.example".into(),
        "/domains/domain0.example?days=90".into(),
    ));
    paths.push(("overview".into(), "/".into()));
    for (what, path) in paths {
        let mut times = Vec::with_capacity(requests);
        let mut size = 0;
        for _ in 0..requests {
            let (elapsed, bytes) = get(address, &cookie, &path).await;
            times.push(elapsed);
            size = bytes;
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{label}: {what}: median {:.1} ms, p95 {:.1} ms, max {:.1} ms ({requests} requests, {} KiB of HTML)",
            milliseconds(at(0.5)),
            milliseconds(at(0.95)),
            milliseconds(at(1.0)),
            size / 1024
        );
    }
    shutdown.trigger();
    let _ = serving.await;
}

fn main() {
    let reports = env_number("DASHBOARD_BENCH_REPORTS", 1_000_000);
    let requests = env_number("DASHBOARD_BENCH_REQUESTS", 30) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let kept = std::env::var("MTA_STS_BENCH_SQLITE_PATH").ok();
    let scratch = std::env::temp_dir().join(format!("dashboard-bench-{}", std::process::id()));
    let sqlite_path = kept
        .clone()
        .unwrap_or_else(|| scratch.join("reports.db").display().to_string());
    runtime.block_on(run(
        "sqlite",
        &format!("sqlite:{sqlite_path}"),
        reports,
        requests,
    ));
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    match std::env::var("MTA_STS_BENCH_POSTGRES_URL") {
        Ok(url) => runtime.block_on(run("postgresql", &url, reports, requests)),
        Err(_) => eprintln!(
            "postgresql: skipped (set MTA_STS_BENCH_POSTGRES_URL to a database to fill or query)"
        ),
    }
}
