//! `mta-sts tlsrpt report`: the real binary builds a day's reports from the sender store
//! (SQLite, and PostgreSQL through `MTA_STS_TEST_POSTGRES`) and writes them as files, which are
//! read back with core's report reader and linted strictly; and the whole chain, datagrams
//! through `mta-sts tlsrpt collect`'s socket to the report files.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mta_sts_core::report::{
    self, AppliedPolicy, FailureDetail, PolicyResult, PolicyType, ResultType, Summary,
};
use mta_sts_core::report_lint;
use mta_sts_core::time::UtcDate;
use mta_sts_core::{SessionCounts, Severity};
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::{CountBatch, DayCounts, SenderStore};
use mta_sts_store::test_support::{TempDir, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");
const DAY: &str = "2026-12-06";
const RECORD: &str = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn counts(
    domain: &str,
    record: &str,
    policy: AppliedPolicy,
    ok: u64,
    failures: Vec<FailureDetail>,
) -> SessionCounts {
    SessionCounts {
        domain: domain.into(),
        tlsrpt_record: record.into(),
        result: PolicyResult {
            policy,
            summary: Summary {
                total_successful_session_count: ok,
                total_failure_session_count: failures.iter().map(|f| f.failed_session_count).sum(),
            },
            failure_details: failures,
        },
    }
}

fn sts(domain: &str) -> AppliedPolicy {
    AppliedPolicy {
        policy_type: PolicyType::Sts,
        policy_string: vec![
            "version: STSv1".into(),
            "mode: testing".into(),
            format!("mx: mx.{domain}"),
            "max_age: 86400".into(),
        ],
        policy_domain: Some(domain.into()),
        mx_host: vec![format!("mx.{domain}")],
    }
}

fn expired(count: u64) -> FailureDetail {
    FailureDetail {
        result_type: ResultType::CertificateExpired,
        sending_mta_ip: Some("192.0.2.1".into()),
        receiving_mx_hostname: Some("mx.example.com".into()),
        receiving_mx_helo: None,
        receiving_ip: Some("198.51.100.7".into()),
        failed_session_count: count,
        additional_information: None,
        failure_reason_code: Some("X509_V_ERR_CERT_HAS_EXPIRED".into()),
    }
}

/// The day's counts: a domain with failures, one with `no-policy-found` and a bare-address
/// `rua` beside a good one, one whose record has no `rua`, one without a record.
fn day_counts() -> Vec<SessionCounts> {
    vec![
        counts(
            "example.com",
            RECORD,
            sts("example.com"),
            120,
            vec![expired(3)],
        ),
        counts(
            "example.org",
            "v=TLSRPTv1; rua=reports@example.org,mailto:tls@example.org",
            AppliedPolicy {
                policy_type: PolicyType::NoPolicyFound,
                policy_string: vec![],
                policy_domain: None,
                mx_host: vec![],
            },
            12,
            vec![],
        ),
        counts("example.net", "v=TLSRPTv1;", sts("example.net"), 4, vec![]),
        counts("quiet.example", "", sts("quiet.example"), 4, vec![]),
    ]
}

async fn fill(store: &StoreUrl, day: UtcDate, counts: Vec<SessionCounts>) {
    let store = SenderStore::open(store)
        .await
        .expect("open the sender store");
    let batch = CountBatch {
        counts: counts
            .into_iter()
            .map(|counts| DayCounts { day, counts })
            .collect(),
        figures: vec![],
    };
    store.add(&batch).await.expect("add the counts");
}

fn report(store: &str, out: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["tlsrpt", "report", "--store", store, "--out"])
        .arg(out)
        .args([
            "--organization-name",
            "Example Mail",
            "--contact-info",
            "postmaster@mail.example.net",
        ])
        .args(args)
        .output()
        .expect("run mta-sts")
}

/// The files in `dir`, sorted by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read the output directory")
        .map(|entry| {
            let entry = entry.expect("entry");
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).expect("read a report"),
            )
        })
        .collect();
    files.sort();
    files
}

