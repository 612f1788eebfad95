//! `mta-sts publish` as a domain owner runs it, against the lab's DNS and HTTPS on loopback:
//! the human text, `--json`, `--out`, refusals with exit 2 and a sentence, and
//! `--plan-mx-change`.

use std::process::{Command, Output};

use mta_sts_core::Policy;
use mta_sts_core::sts_record::content_id;
use mta_sts_lab::{DnsRecord, Lab, RecordData, Scenario, catalog};
use mta_sts_store::test_support::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The catalog, plus a domain whose MX is a Microsoft 365 host.
async fn lab() -> Lab {
    let mut scenarios = catalog();
    scenarios.push(Scenario {
        name: "publish-cli-microsoft",
        domain: "publish-cli-microsoft.test".to_string(),
        story: "MX at Microsoft 365",
        expect: &[],
        records: vec![DnsRecord::new(
            "publish-cli-microsoft.test",
            RecordData::Mx {
                preference: 0,
                exchange: "publish-cli-microsoft-test.mail.protection.outlook.com".to_string(),
            },
        )],
        policy_hosts: Vec::new(),
        mx_hosts: Vec::new(),
        signed: false,
    });
    Lab::start_with(scenarios, 0).await.expect("lab starts")
}

/// `mta-sts publish ARGS... --resolver <lab>`.
fn publish(lab: &Lab, args: &[&str]) -> Output {
    let dns = lab.dns_addr().to_string();
    let https = lab.https_port().to_string();
    let ca = lab.ca_file().to_string_lossy().into_owned();
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--resolver",
        &dns,
        "--ca-file",
        &ca,
        "--https-port",
        &https,
        "--timeout",
        "2",
    ]);
    tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(&all)
            .env("NO_COLOR", "1")
            .output()
            .expect("run mta-sts")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn human_text_says_what_to_serve_and_what_to_publish() {
    let lab = lab().await;
    let output = publish(
        &lab,
        &[
            "healthy-enforce.test",
            "--mode",
            "enforce",
            "--rua",
            "mailto:tlsrpt@healthy-enforce.test",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    let policy = "version: STSv1\nmode: enforce\nmx: mx.healthy-enforce.test\nmax_age: 604800\n";
    let id = content_id(policy);
    assert!(out.contains(policy), "{out}");
    assert!(
        out.contains("https://mta-sts.healthy-enforce.test/.well-known/mta-sts.txt"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "_mta-sts.healthy-enforce.test. 3600 IN TXT \"v=STSv1; id={id}\""
        )),
        "{out}"
    );
    assert!(
        out.contains("_smtp._tls.healthy-enforce.test. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@healthy-enforce.test\""),
        "{out}"
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_has_the_documented_shape_and_out_writes_the_files() {
    let lab = lab().await;
    let dir = TempDir::new("publish-cli");
    let out_dir = dir.file("site");
    let out_arg = out_dir.to_string_lossy().into_owned();
    let output = publish(
        &lab,
        &["publish-cli-microsoft.test", "--json", "--out", &out_arg],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let policy = json["policy"].as_str().expect("policy");
    assert_eq!(
        policy,
        "version: STSv1\nmode: testing\nmx: *.mail.protection.outlook.com\nmax_age: 604800\n"
    );
    assert_eq!(
        json["sts_record"],
        format!("v=STSv1; id={}", content_id(policy))
    );
    assert_eq!(json["tlsrpt_record"], Value::Null);
    assert!(
        json["zone"]
            .as_str()
            .expect("zone")
            .contains("; _smtp._tls.publish-cli-microsoft.test. 3600 IN TXT")
    );
    assert_eq!(json["patterns"][0]["provider"], "Microsoft 365");
    let served =
        std::fs::read(out_dir.join(".well-known").join("mta-sts.txt")).expect("policy file");
    assert_eq!(served, policy.as_bytes());
    Policy::parse(&served).expect("a sender reads the file");
    let zone = std::fs::read_to_string(out_dir.join("zone.txt")).expect("zone file");
    assert_eq!(zone, json["zone"].as_str().expect("zone"));
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_exit_2_with_a_sentence() {
    let lab = lab().await;
    for (args, says) in [
        (vec!["null-mx.test"], "null MX"),
        (
            vec!["healthy-enforce.test", "--max-age", "31557601"],
            "31557600",
        ),
        (
            vec![
                "healthy-enforce.test",
                "--rua",
                "tlsrpt@healthy-enforce.test",
            ],
            "reporting address",
        ),
        (vec!["no-such-domain.test"], "has no MX records"),
    ] {
        let output = publish(&lab, &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = text(&output.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_mx_change_prints_each_step_with_its_earliest_time() {
    let lab = lab().await;
    let output = publish(
        &lab,
        &[
            "--plan-mx-change",
            "healthy-enforce.test",
            "--new-mx",
            "mx.new.test",
            "--mx-ttl",
            "3600",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    for step in ["Step 1, at ", "Step 2, from ", "Step 3, at ", "Step 4, at "] {
        assert!(out.contains(step), "{step}: {out}");
    }
    assert!(
        out.contains("    mx: mx.new.test\n    mx: mx.healthy-enforce.test\n")
            || out.contains("    mx: mx.healthy-enforce.test\n    mx: mx.new.test\n"),
        "{out}"
    );

    let output = publish(
        &lab,
        &[
            "--plan-mx-change",
            "healthy-enforce.test",
            "--new-mx",
            "mx.new.test",
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[2]["kind"], "switch-mx");
    let first = mta_sts_core::Timestamp::parse(steps[0]["earliest"].as_str().expect("time"))
        .expect("RFC 3339");
    let switch = mta_sts_core::Timestamp::parse(steps[2]["earliest"].as_str().expect("time"))
        .expect("RFC 3339");
    let max_age = plan["max_age"].as_u64().expect("max_age");
    assert_eq!(switch.duration_since(first).as_secs(), max_age);

    let output = publish(
        &lab,
        &[
            "--plan-mx-change",
            "policy-404.test",
            "--new-mx",
            "mx.new.test",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("could not be fetched"),
        "{}",
        text(&output.stderr)
    );
    lab.shutdown().await;
}
