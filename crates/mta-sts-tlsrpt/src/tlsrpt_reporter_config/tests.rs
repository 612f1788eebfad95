use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mta_sts_store::StoreUrl;

use super::*;
use crate::delivery::MailTransport;

/// A directory of its own per test, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-tlsrpt-config-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One file with all three sections, laid out as tlsrpt-reporter's example.cfg is (every key
/// it sets, in its order), with our own values.
fn all_in_one(dir: &Dir) -> String {
    let fetcher_config = dir.0.join("all.cfg");
    format!(
        "[tlsrpt_collectd]
storage = sqlite:///var/lib/tlsrpt/collectd.sqlite
socketname = /run/tlsrpt/tlsrpt.sock
logfilename = /var/log/tlsrpt/collectd.log
daily_rollover_script = /usr/local/bin/rollover.sh
dump_path_for_invalid_datagram = /tmp/bad-datagram
log_level = debug

[tlsrpt_fetcher]
storage = sqlite:///var/lib/tlsrpt/collectd.sqlite
logfilename = /var/log/tlsrpt/fetcher.log
log_level = debug

[tlsrpt_reportd]
organization_name = Example Inc.
contact_info = tlsrpt-contact@Example.COM.
sender_address = noreply@example.com
dbname = /var/lib/tlsrpt/reportd.sqlite
logfilename = /var/log/tlsrpt/reportd.log
log_level = debug
http_script = curl --silent --header 'Content-Type: application/tlsrpt+gzip' --data-binary @-
fetchers = /usr/bin/tlsrpt-fetcher --config_file {}
interval_main_loop = 10
max_retries_domainlist = 2
min_wait_domainlist = 0
max_wait_domainlist = 1
max_retries_domaindetails = 2
min_wait_domaindetails = 0
max_wait_domaindetails = 1
spread_out_delivery = 3
",
        fetcher_config.display()
    )
}

fn no_env() -> Environment {
    Environment::new()
}

fn keys(notes: &[Note]) -> Vec<&str> {
    notes.iter().map(|n| n.key.as_str()).collect()
}

#[test]
fn collectd_settings_map_onto_collect() {
    let dir = Dir::new();
    let path = dir.write("all.cfg", &all_in_one(&dir));
    let imported = import(Component::Collectd, &path, &no_env()).expect("it imports");
    let config = imported.config;
    assert_eq!(
        config.store,
        Some(StoreUrl::Sqlite(
            "/var/lib/tlsrpt/collectd.mta-sts.db".into()
        ))
    );
    assert_eq!(
        config.collect.socket.as_deref(),
        Some(Path::new("/run/tlsrpt/tlsrpt.sock"))
    );
    assert_eq!(config.collect.socket_mode, None);
    // Every key of the section is either used or noted; the ignored ones each have a sentence.
    let noted = keys(&imported.notes);
    for key in [
        "[tlsrpt_collectd] storage",
        "[tlsrpt_collectd] logfilename",
        "[tlsrpt_collectd] log_level",
        "[tlsrpt_collectd] daily_rollover_script",
        "[tlsrpt_collectd] dump_path_for_invalid_datagram",
    ] {
        assert!(noted.contains(&key), "{key} not noted: {noted:?}");
    }
    assert!(imported.notes.iter().all(|n| n.message.len() > 20));
}

