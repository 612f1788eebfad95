//! `mta-sts scan FILE|-`: every domain of a list checked as `check` does, many at once, each
//! report written as one JSON line as soon as it is ready, resumable after an interrupt.

use std::collections::HashSet;
use std::io::{IsTerminal as _, Read as _, Seek as _, Write};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt as _;
use mta_sts_check::{Checker, NetSettings, Outcome, Verdict};
use mta_sts_core::domain_list;
use mta_sts_net::AddressGuard;

use super::{CommandError, display_path, resolver, runtime, trust};
use crate::cli::ScanArgs;
use crate::exit::Status;

mod csv;
mod html;
mod progress;
mod queue;
mod summary;

use progress::{Ending, Progress};
use summary::Summary;

/// Runs the scan; exit 0 when every domain listed (and valid) has its line in the output, 2 when
/// the scan could not run (unreadable list, unwritable output, a bad setting).
pub fn run(args: &ScanArgs) -> Result<Status, CommandError> {
    if let Some(action) = &args.action {
        return queue::run_action(action);
    }
    if args.shared.queue.is_some() {
        return queue::run(args);
    }
    let list = read_domains(args)?;
    let mut summary = Summary::default();
    let (mut out, done) = open_output(args.json_lines.as_deref(), args.resume, &mut summary)?;
    let mut tally = Tally::open(args, summary)?;
    create_reports(&[&args.summary_json, &args.html])?;
    let domains: Vec<String> = list
        .domains
        .into_iter()
        .map(|d| d.domain)
        .filter(|d| !done.contains(d))
        .collect();
    if args.resume {
        eprintln!(
            "scan: {} domains already in the output, {} left to check",
            done.len(),
            domains.len()
        );
    }
    let checker = checker(args)?;
    runtime()?.block_on(scan(&checker, domains, args, &mut out, &mut tally))?;
    write_summary(
        args.summary_json.as_deref(),
        args.html.as_deref(),
        tally.summary.finish(),
    )?;
    Ok(Status::Valid)
}

/// The list of `FILE` (`-`: standard input), its problems named on standard error.
fn read_domains(args: &ScanArgs) -> Result<domain_list::DomainList, CommandError> {
    let Some(file) = &args.file else {
        return Err(CommandError::Argument(
            "scan needs a list FILE (or - for standard input)".into(),
        ));
    };
    let text = read_list(file)?;
    let list = domain_list::read(&text);
    let source = display_path(file);
    for problem in &list.problems {
        // The list's problems are the user's to fix; the scan goes on without those lines.
        eprintln!(
            "{source}:{}: {}: {} (line skipped)",
            problem.line.unwrap_or_default(),
            problem.severity.as_str(),
            problem.message
        );
    }
    Ok(list)
}

/// The checker every domain of a scan is checked with: `check`'s, from the same flags.
fn checker(args: &ScanArgs) -> Result<Checker, CommandError> {
    let settings = NetSettings {
        resolver: resolver(args.resolver.as_deref())?,
        trust: trust(args.ca_file.as_deref())?,
        https_port: args.https_port,
        smtp_port: args.smtp_port,
        timeout: args.timeout,
        // As `check`: the CLI dials whatever DNS answers.
        guard: AddressGuard::AllowAll,
        probe_smtp: !args.no_smtp,
    };
    limit_dns(
        Checker::from_settings(&settings).map_err(|e| CommandError::Setup(e.to_string()))?,
        args,
    )
}

/// The checker with `--max-dns-rate`, when given, shared by all its checks.
fn limit_dns(checker: Checker, args: &ScanArgs) -> Result<Checker, CommandError> {
    match args.max_dns_rate {
        Some(rate) => checker
            .with_max_dns_rate(rate)
            .map_err(|e| CommandError::Argument(e.to_string())),
        None => Ok(checker),
    }
}

/// What each line of the output is also counted in: the summary and, with `--csv`, a row.
struct Tally {
    summary: Summary,
    csv: Option<csv::CsvOut>,
}

