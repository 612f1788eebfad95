//! A year of generated reports, for benchmarks of a store with many reports (the store's own
//! `summary_1m` bench, and end-to-end benchmarks of pages built on it).
//!
//! The reports are spread as a receiving side sees them: 500 domains with Zipf-distributed
//! volume (the largest, [`domain`]`(0)`, gets 15% of all reports), 40 reporting organisations
//! (also Zipf: a few large providers send most), 365 days ending on [`LAST_DAY`],
//! Microsoft-style reports counting the same sessions under `sts` and `tlsa`, and failure
//! details on 30% of the policies. They go in as a year of intake would put them: day after day
//! (each report received the day after its period), so the last reports stored are the latest.
//! Every run generates the same reports.

use std::time::{Duration, Instant};

use mta_sts_core::report::{
    AppliedPolicy, DateRange, FailureDetail, PolicyResult, PolicyType, Report, ResultType, Summary,
    Timestamp,
};

use crate::StoreError;
use crate::reports::{NewReport, ReportStore, Source};

/// How many policy domains the reports are spread over.
pub const DOMAINS: usize = 500;
/// How many organisations report.
pub const ORGANIZATIONS: usize = 40;
/// How many days the reports cover.
pub const DAYS: i64 = 365;
/// How many reports [`fill`] stores per batch (as intake sends them).
pub const BATCH: usize = 1000;
/// 2026-11-30T00:00:00Z in Unix seconds: the last day of the year of reports.
pub const LAST_DAY: i64 = 1_796_083_200;

const RESULT_TYPES: [&str; 5] = [
    "starttls-not-supported",
    "certificate-expired",
    "certificate-host-mismatch",
    "validation-failure",
    "sts-policy-fetch-error",
];

/// The policy domain number `index` (0 is the largest): `domain{index}.example`.
pub fn domain(index: usize) -> String {
    format!("domain{index}.example")
}

/// The reporting organisation number `index` (0 and 1 are Google and Microsoft).
pub fn organization(index: usize) -> String {
    match index {
        0 => "google.com".into(),
        1 => "Microsoft Corporation".into(),
        _ => format!("reporter{index}.example"),
    }
}

/// Deterministic noise (xorshift), so every run stores the same reports.
#[derive(Debug, Clone)]
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Cumulative Zipf weights over `n` items.
fn zipf(n: usize) -> Vec<f64> {
    let mut total = 0.0;
    let mut cumulative: Vec<f64> = (1..=n)
        .map(|rank| {
            total += 1.0 / rank as f64;
            total
        })
        .collect();
    for weight in &mut cumulative {
        *weight /= total;
    }
    cumulative
}

fn pick(cumulative: &[f64], noise: &mut Noise) -> usize {
    let u = noise.unit();
    cumulative
        .partition_point(|w| *w < u)
        .min(cumulative.len().saturating_sub(1))
}

/// # Panics
/// Never for the times generated here: within the year before [`LAST_DAY`] or the day after.
fn timestamp(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds)
        .unwrap_or_else(|| panic!("the generated time {seconds} is out of range"))
}

/// The generator of the year of reports.
#[derive(Debug, Clone)]
pub struct BulkReports {
    noise: Noise,
    domains: Vec<f64>,
    organizations: Vec<f64>,
    next_id: u64,
    /// How many reports the year holds: report n covers day n * DAYS / total of it.
    total: u64,
    /// The day every report covers instead, for the day after the year.
    day: Option<i64>,
}

impl BulkReports {
    /// The year of `total` reports, oldest first.
    pub fn year(total: u64) -> BulkReports {
        BulkReports {
            noise: Noise(0x9e37_79b9_7f4a_7c15),
            domains: zipf(DOMAINS),
            organizations: zipf(ORGANIZATIONS),
            next_id: 0,
            total: total.max(1),
            day: None,
        }
    }

