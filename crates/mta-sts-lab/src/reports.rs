//! Realistic TLS-RPT aggregate reports (RFC 8460 §4) about a lab domain: one a day from each of
//! several organisations, shaped as Google, Microsoft and Mail.ru write theirs, with chosen
//! failures; deterministic from a seed. What the rollout advisor's scenarios, the dashboard's
//! tests and `mta-sts demo --serve` fill their stores with.
//!
//! The shapes follow real reports (see `crates/mta-sts-core/tests/fixtures/reports/`):
//! - Google: `Google Inc.`, times with `Z`, the day from 00:00:00 to 23:59:59, a `policy-string`
//!   and `mx-host`, report id `START_DOMAIN`;
//! - Microsoft: `Microsoft Corporation`, times without a zone, every `sts` entry repeated as a
//!   `tlsa` entry with the same counts (the same sessions counted twice), report id
//!   `NUMBER+DOMAIN`;
//! - Mail.ru: `Mail.Ru`, no `policy-string`, the day ending at the next midnight, report id
//!   `UNIX.DOMAIN`.

use std::fmt::Write as _;

use mta_sts_core::report::ResultType;
use mta_sts_core::time::UtcDate;
use serde_json::{Value, json};

/// A reporting organisation, by the shape of its reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Organization {
    /// `Google Inc.`
    Google,
    /// `Microsoft Corporation`, with its duplicate `tlsa` entry.
    Microsoft,
    /// `Mail.Ru`, without `policy-string`.
    MailRu,
}

impl Organization {
    /// Every organisation the generator knows.
    pub const ALL: [Organization; 3] = [
        Organization::Google,
        Organization::Microsoft,
        Organization::MailRu,
    ];

    /// Its `organization-name`, as it writes it.
    pub fn name(self) -> &'static str {
        match self {
            Organization::Google => "Google Inc.",
            Organization::Microsoft => "Microsoft Corporation",
            Organization::MailRu => "Mail.Ru",
        }
    }

    fn contact(self) -> &'static str {
        match self {
            Organization::Google => "smtp-tls-reporting@google.com",
            Organization::Microsoft => "tlsrpt-noreply@microsoft.com",
            Organization::MailRu => "tlsrpt@corp.mail.ru",
        }
    }

    /// The sending address its failure details name (documentation ranges, RFC 5737).
    fn sending_ip(self) -> &'static str {
        match self {
            Organization::Google => "192.0.2.10",
            Organization::Microsoft => "198.51.100.20",
            Organization::MailRu => "203.0.113.30",
        }
    }

    fn file_tag(self) -> &'static str {
        match self {
            Organization::Google => "google",
            Organization::Microsoft => "microsoft",
            Organization::MailRu => "mailru",
        }
    }
}

/// Sessions that failed one way towards one MX host, reported on a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFailure {
    /// Why they failed (`certificate-host-mismatch`).
    pub result_type: ResultType,
    /// The `receiving-mx-hostname`.
    pub receiving_mx: String,
    /// Failed sessions each organisation reports a day, about (±20 %, at least 1).
    pub sessions_per_day: u64,
    /// The first day.
    pub first_day: UtcDate,
    /// The last day.
    pub last_day: UtcDate,
    /// Who reports them (empty: every organisation of the plan).
    pub organizations: Vec<Organization>,
}

/// Reports to generate: who reports on which days, the policy senders apply, what fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPlan {
    /// The policy domain.
    pub domain: String,
    /// The first day reported.
    pub first_day: UtcDate,
    /// How many days, from the first.
    pub days: u32,
    /// The organisations reporting; each sends one report a day.
    pub organizations: Vec<Organization>,
    /// Successful sessions each organisation reports a day, about (±20 %).
    pub sessions_per_day: u64,
    /// The policy file senders apply, from each day given on (ordered by day); before the
    /// first, they report `no-policy-found`.
    pub policies: Vec<(UtcDate, String)>,
    /// Failures.
    pub failures: Vec<PlannedFailure>,
    /// An organisation that stops reporting from a day on (a reporter going silent).
    pub silent_from: Vec<(Organization, UtcDate)>,
    /// The seed of the session counts: the same plan and seed give the same reports.
    pub seed: u64,
}

/// One generated report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedReport {
    /// Who sent it.
    pub organization: Organization,
    /// The day it covers.
    pub day: UtcDate,
    /// A file name for it, as a sender would attach it (`google!example.test!DAY.json`).
    pub file_name: String,
    /// The report, JSON.
    pub json: String,
}

impl ReportPlan {
    /// A plan for `domain` over `days` days from `first_day`: every organisation, about 200
    /// successful sessions each a day, `no-policy-found` (add [`Self::policies`]), no failures.
    pub fn new(domain: &str, first_day: UtcDate, days: u32) -> ReportPlan {
        ReportPlan {
            domain: domain.to_ascii_lowercase(),
            first_day,
            days,
            organizations: Organization::ALL.to_vec(),
            sessions_per_day: 200,
            policies: Vec::new(),
            failures: Vec::new(),
            silent_from: Vec::new(),
            seed: 1,
        }
    }

    /// Senders apply `policy` (a policy file's text) from `day` on.
    pub fn with_policy(mut self, day: UtcDate, policy: &str) -> ReportPlan {
        self.policies.push((day, policy.to_string()));
        self.policies.sort_by_key(|(day, _)| *day);
        self
    }

