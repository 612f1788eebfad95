//! The `[acme]` table: certificates for the policy hosts (`mta-sts.<domain>` of every
//! `[[hosts]]` table, and no other name) from an ACME CA, kept in the store.

use std::path::PathBuf;
use std::time::Duration;

use mta_sts_acme::{AcmeSettings, ChallengeKind};
use serde::{Deserialize, Deserializer};

use crate::error::ServeError;

/// The longest an order may take: ten minutes is beyond any CA's validation.
const MAX_ORDER_TIMEOUT: Duration = Duration::from_secs(600);

/// The `[acme]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The CA's directory URL (HTTPS).
    pub directory: String,
    /// Mail addresses the CA may write to about the account (`mailto:` is added).
    #[serde(default)]
    pub contact: Vec<String>,
    /// A CA file (PEM) trusted for the directory's own TLS instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How control of the names is proven: `http-01` or `tls-alpn-01`.
    #[serde(default, deserialize_with = "challenge")]
    pub challenge: ChallengeKind,
    /// The fraction of a certificate's lifetime after which it is renewed.
    #[serde(default = "default_renew_at")]
    pub renew_at: f64,
    /// The fraction of a certificate's lifetime after which one not yet renewed is an alert.
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
    /// The first wait after a failed order, doubled per further failure.
    #[serde(default = "default_retry_first", deserialize_with = "super::seconds")]
    pub retry_first: Duration,
    /// The longest wait between two attempts.
    #[serde(default = "default_retry_max", deserialize_with = "super::seconds")]
    pub retry_max: Duration,
    /// How long an order may take.
    #[serde(default = "default_order_timeout", deserialize_with = "super::seconds")]
    pub order_timeout: Duration,
}

fn default_renew_at() -> f64 {
    2.0 / 3.0
}

fn default_warn_at() -> f64 {
    5.0 / 6.0
}

fn default_retry_first() -> Duration {
    Duration::from_secs(60)
}

fn default_retry_max() -> Duration {
    Duration::from_secs(6 * 3600)
}

fn default_order_timeout() -> Duration {
    Duration::from_secs(120)
}

fn challenge<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ChallengeKind, D::Error> {
    let name = String::deserialize(deserializer)?;
    ChallengeKind::from_name(&name).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{name}` is not a challenge type this server answers: write \"http-01\" or \
             \"tls-alpn-01\""
        ))
    })
}

impl AcmeConfig {
    /// An `[acme]` table with the defaults for `directory`.
    pub fn new(directory: &str) -> AcmeConfig {
        AcmeConfig {
            directory: directory.to_string(),
            contact: Vec::new(),
            ca_file: None,
            challenge: ChallengeKind::default(),
            renew_at: default_renew_at(),
            warn_at: default_warn_at(),
            retry_first: default_retry_first(),
            retry_max: default_retry_max(),
            order_timeout: default_order_timeout(),
        }
    }

    /// The engine's settings.
    pub fn settings(&self) -> AcmeSettings {
        AcmeSettings {
            directory: self.directory.clone(),
            contact: self
                .contact
                .iter()
                .map(|address| format!("mailto:{address}"))
                .collect(),
            ca_file: self.ca_file.clone(),
            challenge: self.challenge,
            renew_at: self.renew_at,
            warn_at: self.warn_at,
            retry_first: self.retry_first,
            retry_max: self.retry_max,
            order_timeout: self.order_timeout,
        }
    }

    /// Checks the values that parse but cannot work, given whether there are hosted domains
    /// and a plain HTTP listener; strips a `mailto:` written in `contact`.
    pub(crate) fn validate(&mut self, hosts: usize, plain_http: bool) -> Result<(), ServeError> {
        let bad = |key: &str, message: String| {
            Err(ServeError::ConfigValue {
                key: format!("acme.{key}"),
                message,
            })
        };
        if hosts == 0 {
            return bad(
                "directory",
                "certificates are ordered for the policy hosts of [[hosts]] only, and none is \
                 configured; add a [[hosts]] table or remove [acme]"
                    .into(),
            );
        }
        // RFC 8555 §6.1: ACME is spoken over HTTPS only.
        let authority = self
            .directory
            .strip_prefix("https://")
            .and_then(|rest| rest.split('/').next())
            .filter(|authority| !authority.is_empty());
        if authority.is_none() || self.directory.contains(char::is_whitespace) {
            return bad(
                "directory",
                format!(
                    "`{}` is not an https:// URL; ACME is spoken over HTTPS only (RFC 8555 §6.1)",
                    self.directory
                ),
            );
        }
        for address in &mut self.contact {
            let bare = address
                .strip_prefix("mailto:")
                .unwrap_or(address)
                .to_string();
            let well_formed = bare
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
                && !bare.contains([' ', ',', '?', '\r', '\n']);
            if !well_formed {
                return bad(
                    "contact",
                    format!("`{address}` is not a mail address such as hostmaster@example.com"),
                );
            }
            *address = bare;
        }
        if let Some(path) = &self.ca_file
            && !path.is_file()
        {
            return bad(
                "ca_file",
                format!("{} is not a readable file", path.display()),
            );
        }
        if self.challenge == ChallengeKind::Http01 && !plain_http {
            return bad(
                "challenge",
                "http-01 is answered on the plain HTTP listener, and none is configured; add \
                 listen = \"[::]:80\" (the CA connects to port 80) or write challenge = \
                 \"tls-alpn-01\""
                    .into(),
            );
        }
        if !(self.renew_at > 0.0 && self.renew_at < self.warn_at && self.warn_at < 1.0) {
            return bad(
                "renew_at",
                format!(
                    "renew_at ({}) and warn_at ({}) must be fractions of a certificate's \
                     lifetime with 0 < renew_at < warn_at < 1 (e.g. 0.6667 and 0.8333)",
                    self.renew_at, self.warn_at
                ),
            );
        }
        if self.retry_first.is_zero() || self.retry_max < self.retry_first {
            return bad(
                "retry_first",
                format!(
                    "retry_first ({} s) must be at least 1 second and at most retry_max ({} s)",
                    self.retry_first.as_secs(),
                    self.retry_max.as_secs()
                ),
            );
        }
        if self.order_timeout.is_zero() || self.order_timeout > MAX_ORDER_TIMEOUT {
            return bad(
                "order_timeout",
                format!("must be from 1 to {} seconds", MAX_ORDER_TIMEOUT.as_secs()),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
