//! The summary of one domain: what `mta-sts reports summary --json` prints.

use std::collections::BTreeMap;

use mta_sts_core::report::{PolicyType, ResultType, Timestamp};
use mta_sts_core::time::UtcDate;
use serde::Serialize;

use super::{SummaryQuery, domain_key};

/// One domain over a range of days: per day and in total, successful and failed sessions by
/// policy type; in total, per policy type, the failures by result type, by reporting
/// organisation, by receiving MX and by sending IP.
///
/// Counts are never summed across policy types: a sender may count the same sessions under
/// `sts` and `tlsa` (Microsoft does), so each policy type has its own counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainSummary {
    /// The policy domain (lowercase, no final dot).
    pub domain: String,
    /// The first day covered: midnight UTC.
    pub from: Timestamp,
    /// The end of the last day covered: the next midnight UTC (exclusive).
    pub to: Timestamp,
    /// All the days together.
    pub total: SummaryTotal,
    /// The days with reports, oldest first.
    pub days: Vec<DaySummary>,
}

/// All the days of a [`DomainSummary`] together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryTotal {
    /// How many reports.
    pub reports: u64,
    /// Per policy type, in the order `sts`, `tlsa`, `no-policy-found`, then others by name.
    pub policies: Vec<PolicyTypeTotals>,
}

/// One policy type over the whole range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTypeTotals {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// Successful sessions (`total-successful-session-count`, summed over reports).
    pub successful: u64,
    /// Failed sessions (`total-failure-session-count`, summed over reports).
    pub failed: u64,
    /// The failures broken down.
    pub failures: FailureBreakdown,
}

/// Failures of one policy type broken down four ways, each largest first. By result type, MX
/// and IP they come from `failure-details` (which senders do not always make add up to the
/// summary); by organisation from the summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FailureBreakdown {
    /// By `result-type`.
    pub by_result_type: Vec<ResultTypeCount>,
    /// By reporting organisation (successful sessions too, for the failure rate).
    pub by_organization: Vec<OrganizationCount>,
    /// By `receiving-mx-hostname` (null: not given).
    pub by_receiving_mx: Vec<MxCount>,
    /// By `sending-mta-ip` (null: not given).
    pub by_sending_ip: Vec<SendingIpCount>,
}

/// Failed sessions of one result type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultTypeCount {
    /// `result-type`.
    pub result_type: ResultType,
    /// Failed sessions.
    pub count: u64,
}

/// The sessions one organisation reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationCount {
    /// `organization-name`.
    pub organization: String,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
}

/// Failed sessions towards one receiving MX.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxCount {
    /// `receiving-mx-hostname`; null when the details did not say.
    pub receiving_mx_hostname: Option<String>,
    /// Failed sessions.
    pub count: u64,
}

/// Failed sessions from one sending IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendingIpCount {
    /// `sending-mta-ip`; null when the details did not say.
    pub sending_mta_ip: Option<String>,
    /// Failed sessions.
    pub count: u64,
}

/// One UTC day of a [`DomainSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaySummary {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// How many reports started that day.
    pub reports: u64,
    /// Per policy type.
    pub policies: Vec<PolicyTypeCounts>,
    /// Failed sessions of that day by policy type and result type (from `failure-details`):
    /// what a chart stacks. Policy types in the order of `policies`, then largest first.
    pub failures: Vec<DayFailureCount>,
}

/// Failed sessions of one policy type and result type on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayFailureCount {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `result-type`.
    pub result_type: ResultType,
    /// Failed sessions (`failed-session-count`, summed).
    pub count: u64,
}

/// Sessions of one policy type on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTypeCounts {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
}

/// What the backends read for a summary, grouped as far as SQL groups it.
#[derive(Debug, Default)]
pub(super) struct SummaryRows {
    /// (day, policy type, organisation, successful, failed, reports counted here: those whose
    /// first entry for the domain has this policy type, and the successful and failed sessions
    /// of those first entries).
    pub policies: Vec<PolicyGroup>,
    /// (day, policy type, result type, receiving MX, sending IP, failed sessions).
    pub failures: Vec<FailureGroup>,
}

/// Sessions and reports of one (day, policy type, organisation).
pub(super) type PolicyGroup = (i64, String, String, i64, i64, i64, i64, i64);

/// Failed sessions of one (day, policy type, result type, receiving MX, sending IP).
pub(super) type FailureGroup = (i64, String, String, Option<String>, Option<String>, i64);

/// One day: its reports, (successful, failed) per policy type, and failed sessions per policy
/// type and result type.
#[derive(Default)]
struct DayCounts {
    reports: u64,
    policies: BTreeMap<TypeOrder, (u64, u64)>,
    failures: BTreeMap<TypeOrder, BTreeMap<String, u64>>,
}

/// The days a query covers: `first..end`, in days since 1970-01-01.
pub(super) fn day_range(query: &SummaryQuery) -> (i64, i64) {
    let first = query.from.day_number();
    let last = query.to.day_number().max(first);
    (first, last + 1)
}

