//! `mta-sts tlsrpt`'s TOML configuration (`--config FILE`), shared by `collect`, `report`,
//! `send`, `run` and `status`.
//!
//! Every key is optional: the file is one layer of settings between the defaults (the
//! collector's, builder's and delivery's own) and the command-line flags, which override it. A
//! key left out keeps the default, so [`EXAMPLE`] lists each with its default commented out. An
//! unknown key is an error that names it: a typo must not silently fall back to a default.
//! tlsrpt-reporter's INI files are read into the same [`TlsRptConfig`]
//! ([`crate::tlsrpt_reporter_config`]), so both take one path from there on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mta_sts_store::StoreUrl;
use serde::{Deserialize, Deserializer};

use crate::collector::CollectSettings;
use crate::delivery::{DeliverySettings, DkimSettings, HttpsSettings, MailSettings, RetrySchedule};
use crate::error::TlsRptError;
use crate::report_builder::{BuildSettings, SuppressionList};
use crate::schedule::ScheduleSettings;

/// Every key, with its default, as a commented TOML file.
pub const EXAMPLE: &str = r#"# mta-sts tlsrpt: TLS-RPT reports (RFC 8460) about the mail this host sends. Postfix 3.10
# writes one datagram per TLS attempt to the collector's socket; the reporter sends one report
# per recipient domain and day. Every key below is optional; the values shown are the defaults.

# Where the counts and the outbox are kept: "sqlite:PATH", or "postgres://USER@HOST/DB" for a
# fleet of MTAs whose collectors share one store (one reporter then sends for all of them).
# store = "sqlite:/var/lib/mta-sts/tlsrpt-sender.db"

# Serve Prometheus metrics of `mta-sts tlsrpt run` on this address ("IP:PORT").
# metrics = "127.0.0.1:9469"

[collect]
# The unix datagram socket Postfix's smtp_tlsrpt_socket_name names (libtlsrpt writes there).
# socket = "/run/tlsrpt/collectd.sock"
# Its permissions (octal, as a string; by default as the umask makes it), owner and group:
# Postfix's smtp processes must be able to write to it.
# socket_mode = "0220"
# socket_user = "root"
# socket_group = "postfix"
# Seconds between two writes of the counts to the store.
# flush_interval = 5
# Distinct (day, domain, record, policy, failure) keys held between two writes; datagrams
# past the cap while the store is slow are counted as lost and logged.
# max_keys = 1000000
# The socket's receive buffer asked for (SO_RCVBUF, bytes; the kernel caps it at rmem_max).
# receive_buffer = 8388608
# Seconds a shutdown keeps trying to store the last counts.
# shutdown_timeout = 30

[report]
# Who reports (RFC 8460 §4.4 organization-name, contact-info) and the submitter domain of the
# file name and the mail headers (§5.3; by default the domain of contact_info).
# organization_name = "Example Inc."
# contact_info = "mailto:tlsrpt@example.com"
# submitter = "example.com"
# Send a report only for a domain and day with at least one failed session.
# only_with_failures = false
# Never report on these recipient domains (".example.com": its subdomains) or to these rua.
# suppress = ["example.org", ".internal.example", "mailto:reports@example.net"]
# The largest report JSON in bytes (before gzip); a larger one is split over several reports.
# max_size = 16777216

[mail]
# The From address of report mails (needed to mail reports), and per recipient domain (and
# its subdomains) another one.
# from = "tlsrpt-noreply@example.com"
# from_by_domain = { "example.org" = "tlsrpt@example.net" }
# "sendmail" (the local MTA's command, the message on its standard input) or "relay" (SMTP).
# transport = "sendmail"
# sendmail_command = "sendmail -i -t"   # split on spaces, run without a shell
# sendmail_timeout = 10
# [mail.relay]
# host = "smtp.example.com"
# port = 25
# security = "starttls"         # "starttls", "tls" (implicit) or "none" (loopback only)
# username = "reports"
# password_file = "/etc/mta-sts/relay-password"
# ca_file = "/etc/mta-sts/relay-ca.pem"
# timeout = 30

# Sign report mails (RFC 8460 §3: reports SHOULD be DKIM-signed). RSA or Ed25519 key, PEM.
# Without this table mail goes out unsigned.
# [dkim]
# key_file = "/etc/mta-sts/dkim/tlsrpt.key"
# selector = "tlsrpt"
# domain = "example.com"        # by default the From address's domain

