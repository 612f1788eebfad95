//! `mta-sts reports import|list|summary` end to end: the real binary, real fixtures, real
//! SQLite files and (when `MTA_STS_TEST_POSTGRES` names one) a real PostgreSQL server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;
use mta_sts_store::test_support::{TempDir, TestDatabase};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// The real reports other projects keep as fixtures (see PROVENANCE.md beside them).
const REPORT_FIXTURES: &[&str] = &[
    "example-inc.json",
    "google-mox.eml",
    "google-parsedmarc.eml",
    "mail.ru.json",
    "mail.ru.json.gz",
    "microsoft-mox.eml",
    "rfc8460.json",
    "stalwart-rpt01.eml",
    "stalwart-rpt01.json",
    "stalwart-rpt02.eml",
    "stalwart-rpt02.json",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mta-sts-reports/tests/fixtures")
        .join(name)
}

fn sqlite(dir: &TempDir, name: &str) -> String {
    format!("sqlite:{}", dir.file(name).display())
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run mta-sts")
}

fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mta-sts");
    let mut stdin = child.stdin.take().expect("stdin");
    // The child may stop reading early (a refused input); a broken pipe is its answer.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait mta-sts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--json` output: one object per line.
fn results(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn result_names(output: &Output) -> Vec<String> {
    results(output)
        .iter()
        .map(|r| r["result"].as_str().expect("result").to_string())
        .collect()
}

fn list(store: &str) -> Value {
    let output = run(&["reports", "list", "--json", "--store", store]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("list --json is JSON")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A generated report: two policy entries (sts and tlsa, the same sessions, as Microsoft counts
/// them) with three failure details each.
fn report_json(number: usize, domain: &str) -> String {
    let day = 1 + number % 28;
    let details = |kind: &str| {
        (0..3)
            .map(|i| {
                format!(
                    r#"{{"result-type":"{kind}","sending-mta-ip":"192.0.2.{i}","receiving-mx-hostname":"mx{i}.{domain}","failed-session-count":{}}}"#,
                    i + 1
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"organization-name":"Generator {org}","date-range":{{"start-datetime":"2026-11-{day:02}T00:00:00Z","end-datetime":"2026-11-{day:02}T23:59:59Z"}},"contact-info":"tlsrpt@generator.example","report-id":"report-{number}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: *.{domain}","max_age: 86400"],"policy-domain":"{domain}","mx-host":["*.{domain}"]}},"summary":{{"total-successful-session-count":{ok},"total-failure-session-count":6}},"failure-details":[{sts}]}},{{"policy":{{"policy-type":"tlsa","policy-string":["3 1 1 AB"],"policy-domain":"{domain}"}},"summary":{{"total-successful-session-count":{ok},"total-failure-session-count":6}},"failure-details":[{tlsa}]}}]}}"#,
        org = number % 7,
        ok = 100 + number,
        sts = details("certificate-expired"),
        tlsa = details("tlsa-invalid"),
    )
}

