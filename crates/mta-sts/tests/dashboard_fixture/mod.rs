//! What the dashboard tests share: a configuration with a user and a token, a running
//! `mta-sts serve` on plain HTTP, and a store filled through the real intake with real reporters'
//! reports (the core's fixtures, moved to recent days) plus generated ones, and hostile ones whose
//! every text field is markup.

#![allow(dead_code)] // Each test binary uses its own part.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::serve_harness::{BIN, Server, TempDir, path_arg, request};

pub const USER: &str = "owner";
pub const PASSWORD: &str = "correct horse battery staple";
pub const TOKEN: &str = "dashboard-test-token-0123456789";

/// The domains: clean (two reporters, no failures), failing, quiet (no report), and hostile
/// (reports whose fields are markup).
pub const CLEAN: &str = "acme.test";
pub const FAILING: &str = "broken.test";
pub const QUIET: &str = "quiet.test";
pub const HOSTILE: &str = "xss.test";

/// Days of reports for the clean and failing domains.
pub const DAYS: u64 = 10;

/// What a hostile report writes into every text field: a script, and an attribute break-out
/// with an image whose error handler runs script.
pub const SCRIPT: &str = "<script>window.__xss=1;alert(1)</script>";
pub const BREAKOUT: &str = "\"><img src=x onerror=\"window.__xss=2;alert(2)\">";

/// `mta-sts serve hash-password` with `password` on standard input: its one line of output.
pub fn hash_password(password: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["serve", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let output = child.wait_with_output().expect("hash-password");
    assert!(
        output.status.success(),
        "hash-password: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// The SHA-256 of `text` in hex, by coreutils' sha256sum (what the configuration's comment
/// tells an administrator to run).
pub fn sha256_hex(text: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("sha256sum");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

/// Writes a configuration for the four domains on `store`; with `users`, the user and token
/// above; `extra` is appended to the `[dashboard]` table. The live check asks a resolver that
/// is not there (the discard port on loopback), so it ends at once with what it could not learn.
pub fn write_config(dir: &TempDir, store: &str, users: bool, extra: &str) -> String {
    let mut text = format!(
        "domains = [\"{CLEAN}\", \"{FAILING}\", \"{QUIET}\", \"{HOSTILE}\"]\n\
         store = \"{store}\"\n\
         reports_per_minute = 100000\n\
         [check]\n\
         resolver = \"127.0.0.1:9\"\n\
         timeout = 1\n\
         [dashboard]\n\
         {extra}\n"
    );
    if users {
        text.push_str(&format!(
            "[[users]]\nname = \"{USER}\"\npassword_hash = \"{}\"\n\
             [[tokens]]\nname = \"test\"\ntoken_hash = \"{}\"\n",
            hash_password(PASSWORD),
            sha256_hex(TOKEN)
        ));
    }
    let path = dir.path("serve.toml");
    std::fs::write(&path, text).expect("write configuration");
    path_arg(&path)
}

/// Starts the server on plain HTTP with the configuration.
pub fn start(config: &str) -> (Server, SocketAddr) {
    let server = Server::start(&["--config", config, "--listen", "127.0.0.1:0"]);
    let address = server.http.expect("http listener");
    (server, address)
}

fn now_seconds() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    i64::try_from(now).expect("seconds")
}

fn at(seconds: i64) -> String {
    mta_sts_core::Timestamp::from_unix_seconds(seconds)
        .expect("timestamp")
        .to_string()
}

/// A real reporter's report (a fixture of the core) for `domain`, moved to the UTC day
/// `days_ago` days before today, with a report id of its own.
fn real_report(fixture: &str, domain: &str, days_ago: i64) -> Value {
    let path = format!(
        "{}/../mta-sts-core/tests/fixtures/reports/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut report: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    let day_start = (now_seconds() / 86_400 - days_ago) * 86_400;
    report["date-range"]["start-datetime"] = Value::String(at(day_start));
    report["date-range"]["end-datetime"] = Value::String(at(day_start + 86_399));
    report["report-id"] = Value::String(format!("{fixture}-{domain}-{days_ago}"));
    for policy in report["policies"].as_array_mut().expect("policies") {
        policy["policy"]["policy-domain"] = Value::String(domain.to_string());
    }
    report
}

/// A generated report: `successful` sessions and, when `failed` > 0, that many failures of
/// `result_type` at mx2 of the domain from one sending IP.
fn generated(
    organization: &str,
    domain: &str,
    days_ago: i64,
    successful: u64,
    failed: u64,
    result_type: &str,
) -> Value {
    let day_start = (now_seconds() / 86_400 - days_ago) * 86_400;
    let details = if failed > 0 {
        json!([{
            "result-type": result_type,
            "sending-mta-ip": "203.0.113.25",
            "receiving-mx-hostname": format!("mx2.{domain}"),
            "receiving-ip": "198.51.100.2",
            "failed-session-count": failed,
        }])
    } else {
        json!([])
    };
    json!({
        "organization-name": organization,
        "date-range": {"start-datetime": at(day_start), "end-datetime": at(day_start + 86_399)},
        "contact-info": format!("tlsrpt@{}", organization.to_lowercase().replace(' ', "-")),
        "report-id": format!("{organization}-{domain}-{days_ago}"),
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: testing", format!("mx: *.{domain}"), "max_age: 604800"],
                "policy-domain": domain,
                "mx-host": [format!("*.{domain}")],
            },
            "summary": {"total-successful-session-count": successful, "total-failure-session-count": failed},
            "failure-details": details,
        }],
    })
}

/// A report whose every free-text field is markup, for the hostile domain.
fn hostile(n: usize) -> Value {
    let text = if n.is_multiple_of(2) {
        SCRIPT
    } else {
        BREAKOUT
    };
    let day_start = (now_seconds() / 86_400 - 1) * 86_400;
    json!({
        "organization-name": format!("{text} org {n}"),
        "date-range": {"start-datetime": at(day_start), "end-datetime": at(day_start + 86_399)},
        "contact-info": text,
        "report-id": format!("{text} id {n}"),
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": [text, "mode: testing"],
                "policy-domain": HOSTILE,
                "mx-host": [text],
            },
            "summary": {"total-successful-session-count": 5, "total-failure-session-count": 3},
            "failure-details": [{
                "result-type": format!("{text}-type"),
                "sending-mta-ip": text,
                "receiving-mx-hostname": text,
                "receiving-mx-helo": text,
                "receiving-ip": text,
                "additional-information": text,
                "failure-reason-code": text,
                "failed-session-count": 3,
            }],
        }],
    })
}

