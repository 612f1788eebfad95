//! `mta-sts reports fetch` end to end: the real binary against a private dovecot on loopback
//! (Debian's dovecot-imapd; the test skips visibly without it), real report mail, a real SQLite
//! store.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mta_sts_reports::imap::Security;
use mta_sts_reports::imap::dovecot::{self, Dovecot};
use mta_sts_store::test_support::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// Real report mail (see PROVENANCE.md beside the fixtures), and one DMARC report: not ours.
const REPORT_MAIL: &[&str] = &["google-mox.eml", "microsoft-mox.eml", "stalwart-rpt01.eml"];
const OTHER_MAIL: &str = "not-a-report-dmarc-google.eml";

const PROCESSED: &str = "TLSRPT-processed";
const NOT_A_REPORT: &str = "TLSRPT-not-a-report";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mta-sts-reports/tests/fixtures")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn url(server: &Dovecot, security: Security) -> String {
    server.url(security, "INBOX").to_string()
}

/// `reports fetch` with the password in the environment and the test CA trusted.
fn fetch(server: &Dovecot, store: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "reports",
            "fetch",
            "--imap",
            &url(server, Security::ImplicitTls),
        ])
        .arg("--ca-file")
        .arg(server.ca_file())
        .args(["--store", store])
        .args(extra)
        .env("MTA_STS_IMAP_PASSWORD", dovecot::PASSWORD)
        .output()
        .expect("run mta-sts")
}

fn result_names(output: &Output) -> Vec<String> {
    let mut names: Vec<String> = text(&output.stdout)
        .lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            value["result"].as_str().expect("result").to_string()
        })
        .collect();
    names.sort();
    names
}

fn list(store: &str) -> Value {
    let output = Command::new(BIN)
        .args(["reports", "list", "--json", "--store", store])
        .output()
        .expect("run mta-sts");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("list --json is JSON")
}

async fn deliver_fixtures(server: &Dovecot) {
    for name in REPORT_MAIL.iter().chain([&OTHER_MAIL]) {
        server.append("INBOX", &read_fixture(name)).await;
    }
}

