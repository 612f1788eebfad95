use std::time::Duration;

use mta_sts_store::StoreUrl;

use super::*;
use crate::delivery::{MailTransport, RelaySecurity};

#[test]
fn the_example_parses_to_all_defaults() {
    // Every key of EXAMPLE is commented out: every setting is its default (its empty tables,
    // [mail] and the like, are there, holding the defaults).
    let config = TlsRptConfig::parse(EXAMPLE, "<example>").expect("the example parses");
    let empty = TlsRptConfig::default();
    assert_eq!(config.delivery_settings(), empty.delivery_settings());
    assert_eq!(config.collect_settings(), empty.collect_settings());
    assert_eq!(
        config.build_settings().expect("defaults"),
        empty.build_settings().expect("defaults")
    );
    assert_eq!(config.schedule.settings(), empty.schedule.settings());
    assert_eq!((config.store, config.metrics), (None, None));
}

#[test]
fn the_example_uncommented_sets_every_key() {
    // Uncommenting every "# key = value" line of the example gives a valid file: the example
    // documents keys that exist, with values of the right type.
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if (rest.contains(" = ") || rest.starts_with('[')) && !rest.starts_with(' ') =>
            {
                rest.to_string()
            }
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
    let delivery = config.delivery_settings();
    assert_eq!(delivery.mail.transport, MailTransport::Sendmail);
    assert_eq!(
        delivery.mail.relay.as_ref().map(|r| r.security),
        Some(RelaySecurity::Starttls)
    );
    assert_eq!(
        delivery
            .mail
            .from_by_domain
            .get("example.org")
            .map(String::as_str),
        Some("tlsrpt@example.net")
    );
    assert_eq!(
        delivery.dkim.as_ref().map(|d| d.selector.as_str()),
        Some("tlsrpt")
    );
    assert_eq!(delivery.https.timeout, 10);
    assert_eq!(delivery.retry, RetrySchedule::default());
    assert_eq!(config.schedule.settings(), ScheduleSettings::default());
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
        ("[retry]\nmax_attempts = 0\n", "[retry] max_attempts"),
        (
            "[retry]\nmin_wait = 600\nmax_wait = 60\n",
            "[retry] max_wait",
        ),
        (
            "[schedule]\npoll_interval = 0\n",
            "[schedule] poll_interval",
        ),
        (
            "[collect]\nsocket_mode = 0o17777\n",
            "[collect] socket_mode",
        ),
        ("[schedule]\nkeep_days = 0\n", "[schedule] keep_days"),
        // The default catch-up (7 days back from yesterday) needs 9.
        ("[schedule]\nkeep_days = 8\n", "[schedule] keep_days"),
        (
            "[schedule]\nkeep_days = 12\ncatch_up_days = 11\n",
            "[schedule] keep_days",
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
        "[mail.relay]\nport = 25\n",
        "[dkim]\nselector = \"s\"\n",
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
fn keep_days_is_kept_and_checked_against_the_catch_up() {
    assert_eq!(TlsRptConfig::default().schedule.settings().keep_days, 10);
    let config = TlsRptConfig::parse("[schedule]\nkeep_days = 9\n", "<t>").expect("9 is enough");
    assert_eq!(config.schedule.settings().keep_days, 9);
    let config = TlsRptConfig::parse("[schedule]\nkeep_days = 2\ncatch_up_days = 0\n", "<t>")
        .expect("today and yesterday");
    assert_eq!(config.schedule.settings().keep_days, 2);
    // A later layer's catch-up is checked against an earlier layer's keep_days once laid over.
    let under = TlsRptConfig::parse("[schedule]\nkeep_days = 5\ncatch_up_days = 3\n", "<t>")
        .expect("5 covers 3");
    let over = TlsRptConfig::parse("[schedule]\ncatch_up_days = 7\n", "<t>").expect("alone");
    let error = under
        .overlaid(over)
        .validate()
        .expect_err("5 does not cover 7");
    assert!(
        matches!(&error, TlsRptError::ConfigValue { key, .. } if key == "[schedule] keep_days"),
        "{error}"
    );
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

#[test]
fn a_later_layer_wins_key_by_key_and_table_by_table() {
    let under = TlsRptConfig::parse(
        "store = \"sqlite:/a.db\"\n[report]\norganization_name = \"A\"\ncontact_info = \"a@a.example\"\n[mail]\nfrom = \"a@a.example\"\nsendmail_timeout = 20\n[schedule]\nspread = 10\n",
        "<under>",
    )
    .expect("under");
    let over = TlsRptConfig::parse(
        "[report]\norganization_name = \"B\"\n[dkim]\nkey_file = \"/k.pem\"\nselector = \"s\"\n[schedule]\ncatch_up_days = 2\n",
        "<over>",
    )
    .expect("over");
    let merged = under.overlaid(over);
    assert_eq!(merged.store, Some(StoreUrl::Sqlite("/a.db".into())));
    assert_eq!(merged.report.organization_name.as_deref(), Some("B"));
    assert_eq!(merged.report.contact_info.as_deref(), Some("a@a.example"));
    assert_eq!(merged.delivery_settings().mail.sendmail_timeout, 20);
    assert!(merged.dkim.is_some());
    let schedule = merged.schedule.settings();
    assert_eq!(schedule.spread, Duration::from_secs(10));
    assert_eq!(schedule.catch_up_days, 2);
}

#[test]
fn the_readme_shows_the_example_as_it_is() {
    let readme = include_str!("../../../../README.md");
    assert!(
        readme.contains(EXAMPLE),
        "README.md's \"Reporting as a sender\" must show config::EXAMPLE as it is"
    );
}
