//! `mta-sts reports import`: reports from files, mail, mboxes, Maildirs and standard input,
//! into the store.
//!
//! Exit status (sysexits, so an MTA pipe does the right thing): 0 every report taken or already
//! stored; 65 (`EX_DATAERR`) an input is not a report, is unreadable, or is about a domain that
//! is not ours — permanent, so the MTA returns the mail rather than retrying something that will
//! never be taken; 66 (`EX_NOINPUT`) an input cannot be read; 75 (`EX_TEMPFAIL`) the store
//! cannot take reports now: the MTA keeps the mail and retries, and nothing is lost, because a
//! batch is stored in one transaction or not at all.

use std::io::{BufReader, Cursor, Read, Write};
use std::path::Path;

use mta_sts_reports::examine::{examine_message, examine_report};
use mta_sts_reports::mbox::{MboxEntry, MboxMessages};
use mta_sts_reports::message::MAX_MESSAGE_SIZE;
use mta_sts_reports::payload::{self, PayloadKind};
use mta_sts_reports::{DomainFilter, Examined, Intake, IntakeError, Outcome, Source, maildir};
use mta_sts_store::reports::ReportStore;
use prometheus_client::registry::Registry;

use crate::cli::ReportsImportArgs;
use crate::commands::{CommandError, display_path};
use crate::exit::Status;

use super::outcome::OutcomePrinter;

/// How many inputs are examined and stored together: one transaction each.
const BATCH_INPUTS: usize = 2000;

/// How many bytes of input a batch holds at most before it is stored.
const BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Runs `mta-sts reports import`.
pub fn run(args: &ReportsImportArgs) -> Result<Status, CommandError> {
    let settings = super::settings(&args.store, &args.domains)
        .and_then(|settings| Ok((settings.domain_filter()?, settings)));
    let (domains, settings) = match settings {
        Ok(settings) => settings,
        Err(error) => {
            // A configuration that cannot be used is mended by a person; as an MTA pipe, the
            // mail must wait for that rather than bounce (sysexits 75: the MTA retries).
            eprintln!(
                "mta-sts: no report was stored: {error} The input was left untouched; give it \
                 again once the configuration is mended (an MTA retries by itself)."
            );
            return Ok(Status::TempFail);
        }
    };
    let url = settings.store.clone();
    let printer = OutcomePrinter::new(args.json, domains.to_string(), settings.domains_origin);
    let runtime = super::super::runtime()?;
    runtime.block_on(async {
        let store = match ReportStore::open(&url).await {
            Ok(store) => store,
            Err(error) => {
                // Whatever is wrong with the store, the reports must not be lost: the MTA keeps
                // the mail while someone mends it.
                eprintln!(
                    "mta-sts: no report was stored: {error}. The input was left untouched; \
                     give it again once the store works (an MTA retries by itself)."
                );
                return Ok(Status::TempFail);
            }
        };
        let mut registry = Registry::default();
        let intake = Intake::new(store, domains, &mut registry);
        let mut importer = Importer::new(intake, printer);
        for path in &args.paths {
            match importer.import_path(path).await {
                Ok(()) => {}
                Err(Stop::Store(error)) => return Ok(importer.store_failed(&error)),
                Err(Stop::Write(error)) => return Err(CommandError::Write(error)),
            }
        }
        match importer.drain().await {
            Ok(()) => {}
            Err(Stop::Store(error)) => return Ok(importer.store_failed(&error)),
            Err(Stop::Write(error)) => return Err(CommandError::Write(error)),
        }
        importer.finish().map_err(CommandError::Write)
    })
}

/// Why an import stopped early.
enum Stop {
    /// The store failed: the batch was not stored.
    Store(IntakeError),
    /// Writing the results failed.
    Write(std::io::Error),
}

/// What one input is, once read.
enum Raw {
    /// A report by itself (JSON, gzip or zip).
    Report(Vec<u8>),
    /// A mail message.
    Message(Vec<u8>),
    /// Judged already (too large, neither report nor mail).
    Judged(Outcome),
}

