//! `mta-sts tlsrpt collect`: the real binary receiving datagrams written as libtlsrpt writes
//! them over its real unix socket, stopped by SIGTERM, the counts read back from the store.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use mta_sts_core::time::UtcDate;
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::SenderStore;
use mta_sts_store::test_support::{TempDir, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// A successful delivery under an MTA-STS policy, as Postfix 3.10 sends it through libtlsrpt.
const STS_SUCCESS: &str = r#"{"d": "example.com","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: enforce","mx: mail.example.com","max_age: 86400"],"mx-host":["mail.example.com"],"t":0,"f":0}]}"#;

/// A failed one: the MX's certificate has expired.
const STS_EXPIRED: &str = r#"{"d": "Example.COM.","pr": "v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain": "example.com","policy-string":["version: STSv1","mode: enforce","mx: mail.example.com","max_age: 86400"],"mx-host":["mail.example.com"],"failure-details":[{"c":204,"s": "192.0.2.25","n": "mail.example.com","r": "198.51.100.25","f": "certificate has expired"}],"t":1,"f":1}]}"#;

/// A domain without a policy, without `policy-domain` (tlsrpt-reporter #51).
const NO_POLICY: &str = r#"{"d": "plain.example","pr": "v=TLSRPTv1; rua=https://reports.plain.example/tlsrpt","policies":[{"policy-type":9,"t":0,"f":0}]}"#;

/// systemd's notify socket, played by the test: `READY=1` says the collector's socket is bound.
struct Notify(UnixDatagram);

impl Notify {
    fn next(&self) -> String {
        let mut buffer = [0u8; 512];
        let n = self.0.recv(&mut buffer).expect("a notification");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }
}

/// Starts `mta-sts ARGS`; its log lines arrive on the channel as they are written, and the
/// thread returns the whole log once the process closes its standard error.
fn start(
    args: &[String],
    dir: &TempDir,
) -> (
    Child,
    JoinHandle<String>,
    Notify,
    std::sync::mpsc::Receiver<String>,
) {
    let notify_path = dir.file("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut child = Command::new(BIN)
        .args(args)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mta-sts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (lines, line_receiver) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            all.push(line);
        }
        all.join("\n")
    });
    (child, log, Notify(notify), line_receiver)
}

/// `GET /metrics` over a plain TCP connection: the body.
fn scrape(address: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the answer");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM".to_string(), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM");
}

fn today() -> UtcDate {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    UtcDate::from_day_number(i64::try_from(seconds / 86_400).expect("a day")).expect("a day")
}

async fn collect_then_read(store: StoreUrl, dir: &TempDir) {
    let socket = dir.file("collectd.sock");
    let args = vec![
        "tlsrpt".to_string(),
        "collect".to_string(),
        "--socket".to_string(),
        socket.display().to_string(),
        "--store".to_string(),
        match &store {
            StoreUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            StoreUrl::Postgres(url) => url.clone(),
        },
        "--socket-mode".to_string(),
        "0220".to_string(),
        "--metrics".to_string(),
        "127.0.0.1:0".to_string(),
    ];
    let day_before = today();
    let (mut child, log, notify, lines) = start(&args, dir);
    // The metrics address, from its log line (port 0: the system chose it).
    let metrics = lines
        .iter()
        .find_map(|line| {
            let (_, after) = line.split_once("metrics on http://")?;
            Some(
                after
                    .split_whitespace()
                    .next()?
                    .trim_end_matches("/metrics")
                    .to_string(),
            )
        })
        .expect("the metrics line");
    assert_eq!(notify.next(), "READY=1");
    let mode = std::fs::metadata(&socket)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o220);
    let sender = UnixDatagram::unbound().expect("a socket");
    for _ in 0..20 {
        sender
            .send_to(STS_SUCCESS.as_bytes(), &socket)
            .expect("send");
    }
    for _ in 0..3 {
        sender
            .send_to(STS_EXPIRED.as_bytes(), &socket)
            .expect("send");
    }
    sender.send_to(NO_POLICY.as_bytes(), &socket).expect("send");
    sender.send_to(b"{not json", &socket).expect("send");
    // The counters count as datagrams arrive: scrape until all 25 are seen.
    loop {
        let scrape = scrape(&metrics);
        if scrape.contains("mta_sts_tlsrpt_collect_datagrams_total 25") {
            assert!(
                scrape.contains("mta_sts_tlsrpt_collect_malformed_total 1"),
                "{scrape}"
            );
            assert!(
                scrape.contains("mta_sts_tlsrpt_collect_lost_total 0"),
                "{scrape}"
            );
            assert!(
                scrape.contains("# TYPE mta_sts_tlsrpt_collect_held_keys gauge"),
                "{scrape}"
            );
            break;
        }
    }
    terminate(&child);
    assert_eq!(notify.next(), "STOPPING=1");
    let exit = child.wait().expect("the collector stops on SIGTERM");
    let log = log.join().expect("the log reader");
    assert!(exit.success(), "{exit:?}\n{log}");
    assert!(!socket.exists(), "the socket is removed at exit");
    assert!(
        log.contains("a malformed datagram of 9 bytes was not counted"),
        "{log}"
    );
    assert!(
        log.contains("stopped after 25 datagrams: 1 malformed, 0 lost"),
        "{log}"
    );

    let store = SenderStore::open(&store).await.expect("open the store");
    // Sent around midnight, the datagrams may be counted on either day.
    let mut counts = store.day_counts(day_before).await.expect("read");
    if day_before != today() {
        counts.extend(store.day_counts(today()).await.expect("read"));
    }
    counts.sort_by(|a, b| a.domain.cmp(&b.domain));
    assert_eq!(counts.len(), 2, "{counts:?}");
    let example = &counts[0];
    assert_eq!(example.domain, "example.com");
    assert_eq!(example.result.summary.total_successful_session_count, 20);
    assert_eq!(example.result.summary.total_failure_session_count, 3);
    assert_eq!(example.result.failure_details.len(), 1);
    let failure = &example.result.failure_details[0];
    assert_eq!(failure.result_type.as_str(), "certificate-expired");
    assert_eq!(failure.failed_session_count, 3);
    assert_eq!(failure.receiving_ip.as_deref(), Some("198.51.100.25"));
    let plain = &counts[1];
    assert_eq!(plain.domain, "plain.example");
    assert_eq!(plain.result.policy.policy_type.as_str(), "no-policy-found");
    assert_eq!(
        plain.tlsrpt_record,
        "v=TLSRPTv1; rua=https://reports.plain.example/tlsrpt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_counts_datagrams_into_sqlite_and_stops_on_sigterm() {
    let dir = TempDir::new("tlsrpt-collect-sqlite");
    collect_then_read(StoreUrl::Sqlite(dir.file("sender.db")), &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_counts_datagrams_into_postgres() {
    let Some(database) = TestDatabase::create("collect_counts_datagrams_into_postgres").await
    else {
        return;
    };
    let dir = TempDir::new("tlsrpt-collect-postgres");
    collect_then_read(database.store_url(), &dir).await;
}

#[test]
fn a_bad_socket_mode_is_refused_before_anything_is_bound() {
    let dir = TempDir::new("tlsrpt-collect-mode");
    let socket = dir.file("collectd.sock");
    let output = Command::new(BIN)
        .args(["tlsrpt", "collect", "--socket-mode", "0999", "--socket"])
        .arg(&socket)
        .output()
        .expect("run mta-sts");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a file mode in octal"), "{stderr}");
    assert!(!socket.exists());
}
