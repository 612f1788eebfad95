//! `mta-sts daemon` asked by Postfix's own client, `postmap -q ... socketmap:...`, for lab domains;
//! and `mta-sts query`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mta_sts_lab::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");
const POSTMAP: &str = "/usr/sbin/postmap";

/// The flags that point the daemon (and `query`) at the lab.
fn lab_flags(lab: &Lab) -> Vec<String> {
    vec![
        "--resolver".into(),
        lab.dns_addr().to_string(),
        "--ca-file".into(),
        lab.ca_file().display().to_string(),
        "--https-port".into(),
        lab.https_port().to_string(),
    ]
}

/// Starts the daemon on an ephemeral port and returns it with the address it printed.
fn start_daemon(lab: &Lab) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .args(lab_flags(lab))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("the daemon's first line");
    let address = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, address)
}

/// `postmap -q DOMAIN socketmap:inet:ADDRESS:postfix`, with a throwaway configuration directory
/// (postmap insists on reading a main.cf). Returns the exit status and what it printed.
fn postmap(address: &str, domain: &str, config_dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(POSTMAP)
        .args([
            "-c",
            &config_dir.display().to_string(),
            "-q",
            domain,
            &format!("socketmap:inet:{address}:postfix"),
        ])
        .output()
        .expect("run postmap");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_postmap_sees_the_daemons_replies() {
    if !Path::new(POSTMAP).exists() {
        // .ci/run installs Debian's postfix; only a developer machine without it skips.
        assert!(std::env::var_os("CI").is_none(), "CI must have {POSTMAP}");
        eprintln!("skipping: {POSTMAP} is not installed (apt-get install postfix)");
        return;
    }
    let lab = Lab::start().await.expect("lab");
    let config_dir = std::env::temp_dir().join(format!("mta-sts-postfix-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(config_dir.join("main.cf"), "").expect("main.cf");
    let (mut daemon, address) = tokio::task::block_in_place(|| start_daemon(&lab));
    let domain = |name: &str| lab.scenario(name).expect("scenario").domain.clone();

    let (status, text) =
        tokio::task::block_in_place(|| postmap(&address, &domain("healthy-enforce"), &config_dir));
    assert_eq!(status, Some(0), "{text}");
    assert_eq!(
        text,
        format!(
            "secure match=mx.{} servername=hostname",
            domain("healthy-enforce")
        )
    );

    // `*.x` patterns reach Postfix as `.x`.
    let (status, text) =
        tokio::task::block_in_place(|| postmap(&address, &domain("mx-wildcard"), &config_dir));
    assert_eq!(status, Some(0));
    assert_eq!(
        text,
        format!(
            "secure match=.{} servername=hostname",
            domain("mx-wildcard")
        )
    );

    // Postfix's own key forms are normalised.
    let key = format!("[{}]:25", domain("healthy-enforce").to_uppercase());
    let (status, _) = tokio::task::block_in_place(|| postmap(&address, &key, &config_dir));
    assert_eq!(status, Some(0));

    // testing and none modes, no record, and a failed fetch are not found: Postfix applies its
    // default TLS level.
    for name in ["mode-testing", "mode-none", "sts-missing", "policy-404"] {
        let (status, text) =
            tokio::task::block_in_place(|| postmap(&address, &domain(name), &config_dir));
        assert_eq!(status, Some(1), "{name}: {text}");
    }

    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let exit = daemon.wait().expect("the daemon stops on SIGTERM");
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&config_dir);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_explains_the_reply() {
    let lab = Lab::start().await.expect("lab");
    let healthy = lab
        .scenario("healthy-enforce")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .arg("query")
            .arg(&healthy)
            .args(lab_flags(&lab))
            .output()
            .expect("query")
    });
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!("OK secure match=mx.{healthy} servername=hostname")),
        "{text}"
    );
    assert!(text.contains("mode enforce"), "{text}");

    let testing = lab
        .scenario("mode-testing")
        .expect("scenario")
        .domain
        .clone();
    let output = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(["--json", "query"])
            .arg(&testing)
            .args(lab_flags(&lab))
            .output()
            .expect("query")
    });
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["domain"], testing.as_str());
    assert!(
        value["not_found"].is_object() || value["not_found"].is_string(),
        "{value}"
    );
    lab.shutdown().await;
}