#[test]
fn reportd_settings_map_onto_report_mail_and_schedule() {
    let dir = Dir::new();
    let path = dir.write("all.cfg", &all_in_one(&dir));
    let imported = import(Component::Reportd, &path, &no_env()).expect("it imports");
    let config = imported.config;
    assert_eq!(
        config.report.organization_name.as_deref(),
        Some("Example Inc.")
    );
    assert_eq!(
        config.report.contact_info.as_deref(),
        Some("tlsrpt-contact@Example.COM.")
    );
    // As tlsrpt-reportd's sender_domain(): the domain of contact_info, lowercased, one
    // trailing dot dropped.
    assert_eq!(
        config
            .build_settings()
            .expect("usable")
            .submitter_domain()
            .as_deref(),
        Ok("example.com")
    );
    let delivery = config.delivery_settings();
    assert_eq!(delivery.mail.from.as_deref(), Some("noreply@example.com"));
    assert_eq!(delivery.mail.transport, MailTransport::Sendmail);
    // tlsrpt-reportd's delivery defaults, carried over.
    assert_eq!(delivery.retry.max_attempts, 6);
    assert_eq!(
        (delivery.retry.min_wait, delivery.retry.max_wait),
        (300, 1800)
    );
    assert_eq!(config.schedule.spread, Some(Duration::from_secs(3)));
    assert_eq!(config.schedule.poll_interval, Some(Duration::from_secs(10)));
    // The fetcher's storage, followed through --config_file, is the store.
    assert_eq!(
        config.store,
        Some(StoreUrl::Sqlite(
            "/var/lib/tlsrpt/collectd.mta-sts.db".into()
        ))
    );
    let noted = keys(&imported.notes);
    for key in [
        "[tlsrpt_reportd] dbname",
        "[tlsrpt_reportd] max_retries_domainlist",
        "[tlsrpt_fetcher] logfilename",
    ] {
        assert!(noted.contains(&key), "{key} not noted: {noted:?}");
    }
    // The default http_script is what we do anyway: no note.
    assert!(!noted.contains(&"[tlsrpt_reportd] http_script"));
}

#[test]
fn environment_overrides_the_file_and_unknown_variables_are_noted() {
    let dir = Dir::new();
    let path = dir.write("all.cfg", &all_in_one(&dir));
    let env = Environment::from([
        (
            "TLSRPT_COLLECTD_SOCKETNAME".to_string(),
            "/run/other.sock".to_string(),
        ),
        ("TLSRPT_COLLECTD_SOCKETMODE".to_string(), "0220".to_string()),
        ("TLSRPT_COLLECTD_NONSENSE".to_string(), "1".to_string()),
        ("TLSRPT_REPORTD_KEEP_DAYS".to_string(), "3".to_string()),
    ]);
    let imported = import(Component::Collectd, &path, &env).expect("it imports");
    assert_eq!(
        imported.config.collect.socket.as_deref(),
        Some(Path::new("/run/other.sock"))
    );
    assert_eq!(imported.config.collect.socket_mode, Some(0o220));
    let noted = keys(&imported.notes);
    assert!(noted.contains(&"TLSRPT_COLLECTD_NONSENSE"), "{noted:?}");
    // Another component's variables are not this one's business.
    assert!(!noted.iter().any(|k| k.starts_with("TLSRPT_REPORTD_")));
}

#[test]
fn delivery_retries_become_attempts_and_backoff() {
    let dir = Dir::new();
    let path = dir.write(
        "reportd.cfg",
        "[tlsrpt_reportd]\nmax_retries_delivery = 2\nmin_wait_delivery = 60\nmax_wait_delivery = 600\nsendmail_script = /usr/sbin/sendmail -i -t\nsendmail_timeout = 20\nhttp_timeout = 7\nfetchers = tlsrpt-fetcher --storage sqlite:///srv/t.sqlite\n",
    );
    let imported = import(Component::Reportd, &path, &no_env()).expect("it imports");
    let config = imported.config;
    let delivery = config.delivery_settings();
    // tlsrpt-reportd tries once, then retries up to max_retries_delivery times: 2 + 1.
    assert_eq!(delivery.retry.max_attempts, 3);
    assert_eq!(
        (delivery.retry.min_wait, delivery.retry.max_wait),
        (60, 600)
    );
    assert_eq!(delivery.mail.sendmail_command, "/usr/sbin/sendmail -i -t");
    assert_eq!(delivery.mail.sendmail_timeout, 20);
    assert_eq!(delivery.https.timeout, 7);
    assert_eq!(
        config.store,
        Some(StoreUrl::Sqlite("/srv/t.mta-sts.db".into()))
    );
}

