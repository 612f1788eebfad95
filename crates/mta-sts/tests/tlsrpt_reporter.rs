//! The sender side end to end, with the real binary on loopback: `mta-sts tlsrpt collect`
//! receives datagrams written as libtlsrpt writes them; `mta-sts tlsrpt send` builds the day's
//! report and delivers it by HTTPS POST into a real `mta-sts serve` (its store and dashboard
//! API) and by mail through a sendmail command that is our own MTA pipe (`mta-sts reports
//! import`), while a destination that is down is retried and given up; `mta-sts tlsrpt status`
//! says so. `mta-sts tlsrpt run` reports a finished day by itself, serves its metrics and stops
//! on SIGTERM; and tlsrpt-reporter's own configuration files drive both in one line each.

mod dashboard_fixture;
mod serve_harness;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dashboard_fixture::{CLEAN, TOKEN, write_config};
use mta_sts_core::SessionCounts;
use mta_sts_core::report::{AppliedPolicy, PolicyResult, PolicyType, Summary};
use mta_sts_core::time::UtcDate;
use mta_sts_store::StoreUrl;
use mta_sts_store::sender_reports::{CountBatch, DayCounts, DayFigures, SenderStore};
use serde_json::Value;
use serve_harness::{BIN, Server, TempDir, TestCa, path_arg, request};

fn today() -> UtcDate {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    UtcDate::from_day_number(i64::try_from(seconds / 86_400).expect("a day")).expect("a day")
}

/// A datagram as Postfix 3.10 sends it through libtlsrpt: `sessions` successful deliveries to
/// `domain` under an MTA-STS policy, or one that failed on an expired certificate.
fn datagram(domain: &str, record: &str, failed: bool) -> String {
    let failure = if failed {
        format!(
            r#","failure-details":[{{"c":204,"s":"192.0.2.25","n":"mx.{domain}","r":"198.51.100.25","f":"certificate has expired"}}]"#
        )
    } else {
        String::new()
    };
    let count = u8::from(failed);
    format!(
        r#"{{"d":"{domain}","pr":"{record}","policies":[{{"policy-type":2,"policy-domain":"{domain}","policy-string":["version: STSv1","mode: testing","mx: mx.{domain}","max_age: 86400"],"mx-host":["mx.{domain}"]{failure},"t":{count},"f":{count}}}]}}"#
    )
}

/// systemd's notify socket, played by the test.
struct Notify(UnixDatagram);

impl Notify {
    fn bind(path: &Path) -> Notify {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Notify(socket)
    }

    fn next(&self) -> String {
        let mut buffer = [0u8; 512];
        let n = self.0.recv(&mut buffer).expect("a notification");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }
}

/// A long-running `mta-sts tlsrpt ...`, its log lines handed over as they come.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    notify: Notify,
}

impl Daemon {
    fn start(args: &[&str], env: &[(&str, &str)], notify_path: &Path) -> Daemon {
        let notify = Notify::bind(notify_path);
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("NOTIFY_SOCKET", notify_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start mta-sts");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Daemon {
            child,
            lines,
            log: Vec::new(),
            notify,
        }
    }

    /// Waits for a log line containing `text` (at most a minute per line).
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no log line with `{text}` in {:#?}", self.log));
            self.log.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
    }

    /// SIGTERM, then the exit status and the whole log.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM".to_string(), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM");
        assert_eq!(self.notify.next(), "STOPPING=1");
        let exit = self.child.wait().expect("it stops on SIGTERM");
        self.log.extend(self.lines.iter());
        (exit, self.log.join("\n"))
    }
}

