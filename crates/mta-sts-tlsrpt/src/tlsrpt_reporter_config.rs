//! tlsrpt-reporter's configuration (`/etc/tlsrpt/collectd.cfg`, `fetcher.cfg`, `reportd.cfg`),
//! read as it is into a [`TlsRptConfig`], so switching is one line:
//! `mta-sts tlsrpt collect --tlsrpt-reporter-config /etc/tlsrpt/collectd.cfg` in place of
//! `tlsrpt-collectd`, and `mta-sts tlsrpt run --tlsrpt-reporter-config /etc/tlsrpt/reportd.cfg`
//! in place of `tlsrpt-reportd` (and its fetchers).
//!
//! The options are gathered as tlsrpt-reporter 0.6.0 gathers them (`config.options_from` in
//! the order command line, environment, file, defaults): the component's section of the file
//! (`[tlsrpt_collectd]`, `[tlsrpt_fetcher]`, `[tlsrpt_reportd]`; one file may hold all three, as
//! its `example.cfg` does), read as Python's configparser reads it ([`ini`]), then the
//! environment variables `TLSRPT_COLLECTD_<KEY>`, `TLSRPT_FETCHER_<KEY>`,
//! `TLSRPT_REPORTD_<KEY>` over it. As there, a missing section, an unknown key, or a key
//! without a value is an error; an unknown environment variable with the prefix is a note. Our
//! own flags then override the result, as they override `--config`.
//!
//! | tlsrpt-reporter | mta-sts |
//! |---|---|
//! | collectd `storage` (`sqlite:///PATH`, comma-separated) | `store = "sqlite:SIBLING"`: the counts go to `PATH` with the extension `.mta-sts.db` (our schema); tlsrpt-reporter's file is left alone, so switching back still works. `dummy:` is ignored; a second `sqlite:` is a note (one store) |
//! | `socketname`, `socketuser`, `socketgroup`, `socketmode` | `[collect] socket`, `socket_user`, `socket_group`, `socket_mode` |
//! | `sockettimeout` (commit after that many idle seconds) | `[collect] flush_interval` (write every so many seconds, idle or not) |
//! | `max_uncommited_datagrams`, `retry_commit_datagram_count` | ignored (a note): counts are written every flush interval; a failed write is retried with its counts kept |
//! | fetcher `storage`; reportd `fetchers` | the store: a local `tlsrpt-fetcher [--config_file F] [--storage URL]` is followed to its `storage`; a fetcher over SSH is a note (its MTA's collector should write to a PostgreSQL store shared with the reporter instead) |
//! | `organization_name`, `contact_info` | `[report] organization_name`, `contact_info` (the submitter domain is then `contact_info`'s, as tlsrpt-reportd derives it) |
//! | `sender_address` | `[mail] from` |
//! | `sendmail_script`, `sendmail_timeout` | `[mail] transport = "sendmail"`, `sendmail_command`, `sendmail_timeout` (run without a shell: shell syntax is refused) |
//! | `http_timeout` | `[https] timeout`; `http_script` is ignored (a note if changed): we POST ourselves |
//! | `spread_out_delivery`, `interval_main_loop` | `[schedule] spread`, `poll_interval` |
//! | `keep_days` (10) | `[schedule] keep_days`, counted as tlsrpt-reportd counts it (today included); below 9 (today, yesterday and our default 7 days of catch-up) it also lowers `[schedule] catch_up_days` to `keep_days - 2`, with a note (tlsrpt-reportd catches up no missed day); 0 and 1 are refused |
//! | `max_retries_delivery`, `min_wait_delivery`, `max_wait_delivery` (5, 300, 1800) | `[retry] max_attempts` (retries + 1: 6), `min_wait`, `max_wait` (doubling with jitter, where tlsrpt-reportd waits a random time between the two) |
//! | `tlsrpt_record_map` | its `DOMAIN DISCARD` lines become `[report] suppress`; any other line is refused |
//! | `mail_destination_map`, `http_upload_map`, `debug_send_mail_dest`, `debug_send_http_dest` | refused: they redirect reports, which we do not do; ignoring them would send reports elsewhere than the user chose |
//! | `pidfilename`, `logfilename`, `log_level`, `daily_rollover_script`, `dump_path_for_invalid_datagram`, `dbname`, `compression_level`, `debug_db`, `debug_send_file_dest`, the fetcher timing options | ignored, each with a note saying why |

