use std::time::Duration;

use mta_sts_acme::ChallengeKind;

use crate::ServeConfig;
use crate::error::ServeError;

/// A hosted domain on both listeners, with `acme` as the `[acme]` table.
fn with_acme(acme: &str) -> Result<ServeConfig, ServeError> {
    let mut config = ServeConfig::parse(&format!(
        "https = \"127.0.0.1:0\"\nlisten = \"127.0.0.1:0\"\n\
         [[hosts]]\ndomain = \"example.com\"\npolicy = \"version: STSv1\\nmode: testing\\nmx: \
         mail.example.com\\nmax_age: 86400\\n\"\n[acme]\n{acme}"
    ))?;
    config.validate()?;
    Ok(config)
}

fn key_of(result: Result<ServeConfig, ServeError>) -> String {
    match result {
        Err(ServeError::ConfigValue { key, .. }) => key,
        other => panic!("expected a ConfigValue error, got {other:?}"),
    }
}

#[test]
fn the_example_block_uncommented_parses_with_its_defaults() {
    let block: String = crate::config::EXAMPLE
        .lines()
        .skip_while(|line| *line != "# [acme]")
        .skip(1)
        .take_while(|line| line.starts_with("# ") && line.contains(" = "))
        .map(|line| line.trim_start_matches("# "))
        // The example's CA file does not exist here.
        .filter(|line| !line.starts_with("ca_file"))
        .collect::<Vec<_>>()
        .join("\n");
    let config = with_acme(&block).expect("the example block");
    let acme = config.acme.expect("[acme]");
    assert_eq!(acme.directory, "https://acme.example/directory");
    assert_eq!(acme.contact, ["hostmaster@example.com"]);
    assert_eq!(acme.challenge, ChallengeKind::Http01);
    assert!((acme.renew_at - 2.0 / 3.0).abs() < 1e-3);
    assert!((acme.warn_at - 5.0 / 6.0).abs() < 1e-3);
    assert_eq!(acme.retry_first, Duration::from_secs(60));
    assert_eq!(acme.retry_max, Duration::from_secs(21600));
    assert_eq!(acme.order_timeout, Duration::from_secs(120));
    // The engine's contact URIs are mailto: ones.
    assert_eq!(acme.settings().contact, ["mailto:hostmaster@example.com"]);
}

#[test]
fn only_the_directory_is_required() {
    let config = with_acme("directory = \"https://acme.example/dir\"\nchallenge = \"tls-alpn-01\"")
        .expect("valid");
    let acme = config.acme.expect("[acme]");
    assert_eq!(acme.challenge, ChallengeKind::TlsAlpn01);
    assert_eq!(acme.renew_at, 2.0 / 3.0);
    assert!(acme.contact.is_empty());
}

#[test]
fn values_that_cannot_work_are_refused_by_key() {
    let directory = "directory = \"https://acme.example/dir\"";
    for (table, key) in [
        ("directory = \"http://acme.example/dir\"", "acme.directory"),
        ("directory = \"https://\"", "acme.directory"),
        (
            &format!("{directory}\ncontact = [\"nobody\"]"),
            "acme.contact",
        ),
        (
            &format!("{directory}\ncontact = [\"a@b.example, c@d.example\"]"),
            "acme.contact",
        ),
        (
            &format!("{directory}\nca_file = \"/nonexistent/ca.pem\""),
            "acme.ca_file",
        ),
        (
            &format!("{directory}\nrenew_at = 0.9\nwarn_at = 0.8"),
            "acme.renew_at",
        ),
        (&format!("{directory}\nrenew_at = 0.0"), "acme.renew_at"),
        (&format!("{directory}\nwarn_at = 1.0"), "acme.renew_at"),
        (&format!("{directory}\nretry_first = 0"), "acme.retry_first"),
        (
            &format!("{directory}\nretry_first = 600\nretry_max = 60"),
            "acme.retry_first",
        ),
        (
            &format!("{directory}\norder_timeout = 0"),
            "acme.order_timeout",
        ),
        (
            &format!("{directory}\norder_timeout = 3600"),
            "acme.order_timeout",
        ),
    ] {
        assert_eq!(key_of(with_acme(table)), key, "{table}");
    }
}

#[test]
fn a_mailto_contact_is_taken_as_its_address() {
    let config = with_acme(
        "directory = \"https://acme.example/dir\"\ncontact = [\"mailto:ops@example.com\"]",
    )
    .expect("valid");
    assert_eq!(config.acme.expect("[acme]").contact, ["ops@example.com"]);
}

#[test]
fn an_unknown_challenge_type_is_named() {
    let error = with_acme("directory = \"https://acme.example/dir\"\nchallenge = \"dns-01\"")
        .expect_err("dns-01 is not answered");
    let message = error.to_string();
    assert!(
        message.contains("dns-01") && message.contains("tls-alpn-01"),
        "{message}"
    );
}

#[test]
fn http01_needs_the_plain_http_listener_and_acme_needs_hosts() {
    let mut config = with_acme("directory = \"https://acme.example/dir\"").expect("valid");
    config.listen = None;
    assert_eq!(
        key_of(config.validate().map(|()| config.clone())),
        "acme.challenge"
    );
    let mut config = ServeConfig::parse(
        "domains = [\"example.com\"]\nlisten = \"127.0.0.1:0\"\n[acme]\n\
         directory = \"https://acme.example/dir\"",
    )
    .expect("parses");
    assert_eq!(
        key_of(config.validate().map(|()| config.clone())),
        "acme.directory"
    );
}
