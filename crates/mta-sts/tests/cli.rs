//! The `mta-sts` binary as a user runs it: exit statuses, human and JSON output, files and stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mta-sts-core/tests/fixtures/reports")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mta-sts")
}

fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mta-sts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait mta-sts")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

fn codes(value: &Value) -> Vec<String> {
    value["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| d["code"].as_str().expect("code").to_string())
        .collect()
}

#[test]
fn healthy_policy_exits_0_and_summarises() {
    let path = examples().join("mta-sts.txt");
    let output = run(&["lint", "policy", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            ": valid: mode enforce, max_age 1209600 (14 days), mx mail.acme.test, *.mx.acme.test"
        ),
        "{text}"
    );
}

#[test]
fn broken_policy_exits_1_and_draws_carets() {
    let path = examples().join("mta-sts-broken.txt");
    let output = run(&["lint", "policy", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    for expected in [
        "error[mode-invalid]: mode `enforced` is not one of testing, enforce, none",
        "2 | mode: enforced\n  |       ^^^^^^^^\n  = hint: the RFC says `enforce`: write `mode: enforce`",
        "error[line-indented]",
        "warning[mx-ip-address]",
        "warning[field-name-typo]",
        "warning[max-age-low]",
        "did you mean `max_age: 604800`?",
        "warning[id-in-policy]",
        ": invalid: senders would not use this policy",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn policy_json_has_the_documented_shape() {
    let path = examples().join("mta-sts-broken.txt");
    let output = run(&[
        "lint",
        "policy",
        "--json",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(value["valid"], Value::Bool(false));
    assert_eq!(value["parsed"], Value::Null);
    let first = &value["diagnostics"][0];
    for key in ["severity", "code", "message", "line", "column", "hint"] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "mode-invalid");
    assert_eq!(first["line"], 2);
    assert_eq!(first["column"], 7);
    assert!(codes(&value).contains(&"mx-ip-address".to_string()));
}

#[test]
fn policy_from_stdin_with_json_parsed() {
    let output = run_with_stdin(
        &["lint", "--json", "policy", "-"],
        b"version: STSv1\r\nmode: testing\r\nmx: *.mx.acme.test\r\nmax_age: 604800\r\n",
    );
    assert_eq!(output.status.code(), Some(0));
    let value = json(&output);
    assert_eq!(value["valid"], true);
    assert_eq!(value["parsed"]["mode"], "testing");
    assert_eq!(value["parsed"]["max_age"], 604800);
    assert_eq!(value["parsed"]["mx"][0], "*.mx.acme.test");
    assert_eq!(codes(&value), ["mode-testing"]);
    assert_eq!(value["diagnostics"][0]["severity"], "info");
}

#[test]
fn unreadable_file_exits_2_with_a_clear_message() {
    let output = run(&["lint", "policy", "/nonexistent/mta-sts.txt"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/mta-sts.txt"),
        "{stderr}"
    );
    let output = run(&["lint", "policy", "/"]);
    assert_eq!(output.status.code(), Some(2), "a directory is not a policy");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["lint"]).status.code(), Some(2));
    assert_eq!(run(&["lint", "policy"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
}

#[test]
fn sts_record_valid_and_invalid() {
    let output = run(&["lint", "sts-record", "v=STSv1; id=20160831085700Z;"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("record: valid: policy id 20160831085700Z"));

    let output = run(&["lint", "sts-record", "--json", "v=STSv1; id=2026-01-01"]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(codes(&value), ["sts-id-invalid"]);
    assert_eq!(value["diagnostics"][0]["line"], Value::Null);
    assert_eq!(value["diagnostics"][0]["column"], 17);
    assert_eq!(value["diagnostics"][0]["hint"], "write `id=20260101`");

    let output = run(&["lint", "sts-record", "v=STSv1 id=1"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains(" | v=STSv1 id=1\n  |        ^\n"), "{text}");
}

#[test]
fn tlsrpt_record_bare_address() {
    let output = run(&["lint", "tlsrpt-record", "v=TLSRPTv1; rua=tls@acme.test"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("hint: write `rua=mailto:tls@acme.test`"));
    let output = run(&[
        "lint",
        "tlsrpt-record",
        "--json",
        "v=TLSRPTv1; rua=mailto:tls@acme.test",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        json(&output)["parsed"]["rua"][0]["uri"],
        "mailto:tls@acme.test"
    );
}

#[test]
fn report_json_and_gzip_give_the_same_answer() {
    let path = fixture("rfc8460-example.json");
    let plain = std::fs::read(&path).expect("fixture");
    let from_file = run(&[
        "lint",
        "report",
        "--json",
        path.to_str().expect("utf-8 path"),
    ]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip");
    let from_gzip = run_with_stdin(
        &["lint", "report", "--json", "-"],
        &gz.finish().expect("gzip"),
    );
    assert_eq!(from_file.status.code(), from_gzip.status.code());
    assert_eq!(json(&from_file), json(&from_gzip));
    assert!(json(&from_file)["parsed"]["report-id"].is_string());
}

#[test]
fn report_garbage_is_invalid_not_a_crash() {
    let output = run_with_stdin(&["lint", "report", "-"], b"{\"organization-name\": ");
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("error[report-not-json]"));
    let output = run_with_stdin(&["lint", "report", "-"], b"\x1f\x8b\x08\x00garbage");
    assert_eq!(output.status.code(), Some(1));
}

/// Runs with `repeats` copies of `chunk` offered on standard input by a writer thread; returns the
/// output and what the writer met: `Ok` when the binary took everything, the error otherwise.
fn run_with_endless_stdin(
    args: &[&str],
    chunk: &[u8],
    repeats: usize,
) -> (Output, std::io::Result<()>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mta-sts");
    let mut stdin = child.stdin.take().expect("stdin");
    let chunk = chunk.to_vec();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        for _ in 0..repeats {
            stdin.write_all(&chunk)?;
        }
        Ok(())
    });
    let output = child.wait_with_output().expect("wait mta-sts");
    (output, writer.join().expect("writer thread"))
}

#[test]
fn stdin_past_the_policy_limit_is_too_large_and_not_read_further() {
    // 8 MiB of mx lines: reading must stop one byte past 64 KiB.
    let chunk = b"mx: mail.example.com\n".repeat(1024);
    let (output, written) = run_with_endless_stdin(&["lint", "policy", "-"], &chunk, 390);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("error[policy-too-large]: the policy is over 65536 bytes"),
        "{text}"
    );
    assert!(
        text.contains("<stdin>: reading stopped after 65537 bytes"),
        "{text}"
    );
    assert!(text.contains("not shown here"), "{text}");
    let error = written.expect_err("the binary stopped reading, so the writer met a closed pipe");
    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);

    let (output, _) = run_with_endless_stdin(&["lint", "--json", "policy", "-"], &chunk, 390);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        codes(&json(&output)).first().map(String::as_str),
        Some("policy-too-large")
    );
}

#[test]
fn stdin_past_the_report_limit_is_too_large() {
    // 20 MiB of JSON whitespace, past the 16 MiB a report may have.
    let (output, written) =
        run_with_endless_stdin(&["lint", "report", "--json", "-"], &[b' '; 1 << 20], 20);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(codes(&json(&output)), ["report-too-large"]);
    assert!(written.is_err());
}

#[test]
fn a_binary_file_is_linted_without_echoing_raw_bytes() {
    let path = std::env::current_exe().expect("the test binary");
    let output = run(&["lint", "policy", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("error[policy-"), "{text}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
    assert!(
        text.lines().all(|line| line.chars().count() < 200),
        "{text}"
    );
}

#[test]
fn match_answers_with_exit_status_and_reason() {
    let output = run(&["match", "*.example.com", "mx1.example.com"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "mx1.example.com matches *.example.com: `*.` matches the one label before `example.com`\n"
    );

    let output = run(&["match", "*.example.com", "a.b.example.com"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("`*.` matches exactly one label, and `a.b` has 2"));

    let output = run(&["match", "*.example.com", "example.com"]);
    assert_eq!(output.status.code(), Some(1));

    let output = run(&["match", "--json", "mail.example.com", "MAIL.Example.COM."]);
    assert_eq!(output.status.code(), Some(0));
    let value = json(&output);
    assert_eq!(value["matches"], true);
    assert_eq!(value["host"], "mail.example.com");
}

#[test]
fn match_converts_unicode_hosts_and_refuses_bad_input() {
    let output = run(&["match", "*.xn--bcher-kva.example", "mx.bücher.example"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    let output = run(&["match", "mail.*.example.com", "mail.x.example.com"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("only allowed as the whole left-most label")
    );

    let output = run(&["match", "*.example.com", "192.0.2.1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is an IP address"));
}

#[test]
fn check_refuses_what_is_not_a_mail_domain_and_says_why() {
    // Each is refused before any lookup, so no resolver is needed; exit 2 is a usage error.
    let too_long = ["a", "b", "c", "d"].map(|c| c.repeat(60)).join(".") + ".example";
    let cases: &[(&str, &[&str])] = &[
        // A legacy spelling of 127.0.0.1.
        ("0x7f000001", &["127.0.0.1", "not a mail domain"]),
        ("127.1", &["127.0.0.1", "not a mail domain"]),
        // A zero-width space that IDNA would drop, making `example.com`.
        (
            "exa\u{200B}mple.com",
            &["U+200B (zero width space)", "character 4"],
        ),
        // CRLF: called a control character, not a port or a scheme.
        (
            "example.com\r\nX: y",
            &["U+000D (carriage return)", "control character"],
        ),
        // `_mta-sts.` plus the name would pass DNS's 253.
        (&too_long, &["253", "at most 244"]),
    ];
    for (input, words) in cases {
        let output = run(&["check", "--no-smtp", input]);
        assert_eq!(output.status.code(), Some(2), "{input:?}");
        assert!(output.stdout.is_empty(), "{input:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for word in *words {
            assert!(stderr.contains(word), "{input:?}: {stderr}");
        }
        assert!(!stderr.contains("port"), "{input:?}: {stderr}");
    }
    let output = run(&["match", "*.example.com", "mx\u{200D}.example.com"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("U+200D (zero width joiner)"));
}

/// Writes a postfix-mta-sts-resolver configuration to a file of its own in the temp directory.
fn compat_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mta-sts-cli-{}-{name}.mta-sts-daemon.yml",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("write the configuration");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn query_answers_with_a_postfix_mta_sts_resolver_config() {
    let lab = mta_sts_lab::Lab::start().await.expect("lab");
    let domain = |name: &str| lab.scenario(name).expect("scenario").domain.clone();
    let (healthy, testing) = (domain("healthy-enforce"), domain("mode-testing"));
    // Zones as a postfix-mta-sts-resolver user writes them, with YAML 1.1 booleans.
    let file = compat_file(
        "zones",
        "host: 127.0.0.1\nport: 8461\nreuse_port: true\n\
         default_zone:\n  tlsrpt: yes\n\
         zones:\n  strict:\n    strict_testing: true\n    require_sni: false\n",
    );
    let file_arg = file.to_str().expect("utf-8 path").to_string();
    let dns = lab.dns_addr().to_string();
    let ca = lab.ca_file().display().to_string();
    let https = lab.https_port().to_string();
    let query = |domain: &str, zone: &str| {
        tokio::task::block_in_place(|| {
            run(&[
                "query",
                "--compat-config",
                &file_arg,
                "--zone",
                zone,
                "--resolver",
                &dns,
                "--ca-file",
                &ca,
                "--https-port",
                &https,
                domain,
            ])
        })
    };

    // The default zone: the file's `tlsrpt: yes` adds the TLSRPT attributes.
    let output = query(&healthy, "postfix");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "OK secure match=mx.{healthy} servername=hostname policy_type=sts \
             policy_domain={healthy}"
        )),
        "{text}"
    );
    // reuse_port is accepted, and the user is told it is ignored.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("mta-sts: {file_arg}: reuse_port: ignored")),
        "{stderr}"
    );

    // The `strict` zone enforces a testing policy and leaves out servername=hostname.
    let output = query(&testing, "strict");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let reply = text.lines().next().unwrap_or_default();
    assert!(reply.starts_with("OK secure match="), "{text}");
    assert!(!reply.contains("servername="), "{text}");
    // The default zone does not.
    let output = query(&testing, "postfix");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).starts_with("NOTFOUND"));

    let _ = std::fs::remove_file(&file);
    lab.shutdown().await;
}

#[test]
fn compat_config_refusals_exit_2_with_the_reason() {
    let file = compat_file(
        "postgres",
        "cache:\n  type: postgres\n  options:\n    dsn: postgres://user@%2Frun%2Fpostgresql/user\n",
    );
    let path = file.to_str().expect("utf-8 path");
    for command in ["query", "daemon"] {
        let mut args = vec![command, "--compat-config", path];
        if command == "query" {
            args.push("example.com");
        }
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "{path}: `cache.type`: cache type `postgres` is not supported"
            )),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains("type: redis") && stderr.contains("type: sqlite"),
            "{stderr}"
        );
    }

    // A typo is named, not silently ignored.
    std::fs::write(&file, "default_zone:\n  strict_tesing: true\n").expect("write");
    let output = run(&["query", "--compat-config", path, "example.com"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`default_zone.strict_tesing`: unknown key"),
        "{stderr}"
    );

    // One configuration or the other.
    let output = run(&[
        "query",
        "--config",
        path,
        "--compat-config",
        path,
        "example.com",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_file(&file);
}

/// Writes postfix-mta-sts-resolver's SQLite cache of lab domains to `path`, its timestamps moved
/// to the present.
///
/// The file is `pmsr-1.5.1-lab-cache.db`, written by the peer's own cache class
/// (crates/mta-sts-policyd/tests/fixtures/make-pmsr-cache.py, which lists its rows), with
/// timestamps relative to a fixed T0. Two rows must be unexpired whenever the test runs, so
/// their `ts` is rewritten to "now minus the same age". Without an SQLite library here, that is
/// done in the file's bytes: SQLite stores an integer of this size as 4 big-endian bytes, once in
/// the table and once in the peer's `(domain, ts)` index, and nothing else in the file changes.
fn write_lab_peer_cache(path: &std::path::Path) -> Vec<u8> {
    const T0: i64 = 1_767_225_600;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mta-sts-policyd/tests/fixtures/pmsr-1.5.1-lab-cache.db");
    let mut bytes = std::fs::read(&fixture).expect("read the fixture");
    let now = mta_sts_core::time::Clock::now(&mta_sts_net::SystemClock).unix_seconds();
    // healthy-enforce.test checked 10 s ago, policy-404.test a day and 1234 s ago.
    for age in [10, 86_400 + 1234] {
        let old = i32::try_from(T0 - age).expect("fits").to_be_bytes();
        let new = i32::try_from(now - age)
            .expect("SQLite stores times after 2038 in 6 bytes: regenerate the fixture")
            .to_be_bytes();
        let at: Vec<usize> = bytes
            .windows(4)
            .enumerate()
            .filter(|(_, window)| *window == old)
            .map(|(at, _)| at)
            .collect();
        assert_eq!(at.len(), 2, "ts {} in the table and its index", T0 - age);
        for at in at {
            bytes[at..at + 4].copy_from_slice(&new);
        }
    }
    std::fs::write(path, &bytes).expect("write the peer's cache");
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn query_imports_the_peers_sqlite_cache_once_and_answers_from_it() {
    let lab = mta_sts_lab::Lab::start().await.expect("lab");
    let dir = std::env::temp_dir().join(format!("mta-sts-cli-{}-peer-cache", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let peer = dir.join("cache.db");
    let peer_bytes = write_lab_peer_cache(&peer);
    let file = compat_file(
        "peer-cache",
        &format!(
            "cache:\n  type: sqlite\n  options:\n    filename: {}\n",
            peer.display()
        ),
    );
    let file_arg = file.to_str().expect("utf-8 path").to_string();
    let dns = lab.dns_addr().to_string();
    let ca = lab.ca_file().display().to_string();
    let https = lab.https_port().to_string();
    let query = |domain: &str| {
        tokio::task::block_in_place(|| {
            run(&[
                "query",
                "--json",
                // The import-once rule is about the daemon's own cache, which only
                // --update-cache lets `query` create and write.
                "--update-cache",
                "--compat-config",
                &file_arg,
                "--resolver",
                &dns,
                "--ca-file",
                &ca,
                "--https-port",
                &https,
                domain,
            ])
        })
    };
    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();

    // The first start imports: 2 policies, the expired one and the broken row left out.
    let output = query("healthy-enforce.test");
    let log = stderr(&output);
    assert!(
        log.contains(&format!(
            "mta-sts: imported 2 policies from {} (1 expired, 1 unreadable, 0 already cached)\n",
            peer.display()
        )),
        "{log}"
    );
    assert!(
        log.contains("mta-sts:   not imported: row 4 (sts-split.test): `pol_body` is not JSON"),
        "{log}"
    );
    // The answer is the imported policy, from the cache alone: the lab serves another id and
    // mx (mx.healthy-enforce.test), and the peer checked the TXT record 10 s ago.
    assert_eq!(output.status.code(), Some(0), "{}\n{log}", stdout(&output));
    let value = json(&output);
    assert_eq!(
        value["reply"], "OK secure match=imported-mx.healthy-enforce.test servername=hostname",
        "{value}"
    );
    assert_eq!(value["origin"], "cache", "{value}");
    assert_eq!(value["policy"]["id"], "20251111T000000", "{value}");
    // Times in --json are RFC 3339 text, as everywhere a person reads them.
    for key in ["fetched_at", "expires_at"] {
        let text = value["policy"][key].as_str().unwrap_or_default();
        assert!(
            text.ends_with('Z') && mta_sts_core::time::Timestamp::parse(text).is_ok(),
            "{key}: {value}"
        );
    }

    // The next start finds its cache and imports nothing more. policy-404.test was checked a day
    // ago: its TXT record now has another id, whose policy cannot be fetched (404), so the
    // imported policy still applies (RFC 8461 §5.1) -- the protection the import is for.
    let output = query("policy-404.test");
    let log = stderr(&output);
    assert!(!log.contains("imported"), "{log}");
    assert_eq!(output.status.code(), Some(0), "{}\n{log}", stdout(&output));
    let value = json(&output);
    assert_eq!(
        value["reply"], "OK secure match=imported-mx.policy-404.test servername=hostname",
        "{value}"
    );
    assert_eq!(value["origin"], "fetch", "{value}");
    assert_eq!(value["fallback"]["kind"], "fetch-failed", "{value}");
    assert_eq!(value["policy"]["id"], "20251111T000000", "{value}");
    // The same in sentences, asked again: the fetch is backing off now, and the imported policy
    // still applies (RFC 8461 §3.3), said with the time of the next attempt in RFC 3339.
    let output = tokio::task::block_in_place(|| {
        run(&[
            "query",
            "--compat-config",
            &file_arg,
            "--resolver",
            &dns,
            "--ca-file",
            &ca,
            "--https-port",
            &https,
            "policy-404.test",
        ])
    });
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "policy-404.test: the cached policy applies until it expires, because the policy \
             with id 20260101T000000 failed recently"
        ),
        "{text}"
    );
    assert!(
        !text.contains("BackingOff") && !text.contains('{'),
        "{text}"
    );

    // The expired enforce policy was not imported: the lab's own testing policy is fetched.
    let output = query("mode-testing.test");
    let value = json(&output);
    assert_eq!(value["origin"], "fetch", "{value}");
    assert_eq!(value["policy"]["mode"], "testing", "{value}");

    // The peer's file is as it was, with nothing created beside it; ours is its sibling.
    assert_eq!(std::fs::read(&peer).expect("read"), peer_bytes);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("cache.db"))
        .collect();
    names.sort();
    assert_eq!(names, ["cache.db"]);
    assert!(dir.join("cache.mta-sts.db").exists());

    // A peer file that has gone is a note; the query is answered all the same.
    std::fs::remove_dir_all(&dir).expect("clean");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let output = query("healthy-enforce.test");
    let log = stderr(&output);
    assert!(
        log.contains(&format!(
            "mta-sts: no policies imported: postfix-mta-sts-resolver's cache {} does not exist \
             (deleted?)\n",
            peer.display()
        )),
        "{log}"
    );
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert_eq!(json(&output)["policy"]["id"], "20260101T000000");

    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&file);
    lab.shutdown().await;
}

/// The files in `dir`, sorted.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn query_reads_the_daemons_cache_and_writes_it_only_when_asked() {
    let lab = mta_sts_lab::Lab::start().await.expect("lab");
    let domain = |name: &str| lab.scenario(name).expect("scenario").domain.clone();
    let (healthy, testing) = (domain("healthy-enforce"), domain("mode-testing"));
    let dir = std::env::temp_dir().join(format!("mta-sts-cli-{}-query-cache", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("cache.sqlite3");
    let cache = format!("sqlite:{}", path.display());
    let dns = lab.dns_addr().to_string();
    let ca = lab.ca_file().display().to_string();
    let https = lab.https_port().to_string();
    let query = |domain: &str, update: bool| {
        let mut args = vec![
            "query",
            "--json",
            "--cache",
            &cache,
            "--resolver",
            &dns,
            "--ca-file",
            &ca,
            "--https-port",
            &https,
        ];
        if update {
            args.push("--update-cache");
        }
        args.push(domain);
        tokio::task::block_in_place(|| run(&args))
    };
    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();

    // No cache file: it is not created, the query is answered all the same, and says why.
    let output = query(&healthy, false);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json(&output)["origin"], "fetch");
    assert!(
        stderr(&output).contains(&format!(
            "mta-sts: the cache {} does not exist (mta-sts query only reads the daemon's cache; \
             --update-cache lets it create and write the file); answering with a memory cache",
            path.display()
        )),
        "{}",
        stderr(&output)
    );
    assert_eq!(files_in(&dir), Vec::<String>::new());

    // Asked to, it creates the file and stores what it learnt.
    let output = query(&healthy, true);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json(&output)["origin"], "fetch");
    assert_eq!(files_in(&dir), ["cache.sqlite3"]);
    let stored = std::fs::read(&path).expect("the cache file");

    // Without the flag it reads the file (the policy comes from it) and changes nothing: not the
    // file, and nothing beside it.
    let output = query(&healthy, false);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json(&output)["origin"], "cache", "{}", stdout(&output));
    for _ in 0..2 {
        // A domain not in the file is fetched each time: the first answer was not stored.
        let output = query(&testing, false);
        assert_eq!(json(&output)["origin"], "fetch", "{}", stdout(&output));
    }
    assert_eq!(std::fs::read(&path).expect("the cache file"), stored);
    assert_eq!(files_in(&dir), ["cache.sqlite3"]);

    // --update-cache stores it; a plain query then finds it.
    let output = query(&testing, true);
    assert_eq!(json(&output)["origin"], "fetch");
    let output = query(&testing, false);
    assert_eq!(json(&output)["origin"], "cache", "{}", stdout(&output));

    // A damaged file: a plain query leaves it alone and says so; --update-cache opens it as the
    // daemon does, salvaging its rows into a new file and keeping the damaged one aside.
    let mut bytes = std::fs::read(&path).expect("the cache file");
    bytes[..100].fill(0x5a);
    std::fs::write(&path, &bytes).expect("damage the header");
    let output = query(&healthy, false);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the daemon salvages it at its next start"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&path).expect("untouched"), bytes);
    let output = query(&healthy, true);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(
        log.contains(&format!(
            "mta-sts: the cache {} was damaged",
            path.display()
        )) && log.contains("2 rows salvaged into a new file, 0 rows lost"),
        "{log}"
    );
    assert_eq!(json(&output)["origin"], "cache", "{}", stdout(&output));
    let names = files_in(&dir);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[1].starts_with("cache.sqlite3.damaged-"), "{names:?}");
    assert_eq!(std::fs::read(dir.join(&names[1])).expect("kept"), bytes);

    let _ = std::fs::remove_dir_all(&dir);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_starts_on_a_damaged_cache_and_says_what_it_salvaged() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let lab = mta_sts_lab::Lab::start().await.expect("lab");
    let domain = |name: &str| lab.scenario(name).expect("scenario").domain.clone();
    let (healthy, testing) = (domain("healthy-enforce"), domain("mode-testing"));
    let dir = std::env::temp_dir().join(format!("mta-sts-cli-{}-damaged", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("cache.sqlite3");
    let cache = format!("sqlite:{}", path.display());
    let dns = lab.dns_addr().to_string();
    let ca = lab.ca_file().display().to_string();
    let https = lab.https_port().to_string();
    let flags = [
        "--cache",
        &cache,
        "--resolver",
        &dns,
        "--ca-file",
        &ca,
        "--https-port",
        &https,
    ];
    for name in [&healthy, &testing] {
        let output = tokio::task::block_in_place(|| {
            run(&[
                &["query", "--update-cache"][..],
                &flags[..],
                &[name.as_str()],
            ]
            .concat())
        });
        // 0 for OK, 1 for NOTFOUND (a testing policy): either way, looked up and stored.
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{}",
            stdout(&output)
        );
    }
    let mut bytes = std::fs::read(&path).expect("the cache file");
    bytes[..100].fill(0x5a);
    std::fs::write(&path, &bytes).expect("damage the header");

    let mut daemon = std::process::Command::new(BIN)
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .args(flags)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let mut lines = std::io::BufReader::new(daemon.stderr.take().expect("stderr")).lines();
    // Up to the line naming the socketmap address: the salvage is reported before it.
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("the daemon stopped: {log:#?}"));
        let address = line.split("127.0.0.1:").nth(1).map(|rest| {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            format!("127.0.0.1:{port}")
        });
        log.push(line);
        if let Some(address) = address {
            break address;
        }
    };
    assert!(
        log.iter().any(|line| line.contains(&format!(
            "the cache {} was damaged (SQLite cannot read it: file is not a database): 2 rows \
             salvaged into a new file, 0 rows lost; the damaged file is kept as {}.damaged-",
            path.display(),
            path.display()
        ))),
        "{log:#?}"
    );
    // Keep reading, so that the daemon never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));

    // It answers from the salvaged policies.
    let reply = tokio::task::block_in_place(|| {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        let request = format!("postfix {healthy}");
        stream
            .write_all(format!("{}:{request},", request.len()).as_bytes())
            .expect("send");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b",") {
            stream.read_exact(&mut byte).expect("a reply");
            reply.push(byte[0]);
        }
        String::from_utf8(reply).expect("text")
    });
    assert!(reply.contains(":OK secure match="), "{reply}");
    let _ = daemon.kill();
    let _ = daemon.wait();
    let names = files_in(&dir);
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("cache.sqlite3.damaged-")),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    lab.shutdown().await;
}

/// Runs `mta-sts` and waits at most 20 s: a command that should have refused its flags but
/// serves instead is killed, and the test fails saying so rather than hanging.
fn run_refused(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mta-sts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "{args:?} is still running: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn numbers_that_mean_nothing_are_refused_naming_the_flag_before_anything_listens() {
    let cases: &[(&[&str], &str)] = &[
        (&["check", "example.com", "--timeout", "0"], "--timeout"),
        (&["check", "example.com", "--timeout", "601"], "--timeout"),
        (&["check", "example.com", "--timeout", "soon"], "--timeout"),
        (
            &["check", "example.com", "--https-port", "0"],
            "--https-port",
        ),
        (&["check", "example.com", "--smtp-port", "0"], "--smtp-port"),
        (&["web", "--listen", "127.0.0.1:0", "--rate", "0"], "--rate"),
        (
            &["web", "--listen", "127.0.0.1:0", "--max-concurrent", "0"],
            "--max-concurrent",
        ),
        (
            &[
                "web",
                "--listen",
                "127.0.0.1:0",
                "--max-concurrent",
                "10001",
            ],
            "--max-concurrent",
        ),
        (
            &["web", "--listen", "127.0.0.1:0", "--timeout", "0"],
            "--timeout",
        ),
        (
            &["web", "--listen", "127.0.0.1:0", "--check-timeout=-1"],
            "--check-timeout",
        ),
        (&["web", "--log-format", "xml"], "--log-format"),
        (
            &["daemon", "--listen", "127.0.0.1:0", "--https-port", "0"],
            "--https-port",
        ),
        (
            &["query", "example.com", "--https-port", "0"],
            "--https-port",
        ),
    ];
    for (args, flag) in cases {
        let (code, stderr) = run_refused(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} does not name {flag}: {stderr}"
        );
        assert!(!stderr.contains("listening"), "{args:?}: {stderr}");
    }
    // The range is said as it is: 0 itself is outside it.
    let (_, stderr) = run_refused(&["check", "example.com", "--timeout", "0"]);
    assert!(
        stderr.contains("more than 0 and at most 600 seconds"),
        "{stderr}"
    );
}

#[test]
fn flags_that_would_be_ignored_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (&["web", "--listen", "127.0.0.1:0", "--json"], "--json"),
        (&["daemon", "--listen", "127.0.0.1:0", "--json"], "--json"),
        (
            &["query", "example.com", "--listen", "127.0.0.1:1"],
            "--listen",
        ),
        (
            &["query", "example.com", "--metrics", "127.0.0.1:1"],
            "--metrics",
        ),
        (
            &["query", "example.com", "--log-format", "json"],
            "--log-format",
        ),
        (
            &["lint", "policy", "-", "--log-format", "json"],
            "--log-format",
        ),
    ];
    for (args, flag) in cases {
        let (code, stderr) = run_refused(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} does not name {flag}: {stderr}"
        );
    }
}

#[test]
fn query_refuses_a_key_that_is_not_a_domain_with_status_2() {
    for key in ["exa mple.com", "", "bad_label!.example"] {
        let (code, stderr) = run_refused(&["query", "--cache", "memory", key]);
        assert_eq!(code, Some(2), "{key:?}: {stderr}");
        assert!(stderr.starts_with("mta-sts: the key "), "{key:?}: {stderr}");
        assert!(stderr.contains("NOTFOUND without a lookup"), "{stderr}");
    }
}

#[test]
fn the_examples_readme_names_files_that_exist_and_the_report_is_valid() {
    let readme = std::fs::read_to_string(examples().join("README.md")).expect("README");
    for name in readme
        .lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split('`').next())
    {
        assert!(
            examples().join(name).exists(),
            "examples/{name} is named but missing"
        );
    }
    let report = examples().join("tlsrpt-report.json");
    let output = run(&["lint", "report", report.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
