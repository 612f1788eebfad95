//! `mta-sts reports fetch`: the reports in an IMAP mailbox, into the store; each message moved
//! out of the mailbox once handled (see `mta_sts_reports::imap`).
//!
//! Exit status, as `import`'s: 0 every message taken; 65 (`EX_DATAERR`) a message held no usable
//! report (moved to the not-a-report folder) or was over the size cap (left in place); 75
//! (`EX_TEMPFAIL`) the store or the server cannot be reached now: what was not taken stays in
//! the mailbox and the next run takes it; 2 a setting is wrong (a refused login, an untrusted
//! certificate, a password in the URL).

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use mta_sts_core::Clock as _;
use mta_sts_net::SystemClock;
use mta_sts_reports::imap::{
    self, Disposition, FetchSettings, ImapError, ImapUrl, MessageHandler, PassTally,
};
use mta_sts_reports::{Intake, Outcome, Source};
use mta_sts_store::reports::ReportStore;
use prometheus_client::registry::Registry;

use crate::cli::ReportsFetchArgs;
use crate::commands::CommandError;
use crate::commands::lifecycle::Lifecycle;
use crate::exit::Status;

use super::outcome::OutcomePrinter;

/// The environment variable the password is read from when no file is given.
const PASSWORD_VARIABLE: &str = "MTA_STS_IMAP_PASSWORD";

/// How much of a password file is read.
const PASSWORD_FILE_CAP: u64 = 4096;

/// Runs `mta-sts reports fetch`.
pub fn run(args: &ReportsFetchArgs) -> Result<Status, CommandError> {
    let url: ImapUrl = args
        .imap
        .parse()
        .map_err(|e: ImapError| CommandError::Argument(format!("{e}.")))?;
    let password = password(args.password_file.as_deref())?;
    let reports_settings = super::settings(&args.store, &args.domains)?;
    let domains = reports_settings.domain_filter()?;
    let printer = OutcomePrinter::new(
        args.json,
        domains.to_string(),
        reports_settings.domains_origin,
    );
    let ca_pem = args
        .ca_file
        .as_deref()
        .map(|path| {
            std::fs::read(path).map_err(|source| CommandError::Read {
                path: path.to_path_buf(),
                source,
            })
        })
        .transpose()?;
    let tls = imap::tls_config(ca_pem.as_deref())
        .map_err(|e| CommandError::Setup(format!("{e} (--ca-file).")))?;
    let mut settings = FetchSettings::new(url, password, tls);
    settings.processed_folder = args.processed_folder.clone();
    settings.not_a_report_folder = args.not_a_report_folder.clone();
    settings.max_message_size = args.max_message_size;
    settings.timeout = args.timeout;
    settings
        .check()
        .map_err(|e| CommandError::Argument(format!("{e}.")))?;
    let store_url = reports_settings.store;
    let runtime = super::super::runtime()?;
    runtime.block_on(async {
        let store = match ReportStore::open(&store_url).await {
            Ok(store) => store,
            Err(error) => {
                eprintln!(
                    "mta-sts: nothing was fetched: the store cannot be opened: {error}. The mail \
                     stays in {}; run again once the store works.",
                    settings.url
                );
                return Ok(Status::TempFail);
            }
        };
        let mut registry = Registry::default();
        let handler = IntakeHandler {
            intake: Intake::new(store, domains, &mut registry),
            printer,
            mailbox: settings.url.to_string(),
            stored: Mutex::new(0),
        };
        let result = if args.watch {
            let lifecycle = Lifecycle::start(|| {
                "reports fetch --watch has nothing to reload: its settings are its flags, so \
                 restart it to change them; it watches on unchanged"
                    .to_string()
            })?;
            // Ready once the store is open: the watch itself reconnects for as long as it runs.
            lifecycle.ready();
            imap::watch(&settings, &handler, lifecycle.stopping()).await
        } else {
            imap::fetch_once(&settings, &handler).await
        };
        match result {
            Ok(tally) => Ok(finish(&handler, &tally, args.json, args.watch)),
            Err(error) if error.is_temporary() => {
                eprintln!(
                    "mta-sts: {error}. What was not taken stays in the mailbox for the next run."
                );
                Ok(Status::TempFail)
            }
            Err(error) => Err(CommandError::Setup(format!("{error}."))),
        }
    })
}

