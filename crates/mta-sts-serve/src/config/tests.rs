use super::*;

fn valid() -> ServeConfig {
    ServeConfig {
        domains: vec![
            "Example.COM.".into(),
            "bücher.example".into(),
            "example.com".into(),
        ],
        listen: Some("127.0.0.1:0".parse().expect("address")),
        ..ServeConfig::default()
    }
}

fn key_of(error: ServeError) -> String {
    match error {
        ServeError::ConfigValue { key, .. } => key,
        other => panic!("expected a ConfigValue error, got {other}"),
    }
}

#[test]
fn the_example_is_the_default_configuration() {
    assert_eq!(
        ServeConfig::parse(EXAMPLE).ok(),
        Some(ServeConfig::default())
    );
    assert_eq!(ServeConfig::parse("").ok(), Some(ServeConfig::default()));
}

#[test]
fn domains_become_a_labels_each_once() {
    let mut config = valid();
    config.validate().expect("valid");
    assert_eq!(config.domains, ["example.com", "xn--bcher-kva.example"]);
}

#[test]
fn no_domain_list_refuses_to_start_with_a_sentence_saying_how() {
    let mut config = ServeConfig {
        listen: Some("127.0.0.1:0".parse().expect("address")),
        ..ServeConfig::default()
    };
    let error = config.validate().expect_err("no domains");
    assert!(matches!(error, ServeError::NoDomains));
    assert!(error.to_string().contains("--domain"));
}

#[test]
fn nothing_to_listen_on_is_refused() {
    let mut config = valid();
    config.listen = None;
    assert!(matches!(config.validate(), Err(ServeError::NoListener)));
}

#[test]
fn https_needs_both_certificate_and_key() {
    let mut config = valid();
    config.https = Some("127.0.0.1:0".parse().expect("address"));
    config.cert = Some("/etc/cert.pem".into());
    assert_eq!(key_of(config.validate().expect_err("no key")), "key");
    config.key = Some("/etc/key.pem".into());
    config.cert = None;
    assert_eq!(key_of(config.validate().expect_err("no cert")), "cert");
    let mut config = valid();
    config.cert = Some("/etc/cert.pem".into());
    config.key = Some("/etc/key.pem".into());
    assert_eq!(key_of(config.validate().expect_err("no https")), "https");
}

#[test]
fn values_that_cannot_work_are_refused_by_key() {
    type Spoil = fn(&mut ServeConfig);
    let cases: [(&str, Spoil); 12] = [
        ("domains", |c| c.domains.push("not a domain".into())),
        ("intake_path", |c| c.intake_path = "tlsrpt".into()),
        ("intake_path", |c| c.intake_path = "/".into()),
        ("intake_path", |c| c.intake_path = "/metrics".into()),
        ("max_body", |c| c.max_body = 0),
        ("max_body", |c| c.max_body = MAX_BODY_CAP + 1),
        ("reports_per_minute", |c| c.reports_per_minute = 0),
        ("max_concurrent_per_client", |c| {
            c.max_concurrent_per_client = 0
        }),
        ("max_connections", |c| c.max_connections = 0),
        ("body_timeout", |c| c.body_timeout = Duration::ZERO),
        ("keep_days", |c| c.keep_days = MAX_KEEP_DAYS + 1),
        ("prune_interval", |c| {
            c.prune_interval = Duration::from_secs(59)
        }),
    ];
    for (key, spoil) in cases {
        let mut config = valid();
        spoil(&mut config);
        assert_eq!(key_of(config.validate().expect_err(key)), key);
    }
}

#[test]
fn an_unknown_key_is_named() {
    let error = ServeConfig::parse("keep_dayz = 3\n").expect_err("typo");
    assert!(error.to_string().contains("keep_dayz"), "{error}");
}

#[test]
fn retention_is_off_at_0_days() {
    let mut config = valid();
    assert_eq!(config.retention(), None);
    config.keep_days = 2;
    assert_eq!(config.retention(), Some(Duration::from_secs(2 * 86_400)));
}

#[test]
fn alert_settings_that_cannot_work_are_refused_by_key() {
    type Spoil = fn(&mut AlertsConfig);
    let cases: [(&str, Spoil); 6] = [
        ("alerts.poll_interval", |a| a.poll_interval = Duration::ZERO),
        ("alerts.check_interval", |a| {
            a.check_interval = Duration::from_secs(5)
        }),
        ("alerts.queue", |a| a.queue = 0),
        ("alerts.lookback_days", |a| a.lookback_days = 0),
        ("alerts.regular_days", |a| a.regular_days = 31),
        ("alerts.silent_after_days", |a| a.silent_after_days = 30),
    ];
    for (key, spoil) in cases {
        let mut config = valid();
        spoil(&mut config.alerts);
        assert_eq!(key_of(config.validate().expect_err(key)), key);
    }
}

