//! `mta-sts scan --queue`: one scan shared by three worker processes of the real binary through
//! a real PostgreSQL (a fresh database on `MTA_STS_TEST_POSTGRES`; SKIPPED without it, failing
//! with `MTA_STS_REQUIRE_TOOLS=1`), checking lab domains over real sockets, one worker
//! SIGKILLed while it holds leases.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mta_sts_lab::Lab;
use mta_sts_store::test_support::{TempDir, TestDatabase};
use scan_csv::read_csv;
use serde_json::Value;

mod scan_csv;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

/// How long the test waits for a state it expects before failing (a hung worker must not hang
/// the suite).
const PATIENCE: Duration = Duration::from_secs(120);

/// The flags that point `scan` at the lab.
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

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run mta-sts")
}

/// The flags of a fast worker with 2-second leases.
const FAST: &[&str] = &["--batch", "3", "--concurrency", "3", "--lease-seconds", "2"];

/// A worker slow enough to be stopped with many leases held: it leases 20 domains at a time
/// and starts 20 checks a second, one at a time, so it holds most of a batch for about a
/// second (a fast worker may be between two batches at the moment it is killed).
const SLOW: &[&str] = &["--batch", "20", "--concurrency", "1", "--max-rate", "20"];

/// Whether `scan status` shows `name` mid-batch: some domains done, at least 5 leased.
fn mid_batch(status: &Value, name: &str) -> bool {
    worker_share(status, name)
        .is_some_and(|w| w["done"] != 0 && w["leased"].as_u64().unwrap_or(0) >= 5)
}

/// A worker process: `scan` with `flags` and the lab's flags, its standard error kept in a
/// file of `dir`.
fn start_worker(lab: &Lab, dir: &TempDir, name: &str, flags: &[&str], args: &[&str]) -> Child {
    let stderr = std::fs::File::create(dir.file(&format!("{name}.stderr"))).expect("stderr file");
    Command::new(BIN)
        .arg("scan")
        .args(args)
        .args(flags)
        .args(["--worker-name", name, "--progress-every", "600"])
        .args(lab_args(lab))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start a worker")
}

fn stderr_of(dir: &TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.file(&format!("{name}.stderr"))).unwrap_or_default()
}

/// `scan status --json`, or `None` while no list is loaded.
fn status(queue: &str) -> Option<Value> {
    let output = run(&["scan", "status", "--queue", queue, "--json"]);
    if output.status.code() == Some(2) {
        return None;
    }
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("status JSON"))
}

/// Asks `scan status` until `holds` is true of it; fails after [`PATIENCE`].
fn wait_for_status(queue: &str, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = status(queue)
            && holds(&status)
        {
            return status;
        }
        assert!(Instant::now() < deadline, "no status with {what}");
        // Polling a database another process writes: there is nothing to be woken by.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn worker_share<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["workers"]
        .as_array()?
        .iter()
        .find(|w| w["worker"] == name)
}