#[tokio::test]
async fn reports_are_stored_and_moved_and_nothing_is_read_twice() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    deliver_fixtures(&server).await;
    let dir = TempDir::new("fetch-stored");
    let store = format!("sqlite:{}", dir.file("r.db").display());

    let output = fetch(&server, &store, &["--json"]);
    // 65: one message held no TLS-RPT report (it went to the not-a-report folder).
    assert_eq!(output.status.code(), Some(65), "{}", text(&output.stderr));
    assert_eq!(
        result_names(&output),
        ["imported", "imported", "imported", "not-a-report"]
    );
    assert!(server.messages("INBOX").is_empty(), "{}", server.log());
    assert_eq!(server.messages(PROCESSED).len(), 3);
    // The same message, whatever line ends the server keeps.
    let unix_lines = |bytes: &[u8]| {
        bytes
            .iter()
            .copied()
            .filter(|&b| b != b'\r')
            .collect::<Vec<u8>>()
    };
    let not_a_report = server.messages(NOT_A_REPORT);
    assert_eq!(not_a_report.len(), 1);
    assert!(unix_lines(&not_a_report[0]) == unix_lines(&read_fixture(OTHER_MAIL)));

    // The same rows as importing the same mail from files.
    let by_file = format!("sqlite:{}", dir.file("by-file.db").display());
    let import = Command::new(BIN)
        .args(["reports", "import", "--store", &by_file])
        .args(REPORT_MAIL.iter().map(|name| fixture(name)))
        .output()
        .expect("run mta-sts");
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    assert_eq!(list(&store), list(&by_file));

    // A second run reads nothing: the mailbox is empty.
    let output = fetch(&server, &store, &["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(result_names(&output).is_empty());
    assert_eq!(server.messages(PROCESSED).len(), 3);

    // Mail delivered again (a reporter's retry) is recognised as stored, and moved on.
    server.append("INBOX", &read_fixture(REPORT_MAIL[0])).await;
    let output = fetch(&server, &store, &["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(result_names(&output), ["duplicate"]);
    assert_eq!(server.messages(PROCESSED).len(), 4);
}

#[tokio::test]
async fn a_store_that_is_down_exits_75_and_leaves_the_mail_for_the_retry() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    deliver_fixtures(&server).await;
    // PostgreSQL on a port nothing listens on: unavailable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let down = format!("postgres://postgres:secret@127.0.0.1:{closed}/reports");
    let output = fetch(&server, &down, &[]);
    assert_eq!(output.status.code(), Some(75), "{}", text(&output.stderr));
    assert!(!text(&output.stderr).contains("secret"));
    assert_eq!(server.messages("INBOX").len(), 4);

    let dir = TempDir::new("fetch-retry");
    let store = format!("sqlite:{}", dir.file("r.db").display());
    let output = fetch(&server, &store, &["--json"]);
    assert_eq!(output.status.code(), Some(65), "{}", text(&output.stderr));
    assert_eq!(result_names(&output).len(), 4);
    assert!(server.messages("INBOX").is_empty());
}

#[tokio::test]
async fn passwords_come_from_a_private_file_or_the_environment_only() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &read_fixture(REPORT_MAIL[0])).await;
    let dir = TempDir::new("fetch-password");
    let store = format!("sqlite:{}", dir.file("r.db").display());
    let run = |imap: &str, password_file: &Path| {
        Command::new(BIN)
            .args(["reports", "fetch", "--imap", imap, "--store", &store])
            .arg("--ca-file")
            .arg(server.ca_file())
            .arg("--password-file")
            .arg(password_file)
            .env_remove("MTA_STS_IMAP_PASSWORD")
            .output()
            .expect("run mta-sts")
    };
    let starttls = url(&server, Security::StartTls);

    // A password in the URL is refused, and not repeated.
    let with_password = starttls.replace("reports@", "reports:hunter2@");
    let output = run(&with_password, Path::new("/nonexistent"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--password-file"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // A password file every user can read is refused before anything is sent.
    let file = dir.file("password");
    std::fs::write(&file, format!("{}\n", dovecot::PASSWORD)).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let output = run(&starttls, &file);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("chmod 600"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(server.messages("INBOX").len(), 1);

    // Private (group-readable is allowed): taken, over STARTTLS.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let output = run(&starttls, &file);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(server.messages("INBOX").is_empty());

    // A wrong password: a sentence naming the user, exit 2, the password not repeated.
    std::fs::write(&file, "wrong-password\n").expect("write");
    let output = run(&starttls, &file);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("refused the login of reports"), "{stderr}");
    assert!(!stderr.contains("wrong-password"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn watch_takes_mail_appended_while_idling() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &read_fixture(REPORT_MAIL[0])).await;
    let dir = TempDir::new("fetch-watch");
    let store = format!("sqlite:{}", dir.file("r.db").display());
    let mut child = Command::new(BIN)
        .args(["reports", "fetch", "--watch", "--json"])
        .args(["--imap", &url(&server, Security::ImplicitTls)])
        .arg("--ca-file")
        .arg(server.ca_file())
        .args(["--store", &store])
        .env("MTA_STS_IMAP_PASSWORD", dovecot::PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mta-sts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_result = move || {
        let line = lines.next().expect("a line").expect("read");
        let value: Value = serde_json::from_str(&line).expect("JSON");
        value["result"].as_str().expect("result").to_string()
    };
    // The mail there at the start; then mail delivered while the watcher idles.
    assert_eq!(next_result(), "imported");
    server.append("INBOX", &read_fixture(REPORT_MAIL[1])).await;
    assert_eq!(next_result(), "imported");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(server.messages("INBOX").is_empty());
    assert_eq!(server.messages(PROCESSED).len(), 2);
}

#[tokio::test]
async fn a_server_whose_certificate_is_not_trusted_gets_no_password() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &read_fixture(REPORT_MAIL[0])).await;
    let dir = TempDir::new("fetch-untrusted");
    let store = format!("sqlite:{}", dir.file("r.db").display());
    let logins = || server.log().matches("Login: user=<reports>").count();
    let logins_before = logins();
    // No --ca-file: the Web PKI roots alone, which never signed the test certificate.
    let output = Command::new(BIN)
        .args([
            "reports",
            "fetch",
            "--imap",
            &url(&server, Security::ImplicitTls),
        ])
        .args(["--store", &store])
        .env("MTA_STS_IMAP_PASSWORD", dovecot::PASSWORD)
        .output()
        .expect("run mta-sts");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    assert!(stderr.contains("no password was sent"), "{stderr}");
    assert_eq!(logins(), logins_before);
    assert_eq!(server.messages("INBOX").len(), 1);
}

#[tokio::test]
async fn a_message_over_the_cap_is_left_in_place_and_named() {
    let Some(server) = Dovecot::start() else {
        return;
    };
    server.append("INBOX", &read_fixture(REPORT_MAIL[0])).await;
    let dir = TempDir::new("fetch-too-large");
    let store = format!("sqlite:{}", dir.file("r.db").display());
    let output = fetch(&server, &store, &["--json", "--max-message-size", "100"]);
    assert_eq!(output.status.code(), Some(65), "{}", text(&output.stderr));
    assert_eq!(result_names(&output), ["too-large"]);
    assert!(text(&output.stderr).contains("--max-message-size"));
    assert_eq!(server.messages("INBOX").len(), 1);
    assert!(server.messages(PROCESSED).is_empty());
}
