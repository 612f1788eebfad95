//! `mta-sts daemon` asked by Postfix's own client, `postmap -q ... socketmap:...`, for lab domains;
//! and `mta-sts query`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mta_sts_lab::Lab;
use mta_sts_store::test_support::skip;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");
const POSTMAP: &str = "/usr/sbin/postmap";
const POSTCONF: &str = "/usr/sbin/postconf";

/// The installed Postfix's version, as `postconf -dh mail_version` prints it (what the daemon's
/// default `postfix_version = "auto"` asks at start).
fn installed_postfix() -> mta_sts_policyd::PostfixVersion {
    let output = Command::new(POSTCONF)
        .args(["-dh", "mail_version"])
        .output()
        .expect("run postconf");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a Postfix version")
}

/// The flags that point the daemon (and `query`) at the lab, with a memory cache (the default is
/// the system's SQLite file).
fn lab_flags(lab: &Lab) -> Vec<String> {
    vec![
        "--cache".into(),
        "memory".into(),
        "--resolver".into(),
        lab.dns_addr().to_string(),
        "--ca-file".into(),
        lab.ca_file().display().to_string(),
        "--https-port".into(),
        lab.https_port().to_string(),
    ]
}

/// The daemon's log lines after its first two, kept for failure messages.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts the daemon on ephemeral ports (socketmap and metrics), telling systemd's notify socket
/// `notify`, and returns it with the two addresses it printed and its log from then on.
fn start_daemon(lab: &Lab, notify: &Path) -> (Child, String, String, Log) {
    let mut child = Command::new(BIN)
        .args([
            "daemon",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ])
        .args(lab_flags(lab))
        .env("NOTIFY_SOCKET", notify)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("the daemon's first line");
    // The runtime is built with the configured worker count (default 1).
    assert!(line.contains(", 1 thread(s)"), "{line}");
    let mut metrics_line = String::new();
    stderr
        .read_line(&mut metrics_line)
        .expect("the daemon's second line");
    // Keep reading the log so the daemon never writes into a closed pipe, and keep it: a failed
    // assertion shows what the daemon said (a failed fetch, a DNS error).
    let log = Log::default();
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            kept.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    });
    let address = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let metrics = metrics_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in {metrics_line:?}"))
        .to_string();
    (child, address, metrics, log)
}

