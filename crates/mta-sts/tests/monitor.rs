//! `mta-sts monitor once` as a cron user runs it: the real binary against the lab over real
//! sockets, the lab changed between runs (`Lab::update`).

use std::process::{Command, Output};

use mta_sts_lab::{Lab, Scenario};
use mta_sts_store::test_support::TempDir;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");
const DOMAIN: &str = "healthy-enforce.test";

/// Runs `mta-sts monitor once` with the lab's resolver, CA and ports after `args` (the lab
/// serving on the other worker threads meanwhile).
fn monitor_once(lab: &Lab, store: &str, args: &[&str]) -> Output {
    tokio::task::block_in_place(|| monitor_once_blocking(lab, store, args))
}

fn monitor_once_blocking(lab: &Lab, store: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["monitor", "once", "--store", store])
        .args(args)
        .args([
            "--resolver",
            &lab.dns_addr().to_string(),
            "--ca-file",
            &lab.ca_file().to_string_lossy(),
            "--https-port",
            &lab.https_port().to_string(),
            "--smtp-port",
            &lab.smtp_port().to_string(),
            "--timeout",
            "1.5",
        ])
        .output()
        .expect("run mta-sts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The events of a `--json` run, without their times and messages (checked apart).
fn events(output: &Output) -> Vec<Value> {
    let value: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)));
    value["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| {
            for key in ["message", "at"] {
                assert!(event[key].is_string(), "{event}");
            }
            json!({
                "domain": event["domain"],
                "code": event["code"],
                "subject": event["subject"],
                "state": event["state"],
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_once_prints_each_event_raised_and_cleared_and_exits_by_what_is_open() {
    let mut lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-once");
    let store = format!("sqlite:{}", dir.file("monitor.db").display());
    let original: Scenario = lab.scenario("healthy-enforce").expect("scenario").clone();

    // A healthy domain: nothing raised, nothing open.
    let output = monitor_once(&lab, &store, &["--domain", DOMAIN, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(events(&output), Vec::<Value>::new());

    // The policy host answers 503: raised, exit 1 while it is open.
    lab.update(DOMAIN, |s| {
        for host in &mut s.policy_hosts {
            host.response.status = 503;
        }
    })
    .expect("valid change");
    let output = monitor_once(&lab, &store, &["--domain", DOMAIN, "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        events(&output),
        [
            json!({"domain": DOMAIN, "code": "policy-host-unreachable", "subject": DOMAIN,
                "state": "raised"})
        ]
    );
    let value: Value = serde_json::from_slice(&output.stdout).expect("json");
    let message = value["events"][0]["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("mta-sts.{DOMAIN}")) && message.contains("HTTP 503"),
        "{message}"
    );
    // Run again in text: nothing new to say, still open.
    let output = monitor_once(&lab, &store, &["--domain", DOMAIN]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "");

    // Back: one sentence saying it cleared, exit 0.
    lab.update(DOMAIN, move |s| *s = original)
        .expect("valid change");
    let output = monitor_once(&lab, &store, &["--domain", &DOMAIN.to_uppercase()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("cleared policy-host-unreachable: The policy host of healthy-enforce.test answers again as of "),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_once_refuses_what_it_cannot_run_with_exit_2() {
    let lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-refused");
    let store = format!("sqlite:{}", dir.file("monitor.db").display());
    // A name that is not a domain, named, and nothing checked (not even the good one).
    let output = monitor_once(
        &lab,
        &store,
        &["--domain", DOMAIN, "--domain", "not a domain"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("not a domain is not a mail domain"),
        "{stderr}"
    );
    assert!(!dir.file("monitor.db").exists(), "nothing ran");
    // No domain at all.
    let output = monitor_once(&lab, &store, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no domain to monitor"));
    // A store that cannot be opened.
    let blocker = dir.file("file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let bad_store = format!("sqlite:{}/monitor.db", blocker.display());
    let output = monitor_once(&lab, &bad_store, &["--domain", DOMAIN]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot open the report store"),
        "{}",
        text(&output.stderr)
    );
    lab.shutdown().await;
}

/// `mta-sts serve`'s configuration names the domains, the store and how to check: a run with
/// `--config` alone monitors them all; a finding of the checker is an event of its own code.
#[tokio::test(flavor = "multi_thread")]
async fn monitor_once_reads_the_domains_and_check_settings_of_the_configuration() {
    let lab = Lab::start().await.expect("lab");
    let dir = TempDir::new("monitor-config");
    let store = format!("sqlite:{}", dir.file("monitor.db").display());
    let testing = lab
        .scenario("mode-testing")
        .expect("scenario")
        .domain
        .clone();
    let config = dir.file("serve.toml");
    std::fs::write(
        &config,
        format!(
            "domains = [\"{DOMAIN}\", \"{testing}\"]\nstore = \"{store}\"\n\n[check]\n\
             resolver = \"{}\"\nca_file = \"{}\"\nhttps_port = {}\nsmtp_port = {}\ntimeout = 2\n",
            lab.dns_addr(),
            lab.ca_file().display(),
            lab.https_port(),
            lab.smtp_port()
        ),
    )
    .expect("configuration written");
    let output = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(["monitor", "once", "--json", "--config"])
            .arg(&config)
            .output()
            .expect("run mta-sts")
    });
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        events(&output),
        [
            json!({"domain": testing, "code": "policy-mode-testing", "subject": testing,
                "state": "raised"})
        ]
    );
    lab.shutdown().await;
}
