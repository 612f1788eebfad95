//! `mta-sts scan` as a user runs it: a list file checked against the lab over real sockets.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mta_sts_lab::Lab;
use scan_csv::read_csv;
use serde_json::Value;

mod scan_csv;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// Runs `mta-sts` with the lab's resolver, CA and ports after the command's own arguments.
fn run_against(lab: &Lab, args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .args(lab_args(lab))
        .env("NO_COLOR", "1")
        .output();
    output.expect("run mta-sts")
}

/// The flags that point `check` and `scan` at the lab.
fn lab_args(lab: &Lab) -> Vec<String> {
    vec![
        "--resolver".into(),
        lab.dns_addr().to_string(),
        "--ca-file".into(),
        lab.ca_file().to_string_lossy().into_owned(),
        "--https-port".into(),
        lab.https_port().to_string(),
        "--smtp-port".into(),
        lab.smtp_port().to_string(),
        "--timeout".into(),
        "1.5".into(),
    ]
}

/// The JSON lines of a scan output, by domain; fails on a domain written twice.
fn lines_by_domain(text: &str) -> HashMap<String, Value> {
    let mut by_domain = HashMap::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let domain = value["domain"].as_str().expect("domain").to_string();
        assert!(
            by_domain.insert(domain.clone(), value).is_none(),
            "{domain} written twice in {text}"
        );
    }
    by_domain
}

