//! `mta-sts rollout DOMAIN`: where the domain's MTA-STS rollout stands, whether it is ready for
//! the next stage (every reason naming its evidence), and what to publish next.

use std::fmt::Write as _;

use mta_sts_check::Checker;
use mta_sts_core::Clock;
use mta_sts_net::SystemClock;
use mta_sts_rollout::{Advice, Advisor, Thresholds};
use mta_sts_store::reports::ReportStore;

use super::{CommandError, emit, owner_check_settings, runtime, to_json};
use crate::cli::RolloutArgs;
use crate::exit::Status;

/// Runs `mta-sts rollout`: exit 0 ready, 1 not ready, 2 could not run (a bad argument, a store
/// that cannot be opened or read).
pub fn run(args: &RolloutArgs) -> Result<Status, CommandError> {
    let domain = mta_sts_core::domain::normalize_mail_domain(&args.domain)
        .map_err(|e| CommandError::Argument(e.diagnostic().message.clone()))?;
    let settings = super::reports::settings(&args.store, &[])?;
    // `mta-sts serve`'s `[check]` and `[rollout]` (the dashboard's), with the flags over them.
    let (check, rollout) = settings
        .config
        .map(|config| (config.check, config.rollout))
        .unwrap_or_default();
    let thresholds = Thresholds {
        window_days: args.window_days.unwrap_or(rollout.window_days),
        min_report_days: args.min_report_days.unwrap_or(rollout.min_report_days),
        min_reporters: args.min_reporters.unwrap_or(rollout.min_reporters),
        max_failure_rate: args
            .max_failure_rate
            .map_or(rollout.max_failure_rate, |percent| percent / 100.0),
        min_certificate_days: args
            .min_certificate_days
            .unwrap_or(rollout.min_certificate_days),
    };
    thresholds
        .validate()
        .map_err(|e| CommandError::Argument(format!("{e}.")))?;
    let store_url = settings.store;
    let settings = owner_check_settings(&args.check, &check, true)?;
    let checker =
        Checker::from_settings(&settings).map_err(|e| CommandError::Setup(e.to_string()))?;
    let assessment = runtime()?.block_on(async {
        let store = ReportStore::open(&store_url).await.map_err(|error| {
            CommandError::Setup(format!(
                "cannot open the report store {store_url}: {error}."
            ))
        })?;
        let advisor = Advisor::new(checker, store, thresholds)
            .map_err(|error| CommandError::Argument(format!("{error}.")))?;
        advisor
            .assess(&domain, SystemClock.now())
            .await
            .map_err(|error| CommandError::Setup(format!("{error}.")))
    })?;
    let advice = &assessment.advice;
    if args.json {
        emit(&to_json(advice)?)?;
    } else {
        emit(&human(advice))?;
    }
    Ok(if advice.ready {
        Status::Valid
    } else {
        Status::Invalid
    })
}

/// The advice as a domain owner reads it: the verdict, each condition, what to publish.
fn human(advice: &Advice) -> String {
    let mut out = String::new();
    let failing = advice.failing().count();
    let _ = writeln!(
        out,
        "{}: stage {}, {} {} ({} of {} checks pass).",
        advice.domain,
        advice.stage,
        if advice.ready { "READY" } else { "NOT READY" },
        advice.stage.ready_for(),
        advice.reasons.len() - failing,
        advice.reasons.len()
    );
    let _ = writeln!(out);
    for reason in &advice.reasons {
        let _ = writeln!(
            out,
            "  {} {}: {}.",
            if reason.ok { "ok  " } else { "FAIL" },
            reason.code,
            reason.message
        );
    }
    if let Some(next) = &advice.next {
        let _ = writeln!(
            out,
            "\nTo publish {}, the policy first, then the record:",
            if advice.ready { "next" } else { "now" }
        );
        let _ = writeln!(
            out,
            "  https://mta-sts.{}/.well-known/mta-sts.txt (text/plain):",
            advice.domain
        );
        for line in next.policy.lines() {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "  {}", next.sts_record);
    } else if !advice.ready {
        let _ = writeln!(
            out,
            "\nNothing to publish yet: fix what fails above, then run this again."
        );
    }
    out
}
