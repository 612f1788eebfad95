use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn version(text: &str) -> PostfixVersion {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn versions_that_enforce_sts_mx_patterns() {
    // Postfix ≥ 3.10.5, 3.11 snapshots from 20250906, releases and candidates after.
    for text in [
        "3.10.5",
        "3.10.13",
        "3.11",
        "3.11.0",
        "3.11.0-RC1",
        "3.11.6",
        "3.11-20250906",
        "3.11-20251109-nonprod",
        "3.12-20260510-tlstrace-nonprod",
        "3.12.0",
        "4.0",
        "4.0.1",
        "10.0.0",
    ] {
        let v = version(text);
        assert!(v.enforces_sts_mx_patterns(), "{text}");
        assert!(v.reads_tlsrpt_attributes(), "{text}");
        assert_eq!(v.to_string(), text);
    }
    // Older: no enforcement. 3.10.0 to 3.10.4 and the 3.11 snapshots before 20250906 read the
    // attributes (for TLSRPT); 3.10 snapshots and everything before 3.10 cannot parse them.
    for (text, reads) in [
        ("3.10.4", true),
        ("3.10.0", true),
        ("3.11-20250829", true),
        ("3.11-20250829-nonprod", true),
        ("3.10-20241210", false),
        ("3.10", false),
        ("3.9.14", false),
        ("3.9.5", false),
        ("3.7.11", false),
        ("2.11.11", false),
        ("2.11-20131208-nonprod", false),
    ] {
        let v = version(text);
        assert!(!v.enforces_sts_mx_patterns(), "{text}");
        assert_eq!(v.reads_tlsrpt_attributes(), reads, "{text}");
    }
}

#[test]
fn numbers_compare_as_numbers_not_text() {
    // "3.9" > "3.10" as text; as versions it is the other way round.
    assert!(!version("3.9.99").enforces_sts_mx_patterns());
    assert!(version("3.100").enforces_sts_mx_patterns());
    assert!(version(" 3.10.5\n").enforces_sts_mx_patterns());
}

#[test]
fn malformed_versions_are_refused_with_the_text() {
    // Each is wrong in its own way; the message names the text.
    for text in [
        "",             // nothing
        "3",            // no minor
        "3.10.5.1",     // four numbers
        "3..5",         // empty field
        "v3.10.5",      // a prefix
        "3.10.x",       // not digits
        "3.10.5-",      // empty tag
        "3.10.5-rc 1",  // space in a tag
        "3.10.5_1",     // not a dash
        "99999999.0.0", // absurdly long field
        "auto-ish",
    ] {
        let error = text
            .parse::<PostfixVersion>()
            .expect_err(&format!("{text:?} should be refused"));
        assert!(error.contains("Postfix version"), "{text}: {error}");
    }
}

#[test]
fn the_setting_is_auto_or_a_version() {
    assert_eq!("auto".parse(), Ok(PostfixVersionSetting::Auto));
    assert_eq!(
        "3.10.5".parse(),
        Ok(PostfixVersionSetting::Version(version("3.10.5")))
    );
    let error = "latest".parse::<PostfixVersionSetting>().expect_err("bad");
    assert!(error.contains("\"auto\""), "{error}");
}

/// A stand-in postconf: a shell script printing `output` (or failing) in a private directory.
fn fake_postconf(tag: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mta-sts-postconf-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("postconf");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn auto_with(postconf: PathBuf) -> Config {
    Config {
        postconf,
        ..Config::default()
    }
}

#[test]
fn auto_asks_postconf_for_mail_version() {
    // The script checks it is asked exactly `-dh mail_version`.
    let postconf = fake_postconf(
        "new",
        r#"[ "$1 $2" = "-dh mail_version" ] || exit 2; echo 3.10.5"#,
    );
    let target = PostfixTarget::detect(&auto_with(postconf.clone()));
    assert_eq!(target.version, Some(version("3.10.5")));
    assert_eq!(target.source, VersionSource::Postconf(postconf.clone()));
    assert!(target.attributes_by_default());
    assert!(target.describe().contains("carry the TLSRPT attributes"));

    let old = fake_postconf("old", "echo 3.7.11");
    let target = PostfixTarget::detect(&auto_with(old));
    assert!(!target.attributes_by_default());
    assert!(target.describe().contains("before 3.10 cannot parse"));
    let _ = std::fs::remove_dir_all(postconf.parent().expect("dir"));
}

#[test]
fn no_postconf_means_the_old_form_and_says_how_to_choose() {
    let target = PostfixTarget::detect(&auto_with("/nonexistent/sbin/postconf".into()));
    assert_eq!(target.version, None);
    assert!(!target.attributes_by_default());
    let line = target.describe();
    assert!(
        line.contains("/nonexistent/sbin/postconf does not exist"),
        "{line}"
    );
    assert!(line.contains("postfix_version"), "{line}");
}

#[test]
fn a_failing_or_garbled_postconf_is_unknown() {
    for (tag, body, expected) in [
        (
            "fail",
            "echo 'postconf: fatal: open /etc/postfix/main.cf' >&2; exit 1",
            "failed",
        ),
        ("garbled", "echo hello", "printed"),
    ] {
        let postconf = fake_postconf(tag, body);
        let target = PostfixTarget::detect(&auto_with(postconf.clone()));
        assert_eq!(target.version, None, "{tag}");
        assert!(
            target.describe().contains(expected),
            "{tag}: {}",
            target.describe()
        );
        let _ = std::fs::remove_dir_all(postconf.parent().expect("dir"));
    }
}

#[test]
fn a_configured_version_runs_nothing() {
    let config = Config {
        postfix_version: PostfixVersionSetting::Version(version("3.11.0")),
        postconf: "/nonexistent/sbin/postconf".into(),
        ..Config::default()
    };
    let target = PostfixTarget::detect(&config);
    assert_eq!(target.source, VersionSource::Configured);
    assert!(target.attributes_by_default());
    assert_eq!(PostfixTarget::without_detection(&config), target);
    // Without detection, auto is unknown whatever Postfix the host has.
    let unknown = PostfixTarget::without_detection(&Config::default());
    assert!(!unknown.attributes_by_default());
}