struct Pending {
    label: String,
    raw: Raw,
    source: Source,
}

/// Counts of outcomes, for the closing line and the exit status.
#[derive(Default)]
struct Tally {
    imported: usize,
    duplicate: usize,
    not_a_report: usize,
    invalid: usize,
    refused: usize,
    unreadable: usize,
}

struct Importer {
    intake: Intake,
    printer: OutcomePrinter,
    pending: Vec<Pending>,
    pending_bytes: usize,
    tally: Tally,
    /// Inputs whose reports are in batches already stored; named when the store fails later.
    stored_inputs: usize,
    /// The batch being stored while the next one is examined (the store writes on one thread;
    /// examining the next batch meanwhile keeps the other cores busy).
    in_flight: Option<InFlight>,
}

/// A batch handed to the store, not yet known to be stored.
struct InFlight {
    /// The label of the input each report (or refusal) came from, in order.
    labels: Vec<String>,
    /// How many inputs the batch holds.
    inputs: usize,
    task: tokio::task::JoinHandle<Result<Vec<Outcome>, IntakeError>>,
}

impl Importer {
    fn new(intake: Intake, printer: OutcomePrinter) -> Self {
        Importer {
            intake,
            printer,
            pending: Vec::new(),
            pending_bytes: 0,
            tally: Tally::default(),
            stored_inputs: 0,
            in_flight: None,
        }
    }

    async fn import_path(&mut self, path: &Path) -> Result<(), Stop> {
        if path.as_os_str() == "-" {
            let stdin = std::io::stdin().lock();
            return self
                .import_stream("<stdin>".to_string(), stdin, Source::Pipe)
                .await;
        }
        if path.is_dir() {
            if !maildir::is_maildir(path) {
                return self.unreadable(
                    path,
                    "it is a directory but not a Maildir (it has neither cur/ nor new/)",
                );
            }
            let files = match maildir::message_files(path) {
                Ok(files) => files,
                Err(error) => return self.unreadable(path, &error.to_string()),
            };
            for file in files {
                match read_file_capped(&file) {
                    Ok(bytes) => {
                        let raw = raw_message(bytes);
                        self.push(display_path(&file), raw, Source::Mail).await?;
                    }
                    // A message delivered elsewhere (moved to cur/, deleted) while listing.
                    Err(error) => self.unreadable(&file, &error.to_string())?,
                }
            }
            return Ok(());
        }
        match std::fs::File::open(path) {
            Ok(file) => {
                self.import_stream(display_path(path), file, Source::File)
                    .await
            }
            Err(error) => self.unreadable(path, &error.to_string()),
        }
    }

    /// One file or standard input: an mbox (by its first line), or one report or message.
    async fn import_stream(
        &mut self,
        label: String,
        mut reader: impl Read,
        source: Source,
    ) -> Result<(), Stop> {
        // Five bytes decide whether this is an mbox; a pipe may give them one at a time.
        let mut head = Vec::with_capacity(5);
        if let Err(error) = (&mut reader).take(5).read_to_end(&mut head) {
            return self.unreadable(Path::new(&label), &error.to_string());
        }
        let whole = Cursor::new(head).chain(reader);
        let mail_source = if source == Source::Pipe {
            Source::Pipe
        } else {
            Source::Mail
        };
        let peek = whole.get_ref().0.get_ref();
        if peek.starts_with(b"From ") {
            let messages = MboxMessages::new(BufReader::new(whole), MAX_MESSAGE_SIZE);
            for (index, entry) in messages.enumerate() {
                let number = index + 1;
                let entry_label = format!("{label} (message {number})");
                match entry {
                    Ok(MboxEntry::Message(bytes)) => {
                        self.push(entry_label, raw_message(bytes), mail_source)
                            .await?;
                    }
                    Ok(MboxEntry::TooLarge { .. }) => {
                        let outcome = Outcome::Invalid {
                            reason: format!(
                                "The message is larger than {} MiB; it was skipped.",
                                MAX_MESSAGE_SIZE / (1024 * 1024)
                            ),
                        };
                        self.push(entry_label, Raw::Judged(outcome), mail_source)
                            .await?;
                    }
                    Err(error) => return self.unreadable(Path::new(&label), &error.to_string()),
                }
            }
            return Ok(());
        }
        let bytes = match read_capped(Ok(whole)) {
            Ok(bytes) => bytes,
            Err(error) => return self.unreadable(Path::new(&label), &error.to_string()),
        };
        let raw = match payload::sniff(&bytes) {
            kind if kind.is_report() => Raw::Report(bytes),
            _ => raw_message(bytes),
        };
        let source = match raw {
            Raw::Report(_) => source,
            _ => mail_source,
        };
        self.push(label, raw, source).await
    }

