//! `mta-sts reports summary`: one domain's sessions over the last days.

use std::fmt::Write as _;

use mta_sts_core::{Clock, Timestamp};
use mta_sts_net::SystemClock;
use mta_sts_store::reports::{DomainSummary, PolicyTypeTotals, SummaryQuery};

use crate::cli::ReportsSummaryArgs;
use crate::commands::{CommandError, emit, to_json};
use crate::exit::Status;

const SECONDS_PER_DAY: i64 = 86_400;

/// Runs `mta-sts reports summary`.
pub fn run(args: &ReportsSummaryArgs) -> Result<Status, CommandError> {
    let settings = super::settings(&args.store, args.domain.as_slice())?;
    let domain = match settings.domains.as_slice() {
        [domain] => domain.clone(),
        [] => {
            return Err(CommandError::Argument(
                "no domain to sum up: give --domain DOMAIN, or --config FILE whose `domains` names one."
                    .to_string(),
            ));
        }
        several => {
            return Err(CommandError::Argument(format!(
                "the configuration names {} domains ({}); choose one with --domain DOMAIN.",
                several.len(),
                several.join(", ")
            )));
        }
    };
    let url = settings.store;
    let now = SystemClock.now();
    let today = now.unix_seconds().div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY;
    let first = today - (i64::from(args.days) - 1) * SECONDS_PER_DAY;
    let from = Timestamp::from_unix_seconds(first).ok_or_else(|| {
        CommandError::Argument(format!(
            "--days {} reaches before the year 0000.",
            args.days
        ))
    })?;
    let query = SummaryQuery {
        domain,
        from,
        to: now,
    };
    let query = &query;
    let runtime = super::super::runtime()?;
    runtime.block_on(async {
        let summary = match super::ask_store(
            &url,
            |store| async move { store.summary(query).await },
        )
        .await?
        {
            Ok(summary) => summary,
            Err(status) => return Ok(status),
        };
        if args.json {
            emit(&to_json(&summary)?)?;
        } else {
            emit(&render(&summary))?;
        }
        Ok(Status::Valid)
    })
}

fn render(summary: &DomainSummary) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "TLS-RPT reports about {} from {} to {}: {} reports.",
        summary.domain, summary.from, summary.to, summary.total.reports
    );
    if summary.total.reports == 0 {
        return text;
    }
    let _ = writeln!(
        text,
        "Sessions are counted per policy type, never added across types (a sender may count \
         the same session under sts and tlsa)."
    );
    for policy in &summary.total.policies {
        render_policy(&mut text, policy);
    }
    let _ = writeln!(text, "\nPer day:");
    for day in &summary.days {
        let counts: Vec<String> = day
            .policies
            .iter()
            .map(|p| {
                format!(
                    "{} {} ok / {} failed",
                    p.policy_type.as_str(),
                    p.successful,
                    p.failed
                )
            })
            .collect();
        let _ = writeln!(
            text,
            "  {}  {} reports  {}",
            day.date,
            day.reports,
            counts.join("; ")
        );
    }
    text
}

fn render_policy(text: &mut String, policy: &PolicyTypeTotals) {
    let total = policy.successful + policy.failed;
    let rate = if total == 0 {
        0.0
    } else {
        policy.failed as f64 * 100.0 / total as f64
    };
    let _ = writeln!(
        text,
        "\n{}: {} successful, {} failed sessions ({rate:.2} % failed).",
        policy.policy_type.as_str(),
        policy.successful,
        policy.failed
    );
    let failures = &policy.failures;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let _ = writeln!(
        text,
        "  failures by result type: {}",
        list(
            failures
                .by_result_type
                .iter()
                .map(|r| format!("{} {}", r.result_type.as_str(), r.count))
                .collect()
        )
    );
    let _ = writeln!(
        text,
        "  by reporting organisation: {}",
        list(
            failures
                .by_organization
                .iter()
                .map(|o| format!(
                    "{} ({} ok / {} failed)",
                    o.organization, o.successful, o.failed
                ))
                .collect()
        )
    );
    let _ = writeln!(
        text,
        "  by receiving MX: {}",
        list(
            failures
                .by_receiving_mx
                .iter()
                .map(|m| format!(
                    "{} {}",
                    m.receiving_mx_hostname.as_deref().unwrap_or("(not given)"),
                    m.count
                ))
                .collect()
        )
    );
    let _ = writeln!(
        text,
        "  by sending IP: {}",
        list(
            failures
                .by_sending_ip
                .iter()
                .map(|m| format!(
                    "{} {}",
                    m.sending_mta_ip.as_deref().unwrap_or("(not given)"),
                    m.count
                ))
                .collect()
        )
    );
}
