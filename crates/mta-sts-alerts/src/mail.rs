//! Mail: the alert as a plain-text message, handed to a relay by SMTP submission (RFC 6409)
//! with STARTTLS (RFC 3207) or implicit TLS (RFC 8314), authenticated when credentials are
//! given. One call is one attempt; the queue retries.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, Mailboxes, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::Deserialize;

use crate::Alert;
use crate::error::AlertError;
use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// How the connection to the relay is encrypted. Never in the clear: the alert names the
/// domain's weaknesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain connection upgraded by STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[alerts.mail]`: the relay alerts are submitted to, and who gets them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The relay's host name (its certificate must name it).
    pub relay: String,
    /// The submission port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// STARTTLS or implicit TLS.
    #[serde(default)]
    pub security: MailSecurity,
    /// The sender address, e.g. `"MTA-STS <mta-sts@example.com>"`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The login name at the relay; without it, no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// The password: from this file...
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// ...or from this environment variable.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Extra trusted roots (PEM) for a relay with a private CA; the Web PKI is trusted too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds one SMTP command may take.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// How failed submissions are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_port() -> u16 {
    587
}

fn default_timeout() -> u64 {
    30
}

/// A relay ready to submit to.
#[derive(Debug, Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    relay: String,
    from: Mailbox,
    to: Mailboxes,
}

impl Mailer {
    /// Checks the addresses, reads the password and CA file, and sets up the transport (it
    /// connects only to send).
    pub fn new(settings: &MailSettings) -> Result<Mailer, AlertError> {
        let address = |key: &'static str, text: &str| {
            text.parse::<Mailbox>().map_err(|e| AlertError::Setting {
                key,
                message: format!("`{text}` is not a mail address: {e}"),
            })
        };
        let from = address("alerts.mail.from", &settings.from)?;
        if settings.to.is_empty() {
            return Err(AlertError::Setting {
                key: "alerts.mail.to",
                message: "no recipient; give at least one address".into(),
            });
        }
        let mut to = Mailboxes::new();
        for text in &settings.to {
            to.push(address("alerts.mail.to", text)?);
        }
        if settings.timeout == 0 {
            return Err(AlertError::Setting {
                key: "alerts.mail.timeout",
                message: "0 seconds leaves no time to submit; give at least 1".into(),
            });
        }
        let smtp = |source| AlertError::Smtp {
            relay: format!("{}:{}", settings.relay, settings.port),
            source,
        };
        let mut tls = TlsParameters::builder(settings.relay.clone())
            .certificate_store(CertificateStore::WebpkiRoots);
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|source| AlertError::ReadFile {
                what: "the relay's CA certificates",
                path: path.clone(),
                source,
            })?;
            tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(smtp)?);
        }
        let tls = tls.build_rustls().map_err(smtp)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.relay)
            .port(settings.port)
            .timeout(Some(Duration::from_secs(settings.timeout)))
            .tls(match settings.security {
                // RFC 3207 §4: the client SHOULD refuse to go on when STARTTLS fails.
                MailSecurity::Starttls => Tls::Required(tls),
                MailSecurity::Tls => Tls::Wrapper(tls),
            });
        match &settings.username {
            Some(user) => {
                let password = Secret::load(
                    "alerts.mail",
                    "relay password",
                    settings.password_file.as_deref(),
                    settings.password_env.as_deref(),
                )?;
                let password = String::from_utf8(password.expose().to_vec()).map_err(|_| {
                    AlertError::Setting {
                        key: "alerts.mail",
                        message: "the relay password is not UTF-8 text".into(),
                    }
                })?;
                builder = builder.credentials(Credentials::new(user.clone(), password));
            }
            None if settings.password_file.is_some() || settings.password_env.is_some() => {
                return Err(AlertError::Setting {
                    key: "alerts.mail.username",
                    message: "a password is given but no username to log in with".into(),
                });
            }
            None => {}
        }
        Ok(Mailer {
            transport: builder.build(),
            relay: format!("{}:{}", settings.relay, settings.port),
            from,
            to,
        })
    }

    /// The relay, `HOST:PORT`.
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// One attempt: submits `alert` as a plain-text message to every recipient.
    pub async fn deliver(&self, alert: &Alert) -> Result<(), AlertError> {
        let message = Message::builder()
            .from(self.from.clone())
            .mailbox(lettre::message::header::To::from(self.to.clone()))
            .subject(alert.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(alert.text())
            .map_err(|e| AlertError::MailMessage(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|source| AlertError::Smtp {
                relay: self.relay.clone(),
                source,
            })
    }
}