    async fn push(&mut self, label: String, raw: Raw, source: Source) -> Result<(), Stop> {
        self.pending_bytes += match &raw {
            Raw::Report(bytes) | Raw::Message(bytes) => bytes.len(),
            Raw::Judged(_) => 0,
        };
        self.pending.push(Pending { label, raw, source });
        if self.pending.len() >= BATCH_INPUTS || self.pending_bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Examines the pending inputs (on every core) while the previous batch is being stored,
    /// prints the previous batch's outcomes once it is stored, then hands this batch to the
    /// store (one transaction).
    async fn flush(&mut self) -> Result<(), Stop> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let batch = if pending.is_empty() {
            None
        } else {
            let domains = self.intake.domains().clone();
            let examined = tokio::task::block_in_place(|| examine_all(&pending, &domains));
            let mut batch = Vec::new();
            let mut labels = Vec::new();
            let inputs = pending.len();
            for (item, results) in pending.into_iter().zip(examined) {
                for result in results {
                    labels.push(item.label.clone());
                    batch.push((result, item.source));
                }
            }
            Some((batch, labels, inputs))
        };
        self.settle().await?;
        if let Some((batch, labels, inputs)) = batch {
            let intake = self.intake.clone();
            self.in_flight = Some(InFlight {
                labels,
                inputs,
                task: tokio::spawn(async move { intake.take(batch).await }),
            });
        }
        Ok(())
    }

    /// Flushes what is pending and waits until every batch is stored.
    async fn drain(&mut self) -> Result<(), Stop> {
        self.flush().await?;
        self.settle().await
    }

