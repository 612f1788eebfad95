//! Invariants over random reports: what the summary says is what was imported.

use std::collections::{BTreeMap, HashSet};

use mta_sts_store::reports::{DomainsQuery, Insertion, NewReport, Source, SummaryQuery};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::backend::Backend;
use crate::fixtures::{failure, new_report, november, policy, report_json, shift};

const ORGANIZATIONS: [&str; 3] = ["google.com", "Microsoft Corporation", "mail.ru"];
const DOMAINS: [&str; 2] = ["example.com", "other.example"];
const POLICY_TYPES: [&str; 3] = ["sts", "tlsa", "no-policy-found"];
const RESULT_TYPES: [&str; 3] = [
    "starttls-not-supported",
    "certificate-expired",
    "validation-failure",
];

/// A generated report: organisation, id, day (0-6 after November 1st), policies
/// (type, domain, successful, failed, failure details (result type, count)).
type Case = (
    usize,
    usize,
    i64,
    Vec<(usize, usize, u64, u64, Vec<(usize, u64)>)>,
);

fn case() -> impl Strategy<Value = Case> {
    (
        0..ORGANIZATIONS.len(),
        0..4_usize,
        0..7_i64,
        prop::collection::vec(
            (
                0..POLICY_TYPES.len(),
                0..DOMAINS.len(),
                0..1_000_u64,
                0..100_u64,
                prop::collection::vec((0..RESULT_TYPES.len(), 0..50_u64), 0..3),
            ),
            1..4,
        ),
    )
}

fn to_report(case: &Case) -> NewReport {
    let (organization, id, day, policies) = case;
    new_report(
        &report_json(
            ORGANIZATIONS[*organization],
            &format!("id{id}"),
            shift(november(1), day * 86_400),
            policies
                .iter()
                .map(|(kind, domain, successful, failed, failures)| {
                    policy(
                        POLICY_TYPES[*kind],
                        DOMAINS[*domain],
                        *successful,
                        *failed,
                        failures
                            .iter()
                            .map(|(result, count)| {
                                failure(RESULT_TYPES[*result], *count, None, None)
                            })
                            .collect(),
                    )
                })
                .collect(),
        ),
        Source::File,
    )
}

/// Summary totals per policy type equal the sums over the reports the store imported (not
/// the duplicates), counting each policy type apart; imported and duplicate follow the
/// (organisation, report id, date range) rule.
pub async fn summary_totals_are_the_sums_of_the_reports_imported(backend: Backend) {
    let store = backend.open().await;
    let cases = if backend.is_sqlite() { 24 } else { 12 };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (prop::collection::vec(case(), 1..30), 1..8_usize);
    let runtime = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(cases, batch_size)| {
        tokio::task::block_in_place(|| {
            runtime.block_on(async {
                backend
                    .execute(
                        "DELETE FROM failure_detail; DELETE FROM report_policy;
                         DELETE FROM lint_finding; DELETE FROM report;",
                    )
                    .await;
                let mut seen = HashSet::new();
                let mut expected: BTreeMap<(&str, &str), (u64, u64, u64)> = BTreeMap::new();
                let mut expected_reports: BTreeMap<&str, u64> = BTreeMap::new();
                let reports: Vec<NewReport> = cases.iter().map(to_report).collect();
                let mut outcomes = Vec::new();
                for batch in reports.chunks(batch_size) {
                    outcomes.extend(
                        store
                            .insert(batch.to_vec())
                            .await
                            .map_err(|e| TestCaseError::fail(e.to_string()))?,
                    );
                }
                for (case, outcome) in cases.iter().zip(&outcomes) {
                    let (organization, id, day, policies) = case;
                    let new = seen.insert((*organization, *id, *day));
                    prop_assert_eq!(new, matches!(outcome, Insertion::Imported(_)));
                    if !new {
                        continue;
                    }
                    let mut domains = HashSet::new();
                    for (kind, domain, successful, failed, failures) in policies {
                        let sums = expected
                            .entry((DOMAINS[*domain], POLICY_TYPES[*kind]))
                            .or_default();
                        sums.0 += successful;
                        sums.1 += failed;
                        sums.2 += failures.iter().map(|(_, count)| count).sum::<u64>();
                        domains.insert(DOMAINS[*domain]);
                    }
                    for domain in domains {
                        *expected_reports.entry(domain).or_default() += 1;
                    }
                }
                for domain in DOMAINS {
                    let summary = store
                        .summary(&SummaryQuery {
                            domain: domain.into(),
                            from: november(1),
                            to: shift(november(1), 6 * 86_400),
                        })
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(
                        summary.total.reports,
                        expected_reports.get(domain).copied().unwrap_or(0)
                    );
                    let got: BTreeMap<&str, (u64, u64, u64)> = summary
                        .total
                        .policies
                        .iter()
                        .map(|p| {
                            let detailed = p.failures.by_result_type.iter().map(|r| r.count).sum();
                            (p.policy_type.as_str(), (p.successful, p.failed, detailed))
                        })
                        .collect();
                    let want: BTreeMap<&str, (u64, u64, u64)> = expected
                        .iter()
                        .filter(|((d, _), _)| *d == domain)
                        .map(|((_, kind), sums)| (*kind, *sums))
                        .collect();
                    prop_assert_eq!(got, want);
                    let day_sums: u64 = summary.days.iter().map(|d| d.reports).sum();
                    prop_assert_eq!(day_sums, summary.total.reports);
                    // The days' failures by result type add up to the details of each type.
                    for totals in &summary.total.policies {
                        let by_day: u64 = summary
                            .days
                            .iter()
                            .flat_map(|d| &d.failures)
                            .filter(|f| f.policy_type == totals.policy_type)
                            .map(|f| f.count)
                            .sum();
                        let detailed: u64 =
                            totals.failures.by_result_type.iter().map(|r| r.count).sum();
                        prop_assert_eq!(by_day, detailed);
                    }
                }
                // The overview's counts (kept by triggers as reports come and go) are the
                // summaries' counts.
                let overview = store
                    .domains(&DomainsQuery { since: november(1) })
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let counted: BTreeMap<&str, u64> = overview
                    .iter()
                    .map(|d| (d.domain.as_str(), d.reports))
                    .collect();
                let want: BTreeMap<&str, u64> = expected_reports.into_iter().collect();
                prop_assert_eq!(counted, want);
                Ok(())
            })
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