/// Runs `report` on a store filled with [`day_counts`] and checks the files it wrote.
fn reports_are_written_and_valid(store: &str) {
    let out = TempDir::new("tlsrpt-report-out");
    let run = report(store, out.path(), &["--day", DAY]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));

    let written = files(out.path());
    let names: Vec<&str> = written.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "mail.example.net!example.com!1796515200!1796601599!1.json",
            "mail.example.net!example.org!1796515200!1796601599!1.json",
        ]
    );
    for (name, bytes) in &written {
        let lint = report_lint::lint(bytes);
        assert!(lint.valid, "{name}: {:?}", lint.diagnostics);
        assert!(
            lint.diagnostics
                .iter()
                .all(|d| d.severity == Severity::Info),
            "{name}: {:?}",
            lint.diagnostics
        );
        let read = report::read(bytes).expect("read back");
        assert_eq!(read.organization_name, "Example Mail");
        assert_eq!(read.date_range.start.to_string(), "2026-12-06T00:00:00Z");
        assert_eq!(read.date_range.end.to_string(), "2026-12-06T23:59:59Z");
    }
    let com = report::read(&written[0].1).expect("example.com");
    assert_eq!(com.report_id, "2026-12-06T00:00:00Z_idx1_example.com");
    assert_eq!(com.policies[0].summary.total_successful_session_count, 120);
    assert_eq!(com.policies[0].summary.total_failure_session_count, 3);
    assert_eq!(com.policies[0].failure_details[0].failed_session_count, 3);
    let org = report::read(&written[1].1).expect("example.org");
    // tlsrpt-reporter #51: `policy-domain` is there for no-policy-found too.
    assert_eq!(
        org.policies[0].policy.policy_domain.as_deref(),
        Some("example.org")
    );

    // What it wrote and what it skipped, in sentences.
    assert!(
        stdout.contains("for mailto:tlsrpt@example.com, https://reports.example.com/v1."),
        "{stdout}"
    );
    assert!(
        stdout.contains("`reports@example.org` is an address"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped: no report for example.net"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 domain has no TLSRPT record, so no report."),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "2 reports for 2026-12-06 written as submitter mail.example.net; 2 skipped.\n"
        ),
        "{stdout}"
    );

    // --gzip writes what is sent; the same report inside.
    let gzip_out = TempDir::new("tlsrpt-report-gzip");
    let run = report(store, gzip_out.path(), &["--day", DAY, "--gzip"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let gzipped = files(gzip_out.path());
    assert_eq!(gzipped.len(), 2);
    assert!(gzipped[0].0.ends_with("!1.json.gz"), "{}", gzipped[0].0);
    assert_eq!(
        report::decode(&gzipped[0].1).expect("gunzip"),
        written[0].1,
        "the gzip holds the JSON written without --gzip"
    );

    // --json: the same, for scripts.
    let json_out = TempDir::new("tlsrpt-report-json");
    let run = report(store, json_out.path(), &["--day", DAY, "--json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let manifest: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!(manifest["day"], DAY);
    assert_eq!(manifest["submitter"], "mail.example.net");
    let reports = manifest["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0]["destinations"],
        serde_json::json!([
            "mailto:tlsrpt@example.com",
            "https://reports.example.com/v1"
        ])
    );
    assert_eq!(
        reports[0]["report_id"],
        "2026-12-06T00:00:00Z_idx1_example.com"
    );
    assert!(
        reports[1]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("!example.org!1796515200!1796601599!1.json"))
    );
    assert_eq!(reports[1]["notes"].as_array().map(Vec::len), Some(1));
    let reasons: Vec<(&str, &str)> = manifest["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["domain"].as_str().expect("domain"),
                s["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("example.net", "record-unusable"),
            ("quiet.example", "no-record")
        ]
    );

    // A rebuild writes the same bytes.
    let run = report(store, out.path(), &["--day", DAY]);
    assert!(run.status.success());
    assert_eq!(files(out.path()), written);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_writes_a_days_reports_from_sqlite() {
    let dir = TempDir::new("tlsrpt-report-sqlite");
    let url = format!("sqlite:{}", dir.file("sender.db").display());
    let store: StoreUrl = url.parse().expect("url");
    fill(&store, UtcDate::parse(DAY).expect("day"), day_counts()).await;
    tokio::task::block_in_place(|| reports_are_written_and_valid(&url));
}

#[tokio::test(flavor = "multi_thread")]
async fn report_writes_a_days_reports_from_postgres() {
    let Some(database) = TestDatabase::create("tlsrpt report on PostgreSQL").await else {
        return;
    };
    fill(
        &database.store_url(),
        UtcDate::parse(DAY).expect("day"),
        day_counts(),
    )
    .await;
    tokio::task::block_in_place(|| reports_are_written_and_valid(database.url()));
}

#[tokio::test(flavor = "multi_thread")]
async fn options_and_days_from_the_command_line() {
    let dir = TempDir::new("tlsrpt-report-options");
    let url = format!("sqlite:{}", dir.file("sender.db").display());
    let store: StoreUrl = url.parse().expect("url");
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let today =
        UtcDate::from_day_number(i64::try_from(seconds / 86_400).expect("a day")).expect("today");
    // Today and tomorrow, so a run that crosses midnight still finds today's counts.
    fill(&store, today, day_counts()).await;
    let tomorrow = UtcDate::from_day_number(today.day_number() + 1).expect("tomorrow");
    fill(&store, tomorrow, day_counts()).await;
    let suppress = dir.file("suppress.txt");
    std::fs::write(&suppress, "# not this one\nexample.com\n").expect("write the list");

    tokio::task::block_in_place(|| {
        // Today, partial; example.org has no failure, example.com is suppressed: nothing left.
        let out = TempDir::new("tlsrpt-report-today");
        let run = report(
            &url,
            out.path(),
            &[
                "--day",
                "today",
                "--only-with-failures",
                "--suppress",
                &suppress.to_string_lossy(),
                "--submitter",
                "reports.example.net",
            ],
        );
        let stdout = text(&run.stdout);
        assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
        assert!(files(out.path()).is_empty(), "{stdout}");
        assert!(
            stdout.contains("example.com") && stdout.contains("suppression list"),
            "{stdout}"
        );
        assert!(stdout.contains("only_with_failures"), "{stdout}");

        // A day without counts.
        let run = report(&url, out.path(), &["--day", "2000-01-01"]);
        assert!(run.status.success());
        assert!(
            text(&run.stdout).contains("No sessions were counted on"),
            "{}",
            text(&run.stdout)
        );

        // Bad input: a sentence and exit 2, nothing written.
        std::fs::write(&suppress, "example.com\nftp://x.example\n").expect("write the list");
        for args in [
            vec!["--day", "tomorrow"],
            vec!["--day", "2026-02-30"],
            vec!["--day", "today", "--suppress", &suppress.to_string_lossy()],
            vec!["--day", "today", "--max-size", "10"],
        ] {
            let run = report(&url, out.path(), &args);
            assert_eq!(run.status.code(), Some(2), "{args:?}");
            let stderr = text(&run.stderr);
            assert!(
                !stderr.contains("Error {") && !stderr.is_empty(),
                "{args:?}: {stderr}"
            );
        }
        let stderr = text(
            &report(
                &url,
                out.path(),
                &["--day", "today", "--suppress", &suppress.to_string_lossy()],
            )
            .stderr,
        );
        assert!(stderr.contains("line 2"), "{stderr}");
        assert!(files(out.path()).is_empty());
    });
}

/// Datagrams as libtlsrpt writes them: successes and failures under MTA-STS, DANE with a
/// failure, `no-policy-found` without `policy-domain`, a Unicode recipient domain, a record whose
/// first `rua` has no scheme.
const DATAGRAMS: &[(&str, usize)] = &[
    (
        r#"{"dpv":"1","d":"example.com","pr":"v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain":"example.com","policy-string":["version: STSv1","mode: enforce","mx: mail.example.com","max_age: 86400"],"mx-host":["mail.example.com"],"t":0,"f":0}]}"#,
        30,
    ),
    (
        r#"{"dpv":"1","d":"Example.COM.","pr":"v=TLSRPTv1; rua=mailto:tlsrpt@example.com","policies":[{"policy-type":2,"policy-domain":"example.com","policy-string":["version: STSv1","mode: enforce","mx: mail.example.com","max_age: 86400"],"mx-host":["mail.example.com"],"failure-details":[{"c":204,"s":"192.0.2.25","n":"mail.example.com","r":"198.51.100.25","f":"certificate has expired"}],"t":1,"f":1}]}"#,
        4,
    ),
    (
        r#"{"dpv":"1","d":"dane.example","pr":"v=TLSRPTv1;rua=https://reports.dane.example/tlsrpt","policies":[{"policy-type":1,"policy-domain":"dane.example","policy-string":["3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],"failure-details":[{"c":304,"s":"192.0.2.25","n":"mx.dane.example","r":"2001:db8::25"}],"t":1,"f":1}]}"#,
        2,
    ),
    (
        r#"{"dpv":"1","d":"plain.example","pr":"v=TLSRPTv1; rua=reports@plain.example,mailto:tls@plain.example","policies":[{"policy-type":9,"t":0,"f":0}]}"#,
        5,
    ),
    (
        r#"{"dpv":"1","d":"bücher.example","pr":"v=TLSRPTv1; rua=mailto:tls@xn--bcher-kva.example","policies":[{"policy-type":9,"t":0,"f":0}]}"#,
        1,
    ),
];

/// What the reports say about one policy domain: successful and failed sessions, and each
/// failure as `result-type` x count.
type Reported = (u64, u64, Vec<String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_collected_become_report_files() {
    let dir = TempDir::new("tlsrpt-chain");
    let url = format!("sqlite:{}", dir.file("sender.db").display());
    let socket = dir.file("collectd.sock");
    let notify_path = dir.file("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let next = || {
        let mut buffer = [0u8; 512];
        let n = notify.recv(&mut buffer).expect("a notification");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let mut collector = Command::new(BIN)
        .args(["tlsrpt", "collect", "--store", &url, "--socket"])
        .arg(&socket)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the collector");
    assert_eq!(next(), "READY=1");
    let sender = UnixDatagram::unbound().expect("a socket");
    for (datagram, times) in DATAGRAMS {
        for _ in 0..*times {
            sender.send_to(datagram.as_bytes(), &socket).expect("send");
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &collector.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert_eq!(next(), "STOPPING=1");
    assert!(collector.wait().expect("the collector stops").success());

    // Counted on the collector's day (two, should the run cross midnight): report each.
    let store: StoreUrl = url.parse().expect("url");
    let days = SenderStore::open(&store)
        .await
        .expect("open")
        .days()
        .await
        .expect("days");
    assert!(!days.is_empty() && days.len() <= 2, "{days:?}");
    let out = TempDir::new("tlsrpt-chain-out");
    tokio::task::block_in_place(|| {
        for day in &days {
            let run = report(&url, out.path(), &["--day", &day.to_string(), "--gzip"]);
            assert!(
                run.status.success(),
                "{}{}",
                text(&run.stdout),
                text(&run.stderr)
            );
        }
    });

    let mut by_domain: std::collections::BTreeMap<String, Reported> =
        std::collections::BTreeMap::new();
    for (name, bytes) in files(out.path()) {
        assert!(name.starts_with("mail.example.net!"), "{name}");
        assert!(name.ends_with(".json.gz"), "{name}");
        let lint = report_lint::lint(&bytes);
        assert!(lint.valid, "{name}: {:?}", lint.diagnostics);
        assert!(
            lint.diagnostics
                .iter()
                .all(|d| d.severity == Severity::Info),
            "{name}: {:?}",
            lint.diagnostics
        );
        let read = report::read(&bytes).expect("read back");
        for policy in &read.policies {
            let domain = policy.policy.policy_domain.clone().expect("policy-domain");
            let entry = by_domain.entry(domain).or_default();
            entry.0 += policy.summary.total_successful_session_count;
            entry.1 += policy.summary.total_failure_session_count;
            entry.2.extend(
                policy
                    .failure_details
                    .iter()
                    .map(|d| format!("{}x{}", d.result_type, d.failed_session_count)),
            );
        }
    }
    let expected: Vec<(&str, Reported)> = vec![
        ("dane.example", (0, 2, vec!["tlsa-invalidx2".into()])),
        ("example.com", (30, 4, vec!["certificate-expiredx4".into()])),
        ("plain.example", (5, 0, vec![])),
        ("xn--bcher-kva.example", (1, 0, vec![])),
    ];
    let found: Vec<(&str, Reported)> = by_domain
        .iter()
        .map(|(domain, counts)| (domain.as_str(), counts.clone()))
        .collect();
    assert_eq!(found, expected);
}
