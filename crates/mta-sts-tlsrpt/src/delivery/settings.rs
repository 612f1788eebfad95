//! The delivery settings: plain structs with serde defaults, so a configuration file (ours or
//! tlsrpt-reporter's, mapped) fills them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Everything delivery needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Report mail (`mailto:` destinations).
    #[serde(default)]
    pub mail: MailSettings,
    /// DKIM signing of the report mail; without it mail goes out unsigned (RFC 8460 §3 says
    /// SHOULD be signed: [`Deliverer::new`](super::Deliverer::new) logs a
    /// warning when mail has a sender but no key).
    #[serde(default)]
    pub dkim: Option<DkimSettings>,
    /// HTTPS POST (`https:` destinations).
    #[serde(default)]
    pub https: HttpsSettings,
    /// How failed deliveries are retried.
    #[serde(default)]
    pub retry: RetrySchedule,
}

/// How report mail is sent and from whom.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The sender address (`From`, and the envelope sender at a relay), e.g.
    /// `"tlsrpt-noreply@mail.example.com"` (tlsrpt-reporter's `sender_address`). Needed to
    /// mail reports.
    #[serde(default)]
    pub from: Option<String>,
    /// Another sender per recipient domain (`"example.net" = "tlsrpt@example.org"`): the
    /// several sender addresses tlsrpt-reporter's #42 asked for.
    #[serde(default)]
    pub from_by_domain: BTreeMap<String, String>,
    /// `sendmail` (the local MTA's command, as tlsrpt-reporter does) or `relay` (SMTP).
    #[serde(default)]
    pub transport: MailTransport,
    /// The sendmail command and its arguments, split at spaces and run without a shell; the
    /// message on its standard input.
    #[serde(default = "default_sendmail_command")]
    pub sendmail_command: String,
    /// Seconds sendmail may take (tlsrpt-reporter's `sendmail_timeout`).
    #[serde(default = "default_sendmail_timeout")]
    pub sendmail_timeout: u64,
    /// The relay, for `transport = "relay"`.
    #[serde(default)]
    pub relay: Option<RelaySettings>,
}

impl Default for MailSettings {
    fn default() -> MailSettings {
        MailSettings {
            from: None,
            from_by_domain: BTreeMap::new(),
            transport: MailTransport::default(),
            sendmail_command: default_sendmail_command(),
            sendmail_timeout: default_sendmail_timeout(),
            relay: None,
        }
    }
}

fn default_sendmail_command() -> String {
    // tlsrpt-reporter's `sendmail_script` default: -i (a lone dot is not the end), -t
    // (recipients from the header).
    "sendmail -i -t".into()
}

fn default_sendmail_timeout() -> u64 {
    10
}

/// How report mail leaves this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// The local MTA's sendmail command.
    #[default]
    Sendmail,
    /// SMTP to a relay.
    Relay,
}

/// An SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    /// The relay's host name (its certificate must name it) or address.
    pub host: String,
    /// Its port.
    #[serde(default = "default_relay_port")]
    pub port: u16,
    /// STARTTLS (required), implicit TLS, or none (only to a relay on loopback).
    #[serde(default)]
    pub security: RelaySecurity,
    /// A login name; without it, no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// The password: from this file (a final newline dropped)...
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// ...or from this environment variable.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Extra trusted roots (PEM) for a relay with a private CA; the Web PKI is trusted too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds one SMTP command may take.
    #[serde(default = "default_relay_timeout")]
    pub timeout: u64,
}

fn default_relay_port() -> u16 {
    25
}

fn default_relay_timeout() -> u64 {
    30
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelaySecurity {
    /// STARTTLS, required (RFC 3207).
    #[default]
    Starttls,
    /// TLS from the first byte (RFC 8314).
    Tls,
    /// None: only to a relay on this host (127.0.0.1, ::1, localhost).
    None,
}

/// DKIM signing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    /// The PEM private key: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8).
    pub key_file: PathBuf,
    /// The selector (`s=`): the key's record is `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The signing domain (`d=`); the From address's domain when not given.
    #[serde(default)]
    pub domain: Option<String>,
}

