//! What the dashboard shows of the monitor (see the server's `monitor` module): a domain's
//! kept checks and events, read from the store once and rendered by the page (a strip of
//! verdicts and a timeline) and the API (`/api/v1/domains/{domain}/monitor`) alike.

use mta_sts_check::{Outcome, Verdict};
use mta_sts_core::Timestamp;
use mta_sts_monitor::{MonitorError, StoredCheck, StoredEvent};
use serde::Serialize;

use super::Dashboard;

/// Checks shown by default, and the most one request may ask for.
pub(crate) const DEFAULT_CHECKS: u32 = 200;
/// The most checks one request may ask for.
pub(crate) const MAX_CHECKS: u32 = 2_000;
/// Events shown (open ones first).
pub(crate) const EVENTS: u32 = 200;

/// A domain's monitor history.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MonitorView {
    /// The domain.
    pub(crate) domain: String,
    /// Its checks, newest first.
    pub(crate) checks: Vec<StoredCheck>,
    /// Its events: the open ones first, then the cleared ones, each the latest raised first.
    pub(crate) events: Vec<StoredEvent>,
    /// Checks and events merged, newest first (what the page's timeline lists).
    pub(crate) timeline: Vec<TimelineEntry>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TimelineEntry {
    /// When.
    pub(crate) at: Timestamp,
    /// `raised`, `cleared`, or `checked` (a check whose verdict differs from the one before
    /// it, the first kept, or the latest).
    pub(crate) kind: &'static str,
    /// The event's code, or the check's verdict.
    pub(crate) code: String,
    /// What the event is about (empty for a check).
    pub(crate) subject: String,
    /// The sentence.
    pub(crate) message: String,
}

/// The monitor history of `domain` (one of the server's): at most `checks` checks.
pub(crate) async fn monitor(
    dashboard: &Dashboard,
    domain: &str,
    checks: u32,
) -> Result<MonitorView, MonitorError> {
    let checks =
        mta_sts_monitor::history(&dashboard.store, domain, checks.clamp(1, MAX_CHECKS)).await?;
    let events = mta_sts_monitor::events(&dashboard.store, domain, EVENTS).await?;
    let seen: Vec<CheckSeen> = checks
        .iter()
        .map(|check| CheckSeen {
            at: check.checked_at,
            verdict: check.verdict,
            outcome: check.outcome,
        })
        .collect();
    let timeline = timeline(&seen, &events);
    Ok(MonitorView {
        domain: domain.to_string(),
        checks,
        events,
        timeline,
    })
}

/// What the timeline needs of a check.
#[derive(Debug, Clone, Copy)]
struct CheckSeen {
    at: Timestamp,
    verdict: Verdict,
    outcome: Outcome,
}

/// Events raised and cleared and the checks that changed the verdict (`checks` newest first),
/// newest first.
fn timeline(checks: &[CheckSeen], events: &[StoredEvent]) -> Vec<TimelineEntry> {
    let mut entries = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        let older = checks.get(i + 1);
        let changed = older.is_none_or(|older| older.verdict != check.verdict);
        if i == 0 || changed {
            let what = match older {
                Some(older) if older.verdict != check.verdict => format!(
                    "The verdict changed from {} to {}",
                    older.verdict.as_str(),
                    check.verdict.as_str()
                ),
                _ => format!("The verdict was {}", check.verdict.as_str()),
            };
            let outcome = match check.outcome {
                Outcome::Complete => "",
                Outcome::Incomplete => {
                    " (the check could not learn everything: nothing unlearnt was judged)"
                }
                Outcome::NoSuchDomain => " (the domain does not exist)",
            };
            entries.push(TimelineEntry {
                at: check.at,
                kind: "checked",
                code: check.verdict.as_str().to_string(),
                subject: String::new(),
                message: format!("{what} at the check of {}{outcome}.", check.at),
            });
        }
    }
    for event in events {
        entries.push(TimelineEntry {
            at: event.raised_at,
            kind: "raised",
            code: event.code.clone(),
            subject: event.subject.clone(),
            message: event.message.clone(),
        });
        if let Some(cleared_at) = event.cleared_at {
            entries.push(TimelineEntry {
                at: cleared_at,
                kind: "cleared",
                code: event.code.clone(),
                subject: event.subject.clone(),
                message: event.clear_message.clone().unwrap_or_else(|| {
                    format!("`{}` no longer holds as of {cleared_at}.", event.code)
                }),
            });
        }
    }
    // Newest first; at one time, the events before the check that found them.
    entries.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| rank(a.kind).cmp(&rank(b.kind)))
    });
    entries
}

fn rank(kind: &str) -> u8 {
    match kind {
        "raised" => 0,
        "cleared" => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests;
