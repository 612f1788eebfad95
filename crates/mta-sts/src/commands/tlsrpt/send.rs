//! `mta-sts tlsrpt send`: one day's reports built, enqueued and delivered now.

use std::fmt::Write as _;
use std::sync::Arc;

use mta_sts_core::time::{Clock as _, UtcDate};
use mta_sts_net::SystemClock;
use mta_sts_store::sender_reports::Enqueued;
use mta_sts_tlsrpt::delivery::{Deliverer, DeliveryEvent, DeliveryOutcome};
use mta_sts_tlsrpt::report_builder::{DayReports, SkipReason, build_day};
use mta_sts_tlsrpt::reporter::Reporter;
use mta_sts_tlsrpt::reporter::metrics::ReporterMetrics;
use mta_sts_tlsrpt::tlsrpt_reporter_config::Component;
use serde::Serialize;

use super::super::{CommandError, emit, runtime, to_json};
use super::{load_config, parse_day, store_url};
use crate::cli::TlsrptSendArgs;
use crate::exit::Status;

/// What `send` did, for `--json`.
#[derive(Debug, Serialize)]
struct Sent {
    day: UtcDate,
    dry_run: bool,
    reports: Vec<ReportLine>,
    skipped: Vec<String>,
    without_record: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    enqueued: Option<Enqueued>,
    deliveries: Vec<DeliveryEvent>,
}

#[derive(Debug, Serialize)]
struct ReportLine {
    report_id: String,
    domain: String,
    file_name: String,
    destinations: Vec<String>,
}

/// Builds the day, puts its reports in the outbox (a report already there is left as it is)
/// and attempts every delivery due now; `--dry-run` only builds and says where each would go.
pub fn run(args: &TlsrptSendArgs) -> Result<Status, CommandError> {
    let config = load_config(&args.config, Component::Reportd)?;
    let store_url = store_url(args.config.store.as_deref(), &config)?;
    let build = config
        .build_settings()
        .map_err(|e| CommandError::Setup(format!("{e}.")))?;
    let delivery = config.delivery_settings();
    let clock = Arc::new(SystemClock);
    let now = clock.now();
    let day = parse_day(&args.day, now.utc_date())?;
    let sent = runtime()?.block_on(async {
        let store = super::open_store(&store_url, super::StoreAccess::Existing).await?;
        if args.dry_run {
            let counts = store
                .day_counts(day)
                .await
                .map_err(|e| CommandError::Setup(format!("{e}.")))?;
            let built = build_day(day, &counts, &build)
                .map_err(|e| CommandError::Setup(format!("{e}.")))?;
            return Ok(sent_of(day, true, &built, None, Vec::new()));
        }
        let deliverer =
            Deliverer::new(&delivery).map_err(|e| CommandError::Setup(format!("{e}.")))?;
        let reporter = Reporter::new(
            store,
            build,
            deliverer,
            delivery.retry,
            config.schedule.settings(),
            clock.clone(),
            Arc::new(ReporterMetrics::new()),
        )
        .map_err(|e| CommandError::Setup(format!("{e}.")))?;
        let enqueued = reporter
            .enqueue_day(day, now)
            .await
            .map_err(|e| CommandError::Setup(format!("{e}.")))?;
        let events = reporter
            .deliver_due(now)
            .await
            .map_err(|e| CommandError::Setup(format!("{e}.")))?;
        Ok(sent_of(
            day,
            false,
            &enqueued.built,
            Some(enqueued.enqueued),
            events,
        ))
    })?;
    let failed = sent
        .deliveries
        .iter()
        .any(|e| !matches!(e.outcome, DeliveryOutcome::Sent));
    if args.json {
        emit(&to_json(&sent)?)?;
    } else {
        emit(&text(&sent))?;
    }
    Ok(if failed {
        Status::Invalid
    } else {
        Status::Valid
    })
}

fn sent_of(
    day: UtcDate,
    dry_run: bool,
    built: &DayReports,
    enqueued: Option<Enqueued>,
    deliveries: Vec<DeliveryEvent>,
) -> Sent {
    Sent {
        day,
        dry_run,
        reports: built
            .reports
            .iter()
            .map(|r| ReportLine {
                report_id: r.report.report_id.clone(),
                domain: r.domain.clone(),
                file_name: r.gzip_file_name(),
                destinations: r.destinations.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        // Domains without a TLSRPT record asked for nothing: counted, not listed.
        skipped: built
            .skipped
            .iter()
            .filter(|s| s.reason != SkipReason::NoRecord)
            .map(ToString::to_string)
            .collect(),
        without_record: built
            .skipped
            .iter()
            .filter(|s| s.reason == SkipReason::NoRecord)
            .count(),
        enqueued,
        deliveries,
    }
}

fn text(sent: &Sent) -> String {
    let mut out = String::new();
    let verb = if sent.dry_run { "would go" } else { "goes" };
    for report in &sent.reports {
        let _ = writeln!(
            out,
            "The report {} about {} {verb} to {}.",
            report.report_id,
            report.domain,
            report.destinations.join(", ")
        );
    }
    for skipped in &sent.skipped {
        let _ = writeln!(out, "Skipped: {skipped}.");
    }
    if sent.without_record > 0 {
        let _ = writeln!(
            out,
            "{} domain(s) publish no TLSRPT record and asked for no report.",
            sent.without_record
        );
    }
    if let Some(enqueued) = &sent.enqueued {
        let _ = writeln!(
            out,
            "{} report(s) for {} built; {} of them new in the outbox with {} delivery(ies) (a \
             report already there is not sent again).",
            sent.reports.len(),
            sent.day,
            enqueued.reports,
            enqueued.deliveries
        );
    } else {
        let _ = writeln!(
            out,
            "{} report(s) for {} built; nothing was stored or sent (--dry-run).",
            sent.reports.len(),
            sent.day
        );
    }
    for event in &sent.deliveries {
        let what = format!(
            "The report {} about {} to {} (attempt {})",
            event.report_id, event.domain, event.destination, event.attempt
        );
        let _ = match &event.outcome {
            DeliveryOutcome::Sent => writeln!(out, "{what} was delivered."),
            DeliveryOutcome::Retry { next_try_at, error } => writeln!(
                out,
                "{what} failed: {error}; it is tried again at {next_try_at} by `mta-sts tlsrpt run` or the next send."
            ),
            DeliveryOutcome::GivenUp { error } => {
                writeln!(out, "{what} failed and is given up: {error}.")
            }
        };
    }
    out
}
