//! Reports from an IMAP mailbox: every message in one folder is handed to a [`MessageHandler`]
//! (the intake, in the binary), then moved out of the way, so nothing is read twice and nothing
//! is deleted.
//!
//! - A message the handler took (stored, or already stored) moves to the processed folder; one
//!   that holds no report (or an invalid one, or one for a foreign domain) to the not-a-report
//!   folder. Both folders are created when missing.
//! - When the store is unavailable the message stays where it is and the pass stops: the next
//!   run (or the next wake-up of `--watch`) takes it. Nothing is lost.
//! - Messages larger than the size cap are left in place and reported, never downloaded.
//! - UIDs throughout (RFC 3501 §2.3.1.1); messages are read with `BODY.PEEK[]`, so even the
//!   `\Seen` flag of a message left behind is untouched.
//! - The connection is TLS (implicit, or STARTTLS required) and the server's certificate is
//!   verified against the Web PKI roots plus an optional CA file; there is no plain mode.
//!
//! The IMAP logic knows nothing of reports: it is generic over the handler, so it can be tested
//! on its own against a real server (Debian's dovecot, started by the tests: see `dovecot`).

mod connect;
#[cfg(feature = "test-support")]
pub mod dovecot;
mod mailbox;
mod url;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use connect::tls_config;
pub use url::{ImapUrl, Security, check_mailbox_name};
pub use watch::watch;

/// What became of one message, as the handler decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The message's reports are durably stored (imported, or already there): move it to the
    /// processed folder.
    Taken,
    /// The message holds no report, an invalid one, or one for a domain that is not ours: move it
    /// to the not-a-report folder, where a person can look at it.
    NotAReport,
    /// The store cannot take it now: leave the message in place and stop this pass; it is taken
    /// on the next run.
    StoreUnavailable,
}

/// What is done with each message fetched from the mailbox.
pub trait MessageHandler: Send + Sync {
    /// Takes one message (its full RFC 5322 bytes) and says where it goes.
    fn take(&self, uid: u32, raw: &[u8]) -> impl Future<Output = Disposition> + Send;

    /// Told that a message was left in the mailbox, unread, because it is larger than the cap.
    fn too_large(&self, uid: u32, size: u32, cap: u32);

    /// Told, under `--watch`, that the connection failed and is retried after `retry_in`.
    fn connection_trouble(&self, error: &ImapError, retry_in: Duration);
}

/// Everything a fetch needs: where, as whom, which folders, the limits.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The server, the user and the mailbox to read.
    pub url: ImapUrl,
    /// The user's password (from a file or the environment, never the command line).
    pub password: String,
    /// Where taken messages go.
    pub processed_folder: String,
    /// Where messages without a usable report go.
    pub not_a_report_folder: String,
    /// The TLS client configuration (Web PKI roots plus `--ca-file`).
    pub tls: Arc<rustls::ClientConfig>,
    /// Messages larger than this (RFC822.SIZE, bytes) are left in place and reported.
    pub max_message_size: u32,
    /// How long one connection attempt or one command may take.
    pub timeout: Duration,
    /// How long one IDLE command lasts before it is re-issued. RFC 2177 §3: a client should
    /// re-issue IDLE at least every 29 minutes, since servers may log out an idle client after 30.
    pub idle_reissue: Duration,
    /// The first wait after a failed connection or an unavailable store under `--watch`; it
    /// doubles after each failure up to `retry_max`.
    pub retry_min: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
}

/// The default processed folder.
pub const DEFAULT_PROCESSED_FOLDER: &str = "TLSRPT-processed";
/// The default not-a-report folder.
pub const DEFAULT_NOT_A_REPORT_FOLDER: &str = "TLSRPT-not-a-report";
/// The default message size cap: the intake's own ([`crate::message::MAX_MESSAGE_SIZE`]).
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = {
    assert!(crate::message::MAX_MESSAGE_SIZE <= u32::MAX as usize);
    crate::message::MAX_MESSAGE_SIZE as u32
};

impl FetchSettings {
    /// Settings with the default folders, size cap and timings.
    pub fn new(url: ImapUrl, password: String, tls: Arc<rustls::ClientConfig>) -> FetchSettings {
        FetchSettings {
            url,
            password,
            processed_folder: DEFAULT_PROCESSED_FOLDER.to_string(),
            not_a_report_folder: DEFAULT_NOT_A_REPORT_FOLDER.to_string(),
            tls,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            timeout: Duration::from_secs(60),
            idle_reissue: Duration::from_secs(28 * 60),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
        }
    }

