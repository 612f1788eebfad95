//! `mta-sts tlsrpt report`: one day's RFC 8460 reports, built from the sender store's counts
//! and written as files instead of sent (to look at them, to compare them with another
//! reporter's, to send them by other means).

use std::fs;
use std::io::Write as _;
use std::path::Path;

use mta_sts_core::Clock as _;
use mta_sts_net::SystemClock;
use mta_sts_tlsrpt::config::TlsRptConfig;
use mta_sts_tlsrpt::report_builder::{
    self, BuildSettings, BuiltReport, DayReports, SkipReason, SuppressionList,
};
use mta_sts_tlsrpt::tlsrpt_reporter_config::Component;

use serde::Serialize;

use super::super::{CommandError, display_path, emit, runtime, to_json};
use super::{load_config, parse_day, store_url};
use crate::cli::TlsrptReportArgs;
use crate::exit::Status;

/// Builds the day's reports and writes them to `--out`; exit 0 when it ran (whatever was
/// skipped, which it prints), 2 when it could not (a bad argument, an unreadable store or
/// suppression list, a directory that cannot be written).
pub fn run(args: &TlsrptReportArgs) -> Result<Status, CommandError> {
    let day = parse_day(&args.day, SystemClock.now().utc_date())?;
    let config = load_config(&args.config, Component::Reportd)?;
    let settings = settings(args, &config)?;
    // The error names the problem without echoing the URL, which may hold a password.
    let store_url = store_url(args.config.store.as_deref(), &config)?;
    let counts = runtime()?.block_on(async {
        let store = super::open_store(&store_url, super::StoreAccess::Existing).await?;
        store.day_counts(day).await.map_err(|error| {
            CommandError::Setup(format!(
                "cannot read the counts of {day} from the sender store {store_url}: {error}."
            ))
        })
    })?;
    let built = report_builder::build_day(day, &counts, &settings)
        .map_err(|error| CommandError::Argument(format!("{error}.")))?;
    fs::create_dir_all(&args.out).map_err(|source| {
        CommandError::Setup(format!(
            "cannot make the directory {}: {source}.",
            display_path(&args.out)
        ))
    })?;
    let mut lines = String::new();
    let mut written = Vec::with_capacity(built.reports.len());
    for report in &built.reports {
        let (name, bytes) = if args.gzip {
            (report.gzip_file_name(), &report.gzip)
        } else {
            (report.json_file_name(), &report.json)
        };
        let path = args.out.join(&name);
        write_file(&path, bytes)?;
        lines.push_str(&wrote(&path, report));
        written.push(path);
        for note in &report.notes {
            lines.push_str(&format!("  note: {note}.\n"));
        }
    }
    // Domains without a TLSRPT record asked for nothing: counted, not listed one by one.
    let mut without_record = 0_usize;
    for skipped in &built.skipped {
        if skipped.reason == SkipReason::NoRecord {
            without_record += 1;
            continue;
        }
        lines.push_str(&format!("skipped: {skipped}.\n"));
        for note in &skipped.notes {
            lines.push_str(&format!("  note: {note}.\n"));
        }
    }
    if without_record > 0 {
        lines.push_str(&format!(
            "{without_record} {} no TLSRPT record, so no report.\n",
            if without_record == 1 {
                "domain has"
            } else {
                "domains have"
            }
        ));
    }
    lines.push_str(&summary(&built, counts.is_empty()));
    if args.json {
        emit(&to_json(&Manifest::new(&built, &written))?)?;
    } else {
        emit(&lines)?;
    }
    Ok(Status::Valid)
}

/// What `--json` prints: the files written and what was skipped, for scripts.
#[derive(Serialize)]
struct Manifest<'a> {
    day: String,
    submitter: &'a str,
    reports: Vec<ManifestReport<'a>>,
    skipped: Vec<ManifestSkipped<'a>>,
}

#[derive(Serialize)]
struct ManifestReport<'a> {
    file: String,
    domain: &'a str,
    tlsrpt_record: &'a str,
    report_id: &'a str,
    destinations: Vec<String>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct ManifestSkipped<'a> {
    domain: &'a str,
    tlsrpt_record: &'a str,
    reason: &'static str,
    message: String,
    notes: Vec<String>,
}