mod ini;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mta_sts_store::StoreUrl;

use crate::config::{TlsRptConfig, parse_octal_mode};
use crate::delivery::{HttpsSettings, MailSettings, MailTransport, RetrySchedule};
use crate::error::TlsRptError;
use crate::schedule::ScheduleSettings;
use ini::Ini;

/// tlsrpt-collectd's configuration file when none is named.
pub const DEFAULT_COLLECTD_CONFIG: &str = "/etc/tlsrpt/collectd.cfg";
/// tlsrpt-fetcher's configuration file when none is named.
pub const DEFAULT_FETCHER_CONFIG: &str = "/etc/tlsrpt/fetcher.cfg";
/// tlsrpt-reportd's configuration file when none is named.
pub const DEFAULT_REPORTD_CONFIG: &str = "/etc/tlsrpt/reportd.cfg";

/// tlsrpt-reportd's `http_script` default: a different one is worth a note.
const DEFAULT_HTTP_SCRIPT: &str =
    "curl --silent --header 'Content-Type: application/tlsrpt+gzip' --data-binary @-";

/// Which tlsrpt-reporter program's settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// tlsrpt-collectd (`mta-sts tlsrpt collect`).
    Collectd,
    /// tlsrpt-fetcher (read for the store a reportd's fetchers name).
    Fetcher,
    /// tlsrpt-reportd (`mta-sts tlsrpt run`, `send`, `report`, `status`).
    Reportd,
}

/// An option's type in tlsrpt-reporter (its `options_*` tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
}

use Kind::{Integer, Text};

const COLLECTD_KEYS: &[(&str, Kind)] = &[
    ("storage", Text),
    ("socketname", Text),
    ("socketuser", Text),
    ("socketgroup", Text),
    ("socketmode", Text),
    ("sockettimeout", Integer),
    ("max_uncommited_datagrams", Integer),
    ("retry_commit_datagram_count", Integer),
    ("pidfilename", Text),
    ("logfilename", Text),
    ("log_level", Text),
    ("daily_rollover_script", Text),
    ("dump_path_for_invalid_datagram", Text),
];

const FETCHER_KEYS: &[(&str, Kind)] = &[
    ("storage", Text),
    ("logfilename", Text),
    ("log_level", Text),
];

const REPORTD_KEYS: &[(&str, Kind)] = &[
    ("pidfilename", Text),
    ("logfilename", Text),
    ("log_level", Text),
    ("debug_db", Integer),
    ("keep_days", Integer),
    ("debug_send_mail_dest", Text),
    ("debug_send_http_dest", Text),
    ("debug_send_file_dest", Text),
    ("dbname", Text),
    ("fetchers", Text),
    ("organization_name", Text),
    ("contact_info", Text),
    ("sender_address", Text),
    ("compression_level", Integer),
    ("tlsrpt_record_map", Text),
    ("mail_destination_map", Text),
    ("http_upload_map", Text),
    ("http_script", Text),
    ("http_timeout", Integer),
    ("sendmail_script", Text),
    ("sendmail_timeout", Integer),
    ("spread_out_delivery", Integer),
    ("interval_main_loop", Integer),
    ("max_collectd_timeout", Integer),
    ("max_collectd_timediff", Integer),
    ("max_retries_delivery", Integer),
    ("min_wait_delivery", Integer),
    ("max_wait_delivery", Integer),
    ("max_retries_domainlist", Integer),
    ("min_wait_domainlist", Integer),
    ("max_wait_domainlist", Integer),
    ("max_retries_domaindetails", Integer),
    ("min_wait_domaindetails", Integer),
    ("max_wait_domaindetails", Integer),
];