/// The report as a mail from a reporter: base64 gzip in `application/tlsrpt+gzip`.
fn report_mail(number: usize, domain: &str) -> String {
    let encoded = base64(&gzip(report_json(number, domain).as_bytes()));
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "From: tlsrpt@generator.example\nTo: tlsrpt@{domain}\n\
Subject: Report Domain: {domain} Submitter: generator.example Report-ID: <report-{number}>\n\
TLS-Report-Domain: {domain}\nTLS-Report-Submitter: generator.example\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\n\n\
--b\nContent-Type: text/plain\n\nThis is an aggregate TLS report.\n\
--b\nContent-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\
Content-Disposition: attachment; filename=\"generator.example!{domain}!1!2.json.gz\"\n\n\
{}\n--b--\n",
        lines.join("\n")
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Each fixture by file into one store and by pipe into another: both stores hold the same rows.
fn file_and_pipe_give_the_same_rows(by_file: &str, by_pipe: &str) {
    for name in REPORT_FIXTURES {
        let path = fixture(name);
        let output = run(&[
            "reports",
            "import",
            "--json",
            "--store",
            by_file,
            &path.to_string_lossy(),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            text(&output.stderr)
        );
        let input = std::fs::read(&path).expect("fixture");
        let output = run_with_stdin(
            &["reports", "import", "--json", "--store", by_pipe, "-"],
            &input,
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            text(&output.stderr)
        );
        let names = result_names(&output);
        assert_eq!(names.len(), 1, "{name}: one report each");
        assert!(
            names[0] == "imported" || names[0] == "duplicate",
            "{name}: {names:?}"
        );
    }
    let listed = list(by_file);
    assert_eq!(listed, list(by_pipe));
    // Seven distinct reports: the .json.gz and the Stalwart copies repeat others.
    assert_eq!(listed["reports"].as_array().expect("reports").len(), 7);
}

#[test]
fn every_fixture_by_file_and_by_pipe_gives_the_same_rows_on_sqlite() {
    let dir = TempDir::new("reports-fixtures");
    file_and_pipe_give_the_same_rows(&sqlite(&dir, "file.db"), &sqlite(&dir, "pipe.db"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_by_file_and_by_pipe_gives_the_same_rows_on_postgres() {
    let Some(file) = TestDatabase::create("fixtures by file on postgres").await else {
        return;
    };
    let Some(pipe) = TestDatabase::create("fixtures by pipe on postgres").await else {
        return;
    };
    let (file_url, pipe_url) = (file.url().to_string(), pipe.url().to_string());
    tokio::task::spawn_blocking(move || file_and_pipe_give_the_same_rows(&file_url, &pipe_url))
        .await
        .expect("the test ran");
}

#[test]
fn list_json_has_the_documented_shape() {
    let dir = TempDir::new("reports-shape");
    let store = sqlite(&dir, "r.db");
    let output = run(&[
        "reports",
        "import",
        "--store",
        &store,
        &fixture("rfc8460.json").to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let listed = list(&store);
    let report = &listed["reports"][0];
    assert_eq!(report["organization"], "Company-X");
    assert_eq!(report["report_id"], "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    assert_eq!(report["start"], "2016-04-01T00:00:00Z");
    assert_eq!(report["end"], "2016-04-01T23:59:59Z");
    let policy = &report["policies"][0];
    assert_eq!(policy["policy_type"], "sts");
    assert_eq!(policy["policy_domain"], "company-y.example");
    assert_eq!(policy["successful"], 5326);
    assert_eq!(policy["failed"], 303);
    let failure = &policy["failures"][0];
    assert_eq!(failure["result_type"], "certificate-expired");
    assert_eq!(failure["count"], 100);
    assert_eq!(
        failure["receiving_mx_hostname"],
        "mx1.mail.company-y.example"
    );
    assert_eq!(failure["sending_mta_ip"], "2001:db8:abcd:0012::1");
    // Absent values are null, not missing.
    let mail_ru = run(&[
        "reports",
        "import",
        "--store",
        &store,
        &fixture("mail.ru.json").to_string_lossy(),
    ]);
    assert_eq!(mail_ru.status.code(), Some(0));
    let listed = run(&[
        "reports",
        "list",
        "--json",
        "--domain",
        "EXAMPLE.com",
        "--since",
        "2024-02-01",
        "--store",
        &store,
    ]);
    let value: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let failure = &value["reports"][0]["policies"][0]["failures"][0];
    assert!(failure["receiving_mx_hostname"].is_null() && failure["sending_mta_ip"].is_null());
    assert_eq!(value["reports"].as_array().expect("reports").len(), 1);
}

#[test]
fn the_same_report_by_any_path_is_stored_once() {
    let dir = TempDir::new("reports-dup");
    let store = sqlite(&dir, "r.db");
    let json = fixture("mail.ru.json");
    let gz = fixture("mail.ru.json.gz");
    let first = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &store,
        &json.to_string_lossy(),
    ]);
    assert_eq!(result_names(&first), ["imported"]);
    // The same report compressed, piped, and inside a mail, all in one run.
    let mail_path = dir.file("mail-ru.eml");
    std::fs::write(
        &mail_path,
        format!(
            "From: r@mail.ru\nTo: t@example.com\nSubject: report\nMIME-Version: 1.0\n\
Content-Type: application/tlsrpt+json\n\n{}",
            std::fs::read_to_string(&json).expect("fixture")
        ),
    )
    .expect("write");
    let again = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &store,
        &gz.to_string_lossy(),
        &mail_path.to_string_lossy(),
        &json.to_string_lossy(),
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(
        result_names(&again),
        ["duplicate", "duplicate", "duplicate"]
    );
    assert_eq!(
        list(&store)["reports"].as_array().expect("reports").len(),
        1
    );
}

#[test]
fn a_report_for_a_foreign_domain_is_refused_with_65_and_not_stored() {
    let dir = TempDir::new("reports-foreign");
    let store = sqlite(&dir, "r.db");
    let path = fixture("mail.ru.json");
    let output = run(&[
        "reports",
        "import",
        "--json",
        "--domain",
        "example.org",
        "--store",
        &store,
        &path.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(65));
    let result = &results(&output)[0];
    assert_eq!(result["result"], "refused-domain");
    assert_eq!(result["domains"], serde_json::json!(["example.com"]));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("is about example.com, not one of the domains given with --domain (example.org); it was not stored."), "{stderr}");
    assert_eq!(list(&store)["reports"], serde_json::json!([]));
    // The owner's domain, written in another case, is taken.
    let ours = run(&[
        "reports",
        "import",
        "--domain",
        "Example.COM",
        "--store",
        &store,
        &path.to_string_lossy(),
    ]);
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));
}

#[test]
fn a_gzip_bomb_costs_no_more_than_the_cap() {
    let dir = TempDir::new("reports-bomb");
    // 1,024 gzip members of 1 MiB of zeros each: one gzip file (RFC 1952 §2.2) of about 1 MB
    // that would decompress to 1 GiB.
    let member = gzip(&vec![0u8; 1024 * 1024]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 1024)
        .collect();
    let path = dir.file("bomb.json.gz");
    std::fs::write(&path, &bomb).expect("write");
    // With address space capped below what the bomb would need, the import still answers.
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 786432 && exec {BIN} reports import --json --store {} {}",
            sqlite(&dir, "r.db"),
            path.display()
        ))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(65), "{}", text(&output.stderr));
    let result = &results(&output)[0];
    assert_eq!(result["result"], "invalid");
    let reason = result["reason"].as_str().expect("reason");
    assert!(
        reason.contains("larger than 16 MiB once decompressed"),
        "{reason}"
    );
}

#[test]
fn a_truncated_gzip_is_invalid_with_a_reason() {
    let dir = TempDir::new("reports-truncated");
    let whole = std::fs::read(fixture("mail.ru.json.gz")).expect("fixture");
    let output = run_with_stdin(
        &["reports", "import", "--store", &sqlite(&dir, "r.db"), "-"],
        &whole[..whole.len() - 20],
    );
    assert_eq!(output.status.code(), Some(65));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("<stdin> holds an unreadable TLS-RPT report: The report starts like gzip but does not decompress"), "{stderr}");
}