[https]
# POSTs to https rua: extra trusted roots (PEM) and the time limit in seconds.
# ca_file = "/etc/mta-sts/extra-roots.pem"
# timeout = 10

[retry]
# A failed delivery is tried again after min_wait seconds, doubling up to max_wait (with
# jitter), max_attempts in all; a permanent refusal (SMTP 5xx, HTTP 4xx) gives up at once.
# max_attempts = 5
# min_wait = 300
# max_wait = 1800

[schedule]
# A day's reports go out after its UTC midnight plus settle seconds (the collectors' last
# write of the day), at a random point of the next spread seconds.
# spread = 36000
# settle = 120
# Days not yet reported are caught up after downtime, at most this many days back.
# catch_up_days = 7
# Days of counts, figures and sent reports kept in the store, today included (as
# tlsrpt-reportd's keep_days): older days are deleted once a day, except a day whose reports
# are still being delivered. At least catch_up_days + 2 (today, yesterday and the days caught
# up), so no day is deleted before it is reported.
# keep_days = 10
# The longest sleep of `mta-sts tlsrpt run` between two looks at the outbox, in seconds.
# poll_interval = 300
"#;

/// The configuration file: every key optional (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsRptConfig {
    /// Where counts and the outbox are kept.
    #[serde(deserialize_with = "optional_store")]
    pub store: Option<StoreUrl>,
    /// Where `mta-sts tlsrpt run` serves metrics.
    pub metrics: Option<SocketAddr>,
    /// The `[collect]` table.
    pub collect: CollectSection,
    /// The `[report]` table.
    pub report: ReportSection,
    /// The `[mail]` table, as the delivery reads it (its defaults for what it leaves out).
    pub mail: Option<MailSettings>,
    /// The `[dkim]` table; without it mail goes out unsigned.
    pub dkim: Option<DkimSettings>,
    /// The `[https]` table.
    pub https: Option<HttpsSettings>,
    /// The `[retry]` table.
    pub retry: Option<RetrySchedule>,
    /// The `[schedule]` table.
    pub schedule: ScheduleSection,
}

/// `[collect]`: the collector's socket and how it writes to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectSection {
    /// The unix datagram socket libtlsrpt writes to.
    pub socket: Option<PathBuf>,
    /// The socket's permission bits.
    #[serde(deserialize_with = "optional_mode")]
    pub socket_mode: Option<u32>,
    /// The socket's owner (a name or a number).
    pub socket_user: Option<String>,
    /// The socket's group (a name or a number).
    pub socket_group: Option<String>,
    /// Time between two writes to the store.
    #[serde(deserialize_with = "optional_seconds")]
    pub flush_interval: Option<Duration>,
    /// Distinct keys held in memory between two writes.
    pub max_keys: Option<usize>,
    /// SO_RCVBUF asked for, in bytes.
    pub receive_buffer: Option<usize>,
    /// How long a shutdown keeps trying to store the last counts.
    #[serde(deserialize_with = "optional_seconds")]
    pub shutdown_timeout: Option<Duration>,
}

/// `[report]`: what a report says and which are made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSection {
    /// RFC 8460 §4.4 `organization-name`.
    pub organization_name: Option<String>,
    /// RFC 8460 §4.4 `contact-info`.
    pub contact_info: Option<String>,
    /// The submitter domain (§5.3 file name, `TLS-Report-Submitter`).
    pub submitter: Option<String>,
    /// Report only days with failures.
    pub only_with_failures: Option<bool>,
    /// Recipient domains (`.suffix` for subdomains) and rua never reported to.
    pub suppress: Option<Vec<String>>,
    /// The largest report, in bytes of gzip.
    pub max_size: Option<usize>,
}

/// `[schedule]`: when reports are made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// The window after midnight over which a day's reports are spread.
    #[serde(deserialize_with = "optional_seconds")]
    pub spread: Option<Duration>,
    /// The wait after midnight before a day counts as complete.
    #[serde(deserialize_with = "optional_seconds")]
    pub settle: Option<Duration>,
    /// How many days back missed days are caught up.
    pub catch_up_days: Option<u32>,
    /// Days kept in the store, today included.
    pub keep_days: Option<u32>,
    /// The longest sleep of the reporter's loop.
    #[serde(deserialize_with = "optional_seconds")]
    pub poll_interval: Option<Duration>,
}