fn domain_of(lab: &Lab, scenario: &str) -> String {
    lab.scenario(scenario).expect("scenario").domain.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_checks_each_listed_domain_once_and_names_bad_lines() {
    let lab = Lab::start().await.expect("lab");
    let healthy = domain_of(&lab, "healthy-enforce");
    let broken = domain_of(&lab, "mx-wrong-name");
    let testing = domain_of(&lab, "mode-testing");
    let long_name = format!("{}.test", vec!["a".repeat(60); 5].join("."));
    let list = format!(
        "# customers\n\
         \n\
         {healthy}\n\
         {}.  # the same, shouted, with a root dot\n\
         https://{broken}/x\n\
         {broken}\n\
         bücher.test\n\
         {long_name}\n\
         {testing}\n\
         xn--bcher-kva.test\n",
        healthy.to_uppercase()
    );
    let dir = Scratch::new("list");
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, list).expect("write list");
    let list_arg = list_path.to_string_lossy().into_owned();

    let output = tokio::task::block_in_place(|| run_against(&lab, &["scan", &list_arg]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for (line, words) in [
        (4, "already listed on line 3"),
        (5, "is a URL"),
        (8, "too long for a mail domain"),
        (10, "already listed on line 7"),
    ] {
        let prefix = format!("{list_arg}:{line}: ");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(words)),
            "no `{prefix}…{words}` in {stderr}"
        );
    }
    assert!(stderr.contains("scan: 4/4 checked"), "{stderr}");

    let results = lines_by_domain(&String::from_utf8_lossy(&output.stdout));
    let verdicts: HashMap<&str, &str> = results
        .iter()
        .map(|(d, v)| (d.as_str(), v["verdict"].as_str().unwrap_or("none")))
        .collect();
    assert_eq!(verdicts.len(), 4, "{verdicts:?}");
    assert_eq!(verdicts[healthy.as_str()], "pass");
    assert_eq!(verdicts[broken.as_str()], "fail");
    assert_eq!(verdicts[testing.as_str()], "warn");
    assert_eq!(
        results["xn--bcher-kva.test"]["outcome"], "no-such-domain",
        "{}",
        results["xn--bcher-kva.test"]
    );

    // Each line is the report `check --json` gives for the domain.
    let check = tokio::task::block_in_place(|| run_against(&lab, &["check", "--json", &broken]));
    let checked: Value = serde_json::from_slice(&check.stdout).expect("check JSON");
    let scanned = &results[broken.as_str()];
    for key in ["verdict", "outcome", "findings", "sts_record", "mx"] {
        assert_eq!(scanned[key], checked[key], "{key}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_after_a_cut_output_checks_every_domain_exactly_once() {
    let lab = Lab::start().await.expect("lab");
    let domains: Vec<String> = mta_sts_lab::catalog()
        .iter()
        .take(8)
        .map(|s| s.domain.clone())
        .collect();
    let dir = Scratch::new("resume");
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, domains.join("\n")).expect("write list");
    let list_arg = list_path.to_string_lossy().into_owned();
    let out_path = dir.path().join("out.jsonl");
    let out_arg = out_path.to_string_lossy().into_owned();

    let full = tokio::task::block_in_place(|| {
        run_against(
            &lab,
            &[
                "scan",
                &list_arg,
                "--json-lines",
                &out_arg,
                "--concurrency",
                "3",
            ],
        )
    });
    assert_eq!(
        full.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    let complete = std::fs::read_to_string(&out_path).expect("output");
    let first = lines_by_domain(&complete);
    assert_eq!(first.len(), domains.len());

    // A killed scan: three whole lines and half of the fourth.
    let kept: Vec<&str> = complete.lines().take(4).collect();
    let cut = format!(
        "{}\n{}",
        kept[..3].join("\n"),
        &kept[3][..kept[3].len() / 2]
    );
    write(&out_path, &cut);
    let summary_path = dir.path().join("summary.json");
    let summary_arg = summary_path.to_string_lossy().into_owned();
    let resumed = tokio::task::block_in_place(|| {
        run_against(
            &lab,
            &[
                "scan",
                &list_arg,
                "--json-lines",
                &out_arg,
                "--resume",
                "--summary-json",
                &summary_arg,
            ],
        )
    });
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 domains already in the output, 5 left to check"),
        "{stderr}"
    );
    let again = lines_by_domain(&std::fs::read_to_string(&out_path).expect("output"));
    assert_eq!(again.len(), domains.len());
    for (domain, value) in &first {
        assert_eq!(again[domain]["verdict"], value["verdict"], "{domain}");
    }
    // The summary counts the lines kept from the first run as well as the new ones.
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
            .expect("summary JSON");
    assert_eq!(summary["domains"], domains.len());
    let by_verdict = |verdict: &str| first.values().filter(|v| v["verdict"] == verdict).count();
    for verdict in ["pass", "warn", "fail"] {
        assert_eq!(
            summary["verdicts"][verdict].as_u64().unwrap_or(0),
            by_verdict(verdict) as u64,
            "{verdict}: {summary}"
        );
    }
    let ranked = summary["findings"].as_array().expect("findings");
    assert!(!ranked.is_empty(), "{summary}");
    assert!(
        ranked
            .windows(2)
            .all(|w| w[0]["domains"].as_u64() >= w[1]["domains"].as_u64()),
        "{summary}"
    );

    // --max-rate spaces the checks: 8 checks at 20 a second take at least 7 × 50 ms.
    let started = std::time::Instant::now();
    let paced = tokio::task::block_in_place(|| {
        run_against(&lab, &["scan", &list_arg, "--max-rate", "20", "--no-smtp"])
    });
    assert_eq!(paced.status.code(), Some(0));
    assert!(started.elapsed() >= std::time::Duration::from_millis(350));
    assert_eq!(
        lines_by_domain(&String::from_utf8_lossy(&paced.stdout)).len(),
        domains.len()
    );

    // A second resume has nothing left and writes nothing.
    let before = std::fs::read(&out_path).expect("output");
    let idle = tokio::task::block_in_place(|| {
        run_against(
            &lab,
            &["scan", &list_arg, "--json-lines", &out_arg, "--resume"],
        )
    });
    assert_eq!(idle.status.code(), Some(0));
    assert_eq!(std::fs::read(&out_path).expect("output"), before);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scan_killed_mid_run_resumes_without_loss_or_repeat() {
    let lab = Lab::start().await.expect("lab");
    let domains: Vec<String> = mta_sts_lab::catalog()
        .iter()
        .take(10)
        .map(|s| s.domain.clone())
        .collect();
    let dir = Scratch::new("killed");
    let list_path = dir.path().join("list.txt");
    write(&list_path, &domains.join("\n"));
    let list_arg = list_path.to_string_lossy().into_owned();
    let out_path = dir.path().join("out.jsonl");
    let out_arg = out_path.to_string_lossy().into_owned();
    let scan_args = ["scan", &list_arg, "--json-lines", &out_arg, "--no-smtp"];

    // Paced to 10 a second so the scan is still running when two lines are written; the file
    // is polled for them (no signal tells when a line lands), within a deadline.
    let mut child = Command::new(BIN)
        .args(scan_args)
        .args(["--max-rate", "10"])
        .args(lab_args(&lab))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run mta-sts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let written = std::fs::read_to_string(&out_path).unwrap_or_default();
        if written.lines().count() >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no two lines in 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL the scan");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    let before = std::fs::read_to_string(&out_path).expect("output");
    assert!(before.lines().count() < domains.len(), "{before}");

    let mut resume_args = scan_args.to_vec();
    resume_args.push("--resume");
    let resumed = tokio::task::block_in_place(|| run_against(&lab, &resume_args));
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let after = lines_by_domain(&std::fs::read_to_string(&out_path).expect("output"));
    let mut found: Vec<&String> = after.keys().collect();
    found.sort();
    let mut expected: Vec<&String> = domains.iter().collect();
    expected.sort();
    assert_eq!(found, expected);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_over_the_time_limit_gets_an_error_line_and_the_scan_goes_on() {
    let lab = Lab::start().await.expect("lab");
    // The policy host answers after 3 s; the whole check may take 0.5 s.
    let slow = domain_of(&lab, "policy-slow");
    let healthy = domain_of(&lab, "healthy-enforce");
    let list = format!("{slow}\n{healthy}\n");
    let output = tokio::task::block_in_place(|| {
        let mut child = Command::new(BIN)
            .args(["scan", "-", "--check-timeout", "0.5", "--no-smtp"])
            .args(lab_args(&lab))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run mta-sts");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), list.as_bytes())
            .expect("write list");
        child.wait_with_output().expect("wait")
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 timed out"), "{stderr}");
    let results = lines_by_domain(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(
        results[slow.as_str()]["error"]["code"],
        "scan-check-timeout"
    );
    assert!(
        results[slow.as_str()]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("within 0.5 seconds")),
        "{}",
        results[slow.as_str()]
    );
    assert_eq!(results[healthy.as_str()]["verdict"], "pass");
    lab.shutdown().await;
}

#[test]
fn scan_refuses_what_it_cannot_run_with_status_2() {
    let dir = Scratch::new("refused");
    let missing = dir.path().join("missing.txt");
    let out = dir.path().join("out.jsonl");
    std::fs::write(&out, "{\"domain\":\"a.test\"}\nnot a result\n").expect("write");
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "a.test\n").expect("write");
    for args in [
        vec!["scan".to_string(), missing.to_string_lossy().into_owned()],
        // --resume needs the output file it resumes.
        vec![
            "scan".into(),
            list.to_string_lossy().into_owned(),
            "--resume".into(),
        ],
        // A line the scan did not write is not overwritten.
        vec![
            "scan".into(),
            list.to_string_lossy().into_owned(),
            "--json-lines".into(),
            out.to_string_lossy().into_owned(),
            "--resume".into(),
        ],
        vec![
            "scan".into(),
            "-".into(),
            "--concurrency".into(),
            "0".into(),
        ],
        vec!["scan".into(), "-".into(), "--max-rate".into(), "0".into()],
        vec![
            "scan".into(),
            "-".into(),
            "--max-dns-rate".into(),
            "-5".into(),
        ],
        // An output that cannot be written is refused before any check.
        vec![
            "scan".into(),
            list.to_string_lossy().into_owned(),
            "--csv".into(),
            missing.join("out.csv").to_string_lossy().into_owned(),
        ],
        vec![
            "scan".into(),
            list.to_string_lossy().into_owned(),
            "--html".into(),
            missing.join("report.html").to_string_lossy().into_owned(),
        ],
    ] {
        let output = Command::new(BIN).args(&args).output().expect("run mta-sts");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&out).expect("output"),
        "{\"domain\":\"a.test\"}\nnot a result\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_html_and_summary_describe_every_line_and_survive_a_resume() {
    let lab = Lab::start().await.expect("lab");
    let domains: Vec<String> = mta_sts_lab::catalog()
        .iter()
        .map(|s| s.domain.clone())
        .collect();
    let dir = Scratch::new("outputs");
    let list_path = dir.path().join("list.txt");
    write(&list_path, &domains.join("\n"));
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (list, lines, csv, html, summary) = (
        path("list.txt"),
        path("out.jsonl"),
        path("out.csv"),
        path("report.html"),
        path("summary.json"),
    );
    let outputs = [
        "--json-lines",
        &lines,
        "--csv",
        &csv,
        "--html",
        &html,
        "--summary-json",
        &summary,
    ];
    let mut args = vec!["scan", &list, "--no-smtp", "--concurrency", "16"];
    args.extend(outputs);
    let output = tokio::task::block_in_place(|| run_against(&lab, &args));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let results = lines_by_domain(&std::fs::read_to_string(&lines).expect("lines"));
    assert_eq!(results.len(), domains.len());

    // The CSV: a header and one row per line, with the line's values.
    let rows = read_csv(&std::fs::read_to_string(&csv).expect("csv"));
    assert_eq!(
        rows[0],
        [
            "domain",
            "verdict",
            "outcome",
            "mode",
            "sts_id",
            "max_age",
            "mx_count",
            "findings",
            "policy_host_issuer",
            "error"
        ]
    );
    assert_eq!(rows.len(), domains.len() + 1);
    for row in &rows[1..] {
        let line = &results[row[0].as_str()];
        assert_eq!(row[1], line["verdict"].as_str().unwrap_or(""), "{row:?}");
        assert_eq!(
            row[3],
            line["policy"]["mode"].as_str().unwrap_or(""),
            "{row:?}"
        );
        let mut codes: Vec<&str> = line["findings"]
            .as_array()
            .map(|f| f.iter().filter_map(|f| f["code"].as_str()).collect())
            .unwrap_or_default();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(row[7], codes.join(" "), "{row:?}");
    }
    let healthy = rows
        .iter()
        .find(|row| row[0] == domain_of(&lab, "healthy-enforce"))
        .expect("healthy row");
    assert_eq!(
        &healthy[1..9],
        [
            "pass",
            "complete",
            "enforce",
            "20260101T000000",
            "604800",
            "1",
            "",
            "mta-sts lab"
        ]
    );

    // The summary: issuers and policy hosts counted from the lines.
    let summary_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("JSON");
    let served = results
        .values()
        .filter(|line| line["policy"]["fetch"].is_object())
        .count();
    let issuers = summary_json["certificate_issuers"]["policy_host"]
        .as_array()
        .expect("issuers");
    let lab_issuer = issuers
        .iter()
        .find(|i| i["name"] == "mta-sts lab")
        .expect("the lab CA");
    // Every served policy had the lab's certificate; refused ones (expired, wrong name) too.
    assert!(
        lab_issuer["domains"].as_u64() > Some(served as u64),
        "{summary_json}"
    );
    let hosts = summary_json["policy_hosts"].as_array().expect("hosts");
    let counted: u64 = hosts.iter().filter_map(|h| h["domains"].as_u64()).sum();
    assert_eq!(counted, served as u64, "{summary_json}");
    assert!(
        hosts
            .iter()
            .any(|h| h["host"] == "policy-cname.test" && h["via"] == "cname"),
        "{summary_json}"
    );
    assert!(
        hosts
            .iter()
            .any(|h| h["host"] == "127.0.0.1" && h["via"] == "address"),
        "{summary_json}"
    );
    assert!(
        stderr.contains("domains' policies are served by 127.0.0.1 (at the address)."),
        "{stderr}"
    );

    // The HTML page: a bar per verdict with the summary's count, the tables, nothing external.
    let page = std::fs::read_to_string(&html).expect("html");
    for (verdict, count) in summary_json["verdicts"].as_object().expect("verdicts") {
        let bar = format!(
            "class=\"bar\" data-group=\"verdicts\" data-key=\"{verdict}\" data-count=\"{count}\""
        );
        assert!(page.contains(&bar), "no {bar} in {page}");
    }
    let top = &summary_json["findings"][0];
    assert!(page.contains(&format!(
        "data-group=\"findings\" data-key=\"{}\" data-count=\"{}\"",
        top["code"].as_str().expect("code"),
        top["domains"]
    )));
    assert!(page.contains("<td>mta-sts lab</td>"), "{page}");
    for external in [" src=", " href=", "<link", "<script"] {
        assert!(!page.contains(external), "{external} in the page");
    }
    rendered_alike_in_chromium(Path::new(&html), &page);

    // A killed scan resumed: the CSV is rewritten from the kept lines, each domain once.
    let complete = std::fs::read_to_string(&lines).expect("lines");
    let kept: Vec<&str> = complete.lines().take(5).collect();
    write(
        Path::new(&lines),
        &format!("{}\n{}", kept[..4].join("\n"), &kept[4][..10]),
    );
    let mut args = vec!["scan", &list, "--no-smtp", "--resume"];
    args.extend(outputs);
    let resumed = tokio::task::block_in_place(|| run_against(&lab, &args));
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let rows = read_csv(&std::fs::read_to_string(&csv).expect("csv"));
    let mut listed: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = domains.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_gets_a_progress_bar_and_a_pipe_plain_lines() {
    // `script` runs the scan on a pseudo-terminal of its own and copies what it shows.
    if !mta_sts_store::test_support::skip::installed("/usr/bin/script", "bsdutils") {
        return;
    }
    let lab = Lab::start().await.expect("lab");
    let domains: Vec<String> = mta_sts_lab::catalog()
        .iter()
        .map(|s| s.domain.clone())
        .collect();
    let dir = Scratch::new("terminal");
    let list_path = dir.path().join("list.txt");
    write(&list_path, &domains.join("\n"));
    let out_path = dir.path().join("out.jsonl");
    let mut words = vec![
        BIN.to_string(),
        "scan".into(),
        list_path.to_string_lossy().into_owned(),
        "--json-lines".into(),
        out_path.to_string_lossy().into_owned(),
        "--no-smtp".into(),
    ];
    words.extend(lab_args(&lab));
    // Single-quoted for script's shell (none of the words holds a quote).
    let command_line = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let shown = tokio::task::block_in_place(|| {
        Command::new("/usr/bin/script")
            .args(["-qec", &command_line, "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .expect("run script")
    });
    let screen = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(shown.status.code(), Some(0), "{screen}");
    let total = domains.len();
    assert!(screen.contains("scan: ["), "no bar in {screen}");
    assert!(screen.contains(&format!("/{total} checked (")), "{screen}");
    // The bar is cleared at the end and the plain last line stays.
    assert!(
        screen.contains(&format!("scan: {total}/{total} checked (")),
        "{screen}"
    );
    assert_eq!(
        lines_by_domain(&std::fs::read_to_string(&out_path).expect("lines")).len(),
        total
    );

    // Not a terminal: plain lines only.
    let piped = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(&words[1..])
            .output()
            .expect("run mta-sts")
    });
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("scan: ["), "{stderr}");
    assert!(
        stderr.contains(&format!("scan: {total}/{total} checked (")),
        "{stderr}"
    );
    lab.shutdown().await;
}

/// Opens the page in headless Chromium (offline: a file URL, no network) and compares the
/// DOM it built with the markup: every bar and table row is there, so the page parses as
/// written. A screenshot goes to `target/screenshots/scan-report.png` (a CI artifact).
fn rendered_alike_in_chromium(path: &Path, page: &str) {
    const CHROMIUM: &str = "/usr/bin/chromium";
    if !mta_sts_store::test_support::skip::installed(CHROMIUM, "chromium") {
        return;
    }
    let profile = Scratch::new("chromium-profile");
    let url = format!("file://{}", path.display());
    let chromium = |extra: &[&str]| {
        let output = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(
            output.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom"]).stdout).into_owned();
    for marker in ["class=\"bar\"", "<tr>", "<svg"] {
        assert_eq!(
            dom.matches(marker).count(),
            page.matches(marker).count(),
            "{marker} in {dom}"
        );
    }
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");
    let shot = screenshots.join("scan-report.png");
    chromium(&[
        "--window-size=1100,1800",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(shot.exists());
}

/// A UDP relay in front of the lab's DNS server that notes when each query passes through it,
/// to count what a resolver would see.
struct CountingRelay {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingRelay {
    async fn start(upstream: std::net::SocketAddr) -> CountingRelay {
        let socket = Arc::new(
            tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind relay"),
        );
        let addr = socket.local_addr().expect("relay address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let seen = Arc::clone(&seen);
            async move {
                let mut buffer = vec![0u8; 4096];
                while let Ok((n, client)) = socket.recv_from(&mut buffer).await {
                    seen.lock().expect("seen").push(Instant::now());
                    let query = buffer[..n].to_vec();
                    let socket = Arc::clone(&socket);
                    tokio::spawn(async move {
                        let up = tokio::net::UdpSocket::bind("127.0.0.1:0")
                            .await
                            .expect("bind");
                        up.connect(upstream).await.expect("connect");
                        up.send(&query).await.expect("send");
                        let mut answer = vec![0u8; 4096];
                        // A query the lab leaves unanswered stays unanswered here too.
                        if let Ok(Ok(n)) =
                            tokio::time::timeout(Duration::from_secs(3), up.recv(&mut answer)).await
                        {
                            let _ = socket.send_to(&answer[..n], client).await;
                        }
                    });
                }
            }
        });
        CountingRelay { addr, seen, task }
    }

    /// When each query passed, in order.
    fn times(&self) -> Vec<Instant> {
        let mut times = self.seen.lock().expect("seen").clone();
        times.sort();
        times
    }
}

impl Drop for CountingRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_dns_rate_bounds_the_queries_the_resolver_sees() {
    const RATE: f64 = 20.0;
    let lab = Lab::start().await.expect("lab");
    let relay = CountingRelay::start(lab.dns_addr()).await;
    let domains: Vec<String> = mta_sts_lab::catalog()
        .iter()
        .take(8)
        .map(|s| s.domain.clone())
        .collect();
    let dir = Scratch::new("dns-rate");
    let list_path = dir.path().join("list.txt");
    write(&list_path, &domains.join("\n"));
    let list_arg = list_path.to_string_lossy().into_owned();
    // The relay instead of the lab's own address.
    let mut flags = lab_args(&lab);
    flags[1] = relay.addr.to_string();
    let started = Instant::now();
    let output = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args([
                "scan",
                &list_arg,
                "--max-dns-rate",
                &RATE.to_string(),
                "--concurrency",
                "8",
            ])
            .args(flags)
            .output()
            .expect("run mta-sts")
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let results = lines_by_domain(&String::from_utf8_lossy(&output.stdout));
    // Waiting for the limit changes no result: the same verdicts and outcomes as a scan
    // without it (a wait counted as the resolver's time would make checks incomplete).
    let unlimited = tokio::task::block_in_place(|| run_against(&lab, &["scan", &list_arg]));
    let expected = lines_by_domain(&String::from_utf8_lossy(&unlimited.stdout));
    assert_eq!(results.len(), domains.len());
    let codes = |line: &Value| -> Vec<Value> {
        line["findings"]
            .as_array()
            .map(|f| f.iter().map(|f| f["code"].clone()).collect())
            .unwrap_or_default()
    };
    for (domain, line) in &expected {
        for key in ["verdict", "outcome"] {
            assert_eq!(results[domain][key], line[key], "{domain} {key}");
        }
        // The codes: a suggested id in a remediation is the time of the check.
        assert_eq!(codes(&results[domain]), codes(line), "{domain}");
    }
    let times = relay.times();
    assert!(times.len() > 40, "only {} queries", times.len());
    // By any time, no more queries have arrived than the rate allows since the scan started,
    // plus slack for a lookup's two at once and the query the resolver adds when it follows a
    // CNAME out of an answer. Counted from the start, not over sliding windows: a loaded
    // machine can only delay a query's arrival, which bunches arrivals up but never brings
    // one earlier than its slot.
    for (n, at) in times.iter().enumerate() {
        let allowed = RATE * at.duration_since(started).as_secs_f64() + 3.0;
        assert!(
            (n + 1) as f64 <= allowed,
            "{} queries within {:?} of the start",
            n + 1,
            at.duration_since(started)
        );
    }
    lab.shutdown().await;
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// A directory of this test process's own, removed when the test ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mta-sts-scan-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
