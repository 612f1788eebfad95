//! Every way a report arrives, end to end, with the real binary on loopback: each real fixture
//! (see PROVENANCE.md beside them) by file (`reports import PATH`), by pipe (`reports import -`),
//! from a private dovecot over IMAP (`reports fetch`) and by HTTPS POST to `mta-sts serve`.
//! Into four stores, the four give the same `reports list --json`; into one store, each report
//! is stored once and every later path says it was already stored. Every command reads its
//! store and domains from one configuration file (`--config`), as an administrator would set
//! it up. On SQLite, and on PostgreSQL when `MTA_STS_TEST_POSTGRES` names a server.

mod serve_harness;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mta_sts_reports::DomainFilter;
use mta_sts_reports::examine::{Examined, examine_report, policy_domains};
use mta_sts_reports::imap::Security;
use mta_sts_reports::imap::dovecot::{self, Dovecot};
use mta_sts_reports::message::report_attachments;
use mta_sts_reports::payload::{PayloadKind, sniff};
use mta_sts_store::test_support::TestDatabase;
use serde_json::Value;
use serve_harness::{BIN, Server, TempDir, TestCa, path_arg, request};

/// The real reports other projects keep as fixtures: JSON, gzip and mail.
const FIXTURES: &[&str] = &[
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

/// The four paths, in the order the one-store run takes them.
const PATHS: [&str; 4] = ["file", "pipe", "imap", "https"];

/// One fixture in the form each path carries it.
struct Fixture {
    name: &'static str,
    /// The file as it is: what `import PATH` reads and `import -` is piped.
    path: PathBuf,
    /// A mail message holding the report (the fixture itself when it is one), for IMAP.
    mail: Vec<u8>,
    /// The report by itself (JSON or gzip), as a reporter POSTs it, and its media type.
    report: Vec<u8>,
    media_type: &'static str,
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mta-sts-reports/tests/fixtures")
        .join(name)
}

fn load(name: &'static str) -> Fixture {
    let path = fixture_path(name);
    let raw = std::fs::read(&path).expect("fixture");
    let media_type = |bytes: &[u8]| match sniff(bytes) {
        PayloadKind::Gzip => "application/tlsrpt+gzip",
        PayloadKind::Json => "application/tlsrpt+json",
        other => panic!("{name}: a report of kind {other:?} cannot be POSTed"),
    };
    if name.ends_with(".eml") {
        // A reporter POSTs the attachment its mail carries.
        let mail = report_attachments(&raw).expect("a mail");
        let attachment = mail
            .attachments
            .into_iter()
            .find(|a| a.kind.is_report())
            .unwrap_or_else(|| panic!("{name} carries no report"));
        let kind = media_type(&attachment.bytes);
        return Fixture {
            name,
            path,
            mail: raw,
            report: attachment.bytes,
            media_type: kind,
        };
    }
    // A mail for the IMAP path: the report as plain JSON in an `application/tlsrpt+json` part
    // (the gzip decompressed: IMAP APPEND carries no NUL bytes without base64).
    let mut json = Vec::new();
    if sniff(&raw) == PayloadKind::Gzip {
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut json)
            .expect("gunzip");
    } else {
        json.clone_from(&raw);
    }
    let mut mail = format!(
        "From: tlsrpt@reporter.example\r\nTo: tlsrpt@paths.test\r\nSubject: Report {name}\r\n\
         MIME-Version: 1.0\r\nContent-Type: application/tlsrpt+json\r\n\r\n"
    )
    .into_bytes();
    mail.extend_from_slice(&json);
    Fixture {
        name,
        path,
        mail,
        media_type: media_type(&raw),
        report: raw,
    }
}