impl ScheduleSection {
    /// The schedule: its defaults with this section over them.
    pub fn settings(&self) -> ScheduleSettings {
        let defaults = ScheduleSettings::default();
        ScheduleSettings {
            spread: self.spread.unwrap_or(defaults.spread),
            catch_up_days: self.catch_up_days.unwrap_or(defaults.catch_up_days),
            keep_days: self.keep_days.unwrap_or(defaults.keep_days),
            settle: self.settle.unwrap_or(defaults.settle),
            poll_interval: self.poll_interval.unwrap_or(defaults.poll_interval),
        }
    }
}

impl TlsRptConfig {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<TlsRptConfig, TlsRptError> {
        let text = std::fs::read_to_string(path).map_err(|source| TlsRptError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        TlsRptConfig::parse(&text, &path.display().to_string())
    }

    /// Reads configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<TlsRptConfig, TlsRptError> {
        let config: TlsRptConfig = toml::from_str(text).map_err(|e| TlsRptError::ConfigSyntax {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that parse but cannot work.
    pub fn validate(&self) -> Result<(), TlsRptError> {
        let value = |key: &str, message: &str| TlsRptError::ConfigValue {
            key: key.to_string(),
            message: message.to_string(),
        };
        if let Some(mode) = self.collect.socket_mode
            && mode > 0o7777
        {
            return Err(value(
                "[collect] socket_mode",
                "it is more than permission bits (at most \"7777\" in octal)",
            ));
        }
        if self.collect.max_keys == Some(0) {
            return Err(value(
                "[collect] max_keys",
                "0 would count every datagram as lost; give at least 1",
            ));
        }
        if let Some(retry) = &self.retry {
            if retry.max_attempts == 0 {
                return Err(value(
                    "[retry] max_attempts",
                    "0 would never try to deliver; give at least 1",
                ));
            }
            if retry.max_wait < retry.min_wait {
                return Err(value(
                    "[retry] max_wait",
                    "it is shorter than min_wait; the longest wait must be at least the first",
                ));
            }
        }
        if self.schedule.poll_interval == Some(Duration::ZERO) {
            return Err(value(
                "[schedule] poll_interval",
                "0 would make the reporter spin; give at least 1 second",
            ));
        }
        let schedule = self.schedule.settings();
        // The reporter still reports today, yesterday and `catch_up_days` before yesterday:
        // retention must not delete any of them first.
        let least = schedule.catch_up_days.saturating_add(2);
        if schedule.keep_days < least {
            return Err(value(
                "[schedule] keep_days",
                &format!(
                    "{} would delete days the reporter may still report (today, yesterday and \
                     the {} days of catch_up_days before it); give at least {least}, or lower \
                     catch_up_days",
                    schedule.keep_days, schedule.catch_up_days
                ),
            ));
        }
        if let Some(entries) = &self.report.suppress {
            SuppressionList::try_from(entries.clone())
                .map_err(|e| value("[report] suppress", &e.to_string()))?;
        }
        Ok(())
    }
}

impl TlsRptConfig {
    /// The collector's settings: its defaults with `[collect]` over them.
    pub fn collect_settings(&self) -> CollectSettings {
        let mut settings = CollectSettings::default();
        self.collect.apply_to(&mut settings);
        settings
    }

    /// The delivery's settings: `[mail]`, `[dkim]`, `[https]`, `[retry]`, each its defaults
    /// when absent.
    pub fn delivery_settings(&self) -> DeliverySettings {
        DeliverySettings {
            mail: self.mail.clone().unwrap_or_default(),
            dkim: self.dkim.clone(),
            https: self.https.clone().unwrap_or_default(),
            retry: self.retry.unwrap_or_default(),
        }
    }

    /// This configuration with `over` laid on it: each key `over` sets wins, and each of the
    /// tables `[mail]`, `[dkim]`, `[https]` and `[retry]` that `over` has replaces this one's
    /// whole (ours over tlsrpt-reporter's files).
    pub fn overlaid(self, over: TlsRptConfig) -> TlsRptConfig {
        fn pick<T>(under: Option<T>, over: Option<T>) -> Option<T> {
            over.or(under)
        }
        let (c, oc) = (self.collect, over.collect);
        let (r, or) = (self.report, over.report);
        let (s, os) = (self.schedule, over.schedule);
        TlsRptConfig {
            store: pick(self.store, over.store),
            metrics: pick(self.metrics, over.metrics),
            collect: CollectSection {
                socket: pick(c.socket, oc.socket),
                socket_mode: pick(c.socket_mode, oc.socket_mode),
                socket_user: pick(c.socket_user, oc.socket_user),
                socket_group: pick(c.socket_group, oc.socket_group),
                flush_interval: pick(c.flush_interval, oc.flush_interval),
                max_keys: pick(c.max_keys, oc.max_keys),
                receive_buffer: pick(c.receive_buffer, oc.receive_buffer),
                shutdown_timeout: pick(c.shutdown_timeout, oc.shutdown_timeout),
            },
            report: ReportSection {
                organization_name: pick(r.organization_name, or.organization_name),
                contact_info: pick(r.contact_info, or.contact_info),
                submitter: pick(r.submitter, or.submitter),
                only_with_failures: pick(r.only_with_failures, or.only_with_failures),
                suppress: pick(r.suppress, or.suppress),
                max_size: pick(r.max_size, or.max_size),
            },
            mail: pick(self.mail, over.mail),
            dkim: pick(self.dkim, over.dkim),
            https: pick(self.https, over.https),
            retry: pick(self.retry, over.retry),
            schedule: ScheduleSection {
                spread: pick(s.spread, os.spread),
                settle: pick(s.settle, os.settle),
                catch_up_days: pick(s.catch_up_days, os.catch_up_days),
                keep_days: pick(s.keep_days, os.keep_days),
                poll_interval: pick(s.poll_interval, os.poll_interval),
            },
        }
    }

    /// The report builder's settings: its defaults with `[report]` over them.
    pub fn build_settings(&self) -> Result<BuildSettings, TlsRptError> {
        let mut settings = BuildSettings::default();
        self.report.apply_to(&mut settings)?;
        Ok(settings)
    }
}

impl CollectSection {
    /// Sets what this section gives in `settings` (the flags are applied after it).
    pub fn apply_to(&self, settings: &mut CollectSettings) {
        if let Some(socket) = &self.socket {
            settings.socket.clone_from(socket);
        }
        if let Some(mode) = self.socket_mode {
            settings.socket_mode = Some(mode);
        }
        if let Some(user) = &self.socket_user {
            settings.socket_user = Some(user.clone());
        }
        if let Some(group) = &self.socket_group {
            settings.socket_group = Some(group.clone());
        }
        if let Some(interval) = self.flush_interval {
            settings.flush_interval = interval;
        }
        if let Some(max_keys) = self.max_keys {
            settings.max_keys = max_keys;
        }
        if let Some(bytes) = self.receive_buffer {
            settings.receive_buffer = bytes;
        }
        if let Some(timeout) = self.shutdown_timeout {
            settings.shutdown_timeout = timeout;
        }
    }
}

impl ReportSection {
    /// Sets what this section gives in `settings` (the flags are applied after it).
    pub fn apply_to(&self, settings: &mut BuildSettings) -> Result<(), TlsRptError> {
        if let Some(name) = &self.organization_name {
            settings.organization_name.clone_from(name);
        }
        if let Some(contact) = &self.contact_info {
            settings.contact_info.clone_from(contact);
        }
        if let Some(submitter) = &self.submitter {
            settings.submitter = Some(submitter.clone());
        }
        if let Some(only) = self.only_with_failures {
            settings.only_with_failures = only;
        }
        if let Some(entries) = &self.suppress {
            settings
                .suppress
                .extend(SuppressionList::try_from(entries.clone())?);
        }
        if let Some(max_size) = self.max_size {
            settings.max_size = Some(max_size);
        }
        Ok(())
    }
}

fn optional_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Ok(Some(Duration::from_secs(u64::deserialize(d)?)))
}

fn optional_store<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StoreUrl>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// A socket mode written as an octal string (`"0220"`, as tlsrpt-collectd's `socketmode`) or
/// a TOML integer, which is taken as the number it is: write `0o220` (TOML's octal), since a
/// decimal `220` is `0o334`.
fn optional_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        Text(String),
        Number(u32),
    }
    match Mode::deserialize(d)? {
        Mode::Text(text) => parse_octal_mode(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "socket_mode \"{text}\" is not octal permission bits such as \"0220\""
            ))
        }),
        Mode::Number(number) => Ok(Some(number)),
    }
}

/// Reads permission bits written in octal (`0220`, `220`, `0o220`), as Python's
/// `int(text, 8)` does for tlsrpt-collectd's `socketmode`.
pub fn parse_octal_mode(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text
        .strip_prefix("0o")
        .or_else(|| text.strip_prefix("0O"))
        .unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
}

#[cfg(test)]
mod tests;