#[test]
fn keep_days_becomes_retention_and_shortens_the_catch_up_only_when_needed() {
    let dir = Dir::new();
    let read = |value: &str| {
        let path = dir.write(
            "reportd.cfg",
            &format!("[tlsrpt_reportd]\nkeep_days = {value}\n"),
        );
        import(Component::Reportd, &path, &no_env())
    };
    // Long enough for the default catch-up: kept as it is, no note.
    let imported = read("14").expect("it imports");
    let schedule = imported.config.schedule.settings();
    assert_eq!((schedule.keep_days, schedule.catch_up_days), (14, 7));
    assert!(!keys(&imported.notes).contains(&"[tlsrpt_reportd] keep_days"));
    // Too short for it: the catch-up follows, with a note.
    let imported = read("4").expect("it imports");
    let schedule = imported.config.schedule.settings();
    assert_eq!((schedule.keep_days, schedule.catch_up_days), (4, 2));
    assert!(keys(&imported.notes).contains(&"[tlsrpt_reportd] keep_days"));
    // Not even yesterday: refused, naming the key.
    for value in ["1", "0", "-3"] {
        let error = read(value).expect_err(value);
        assert!(
            matches!(&error, TlsRptError::ConfigValue { key, .. } if key == "[tlsrpt_reportd] keep_days"),
            "{value}: {error}"
        );
    }
    // Without it, tlsrpt-reportd's default is ours.
    let path = dir.write("none.cfg", "[tlsrpt_reportd]\n");
    let imported = import(Component::Reportd, &path, &no_env()).expect("it imports");
    assert_eq!(imported.config.schedule.settings().keep_days, 10);
}

#[test]
fn ssh_fetchers_and_second_stores_are_noted_not_followed() {
    let dir = Dir::new();
    let path = dir.write(
        "reportd.cfg",
        "[tlsrpt_reportd]\nfetchers = ssh mx2 tlsrpt-fetcher, python3 tlsrpt_fetcher.py --config_file no-such.cfg, tlsrpt-fetcher --storage=sqlite:///a.sqlite, tlsrpt-fetcher --storage sqlite:///b.sqlite\n",
    );
    let imported = import(Component::Reportd, &path, &no_env()).expect("it imports");
    assert_eq!(
        imported.config.store,
        Some(StoreUrl::Sqlite("/a.mta-sts.db".into()))
    );
    let messages: Vec<String> = imported.notes.iter().map(ToString::to_string).collect();
    assert!(messages.iter().any(|m| m.contains("SSH")), "{messages:?}");
    // A fetcher whose file is missing (example.cfg's `devel.cfg`) is a note, not a failure.
    assert!(
        messages
            .iter()
            .any(|m| m.contains("(fetcher 2)") && m.contains("cannot be read")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("/b.mta-sts.db ignored")),
        "{messages:?}"
    );
}

#[test]
fn a_discard_map_becomes_the_suppression_list() {
    let dir = Dir::new();
    let map = dir.write(
        "record.map",
        "# domains we never report on\nexample.org DISCARD\ndomain:.Internal.Example. DISCARD\n\n",
    );
    let path = dir.write(
        "reportd.cfg",
        &format!("[tlsrpt_reportd]\ntlsrpt_record_map = {}\n", map.display()),
    );
    let imported = import(Component::Reportd, &path, &no_env()).expect("it imports");
    assert_eq!(
        imported.config.report.suppress,
        Some(vec![
            "example.org".to_string(),
            ".internal.example".to_string()
        ])
    );
}

