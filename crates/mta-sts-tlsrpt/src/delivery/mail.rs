//! Handing the report mail over: to the local MTA's sendmail command (as tlsrpt-reporter
//! does) or to an SMTP relay (lettre). One call is one attempt; the outbox retries.

use std::process::Stdio;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::settings::{MailSettings, MailTransport, RelaySecurity, RelaySettings};
use super::{DeliveryFailure, Permanence};
use crate::TlsRptError;

/// The most of sendmail's error output kept for the error sentence.
const STDERR_KEPT: usize = 512;

/// Where report mail goes.
#[derive(Debug, Clone)]
pub enum MailSender {
    /// The sendmail command.
    Sendmail {
        /// The program and its arguments.
        command: Vec<String>,
        /// How long it may take.
        timeout: Duration,
    },
    /// An SMTP relay.
    Relay {
        /// The transport (it connects only to send).
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `HOST:PORT`, for messages.
        relay: String,
    },
}

impl MailSender {
    /// Checks the settings and sets up the transport.
    pub fn new(settings: &MailSettings) -> Result<MailSender, TlsRptError> {
        match settings.transport {
            MailTransport::Sendmail => {
                let command: Vec<String> = settings
                    .sendmail_command
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                if command.is_empty() {
                    return Err(TlsRptError::DeliverySetting {
                        key: "mail.sendmail_command",
                        message: "the sendmail command is empty".into(),
                    });
                }
                if settings.sendmail_timeout == 0 {
                    return Err(TlsRptError::DeliverySetting {
                        key: "mail.sendmail_timeout",
                        message: "0 seconds leaves sendmail no time; give at least 1".into(),
                    });
                }
                Ok(MailSender::Sendmail {
                    command,
                    timeout: Duration::from_secs(settings.sendmail_timeout),
                })
            }
            MailTransport::Relay => {
                let relay = settings
                    .relay
                    .as_ref()
                    .ok_or(TlsRptError::DeliverySetting {
                        key: "mail.relay",
                        message: "transport = \"relay\" but no [mail.relay] host is given".into(),
                    })?;
                relay_transport(relay)
            }
        }
    }

    /// One attempt: hands `message` (CRLF line ends) for `to` from `from` over.
    pub async fn send(
        &self,
        from: &Address,
        to: &[Address],
        message: &[u8],
        destination: &str,
    ) -> Result<(), DeliveryFailure> {
        match self {
            MailSender::Sendmail { command, timeout } => {
                sendmail(command, *timeout, message, destination).await
            }
            MailSender::Relay { transport, relay } => {
                let envelope = Envelope::new(Some(from.clone()), to.to_vec()).map_err(|e| {
                    DeliveryFailure::new(
                        destination,
                        Permanence::Permanent,
                        format!("the envelope could not be made: {e}"),
                    )
                })?;
                transport
                    .send_raw(&envelope, message)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        // An SMTP 5xx reply is final; anything else (4xx, connection) may pass later.
                        let permanence = if e.is_permanent() {
                            Permanence::Permanent
                        } else {
                            Permanence::Temporary
                        };
                        DeliveryFailure::new(
                            destination,
                            permanence,
                            format!("the relay {relay} did not take the report mail: {e}"),
                        )
                    })
            }
        }
    }
}