/// `GET /metrics` over a plain TCP connection.
fn scrape(address: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// The value of one sample line, e.g. `mta_sts_daemon_requests_total{reply="ok"}`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.trim().split(' ').next())
        })
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// `postmap -q DOMAIN socketmap:inet:ADDRESS:postfix`, with a throwaway configuration directory
/// (postmap insists on reading a main.cf). Returns the exit status and what it printed.
fn postmap(address: &str, domain: &str, config_dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(POSTMAP)
        .args([
            "-c",
            &config_dir.display().to_string(),
            "-q",
            domain,
            &format!("socketmap:inet:{address}:postfix"),
        ])
        .output()
        .expect("run postmap");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_postmap_sees_the_daemons_replies() {
    // .ci/run installs Debian's postfix; only a developer machine without it skips.
    if !skip::installed(POSTMAP, "postfix") {
        return;
    }
    let lab = Lab::start().await.expect("lab");
    let config_dir = std::env::temp_dir().join(format!("mta-sts-postfix-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(config_dir.join("main.cf"), "").expect("main.cf");
    let notify_path = config_dir.join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let (mut daemon, address, metrics, log) =
        tokio::task::block_in_place(|| start_daemon(&lab, &notify_path));
    let log = || {
        log.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n")
    };
    let mut datagram = [0u8; 64];
    let n = notify.recv(&mut datagram).expect("READY=1 from the daemon");
    assert_eq!(&datagram[..n], b"READY=1");
    let domain = |name: &str| lab.scenario(name).expect("scenario").domain.clone();
    // The form the installed Postfix accepts: with the TLSRPT attributes from 3.10.5 on (it
    // then enforces the MX patterns), without them before (Postfix < 3.10 refuses them).
    let installed = installed_postfix();
    let attributes = installed.enforces_sts_mx_patterns();
    let attributes_of = |domain: &str, pattern: &str| {
        if attributes {
            format!(
                " policy_type=sts policy_domain={domain} mx_host_pattern={pattern} \
                 {{ policy_string = version: STSv1 }} {{ policy_string = mode: enforce }} \
                 {{ policy_string = mx: {pattern} }}"
            )
        } else {
            String::new()
        }
    };

    let healthy = domain("healthy-enforce");
    let (status, text) = tokio::task::block_in_place(|| postmap(&address, &healthy, &config_dir));
    assert_eq!(status, Some(0), "postmap: {text}\ndaemon log:\n{}", log());
    let expected = format!(
        "secure match=mx.{healthy} servername=hostname{}",
        attributes_of(&healthy, &format!("mx.{healthy}"))
    );
    assert!(text.starts_with(&expected), "Postfix {installed}: {text}");
    assert_eq!(
        text.contains("policy_type="),
        attributes,
        "Postfix {installed}: {text}"
    );

    // `*.x` patterns reach Postfix as `.x` (and as `*.x` in mx_host_pattern).
    let wildcard = domain("mx-wildcard");
    let (status, text) = tokio::task::block_in_place(|| postmap(&address, &wildcard, &config_dir));
    assert_eq!(status, Some(0), "postmap: {text}\ndaemon log:\n{}", log());
    let expected = format!(
        "secure match=.{wildcard} servername=hostname{}",
        attributes_of(&wildcard, &format!("*.{wildcard}"))
    );
    assert!(text.starts_with(&expected), "Postfix {installed}: {text}");

    // Postfix's own key forms are normalised.
    let key = format!("[{}]:25", domain("healthy-enforce").to_uppercase());
    let (status, _) = tokio::task::block_in_place(|| postmap(&address, &key, &config_dir));
    assert_eq!(status, Some(0), "postmap: {text}\ndaemon log:\n{}", log());

    // testing and none modes, no record, and a failed fetch are not found: Postfix applies its
    // default TLS level.
    for name in ["mode-testing", "mode-none", "sts-missing", "policy-404"] {
        let (status, text) =
            tokio::task::block_in_place(|| postmap(&address, &domain(name), &config_dir));
        assert_eq!(status, Some(1), "{name}: {text}");
    }

    // Prometheus sees what Postfix asked: 3 policies, 4 NOTFOUND, and the bracketed key served
    // from the cache.
    let text = tokio::task::block_in_place(|| scrape(&metrics));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        sample(&text, "mta_sts_daemon_requests_total{reply=\"ok\"}"),
        3.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "mta_sts_daemon_requests_total{reply=\"notfound\"}"),
        4.0,
        "{text}"
    );
    assert!(
        sample(&text, "mta_sts_daemon_lookups_total{origin=\"cache\"}") >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "mta_sts_daemon_fetch_failures_total") >= 1.0,
        "policy-404: {text}"
    );
    assert!(
        text.contains("mta_sts_daemon_request_duration_seconds_bucket"),
        "{text}"
    );

    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let n = notify
        .recv(&mut datagram)
        .expect("STOPPING=1 from the daemon");
    assert_eq!(&datagram[..n], b"STOPPING=1");
    let exit = daemon.wait().expect("the daemon stops on SIGTERM");
    assert!(exit.success(), "{exit:?}");
    // The daemon said at start which Postfix it found and which form it sends.
    let said = log();
    assert!(
        said.contains(&format!("Postfix {installed} (from {POSTCONF})")),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&config_dir);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_explains_the_reply() {
    let lab = Lab::start().await.expect("lab");
    let healthy = lab
        .scenario("healthy-enforce")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .arg("query")
            .arg(&healthy)
            .args(lab_flags(&lab))
            .output()
            .expect("query")
    });
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!("OK secure match=mx.{healthy} servername=hostname")),
        "{text}"
    );
    assert!(text.contains("mode enforce"), "{text}");

    let testing = lab
        .scenario("mode-testing")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(["query", "--json"])
            .arg(&testing)
            .args(lab_flags(&lab))
            .output()
            .expect("query")
    });
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["domain"], testing.as_str());
    assert!(
        value["not_found"].is_object() || value["not_found"].is_string(),
        "{value}"
    );
    lab.shutdown().await;
}

