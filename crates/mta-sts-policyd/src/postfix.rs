//! Which Postfix the replies are for, and so which form they take.
//!
//! # The two reply forms
//! - **Old form**: `secure match=mx1.example.com:.mx.example.com servername=hostname`. Postfix
//!   connects to any MX host in DNS and accepts a certificate that matches any policy pattern.
//! - **With the TLSRPT attributes**: the same, then `policy_type=sts policy_domain=example.com
//!   mx_host_pattern=mx1.example.com mx_host_pattern=*.mx.example.com { policy_string = ... }`.
//!
//! Postfix 3.10 added the attributes for its TLSRPT (RFC 8460) reports; earlier Postfix refuses
//! the whole reply (`invalid attribute name: "policy_type"`, then "client TLS configuration
//! problem", and the mail waits: postfix-tlspol issue #6). Postfix 3.10.5 added
//! `smtp_tls_enforce_sts_mx_patterns` (default `yes`; postconf(5): "connect to an MX host only if
//! its name matches any STS policy MX host pattern, and match the server certificate against the
//! MX hostname", which "takes effect only when an STS policy plugin has TLSRPT support enabled,
//! so that it forwards STS policy attributes to Postfix", and works with Postfix's own TLSRPT
//! support off). Its HISTORY dates the change 20250906, so the 3.11 development snapshots from
//! `3.11-20250906` on have it too; Wietse Venema announced it to the plugins in
//! postfix-mta-sts-resolver issue #116 and postfix-tlspol issue #91. That is RFC 8461 §4.1's MX
//! host validation and §4.2's certificate check against the MX host name, which the old form
//! only approximates (a certificate for any pattern is accepted from any MX host in DNS).
//!
//! So the attributes are sent by default exactly where Postfix enforces them: 3.10.5 and later.
//! Postfix 3.10.0 to 3.10.4 parse them but use them only for TLSRPT reports (a zone's
//! `tlsrpt = true` sends them there); older Postfix must never get them. A zone's explicit
//! `tlsrpt = true/false` overrides the version.
//!
//! # Knowing the version
//! `postfix_version = "auto"` (the default) runs `postconf -dh mail_version` once at start
//! ([`PostfixTarget::detect`]). `-d` because `mail_version` is compiled in, and without it
//! postconf insists on reading main.cf, which a package installed without configuration lacks
//! and which the daemon's user may not be allowed to read. No postconf (Postfix elsewhere, or
//! not installed) means the version is unknown and the old form is sent, which every Postfix
//! reads. A version written in
//! the configuration is used as it is (Postfix on another host, or a container without it).

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, de::Error as _};

use crate::config::Config;

/// A Postfix `mail_version`: `a.b.c` for releases, `a.b-yyyymmdd` for development snapshots
/// (mail_version.h), optionally with `-RCn` (release candidates, `3.11.0-RC1`) or `-nonprod`
/// and other tags after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostfixVersion {
    major: u32,
    minor: u32,
    patch: Option<u32>,
    /// The snapshot date, `yyyymmdd`.
    snapshot: Option<u32>,
    text: String,
}

/// The first 3.11 development snapshot with `smtp_tls_enforce_sts_mx_patterns` (Postfix HISTORY,
/// 20250906; snapshot `3.11-20250829` does not have it).
const FIRST_ENFORCING_SNAPSHOT: u32 = 20250906;

impl PostfixVersion {
    /// Whether this Postfix enforces the policy's MX patterns when replies carry the TLSRPT
    /// attributes (`smtp_tls_enforce_sts_mx_patterns`, Postfix ≥ 3.10.5).
    pub fn enforces_sts_mx_patterns(&self) -> bool {
        match (self.major, self.minor) {
            (major, _) if major > 3 => true,
            (3, minor) if minor >= 12 => true,
            // A release or release candidate of 3.11 has it; a snapshot from its date on.
            (3, 11) => match (self.patch, self.snapshot) {
                (None, Some(date)) => date >= FIRST_ENFORCING_SNAPSHOT,
                _ => true,
            },
            // 3.10 snapshots predate 3.10.0.
            (3, 10) => self.patch.is_some_and(|patch| patch >= 5),
            _ => false,
        }
    }