    /// Refuses folder settings that would lose or loop messages: a destination equal to the
    /// mailbox read (every message would be read again), or a name the client cannot send.
    pub fn check(&self) -> Result<(), ImapError> {
        check_mailbox_name(&self.processed_folder)?;
        check_mailbox_name(&self.not_a_report_folder)?;
        let source = &self.url.mailbox;
        for (flag, folder) in [
            ("--processed-folder", &self.processed_folder),
            ("--not-a-report-folder", &self.not_a_report_folder),
        ] {
            if same_mailbox(folder, source) {
                return Err(ImapError::Setting(format!(
                    "{flag} {folder} is the mailbox being read; messages moved there would be read \
                     again on every run"
                )));
            }
        }
        Ok(())
    }
}

/// RFC 3501 §5.1: INBOX is case-insensitive, every other name is compared as written.
fn same_mailbox(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case("INBOX") || b.eq_ignore_ascii_case("INBOX") {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// How one pass over the mailbox went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassTally {
    /// Messages taken and moved to the processed folder.
    pub taken: u64,
    /// Messages moved to the not-a-report folder.
    pub not_a_report: u64,
    /// Messages left in place because they are larger than the cap.
    pub too_large: u64,
    /// The pass stopped because the store is unavailable; the message it stopped at, and those
    /// after it, are still in the mailbox.
    pub store_unavailable: bool,
}

/// Connects, reads every message in the mailbox once, moves each where it belongs, and logs out.
pub async fn fetch_once<H: MessageHandler>(
    settings: &FetchSettings,
    handler: &H,
) -> Result<PassTally, ImapError> {
    settings.check()?;
    let mut connection = connect::open(settings).await?;
    let mut tally = PassTally::default();
    mailbox::pass(&mut connection, settings, handler, &mut tally).await?;
    connection.logout(settings).await;
    Ok(tally)
}

/// Why a fetch failed. Nested in the crate's error as its IMAP part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImapError {
    /// The URL, a folder name or another setting is not usable (the sentence says why).
    #[error("{0}")]
    Setting(String),
    /// The CA file could not be read or holds no usable certificate.
    #[error("{0}")]
    CaFile(String),
    /// No TCP connection could be made (refused, unreachable, name not resolved).
    #[error("cannot connect to the IMAP server {server}: {source}")]
    Connect {
        /// `host:port`.
        server: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The server did not answer in time.
    #[error(
        "the IMAP server {server} did not answer {what} within {} s",
        after.as_secs_f64()
    )]
    Timeout {
        /// `host:port`.
        server: String,
        /// The step that timed out (`the TLS handshake`, `UID FETCH`).
        what: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The TLS handshake failed: most often a certificate not valid for the host name or not
    /// signed by a trusted root (give the server's CA with `--ca-file`).
    #[error(
        "the TLS handshake with the IMAP server {server} failed: {source}; no password was sent"
    )]
    Tls {
        /// `host:port`.
        server: String,
        /// rustls's reason.
        source: std::io::Error,
    },
    /// An `imap://` server did not agree to STARTTLS: the password is never sent in the clear.
    #[error(
        "the IMAP server {server} refused STARTTLS ({reply}); the password is never sent in the \
         clear, so nothing was fetched (use imaps:// if the server offers it)"
    )]
    StartTlsRefused {
        /// `host:port`.
        server: String,
        /// The server's reply text.
        reply: String,
    },
    /// The server refused the user name and password.
    #[error(
        "the IMAP server {server} refused the login of {user} ({reply}); check the password file \
         or MTA_STS_IMAP_PASSWORD"
    )]
    LoginRefused {
        /// `host:port`.
        server: String,
        /// The user name.
        user: String,
        /// The server's reply text.
        reply: String,
    },
    /// A command failed, or the connection broke in the middle of one.
    #[error("the IMAP server {server} failed {what}: {detail}")]
    Command {
        /// `host:port`.
        server: String,
        /// The command or step (`SELECT INBOX`, `UID MOVE`).
        what: String,
        /// The server's reply or the connection's fate.
        detail: String,
        /// Whether the connection broke (retry later) rather than the server saying no.
        connection_lost: bool,
    },
    /// `--watch` needs IDLE and the server does not offer it.
    #[error(
        "the IMAP server {server} does not offer IDLE (RFC 2177), which --watch needs; run \
         `mta-sts reports fetch` from a timer instead"
    )]
    NoIdle {
        /// `host:port`.
        server: String,
    },
}

impl ImapError {
    /// Whether trying again later may work: the server was unreachable, slow, or dropped the
    /// connection. A refused login or a bad setting stays wrong until someone fixes it.
    pub fn is_temporary(&self) -> bool {
        match self {
            ImapError::Connect { .. } | ImapError::Timeout { .. } => true,
            // rustls reports a certificate or protocol fault as InvalidData; anything else (a
            // reset, an early close) is the connection's fate, not the server's identity.
            ImapError::Tls { source, .. } => source.kind() != std::io::ErrorKind::InvalidData,
            ImapError::Command {
                connection_lost, ..
            } => *connection_lost,
            _ => false,
        }
    }
}