#[test]
fn the_alerts_table_reads_webhook_and_mail() {
    let config = ServeConfig::parse(
        r#"
[alerts]
failure_period = "hour"
[alerts.webhook]
url = "https://hooks.example.com/mta-sts"
secret_env = "HOOK_SECRET"
retry = { attempts = 3 }
[alerts.mail]
relay = "smtp.example.com"
from = "mta-sts@example.com"
to = ["owner@example.com"]
"#,
    )
    .expect("parses");
    assert!(config.alerts.is_enabled());
    assert_eq!(config.alerts.failure_period, FailurePeriod::Hour);
    let webhook = config.alerts.webhook.expect("a webhook");
    assert_eq!(webhook.retry.attempts, 3);
    // Unset retry fields keep their defaults.
    assert_eq!(webhook.retry.initial_backoff_ms, 5_000);
    assert_eq!(config.alerts.mail.expect("mail").port, 587);
    assert!(!ServeConfig::default().alerts.is_enabled());
    // A typo in the table is named, not ignored.
    let error = ServeConfig::parse("[alerts.webhook]\nurl = \"https://x\"\nsecrte_env = \"X\"\n")
        .expect_err("an unknown key");
    assert!(error.to_string().contains("secrte_env"), "{error}");
}

#[test]
fn dashboard_users_tokens_and_tables_parse_and_bad_values_are_named() {
    let hash = crate::dashboard::hash_password("pw").expect("hash");
    let text = format!(
        "domains = [\"example.com\"]\nlisten = \"127.0.0.1:0\"\n\
         [dashboard]\nsession_hours = 2\nsecure_cookie = false\nmetrics_public = false\n\
         check_wait_ms = 250\n\
         [check]\nresolver = \"127.0.0.1:5353\"\ntimeout = 3\n\
         [rollout]\nmin_reporters = 3\n\
         [[users]]\nname = \"owner\"\npassword_hash = \"{hash}\"\n\
         [[tokens]]\nname = \"grafana\"\ntoken_hash = \"{}\"\n",
        "ab".repeat(32)
    );
    let mut config = ServeConfig::parse(&text).expect("parse");
    config.validate().expect("valid");
    assert_eq!(
        config.dashboard.session_lifetime,
        Duration::from_secs(2 * 3600)
    );
    assert!(!config.dashboard.secure_cookie && !config.dashboard.metrics_public);
    assert_eq!(config.dashboard.check_wait, Duration::from_millis(250));
    assert_eq!(config.users[0].name, "owner");
    assert_eq!(config.check.timeout, Duration::from_secs(3));
    assert_eq!(config.rollout.min_reporters, 3);
    // The hash stays out of debug output.
    assert!(!format!("{config:?}").contains(&hash));

    type Spoil = fn(&mut ServeConfig);
    let cases: Vec<(&str, Spoil)> = vec![
        ("dashboard.session_hours", |c| {
            c.dashboard.session_lifetime = Duration::ZERO
        }),
        ("dashboard.logins_per_minute", |c| {
            c.dashboard.logins_per_minute = 0
        }),
        ("dashboard.days", |c| c.dashboard.days = 367),
        ("dashboard.silent_days", |c| c.dashboard.silent_days = 0),
        ("dashboard.check_wait_ms", |c| {
            c.dashboard.check_wait = Duration::from_secs(601)
        }),
        ("check.timeout", |c| c.check.timeout = Duration::ZERO),
        ("rollout", |c| c.rollout.min_report_days = 99),
        ("users.password_hash", |c| {
            c.users[0].password_hash = "plain text".into()
        }),
        ("users.name", |c| c.users[0].name = "two words".into()),
        ("users.name", |c| c.users.push(c.users[0].clone())),
        ("tokens.token_hash", |c| {
            c.tokens[0].token_hash = "xyz".into()
        }),
        ("tokens.name", |c| c.tokens.push(c.tokens[0].clone())),
        // The intake cannot take a path the dashboard answers.
        ("intake_path", |c| c.intake_path = "/login".into()),
        ("intake_path", |c| c.intake_path = "/api/v1/tlsrpt".into()),
    ];
    for (key, spoil) in cases {
        let mut bad = config.clone();
        spoil(&mut bad);
        assert_eq!(key_of(bad.validate().expect_err(key)), key);
    }
}

fn hosting(hosts: &str) -> Result<ServeConfig, ServeError> {
    let mut config = ServeConfig::parse(&format!(
        "https = \"127.0.0.1:0\"\n[hosting]\ncerts = \"/etc/mta-sts/hosts\"\n{hosts}"
    ))?;
    config.validate()?;
    Ok(config)
}

#[test]
fn hosted_domains_are_normalised_and_take_reports_too() {
    let config = hosting(
        "[[hosts]]\ndomain = \"Example.COM.\"\npolicy = \"version: STSv1\\nmode: testing\\nmx: \
         mail.example.com\\nmax_age: 604800\\n\"\n[[hosts]]\ndomain = \"example.net\"\n\
         policy_file = \"/etc/mta-sts/example.net.txt\"\n[[hosts]]\ndomain = \"example.org\"\n\
         auto = true\nmode = \"enforce\"\nmax_age = 86400\nmx_refresh = 600\n",
    )
    .expect("valid");
    assert_eq!(
        config.domains,
        ["example.com", "example.net", "example.org"]
    );
    assert_eq!(config.hosts[0].domain, "example.com");
    assert_eq!(
        config.hosts[2].source(),
        PolicySource::Auto(AutoPolicy {
            mode: mta_sts_core::policy::Mode::Enforce,
            max_age: Some(86_400),
            mx_refresh: Duration::from_secs(600),
        })
    );
    assert_eq!(
        config.hosting.certificate_files("mta-sts.example.com"),
        Some((
            PathBuf::from("/etc/mta-sts/hosts/mta-sts.example.com.pem"),
            PathBuf::from("/etc/mta-sts/hosts/mta-sts.example.com.key")
        ))
    );
}

