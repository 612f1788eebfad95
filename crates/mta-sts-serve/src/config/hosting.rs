//! Policy hosting settings: one `[[hosts]]` table per hosted domain (its policy inline, from a
//! file, or `auto` from the live MX set) and the `[hosting]` table (where certificate files are).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mta_sts_core::policy::{MAX_MAX_AGE, Mode};
use serde::{Deserialize, Deserializer};

use crate::error::ServeError;

/// The shortest time between two looks at an `auto` domain's MX set: DNS answers are cached
/// for minutes anyway, and a policy that changed more often than this would only churn ids.
pub const MIN_MX_REFRESH: Duration = Duration::from_secs(60);

/// How often an `auto` domain's MX set is looked at when `mx_refresh` is not given.
pub const DEFAULT_MX_REFRESH: Duration = Duration::from_secs(3600);

/// One `[[hosts]]` table: a domain whose policy this server hosts at
/// `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// The policy domain (normalised to a lowercase A-label by validation).
    pub domain: String,
    /// The policy text itself.
    #[serde(default)]
    pub policy: Option<String>,
    /// A file holding the policy text, read at start and on SIGHUP.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    /// The policy is generated from the domain's live MX set and regenerated every
    /// `mx_refresh`.
    #[serde(default)]
    pub auto: bool,
    /// `auto` only: the mode of the generated policy (default `testing`).
    #[serde(default, deserialize_with = "mode")]
    pub mode: Option<Mode>,
    /// `auto` only: the `max_age` of the generated policy, in seconds.
    #[serde(default)]
    pub max_age: Option<u32>,
    /// `auto` only: the time between two looks at the MX set.
    #[serde(default, deserialize_with = "optional_seconds")]
    pub mx_refresh: Option<Duration>,
}

/// Where a hosted domain's policy comes from ([`HostConfig::source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource<'a> {
    /// The text written in the configuration.
    Inline(&'a str),
    /// A file, read at start and on SIGHUP.
    File(&'a Path),
    /// Generated from the live MX set.
    Auto(AutoPolicy),
}

/// How an `auto` policy is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPolicy {
    /// The mode (`testing` unless configured).
    pub mode: Mode,
    /// The `max_age`, if configured (the publisher's default otherwise).
    pub max_age: Option<u32>,
    /// The time between two looks at the MX set.
    pub mx_refresh: Duration,
}

impl HostConfig {
    /// A host whose policy is generated from the live MX set, with the defaults.
    pub fn auto(domain: &str) -> HostConfig {
        HostConfig {
            domain: domain.to_string(),
            policy: None,
            policy_file: None,
            auto: true,
            mode: None,
            max_age: None,
            mx_refresh: None,
        }
    }

    /// A host whose policy is read from `path`.
    pub fn from_file(domain: &str, path: &Path) -> HostConfig {
        HostConfig {
            policy_file: Some(path.to_path_buf()),
            auto: false,
            ..HostConfig::auto(domain)
        }
    }

    /// Where the policy comes from (validation makes sure exactly one source is given).
    pub fn source(&self) -> PolicySource<'_> {
        if let Some(text) = &self.policy {
            PolicySource::Inline(text)
        } else if let Some(path) = &self.policy_file {
            PolicySource::File(path)
        } else {
            PolicySource::Auto(AutoPolicy {
                mode: self.mode.unwrap_or(Mode::Testing),
                max_age: self.max_age,
                mx_refresh: self.mx_refresh.unwrap_or(DEFAULT_MX_REFRESH),
            })
        }
    }

    /// The policy host's name, `mta-sts.<domain>` (RFC 8461 §3.3), once validated.
    pub fn policy_host(&self) -> String {
        format!("mta-sts.{}", self.domain)
    }
}

/// The `[hosting]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostingConfig {
    /// A directory of certificate files for the policy hosts: `mta-sts.<domain>.pem` (the
    /// chain, the server's certificate first) with `mta-sts.<domain>.key` beside it; read at
    /// start and on SIGHUP.
    pub certs: Option<PathBuf>,
}