impl Component {
    /// The section of the file (`tlsrpt_collectd`, ...).
    pub fn section(self) -> &'static str {
        match self {
            Component::Collectd => "tlsrpt_collectd",
            Component::Fetcher => "tlsrpt_fetcher",
            Component::Reportd => "tlsrpt_reportd",
        }
    }

    /// The prefix of its environment variables (`TLSRPT_COLLECTD_`, ...).
    pub fn env_prefix(self) -> &'static str {
        match self {
            Component::Collectd => "TLSRPT_COLLECTD_",
            Component::Fetcher => "TLSRPT_FETCHER_",
            Component::Reportd => "TLSRPT_REPORTD_",
        }
    }

    /// The file the program reads when none is named.
    pub fn default_file(self) -> &'static str {
        match self {
            Component::Collectd => DEFAULT_COLLECTD_CONFIG,
            Component::Fetcher => DEFAULT_FETCHER_CONFIG,
            Component::Reportd => DEFAULT_REPORTD_CONFIG,
        }
    }

    fn keys(self) -> &'static [(&'static str, Kind)] {
        match self {
            Component::Collectd => COLLECTD_KEYS,
            Component::Fetcher => FETCHER_KEYS,
            Component::Reportd => REPORTD_KEYS,
        }
    }
}

/// A key that was accepted but is ignored or read differently: one line in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The key as tlsrpt-reporter names it (`[tlsrpt_reportd] keep_days`, or the environment
    /// variable).
    pub key: String,
    /// What happens to it instead, as a sentence.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// What tlsrpt-reporter's files become: our configuration layer and the notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// The settings, as if written in our TOML file.
    pub config: TlsRptConfig,
    /// Keys accepted but ignored or read differently.
    pub notes: Vec<Note>,
}

/// The environment tlsrpt-reporter's overrides are read from: `std::env::vars()` in the
/// binary, a list in tests.
pub type Environment = BTreeMap<String, String>;

/// One option's value and where it came from.
struct Setting {
    value: String,
    /// `[section] key` or the environment variable.
    origin: String,
}

/// A component's options as tlsrpt-reporter gathers them (file, then environment over it);
/// only options given somewhere, never defaults.
struct Options {
    component: Component,
    values: BTreeMap<&'static str, Setting>,
}

impl Options {
    fn gather(
        component: Component,
        file: Option<(&Path, &Ini)>,
        env: &Environment,
        notes: &mut Vec<Note>,
    ) -> Result<Options, TlsRptError> {
        let section = component.section();
        let mut values = BTreeMap::new();
        if let Some((path, ini)) = file {
            let items = ini
                .section(section)
                .ok_or_else(|| TlsRptError::ConfigSyntax {
                    origin: path.display().to_string(),
                    message: format!(
                        "it has no [{section}] section (tlsrpt-reporter refuses it too); \
                         its sections: {}",
                        list(ini.section_names())
                    ),
                })?
                .map_err(|e| TlsRptError::ConfigSyntax {
                    origin: format!("{} [{section}]", path.display()),
                    message: e.message,
                })?;
            for (key, value) in items {
                let origin = format!("[{section}] {key}");
                let Some((known, _)) = component.keys().iter().find(|(k, _)| *k == key) else {
                    return Err(TlsRptError::ConfigValue {
                        key: origin,
                        message: format!(
                            "tlsrpt-reporter knows no such key (it refuses it too); the keys of \
                             [{section}]: {}",
                            list(component.keys().iter().map(|(k, _)| *k))
                        ),
                    });
                };
                if value.is_empty() {
                    return Err(TlsRptError::ConfigValue {
                        key: origin,
                        message: "it has no value (tlsrpt-reporter refuses that too); give one or \
                                  remove the line"
                            .into(),
                    });
                }
                values.insert(*known, Setting { value, origin });
            }
        }
        let prefix = component.env_prefix();
        for (name, value) in env.range(prefix.to_string()..) {
            let Some(suffix) = name.strip_prefix(prefix) else {
                break;
            };
            let key = suffix.to_lowercase();
            match component.keys().iter().find(|(k, _)| *k == key) {
                Some((known, _)) => {
                    values.insert(
                        *known,
                        Setting {
                            value: value.clone(),
                            origin: name.clone(),
                        },
                    );
                }
                None => notes.push(Note {
                    key: name.clone(),
                    message: format!(
                        "ignored: {key} is no option of {} (tlsrpt-reporter warns about it too)",
                        section
                    ),
                }),
            }
        }
        let options = Options { component, values };
        for (key, kind) in component.keys() {
            if *kind == Integer {
                options.integer(key)?;
            }
        }
        Ok(options)
    }