#[test]
fn what_is_not_a_report_exits_65_naming_why() {
    let dir = TempDir::new("reports-not");
    let output = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &sqlite(&dir, "r.db"),
        &fixture("not-a-report-dmarc-google.eml").to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(65));
    assert_eq!(result_names(&output), ["not-a-report"]);
    let output = run_with_stdin(
        &["reports", "import", "--store", &sqlite(&dir, "r.db"), "-"],
        b"hello\n",
    );
    assert_eq!(output.status.code(), Some(65));
    assert!(text(&output.stderr).contains("<stdin> is not a TLS-RPT report"));
    let output = run(&[
        "reports",
        "import",
        "--store",
        &sqlite(&dir, "r.db"),
        "/nonexistent/report.json",
    ]);
    assert_eq!(output.status.code(), Some(66));
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn a_store_that_is_down_exits_75_and_the_retry_takes_the_report() {
    let input = std::fs::read(fixture("google-mox.eml")).expect("fixture");
    let down = format!(
        "postgres://postgres:secret@127.0.0.1:{}/reports",
        closed_port()
    );
    let output = run_with_stdin(&["reports", "import", "--store", &down, "-"], &input);
    assert_eq!(output.status.code(), Some(75), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no report was stored"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is never shown: {stderr}"
    );
    // The MTA kept the mail and gives it again, once the store works.
    let dir = TempDir::new("reports-retry");
    let store = sqlite(&dir, "r.db");
    let output = run_with_stdin(
        &["reports", "import", "--json", "--store", &store, "-"],
        &input,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(result_names(&output), ["imported"]);
}

#[test]
fn an_sqlite_store_that_cannot_be_made_exits_75() {
    let dir = TempDir::new("reports-readonly");
    let blocker = dir.file("not-a-directory");
    std::fs::write(&blocker, b"").expect("write");
    let store = format!("sqlite:{}/r.db", blocker.display());
    let output = run(&[
        "reports",
        "import",
        "--store",
        &store,
        &fixture("mail.ru.json").to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(75), "{}", text(&output.stderr));
}

#[test]
fn mbox_and_maildir_mix_reports_and_other_mail() {
    let dir = TempDir::new("reports-mailboxes");
    let store = sqlite(&dir, "r.db");
    let google = std::fs::read_to_string(fixture("google-mox.eml")).expect("fixture");
    let plain = "From: friend@example.org\nTo: tlsrpt@example.com\nSubject: hello\n\nFrom here on,\nall is well.\n";
    // An mbox: a report, a personal mail with a quoted From line in its body, another report.
    let quoted = plain.replace("\nFrom here", "\n>From here");
    let mbox = format!(
        "From MAILER-DAEMON Mon Dec  7 00:00:00 2026\n{google}\n\
From friend@example.org Mon Dec  7 00:00:01 2026\n{quoted}\n\
From tlsrpt@generator.example Mon Dec  7 00:00:02 2026\n{}\n",
        report_mail(1, "example.com")
    );
    let mbox_path = dir.file("reports.mbox");
    std::fs::write(&mbox_path, &mbox).expect("write");
    let output = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &store,
        &mbox_path.to_string_lossy(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(65),
        "a personal mail is not a report"
    );
    assert_eq!(
        result_names(&output),
        ["imported", "not-a-report", "imported"]
    );
    assert!(
        results(&output)[1]["input"]
            .as_str()
            .expect("input")
            .ends_with("reports.mbox (message 2)")
    );

    // A Maildir: reports in new/ and cur/, a personal mail, and a delivery still in tmp/.
    let maildir = dir.file("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
    }
    std::fs::write(maildir.join("new/1.host"), report_mail(2, "example.com")).expect("write");
    std::fs::write(
        maildir.join("cur/2.host:2,S"),
        report_mail(3, "example.com"),
    )
    .expect("write");
    std::fs::write(maildir.join("cur/3.host:2,S"), plain).expect("write");
    std::fs::write(maildir.join("tmp/4.host"), report_mail(4, "example.com")).expect("write");
    let output = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &store,
        &maildir.to_string_lossy(),
    ]);
    assert_eq!(
        result_names(&output),
        ["imported", "imported", "not-a-report"]
    );
    // The same mailboxes again: everything already stored.
    let output = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &store,
        &mbox_path.to_string_lossy(),
    ]);
    assert_eq!(
        result_names(&output),
        ["duplicate", "not-a-report", "duplicate"]
    );
    assert_eq!(
        list(&store)["reports"].as_array().expect("reports").len(),
        4
    );
}