impl Tally {
    /// The summary so far (the lines kept by `--resume`) and the CSV file, created with a row
    /// for each line already in `--json-lines` when resuming: the CSV is rewritten whole from
    /// the JSON lines, so it never holds a row twice. Created only once the JSON lines were
    /// found resumable, so a refused resume leaves an earlier CSV as it was.
    fn open(args: &ScanArgs, summary: Summary) -> Result<Tally, CommandError> {
        let Some(path) = &args.csv else {
            return Ok(Tally { summary, csv: None });
        };
        let mut csv = csv::CsvOut::create(path).map_err(write_error(path))?;
        if let (true, Some(lines)) = (args.resume, &args.json_lines) {
            let kept = std::fs::read(lines).map_err(|source| CommandError::Read {
                path: lines.clone(),
                source,
            })?;
            // Every line left after `open_output` is a whole scan line.
            for line in kept.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) {
                    csv.add(&value).map_err(write_error(path))?;
                }
            }
        }
        Ok(Tally {
            summary,
            csv: Some(csv),
        })
    }

    /// Counts one new line.
    fn add(&mut self, line: &serde_json::Value, args: &ScanArgs) -> Result<(), CommandError> {
        self.summary.add(line);
        if let (Some(csv), Some(path)) = (&mut self.csv, &args.csv) {
            csv.add(line).map_err(write_error(path))?;
        }
        Ok(())
    }
}

/// Creates the files written at the end (`--summary-json`, `--html`) now, so a path that
/// cannot be written stops the scan (or `scan results`) before its work, not after it.
fn create_reports(paths: &[&Option<std::path::PathBuf>]) -> Result<(), CommandError> {
    for path in paths.iter().copied().flatten() {
        std::fs::File::create(path).map_err(write_error(path))?;
    }
    Ok(())
}

/// The end of a scan (on one machine, or `scan results` of a queue's): the summary's
/// sentences on standard error, `--summary-json` and `--html` written.
fn write_summary(
    summary_json: Option<&Path>,
    html: Option<&Path>,
    summary: Summary,
) -> Result<(), CommandError> {
    for sentence in summary.sentences() {
        eprintln!("{sentence}");
    }
    if let Some(path) = summary_json {
        let text = super::to_json(&summary)?;
        std::fs::write(path, text).map_err(write_error(path))?;
    }
    if let Some(path) = html {
        std::fs::write(path, html::report(&summary)).map_err(write_error(path))?;
    }
    Ok(())
}

/// A write error that names the file.
fn write_error(path: &Path) -> impl Fn(std::io::Error) -> CommandError + '_ {
    move |source| {
        CommandError::Write(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        ))
    }
}

/// Checks the domains at most `--concurrency` at once, writing each line as it finishes.
async fn scan(
    checker: &Checker,
    domains: Vec<String>,
    args: &ScanArgs,
    out: &mut dyn Write,
    tally: &mut Tally,
) -> Result<(), CommandError> {
    let total = domains.len();
    let limit = args.check_timeout;
    let started = tokio::time::Instant::now();
    let spacing = args
        .max_rate
        .map(|rate| Duration::from_secs_f64(1.0 / rate));
    let mut results = futures_util::stream::iter(domains.into_iter().enumerate())
        .map(|(index, domain)| async move {
            // The n-th check starts no earlier than n spacings after the first, so the rate
            // holds however the checks overlap; the wait is not part of the time limit.
            if let Some(spacing) = spacing {
                let offset = spacing.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
                tokio::time::sleep_until(started + offset).await;
            }
            check_domain(checker, &domain, limit).await
        })
        .buffer_unordered(args.concurrency);
    let mut progress = Progress::new(total, std::io::stderr().is_terminal());
    let mut ticker = tokio::time::interval(args.progress_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            next = results.next() => {
                let Some((line, ending)) = next else { break };
                let value = line.map_err(|e| CommandError::Write(std::io::Error::other(e)))?;
                let mut line = value.to_string();
                line.push('\n');
                // One write per line, flushed, so a killed scan leaves at most one cut line.
                out.write_all(line.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(CommandError::Write)?;
                progress.record(&ending);
                tally.add(&value, args)?;
            }
            _ = ticker.tick() => progress.tick(),
        }
    }
    progress.finish();
    Ok(())
}

/// One domain's line (its `check --json` report, or the time-out error after `limit`) and how
/// its check ended: what a scan does for each domain, on one machine or as a queue's worker.
async fn check_domain(
    checker: &Checker,
    domain: &str,
    limit: Duration,
) -> (serde_json::Result<serde_json::Value>, Ending) {
    match tokio::time::timeout(limit, checker.check(domain)).await {
        Ok(report) => {
            let ending = if report.verdict == Verdict::Fail {
                Ending::Failing
            } else if report.outcome != Outcome::Complete {
                Ending::Incomplete
            } else {
                Ending::Other
            };
            (serde_json::to_value(&report), ending)
        }
        Err(_) => (Ok(timed_out(domain, limit)), Ending::TimedOut),
    }
}