    /// Whether this Postfix reads the TLSRPT attributes at all (Postfix ≥ 3.10; earlier ones
    /// refuse the reply).
    pub fn reads_tlsrpt_attributes(&self) -> bool {
        match (self.major, self.minor) {
            (major, _) if major > 3 => true,
            (3, minor) if minor >= 11 => true,
            (3, 10) => self.patch.is_some(),
            _ => false,
        }
    }
}

impl FromStr for PostfixVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<PostfixVersion, String> {
        let text = text.trim();
        let wanted = "expected a Postfix version such as 3.10.5 or 3.11-20250906";
        let mut parts = text.split('-');
        let number = parts.next().unwrap_or_default();
        let numbers: Vec<&str> = number.split('.').collect();
        let mut fields = Vec::with_capacity(3);
        for field in &numbers {
            if field.is_empty() || field.len() > 6 || !field.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{text}` is not a Postfix version; {wanted}"));
            }
            fields.push(field.parse::<u32>().map_err(|e| e.to_string())?);
        }
        let (major, minor, patch) = match fields[..] {
            [major, minor] => (major, minor, None),
            [major, minor, patch] => (major, minor, Some(patch)),
            _ => return Err(format!("`{text}` is not a Postfix version; {wanted}")),
        };
        let mut snapshot = None;
        for tag in parts {
            if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "`{text}` is not a Postfix version (the part `{tag}` after a `-` is neither \
                     a date, RCn nor a tag such as nonprod); {wanted}"
                ));
            }
            if tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_digit()) && snapshot.is_none() {
                snapshot = tag.parse().ok();
            }
        }
        Ok(PostfixVersion {
            major,
            minor,
            patch,
            snapshot,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for PostfixVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The `postfix_version` setting: `"auto"` or a version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PostfixVersionSetting {
    /// Ask `postconf -dh mail_version` at start.
    #[default]
    Auto,
    /// This version.
    Version(PostfixVersion),
}

impl FromStr for PostfixVersionSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<PostfixVersionSetting, String> {
        if text.trim() == "auto" {
            return Ok(PostfixVersionSetting::Auto);
        }
        text.parse()
            .map(PostfixVersionSetting::Version)
            .map_err(|e| format!("{e}, or \"auto\""))
    }
}

impl fmt::Display for PostfixVersionSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostfixVersionSetting::Auto => f.write_str("auto"),
            PostfixVersionSetting::Version(version) => write!(f, "{version}"),
        }
    }
}

impl<'de> Deserialize<'de> for PostfixVersionSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// Where the version replies are made for came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// `postfix_version` in the configuration.
    Configured,
    /// The output of this postconf.
    Postconf(PathBuf),
    /// Unknown: the reason, as a clause (`/usr/sbin/postconf does not exist`).
    Unknown(String),
}

/// The Postfix the daemon answers: its version if known, and how it was learnt. Decides whether
/// zones without their own `tlsrpt` send the TLSRPT attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostfixTarget {
    /// The version, if known.
    pub version: Option<PostfixVersion>,
    /// How it was learnt, or why it is not known.
    pub source: VersionSource,
}

/// How long postconf may take before it is given up on (it answers in milliseconds).
const POSTCONF_TIMEOUT: Duration = Duration::from_secs(10);

impl PostfixTarget {
    /// The target for `config`: the configured version, or with `postfix_version = "auto"` the
    /// one `postconf -dh mail_version` prints (run once, now, from the configured path).
    pub fn detect(config: &Config) -> PostfixTarget {
        match &config.postfix_version {
            PostfixVersionSetting::Version(version) => PostfixTarget::configured(version),
            PostfixVersionSetting::Auto => match run_postconf(&config.postconf) {
                Ok(version) => PostfixTarget {
                    version: Some(version),
                    source: VersionSource::Postconf(config.postconf.clone()),
                },
                Err(why) => PostfixTarget {
                    version: None,
                    source: VersionSource::Unknown(why),
                },
            },
        }
    }

    /// The target for `config` without running anything: `auto` counts as unknown. For daemons
    /// assembled from parts ([`crate::Daemon::with_parts`]), whose replies must not depend on
    /// the host.
    pub fn without_detection(config: &Config) -> PostfixTarget {
        match &config.postfix_version {
            PostfixVersionSetting::Version(version) => PostfixTarget::configured(version),
            PostfixVersionSetting::Auto => PostfixTarget {
                version: None,
                source: VersionSource::Unknown("postconf was not asked".to_string()),
            },
        }
    }

    fn configured(version: &PostfixVersion) -> PostfixTarget {
        PostfixTarget {
            version: Some(version.clone()),
            source: VersionSource::Configured,
        }
    }

    /// Whether a zone without its own `tlsrpt` sends the TLSRPT attributes: only to a Postfix
    /// that enforces MX patterns with them (≥ 3.10.5).
    pub fn attributes_by_default(&self) -> bool {
        self.version
            .as_ref()
            .is_some_and(PostfixVersion::enforces_sts_mx_patterns)
    }

    /// One sentence for the start-up log: which form zones without their own `tlsrpt` send, and
    /// why.
    pub fn describe(&self) -> String {
        const FORCE: &str = "set `postfix_version` to the version `postconf -dh mail_version` \
                             prints where Postfix runs (3.10.5 or later gets the attributes)";
        let version = match (&self.version, &self.source) {
            (Some(version), VersionSource::Postconf(path)) => {
                format!("Postfix {version} (from {})", path.display())
            }
            (Some(version), _) => format!("Postfix {version} (postfix_version)"),
            (None, VersionSource::Unknown(why)) => {
                return format!(
                    "the Postfix version is unknown because {why}; replies therefore leave out \
                     the TLSRPT attributes, which Postfix before 3.10 cannot parse, and Postfix \
                     3.10.5 or later does not enforce the policies' MX patterns; {FORCE}"
                );
            }
            (None, _) => return format!("the Postfix version is unknown; {FORCE}"),
        };
        match &self.version {
            Some(v) if v.enforces_sts_mx_patterns() => format!(
                "{version}: replies carry the TLSRPT attributes (policy_type=sts, \
                 mx_host_pattern), so Postfix connects only to MX hosts matching the policy and \
                 checks their certificates against the MX host name \
                 (smtp_tls_enforce_sts_mx_patterns, RFC 8461 §4.1)"
            ),
            Some(v) if v.reads_tlsrpt_attributes() => format!(
                "{version}: replies leave out the TLSRPT attributes, which this Postfix uses only \
                 for TLSRPT reports (it enforces MX patterns from 3.10.5 on); set a zone's \
                 `tlsrpt = true` for its reports"
            ),
            _ => format!(
                "{version}: replies leave out the TLSRPT attributes, which Postfix before 3.10 \
                 cannot parse; upgrading to 3.10.5 or later makes Postfix enforce the policies' \
                 MX patterns"
            ),
        }
    }
}

/// `postconf -dh mail_version`, parsed; the error is a clause saying what went wrong.
fn run_postconf(postconf: &Path) -> Result<PostfixVersion, String> {
    let shown = postconf.display();
    let spawn = || {
        Command::new(postconf)
            .args(["-dh", "mail_version"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // ETXTBSY: the file is being written (a package upgrade replacing postconf); try again.
    const TEXT_FILE_BUSY: i32 = 26;
    let mut spawned = spawn();
    for _ in 0..5 {
        match &spawned {
            Err(e) if e.raw_os_error() == Some(TEXT_FILE_BUSY) => {
                std::thread::sleep(Duration::from_millis(50));
                spawned = spawn();
            }
            _ => break,
        }
    }
    let mut child = spawned.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{shown} does not exist (Postfix is not installed here, or postconf is elsewhere: \
             set `postconf` to its path)"
        ),
        _ => format!("{shown} could not be run ({e})"),
    })?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < POSTCONF_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not answer within {} s",
                    POSTCONF_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("{shown} could not be waited for ({e})")),
        }
    };
    // mail_version is one short line; the pipes cannot have filled up.
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    if !status.success() {
        let err = err.lines().next().unwrap_or_default().trim();
        return Err(format!("{shown} -dh mail_version failed ({status}: {err})"));
    }
    let line = out.lines().next().unwrap_or_default();
    line.parse()
        .map_err(|e| format!("{shown} -dh mail_version printed {e}"))
}

#[cfg(test)]
#[path = "postfix_tests.rs"]
mod tests;