/// Waits for a worker to exit, killing it after [`PATIENCE`].
fn wait_exit(child: &mut Child, dir: &TempDir, name: &str) -> Option<i32> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("worker status") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} did not finish: {}", stderr_of(dir, name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_one_killed_check_every_domain_exactly_once() {
    let Some(database) =
        TestDatabase::create("three_workers_one_killed_check_every_domain_exactly_once").await
    else {
        return;
    };
    let lab = Lab::start_with(mta_sts_lab::catalog(), 150)
        .await
        .expect("lab");
    let mut domains: Vec<String> = mta_sts_lab::catalog()
        .iter()
        .map(|s| s.domain.clone())
        .collect();
    domains.extend(lab.generated().iter().map(|s| s.domain.clone()));
    let dir = TempDir::new("scan-queue");
    let list = dir.file("list.txt");
    // A comment and a domain listed twice: loaded once.
    std::fs::write(
        &list,
        format!("# shared\n{}\n{}\n", domains.join("\n"), domains[0]),
    )
    .expect("write list");
    let list = list.to_string_lossy().into_owned();
    let queue = database.url().to_string();

    tokio::task::block_in_place(|| {
        // w1 loads the list and starts; w2 loads it again (nothing added) and works; w3 only
        // works.
        let mut w1 = start_worker(
            &lab,
            &dir,
            "w1",
            &[SLOW, &["--lease-seconds", "2"]].concat(),
            &[&list, "--queue", &queue],
        );
        wait_for_status(&queue, "the list loaded", |s| s["total"] == domains.len());
        let mut w2 = start_worker(&lab, &dir, "w2", FAST, &[&list, "--queue", &queue]);
        let mut w3 = start_worker(&lab, &dir, "w3", FAST, &["--worker", "--queue", &queue]);

        // w1 mid-batch: it has finished domains and holds leases on others.
        wait_for_status(&queue, "w1 mid-batch", |s| mid_batch(s, "w1"));
        w1.kill().expect("SIGKILL w1");
        w1.wait().expect("reap w1");
        let after_kill = status(&queue).expect("status");
        let w1_share = worker_share(&after_kill, "w1").expect("w1 share").clone();
        let held = w1_share["leased"].as_u64().unwrap_or(0)
            + w1_share["expired_leases"].as_u64().unwrap_or(0);
        assert!(held > 0, "w1 was killed holding no lease: {after_kill}");

        for (child, name) in [(&mut w2, "w2"), (&mut w3, "w3")] {
            assert_eq!(
                wait_exit(child, &dir, name),
                Some(0),
                "{name}: {}",
                stderr_of(&dir, name)
            );
        }
        assert!(
            stderr_of(&dir, "w2").contains("0 domains added"),
            "{}",
            stderr_of(&dir, "w2")
        );

        let finished = status(&queue).expect("status");
        assert_eq!(finished["finished"], true, "{finished}");
        assert_eq!(finished["done"], domains.len(), "{finished}");
        assert_eq!(finished["leased"], 0, "{finished}");
        assert_eq!(finished["expired_leases"], 0, "{finished}");
        // w1's leases ran out and other workers took them over.
        assert!(finished["retried"].as_u64().unwrap_or(0) >= 1, "{finished}");
        let text = run(&["scan", "status", "--queue", &queue]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("The scan is finished"), "{text}");
        assert!(text.contains("Worker w1:"), "{text}");

        let out = dir.file("results.jsonl");
        let summary = dir.file("summary.json");
        let csv = dir.file("results.csv");
        let html = dir.file("report.html");
        let results = run(&[
            "scan",
            "results",
            "--queue",
            &queue,
            "--json-lines",
            &out.to_string_lossy(),
            "--summary-json",
            &summary.to_string_lossy(),
            "--csv",
            &csv.to_string_lossy(),
            "--html",
            &html.to_string_lossy(),
        ]);
        assert_eq!(
            results.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&results.stderr)
        );
        let by_domain = lines_by_domain(&out);
        assert_eq!(by_domain.len(), domains.len());
        for domain in &domains {
            let line = by_domain
                .get(domain)
                .unwrap_or_else(|| panic!("{domain} has no result"));
            assert!(line.get("verdict").is_some(), "{line}");
        }
        // The generated domains are healthy: each was really checked against the lab.
        for generated in lab.generated() {
            assert_eq!(
                by_domain[&generated.domain]["verdict"], "pass",
                "{}",
                by_domain[&generated.domain]
            );
        }
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary"))
                .expect("summary JSON");
        assert_eq!(summary["domains"], domains.len());
        // The end-of-scan sentences, as the local scan says them.
        let stderr = String::from_utf8_lossy(&results.stderr);
        assert!(
            stderr.contains(&format!("scan summary: {} domains: ", domains.len())),
            "{stderr}"
        );

        // The CSV: the header and one row per JSON line, in the line's values.
        let rows = read_csv(&std::fs::read_to_string(&csv).expect("csv"));
        assert_eq!(rows[0][0], "domain");
        assert_eq!(rows.len(), domains.len() + 1);
        for row in &rows[1..] {
            let line = &by_domain[row[0].as_str()];
            assert_eq!(row[1], line["verdict"].as_str().unwrap_or(""), "{row:?}");
            assert_eq!(row[2], line["outcome"].as_str().unwrap_or(""), "{row:?}");
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

        // The HTML page: a bar per verdict with the count of the JSON lines of that verdict.
        let page = std::fs::read_to_string(&html).expect("html");
        let mut verdicts: HashMap<&str, usize> = HashMap::new();
        for line in by_domain.values() {
            *verdicts
                .entry(line["verdict"].as_str().expect("verdict"))
                .or_default() += 1;
        }
        for (verdict, count) in verdicts {
            let bar = format!(
                "class=\"bar\" data-group=\"verdicts\" data-key=\"{verdict}\" \
                 data-count=\"{count}\""
            );
            assert!(page.contains(&bar), "no {bar} in {page}");
        }
        assert!(
            page.contains(&format!("{} domains scanned", domains.len())),
            "{page}"
        );
    });
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_stopped_by_sigterm_gives_its_leases_back_at_once() {
    let Some(database) =
        TestDatabase::create("a_worker_stopped_by_sigterm_gives_its_leases_back_at_once").await
    else {
        return;
    };
    let lab = Lab::start_with(Vec::new(), 120).await.expect("lab");
    let domains: Vec<String> = lab.generated().iter().map(|s| s.domain.clone()).collect();
    let dir = TempDir::new("scan-queue-term");
    let list = dir.file("list.txt");
    std::fs::write(&list, domains.join("\n")).expect("write list");
    let list = list.to_string_lossy().into_owned();
    let queue = database.url().to_string();
    tokio::task::block_in_place(|| {
        // Leases of ten minutes: only giving them back lets another worker have them soon.
        let mut stopped = start_worker(
            &lab,
            &dir,
            "stopped",
            &[SLOW, &["--lease-seconds", "600"]].concat(),
            &[&list, "--queue", &queue],
        );
        wait_for_status(&queue, "stopped mid-batch", |s| mid_batch(s, "stopped"));
        let term = Command::new("kill")
            .args(["-TERM", &stopped.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(term.success());
        assert_eq!(
            wait_exit(&mut stopped, &dir, "stopped"),
            Some(75),
            "{}",
            stderr_of(&dir, "stopped")
        );
        let stderr = stderr_of(&dir, "stopped");
        assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
        let after = status(&queue).expect("status");
        let share = worker_share(&after, "stopped").expect("share");
        assert_eq!(
            (share["leased"].as_u64(), share["expired_leases"].as_u64()),
            (Some(0), Some(0)),
            "{after}"
        );

        let mut next = start_worker(&lab, &dir, "next", FAST, &["--worker", "--queue", &queue]);
        assert_eq!(
            wait_exit(&mut next, &dir, "next"),
            Some(0),
            "{}",
            stderr_of(&dir, "next")
        );
        let finished = status(&queue).expect("status");
        assert_eq!(finished["done"], domains.len(), "{finished}");
        assert!(finished["retried"].as_u64().unwrap_or(0) >= 1, "{finished}");
    });
    lab.shutdown().await;
}

/// The result lines by domain; fails on a domain written twice.
fn lines_by_domain(path: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(path).expect("results");
    let mut by_domain = HashMap::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let domain = value["domain"].as_str().expect("domain").to_string();
        assert!(
            by_domain.insert(domain.clone(), value).is_none(),
            "{domain} written twice"
        );
    }
    by_domain
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_an_unknown_scan_and_an_sqlite_queue_are_refused_with_a_sentence() {
    let Some(database) = TestDatabase::create(
        "status_of_an_unknown_scan_and_an_sqlite_queue_are_refused_with_a_sentence",
    )
    .await
    else {
        return;
    };
    let queue = database.url().to_string();
    let output = tokio::task::block_in_place(|| {
        run(&[
            "scan",
            "status",
            "--queue",
            &queue,
            "--scan-name",
            "nightly",
        ])
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("there is no scan named nightly"),
        "{stderr}"
    );
    assert!(!stderr.contains("mta-sts-test"), "password shown: {stderr}");

    let dir = TempDir::new("scan-queue-sqlite");
    let list = dir.file("list.txt");
    std::fs::write(&list, "example.com\n").expect("write list");
    let store = format!("sqlite:{}", dir.file("queue.db").display());
    let output =
        tokio::task::block_in_place(|| run(&["scan", &list.to_string_lossy(), "--queue", &store]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PostgreSQL only"), "{stderr}");
    assert!(!dir.file("queue.db").exists());
}