    /// A text option, if given and not empty (tlsrpt-reporter treats `""` as unset).
    fn text(&self, key: &str) -> Option<&Setting> {
        self.values.get(key).filter(|s| !s.value.is_empty())
    }

    /// An integer option read as Python's `int()` reads it.
    fn integer(&self, key: &str) -> Result<Option<(i64, &Setting)>, TlsRptError> {
        let Some(setting) = self.values.get(key) else {
            return Ok(None);
        };
        python_int(&setting.value)
            .map(|n| Some((n, setting)))
            .ok_or_else(|| TlsRptError::ConfigValue {
                key: setting.origin.clone(),
                message: format!("\"{}\" is not a whole number", setting.value),
            })
    }

    /// A number of seconds (at least `min`).
    fn seconds(&self, key: &str, min: u64) -> Result<Option<Duration>, TlsRptError> {
        let Some((n, setting)) = self.integer(key)? else {
            return Ok(None);
        };
        match u64::try_from(n) {
            Ok(n) if n >= min => Ok(Some(Duration::from_secs(n))),
            _ => Err(TlsRptError::ConfigValue {
                key: setting.origin.clone(),
                message: format!("{n} seconds cannot be used; give at least {min}"),
            }),
        }
    }

    /// A note for each of `keys` that was given: ignored, and why.
    fn ignored(&self, keys: &[&str], why: &str, notes: &mut Vec<Note>) {
        for key in keys {
            if let Some(setting) = self.text(key) {
                notes.push(Note {
                    key: setting.origin.clone(),
                    message: format!("ignored: {why}"),
                });
            }
        }
    }
}

/// Reads tlsrpt-reporter's settings for `component` from `path` (which must exist, as when it
/// is named with `--config_file`) with the environment over them.
pub fn import(
    component: Component,
    path: &Path,
    env: &Environment,
) -> Result<Imported, TlsRptError> {
    let ini = read_ini(path)?;
    let mut notes = Vec::new();
    let options = Options::gather(component, Some((path, &ini)), env, &mut notes)?;
    let mut config = TlsRptConfig::default();
    match component {
        Component::Collectd => map_collectd(&options, &mut config, &mut notes)?,
        Component::Fetcher => map_fetcher(&options, &mut config, &mut notes)?,
        Component::Reportd => map_reportd(&options, env, &mut config, &mut notes)?,
    }
    config.validate()?;
    Ok(Imported { config, notes })
}