/// HTTPS POST.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsSettings {
    /// Extra trusted roots (PEM); the Web PKI is trusted too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds one POST may take, connection to answer (tlsrpt-reporter's `http_timeout`).
    #[serde(default = "default_https_timeout")]
    pub timeout: u64,
}

impl Default for HttpsSettings {
    fn default() -> HttpsSettings {
        HttpsSettings {
            ca_file: None,
            timeout: default_https_timeout(),
        }
    }
}

fn default_https_timeout() -> u64 {
    10
}

/// Retries: exponential backoff with jitter between `min_wait` and `max_wait`, `max_attempts`
/// in all (tlsrpt-reporter's `max_retries_delivery`, `min_wait_delivery`, `max_wait_delivery`:
/// 5, 300 s, 1800 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySchedule {
    /// Attempts in all, the first included; then the delivery is given up and recorded.
    pub max_attempts: u32,
    /// The shortest wait, in seconds.
    pub min_wait: u64,
    /// The longest wait, in seconds.
    pub max_wait: u64,
}

impl Default for RetrySchedule {
    fn default() -> RetrySchedule {
        RetrySchedule {
            max_attempts: 5,
            min_wait: 300,
            max_wait: 1800,
        }
    }
}

impl RetrySchedule {
    /// The wait after failed attempt `attempt` (1 for the first): `min_wait × 2^(attempt-1)`
    /// capped at `max_wait`, of which `jitter` (0..=1) takes off up to half, never below
    /// `min_wait`; a receiver's `Retry-After` lengthens it (never past `max_wait`).
    pub fn wait(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let min = Duration::from_secs(self.min_wait);
        let max = Duration::from_secs(self.max_wait.max(self.min_wait));
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let full = min.saturating_mul(doubling).min(max);
        let jittered = (full - full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)).max(min);
        match retry_after {
            Some(asked) => jittered.max(asked.min(max)),
            None => jittered,
        }
    }

    /// Whether attempt `attempt` (1 for the first) failing was the last.
    pub fn is_last(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_min_to_max_and_jitter_never_goes_below_min() {
        let schedule = RetrySchedule::default();
        let waits: Vec<u64> = (1..=5)
            .map(|n| schedule.wait(n, 0.0, None).as_secs())
            .collect();
        assert_eq!(waits, [300, 600, 1200, 1800, 1800]);
        assert_eq!(schedule.wait(1, 1.0, None), Duration::from_secs(300));
        assert_eq!(schedule.wait(3, 1.0, None), Duration::from_secs(600));
        assert_eq!(
            schedule.wait(u32::MAX, 0.5, None),
            Duration::from_secs(1350)
        );
        // Retry-After lengthens, up to max_wait.
        let asked = Some(Duration::from_secs(1000));
        assert_eq!(schedule.wait(1, 0.0, asked), Duration::from_secs(1000));
        assert_eq!(
            schedule.wait(1, 0.0, Some(Duration::from_secs(99_999))),
            Duration::from_secs(1800)
        );
    }

    #[test]
    fn the_fifth_attempt_is_the_last_by_default() {
        let schedule = RetrySchedule::default();
        assert!(!schedule.is_last(4));
        assert!(schedule.is_last(5));
        // max_attempts = 0 still allows the one attempt.
        let once = RetrySchedule {
            max_attempts: 0,
            ..schedule
        };
        assert!(once.is_last(1));
    }

    #[test]
    fn settings_have_tlsrpt_reporters_defaults() {
        let settings = DeliverySettings::default();
        assert_eq!(settings.mail.transport, MailTransport::Sendmail);
        assert_eq!(settings.mail.sendmail_command, "sendmail -i -t");
        assert_eq!(settings.mail.sendmail_timeout, 10);
        assert_eq!(settings.retry.max_attempts, 5);
        assert!(settings.dkim.is_none());
    }
}