fn mta_sts(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run mta-sts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_become_reports_in_our_dashboard_and_a_mailbox_and_status_says_what_failed() {
    let dir = TempDir::new("tlsrpt-chain");
    // The receiving side: a real `mta-sts serve` taking reports for acme.test over HTTPS.
    let ca = TestCa::new(&dir);
    let received = format!("sqlite:{}", dir.path("received.db").display());
    let serve_config = write_config(&dir, &received, true, "");
    let (cert, key) = (path_arg(&ca.cert), path_arg(&ca.key));
    let server = Server::start(&[
        "--config",
        &serve_config,
        "--https",
        "127.0.0.1:0",
        "--cert",
        &cert,
        "--key",
        &key,
        "--listen",
        "127.0.0.1:0",
    ]);
    let intake = format!(
        "https://localhost:{}/tlsrpt",
        server.https.expect("https").port()
    );
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "https://localhost:{}/tlsrpt",
            listener.local_addr().expect("address").port()
        )
    };
    let mailbox = format!("sqlite:{}", dir.path("mailbox.db").display());
    let sender_store = format!("sqlite:{}", dir.path("sender.db").display());

    // The collector, fed as Postfix feeds it.
    let socket = dir.path("collectd.sock");
    let socket_arg = path_arg(&socket);
    let mut collect = Daemon::start(
        &[
            "tlsrpt",
            "collect",
            "--socket",
            &socket_arg,
            "--store",
            &sender_store,
        ],
        &[],
        &dir.path("collect.notify"),
    );
    assert_eq!(collect.notify.next(), "READY=1");
    let day = today();
    let acme_record = format!("v=TLSRPTv1; rua={intake},mailto:tlsrpt@{CLEAN}");
    let down_record = format!("v=TLSRPTv1; rua={down}");
    let postfix = UnixDatagram::unbound().expect("a socket");
    for (domain, record, failed, times) in [
        (CLEAN, acme_record.as_str(), false, 5),
        (CLEAN, acme_record.as_str(), true, 2),
        ("down.test", down_record.as_str(), false, 3),
        // A domain that publishes no TLSRPT record: counted, asks for no report.
        ("norecord.test", "", false, 1),
    ] {
        for _ in 0..times {
            postfix
                .send_to(datagram(domain, record, failed).as_bytes(), &socket)
                .expect("send a datagram");
        }
    }
    collect.wait_for("collecting TLS-RPT datagrams");
    let (exit, log) = collect.terminate();
    assert!(exit.success(), "{exit:?}\n{log}");

    // Our configuration: who reports, mail through our own MTA pipe, the test CA for HTTPS,
    // and retries due at once so that one `send` makes every attempt.
    let config = dir.path("tlsrpt.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"{sender_store}\"\n\
             [report]\n\
             organization_name = \"Chain Test Sender\"\n\
             contact_info = \"tlsrpt@sender.test\"\n\
             [mail]\n\
             from = \"tlsrpt-noreply@sender.test\"\n\
             transport = \"sendmail\"\n\
             sendmail_command = \"{BIN} reports import --store {mailbox} -\"\n\
             [https]\n\
             ca_file = \"{}\"\n\
             [retry]\n\
             max_attempts = 2\n\
             min_wait = 0\n\
             max_wait = 0\n",
            path_arg(&ca.cert)
        ),
    )
    .expect("write the configuration");
    let config_arg = path_arg(&config);
    let day_arg = day.to_string();

    // A dry run says where each report would go and stores nothing.
    let dry = mta_sts(&[
        "tlsrpt",
        "send",
        "--config",
        &config_arg,
        "--day",
        &day_arg,
        "--dry-run",
    ]);
    let dry_out = text(&dry.stdout);
    assert!(dry.status.success(), "{dry_out}{}", text(&dry.stderr));
    assert!(
        dry_out.contains(&format!("about {CLEAN} would go to")),
        "{dry_out}"
    );
    assert!(
        dry_out.contains(&intake) && dry_out.contains(&format!("mailto:tlsrpt@{CLEAN}")),
        "{dry_out}"
    );
    assert!(dry_out.contains("nothing was stored or sent"), "{dry_out}");

    // The real send: two destinations take the report, the one that is down is given up.
    let send = mta_sts(&[
        "tlsrpt",
        "send",
        "--config",
        &config_arg,
        "--day",
        &day_arg,
        "--json",
    ]);
    assert_eq!(send.status.code(), Some(1), "{}", text(&send.stderr));
    let sent: Value = serde_json::from_slice(&send.stdout).expect("JSON");
    let outcomes: Vec<(String, String)> = sent["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|e| {
            (
                e["destination"].as_str().unwrap_or_default().to_string(),
                e["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for expected in [
        (intake.clone(), "sent".to_string()),
        (format!("mailto:tlsrpt@{CLEAN}"), "sent".to_string()),
        (down.clone(), "retry".to_string()),
        (down.clone(), "given-up".to_string()),
    ] {
        assert!(outcomes.contains(&expected), "{expected:?} in {sent}");
    }
    assert_eq!(sent["without_record"], 1, "{sent}");
    assert_eq!(sent["skipped"].as_array().map(Vec::len), Some(0), "{sent}");
    let report_id = sent["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["domain"] == CLEAN)
        .and_then(|r| r["report_id"].as_str())
        .expect("the acme.test report")
        .to_string();

    // It landed in our dashboard's API, as sent...
    let bearer = format!("Bearer {TOKEN}");
    let answer = request(
        server.http.expect("http"),
        None,
        "GET",
        &format!("/api/v1/domains/{CLEAN}/reports"),
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains(&report_id) && answer.body.contains("Chain Test Sender"),
        "{}",
        answer.body
    );
    // ...and the mail reached the mailbox, where our own intake read the report out of it.
    let listed = mta_sts(&["reports", "list", "--json", "--store", &mailbox]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let ids: Vec<&str> = listed["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .filter_map(|r| r["report_id"].as_str())
        .collect();
    assert_eq!(ids, [report_id.as_str()], "{listed}");

    // Status: what was collected, what was sent, and why the rest was given up.
    let status = mta_sts(&[
        "tlsrpt",
        "status",
        "--config",
        &config_arg,
        "--day",
        &day_arg,
        "--json",
    ]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let today = &status["days"][0];
    assert_eq!(today["datagrams"], 11, "{status}");
    assert_eq!(today["successful_sessions"], 9, "{status}");
    assert_eq!(today["failed_sessions"], 2, "{status}");
    assert_eq!(today["failures"]["certificate-expired"], 2, "{status}");
    assert_eq!(
        (today["sent"].clone(), today["given_up"].clone()),
        (2.into(), 1.into()),
        "{status}"
    );
    let given_up = today["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["state"] == "given-up")
        .expect("the given-up delivery");
    assert_eq!(given_up["destination"], down.as_str());
    assert_eq!(given_up["attempts"], 2);
    assert!(
        given_up["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("connecting"),
        "{given_up}"
    );
    let sentences = mta_sts(&[
        "tlsrpt",
        "status",
        "--config",
        &config_arg,
        "--day",
        &day_arg,
    ]);
    let sentences = text(&sentences.stdout);
    assert!(
        sentences.contains("2 delivery(ies) sent, 0 pending, 1 given up"),
        "{sentences}"
    );
    assert!(
        sentences.contains(&format!("was given up for {down} after 2 attempts")),
        "{sentences}"
    );

    // Sending the day again sends nothing twice.
    let again = mta_sts(&["tlsrpt", "send", "--config", &config_arg, "--day", &day_arg]);
    let again_out = text(&again.stdout);
    assert!(again.status.success(), "{again_out}{}", text(&again.stderr));
    assert!(
        again_out.contains("0 of them new in the outbox with 0 delivery(ies)"),
        "{again_out}"
    );
}

/// Yesterday's counts for acme.test, as collectors would have stored them.
async fn yesterdays_counts(store: &StoreUrl) -> UtcDate {
    let yesterday = UtcDate::from_day_number(today().day_number() - 1).expect("yesterday");
    let store = SenderStore::open(store).await.expect("open the store");
    store
        .add(&CountBatch {
            counts: vec![DayCounts {
                day: yesterday,
                counts: SessionCounts {
                    domain: CLEAN.into(),
                    tlsrpt_record: format!("v=TLSRPTv1; rua=mailto:tlsrpt@{CLEAN}"),
                    result: PolicyResult {
                        policy: AppliedPolicy {
                            policy_type: PolicyType::NoPolicyFound,
                            policy_string: Vec::new(),
                            policy_domain: Some(CLEAN.into()),
                            mx_host: Vec::new(),
                        },
                        summary: Summary {
                            total_successful_session_count: 12,
                            total_failure_session_count: 0,
                        },
                        failure_details: Vec::new(),
                    },
                },
            }],
            figures: vec![DayFigures {
                day: yesterday,
                datagrams: 12,
                malformed: 0,
                lost: 0,
            }],
        })
        .await
        .expect("add");
    yesterday
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporter_sends_a_finished_day_by_itself_serves_metrics_and_stops_on_sigterm() {
    let dir = TempDir::new("tlsrpt-run");
    let sender_store = StoreUrl::Sqlite(dir.path("sender.db"));
    yesterdays_counts(&sender_store).await;
    let mailbox = format!("sqlite:{}", dir.path("mailbox.db").display());
    let config = dir.path("tlsrpt.toml");
    // No spread: yesterday is due at once (it is complete), so the first round sends it.
    std::fs::write(
        &config,
        format!(
            "store = \"{sender_store}\"\n\
             [report]\n\
             organization_name = \"Run Test Sender\"\n\
             contact_info = \"tlsrpt@sender.test\"\n\
             [mail]\n\
             from = \"tlsrpt-noreply@sender.test\"\n\
             sendmail_command = \"{BIN} reports import --store {mailbox} -\"\n\
             [schedule]\n\
             spread = 0\n\
             settle = 0\n"
        ),
    )
    .expect("write the configuration");
    let config_arg = path_arg(&config);
    let mut run = Daemon::start(
        &[
            "tlsrpt",
            "run",
            "--config",
            &config_arg,
            "--metrics",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &[],
        &dir.path("run.notify"),
    );
    let metrics_line: Value =
        serde_json::from_str(&run.wait_for("\"kind\":\"metrics\"")).expect("a JSON log line");
    let metrics: std::net::SocketAddr = metrics_line["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("an address");
    assert_eq!(run.notify.next(), "READY=1");
    // The unsigned-mail warning is said once at start.
    assert!(
        run.log.iter().any(|l| l.contains("tlsrpt-unsigned")),
        "{:#?}",
        run.log
    );
    run.wait_for("\"kind\":\"tlsrpt-sent\"");
    let answer = request(metrics, None, "GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(answer.status, 200);
    for series in [
        "mta_sts_tlsrpt_datagrams{day=\"yesterday\",kind=\"received\"} 12",
        "mta_sts_tlsrpt_reports_built_total 1",
        "mta_sts_tlsrpt_deliveries_total{outcome=\"sent\"} 1",
        "mta_sts_tlsrpt_deliveries_total{outcome=\"given-up\"} 0",
    ] {
        assert!(answer.body.contains(series), "{series} in {}", answer.body);
    }
    let (exit, log) = run.terminate();
    assert!(exit.success(), "{exit:?}\n{log}");
    let listed = mta_sts(&["reports", "list", "--json", "--store", &mailbox]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(
        listed["reports"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlsrpt_reporters_own_files_and_environment_drive_collect_and_status() {
    let dir = TempDir::new("tlsrpt-switch");
    let file_socket = dir.path("tlsrpt.sock");
    let env_socket = dir.path("env.sock");
    let storage = dir.path("collectd.sqlite");
    // One file with the three sections, as tlsrpt-reporter's example.cfg has them.
    let cfg = dir.path("tlsrpt.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[tlsrpt_collectd]\n\
             storage = sqlite://{storage}\n\
             socketname = {socket}\n\
             socketmode = 0220\n\
             log_level = info\n\
             \n\
             [tlsrpt_fetcher]\n\
             storage = sqlite://{storage}\n\
             \n\
             [tlsrpt_reportd]\n\
             organization_name = Switch Test Sender\n\
             contact_info = tlsrpt@sender.test\n\
             sender_address = noreply@sender.test\n\
             fetchers = tlsrpt-fetcher --config_file {cfg}\n",
            storage = storage.display(),
            socket = file_socket.display(),
            cfg = cfg.display(),
        ),
    )
    .expect("write tlsrpt-reporter's configuration");
    let cfg_arg = path_arg(&cfg);
    let env_socket_arg = path_arg(&env_socket);
    // tlsrpt-collectd's environment overrides its file: the socket is env.sock.
    let mut collect = Daemon::start(
        &["tlsrpt", "collect", "--tlsrpt-reporter-config", &cfg_arg],
        &[("TLSRPT_COLLECTD_SOCKETNAME", &env_socket_arg)],
        &dir.path("collect.notify"),
    );
    assert_eq!(collect.notify.next(), "READY=1");
    assert!(!file_socket.exists());
    let mode = std::fs::metadata(&env_socket)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o220);
    let record = format!("v=TLSRPTv1; rua=mailto:tlsrpt@{CLEAN}");
    let postfix = UnixDatagram::unbound().expect("a socket");
    for _ in 0..4 {
        postfix
            .send_to(datagram(CLEAN, &record, false).as_bytes(), &env_socket)
            .expect("send a datagram");
    }
    collect.wait_for("collecting TLS-RPT datagrams");
    let (exit, log) = collect.terminate();
    assert!(exit.success(), "{exit:?}\n{log}");
    // Each key it does not use is a sentence in the log.
    assert!(
        log.contains("log_level") && log.contains("RUST_LOG"),
        "{log}"
    );
    // Our counts are beside tlsrpt-reporter's file, which is not touched.
    assert!(dir.path("collectd.mta-sts.db").exists());
    assert!(!storage.exists());

    // The reporter's side follows reportd's fetcher to the same store.
    let day_arg = today().to_string();
    let status = mta_sts(&[
        "tlsrpt",
        "status",
        "--tlsrpt-reporter-config",
        &cfg_arg,
        "--day",
        &day_arg,
        "--json",
    ]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(status["days"][0]["datagrams"], 4, "{status}");
    // Without --day: today (still being collected) and yesterday, newest first.
    let default_days = mta_sts(&[
        "tlsrpt",
        "status",
        "--tlsrpt-reporter-config",
        &cfg_arg,
        "--json",
    ]);
    let default_days: Value = serde_json::from_slice(&default_days.stdout).expect("JSON");
    let days = default_days["days"].as_array().expect("days");
    assert_eq!(days.len(), 2, "{default_days}");
    assert_eq!(days[0]["day"], day_arg.as_str());
    assert_eq!(days[0]["partial"], true);
    assert_eq!(days[1]["partial"], false);
    let dry = mta_sts(&[
        "tlsrpt",
        "send",
        "--tlsrpt-reporter-config",
        &cfg_arg,
        "--day",
        &day_arg,
        "--dry-run",
        "--json",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let dry: Value = serde_json::from_slice(&dry.stdout).expect("JSON");
    assert_eq!(dry["reports"][0]["domain"], CLEAN, "{dry}");
    // `report` takes the organisation and contact from reportd's section too.
    let out = dir.path("out");
    let out_arg = path_arg(&out);
    let report = mta_sts(&[
        "tlsrpt",
        "report",
        "--tlsrpt-reporter-config",
        &cfg_arg,
        "--day",
        &day_arg,
        "--out",
        &out_arg,
    ]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let written: Vec<_> = std::fs::read_dir(&out)
        .expect("the reports")
        .map(|entry| std::fs::read_to_string(entry.expect("an entry").path()).expect("a report"))
        .collect();
    assert_eq!(written.len(), 1);
    assert!(written[0].contains("Switch Test Sender"), "{}", written[0]);
    assert!(
        dry["reports"][0]["file_name"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("sender.test!{CLEAN}!")),
        "{dry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mail_goes_through_a_real_postfix_relay_dkim_signed() {
    use mta_sts_alerts::postfix::{DOMAIN, OWNER, Postfix};
    let Some(postfix) = Postfix::start() else {
        return;
    };
    let dir = TempDir::new("tlsrpt-relay");
    let sender_store = StoreUrl::Sqlite(dir.path("sender.db"));
    let yesterday = UtcDate::from_day_number(today().day_number() - 1).expect("yesterday");
    let store = SenderStore::open(&sender_store)
        .await
        .expect("open the store");
    store
        .add(&CountBatch {
            counts: vec![DayCounts {
                day: yesterday,
                counts: SessionCounts {
                    domain: DOMAIN.into(),
                    tlsrpt_record: format!("v=TLSRPTv1; rua=mailto:{OWNER}"),
                    result: PolicyResult {
                        policy: AppliedPolicy {
                            policy_type: PolicyType::NoPolicyFound,
                            policy_string: Vec::new(),
                            policy_domain: Some(DOMAIN.into()),
                            mx_host: Vec::new(),
                        },
                        summary: Summary {
                            total_successful_session_count: 3,
                            total_failure_session_count: 0,
                        },
                        failure_details: Vec::new(),
                    },
                },
            }],
            figures: Vec::new(),
        })
        .await
        .expect("add");
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mta-sts-tlsrpt/testdata/dkim-ed25519.pem"
    );
    let config = dir.path("tlsrpt.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"{sender_store}\"\n\
             [report]\n\
             organization_name = \"Relay Test Sender\"\n\
             contact_info = \"tlsrpt@sender.test\"\n\
             [mail]\n\
             from = \"tlsrpt-noreply@sender.test\"\n\
             transport = \"relay\"\n\
             [mail.relay]\n\
             host = \"localhost\"\n\
             port = {port}\n\
             security = \"starttls\"\n\
             ca_file = \"{ca}\"\n\
             [dkim]\n\
             key_file = \"{key}\"\n\
             selector = \"tlsrpt\"\n",
            port = postfix.port(),
            ca = path_arg(&postfix.ca_file()),
        ),
    )
    .expect("write the configuration");
    let config_arg = path_arg(&config);
    let send = mta_sts(&[
        "tlsrpt",
        "send",
        "--config",
        &config_arg,
        "--day",
        "yesterday",
    ]);
    let out = text(&send.stdout);
    assert!(
        send.status.success(),
        "{out}{}\n{}",
        text(&send.stderr),
        postfix.log()
    );
    assert!(
        out.contains(&format!("to mailto:{OWNER} (attempt 1) was delivered")),
        "{out}"
    );
    let messages = postfix.wait_for_messages(1).await;
    let message = &messages[0];
    for expected in [
        "DKIM-Signature:",
        "s=tlsrpt",
        "d=sender.test",
        "report-type=\"tlsrpt\"",
        &format!("TLS-Report-Domain: {DOMAIN}"),
        "TLS-Report-Submitter: sender.test",
        "application/tlsrpt+gzip",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
}