fn read_ini(path: &Path) -> Result<Ini, TlsRptError> {
    let text = std::fs::read_to_string(path).map_err(|source| TlsRptError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    Ini::parse(&text).map_err(|e| TlsRptError::ConfigSyntax {
        origin: match e.line {
            Some(line) => format!("{} line {line}", path.display()),
            None => path.display().to_string(),
        },
        message: e.message,
    })
}

const LOGGING_WHY: &str = "mta-sts logs to standard error (the journal under systemd); \
                           RUST_LOG sets the level";
const PID_WHY: &str = "mta-sts writes no PID file; systemd (Type=notify) tracks the process";

fn map_collectd(
    options: &Options,
    config: &mut TlsRptConfig,
    notes: &mut Vec<Note>,
) -> Result<(), TlsRptError> {
    map_storage(options, config, notes)?;
    let collect = &mut config.collect;
    collect.socket = options.text("socketname").map(|s| PathBuf::from(&s.value));
    collect.socket_user = options.text("socketuser").map(|s| s.value.clone());
    collect.socket_group = options.text("socketgroup").map(|s| s.value.clone());
    if let Some(setting) = options.text("socketmode") {
        collect.socket_mode =
            Some(
                parse_octal_mode(&setting.value).ok_or_else(|| TlsRptError::ConfigValue {
                    key: setting.origin.clone(),
                    message: format!(
                        "\"{}\" is not octal permission bits such as 0220",
                        setting.value
                    ),
                })?,
            );
    }
    collect.flush_interval = options.seconds("sockettimeout", 1)?;
    if let Some(setting) = options.values.get("sockettimeout") {
        notes.push(Note {
            key: setting.origin.clone(),
            message: "read as [collect] flush_interval: tlsrpt-collectd writes to its database \
                      after the socket was idle that long; mta-sts writes its counts that often, \
                      idle or not"
                .into(),
        });
    }
    options.ignored(
        &["max_uncommited_datagrams", "retry_commit_datagram_count"],
        "counts are written every flush_interval in one transaction, and a failed write is \
         retried with its counts kept, so there is no per-datagram commit to tune",
        notes,
    );
    options.ignored(&["pidfilename"], PID_WHY, notes);
    options.ignored(&["logfilename", "log_level"], LOGGING_WHY, notes);
    options.ignored(
        &["daily_rollover_script"],
        "there is no day roll-over to hook: every day's counts stay in the store and \
         `mta-sts tlsrpt run` reports each day after its midnight",
        notes,
    );
    options.ignored(
        &["dump_path_for_invalid_datagram"],
        "malformed datagrams are counted and logged with their first bytes, not written to files",
        notes,
    );
    Ok(())
}

fn map_fetcher(
    options: &Options,
    config: &mut TlsRptConfig,
    notes: &mut Vec<Note>,
) -> Result<(), TlsRptError> {
    map_storage(options, config, notes)?;
    options.ignored(&["logfilename", "log_level"], LOGGING_WHY, notes);
    Ok(())
}

/// `storage`: the first `sqlite:` backend's sibling file becomes the store.
fn map_storage(
    options: &Options,
    config: &mut TlsRptConfig,
    notes: &mut Vec<Note>,
) -> Result<(), TlsRptError> {
    let Some(setting) = options.text("storage") else {
        return Ok(());
    };
    for url in setting
        .value
        .split(',')
        .filter(|url| !url.trim().is_empty())
    {
        let url = url.trim();
        let bad = |message: String| TlsRptError::ConfigValue {
            key: setting.origin.clone(),
            message,
        };
        match url.split_once(':') {
            Some(("sqlite", rest)) => {
                let path = sqlite_path(rest).ok_or_else(|| {
                    bad(format!(
                        "{url} names no file; write sqlite:///PATH as tlsrpt-reporter does"
                    ))
                })?;
                if config.store.is_some() {
                    notes.push(Note {
                        key: setting.origin.clone(),
                        message: format!(
                            "{url} ignored: mta-sts writes to one store (the first sqlite one); \
                             for several MTAs share one PostgreSQL store instead"
                        ),
                    });
                    continue;
                }
                let ours = path.with_extension("mta-sts.db");
                notes.push(Note {
                    key: setting.origin.clone(),
                    message: format!(
                        "counts are kept in {} beside {} (our schema; tlsrpt-reporter's file is \
                         left alone, so switching back still works)",
                        ours.display(),
                        path.display()
                    ),
                });
                config.store = Some(StoreUrl::Sqlite(ours));
            }
            Some(("dummy", _)) => notes.push(Note {
                key: setting.origin.clone(),
                message: format!("{url} ignored: the dummy backend stores nothing"),
            }),
            _ => {
                return Err(bad(format!(
                    "{url} is no storage tlsrpt-reporter 0.6.0 knows (sqlite or dummy)"
                )));
            }
        }
    }
    Ok(())
}

/// The file of a `sqlite:` URL as Python's `urlparse(unquote(url)).path` gives it.
fn sqlite_path(rest: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rest);
    let path = match decoded.strip_prefix("//") {
        // `sqlite://HOST/PATH`: the host part is not part of the path.
        Some(authority_and_path) => authority_and_path
            .find('/')
            .map(|slash| authority_and_path[slash..].to_string())?,
        None => decoded,
    };
    (!path.is_empty() && path != "/").then(|| PathBuf::from(path))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn map_reportd(
    options: &Options,
    env: &Environment,
    config: &mut TlsRptConfig,
    notes: &mut Vec<Note>,
) -> Result<(), TlsRptError> {
    let refuse = |setting: &Setting, message: &str| TlsRptError::ConfigValue {
        key: setting.origin.clone(),
        message: message.to_string(),
    };
    for key in ["debug_send_mail_dest", "debug_send_http_dest"] {
        if let Some(setting) = options.text(key) {
            return Err(refuse(
                setting,
                "it sends every report somewhere else than its rua, which mta-sts does not do; \
                 remove it, or look at reports with `mta-sts tlsrpt report --out DIR` instead",
            ));
        }
    }
    for key in ["mail_destination_map", "http_upload_map"] {
        if let Some(setting) = options.text(key) {
            return Err(refuse(
                setting,
                "destination rewriting is not supported, and ignoring it would send reports \
                 where you chose not to; remove it (to drop a domain or rua use [report] \
                 suppress)",
            ));
        }
    }
    let report = &mut config.report;
    report.organization_name = options.text("organization_name").map(|s| s.value.clone());
    // The submitter is left unset: the builder takes the domain of contact_info's address, as
    // tlsrpt-reportd's sender_domain() does.
    report.contact_info = options.text("contact_info").map(|s| s.value.clone());
    if let Some(setting) = options.text("tlsrpt_record_map") {
        report.suppress = Some(read_discard_map(setting)?);
    }
    let mut mail = MailSettings {
        from: options.text("sender_address").map(|s| s.value.clone()),
        // tlsrpt-reportd always mails through its sendmail_script.
        transport: MailTransport::Sendmail,
        ..MailSettings::default()
    };
    if let Some(setting) = options.text("sendmail_script") {
        if setting.value.contains([
            '|', '&', ';', '<', '>', '$', '`', '\'', '"', '\\', '(', ')', '*', '?',
        ]) {
            return Err(refuse(
                setting,
                "mta-sts runs the sendmail command without a shell (split on white space), so \
                 shell syntax would not mean what it does in tlsrpt-reportd; write a plain \
                 command, or a script that does the rest",
            ));
        }
        mail.sendmail_command.clone_from(&setting.value);
    }
    if let Some(timeout) = options.seconds("sendmail_timeout", 1)? {
        mail.sendmail_timeout = timeout.as_secs();
    }
    config.mail = Some(mail);
    let mut https = HttpsSettings::default();
    if let Some(timeout) = options.seconds("http_timeout", 1)? {
        https.timeout = timeout.as_secs();
    }
    config.https = Some(https);
    if let Some(setting) = options.text("http_script")
        && setting.value != DEFAULT_HTTP_SCRIPT
    {
        notes.push(Note {
            key: setting.origin.clone(),
            message: "ignored: mta-sts POSTs reports itself (Content-Type \
                      application/tlsrpt+gzip, no redirects, [https] ca_file and timeout); what \
                      the script did beyond that is not carried over"
                .into(),
        });
    }
    config.schedule.spread = options.seconds("spread_out_delivery", 1)?;
    config.schedule.poll_interval = options.seconds("interval_main_loop", 1)?;
    // tlsrpt-reportd's delivery defaults (5 retries, 300 to 1800 s) whether given or not: the
    // user keeps what they had.
    let mut retry = RetrySchedule {
        max_attempts: 6,
        min_wait: 300,
        max_wait: 1800,
    };
    if let Some((retries, setting)) = options.integer("max_retries_delivery")? {
        // tlsrpt-reportd tries once, then again while retries < max_retries_delivery.
        retry.max_attempts = u32::try_from(retries.max(0))
            .ok()
            .and_then(|r| r.checked_add(1))
            .ok_or_else(|| refuse(setting, "it is too large"))?;
    }
    if let Some(wait) = options.seconds("min_wait_delivery", 0)? {
        retry.min_wait = wait.as_secs();
    }
    if let Some(wait) = options.seconds("max_wait_delivery", 0)? {
        retry.max_wait = wait.as_secs();
    }
    if retry.max_wait < retry.min_wait {
        let key = options
            .values
            .get("max_wait_delivery")
            .or_else(|| options.values.get("min_wait_delivery"))
            .map_or_else(|| "max_wait_delivery".to_string(), |s| s.origin.clone());
        return Err(TlsRptError::ConfigValue {
            key,
            message: "max_wait_delivery is less than min_wait_delivery (tlsrpt-reportd refuses \
                      that too)"
                .into(),
        });
    }
    config.retry = Some(retry);
    if let Some(setting) = options
        .values
        .get("min_wait_delivery")
        .or_else(|| options.values.get("max_wait_delivery"))
    {
        notes.push(Note {
            key: setting.origin.clone(),
            message: "read as [retry] min_wait/max_wait: the wait starts at the minimum and \
                      doubles up to the maximum (with jitter), where tlsrpt-reportd waits a \
                      random time between the two"
                .into(),
        });
    }
    map_fetchers(options, env, config, notes)?;
    options.ignored(&["pidfilename"], PID_WHY, notes);
    options.ignored(&["logfilename", "log_level"], LOGGING_WHY, notes);
    options.ignored(
        &["dbname"],
        "the outbox is kept in the store with the counts; tlsrpt-reportd's database is not \
         read, and only days collected by mta-sts are reported, so none is reported twice",
        notes,
    );
    map_keep_days(options, config, notes)?;
    options.ignored(
        &["compression_level"],
        "reports are compressed at gzip's default level",
        notes,
    );
    if options.integer("debug_db")?.is_some_and(|(n, _)| n != 0) {
        options.ignored(&["debug_db"], "there is no SQL trace to turn on", notes);
    }
    options.ignored(
        &["debug_send_file_dest"],
        "copies of sent reports are not written; `mta-sts tlsrpt report --out DIR` writes a \
         day's reports as files",
        notes,
    );
    options.ignored(
        &[
            "max_collectd_timeout",
            "max_collectd_timediff",
            "max_retries_domainlist",
            "min_wait_domainlist",
            "max_wait_domainlist",
            "max_retries_domaindetails",
            "min_wait_domaindetails",
            "max_wait_domaindetails",
        ],
        "there are no fetchers to wait for: the reporter reads the collectors' store directly",
        notes,
    );
    Ok(())
}

/// `keep_days`: the days kept, today included, as tlsrpt-reportd counts them. tlsrpt-reportd
/// catches up no missed day, so a `keep_days` too short for our catch-up shortens the catch-up
/// instead of refusing a file tlsrpt-reportd ran with.
fn map_keep_days(
    options: &Options,
    config: &mut TlsRptConfig,
    notes: &mut Vec<Note>,
) -> Result<(), TlsRptError> {
    let Some((days, setting)) = options.integer("keep_days")? else {
        return Ok(());
    };
    let keep_days = match u32::try_from(days) {
        Ok(days) if days >= 2 => days,
        _ => {
            return Err(TlsRptError::ConfigValue {
                key: setting.origin.clone(),
                message: format!(
                    "{days} would delete yesterday's counts before its reports are sent (the \
                     reporter sends a day's reports after its midnight); give at least 2"
                ),
            });
        }
    };
    config.schedule.keep_days = Some(keep_days);
    let catch_up_days = config
        .schedule
        .catch_up_days
        .unwrap_or(ScheduleSettings::default().catch_up_days);
    if keep_days < catch_up_days.saturating_add(2) {
        config.schedule.catch_up_days = Some(keep_days - 2);
        notes.push(Note {
            key: setting.origin.clone(),
            message: format!(
                "read as [schedule] keep_days = {keep_days}, and missed days are caught up only \
                 {} day(s) back from yesterday (instead of {catch_up_days}), so no day is \
                 deleted before it is reported",
                keep_days - 2
            ),
        });
    }
    Ok(())
}

/// `fetchers`: each local `tlsrpt-fetcher` is followed to its storage, the first of which is
/// the store.
fn map_fetchers(
    options: &Options,
    env: &Environment,
    config: &mut TlsRptConfig,
    notes: &mut Vec<Note>,
) -> Result<(), TlsRptError> {
    let Some(setting) = options.text("fetchers") else {
        notes.push(Note {
            key: format!("[{}] fetchers", options.component.section()),
            message: "not given: the store is --store, or the default".into(),
        });
        return Ok(());
    };
    for (index, command) in setting.value.split(',').enumerate() {
        let words: Vec<&str> = command.split_whitespace().collect();
        let key = format!("{} (fetcher {})", setting.origin, index + 1);
        let basename = |word: &str| word.rsplit('/').next().unwrap_or(word).to_string();
        let Some(position) = words
            .iter()
            .position(|w| matches!(basename(w).as_str(), "tlsrpt-fetcher" | "tlsrpt_fetcher.py"))
        else {
            notes.push(Note {
                key,
                message: format!(
                    "\"{}\" ignored: it does not run tlsrpt-fetcher, so its store is unknown",
                    command.trim()
                ),
            });
            continue;
        };
        if words[..position].iter().any(|w| basename(w) == "ssh") {
            notes.push(Note {
                key,
                message: format!(
                    "\"{}\" ignored: it fetches from another host over SSH; run \
                     `mta-sts tlsrpt collect` there with a PostgreSQL store shared with this \
                     reporter (store = \"postgres://...\") instead",
                    command.trim()
                ),
            });
            continue;
        }
        let arguments = &words[position + 1..];
        let flag = |name: &str| {
            arguments.iter().enumerate().find_map(|(i, w)| {
                w.strip_prefix(&format!("--{name}="))
                    .map(str::to_string)
                    .or_else(|| {
                        (*w == format!("--{name}"))
                            .then(|| arguments.get(i + 1).map(|v| v.to_string()))
                            .flatten()
                    })
            })
        };
        let mut fetcher = TlsRptConfig::default();
        let mut fetcher_notes = Vec::new();
        if let Some(storage) = flag("storage") {
            let flag_env = Environment::from([(
                format!("{}STORAGE", Component::Fetcher.env_prefix()),
                storage,
            )]);
            let flagged = Options::gather(Component::Fetcher, None, &flag_env, &mut fetcher_notes)?;
            map_storage(&flagged, &mut fetcher, &mut fetcher_notes)?;
        } else {
            let file = flag("config_file").map(PathBuf::from);
            let named = file.is_some();
            let path = file.unwrap_or_else(|| PathBuf::from(DEFAULT_FETCHER_CONFIG));
            let ini = if named || path.is_file() {
                match read_ini(&path) {
                    Ok(ini) => Some(ini),
                    // tlsrpt-reportd starts with such a fetcher too (and logs its failures),
                    // as its own example.cfg's `--config_file devel.cfg` shows.
                    Err(error @ TlsRptError::ReadConfig { .. }) => {
                        notes.push(Note {
                            key,
                            message: format!(
                                "its configuration cannot be read ({error}), so its store is \
                                 unknown: the store is --store, --config's, or the default"
                            ),
                        });
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            } else {
                None
            };
            let gathered = Options::gather(
                Component::Fetcher,
                ini.as_ref().map(|ini| (path.as_path(), ini)),
                env,
                &mut fetcher_notes,
            )?;
            map_fetcher(&gathered, &mut fetcher, &mut fetcher_notes)?;
        }
        notes.extend(fetcher_notes);
        match (fetcher.store, &config.store) {
            (None, _) => notes.push(Note {
                key,
                message: "its tlsrpt-fetcher names no storage; the store is --store, or the \
                          default"
                    .into(),
            }),
            (Some(store), None) => config.store = Some(store),
            (Some(store), Some(first)) if store != *first => notes.push(Note {
                key,
                message: format!(
                    "its store {store} ignored: the reporter reads one store ({first}); let \
                     every MTA's collector write to one PostgreSQL store instead"
                ),
            }),
            (Some(_), Some(_)) => {}
        }
    }
    Ok(())
}

/// A `tlsrpt_record_map` whose lines all drop a domain (`DOMAIN DISCARD`, `.SUFFIX DISCARD`):
/// the domains to suppress. Any other line would rewrite destinations, which we do not do.
fn read_discard_map(setting: &Setting) -> Result<Vec<String>, TlsRptError> {
    let path = Path::new(&setting.value);
    let text = std::fs::read_to_string(path).map_err(|source| TlsRptError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    let mut suppress = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let pattern = words[0].strip_prefix("domain:").unwrap_or(words[0]);
        let refuse = |why: &str| TlsRptError::ConfigValue {
            key: format!("{} line {}", path.display(), index + 1),
            message: format!("\"{line}\": {why}"),
        };
        match words.as_slice() {
            [_, "DISCARD"] if pattern == "." => {
                return Err(refuse(
                    "it discards every report; stop the reporter instead of configuring it so",
                ));
            }
            [_, "DISCARD"] if !pattern.contains(':') => {
                suppress.push(pattern.trim_end_matches('.').to_lowercase());
            }
            _ => {
                return Err(refuse(
                    "only DOMAIN DISCARD lines are carried over (as [report] suppress); ACCEPT, \
                     REPLACE, APPEND, REGEXP and regexp: matches rewrite destinations, which \
                     mta-sts does not do",
                ));
            }
        }
    }
    Ok(suppress)
}

/// Python's `int(text)`: optional white space and sign, digits with single underscores
/// between them.
fn python_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let value: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -value } else { value })
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests;