#[test]
fn summary_counts_per_policy_type_and_never_adds_them() {
    let dir = TempDir::new("reports-summary");
    let store = sqlite(&dir, "r.db");
    let report = dir.file("r.json");
    std::fs::write(&report, report_json(5, "example.com")).expect("write");
    let output = run(&[
        "reports",
        "import",
        "--store",
        &store,
        &report.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = run(&[
        "reports",
        "summary",
        "--json",
        "--domain",
        "example.com",
        "--days",
        "3660",
        "--store",
        &store,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(summary["total"]["reports"], 1);
    let policies = summary["total"]["policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 2);
    for policy in policies {
        assert_eq!(policy["successful"], 105);
        assert_eq!(policy["failed"], 6);
    }
    let output = run(&[
        "reports",
        "summary",
        "--domain",
        "example.com",
        "--days",
        "3660",
        "--store",
        &store,
    ]);
    let human = text(&output.stdout);
    assert!(
        human.contains("sts: 105 successful, 6 failed sessions"),
        "{human}"
    );
    assert!(
        human.contains("tlsa: 105 successful, 6 failed sessions"),
        "{human}"
    );
}

#[test]
fn kill_9_during_a_large_import_leaves_no_half_report() {
    let dir = TempDir::new("reports-kill");
    let store = sqlite(&dir, "r.db");
    let total = 20_000;
    let mut mbox = String::new();
    for number in 0..total {
        mbox.push_str("From tlsrpt@generator.example Mon Dec  7 00:00:00 2026\n");
        mbox.push_str(&report_mail(number, "example.com"));
        mbox.push('\n');
    }
    let mbox_path = dir.file("big.mbox");
    std::fs::write(&mbox_path, &mbox).expect("write");
    let mut child = Command::new(BIN)
        .args([
            "reports",
            "import",
            "--json",
            "--store",
            &store,
            &mbox_path.to_string_lossy(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The first result line is printed once the first batch is committed: kill while the next
    // batches are being examined or written.
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first result").expect("a line");
    assert!(first.contains("imported"), "{first}");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let listed = list(&store);
    let reports = listed["reports"].as_array().expect("reports");
    assert!(
        !reports.is_empty() && reports.len() < total,
        "killed part way: {}",
        reports.len()
    );
    for report in reports {
        let policies = report["policies"].as_array().expect("policies");
        assert_eq!(policies.len(), 2, "a whole report: {report}");
        for policy in policies {
            assert_eq!(
                policy["failures"].as_array().expect("failures").len(),
                3,
                "{report}"
            );
        }
    }
    // Importing again takes the rest, and every report is there once.
    let output = run(&[
        "reports",
        "import",
        "--json",
        "--store",
        &store,
        &mbox_path.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let names = result_names(&output);
    let imported = names.iter().filter(|n| *n == "imported").count();
    assert_eq!(imported + reports.len(), total);
    assert_eq!(
        list(&store)["reports"].as_array().expect("reports").len(),
        total
    );
}