#[test]
fn a_host_needs_exactly_one_policy_source_and_sound_auto_settings() {
    for (hosts, key) in [
        ("[[hosts]]\ndomain = \"example.com\"\n", "hosts"),
        (
            "[[hosts]]\ndomain = \"example.com\"\nauto = true\npolicy_file = \"/p\"\n",
            "hosts",
        ),
        (
            "[[hosts]]\ndomain = \"example.com\"\npolicy_file = \"/p\"\nmode = \"enforce\"\n",
            "hosts",
        ),
        (
            "[[hosts]]\ndomain = \"example.com\"\nauto = true\nmax_age = 31557601\n",
            "hosts",
        ),
        (
            "[[hosts]]\ndomain = \"example.com\"\nauto = true\nmx_refresh = 5\n",
            "hosts",
        ),
        (
            "[[hosts]]\ndomain = \"example.com\"\nauto = true\n[[hosts]]\ndomain = \
             \"EXAMPLE.com\"\nauto = true\n",
            "hosts",
        ),
        (
            "[[hosts]]\ndomain = \"not a domain\"\nauto = true\n",
            "hosts",
        ),
    ] {
        assert_eq!(key_of(hosting(hosts).expect_err(hosts)), key, "{hosts}");
    }
    assert!(matches!(
        hosting("[[hosts]]\ndomain = \"example.com\"\nauto = true\nmode = \"strict\"\n"),
        Err(ServeError::ConfigSyntax { .. })
    ));
}

#[test]
fn an_inline_policy_senders_would_refuse_stops_the_start_naming_its_line() {
    let error = hosting(
        "[[hosts]]\ndomain = \"example.com\"\npolicy = \"version: STSv1\\nmode: strict\\nmx: \
         mail.example.com\\nmax_age: 604800\\n\"\n",
    )
    .expect_err("mode strict");
    assert!(matches!(error, ServeError::Policy { .. }), "{error}");
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn hosting_needs_the_https_listener_but_no_default_certificate() {
    let mut config = ServeConfig {
        listen: Some("127.0.0.1:0".parse().expect("address")),
        hosts: vec![HostConfig::auto("example.com")],
        ..ServeConfig::default()
    };
    assert_eq!(key_of(config.validate().expect_err("no https")), "https");
    config.https = Some("127.0.0.1:0".parse().expect("address"));
    config.validate().expect("no default certificate is needed");
    let checked = config.clone();
    config.validate().expect("valid again");
    assert_eq!(config, checked);
}

#[test]
fn the_monitor_table_reads_and_its_bad_values_are_named() {
    let config =
        ServeConfig::parse("[monitor]\ninterval = 600\ncert_days = [7, 30, 1]\nkeep_days = 0\n")
            .expect("parses");
    let mut config = ServeConfig {
        domains: vec!["example.com".into()],
        listen: Some("127.0.0.1:0".parse().expect("address")),
        ..config
    };
    config.validate().expect("valid");
    assert!(config.monitor.enabled);
    assert_eq!(config.monitor.interval, Duration::from_secs(600));
    // A tenth of the interval unless given.
    assert_eq!(config.monitor.jitter(), Duration::from_secs(60));
    assert_eq!(config.monitor.cert_days, [30, 7, 1]);
    assert_eq!(config.monitor.retention(), None);
    type Spoil = fn(&mut MonitorConfig);
    let cases: [(&str, Spoil); 9] = [
        ("monitor.interval", |m| m.interval = Duration::ZERO),
        ("monitor.interval", |m| {
            m.interval = Duration::from_secs(8 * 86_400);
        }),
        ("monitor.jitter", |m| {
            m.jitter = Some(Duration::from_secs(3601));
        }),
        ("monitor.cert_days", |m| m.cert_days = vec![14, 0]),
        ("monitor.cert_days", |m| m.cert_days = Vec::new()),
        ("monitor.cert_days", |m| m.cert_days = vec![7, 14, 7]),
        ("monitor.fetcher_silence_days", |m| {
            m.fetcher_silence_days = 0
        }),
        ("monitor.keep_days", |m| m.keep_days = 40_000),
        ("monitor.concurrency", |m| m.concurrency = 0),
    ];
    for (key, spoil) in cases {
        let mut config = valid();
        spoil(&mut config.monitor);
        assert_eq!(key_of(config.validate().expect_err(key)), key);
    }
    let error = ServeConfig::parse("[monitor]\nintervall = 60\n").expect_err("a typo");
    assert!(error.to_string().contains("intervall"), "{error}");
}