#[test]
fn what_would_change_where_reports_go_is_refused() {
    let dir = Dir::new();
    let rewrite = dir.write("rewrite.map", "example.org REPLACE mailto:me@example.net\n");
    let everything = dir.write("all.map", ". DISCARD\n");
    for (body, key) in [
        (
            "debug_send_mail_dest = me@example.com".to_string(),
            "[tlsrpt_reportd] debug_send_mail_dest",
        ),
        (
            "http_upload_map = /etc/tlsrpt/http.map".to_string(),
            "[tlsrpt_reportd] http_upload_map",
        ),
        (
            "sendmail_script = sendmail -t | logger".to_string(),
            "[tlsrpt_reportd] sendmail_script",
        ),
        (
            format!("tlsrpt_record_map = {}", rewrite.display()),
            "line 1",
        ),
        (
            format!("tlsrpt_record_map = {}", everything.display()),
            "line 1",
        ),
    ] {
        let path = dir.write("bad.cfg", &format!("[tlsrpt_reportd]\n{body}\n"));
        let error = import(Component::Reportd, &path, &no_env()).expect_err(&body);
        assert!(
            matches!(&error, TlsRptError::ConfigValue { key: k, .. } if k.ends_with(key)),
            "{body}: {error}"
        );
    }
}

#[test]
fn tlsrpt_reporters_own_refusals_are_kept() {
    let dir = Dir::new();
    for (text, component) in [
        // No section for the program.
        ("[tlsrpt_reportd]\nfetchers = x\n", Component::Collectd),
        // An unknown key, and a key without a value.
        ("[tlsrpt_collectd]\nsocket = /x\n", Component::Collectd),
        ("[tlsrpt_collectd]\nsocketname =\n", Component::Collectd),
        // Not a number; not octal; an unknown storage.
        (
            "[tlsrpt_collectd]\nsockettimeout = five\n",
            Component::Collectd,
        ),
        ("[tlsrpt_collectd]\nsocketmode = rw\n", Component::Collectd),
        (
            "[tlsrpt_collectd]\nstorage = mysql://x\n",
            Component::Collectd,
        ),
        // Limits tlsrpt-reportd checks.
        (
            "[tlsrpt_reportd]\nspread_out_delivery = 0\n",
            Component::Reportd,
        ),
        (
            "[tlsrpt_reportd]\nmin_wait_delivery = 60\nmax_wait_delivery = 10\n",
            Component::Reportd,
        ),
        // Not INI at all.
        ("socketname = /x\n", Component::Collectd),
    ] {
        let path = dir.write("bad.cfg", text);
        assert!(
            import(component, &path, &no_env()).is_err(),
            "{text} was accepted"
        );
    }
    let missing = dir.0.join("missing.cfg");
    assert!(matches!(
        import(Component::Collectd, &missing, &no_env()),
        Err(TlsRptError::ReadConfig { .. })
    ));
}

#[test]
fn storage_urls_read_as_urlparse_reads_them() {
    assert_eq!(sqlite_path("///tmp/a.sqlite"), Some("/tmp/a.sqlite".into()));
    assert_eq!(sqlite_path("/tmp/a.sqlite"), Some("/tmp/a.sqlite".into()));
    assert_eq!(
        sqlite_path("//host/tmp/a.sqlite"),
        Some("/tmp/a.sqlite".into())
    );
    assert_eq!(
        sqlite_path("///tmp/with%20space.db"),
        Some("/tmp/with space.db".into())
    );
    assert_eq!(sqlite_path("relative.db"), Some("relative.db".into()));
    assert_eq!(sqlite_path("//"), None);
    assert_eq!(sqlite_path(""), None);
}

#[test]
fn integers_read_as_python_int_reads_them() {
    assert_eq!(python_int(" 42 "), Some(42));
    assert_eq!(python_int("+7"), Some(7));
    assert_eq!(python_int("-1"), Some(-1));
    assert_eq!(python_int("36_000"), Some(36_000));
    for bad in ["", "4.5", "1__0", "_1", "0x10", "ten"] {
        assert_eq!(python_int(bad), None, "{bad}");
    }
}