/// Sums `rows` up for `query`.
pub(super) fn build(query: &SummaryQuery, rows: SummaryRows) -> DomainSummary {
    let (first, end) = day_range(query);
    let midnight = |day: i64| Timestamp::from_day_number(day).unwrap_or(query.from);
    let count = |value: i64| u64::try_from(value).unwrap_or(0);

    let mut days: BTreeMap<i64, DayCounts> = BTreeMap::new();
    let mut totals: BTreeMap<TypeOrder, TypeTotals> = BTreeMap::new();
    for (day, policy_type, organization, successful, failed, reports, _, _) in &rows.policies {
        let key = TypeOrder::of(policy_type);
        let day = days.entry(*day).or_default();
        day.reports += count(*reports);
        let counts = day.policies.entry(key.clone()).or_default();
        counts.0 += count(*successful);
        counts.1 += count(*failed);
        let total = totals.entry(key).or_default();
        total.successful += count(*successful);
        total.failed += count(*failed);
        let org = total.organizations.entry(organization.clone()).or_default();
        org.0 += count(*successful);
        org.1 += count(*failed);
    }
    for (day, policy_type, result_type, mx, ip, failed) in &rows.failures {
        let key = TypeOrder::of(policy_type);
        *days
            .entry(*day)
            .or_default()
            .failures
            .entry(key.clone())
            .or_default()
            .entry(result_type.clone())
            .or_default() += count(*failed);
        let total = totals.entry(key).or_default();
        *total.result_types.entry(result_type.clone()).or_default() += count(*failed);
        *total.mx.entry(mx.clone()).or_default() += count(*failed);
        *total.ips.entry(ip.clone()).or_default() += count(*failed);
    }

    let reports = days.values().map(|day| day.reports).sum();
    DomainSummary {
        domain: domain_key(&query.domain),
        from: midnight(first),
        to: midnight(end),
        total: SummaryTotal {
            reports,
            policies: totals
                .into_iter()
                .map(|(key, total)| total.finish(key.policy_type()))
                .collect(),
        },
        days: days
            .into_iter()
            .map(|(day, counts)| DaySummary {
                date: UtcDate::from_day_number(day)
                    .unwrap_or(query.from.utc_date())
                    .to_string(),
                reports: counts.reports,
                policies: counts
                    .policies
                    .into_iter()
                    .map(|(key, (successful, failed))| PolicyTypeCounts {
                        policy_type: key.policy_type(),
                        successful,
                        failed,
                    })
                    .collect(),
                failures: counts
                    .failures
                    .into_iter()
                    .flat_map(|(key, result_types)| {
                        let policy_type = key.policy_type();
                        largest_first(result_types, move |result_type, count| DayFailureCount {
                            policy_type: policy_type.clone(),
                            result_type: ResultType::from_wire(&result_type),
                            count,
                        })
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Policy types ordered as shown: `sts`, `tlsa`, `no-policy-found`, then others by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TypeOrder(u8, String);

impl TypeOrder {
    pub(super) fn of(policy_type: &str) -> TypeOrder {
        let rank = match PolicyType::from_wire(policy_type) {
            PolicyType::Sts => 0,
            PolicyType::Tlsa => 1,
            PolicyType::NoPolicyFound => 2,
            _ => 3,
        };
        TypeOrder(rank, policy_type.to_string())
    }

    pub(super) fn policy_type(&self) -> PolicyType {
        PolicyType::from_wire(&self.1)
    }
}

#[derive(Default)]
struct TypeTotals {
    successful: u64,
    failed: u64,
    organizations: BTreeMap<String, (u64, u64)>,
    result_types: BTreeMap<String, u64>,
    mx: BTreeMap<Option<String>, u64>,
    ips: BTreeMap<Option<String>, u64>,
}

impl TypeTotals {
    fn finish(self, policy_type: PolicyType) -> PolicyTypeTotals {
        let mut by_organization: Vec<OrganizationCount> = self
            .organizations
            .into_iter()
            .map(|(organization, (successful, failed))| OrganizationCount {
                organization,
                successful,
                failed,
            })
            .collect();
        // Largest first; ties keep the name order the map gave (a stable sort).
        by_organization.sort_by_key(|o| std::cmp::Reverse(o.failed));
        PolicyTypeTotals {
            policy_type,
            successful: self.successful,
            failed: self.failed,
            failures: FailureBreakdown {
                by_result_type: largest_first(self.result_types, |result_type, count| {
                    ResultTypeCount {
                        result_type: ResultType::from_wire(&result_type),
                        count,
                    }
                }),
                by_organization,
                by_receiving_mx: largest_first(self.mx, |receiving_mx_hostname, count| MxCount {
                    receiving_mx_hostname,
                    count,
                }),
                by_sending_ip: largest_first(self.ips, |sending_mta_ip, count| SendingIpCount {
                    sending_mta_ip,
                    count,
                }),
            },
        }
    }
}

/// The entries of `counts` made into `T`s, largest count first, ties in key order.
pub(super) fn largest_first<K, T>(counts: BTreeMap<K, u64>, make: impl Fn(K, u64) -> T) -> Vec<T> {
    let mut entries: Vec<(K, u64)> = counts.into_iter().collect();
    entries.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    entries
        .into_iter()
        .map(|(key, count)| make(key, count))
        .collect()
}