impl HostingConfig {
    /// The certificate chain and key files of `host` (`mta-sts.<domain>`) in the certificate
    /// directory, if one is configured.
    pub fn certificate_files(&self, host: &str) -> Option<(PathBuf, PathBuf)> {
        self.certs.as_ref().map(|dir| {
            (
                dir.join(format!("{host}.pem")),
                dir.join(format!("{host}.key")),
            )
        })
    }
}

/// Checks the `[[hosts]]` tables: each domain once, normalised, with exactly one policy source
/// and only the settings that source uses; an inline policy is linted like a file's.
pub(super) fn validate_hosts(hosts: &mut [HostConfig]) -> Result<(), ServeError> {
    let bad = |message: String| {
        Err(ServeError::ConfigValue {
            key: "hosts".to_string(),
            message,
        })
    };
    let mut seen = BTreeSet::new();
    for host in hosts.iter_mut() {
        let domain = match mta_sts_core::domain::normalize_mail_domain(&host.domain) {
            Ok(domain) => domain,
            Err(e) => return bad(format!("`{}` is not a domain name: {e}", host.domain)),
        };
        host.domain = domain;
        if !seen.insert(host.domain.clone()) {
            return bad(format!(
                "{} is hosted twice; give each domain one [[hosts]] table",
                host.domain
            ));
        }
        let sources = usize::from(host.policy.is_some())
            + usize::from(host.policy_file.is_some())
            + usize::from(host.auto);
        if sources != 1 {
            return bad(format!(
                "{} needs exactly one of policy = \"\"\"...\"\"\", policy_file = \"PATH\" or \
                 auto = true; {sources} are given",
                host.domain
            ));
        }
        if !host.auto
            && (host.mode.is_some() || host.max_age.is_some() || host.mx_refresh.is_some())
        {
            return bad(format!(
                "{}: mode, max_age and mx_refresh shape a generated policy and need auto = true; \
                 write them in the policy itself otherwise",
                host.domain
            ));
        }
        if let Some(max_age) = host.max_age
            && (max_age == 0 || max_age > MAX_MAX_AGE)
        {
            // RFC 8461 §3.2: max_age is at most 31557600 seconds.
            return bad(format!(
                "{}: max_age must be from 1 to {MAX_MAX_AGE} seconds (RFC 8461 §3.2)",
                host.domain
            ));
        }
        if let Some(refresh) = host.mx_refresh
            && refresh < MIN_MX_REFRESH
        {
            return bad(format!(
                "{}: mx_refresh must be at least {} seconds",
                host.domain,
                MIN_MX_REFRESH.as_secs()
            ));
        }
        if let Some(text) = &host.policy {
            check_policy_text(&host.domain, text, "its inline policy")?;
        }
    }
    Ok(())
}

/// Lints a policy text with the core linter: one error refuses it, with a sentence naming the
/// line (RFC 8461 §3.2: a sender refuses a policy that does not parse, so serving one would
/// publish a promise no sender can use).
pub(crate) fn check_policy_text(domain: &str, text: &str, origin: &str) -> Result<(), ServeError> {
    let lint = mta_sts_core::policy_lint::lint(text.as_bytes());
    match lint.diagnostics.iter().find(|d| d.is_error()) {
        None => Ok(()),
        Some(error) => {
            let place = error
                .line
                .map(|line| format!(" on line {line}"))
                .unwrap_or_default();
            let hint = error
                .hint
                .as_ref()
                .map(|hint| format!(" ({hint})"))
                .unwrap_or_default();
            Err(ServeError::Policy {
                domain: domain.to_string(),
                message: format!(
                    "{origin} is not a policy senders accept{place}: {}{hint} [{}]",
                    error.message, error.code
                ),
            })
        }
    }
}

fn mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Mode>, D::Error> {
    let value = String::deserialize(deserializer)?;
    Mode::from_policy_value(&value).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{value}` is not a policy mode; write \"testing\", \"enforce\" or \"none\""
        ))
    })
}

fn optional_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    u64::deserialize(deserializer).map(|seconds| Some(Duration::from_secs(seconds)))
}
