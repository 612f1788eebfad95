use std::time::Duration;

use mta_sts_store::StoreUrl;

use super::*;

#[test]
fn the_example_parses_to_all_defaults() {
    // Every key of EXAMPLE is commented out: the file is the empty layer.
    let config = TlsRptConfig::parse(EXAMPLE, "<example>").expect("the example parses");
    assert_eq!(config, TlsRptConfig::default());
}

#[test]
fn the_example_uncommented_sets_every_key() {
    // Uncommenting every "# key = value" line of the example gives a valid file: the example
    // documents keys that exist, with values of the right type.
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest.to_string(),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = TlsRptConfig::parse(&uncommented, "<uncommented>").expect("it parses");
    assert_eq!(
        config.store,
        Some(StoreUrl::Sqlite("/var/lib/mta-sts/tlsrpt-sender.db".into()))
    );
    assert_eq!(config.collect.socket_mode, Some(0o220));
    assert_eq!(config.collect.flush_interval, Some(Duration::from_secs(5)));
    assert_eq!(config.report.only_with_failures, Some(false));
    assert_eq!(config.report.suppress.as_ref().map(Vec::len), Some(3));
    assert_eq!(config.mail.transport, Some(MailTransport::Sendmail));
    assert_eq!(config.mail.relay_tls, Some(RelayTls::Starttls));
    assert_eq!(
        config
            .mail
            .from_by_domain
            .as_ref()
            .and_then(|m| m.get("example.org"))
            .map(String::as_str),
        Some("tlsrpt@example.net")
    );
    assert_eq!(config.dkim.selector.as_deref(), Some("tlsrpt"));
    assert_eq!(config.https.timeout, Some(Duration::from_secs(10)));
    assert_eq!(config.schedule.spread, Some(Duration::from_secs(36_000)));
    assert_eq!(config.schedule.max_attempts, Some(6));
    assert!(config.metrics.is_some());
}

#[test]
fn an_unknown_key_is_named() {
    let error = TlsRptConfig::parse("[report]\nonly_with_failure = true\n", "<t>")
        .expect_err("a typo is refused");
    assert!(
        matches!(&error, TlsRptError::ConfigSyntax { message, .. } if message.contains("only_with_failure")),
        "{error}"
    );
}

#[test]
fn bad_values_are_refused_with_the_key() {
    for (text, key) in [
        ("[collect]\nmax_keys = 0\n", "[collect] max_keys"),
        ("[schedule]\nmax_attempts = 0\n", "[schedule] max_attempts"),
        (
            "[schedule]\nretry_first = 600\nretry_max = 60\n",
            "[schedule] retry_max",
        ),
        (
            "[schedule]\npoll_interval = 0\n",
            "[schedule] poll_interval",
        ),
        (
            "[mail]\nrelay_password_file = \"/p\"\n",
            "[mail] relay_password_file",
        ),
        (
            "[collect]\nsocket_mode = 0o17777\n",
            "[collect] socket_mode",
        ),
    ] {
        let error = TlsRptConfig::parse(text, "<t>").expect_err(text);
        assert!(
            matches!(&error, TlsRptError::ConfigValue { key: k, .. } if k == key),
            "{text}: {error}"
        );
    }
    for text in [
        "store = \"mysql://x\"\n",
        "[collect]\nsocket_mode = \"0980\"\n",
        "[mail]\ntransport = \"lmtp\"\n",
        "[schedule]\nspread = -1\n",
    ] {
        let error = TlsRptConfig::parse(text, "<t>").expect_err(text);
        assert!(
            matches!(error, TlsRptError::ConfigSyntax { .. }),
            "{text}: {error}"
        );
    }
}

#[test]
fn socket_modes_read_as_python_reads_them_in_base_8() {
    assert_eq!(parse_octal_mode("0220"), Some(0o220));
    assert_eq!(parse_octal_mode("220"), Some(0o220));
    assert_eq!(parse_octal_mode("0o660"), Some(0o660));
    assert_eq!(parse_octal_mode(" 0666 "), Some(0o666));
    assert_eq!(parse_octal_mode("0999"), None);
    assert_eq!(parse_octal_mode(""), None);
    assert_eq!(parse_octal_mode("0x1ff"), None);
    assert_eq!(parse_octal_mode("177777"), None);
}

#[test]
fn the_report_section_sets_the_build_settings() {
    let config = TlsRptConfig::parse(
        "[report]\norganization_name = \"Example\"\ncontact_info = \"tlsrpt@example.com\"\nonly_with_failures = true\nsuppress = [\".example.org\"]\nmax_size = 4096\n",
        "<t>",
    )
    .expect("it parses");
    let settings = config.build_settings().expect("usable");
    assert_eq!(settings.organization_name, "Example");
    assert!(settings.only_with_failures);
    assert!(settings.suppress.suppresses_domain("a.example.org"));
    assert!(!settings.suppress.suppresses_domain("example.org"));
    assert_eq!(settings.max_size, Some(4096));
    assert_eq!(settings.submitter_domain().as_deref(), Ok("example.com"));
}

#[test]
fn the_collect_section_sets_the_collector_settings() {
    let config = TlsRptConfig::parse(
        "[collect]\nsocket = \"/run/x.sock\"\nsocket_mode = \"0660\"\nsocket_group = \"postfix\"\nflush_interval = 2\nmax_keys = 10\n",
        "<t>",
    )
    .expect("it parses");
    let settings = config.collect_settings();
    assert_eq!(settings.socket, std::path::PathBuf::from("/run/x.sock"));
    assert_eq!(settings.socket_mode, Some(0o660));
    assert_eq!(settings.socket_group.as_deref(), Some("postfix"));
    assert_eq!(settings.flush_interval, Duration::from_secs(2));
    assert_eq!(settings.max_keys, 10);
    // What the file leaves out keeps the collector's default.
    let defaults = crate::collector::CollectSettings::default();
    assert_eq!(settings.receive_buffer, defaults.receive_buffer);
    assert_eq!(TlsRptConfig::default().collect_settings(), defaults);
}