    /// Reports of the day after the year (other noise, other report ids): what intake adds to
    /// a full store.
    pub fn next_day() -> BulkReports {
        BulkReports {
            noise: Noise(0x2545_f491_4f6c_dd1d),
            next_id: 10_000_000,
            day: Some(LAST_DAY + 86_400),
            ..BulkReports::year(1)
        }
    }

    /// The next report.
    pub fn report(&mut self) -> NewReport {
        let noise = &mut self.noise;
        let domain_index = pick(&self.domains, noise);
        let organization_index = pick(&self.organizations, noise);
        let day = self.day.unwrap_or_else(|| {
            let day_of_year = (self.next_id * DAYS as u64 / self.total) as i64;
            LAST_DAY - (DAYS - 1 - day_of_year.min(DAYS - 1)) * 86_400
        });
        let policy_domain = domain(domain_index);
        let successful = noise.below(5000);
        let mut failure_details = Vec::new();
        if noise.below(10) < 3 {
            for _ in 0..=noise.below(3) {
                failure_details.push(FailureDetail {
                    result_type: ResultType::from_wire(
                        RESULT_TYPES[noise.below(RESULT_TYPES.len() as u64) as usize],
                    ),
                    sending_mta_ip: Some(format!("192.0.2.{}", noise.below(200))),
                    receiving_mx_hostname: Some(format!(
                        "mx{}.{policy_domain}",
                        noise.below(3) + 1
                    )),
                    receiving_mx_helo: None,
                    receiving_ip: None,
                    failed_session_count: noise.below(20) + 1,
                    additional_information: None,
                    failure_reason_code: None,
                });
            }
        }
        let failed = failure_details.iter().map(|d| d.failed_session_count).sum();
        let entry = |policy_type: PolicyType| PolicyResult {
            policy: AppliedPolicy {
                policy_type,
                policy_string: vec![
                    "version: STSv1".into(),
                    "mode: testing".into(),
                    format!("mx: *.{policy_domain}"),
                    "max_age: 604800".into(),
                ],
                policy_domain: Some(policy_domain.clone()),
                mx_host: vec![format!("*.{policy_domain}")],
            },
            summary: Summary {
                total_successful_session_count: successful,
                total_failure_session_count: failed,
            },
            failure_details: failure_details.clone(),
        };
        let mut policies = vec![entry(PolicyType::Sts)];
        if organization_index == 1 {
            // Microsoft counts the same sessions under both policies.
            policies.push(entry(PolicyType::Tlsa));
        }
        self.next_id += 1;
        let organization_name = organization(organization_index);
        let report = Report {
            contact_info: Some(format!("tlsrpt@{organization_name}")),
            organization_name,
            date_range: DateRange {
                start: timestamp(day),
                end: timestamp(day + 86_399),
            },
            report_id: format!("{}-{}@bench", self.next_id, day),
            policies,
        };
        // A report of strings and numbers always serializes.
        let json = serde_json::to_vec(&report).unwrap_or_default();
        NewReport {
            report,
            json,
            gzip: None,
            findings: Vec::new(),
            received_at: timestamp(day + 86_400 + 3600),
            source: Source::Mail,
        }
    }
}

/// Stores the year of `total` reports into `store` in batches of [`BATCH`], calling
/// `progress(stored, time spent inserting the batch)` after each; returns the time spent
/// inserting (generating the reports not counted).
pub async fn fill(
    store: &ReportStore,
    total: u64,
    mut progress: impl FnMut(u64, Duration),
) -> Result<Duration, StoreError> {
    let mut generator = BulkReports::year(total);
    let mut inserting = Duration::ZERO;
    let mut done = 0_u64;
    while done < total {
        let count = (BATCH as u64).min(total - done);
        let batch: Vec<NewReport> = (0..count).map(|_| generator.report()).collect();
        let started = Instant::now();
        store.insert(batch).await?;
        let elapsed = started.elapsed();
        inserting += elapsed;
        done += count;
        progress(done, elapsed);
    }
    Ok(inserting)
}
