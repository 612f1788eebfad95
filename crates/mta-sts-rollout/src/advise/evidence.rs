//! The store's evidence read for the decision: the window's days, its reporters, its `sts`
//! sessions and failures, and the policies senders reported using.

use mta_sts_core::time::UtcDate;
use mta_sts_core::{Mode, Timestamp};
use mta_sts_store::reports::DomainEvidence;

use super::is_sts;
use crate::advice::{FailureEvidence, ReporterEvidence};
use crate::thresholds::Thresholds;

/// The evidence over the window of the thresholds, ending on the day of `now`.
#[derive(Debug)]
pub(super) struct Window<'a> {
    /// The policy domain.
    pub domain: &'a str,
    /// The first day of the window.
    pub from: UtcDate,
    /// The last day of the window (today).
    pub to: UtcDate,
    /// The window's length in days.
    days: u32,
    evidence: &'a DomainEvidence,
    /// The `sts` policies senders reported using, oldest first.
    pub seen: Vec<SeenPolicy>,
}

/// An `sts` policy senders reported using (`policy-string`, RFC 8460 §4.4), as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SeenPolicy {
    /// Its mode, if a `mode` line was readable.
    pub mode: Option<Mode>,
    /// Its max_age, if a `max_age` line was readable.
    pub max_age: Option<u32>,
    /// The first day a report showed it.
    pub first_day: UtcDate,
    /// The last day a report showed it.
    pub last_day: UtcDate,
}

impl<'a> Window<'a> {
    pub(super) fn new(
        evidence: &'a DomainEvidence,
        thresholds: &Thresholds,
        now: Timestamp,
    ) -> Window<'a> {
        let to = now.utc_date();
        let first = to.day_number() - i64::from(thresholds.window_days.max(1)) + 1;
        Window {
            domain: &evidence.summary.domain,
            from: UtcDate::from_day_number(first).unwrap_or(to),
            to,
            days: thresholds.window_days,
            evidence,
            seen: seen_policies(evidence),
        }
    }

    fn contains(&self, day: UtcDate) -> bool {
        (self.from..=self.to).contains(&day)
    }

    /// The days in the window with at least one report, oldest first.
    pub(super) fn report_days(&self) -> Vec<UtcDate> {
        self.evidence
            .summary
            .days
            .iter()
            .filter(|day| day.reports > 0)
            .filter_map(|day| UtcDate::parse(&day.date).ok())
            .filter(|day| self.contains(*day))
            .collect()
    }

    /// The organisations that reported in the window, most days first.
    pub(super) fn reporters(&self) -> Vec<ReporterEvidence> {
        let mut reporters: Vec<ReporterEvidence> = self
            .evidence
            .reporters
            .iter()
            .filter(|r| self.contains(r.last_day))
            .map(|r| ReporterEvidence {
                organization: r.organization.clone(),
                days: r.days,
                reports: r.reports,
                last_day: r.last_day,
            })
            .collect();
        reporters.sort_by(|a, b| {
            b.days
                .cmp(&a.days)
                .then_with(|| a.organization.cmp(&b.organization))
        });
        reporters
    }

    /// Successful and failed `sts` sessions over the evidence.
    pub(super) fn sts_sessions(&self) -> (u64, u64) {
        self.evidence
            .summary
            .total
            .policies
            .iter()
            .filter(|p| is_sts(&p.policy_type))
            .fold((0, 0), |(ok, failed), p| {
                (ok + p.successful, failed + p.failed)
            })
    }

    /// The groups of `sts` failures reported on or after `since` (all when `None`), most
    /// sessions first.
    pub(super) fn sts_failure_groups(&self, since: Option<UtcDate>) -> Vec<FailureEvidence> {
        let mut groups: Vec<FailureEvidence> = self
            .evidence
            .failures
            .iter()
            .filter(|f| is_sts(&f.policy_type) && f.sessions > 0)
            .filter(|f| since.is_none_or(|since| f.last_day >= since))
            .map(|f| {
                let mut organizations = f.organizations.clone();
                organizations.sort();
                organizations.dedup();
                FailureEvidence {
                    policy_type: f.policy_type.as_str().to_string(),
                    result_type: f.result_type.as_str().to_string(),
                    receiving_mx_hostname: f.receiving_mx_hostname.clone(),
                    sessions: f.sessions,
                    organizations,
                    first_day: f.first_day,
                    last_day: f.last_day,
                }
            })
            .collect();
        groups.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| a.receiving_mx_hostname.cmp(&b.receiving_mx_hostname))
                .then_with(|| a.result_type.cmp(&b.result_type))
        });
        groups
    }

    /// The first day of the current enforcing period, as reports show it: the first day senders
    /// reported an enforce policy after (or on the day) they last reported another mode.
    pub(super) fn enforcing_since(&self) -> Option<UtcDate> {
        let last_other = self
            .seen
            .iter()
            .filter(|seen| seen.mode.is_some_and(|mode| mode != Mode::Enforce))
            .map(|seen| seen.last_day)
            .max();
        self.seen
            .iter()
            .filter(|seen| seen.mode == Some(Mode::Enforce))
            .filter(|seen| last_other.is_none_or(|other| seen.last_day >= other))
            .map(|seen| seen.first_day)
            .min()
    }

    /// The first day a failure reported on `last_day` is no longer in the window.
    pub(super) fn leaves_window(&self, last_day: UtcDate) -> UtcDate {
        UtcDate::from_day_number(last_day.day_number() + i64::from(self.days)).unwrap_or(last_day)
    }
}

/// The `sts` policies the reports show, oldest first.
pub(super) fn seen_policies(evidence: &DomainEvidence) -> Vec<SeenPolicy> {
    let mut seen: Vec<SeenPolicy> = evidence
        .policies_seen
        .iter()
        .filter(|p| is_sts(&p.policy_type))
        .map(|p| SeenPolicy {
            mode: field(&p.policy_string, "mode").and_then(Mode::from_policy_value),
            max_age: field(&p.policy_string, "max_age").and_then(|v| v.parse().ok()),
            first_day: p.first_day,
            last_day: p.last_day,
        })
        .collect();
    seen.sort_by_key(|p| (p.first_day, p.last_day));
    seen
}

/// The value of the first `name:` line of a `policy-string` (RFC 8460 §4.4: the policy's lines,
/// one string each), trimmed as senders write it with and without spaces.
fn field<'s>(lines: &'s [String], name: &str) -> Option<&'s str> {
    lines.iter().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_string_fields_are_read_as_senders_write_them() {
        let lines: Vec<String> = [
            "version: STSv1",
            "mode:enforce",
            "mx: mx.example.com",
            " max_age : 86400 ",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(field(&lines, "mode"), Some("enforce"));
        assert_eq!(field(&lines, "max_age"), Some("86400"));
        assert_eq!(field(&lines, "version"), Some("STSv1"));
        assert_eq!(field(&lines, "id"), None);
        // The first of a repeated field counts, as a sender reads the policy (RFC 8461 §3.2).
        let twice: Vec<String> = ["mode: testing", "mode: enforce"]
            .map(String::from)
            .to_vec();
        assert_eq!(field(&twice, "mode"), Some("testing"));
    }
}