/// Asserts that `text` reads as sentences: each line after the reply starts with `subject: `,
/// `subject, ` or `subject ` and ends with a full stop, and nothing is left of a Rust debug value (`Name(`,
/// `Name { .. }`, `Timestamp`, a bare variant name like `Fetch`).
fn assert_sentences(text: &str, subject: &str) {
    let mut lines = text.lines();
    let reply = lines.next().unwrap_or_default();
    assert!(
        reply.starts_with("OK ") || reply.starts_with("NOTFOUND"),
        "{text}"
    );
    let mut count = 0;
    for line in lines {
        count += 1;
        assert!(
            [": ", ", ", " "]
                .iter()
                .any(|after| line.starts_with(&format!("{subject}{after}"))),
            "a line not about {subject}: {line}\n{text}"
        );
        assert!(line.ends_with('.'), "not a sentence: {line}");
        assert!(!line.contains('{') && !line.contains('}'), "{line}");
        assert!(
            !line
                .as_bytes()
                .windows(2)
                .any(|w| w[0].is_ascii_alphanumeric() && w[1] == b'('),
            "a debug shape: {line}"
        );
        for debug in [
            "Timestamp",
            "Fetch",
            "Cache",
            "Dns",
            "NoPolicy",
            "Key",
            "ParentDomain",
        ] {
            assert!(!line.contains(debug), "{debug} in {line}");
        }
    }
    assert!(count >= 1, "no explanation: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn query_explains_every_outcome_in_sentences() {
    let lab = Lab::start().await.expect("lab");
    let dir = std::env::temp_dir().join(format!("mta-sts-query-words-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cache = format!("sqlite:{}", dir.join("cache.db").display());
    let query = |key: &str| {
        let mut flags = lab_flags(&lab);
        // A file cache that query writes (--update-cache), so that the second query of a domain
        // is answered from it.
        flags[1] = cache.clone();
        tokio::task::block_in_place(|| {
            Command::new(BIN)
                .arg("query")
                .arg("--update-cache")
                .arg(key)
                .args(&flags)
                .output()
                .expect("query")
        })
    };
    let domain = |name: &str| lab.scenario(name).expect("scenario").domain.clone();
    let cases = [
        // (key, the subject of the sentences, exit status, words that must be said)
        (
            domain("healthy-enforce"),
            domain("healthy-enforce"),
            0,
            "a policy fetch was attempted",
        ),
        (
            domain("healthy-enforce"),
            domain("healthy-enforce"),
            0,
            "the cache alone answered",
        ),
        (
            domain("sts-missing"),
            domain("sts-missing"),
            1,
            "no usable v=STSv1 TXT record",
        ),
        (
            domain("policy-404"),
            domain("policy-404"),
            1,
            "could not be fetched",
        ),
        (
            domain("policy-404"),
            domain("policy-404"),
            1,
            "is not fetched again before",
        ),
        (
            domain("mode-testing"),
            domain("mode-testing"),
            1,
            "testing mode",
        ),
        (domain("mode-none"), domain("mode-none"), 1, "mode none"),
        (
            "servfail.test".into(),
            "servfail.test".into(),
            1,
            "TXT lookup failed",
        ),
        (
            format!("[mx.{}]:25", domain("healthy-enforce")),
            format!("mx.{}", domain("healthy-enforce")),
            1,
            "(the key `[mx.",
        ),
        (
            ".example.com".into(),
            "`.example.com`".into(),
            1,
            "parent-domain",
        ),
        (
            "[192.0.2.1]:25".into(),
            "`[192.0.2.1]:25`".into(),
            1,
            "an IP address",
        ),
        (
            domain("dane-signed"),
            domain("dane-signed"),
            0,
            "DANE applies",
        ),
    ];
    for (key, subject, status, words) in &cases {
        let output = query(key);
        let text = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(*status), "{key}: {text}");
        assert!(text.contains(words), "{key}: no {words:?} in\n{text}");
        assert_sentences(&text, subject);
    }
    // Times a person reads are RFC 3339.
    let text = String::from_utf8_lossy(&query(&domain("mode-testing")).stdout).into_owned();
    let fetched = text
        .split("fetched at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no fetch time in {text}"));
    assert!(
        mta_sts_core::report::Timestamp::parse(fetched).is_ok(),
        "{fetched} is not RFC 3339"
    );
    let _ = std::fs::remove_dir_all(&dir);
    lab.shutdown().await;
}

/// A socketmap request over TCP; returns the reply payload (empty if the connection closed).
fn socketmap(address: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request).expect("request");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// Starts the daemon with `--log-format FORMAT` on an ephemeral port and returns it, its
/// address and the lines of its log as they come.
fn start_logging_daemon(
    lab: &Lab,
    format: &str,
) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["daemon", "--listen", "127.0.0.1:0", "--log-format", format])
        .args(lab_flags(lab))
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let first = lines
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the daemon's first line");
    let address = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    (child, address, lines)
}