fn relay_transport(settings: &RelaySettings) -> Result<MailSender, TlsRptError> {
    let relay = format!("{}:{}", settings.host, settings.port);
    let bad = |key: &'static str, message: String| TlsRptError::DeliverySetting { key, message };
    if settings.timeout == 0 {
        return Err(bad(
            "mail.relay.timeout",
            "0 seconds leaves no time to submit; give at least 1".into(),
        ));
    }
    let tls = match settings.security {
        RelaySecurity::None => {
            let loopback = settings.host.eq_ignore_ascii_case("localhost")
                || settings
                    .host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(bad(
                    "mail.relay.security",
                    format!(
                        "security = \"none\" would send reports unencrypted to {relay}; it is \
                         only allowed to a relay on this host (127.0.0.1, ::1, localhost)"
                    ),
                ));
            }
            Tls::None
        }
        security => {
            let mut parameters = TlsParameters::builder(settings.host.clone())
                .certificate_store(CertificateStore::WebpkiRoots);
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|source| TlsRptError::DeliveryFile {
                    what: "the relay's CA certificates",
                    path: path.clone(),
                    source,
                })?;
                let certificate = Certificate::from_pem(&pem).map_err(|e| {
                    bad(
                        "mail.relay.ca_file",
                        format!("{}: not a PEM certificate: {e}", path.display()),
                    )
                })?;
                parameters = parameters.add_root_certificate(certificate);
            }
            let parameters = parameters.build_rustls().map_err(|e| {
                bad(
                    "mail.relay",
                    format!("TLS cannot be set up for {relay}: {e}"),
                )
            })?;
            if security == RelaySecurity::Tls {
                Tls::Wrapper(parameters)
            } else {
                // RFC 3207 §4: a client SHOULD not go on without the STARTTLS it asked for.
                Tls::Required(parameters)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port)
        .timeout(Some(Duration::from_secs(settings.timeout)))
        .tls(tls);
    match &settings.username {
        Some(user) => {
            let password = match (&settings.password_file, &settings.password_env) {
                (Some(path), None) => std::fs::read_to_string(path)
                    .map_err(|source| TlsRptError::DeliveryFile {
                        what: "the relay password",
                        path: path.clone(),
                        source,
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                (None, Some(name)) => std::env::var(name).map_err(|_| {
                    bad(
                        "mail.relay.password_env",
                        format!("the environment variable {name} is not set (or not UTF-8)"),
                    )
                })?,
                _ => {
                    return Err(bad(
                        "mail.relay",
                        "a username needs exactly one of password_file and password_env".into(),
                    ));
                }
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        None if settings.password_file.is_some() || settings.password_env.is_some() => {
            return Err(bad(
                "mail.relay.username",
                "a password is given but no username to log in with".into(),
            ));
        }
        None => {}
    }
    Ok(MailSender::Relay {
        transport: builder.build(),
        relay,
    })
}

/// Runs sendmail with the message on its standard input (local line ends: LF) and waits for it
/// within `timeout`; it is killed when the time is up.
async fn sendmail(
    command: &[String],
    timeout: Duration,
    message: &[u8],
    destination: &str,
) -> Result<(), DeliveryFailure> {
    let program = command.join(" ");
    let failed =
        |permanence, message: String| DeliveryFailure::new(destination, permanence, message);
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            failed(
                Permanence::Temporary,
                format!("`{program}` could not be started: {e}"),
            )
        })?;
    let local: Vec<u8> = {
        let mut out = Vec::with_capacity(message.len());
        let mut bytes = message.iter().peekable();
        while let Some(&b) = bytes.next() {
            if b == b'\r' && bytes.peek() == Some(&&b'\n') {
                continue;
            }
            out.push(b);
        }
        out
    };
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&local).await?;
            stdin.shutdown().await?;
        }
        let mut stderr = Vec::new();
        if let Some(mut pipe) = child.stderr.take() {
            pipe.read_to_end(&mut stderr).await?;
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, stderr))
    };
    let (status, stderr) = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            return Err(failed(
                Permanence::Temporary,
                format!("`{program}` could not be given the message: {e}"),
            ));
        }
        Err(_) => {
            return Err(failed(
                Permanence::Temporary,
                format!(
                    "`{program}` did not finish within {} seconds and was stopped",
                    timeout.as_secs()
                ),
            ));
        }
    };
    if status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&stderr[..stderr.len().min(STDERR_KEPT)])
        .trim()
        .replace('\n', " ");
    // sysexits.h: EX_DATAERR (65), EX_NOUSER (67) and EX_NOHOST (68) will not change on a
    // retry; the rest (EX_TEMPFAIL 75 above all) may.
    let permanence = match status.code() {
        Some(65 | 67 | 68) => Permanence::Permanent,
        _ => Permanence::Temporary,
    };
    Err(failed(
        permanence,
        format!(
            "`{program}` refused the report mail ({status}){}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ),
    ))
}