/// The line written for a domain whose check did not finish in time: the domain (so a resumed
/// scan counts it as done) and an error a script can tell from a report.
fn timed_out(domain: &str, limit: Duration) -> serde_json::Value {
    serde_json::json!({
        "domain": domain,
        "error": {
            "code": "scan-check-timeout",
            "message": format!(
                "The check of {domain} did not finish within {} seconds (--check-timeout) and \
                 was stopped; run `mta-sts check {domain}` to see how far it gets.",
                limit.as_secs_f64()
            ),
        }
    })
}

/// The list's text, from the file or standard input.
fn read_list(path: &Path) -> Result<String, CommandError> {
    let read_error = |source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    } else {
        bytes = std::fs::read(path).map_err(read_error)?;
    }
    String::from_utf8(bytes).map_err(|e| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the list is not UTF-8 text (an invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// Where the lines go, and the domains already there (`--resume`).
fn open_output(
    path: Option<&Path>,
    resume: bool,
    summary: &mut Summary,
) -> Result<(Box<dyn Write>, HashSet<String>), CommandError> {
    let Some(path) = path else {
        return Ok((Box::new(std::io::stdout()), HashSet::new()));
    };
    let write_error = |source: std::io::Error| {
        CommandError::Write(std::io::Error::new(
            source.kind(),
            format!("{}: {source}", path.display()),
        ))
    };
    if !resume {
        let file = std::fs::File::create(path).map_err(write_error)?;
        return Ok((Box::new(file), HashSet::new()));
    }
    let existing = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(CommandError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let (done, keep) = completed(&existing, path, summary)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(write_error)?;
    // A cut last line (the scan was killed while writing it) is dropped; its domain is checked
    // again, so none is skipped and none is written twice.
    file.set_len(keep).map_err(write_error)?;
    file.seek(std::io::SeekFrom::End(0)).map_err(write_error)?;
    Ok((Box::new(file), done))
}

/// The domains of the complete lines of an earlier output, and the length of those lines; each
/// line is counted in the summary.
fn completed(
    existing: &[u8],
    path: &Path,
    summary: &mut Summary,
) -> Result<(HashSet<String>, u64), CommandError> {
    let mut done = HashSet::new();
    let mut keep = 0;
    for (index, line) in existing.split_inclusive(|&b| b == b'\n').enumerate() {
        let Some(body) = line.strip_suffix(b"\n") else {
            break; // the cut last line
        };
        let value = serde_json::from_slice::<serde_json::Value>(body).ok();
        let domain = value
            .as_ref()
            .and_then(|v| v.get("domain").and_then(|d| d.as_str()).map(str::to_string));
        let (Some(value), Some(domain)) = (value, domain) else {
            // Not a line a scan writes: resuming could lose what it holds, so stop instead.
            return Err(CommandError::Argument(format!(
                "line {} of {} is not a scan result (a JSON object with a `domain`); not \
                 resuming, so nothing in the file is lost: give another --json-lines file or \
                 remove the line",
                index + 1,
                path.display()
            )));
        };
        summary.add(&value);
        done.insert(domain);
        keep += line.len() as u64;
    }
    Ok((done, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_lines_are_kept_and_a_cut_last_line_dropped() {
        let text = b"{\"domain\":\"a.example\"}\n{\"domain\":\"b.example\"}\n{\"domain\":\"c.ex";
        let (done, keep) =
            completed(text, Path::new("out.jsonl"), &mut Summary::default()).expect("resumable");
        assert_eq!(done.len(), 2);
        assert!(done.contains("a.example") && done.contains("b.example"));
        assert_eq!(keep, 46);
    }

    #[test]
    fn a_foreign_line_stops_the_resume() {
        let text = b"{\"domain\":\"a.example\"}\nnot json\n";
        let error = completed(text, Path::new("out.jsonl"), &mut Summary::default())
            .expect_err("foreign line");
        assert!(error.to_string().contains("line 2 of out.jsonl"), "{error}");
    }
}