/// The log lines until one contains `needle` (at most 30 s), that one included.
fn lines_until(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(30)) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no {needle:?} in the log:\n{}", seen.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_logs_one_json_object_per_line_with_sentences_and_fields() {
    let lab = Lab::start().await.expect("lab");
    let (mut daemon, address, lines) =
        tokio::task::block_in_place(|| start_logging_daemon(&lab, "json"));
    let broken = lab.scenario("policy-404").expect("scenario").domain.clone();
    let request = format!("postfix {broken}");
    let reply = tokio::task::block_in_place(|| {
        socketmap(&address, format!("{}:{request},", request.len()).as_bytes())
    });
    assert_eq!(reply, "9:NOTFOUND ,");
    // A request over the size limit closes the connection and is logged.
    let reply = tokio::task::block_in_place(|| socketmap(&address, b"99999:"));
    assert_eq!(reply, "");
    let mut log = tokio::task::block_in_place(|| lines_until(&lines, "bad-request"));
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    assert!(daemon.wait().expect("the daemon stops").success());
    // The rest of the log, to its end (the pipe closes with the process).
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(10)) {
        log.push(line);
    }

    let objects: Vec<serde_json::Value> = log
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"))
        })
        .collect();
    for object in &objects {
        assert!(object.is_object(), "{object}");
        for field in ["timestamp", "level", "message", "kind"] {
            assert!(object[field].is_string(), "no {field}: {object}");
        }
        let timestamp = object["timestamp"].as_str().unwrap_or_default();
        assert!(
            mta_sts_core::report::Timestamp::parse(timestamp).is_ok(),
            "not RFC 3339: {timestamp}"
        );
    }
    let fetch = objects
        .iter()
        .find(|o| o["kind"] == "fetch-failed")
        .unwrap_or_else(|| panic!("no fetch-failed in {log:?}"));
    assert_eq!(fetch["domain"], broken.as_str(), "{fetch}");
    assert_eq!(fetch["level"], "WARN", "{fetch}");
    let message = fetch["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{broken}: the MTA-STS policy with id ")),
        "{message}"
    );
    assert!(
        message.contains("the next attempt is not before 20"),
        "{message}"
    );
    assert!(
        !message.contains('{') && !message.contains("Timestamp"),
        "{message}"
    );
    let bad = objects
        .iter()
        .find(|o| o["kind"] == "bad-request")
        .unwrap_or_else(|| panic!("no bad-request in {log:?}"));
    assert!(
        bad["message"]
            .as_str()
            .unwrap_or_default()
            .contains("announces more than 1024 bytes"),
        "{bad}"
    );
    assert!(
        objects.iter().any(|o| o["kind"] == "stopped"),
        "no stopped line after SIGTERM: {log:?}"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemons_text_log_has_sentences_and_fields() {
    let lab = Lab::start().await.expect("lab");
    let (mut daemon, address, lines) =
        tokio::task::block_in_place(|| start_logging_daemon(&lab, "text"));
    let broken = lab.scenario("policy-404").expect("scenario").domain.clone();
    let request = format!("postfix {broken}");
    tokio::task::block_in_place(|| {
        socketmap(&address, format!("{}:{request},", request.len()).as_bytes())
    });
    let log = tokio::task::block_in_place(|| lines_until(&lines, "fetch-failed"));
    let _ = daemon.kill();
    let _ = daemon.wait();
    let line = log.last().map(String::as_str).unwrap_or_default();
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.contains(&format!("{broken}: the MTA-STS policy with id ")),
        "{line}"
    );
    assert!(line.contains("kind=fetch-failed"), "{line}");
    assert!(line.contains(&format!("domain={broken}")), "{line}");
    assert!(
        !line.contains("FetchFailed") && !line.contains("Timestamp("),
        "{line}"
    );
    lab.shutdown().await;
}

#[test]
fn the_web_checker_logs_json_too() {
    let mut web = Command::new(BIN)
        .args(["web", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the web checker");
    let mut stderr = BufReader::new(web.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("the first line");
    let _ = web.kill();
    let _ = web.wait();
    let object: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(object["kind"], "listening", "{object}");
    assert!(
        object["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("listening on http://127.0.0.1:"),
        "{object}"
    );
}
