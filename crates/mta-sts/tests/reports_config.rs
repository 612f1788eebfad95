//! `mta-sts reports import|fetch|list|summary --config FILE`: the file `mta-sts serve` reads gives
//! the store and the domains, flags override it, and a file that cannot be used is named with
//! its problem. The real binary, real fixtures, real SQLite files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mta_sts_store::test_support::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mta-sts");

fn fixture(name: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mta-sts-reports/tests/fixtures")
        .join(name);
    path.display().to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run mta-sts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &TempDir, name: &str, content: &str) -> String {
    let path = dir.file(name);
    std::fs::write(&path, content).expect("write");
    path.display().to_string()
}

fn listed(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["reports", "list", "--json"];
    all.extend_from_slice(args);
    let output = run(&all);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    value["reports"].as_array().expect("reports").clone()
}

#[test]
fn the_configuration_gives_store_and_domains_and_flags_override_it() {
    let dir = TempDir::new("reports-config");
    let store = format!("sqlite:{}", dir.file("configured.db").display());
    let other = format!("sqlite:{}", dir.file("flagged.db").display());
    // The serve settings beside them are the server's and are accepted here unchanged.
    let config = write(
        &dir,
        "serve.toml",
        &format!(
            "domains = [\"example.org\"]\nstore = \"{store}\"\nlisten = \"127.0.0.1:8080\"\n\
             keep_days = 400\n"
        ),
    );
    // mail.ru.json is about example.com: not among the file's domains.
    let refused = run(&[
        "reports",
        "import",
        "--config",
        &config,
        &fixture("mail.ru.json"),
    ]);
    assert_eq!(refused.status.code(), Some(65), "{}", text(&refused.stderr));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "not one of the domains given with `domains` in the configuration {config} (example.org)"
        )),
        "{stderr}"
    );
    // --domain replaces the file's domains; the store is still the file's.
    let taken = run(&[
        "reports",
        "import",
        "--config",
        &config,
        "--domain",
        "example.com",
        &fixture("mail.ru.json"),
    ]);
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken.stderr));
    assert_eq!(listed(&["--config", &config]).len(), 1);
    assert_eq!(listed(&["--store", &store]).len(), 1);
    // --store replaces the file's store.
    let elsewhere = run(&[
        "reports",
        "import",
        "--config",
        &config,
        "--store",
        &other,
        "--domain",
        "company-y.example",
        &fixture("rfc8460.json"),
    ]);
    assert_eq!(
        elsewhere.status.code(),
        Some(0),
        "{}",
        text(&elsewhere.stderr)
    );
    assert_eq!(listed(&["--config", &config, "--store", &other]).len(), 1);
    assert_eq!(
        listed(&["--config", &config]).len(),
        1,
        "the file's store has one still"
    );

    // summary takes the one domain of the file; with several, it asks which.
    let one_domain = write(
        &dir,
        "one.toml",
        &format!("domains = [\"example.com\"]\nstore = \"{store}\"\n"),
    );
    let summary = run(&[
        "reports",
        "summary",
        "--json",
        "--days",
        "3660",
        "--config",
        &one_domain,
    ]);
    assert_eq!(summary.status.code(), Some(0), "{}", text(&summary.stderr));
    let value: Value = serde_json::from_slice(&summary.stdout).expect("JSON");
    assert_eq!(value["domain"], "example.com", "{value}");
    assert_eq!(value["total"]["reports"], 1, "{value}");
    let two_domains = write(
        &dir,
        "two.toml",
        &format!("domains = [\"example.com\", \"example.org\"]\nstore = \"{store}\"\n"),
    );
    let ambiguous = run(&["reports", "summary", "--config", &two_domains]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(
        text(&ambiguous.stderr)
            .contains("names 2 domains (example.com, example.org); choose one with --domain"),
        "{}",
        text(&ambiguous.stderr)
    );
}

#[test]
fn a_configuration_that_cannot_be_used_is_named_with_its_problem() {
    let dir = TempDir::new("reports-config-bad");
    let missing = dir.file("missing.toml").display().to_string();
    let unknown_key = write(&dir, "typo.toml", "domain = [\"example.org\"]\n");
    let bad_domain = write(&dir, "domain.toml", "domains = [\"not a domain\"]\n");
    let bad_store = write(&dir, "store.toml", "store = \"mysql://db\"\n");
    for (config, problem) in [
        (&missing, format!("cannot read the configuration {missing}")),
        (
            &unknown_key,
            format!("the configuration {unknown_key} is not valid"),
        ),
        (&unknown_key, "domain".to_string()),
        (
            &bad_domain,
            format!("(`domains` in the configuration {bad_domain})"),
        ),
        (
            &bad_store,
            format!("(`store` in the configuration {bad_store})"),
        ),
    ] {
        for command in [
            vec!["reports", "import", "--config", config, "-"],
            vec!["reports", "list", "--config", config],
            vec![
                "reports",
                "fetch",
                "--imap",
                "imaps://reports@127.0.0.1/INBOX",
                "--config",
                config,
            ],
        ] {
            if command[1] == "list" && config == &bad_domain {
                continue; // list reads only the store.
            }
            let output = Command::new(BIN)
                .args(&command)
                .env("MTA_STS_IMAP_PASSWORD", "unused")
                .output()
                .expect("run mta-sts");
            let stderr = text(&output.stderr);
            // import exits 75 so that an MTA keeps the mail until the file is mended.
            let status = if command[1] == "import" { 75 } else { 2 };
            assert_eq!(output.status.code(), Some(status), "{command:?}: {stderr}");
            assert!(
                stderr.contains(&problem),
                "{command:?}: {problem}: {stderr}"
            );
        }
    }
}

#[test]
fn list_limit_gives_the_first_reports_in_order() {
    let dir = TempDir::new("reports-limit");
    let store = format!("sqlite:{}", dir.file("r.db").display());
    let import = run(&[
        "reports",
        "import",
        "--store",
        &store,
        &fixture("mail.ru.json"),
        &fixture("rfc8460.json"),
        &fixture("example-inc.json"),
    ]);
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    let all = listed(&["--store", &store]);
    assert_eq!(all.len(), 3);
    let first_two = listed(&["--store", &store, "--limit", "2"]);
    assert_eq!(first_two, all[..2]);
    let zero = run(&["reports", "list", "--store", &store, "--limit", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", text(&zero.stderr));
}