/// The policy domains of every fixture: the configuration's `domains`.
fn domains_of(fixtures: &[Fixture]) -> Vec<String> {
    let mut domains = Vec::new();
    for fixture in fixtures {
        let Examined::Accepted(accepted) =
            examine_report(&fixture.report, &DomainFilter::Any, None)
        else {
            panic!("{} is not a readable report", fixture.name);
        };
        for domain in policy_domains(&accepted.report) {
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
    }
    domains
}

/// A configuration file as `mta-sts serve` reads it, used by every command.
fn write_config(dir: &TempDir, name: &str, store: &str, domains: &[String]) -> String {
    let path = dir.path(name);
    let value = toml_list(domains);
    std::fs::write(&path, format!("domains = {value}\nstore = {store:?}\n")).expect("config");
    path_arg(&path)
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--json` results: the `result` of each line.
fn result_names(output: &Output) -> Vec<String> {
    text(&output.stdout)
        .lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            value["result"].as_str().expect("result").to_string()
        })
        .collect()
}

fn list(config: &str) -> Value {
    let output = Command::new(BIN)
        .args(["reports", "list", "--json", "--config", config])
        .output()
        .expect("run reports list");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("list --json is JSON")
}

/// What one path said about one fixture: the exit status (or HTTP status) and the results.
#[derive(Debug)]
struct Said {
    status: i32,
    results: Vec<String>,
}

fn by_file(config: &str, fixture: &Fixture) -> Said {
    let output = Command::new(BIN)
        .args(["reports", "import", "--json", "--config", config])
        .arg(&fixture.path)
        .output()
        .expect("run reports import");
    said(&output)
}

fn by_pipe(config: &str, fixture: &Fixture) -> Said {
    let mut child = Command::new(BIN)
        .args(["reports", "import", "--json", "--config", config, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn reports import");
    let bytes = std::fs::read(&fixture.path).expect("fixture");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&bytes).expect("pipe the fixture");
    drop(stdin);
    said(&child.wait_with_output().expect("wait reports import"))
}

async fn by_imap(server: &Dovecot, config: &str, fixture: &Fixture) -> Said {
    server.append("INBOX", &fixture.mail).await;
    let output = Command::new(BIN)
        .args(["reports", "fetch", "--json", "--config", config, "--imap"])
        .arg(server.url(Security::ImplicitTls, "INBOX").to_string())
        .arg("--ca-file")
        .arg(server.ca_file())
        .env("MTA_STS_IMAP_PASSWORD", dovecot::PASSWORD)
        .output()
        .expect("run reports fetch");
    assert!(
        server.messages("INBOX").is_empty(),
        "{}: the fetched message left the inbox",
        fixture.name
    );
    said(&output)
}

async fn by_post(server: &Server, ca: &TestCa, fixture: &Fixture) -> Said {
    let answer = request(
        server.https.expect("https"),
        Some(&ca.client()),
        "POST",
        "/tlsrpt",
        &[("content-type", fixture.media_type)],
        fixture.report.clone(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}: {}", fixture.name, answer.body);
    let result = if answer.body.contains("was already stored") {
        "duplicate"
    } else {
        assert!(answer.body.contains("is stored"), "{}", answer.body);
        "imported"
    };
    Said {
        status: i32::from(answer.status),
        results: vec![result.to_string()],
    }
}

fn said(output: &Output) -> Said {
    Said {
        status: output.status.code().unwrap_or(-1),
        results: result_names(output),
    }
}

/// Starts `mta-sts serve` on HTTPS (loopback, a free port) with the configuration file.
fn serve(ca: &TestCa, config: &str) -> Server {
    let cert = path_arg(&ca.cert);
    let key = path_arg(&ca.key);
    Server::start(&[
        "--config",
        config,
        "--https",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
    ])
}

/// The whole test on four stores and then one (`stores[4]`).
async fn every_path_on(stores: [&str; 5]) {
    let Some(dovecot) = Dovecot::start() else {
        return;
    };
    let fixtures: Vec<Fixture> = FIXTURES.iter().map(|name| load(name)).collect();
    let domains = domains_of(&fixtures);
    let dir = TempDir::new("paths");
    let ca = TestCa::new(&dir);
    let configs: Vec<String> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| write_config(&dir, &format!("config-{i}.toml"), store, &domains))
        .collect();

    // Each path into its own store.
    let server = serve(&ca, &configs[3]);
    for fixture in &fixtures {
        let said = [
            by_file(&configs[0], fixture),
            by_pipe(&configs[1], fixture),
            by_imap(&dovecot, &configs[2], fixture).await,
            by_post(&server, &ca, fixture).await,
        ];
        for (path, said) in PATHS.iter().zip(&said) {
            let status = if *path == "https" { 200 } else { 0 };
            assert_eq!(said.status, status, "{}: {path}: {said:?}", fixture.name);
            assert_eq!(said.results.len(), 1, "{}: {path}: {said:?}", fixture.name);
        }
        // The four stores have seen the same fixtures so far: each says the same.
        let first = &said[0].results;
        for (path, said) in PATHS.iter().zip(&said) {
            assert_eq!(
                &said.results, first,
                "{}: {path} differs from file",
                fixture.name
            );
        }
    }
    drop(server);
    let by_file_rows = list(&configs[0]);
    let count = by_file_rows["reports"].as_array().expect("reports").len();
    // Seven distinct reports: the .json.gz and the Stalwart copies repeat others.
    assert_eq!(count, 7, "{by_file_rows}");
    for (path, config) in PATHS.iter().zip(&configs).skip(1) {
        assert_eq!(
            list(config),
            by_file_rows,
            "{path} gives other rows than file"
        );
    }

    // Every path into one store: the first stores each report, every other says duplicate.
    let one = &configs[4];
    let server = serve(&ca, one);
    for fixture in &fixtures {
        let said = [
            by_file(one, fixture),
            by_pipe(one, fixture),
            by_imap(&dovecot, one, fixture).await,
            by_post(&server, &ca, fixture).await,
        ];
        assert_eq!(said[0].status, 0, "{}: file: {:?}", fixture.name, said[0]);
        assert_eq!(said[0].results.len(), 1, "{}: {:?}", fixture.name, said[0]);
        assert!(
            ["imported", "duplicate"].contains(&said[0].results[0].as_str()),
            "{}: file: {:?}",
            fixture.name,
            said[0]
        );
        for (path, said) in PATHS.iter().zip(&said).skip(1) {
            let status = if *path == "https" { 200 } else { 0 };
            assert_eq!(said.status, status, "{}: {path}: {said:?}", fixture.name);
            assert_eq!(said.results, ["duplicate"], "{}: {path}", fixture.name);
        }
    }
    drop(server);
    assert_eq!(list(one), by_file_rows, "one store holds each report once");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_by_every_path_on_sqlite() {
    let dir = TempDir::new("paths-sqlite");
    let stores: Vec<String> = ["file", "pipe", "imap", "https", "one"]
        .iter()
        .map(|name| format!("sqlite:{}", dir.path(&format!("{name}.db")).display()))
        .collect();
    every_path_on([&stores[0], &stores[1], &stores[2], &stores[3], &stores[4]]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_by_every_path_on_postgres() {
    let mut databases = Vec::new();
    for name in ["file", "pipe", "imap", "https", "one"] {
        let Some(database) = TestDatabase::create(&format!("paths by {name}")).await else {
            return;
        };
        databases.push(database);
    }
    let urls: Vec<&str> = databases.iter().map(TestDatabase::url).collect();
    every_path_on([urls[0], urls[1], urls[2], urls[3], urls[4]]).await;
}