    /// Adds a failure.
    pub fn with_failure(mut self, failure: PlannedFailure) -> ReportPlan {
        self.failures.push(failure);
        self
    }

    /// Every report of the plan, by day, then organisation.
    pub fn reports(&self) -> Vec<GeneratedReport> {
        let mut random = SplitMix64(self.seed);
        let mut reports = Vec::new();
        for offset in 0..i64::from(self.days) {
            let Some(day) = UtcDate::from_day_number(self.first_day.day_number() + offset) else {
                break;
            };
            for &organization in &self.organizations {
                let silent = self
                    .silent_from
                    .iter()
                    .any(|(who, from)| *who == organization && day >= *from);
                if silent {
                    continue;
                }
                reports.push(self.report(organization, day, &mut random));
            }
        }
        reports
    }

    /// The policy file applied on `day`, if any.
    fn policy_on(&self, day: UtcDate) -> Option<&str> {
        self.policies
            .iter()
            .rev()
            .find(|(from, _)| *from <= day)
            .map(|(_, text)| text.as_str())
    }

    fn report(
        &self,
        organization: Organization,
        day: UtcDate,
        random: &mut SplitMix64,
    ) -> GeneratedReport {
        let successful = random.around(self.sessions_per_day, 0);
        let details: Vec<Value> = self
            .failures
            .iter()
            .filter(|f| (f.first_day..=f.last_day).contains(&day))
            .filter(|f| f.organizations.is_empty() || f.organizations.contains(&organization))
            .map(|f| {
                json!({
                    "result-type": f.result_type.as_str(),
                    "sending-mta-ip": organization.sending_ip(),
                    "receiving-mx-hostname": f.receiving_mx,
                    "failed-session-count": random.around(f.sessions_per_day, 1),
                })
            })
            .collect();
        let failed: u64 = details
            .iter()
            .filter_map(|d| d["failed-session-count"].as_u64())
            .sum();
        let policy_text = self.policy_on(day);
        let lines: Vec<&str> = policy_text.map(|t| t.lines().collect()).unwrap_or_default();
        let mx: Vec<&str> = lines
            .iter()
            .filter_map(|line| line.strip_prefix("mx:"))
            .map(str::trim)
            .collect();
        let mut policy = match policy_text {
            Some(_) => {
                json!({ "policy-type": "sts", "policy-string": lines, "policy-domain": self.domain })
            }
            None => json!({ "policy-type": "no-policy-found", "policy-domain": self.domain }),
        };
        if organization != Organization::Microsoft && policy_text.is_some() {
            policy["mx-host"] = json!(mx);
        }
        if organization == Organization::MailRu
            && let Some(fields) = policy.as_object_mut()
        {
            // Mail.ru leaves the policy text out.
            fields.remove("policy-string");
        }
        let mut entry = json!({
            "policy": policy,
            "summary": {
                "total-successful-session-count": successful,
                "total-failure-session-count": failed,
            },
        });
        if !details.is_empty() {
            entry["failure-details"] = json!(details);
        }
        let mut policies = vec![entry.clone()];
        if organization == Organization::Microsoft && policy_text.is_some() {
            // Microsoft counts the same sessions again under `tlsa`, with a TLSA string.
            entry["policy"] = json!({
                "policy-type": "tlsa",
                "policy-string": [
                    "[\"3 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\"]"
                ],
                "policy-domain": self.domain,
            });
            policies.push(entry);
        }
        let date = day.to_string();
        let (start, end, report_id) = match organization {
            Organization::Google => (
                format!("{date}T00:00:00Z"),
                format!("{date}T23:59:59Z"),
                format!("{date}T00:00:00Z_{}", self.domain),
            ),
            Organization::Microsoft => (
                format!("{date}T00:00:00"),
                format!("{date}T23:59:59"),
                // Microsoft's ids are .NET ticks: 100 ns since 0001-01-01.
                format!(
                    "{}+{}",
                    (day.start().unix_seconds() + 62_135_596_800) * 10_000_000
                        + random.below(10_000_000),
                    self.domain
                ),
            ),
            Organization::MailRu => {
                let next = UtcDate::from_day_number(day.day_number() + 1).unwrap_or(day);
                (
                    format!("{date}T00:00:00Z"),
                    format!("{next}T00:00:00Z"),
                    format!("{}.{}", day.start().unix_seconds(), self.domain),
                )
            }
        };
        let report = json!({
            "organization-name": organization.name(),
            "date-range": { "start-datetime": start, "end-datetime": end },
            "contact-info": organization.contact(),
            "report-id": report_id,
            "policies": policies,
        });
        let mut file_name = String::new();
        let _ = write!(
            file_name,
            "{}!{}!{date}.json",
            organization.file_tag(),
            self.domain
        );
        GeneratedReport {
            organization,
            day,
            file_name,
            json: serde_json::to_string_pretty(&report).unwrap_or_default(),
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a few lines for reproducible counts, where a crate of
/// random number generators would be a dependency for nothing else.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 for 0).
    fn below(&mut self, bound: u64) -> i64 {
        if bound == 0 {
            return 0;
        }
        i64::try_from(self.next() % bound).unwrap_or(0)
    }

    /// `mean` ± 20 %, at least `floor`.
    fn around(&mut self, mean: u64, floor: u64) -> u64 {
        let spread = mean / 5;
        let low = mean - spread;
        let value = low + u64::try_from(self.below(2 * spread + 1)).unwrap_or(0);
        value.max(floor)
    }
}

#[cfg(test)]
mod tests;
