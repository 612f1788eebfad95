//! `mta-sts demo` and `mta-sts check` as a user runs them, against the lab over real sockets.

use std::process::{Command, Output};

use mta_sts_lab::Lab;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mta-sts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn demo_exits_0_when_every_scenario_behaves() {
    let output = run(&["demo"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let count = mta_sts_lab::catalog().len();
    assert!(
        text.contains(&format!("{count}/{count} scenarios behaved as declared")),
        "{text}"
    );
    assert!(text.contains("ok   policy-redirect.test"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    // The closing hint is a command that works as printed: the lab stops with the demo, so it
    // is the one that keeps it, and it says which flags the commands it prints carry.
    let hint = text
        .lines()
        .find(|line| line.starts_with("Explore:"))
        .unwrap_or_else(|| panic!("no hint in {text}"));
    assert!(hint.contains("`mta-sts demo --keep`"), "{hint}");
    for flag in ["--resolver", "--ca-file", "--https-port", "--smtp-port"] {
        assert!(hint.contains(flag), "{flag} missing from {hint}");
    }
    assert!(!hint.contains("..."), "{hint}");
}

#[test]
fn demo_json_lists_every_scenario() {
    let output = run(&["demo", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let outcomes = value.as_array().expect("array");
    assert_eq!(outcomes.len(), mta_sts_lab::catalog().len());
    for outcome in outcomes {
        assert_eq!(outcome["as_declared"], true, "{outcome}");
        assert_eq!(outcome["expected"], outcome["found"]);
    }
}

/// Runs `mta-sts check` against a lab started in this test.
fn check(lab: &Lab, extra: &[&str]) -> Output {
    let dns = lab.dns_addr().to_string();
    let https = lab.https_port().to_string();
    let smtp = lab.smtp_port().to_string();
    let ca = lab.ca_file().to_string_lossy().into_owned();
    let mut args = vec![
        "check",
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
    run(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_findings_with_fixes_and_exit_status() {
    let lab = Lab::start().await.expect("lab");
    let healthy = lab
        .scenario("healthy-enforce")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| check(&lab, &[&healthy]));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).starts_with(&format!("{healthy}: PASS (0 errors, 0 warnings)")));

    let broken = lab
        .scenario("mx-wrong-name")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| check(&lab, &[&broken]));
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("error[mx-cert-hostname]"), "{text}");
    assert!(
        text.contains("fix: install a certificate whose subjectAltName includes"),
        "{text}"
    );

    let output = tokio::task::block_in_place(|| check(&lab, &["--json", &broken]));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["domain"], broken.as_str());
    assert_eq!(value["verdict"], "fail");
    let finding = &value["findings"][0];
    for key in ["code", "severity", "message", "remediation"] {
        assert!(finding.get(key).is_some(), "{finding}");
    }
    assert_eq!(value["policy"]["sha256"].as_str().map(str::len), Some(64));

    // Warnings alone exit 0; --no-smtp leaves the MX hosts alone.
    let testing = lab
        .scenario("mode-testing")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| check(&lab, &["--json", "--no-smtp", &testing]));
    assert_eq!(output.status.code(), Some(0));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["verdict"], "warn");
    assert_eq!(value["mx_hosts"].as_array().map(Vec::len), Some(0));
    lab.shutdown().await;
}

#[test]
fn check_refuses_bad_input_with_status_2() {
    for bad in [
        &["check", "not a domain"][..],
        &["check", "192.0.2.1"],
        &["check", "--resolver", "nowhere", "example.com"],
        &["check", "--timeout", "-1", "example.com"],
    ] {
        let output = run(bad);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            stdout(&output)
        );
        assert!(!output.stderr.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unicode_domains_are_checked_as_a_labels() {
    let lab = Lab::start().await.expect("lab");
    let output =
        tokio::task::block_in_place(|| check(&lab, &["--json", "--no-smtp", "bücher.test"]));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["domain"], "xn--bcher-kva.test");
    // No such lab domain, said as such: it was looked up by its A-label.
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(value["outcome"], "no-such-domain");
    lab.shutdown().await;
}

#[test]
fn unreachable_resolver_means_the_check_could_not_be_completed() {
    // A port nothing listens on: every query fails, so the result says nothing about the domain.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port();
    let resolver = format!("127.0.0.1:{port}");
    let output = run(&[
        "check",
        "--no-smtp",
        "--timeout",
        "0.5",
        "--resolver",
        &resolver,
        "example.com",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with("example.com: UNKNOWN (0 errors, 0 warnings in what could be learnt; the check could not be completed)"),
        "{text}"
    );
    for part in [
        "could not learn the TXT records at _mta-sts.example.com: the resolver",
        "could not learn the MX records of example.com: the resolver",
        "could not learn the TXT records at _smtp._tls.example.com: the resolver",
        "MTA-STS record [unknown]",
        "TLS reporting [unknown]",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    // Nothing blames the domain: no finding, no fix, nothing to publish.
    for blame in ["error[", "warning[", "fix:", "To publish", "[fail]"] {
        assert!(!text.contains(blame), "{blame:?} in:\n{text}");
    }

    let output = run(&[
        "check",
        "--json",
        "--no-smtp",
        "--timeout",
        "0.5",
        "--resolver",
        &resolver,
        "example.com",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["verdict"], "unknown");
    assert_eq!(value["outcome"], "incomplete");
    assert_eq!(value["findings"].as_array().map(Vec::len), Some(0));
    assert!(
        value["not_learnt"].as_array().is_some_and(|n| n.len() >= 3),
        "{value}"
    );
    assert_eq!(value["sections"][0]["status"], "unknown");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_that_does_not_exist_is_said_so() {
    let lab = Lab::start().await.expect("lab");
    let output = tokio::task::block_in_place(|| check(&lab, &["nonexistent.test"]));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with("nonexistent.test: UNKNOWN (the domain does not exist)"),
        "{text}"
    );
    assert!(
        text.contains("nonexistent.test does not exist (its MX lookup answered NXDOMAIN)"),
        "{text}"
    );
    assert!(
        !text.contains("To publish") && !text.contains("error["),
        "{text}"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_decide_the_exit_status_over_what_could_not_be_learnt() {
    let lab = Lab::start().await.expect("lab");
    let broken = lab
        .scenario("mx-wrong-name")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| check(&lab, &[&broken, "nonexistent.test"]));
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    lab.shutdown().await;
}

/// The web page and the command line render one report model, so they say the same status word
/// for every section and for the verdict.
#[tokio::test(flavor = "multi_thread")]
async fn the_web_page_and_the_cli_say_the_same_words() {
    let lab = Lab::start().await.expect("lab");
    let checker = mta_sts_check::Checker::from_settings(&mta_sts_check::NetSettings {
        resolver: Some(lab.dns_addr()),
        trust: mta_sts_net::Trust::only_pem(lab.ca_pem()).expect("lab CA"),
        https_port: lab.https_port(),
        smtp_port: lab.smtp_port(),
        timeout: std::time::Duration::from_millis(1500),
        guard: mta_sts_net::AddressGuard::AllowAll,
        probe_smtp: true,
    })
    .expect("checker");
    let mut words = std::collections::BTreeSet::new();
    for name in ["healthy-enforce", "mx-not-in-policy", "tlsrpt-missing"] {
        let domain = lab.scenario(name).expect("scenario").domain.clone();
        let text = stdout(&tokio::task::block_in_place(|| check(&lab, &[&domain])));
        let json: Value = serde_json::from_slice(
            &tokio::task::block_in_place(|| check(&lab, &["--json", &domain])).stdout,
        )
        .expect("JSON");
        let report = checker.check(&domain).await;
        let page = mta_sts_web::render_page(&report);
        let verdict = report.verdict.as_str();
        assert_eq!(json["verdict"], verdict, "{name}");
        assert!(
            page.contains(&format!("data-verdict=\"{verdict}\"")),
            "{name}"
        );
        assert!(
            text.starts_with(&format!("{domain}: {} (", verdict.to_uppercase())),
            "{name}: {text}"
        );
        for (view, listed) in report
            .sections()
            .zip(json["sections"].as_array().expect("sections"))
        {
            let word = view.status.as_str();
            words.insert(word);
            assert_eq!(listed["status"], word, "{name}");
            assert!(
                text.contains(&format!("\n{} [{word}]\n", view.section.title())),
                "{name}: {word} for {:?} in:\n{text}",
                view.section
            );
            assert!(
                page.contains(&format!(
                    "{} <span class=\"mark mark-{word}\">{word}</span>",
                    view.section.title()
                )),
                "{name}: {word} for {:?}",
                view.section
            );
        }
        // The old CLI word is gone.
        assert!(!text.contains("[ok]"), "{text}");
    }
    // The three scenarios between them use each word a completed check can say.
    assert_eq!(words, ["fail", "pass", "warn"].into());
    lab.shutdown().await;
}

#[test]
fn demo_brings_loopback_up_in_a_fresh_network_namespace() {
    // `unshare -rn`: a new user and network namespace, where loopback starts down and the
    // process is root, so the demo may bring it up (as `ip link set lo up` would).
    let probe = Command::new("unshare").args(["-rn", "true"]).output();
    if !probe.is_ok_and(|output| output.status.success()) {
        eprintln!("skipping: `unshare -rn` is not available here (util-linux, user namespaces)");
        return;
    }
    let output = Command::new("unshare")
        .args(["-rn", BIN, "demo"])
        .output()
        .expect("run the demo in a new network namespace");
    let text = stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{text}\n{stderr}");
    assert!(stderr.contains("loopback (lo) was down"), "{stderr}");
    let count = mta_sts_lab::catalog().len();
    assert!(
        text.contains(&format!("{count}/{count} scenarios behaved as declared")),
        "{text}"
    );
}

#[test]
fn demo_keep_json_prints_the_lab_and_a_check_command_that_works_as_printed() {
    let mut demo = Command::new(BIN)
        .args(["demo", "--keep", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = demo.stdout.take().expect("stdout");
    // The object comes first; the lab then runs until SIGINT.
    let value: Option<Result<Value, _>> = serde_json::Deserializer::from_reader(out)
        .into_iter::<Value>()
        .next();
    let value = match value {
        Some(Ok(value)) => value,
        other => {
            let _ = demo.kill();
            panic!("no JSON object from demo --keep --json: {other:?}");
        }
    };
    let check = value["lab"]["check"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let words: Vec<&str> = check.split_whitespace().collect();
    let ran = match words.split_first() {
        Some((&"mta-sts", args)) => Some(run(args)),
        _ => None,
    };
    let _ = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status();
    let stopped = demo.wait().expect("the demo stops on SIGINT");
    assert_eq!(
        value["scenarios"].as_array().map(Vec::len),
        Some(mta_sts_lab::catalog().len()),
        "{value}"
    );
    for field in ["resolver", "ca_file"] {
        assert!(value["lab"][field].is_string(), "{value}");
    }
    for field in ["https_port", "smtp_port"] {
        assert!(value["lab"][field].is_u64(), "{value}");
    }
    assert_eq!(value["web"], Value::Null);
    let ran = ran.unwrap_or_else(|| panic!("not a mta-sts command: {check}"));
    assert_eq!(ran.status.code(), Some(0), "{check}:\n{}", stdout(&ran));
    assert!(stopped.success(), "{stopped:?}");
}

#[test]
fn demo_generated_serves_the_benchmark_mix_and_scan_finds_each_planted_defect() {
    let count = 120;
    let mut demo = Command::new(BIN)
        .args([
            "demo",
            "--keep",
            "--json",
            "--generated",
            &count.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = demo.stdout.take().expect("stdout");
    let value: Option<Result<Value, _>> = serde_json::Deserializer::from_reader(out)
        .into_iter::<Value>()
        .next();
    let Some(Ok(value)) = value else {
        let _ = demo.kill();
        panic!("no JSON object from demo --keep --json --generated: {value:?}");
    };
    let lab = &value["lab"];
    let field = |name: &str| match &lab[name] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mix = mta_sts_lab::generated_mix(count);
    let list: String = mix.iter().map(|s| format!("{}\n", s.domain)).collect();
    let mut scan = Command::new(BIN)
        .args(["scan", "-", "--concurrency", "16", "--timeout", "1.5"])
        .args([
            "--resolver",
            &field("resolver"),
            "--ca-file",
            &field("ca_file"),
        ])
        .args(["--https-port", &field("https_port")])
        .args(["--smtp-port", &field("smtp_port")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the scan");
    {
        use std::io::Write as _;
        let mut stdin = scan.stdin.take().expect("stdin");
        stdin.write_all(list.as_bytes()).expect("write the list");
    }
    let scanned = scan.wait_with_output().expect("the scan ends");
    let _ = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status();
    let stopped = demo.wait().expect("the demo stops on SIGINT");
    // The table covers the catalog alone.
    assert_eq!(
        value["scenarios"].as_array().map(Vec::len),
        Some(mta_sts_lab::catalog().len())
    );
    assert_eq!(scanned.status.code(), Some(0));
    let text = stdout(&scanned);
    assert_eq!(text.lines().count(), count, "{text}");
    for line in text.lines() {
        let report: Value = serde_json::from_str(line).expect("a JSON line");
        let domain = report["domain"].as_str().expect("domain");
        let scenario = mix
            .iter()
            .find(|s| s.domain == domain)
            .expect("a mix domain");
        let expected: std::collections::BTreeSet<&str> =
            scenario.expect.iter().map(|c| c.as_str()).collect();
        let found: std::collections::BTreeSet<&str> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["severity"] != "info")
            .filter_map(|f| f["code"].as_str())
            .collect();
        assert_eq!(found, expected, "{domain} ({})", scenario.name);
    }
    assert!(stopped.success(), "{stopped:?}");
}