/// Every report of the fixture store.
pub fn reports() -> Vec<Value> {
    let mut reports = Vec::new();
    for days_ago in 0..i64::try_from(DAYS).expect("days") {
        // The clean domain: Google-, Microsoft- and Mail.ru-shaped reports, all successful.
        for fixture in ["google", "mailru"] {
            let mut report = real_report(fixture, CLEAN, days_ago);
            for policy in report["policies"].as_array_mut().expect("policies") {
                policy["summary"]["total-failure-session-count"] = json!(0);
                policy["failure-details"] = json!([]);
            }
            reports.push(report);
        }
        reports.push(generated(
            "Example Mail",
            CLEAN,
            days_ago,
            120 + 7 * days_ago.unsigned_abs(),
            0,
            "",
        ));
        // The failing domain: Microsoft's real shape, and expired certificates at mx2 on
        // three days, an unsupported STARTTLS on one.
        reports.push(real_report("microsoft", FAILING, days_ago));
        let (failed, kind) = match days_ago {
            2..=4 => (31, "certificate-expired"),
            7 => (4, "starttls-not-supported"),
            _ => (0, ""),
        };
        reports.push(generated(
            "Example Mail",
            FAILING,
            days_ago,
            200,
            failed,
            kind,
        ));
        // A reporter that went silent: it reported daily until five days ago.
        if days_ago >= 5 {
            reports.push(generated("Quiet Reporter", FAILING, days_ago, 40, 0, ""));
        }
    }
    reports.extend((0..4).map(hostile));
    reports
}

/// POSTs every fixture report to the server's intake, asserting each is stored.
pub async fn fill(address: SocketAddr) {
    for report in reports() {
        let answer = request(
            address,
            None,
            "POST",
            "/tlsrpt",
            &[("content-type", "application/tlsrpt+json")],
            report.to_string().into_bytes(),
        )
        .await;
        assert_eq!(
            answer.status, 200,
            "{}: {}",
            report["report-id"], answer.body
        );
    }
}

/// Logs in through the form; the session cookie (`name=value`).
pub async fn login(address: SocketAddr) -> String {
    let body = format!(
        "name={USER}&password={}&next=%2F",
        PASSWORD.replace(' ', "+")
    );
    let answer = request(
        address,
        None,
        "POST",
        "/login",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://localhost"),
        ],
        body.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let cookie = answer.headers["set-cookie"].to_str().expect("cookie");
    cookie.split(';').next().expect("pair").to_string()
}
