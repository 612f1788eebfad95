use std::collections::BTreeSet;

use mta_sts_core::report::{PolicyType, Report, read};

use super::*;

fn day(text: &str) -> UtcDate {
    UtcDate::parse(text).expect("a date")
}

const TESTING: &str = "version: STSv1\nmode: testing\nmx: mx.shop.test\nmax_age: 86400\n";
const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx.shop.test\nmax_age: 604800\n";

fn plan() -> ReportPlan {
    ReportPlan::new("Shop.test", day("2026-12-01"), 5)
        .with_policy(day("2026-12-01"), TESTING)
        .with_policy(day("2026-12-04"), ENFORCE)
        .with_failure(PlannedFailure {
            result_type: ResultType::CertificateHostMismatch,
            receiving_mx: "mx2.shop.test".to_string(),
            sessions_per_day: 10,
            first_day: day("2026-12-02"),
            last_day: day("2026-12-03"),
            organizations: vec![Organization::Google, Organization::Microsoft],
        })
}

fn parsed(report: &GeneratedReport) -> Report {
    read(report.json.as_bytes()).expect("the core's reader takes every generated report")
}

#[test]
fn one_report_a_day_from_each_organisation_every_one_readable() {
    let reports = plan().reports();
    assert_eq!(reports.len(), 15);
    let names: BTreeSet<&str> = reports.iter().map(|r| r.file_name.as_str()).collect();
    assert_eq!(names.len(), 15, "file names are unique");
    for report in &reports {
        let read = parsed(report);
        assert_eq!(read.organization_name, report.organization.name());
        assert_eq!(read.date_range.start, report.day.start());
        // Every entry is about the domain, lowercase.
        for policy in &read.policies {
            assert_eq!(policy.policy.policy_domain.as_deref(), Some("shop.test"));
        }
    }
}

#[test]
fn the_policy_senders_apply_changes_on_its_day() {
    for report in plan().reports() {
        if report.organization == Organization::MailRu {
            // Mail.ru never writes the policy text.
            assert!(!report.json.contains("policy-string"));
            continue;
        }
        let read = parsed(&report);
        let strings = read.policies[0].policy.policy_string.join("\n");
        let expected = if report.day < day("2026-12-04") {
            "mode: testing"
        } else {
            "mode: enforce"
        };
        assert!(strings.contains(expected), "{} {strings}", report.day);
    }
}

#[test]
fn failures_only_where_planned_and_microsoft_counts_them_twice() {
    for report in plan().reports() {
        let read = parsed(&report);
        let sts = &read.policies[0];
        assert_eq!(sts.policy.policy_type, PolicyType::Sts);
        let planned = report.organization != Organization::MailRu
            && (day("2026-12-02")..=day("2026-12-03")).contains(&report.day);
        let details: u64 = sts
            .failure_details
            .iter()
            .map(|d| d.failed_session_count)
            .sum();
        assert_eq!(sts.summary.total_failure_session_count, details);
        if planned {
            assert!((8..=12).contains(&details), "{details} is 10 ± 20 %");
            assert_eq!(
                sts.failure_details[0].receiving_mx_hostname.as_deref(),
                Some("mx2.shop.test")
            );
        } else {
            assert_eq!(details, 0);
        }
        if report.organization == Organization::Microsoft {
            assert_eq!(read.policies.len(), 2);
            let tlsa = &read.policies[1];
            assert_eq!(tlsa.policy.policy_type, PolicyType::Tlsa);
            assert_eq!(tlsa.summary, sts.summary);
        } else {
            assert_eq!(read.policies.len(), 1);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_reports() {
    assert_eq!(plan().reports(), plan().reports());
    let mut other = plan();
    other.seed = 2;
    assert_ne!(other.reports(), plan().reports());
}

#[test]
fn before_any_policy_senders_report_no_policy_found_and_a_silent_reporter_stops() {
    let mut plan = ReportPlan::new("quiet.test", day("2026-12-01"), 4);
    plan.silent_from
        .push((Organization::Google, day("2026-12-03")));
    let reports = plan.reports();
    assert_eq!(reports.len(), 10);
    let google_days: Vec<UtcDate> = reports
        .iter()
        .filter(|r| r.organization == Organization::Google)
        .map(|r| r.day)
        .collect();
    assert_eq!(google_days, [day("2026-12-01"), day("2026-12-02")]);
    for report in &reports {
        assert_eq!(
            parsed(report).policies[0].policy.policy_type,
            PolicyType::NoPolicyFound
        );
    }
}
