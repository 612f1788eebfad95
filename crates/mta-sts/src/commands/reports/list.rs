//! `mta-sts reports list`: the stored reports, oldest first.

use std::fmt::Write as _;

use mta_sts_core::Timestamp;
use mta_sts_store::reports::{ListQuery, StoredReport};
use serde::Serialize;

use crate::cli::ReportsListArgs;
use crate::commands::{CommandError, emit, to_json};
use crate::exit::Status;

/// What `--json` prints: one object, so more members can join later.
#[derive(Serialize)]
struct Listing<'a> {
    reports: &'a [StoredReport],
}

/// Runs `mta-sts reports list`.
pub fn run(args: &ReportsListArgs) -> Result<Status, CommandError> {
    // Only the store is taken from the configuration: listing is not limited to its domains.
    let url = super::settings(&args.store, &[])?.store;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let query = ListQuery {
        domain: args.domain.clone(),
        since,
        limit: args.limit,
        ..ListQuery::default()
    };
    let query = &query;
    let runtime = super::super::runtime()?;
    runtime.block_on(async {
        let reports =
            match super::ask_store(&url, |store| async move { store.list(query).await }).await? {
                Ok(reports) => reports,
                Err(status) => return Ok(status),
            };
        if args.json {
            emit(&to_json(&Listing { reports: &reports })?)?;
        } else {
            emit(&render(&reports))?;
        }
        Ok(Status::Valid)
    })
}

/// `--since`: a date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time.
pub(super) fn parse_since(text: &str) -> Result<Timestamp, CommandError> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    Timestamp::parse(&full).map_err(|error| {
        CommandError::Argument(format!(
            "--since {text:?} is not a date: {error}; write YYYY-MM-DD or an RFC 3339 time."
        ))
    })
}

/// One block per report: who, which, when, then a line per policy entry.
fn render(reports: &[StoredReport]) -> String {
    if reports.is_empty() {
        return "No reports stored match.\n".to_string();
    }
    let mut text = String::new();
    for report in reports {
        let _ = writeln!(
            text,
            "{} to {}  {}  report {}",
            report.start, report.end, report.organization, report.report_id
        );
        for policy in &report.policies {
            let _ = writeln!(
                text,
                "  {} {}: {} successful, {} failed sessions",
                policy.policy_type.as_str(),
                policy
                    .policy_domain
                    .as_deref()
                    .unwrap_or("(no domain given)"),
                policy.successful,
                policy.failed
            );
            for failure in &policy.failures {
                let _ = writeln!(
                    text,
                    "    {} × {} (MX {}, from {})",
                    failure.count,
                    failure.result_type.as_str(),
                    failure
                        .receiving_mx_hostname
                        .as_deref()
                        .unwrap_or("not given"),
                    failure.sending_mta_ip.as_deref().unwrap_or("not given")
                );
            }
        }
    }
    let _ = writeln!(text, "{} reports.", reports.len());
    text
}
