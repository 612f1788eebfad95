//! Delivering built reports (RFC 8460 §5): by mail to `mailto:` destinations (§5.3), DKIM-signed
//! (§3), through the local sendmail or an SMTP relay, and by HTTPS POST to `https:`
//! destinations (§5.4). [`Deliverer::deliver`] is one attempt at one destination; the outbox in
//! the store ([`outbox`]) remembers what is due, retries with backoff ([`RetrySchedule`]) and
//! gives up after the last attempt or at once on a permanent refusal (SMTP 5xx, HTTP 4xx but
//! 408 and 429).

mod dkim;
mod https;
mod mail;
mod message;
pub mod outbox;
mod settings;

use std::fmt;
use std::time::Duration;

use lettre::Address;
use lettre::message::Mailbox;
use mta_sts_core::Timestamp;

pub use dkim::{DkimAlgorithm, DkimSigner, SIGNED_HEADERS};
pub use https::{HttpsUploader, TLSRPT_GZIP};
pub use mail::MailSender;
pub use message::{mailto_addresses, report_mail, rfc5322_date};
pub use outbox::{DeliveryEvent, DeliveryOutcome, deliver_due};
pub use settings::{
    DeliverySettings, DkimSettings, HttpsSettings, MailSettings, MailTransport, RelaySecurity,
    RelaySettings, RetrySchedule,
};

use crate::TlsRptError;

/// One built report, ready to go to its destinations (the outbox keeps it as it is).
pub use mta_sts_store::sender_reports::OutboxReport;

/// Whether a failed attempt may succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permanence {
    /// It may: retry after a wait.
    Temporary,
    /// It will not (a refusal that will be the same): give up now.
    Permanent,
}

/// Why one attempt at one destination failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The destination (`mailto:…` or `https://…`).
    pub destination: String,
    /// Whether to retry.
    pub permanence: Permanence,
    /// What happened, as a sentence without its final full stop.
    pub message: String,
    /// How long the receiver asked to wait (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl DeliveryFailure {
    fn new(destination: &str, permanence: Permanence, message: String) -> DeliveryFailure {
        DeliveryFailure {
            destination: destination.to_string(),
            permanence,
            message,
            retry_after: None,
        }
    }
}

impl fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeliveryFailure {}

/// Mail, DKIM and HTTPS, set up once and used for every delivery.
#[derive(Debug)]
pub struct Deliverer {
    mail: MailSettings,
    sender: MailSender,
    dkim: Option<DkimSigner>,
    https: HttpsUploader,
}

impl Deliverer {
    /// Checks the settings, reads the key, password and CA files.
    pub fn new(settings: &DeliverySettings) -> Result<Deliverer, TlsRptError> {
        let mut from_addresses = Vec::new();
        if let Some(from) = &settings.mail.from {
            from_addresses.push(("mail.from", from));
        }
        for from in settings.mail.from_by_domain.values() {
            from_addresses.push(("mail.from_by_domain", from));
        }
        for (key, text) in &from_addresses {
            parse_mailbox(key, text)?;
        }
        let dkim = match &settings.dkim {
            Some(dkim) => {
                let domain = match &dkim.domain {
                    Some(domain) => domain.clone(),
                    None => settings
                        .mail
                        .from
                        .as_deref()
                        .map(|from| parse_mailbox("mail.from", from))
                        .transpose()?
                        .map(|mailbox| mailbox.email.domain().to_string())
                        .ok_or(TlsRptError::DeliverySetting {
                            key: "dkim.domain",
                            message: "no signing domain: give dkim.domain or mail.from".into(),
                        })?,
                };
                Some(DkimSigner::from_pem_file(
                    &dkim.key_file,
                    &dkim.selector,
                    &domain,
                )?)
            }
            None => {
                if settings.mail.from.is_some() {
                    tracing::warn!(
                        kind = "tlsrpt-dkim-off",
                        "Report mail is sent without a DKIM signature: RFC 8460 §3 says reports \
                         SHOULD be signed and receivers SHOULD ignore unsigned ones; set [dkim]."
                    );
                }
                None
            }
        };
        Ok(Deliverer {
            mail: settings.mail.clone(),
            sender: MailSender::new(&settings.mail)?,
            dkim,
            https: HttpsUploader::new(&settings.https)?,
        })
    }