/// The password: from `--password-file` (its first line) or the environment.
fn password(file: Option<&Path>) -> Result<String, CommandError> {
    let Some(path) = file else {
        return match std::env::var(PASSWORD_VARIABLE) {
            Ok(password) if !password.is_empty() => Ok(password),
            _ => Err(CommandError::Argument(format!(
                "no IMAP password: give --password-file FILE, or set the environment variable \
                 {PASSWORD_VARIABLE}."
            ))),
        };
    };
    let metadata = std::fs::metadata(path).map_err(|source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Like ssh with a private key: a password others can read is no longer a secret, and one
    // others can write could be swapped. The group may read it (a service account's group).
    let mode = metadata.permissions().mode();
    if mode & 0o007 != 0 {
        return Err(CommandError::Argument(format!(
            "the password file {} can be read or written by every user of this machine (mode \
             {:04o}); make it private first, e.g. chmod 600 {}.",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    // Its first line is all that is read: a password file is small, and /dev/zero is not one.
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| {
            use std::io::Read as _;
            file.take(PASSWORD_FILE_CAP).read_to_string(&mut text)
        })
        .map_err(|source| CommandError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let password = text.lines().next().unwrap_or_default();
    if password.is_empty() {
        return Err(CommandError::Argument(format!(
            "the password file {} is empty; its first line must be the password.",
            path.display()
        )));
    }
    Ok(password.to_string())
}

/// The intake, as the IMAP fetch's handler: prints each outcome as `import` does.
struct IntakeHandler {
    intake: Intake,
    printer: OutcomePrinter,
    /// The mailbox, to name messages in output.
    mailbox: String,
    /// Reports stored (imported or already there), for the closing line.
    stored: Mutex<u64>,
}

impl MessageHandler for IntakeHandler {
    async fn take(&self, uid: u32, raw: &[u8]) -> Disposition {
        let label = format!("{} UID {uid}", self.mailbox);
        match self.intake.take_message(raw, Source::Imap).await {
            Ok(outcomes) => {
                for outcome in &outcomes {
                    emit(|out| self.printer.outcome(out, &label, outcome));
                }
                let taken = outcomes.iter().filter(|o| is_taken(o)).count();
                if let Ok(mut stored) = self.stored.lock() {
                    *stored += taken as u64;
                }
                // Every report stored: done. Anything else (no report, an invalid or foreign one,
                // even beside a stored one) is for a person to look at; what was stored stays
                // stored and is recognised as a duplicate if the message is imported again.
                if !outcomes.is_empty() && taken == outcomes.len() {
                    Disposition::Taken
                } else {
                    Disposition::NotAReport
                }
            }
            Err(error) => {
                // Unavailable or broken, the store did not take the message: it stays in the
                // mailbox and nothing is lost.
                eprintln!(
                    "mta-sts: {label} was not taken: {error}. It stays in the mailbox for the \
                     next run."
                );
                Disposition::StoreUnavailable
            }
        }
    }

    fn too_large(&self, uid: u32, size: u32, cap: u32) {
        let label = format!("{} UID {uid}", self.mailbox);
        emit(|out| {
            self.printer.untaken_input(
                out,
                &label,
                "too-large",
                &format!(
                    "The message is {size} bytes, over the cap of {cap} bytes; it was left in \
                     the mailbox."
                ),
                &format!(
                    "{label} is {size} bytes, over the cap of {cap} bytes \
                     (--max-message-size); it was left in the mailbox, unread."
                ),
            )
        });
    }

    fn connection_trouble(&self, error: &ImapError, retry_in: Duration) {
        eprintln!(
            "mta-sts: {error} (next attempt in {} s, at {}).",
            retry_in.as_secs_f64().ceil(),
            SystemClock.now().saturating_add(retry_in)
        );
    }
}

fn is_taken(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Imported { .. } | Outcome::Duplicate { .. }
    )
}

/// Writes to standard output and flushes at once (`--watch` runs for days; a reader follows
/// it). A closed standard output loses only the echo: the messages are stored and moved
/// regardless.
fn emit(write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
    let mut out = std::io::stdout().lock();
    let _ = write(&mut out).and_then(|()| out.flush());
}

/// `1 message`, `2 messages`.
fn counted(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The closing line (without `--json`) and the exit status.
fn finish(handler: &IntakeHandler, tally: &PassTally, json: bool, watch: bool) -> Status {
    if !json {
        let stored = handler.stored.lock().map(|n| *n).unwrap_or_default();
        let mut parts = vec![format!(
            "{} taken ({} stored or already stored)",
            counted(tally.taken, "message"),
            counted(stored, "report")
        )];
        if tally.not_a_report > 0 {
            parts.push(format!(
                "{} moved to the not-a-report folder",
                tally.not_a_report
            ));
        }
        if tally.too_large > 0 {
            parts.push(format!("{} too large, left in place", tally.too_large));
        }
        if tally.store_unavailable {
            parts.push("the rest left in the mailbox until the store takes them".to_string());
        }
        let line = format!("{}: {}.", handler.mailbox, parts.join(", "));
        emit(|out| writeln!(out, "{line}"));
    }
    if tally.store_unavailable && !watch {
        Status::TempFail
    } else if tally.not_a_report + tally.too_large > 0 && !watch {
        Status::DataError
    } else {
        Status::Valid
    }
}