    /// Waits for the batch being stored, and prints its outcomes.
    async fn settle(&mut self) -> Result<(), Stop> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(());
        };
        let outcomes = match in_flight.task.await {
            Ok(stored) => stored.map_err(Stop::Store)?,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => {
                return Err(Stop::Store(IntakeError::Worker { source: error }));
            }
        };
        self.stored_inputs += in_flight.inputs;
        // Buffered: standard output is line-buffered, and a write per report was a visible
        // share of a bulk import.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for (label, outcome) in in_flight.labels.iter().zip(&outcomes) {
            self.count(outcome);
            self.printer
                .outcome(&mut out, label, outcome)
                .map_err(Stop::Write)?;
        }
        out.flush().map_err(Stop::Write)
    }

    fn count(&mut self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Imported { .. } => &mut self.tally.imported,
            Outcome::Duplicate { .. } => &mut self.tally.duplicate,
            Outcome::NotAReport { .. } => &mut self.tally.not_a_report,
            Outcome::Invalid { .. } => &mut self.tally.invalid,
            Outcome::RefusedDomain { .. } => &mut self.tally.refused,
        };
        *counter += 1;
    }

    /// An input that could not be read: named, counted, and the import goes on.
    fn unreadable(&mut self, path: &Path, reason: &str) -> Result<(), Stop> {
        self.tally.unreadable += 1;
        let label = display_path(path);
        let mut out = std::io::stdout().lock();
        self.printer
            .untaken_input(
                &mut out,
                &label,
                "unreadable",
                &format!("{reason}."),
                &format!("cannot read {label}: {reason}."),
            )
            .map_err(Stop::Write)
    }

    /// The store failed: say what was stored and what was not, and exit 75.
    fn store_failed(&self, error: &IntakeError) -> Status {
        let kept = if self.stored_inputs == 0 {
            "No report was stored".to_string()
        } else {
            format!(
                "The first {} inputs were stored; the rest were not",
                self.stored_inputs
            )
        };
        let advice = if error.is_unavailable() {
            "try again later (an MTA retries by itself); what was stored is recognised as already stored"
        } else {
            "mend the store, then give the same input again; what was stored is recognised as already stored"
        };
        eprintln!("mta-sts: the store failed: {error}. {kept}: {advice}.");
        Status::TempFail
    }

    /// The closing line, and the exit status.
    fn finish(&self) -> std::io::Result<Status> {
        let t = &self.tally;
        if !self.printer.json() {
            let mut parts = vec![
                format!("{} stored", t.imported),
                format!("{} already stored", t.duplicate),
            ];
            for (count, what) in [
                (t.not_a_report, "not a report"),
                (t.invalid, "unreadable"),
                (t.refused, "refused (not our domain)"),
                (t.unreadable, "inputs that could not be read"),
            ] {
                if count > 0 {
                    parts.push(format!("{count} {what}"));
                }
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "Reports: {}.", parts.join(", "))?;
        }
        Ok(if t.unreadable > 0 {
            Status::NoInput
        } else if t.not_a_report + t.invalid + t.refused > 0 {
            Status::DataError
        } else {
            Status::Valid
        })
    }
}

/// A message, unless it is too large to take.
fn raw_message(bytes: Vec<u8>) -> Raw {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Raw::Judged(Outcome::Invalid {
            reason: format!(
                "The input is larger than {} MiB; no report mail comes close.",
                MAX_MESSAGE_SIZE / (1024 * 1024)
            ),
        });
    }
    match payload::sniff(&bytes) {
        PayloadKind::Message | PayloadKind::Mbox => Raw::Message(bytes),
        kind if kind.is_report() => Raw::Report(bytes),
        _ => Raw::Judged(Outcome::NotAReport {
            reason: "It is neither a report (JSON, gzip or zip) nor a mail message.".to_string(),
        }),
    }
}

/// Reads at most one byte past [`MAX_MESSAGE_SIZE`]: enough to know the input is too large,
/// and `/dev/zero` or a runaway pipe is never read further.
fn read_capped(reader: std::io::Result<impl Read>) -> std::io::Result<Vec<u8>> {
    read_capped_into(reader?, Vec::new())
}

/// [`read_capped`] for a file whose size is known: the buffer is made that large first, so the
/// whole file comes in one read (growing from empty took eight reads a message, a visible share
/// of importing a Maildir). The size is only a hint: a file that grows meanwhile is still cut at
/// the cap.
fn read_file_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |metadata| metadata.len());
    let capacity = usize::try_from(size.min(MAX_MESSAGE_SIZE as u64 + 1)).unwrap_or(0);
    read_capped_into(file, Vec::with_capacity(capacity.saturating_add(1)))
}

fn read_capped_into(reader: impl Read, mut bytes: Vec<u8>) -> std::io::Result<Vec<u8>> {
    reader
        .take(MAX_MESSAGE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Examines every pending input, spread over the machine's cores; one list of results per input.
fn examine_all(pending: &[Pending], domains: &DomainFilter) -> Vec<Vec<Examined>> {
    let examine = |item: &Pending| match &item.raw {
        Raw::Report(bytes) => vec![examine_report(bytes, domains, None)],
        Raw::Message(bytes) => examine_message(bytes, domains),
        Raw::Judged(outcome) => vec![Examined::Rejected(outcome.clone())],
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if threads < 2 || pending.len() < 64 {
        return pending.iter().map(examine).collect();
    }
    let chunk = pending.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = pending
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(examine).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