impl<'a> Manifest<'a> {
    fn new(built: &'a DayReports, written: &[std::path::PathBuf]) -> Manifest<'a> {
        let notes =
            |notes: &[report_builder::Note]| notes.iter().map(ToString::to_string).collect();
        Manifest {
            day: built.day.to_string(),
            submitter: &built.submitter,
            reports: built
                .reports
                .iter()
                .zip(written)
                .map(|(report, path)| ManifestReport {
                    file: path.display().to_string(),
                    domain: &report.domain,
                    tlsrpt_record: &report.tlsrpt_record,
                    report_id: &report.report.report_id,
                    destinations: report
                        .destinations
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    notes: notes(&report.notes),
                })
                .collect(),
            skipped: built
                .skipped
                .iter()
                .map(|skipped| ManifestSkipped {
                    domain: &skipped.domain,
                    tlsrpt_record: &skipped.tlsrpt_record,
                    reason: skipped.reason.code(),
                    message: skipped.to_string(),
                    notes: notes(&skipped.notes),
                })
                .collect(),
        }
    }
}

/// The build settings from the flags.
fn settings(args: &TlsrptReportArgs, config: &TlsRptConfig) -> Result<BuildSettings, CommandError> {
    let mut settings = config
        .build_settings()
        .map_err(|error| CommandError::Setup(format!("{error}.")))?;
    if let Some(path) = &args.suppress {
        let text = fs::read_to_string(path).map_err(|source| CommandError::Read {
            path: path.clone(),
            source,
        })?;
        settings
            .suppress
            .extend(SuppressionList::read(&text).map_err(|error| {
                CommandError::Argument(format!("{}: {error}.", display_path(path)))
            })?);
    }
    if let Some(name) = &args.organization_name {
        settings.organization_name.clone_from(name);
    }
    if let Some(contact) = &args.contact_info {
        settings.contact_info.clone_from(contact);
    }
    let required = |value: &str, flag: &str, what: &str| {
        if value.trim().is_empty() {
            Err(CommandError::Argument(format!(
                "give {flag} (or set it in the configuration): {what} every report names."
            )))
        } else {
            Ok(())
        }
    };
    required(
        &settings.organization_name,
        "--organization-name",
        "the organization-name (who produced the reports)",
    )?;
    required(
        &settings.contact_info,
        "--contact-info",
        "the contact-info (an email address receivers can write to)",
    )?;
    if let Some(submitter) = &args.submitter {
        settings.submitter = Some(submitter.clone());
    }
    if args.only_with_failures {
        settings.only_with_failures = true;
    }
    if let Some(max_size) = args.max_size {
        settings.max_size = Some(max_size);
    }
    Ok(settings)
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CommandError> {
    let temporary = path.with_extension("partial");
    let failed = |source: std::io::Error| {
        CommandError::Setup(format!("cannot write {}: {source}.", path.display()))
    };
    let mut file = fs::File::create(&temporary).map_err(failed)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    fs::rename(&temporary, path).map_err(failed)
}

/// One line per report written.
fn wrote(path: &Path, report: &BuiltReport) -> String {
    let (ok, failed) = report
        .report
        .policies
        .iter()
        .fold((0u64, 0u64), |(ok, failed), p| {
            (
                ok.saturating_add(p.summary.total_successful_session_count),
                failed.saturating_add(p.summary.total_failure_session_count),
            )
        });
    let destinations: Vec<String> = report
        .destinations
        .iter()
        .map(ToString::to_string)
        .collect();
    let policies = report.report.policies.len();
    format!(
        "wrote {}: report {} about {}, {policies} {}, {ok} successful and {failed} failed \
         sessions, for {}.\n",
        path.display(),
        report.report.report_id,
        report.domain,
        if policies == 1 { "policy" } else { "policies" },
        destinations.join(", "),
    )
}

/// The closing line.
fn summary(built: &DayReports, no_counts: bool) -> String {
    if no_counts {
        return format!(
            "No sessions were counted on {}, so there is nothing to report.\n",
            built.day
        );
    }
    format!(
        "{} reports for {} written as submitter {}; {} skipped.\n",
        built.reports.len(),
        built.day,
        built.submitter,
        built.skipped.len()
    )
}
