//! `mta-sts scan --queue postgres://...`: one scan shared by any number of workers on any
//! number of machines. The list is loaded into the database once; each worker leases batches of
//! domains, checks them as the local scan does ([`super::check_domain`]) and writes each result
//! back; a killed worker's leases run out and return to the queue. `scan status` shows the
//! progress, `scan results` writes the JSON lines (and the summary) out.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt as _;
use mta_sts_check::Checker;
use mta_sts_store::scan_queue::{Lease, QueuedDomain, ScanQueue, ScanResult, ScanStatus};
use mta_sts_store::{PostgresOptions, StoreError, StoreUrl};
use tokio::signal::unix::{SignalKind, signal};

use super::csv::CsvOut;
use super::summary::Summary;
use super::{
    Ending, check_domain, checker, create_reports, read_domains, write_error, write_summary,
};
use crate::cli::{ScanAction, ScanArgs, ScanQueueArgs, ScanResultsArgs, ScanStatusArgs};
use crate::commands::{CommandError, runtime, to_json};
use crate::exit::Status;

/// The longest a worker with nothing to lease waits before asking again while another
/// worker's lease runs (it returns to the queue if that worker dies).
const POLL_MAX: Duration = Duration::from_secs(5);

/// Results read from the database at a time by `scan results`.
const RESULTS_PAGE: u32 = 1000;

/// `scan FILE --queue URL` (load, then work) and `scan --queue URL --worker` (work only).
pub(super) fn run(args: &ScanArgs) -> Result<Status, CommandError> {
    let shared = &args.shared;
    let url = shared.queue.as_deref().unwrap_or_default();
    for (given, flag) in [
        (args.json_lines.is_some(), "--json-lines"),
        (args.resume, "--resume"),
        (args.summary_json.is_some(), "--summary-json"),
        (args.csv.is_some(), "--csv"),
        (args.html.is_some(), "--html"),
    ] {
        if given {
            return Err(CommandError::Argument(format!(
                "{flag} is for a scan on one machine; with --queue the results are kept in the \
                 database, and `mta-sts scan results --queue URL --scan-name {} [--json-lines \
                 OUT] [--summary-json OUT] [--csv OUT] [--html OUT]` writes them out",
                shared.scan_name
            )));
        }
    }
    let domains = if shared.worker {
        None
    } else {
        let list = read_domains(args)?;
        Some(
            list.domains
                .into_iter()
                .map(|d| QueuedDomain {
                    domain: d.domain,
                    line: u64::try_from(d.line).unwrap_or(u64::MAX),
                })
                .collect::<Vec<_>>(),
        )
    };
    let checker = checker(args)?;
    let worker = shared
        .worker_name
        .clone()
        .unwrap_or_else(default_worker_name);
    let connections = PostgresOptions {
        pool_size: usize::from(shared.queue_connections),
        ..PostgresOptions::default()
    };
    runtime()?.block_on(conclude(async {
        let queue = open(url, connections).await?;
        if let Some(domains) = &domains {
            let loaded = queue.load(&shared.scan_name, domains).await?;
            eprintln!(
                "scan {}: {} domains added to the queue at {} ({} in the scan).",
                shared.scan_name,
                loaded.added,
                queue.url(),
                loaded.total
            );
        }
        if queue.status(&shared.scan_name).await?.is_none() {
            return Err(Failure::Command(no_scan(&shared.scan_name, &queue)));
        }
        work(&queue, &checker, args, &worker).await
    }))
}

/// `scan status` and `scan results`.
pub(super) fn run_action(action: &ScanAction) -> Result<Status, CommandError> {
    runtime()?.block_on(conclude(async {
        let (url, name) = match action {
            ScanAction::Status(args) => (&args.queue, &args.scan_name),
            ScanAction::Results(args) => (&args.queue, &args.scan_name),
        };
        // One question at a time: one connection.
        let connections = PostgresOptions {
            pool_size: 1,
            ..PostgresOptions::default()
        };
        let queue = open(url, connections).await?;
        let Some(status) = queue.status(name).await? else {
            return Err(Failure::Command(no_scan(name, &queue)));
        };
        match action {
            ScanAction::Status(args) => Ok(print_status(&status, args)?),
            ScanAction::Results(args) => write_results(&queue, &status, args).await,
        }
    }))
}

/// The error for a scan name with no list loaded.
fn no_scan(name: &str, queue: &ScanQueue) -> CommandError {
    CommandError::Argument(format!(
        "there is no scan named {name} at {}: load a list with `mta-sts scan FILE --queue URL \
         --scan-name {name}`",
        queue.url()
    ))
}