    /// Whether report mail is DKIM-signed.
    pub fn signs(&self) -> Option<&DkimSigner> {
        self.dkim.as_ref()
    }

    /// The sender for reports about `domain`: its own when one is set (the longest matching
    /// parent domain wins), else the default.
    fn sender_for(&self, domain: &str) -> Option<&str> {
        let mut best: Option<(&str, usize)> = None;
        for (suffix, from) in &self.mail.from_by_domain {
            let suffix = suffix.trim_end_matches('.').to_ascii_lowercase();
            let matches = domain == suffix
                || domain
                    .strip_suffix(suffix.as_str())
                    .is_some_and(|rest| rest.ends_with('.'));
            if matches && best.is_none_or(|(_, len)| suffix.len() > len) {
                best = Some((from.as_str(), suffix.len()));
            }
        }
        best.map(|(from, _)| from).or(self.mail.from.as_deref())
    }

    /// The message mailed to `destination` (a `mailto:` URI) at `now`, signed when DKIM is set
    /// up: what [`deliver`](Self::deliver) sends.
    pub fn mail_message(
        &self,
        report: &OutboxReport,
        destination: &str,
        now: Timestamp,
    ) -> Result<(Mailbox, Vec<Address>, Vec<u8>), DeliveryFailure> {
        let permanent =
            |message: String| DeliveryFailure::new(destination, Permanence::Permanent, message);
        // A setting missing, not a refusal: once it is set, the next try sends.
        let from_text = self.sender_for(&report.domain).ok_or_else(|| {
            DeliveryFailure::new(
                destination,
                Permanence::Temporary,
                "no sender address is configured (mail.from) to mail reports from".into(),
            )
        })?;
        let from = parse_mailbox("mail.from", from_text).map_err(|e| permanent(e.to_string()))?;
        let to = mailto_addresses(destination).map_err(permanent)?;
        let mut message = report_mail(report, &from, &to, now);
        if let Some(signer) = &self.dkim {
            let signature = signer
                .sign(&message, now)
                .map_err(|e| permanent(e.to_string()))?;
            let mut signed = signature.into_bytes();
            signed.append(&mut message);
            message = signed;
        }
        Ok((from, to, message))
    }

    /// One attempt to deliver `report` to `destination` (a `mailto:` or `https:` URI, as the
    /// TLSRPT record's `rua` gives it) at `now`.
    pub async fn deliver(
        &self,
        report: &OutboxReport,
        destination: &str,
        now: Timestamp,
    ) -> Result<(), DeliveryFailure> {
        let scheme = destination.split(':').next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case("mailto") {
            let (from, to, message) = self.mail_message(report, destination, now)?;
            self.sender
                .send(&from.email, &to, &message, destination)
                .await
        } else if scheme.eq_ignore_ascii_case("https") {
            self.https.post(destination, &report.gzip).await
        } else {
            // RFC 8460 §3: rua is mailto: or https:; tlsrpt-reporter #54 crashed on another.
            Err(DeliveryFailure::new(
                destination,
                Permanence::Permanent,
                format!("`{destination}` is neither a mailto: nor an https: destination"),
            ))
        }
    }
}

fn parse_mailbox(key: &'static str, text: &str) -> Result<Mailbox, TlsRptError> {
    text.parse::<Mailbox>()
        .map_err(|e| TlsRptError::DeliverySetting {
            key,
            message: format!("`{text}` is not a mail address: {e}"),
        })
}

#[cfg(test)]
mod tests;
