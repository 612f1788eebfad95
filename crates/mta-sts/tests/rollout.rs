//! `mta-sts rollout` as a domain owner runs it: the lab's generated reports taken in with
//! `mta-sts reports import`, then the advice over the lab's real DNS, HTTPS and SMTP, with its
//! exit status (0 ready, 1 not ready, 2 could not run).

use std::process::{Command, Output};

use mta_sts_core::time::UtcDate;
use mta_sts_core::{Clock, Timestamp};
use mta_sts_lab::{Lab, Organization, ReportPlan};
use mta_sts_net::SystemClock;
use mta_sts_store::test_support::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mta-sts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The day `back` days before `now`.
fn day(now: Timestamp, back: i64) -> UtcDate {
    UtcDate::from_day_number(now.utc_date().day_number() - back).expect("a day")
}

/// Writes the plan's reports as files and takes them in with `mta-sts reports import`.
fn import(plan: &ReportPlan, dir: &TempDir, store: &str) {
    let mut files = Vec::new();
    for report in plan.reports() {
        let file = dir.file(&report.file_name);
        std::fs::write(&file, &report.json).expect("written");
        files.push(file.to_string_lossy().into_owned());
    }
    let mut args = vec!["reports", "import", "--store", store];
    args.extend(files.iter().map(String::as_str));
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

/// `mta-sts rollout` against the lab.
fn rollout(lab: &Lab, store: &str, extra: &[&str]) -> Output {
    let dns = lab.dns_addr().to_string();
    let https = lab.https_port().to_string();
    let smtp = lab.smtp_port().to_string();
    let ca = lab.ca_file().to_string_lossy().into_owned();
    let mut args = vec![
        "rollout",
        "--store",
        store,
        "--resolver",
        &dns,
        "--ca-file",
        &ca,
        "--https-port",
        &https,
        "--smtp-port",
        &smtp,
        "--timeout",
        "1.5",
    ];
    args.extend_from_slice(extra);
    tokio::task::block_in_place(|| run(&args))
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_exits_0_not_ready_exits_1_with_every_reason() {
    let lab = Lab::start().await.expect("lab");
    let now = SystemClock.now();
    let dir = TempDir::new("rollout-cli");
    let store = format!("sqlite:{}", dir.file("reports.db").display());
    let domain = "mode-testing.test";
    let mx = "mx.mode-testing.test";
    let testing = format!("version: STSv1\nmode: testing\nmx: {mx}\nmax_age: 604800\n");
    import(
        &ReportPlan::new(domain, day(now, 13), 14).with_policy(day(now, 30), &testing),
        &dir,
        &store,
    );
    // Microsoft's reports, without a zone on their times, were taken in too.
    let output = rollout(&lab, &store, &["--json", domain]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let advice: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let keys: Vec<&String> = advice.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["domain", "next", "ready", "reasons", "stage"]);
    assert_eq!(advice["stage"], "testing");
    assert_eq!(advice["ready"], true);
    let enforce = format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 604800\n");
    assert_eq!(advice["next"]["policy"], enforce.as_str());
    let reporters = advice["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["code"] == "reporters")
        .expect("reporters judged");
    let names: Vec<&str> = reporters["evidence"]["reporters"]
        .as_array()
        .expect("reporters")
        .iter()
        .filter_map(|r| r["organization"].as_str())
        .collect();
    assert_eq!(names.len(), 3);
    for organization in Organization::ALL {
        assert!(names.contains(&organization.name()), "{names:?}");
    }

    // The same as sentences: the verdict, each reason, what to publish in which order.
    let output = rollout(&lab, &store, &[domain]);
    assert_eq!(output.status.code(), Some(0));
    let human = text(&output.stdout);
    assert!(
        human.starts_with("mode-testing.test: stage testing, READY to enforce"),
        "{human}"
    );
    assert!(
        human.contains("  ok   reporters: 3 organisations reported"),
        "{human}"
    );
    assert!(
        human.contains("To publish next, the policy first, then the record:"),
        "{human}"
    );
    assert!(human.contains("    mode: enforce"), "{human}");

    // Stricter thresholds than the evidence: not ready, exit 1, the failing reason first.
    let output = rollout(&lab, &store, &["--json", "--min-reporters", "4", domain]);
    assert_eq!(output.status.code(), Some(1));
    let advice: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(advice["ready"], false);
    assert_eq!(advice["reasons"][0]["code"], "reporters");
    assert_eq!(advice["reasons"][0]["ok"], false);
    assert!(
        advice["reasons"][0]["message"]
            .as_str()
            .expect("message")
            .contains("4 are needed"),
    );
    assert!(advice["next"].is_null());

    // `mta-sts serve`'s configuration gives the store, how to check and the thresholds (the
    // dashboard's), and the flags override it.
    let config = dir.file("serve.toml");
    std::fs::write(
        &config,
        format!(
            "domains = [\"{domain}\"]\nstore = \"{store}\"\n\n[check]\nresolver = \"{}\"\n\
             ca_file = \"{}\"\nhttps_port = {}\nsmtp_port = {}\ntimeout = 2\n\n[rollout]\n\
             min_reporters = 4\n",
            lab.dns_addr(),
            lab.ca_file().display(),
            lab.https_port(),
            lab.smtp_port()
        ),
    )
    .expect("configuration written");
    let config = config.to_string_lossy().into_owned();
    let configured = |extra: &[&str]| {
        let mut args = vec!["rollout", "--json", "--config", &config];
        args.extend_from_slice(extra);
        args.push(domain);
        tokio::task::block_in_place(|| run(&args))
    };
    let output = configured(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let advice: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(advice["reasons"][0]["code"], "reporters");
    assert_eq!(advice["reasons"][0]["evidence"]["required"], 4);
    let output = configured(&["--min-reporters", "3"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enforced_domain_with_failures_exits_1_naming_them() {
    let lab = Lab::start().await.expect("lab");
    let now = SystemClock.now();
    let dir = TempDir::new("rollout-cli");
    let store = format!("sqlite:{}", dir.file("reports.db").display());
    let domain = "mx-wrong-name.test";
    let mx = "mx.mx-wrong-name.test";
    let enforce = format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 604800\n");
    import(
        &ReportPlan::new(domain, day(now, 13), 14)
            .with_policy(day(now, 30), &enforce)
            .with_failure(mta_sts_lab::PlannedFailure {
                result_type: mta_sts_core::report::ResultType::CertificateHostMismatch,
                receiving_mx: mx.to_string(),
                sessions_per_day: 15,
                first_day: day(now, 2),
                last_day: day(now, 0),
                organizations: Vec::new(),
            }),
        &dir,
        &store,
    );
    let output = rollout(&lab, &store, &[domain]);
    assert_eq!(output.status.code(), Some(1));
    let human = text(&output.stdout);
    assert!(
        human.starts_with("mx-wrong-name.test: stage enforce, NOT READY to keep enforcing"),
        "{human}"
    );
    // The regression names the MX, the result type, the reporters, and what the live check
    // sees on that host now (the lab's wrong-name MX presents default.hosting.test).
    let regression = human
        .lines()
        .find(|line| line.starts_with("  FAIL regressions: "))
        .unwrap_or_else(|| panic!("no regression in {human}"));
    assert!(
        regression.contains(&format!("{mx} failed `certificate-host-mismatch` in "))
            && regression.contains("from 3 reporters")
            && regression.contains("while enforcing (throughout the window, since ")
            && regression.contains("its certificate names default.hosting.test"),
        "{regression}"
    );
    assert!(human.contains("  FAIL mx-certificates: the MX host mx.mx-wrong-name.test presents a certificate senders refuse"), "{human}");
    assert!(
        human.ends_with("\nNothing to publish yet: fix what fails above, then run this again.\n"),
        "{human}"
    );
    lab.shutdown().await;
}

#[test]
fn could_not_run_exits_2() {
    let dir = TempDir::new("rollout-cli");
    let store = format!("sqlite:{}", dir.file("reports.db").display());
    for (args, says) in [
        (
            vec!["rollout", "--store", store.as_str(), "not a domain"],
            "",
        ),
        (
            vec!["rollout", "--store", "mysql://nowhere", "example.com"],
            "",
        ),
        (
            vec![
                "rollout",
                "--store",
                store.as_str(),
                "--min-report-days",
                "20",
                "example.com",
            ],
            "20 days with reports cannot be found in a window of 14 days",
        ),
        (
            vec![
                "rollout",
                "--store",
                store.as_str(),
                "--max-failure-rate",
                "150",
                "example.com",
            ],
            "a share in percent from 0 to 100",
        ),
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = text(&output.stderr);
        // Ours start `mta-sts: `; clap's own start `error: `.
        assert!(
            stderr.starts_with("mta-sts: ") || stderr.starts_with("error: "),
            "{stderr}"
        );
        assert!(stderr.contains(says), "{stderr}");
    }
    // A store that cannot be opened (its directory is a file).
    let blocker = dir.file("not-a-directory");
    std::fs::write(&blocker, b"").expect("file");
    let store = format!("sqlite:{}/reports.db", blocker.display());
    let output = run(&["rollout", "--store", &store, "example.com"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot open the report store"),
        "{}",
        text(&output.stderr)
    );
}