/// Why a queue command stopped: the database (exit 75 when it is unavailable, 2 otherwise) or
/// anything else (exit 2).
enum Failure {
    Store(StoreError),
    Command(CommandError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

impl From<CommandError> for Failure {
    fn from(error: CommandError) -> Failure {
        Failure::Command(error)
    }
}

/// The command's status: an unavailable database is said on standard error and is exit 75
/// (try again later: a worker's leases return to the queue meanwhile).
async fn conclude(
    run: impl Future<Output = Result<Status, Failure>>,
) -> Result<Status, CommandError> {
    match run.await {
        Ok(status) => Ok(status),
        Err(Failure::Command(error)) => Err(error),
        Err(Failure::Store(error)) if error.is_unavailable() => {
            eprintln!("mta-sts: the scan queue is unavailable: {error}. Try again later.");
            Ok(Status::TempFail)
        }
        Err(Failure::Store(error)) => Err(CommandError::Setup(format!("{error}."))),
    }
}

/// Opens the queue (creating or migrating its tables); an URL that is not PostgreSQL's is
/// refused.
async fn open(url: &str, options: PostgresOptions) -> Result<ScanQueue, Failure> {
    let url: StoreUrl = url
        .parse()
        .map_err(|e: StoreError| CommandError::Argument(format!("--queue: {e}")))?;
    Ok(ScanQueue::open(&url, options).await?)
}

/// `HOST:PID`: what `scan status` names a worker by when `--worker-name` is not given.
fn default_worker_name() -> String {
    // The kernel's name for the host (Linux; mta-sts runs there): read rather than a `nix`
    // feature, which would rebuild every crate depending on nix for one string.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

/// What one worker did.
#[derive(Debug, Default)]
struct WorkerCounts {
    checked: u64,
    failing: u64,
    incomplete: u64,
    timed_out: u64,
    /// Results not kept: the lease had run out and another worker had the domain.
    dropped: u64,
}

impl WorkerCounts {
    /// `scan big: worker w1 checked 40 domains (8.1/s): 3 failing, 1 incomplete, 0 timed out`.
    fn line(&self, name: &str, worker: &str, started: tokio::time::Instant) -> String {
        let elapsed = started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            self.checked as f64 / elapsed
        } else {
            0.0
        };
        format!(
            "scan {name}: worker {worker} checked {} domains ({rate:.1}/s): {} failing, {} \
             incomplete, {} timed out",
            self.checked, self.failing, self.incomplete, self.timed_out
        )
    }
}

/// Leases, checks and completes until nothing is left to lease and no other worker holds a
/// running lease; `--concurrency` checks at once, the leases extended while they run.
async fn work(
    queue: &ScanQueue,
    checker: &Checker,
    args: &ScanArgs,
    worker: &str,
) -> Result<Status, Failure> {
    let shared = &args.shared;
    let (name, lease) = (shared.scan_name.as_str(), shared.lease_seconds);
    let limit = args.check_timeout;
    let batches = futures_util::stream::unfold(true, move |more| async move {
        if !more {
            return None;
        }
        match next_batch(queue, name, worker, shared, lease).await {
            Ok(batch) if batch.is_empty() => None,
            Ok(batch) => Some((Ok(batch), true)),
            Err(error) => Some((Err(error), false)),
        }
    });
    let started = tokio::time::Instant::now();
    let spacing = args
        .max_rate
        .map(|rate| Duration::from_secs_f64(1.0 / rate));
    let results = batches
        .flat_map(|batch| {
            futures_util::stream::iter(match batch {
                Ok(leases) => leases.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(error) => vec![Err(error)],
            })
        })
        .enumerate()
        .map(|(index, lease)| async move {
            let lease: Lease = lease.map_err(Failure::Store)?;
            // --max-rate holds per worker, as on one machine.
            if let Some(spacing) = spacing {
                let offset = spacing.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
                tokio::time::sleep_until(started + offset).await;
            }
            let (line, ending) = check_domain(checker, &lease.domain, limit).await;
            let line = line.map_err(|e| CommandError::Write(std::io::Error::other(e)))?;
            let kept = queue.complete(&lease, worker, &line.to_string()).await?;
            Ok::<_, Failure>((ending, kept))
        })
        .buffer_unordered(args.concurrency);
    let mut results = std::pin::pin!(results);
    let mut counts = WorkerCounts::default();
    // A third of the lease: two extensions can fail or come late before the lease runs out.
    let mut extend = tokio::time::interval(lease / 3);
    extend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    extend.tick().await;
    let mut progress = tokio::time::interval(args.progress_every);
    progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    progress.tick().await;
    let stop_error = |e: std::io::Error| {
        Failure::Command(CommandError::Setup(format!(
            "cannot listen for SIGINT and SIGTERM: {e}"
        )))
    };
    let mut interrupt = signal(SignalKind::interrupt()).map_err(stop_error)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(stop_error)?;
    loop {
        tokio::select! {
            next = results.next() => {
                let Some(result) = next else { break };
                let (ending, kept) = result?;
                counts.checked += 1;
                counts.dropped += u64::from(!kept);
                match ending {
                    Ending::Failing => counts.failing += 1,
                    Ending::Incomplete => counts.incomplete += 1,
                    Ending::TimedOut => counts.timed_out += 1,
                    Ending::Other => {}
                }
            }
            _ = extend.tick() => {
                queue.extend(name, worker, lease).await?;
            }
            // This worker's own counts: a status query from every worker every few seconds
            // would count a million-domain scan's rows over and over.
            _ = progress.tick() => eprintln!("{}", counts.line(name, worker, started)),
            _ = interrupt.recv() => return stopped(queue, name, worker, "SIGINT").await,
            _ = terminate.recv() => return stopped(queue, name, worker, "SIGTERM").await,
        }
    }
    eprintln!("{}.", counts.line(name, worker, started));
    if counts.dropped > 0 {
        eprintln!(
            "scan {name}: {} results of worker {worker} came after their lease had run out and \
             were left to the worker that took the domain over.",
            counts.dropped
        );
    }
    if let Some(status) = queue.status(name).await? {
        eprintln!("{}", scan_line(&status));
    }
    Ok(Status::Valid)
}

/// A worker stopped by a signal gives its leases back, so the next worker need not wait for
/// them to run out; exit 75: the scan is not finished, start a worker again.
async fn stopped(
    queue: &ScanQueue,
    name: &str,
    worker: &str,
    signal: &str,
) -> Result<Status, Failure> {
    let released = queue.release(name, worker).await?;
    eprintln!(
        "scan {name}: worker {worker} stopped by {signal}; its {released} leased domains were \
         queued again for the other workers."
    );
    Ok(Status::TempFail)
}

/// The next batch of leases; when there is none but another worker holds a running lease,
/// waits and asks again (that worker may die, and its domains return to the queue). Empty when
/// the scan needs nothing more from this worker.
async fn next_batch(
    queue: &ScanQueue,
    name: &str,
    worker: &str,
    shared: &ScanQueueArgs,
    lease: Duration,
) -> Result<Vec<Lease>, StoreError> {
    loop {
        let leases = queue
            .lease(name, worker, shared.batch, lease, shared.max_attempts)
            .await?;
        if !leases.is_empty() {
            return Ok(leases);
        }
        let Some(ends_in) = queue.others_lease_ends_in(name, worker).await? else {
            return Ok(leases);
        };
        // Just past the first running lease's end, or sooner: a lease extended meanwhile is
        // simply asked about again.
        let wait = (ends_in + Duration::from_millis(100)).min(POLL_MAX);
        tokio::time::sleep(wait).await;
    }
}

/// `scan big: 1000/1000 done (35.2/s over the last minute), 0 leased, 0 expired, 0 queued.`
fn scan_line(status: &ScanStatus) -> String {
    format!(
        "scan {}: {}/{} done ({:.1}/s over the last minute), {} leased, {} expired, {} queued.",
        status.scan,
        status.done,
        status.total,
        status.rate_per_second,
        status.leased,
        status.expired_leases,
        status.queued
    )
}

/// `scan status`: the progress as sentences, or as JSON (with `finished`).
fn print_status(status: &ScanStatus, args: &ScanStatusArgs) -> Result<Status, CommandError> {
    let text = if args.json {
        let mut value = serde_json::to_value(status)
            .map_err(|e| CommandError::Write(std::io::Error::other(e)))?;
        value["finished"] = serde_json::Value::Bool(status.finished());
        to_json(&value)?
    } else {
        status_text(status)
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(CommandError::Write)?;
    Ok(Status::Valid)
}

fn status_text(status: &ScanStatus) -> String {
    let mut text = format!(
        "Scan {} (loaded {}): {} of {} domains done, {} leased to a worker, {} whose lease ran \
         out (back to the next worker), {} queued.\n",
        status.scan,
        status.created_at,
        status.done,
        status.total,
        status.leased,
        status.expired_leases,
        status.queued
    );
    if status.retried > 0 {
        text.push_str(&format!(
            "{} domains were done on a second or later lease (an earlier worker stopped).\n",
            status.retried
        ));
    }
    match (status.first_finished, status.last_finished) {
        (Some(first), Some(last)) => text.push_str(&format!(
            "{:.1} domains a second over the last minute; the first result came at {first}, \
             the latest at {last}.\n",
            status.rate_per_second
        )),
        _ => text.push_str("No result yet.\n"),
    }
    for worker in &status.workers {
        text.push_str(&format!(
            "Worker {}: {} done, {} leased, {} leases ran out.\n",
            worker.worker, worker.done, worker.leased, worker.expired_leases
        ));
    }
    if status.finished() {
        text.push_str("The scan is finished: `mta-sts scan results` writes its results.\n");
    }
    text
}

/// `scan results`: every result in list order as JSON lines (and `--csv` rows), then the
/// summary as the local scan ends: its sentences, `--summary-json` and `--html`.
async fn write_results(
    queue: &ScanQueue,
    status: &ScanStatus,
    args: &ScanResultsArgs,
) -> Result<Status, Failure> {
    // Every file is created before the first page is read, so a path that cannot be written
    // stops the command before a long read of the database.
    let mut out: Box<dyn Write> = match &args.json_lines {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(write_error(path))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut csv = match &args.csv {
        Some(path) => Some((CsvOut::create(path).map_err(write_error(path))?, path)),
        None => None,
    };
    create_reports(&[&args.summary_json, &args.html])?;
    let mut summary = Summary::default();
    let mut after: Option<ScanResult> = None;
    let mut written = 0;
    loop {
        let page = queue
            .results(&args.scan_name, after.as_ref(), RESULTS_PAGE)
            .await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        for result in &page {
            let value: serde_json::Value = serde_json::from_str(&result.result).map_err(|e| {
                CommandError::Setup(format!(
                    "the result of {} in {} is not JSON ({e}); it was not written by \
                         mta-sts scan",
                    result.domain,
                    queue.url()
                ))
            })?;
            summary.add(&value);
            writeln!(out, "{}", result.result).map_err(CommandError::Write)?;
            if let Some((csv, path)) = &mut csv {
                csv.add(&value).map_err(write_error(path))?;
            }
            written += 1;
        }
        after = Some(last);
    }
    out.flush().map_err(CommandError::Write)?;
    write_summary(
        args.summary_json.as_deref(),
        args.html.as_deref(),
        summary.finish(),
    )?;
    if written < status.total {
        eprintln!(
            "scan {}: the results of {} of {} domains written; {} are not done yet (see `mta-sts \
             scan status`).",
            status.scan,
            written,
            status.total,
            status.total - written
        );
    }
    Ok(Status::Valid)
}

#[cfg(test)]
mod tests {
    use mta_sts_core::Timestamp;
    use mta_sts_store::scan_queue::WorkerStatus;

    use super::*;

    fn status(done: u64, retried: u64) -> ScanStatus {
        let at = Timestamp::parse("2026-12-07T10:00:00Z").expect("time");
        ScanStatus {
            scan: "tld".into(),
            created_at: at,
            total: 10,
            done,
            leased: 10 - done,
            expired_leases: 0,
            queued: 0,
            retried,
            rate_per_second: 0.5,
            first_finished: (done > 0).then_some(at),
            last_finished: (done > 0).then_some(at),
            workers: vec![WorkerStatus {
                worker: "host:42".into(),
                leased: 10 - done,
                expired_leases: 0,
                done,
            }],
        }
    }

    #[test]
    fn the_status_is_said_in_sentences() {
        let starting = status_text(&status(0, 0));
        assert!(
            starting.starts_with(
                "Scan tld (loaded 2026-12-07T10:00:00Z): 0 of 10 domains done, 10 leased"
            ),
            "{starting}"
        );
        assert!(starting.contains("No result yet."), "{starting}");
        assert!(!starting.contains("second or later lease"), "{starting}");
        assert!(!starting.contains("finished"), "{starting}");

        let finished = status_text(&status(10, 2));
        assert!(
            finished.contains("2 domains were done on a second or later lease"),
            "{finished}"
        );
        assert!(
            finished.contains("Worker host:42: 10 done, 0 leased"),
            "{finished}"
        );
        assert!(finished.contains("The scan is finished"), "{finished}");
        assert_eq!(
            scan_line(&status(10, 2)),
            "scan tld: 10/10 done (0.5/s over the last minute), 0 leased, 0 expired, 0 queued."
        );
    }

    #[test]
    fn a_worker_is_named_after_its_host_and_process() {
        let name = default_worker_name();
        assert!(
            name.ends_with(&format!(":{}", std::process::id())),
            "{name}"
        );
    }
}
