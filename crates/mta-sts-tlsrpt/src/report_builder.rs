//! From a day's counts to RFC 8460 reports: [`build_day`] turns what the collector counted for
//! one UTC day ([`SessionCounts`]) into one report per recipient domain and TLSRPT record, ready
//! to deliver: the JSON, its gzip, the RFC 8460 §5.3.1 file name and the destinations.
//!
//! Pure: no I/O and no clock; the day and the settings are given, so a rebuild of the same day
//! from the same counts gives the same reports, byte for byte (report-ids included).
//!
//! What a report holds, and where it departs from tlsrpt-reporter 0.6.0:
//! - `date-range` is the whole UTC day, `00:00:00Z` to `23:59:59Z`, as RFC 8460 §4.4's example
//!   and tlsrpt-reporter write it (RFC 8460 §4.1: reports cover a full UTC day).
//! - `report-id` is tlsrpt-reporter's form `<day>T00:00:00Z_idx<n>_<domain>`, `n` counting the
//!   domain's reports of the day from 1 in record order; a split report's parts continue the count.
//! - `policy-domain` is always present: a `no-policy-found` count without one gets the recipient
//!   domain (tlsrpt-reporter #51 left it out).
//! - Sessions under one record reach every `rua` of it with the same report; a `rua` that is not
//!   a valid `mailto:` or `https:` URI is skipped with a sentence and the others still get the
//!   report (tlsrpt-reporter #54 crashed; 0.6.0 drops every destination of the record).
//! - Empty `failure-details` are left out rather than written as `[]`.

mod settings;
mod suppression;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use mta_sts_core::SessionCounts;
use mta_sts_core::domain;
use mta_sts_core::report::{
    DateRange, FailureDetail, MAX_REPORT_SIZE, PolicyResult, PolicyType, Report,
};
use mta_sts_core::time::UtcDate;
use mta_sts_core::tlsrpt_record::{self, ReportUri};

pub use settings::{BuildSettings, BuildSettingsError, MIN_MAX_SIZE};
pub use suppression::SuppressionList;

use crate::TlsRptError;

/// The reports built for one day, and what was not reported and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReports {
    /// The UTC day reported on.
    pub day: UtcDate,
    /// The submitter domain the reports name (file names, `TLS-Report-Submitter`).
    pub submitter: String,
    /// The reports, by recipient domain, then TLSRPT record, then part.
    pub reports: Vec<BuiltReport>,
    /// The counts that gave no report, each with the reason.
    pub skipped: Vec<Skipped>,
}

/// One report, ready to deliver to each of its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltReport {
    /// The recipient domain reported on (lowercase A-labels).
    pub domain: String,
    /// The TLSRPT record its destinations come from, as the MTA saw it.
    pub tlsrpt_record: String,
    /// The running number of the domain's reports of the day, from 1: in the report-id and as
    /// the file name's unique-id.
    pub index: u32,
    /// Which part it is, when the domain's report was split to stay under `max_size`.
    pub part: Option<Part>,
    /// The report itself.
    pub report: Report,
    /// The report as JSON (what `application/tlsrpt+json` carries).
    pub json: Vec<u8>,
    /// The JSON gzip-compressed (what `application/tlsrpt+gzip` carries).
    pub gzip: Vec<u8>,
    /// The RFC 8460 §5.3.1 file name without its extension:
    /// `submitter!policy-domain!begin!end!index`.
    pub file_stem: String,
    /// Where to send it, in record order, suppressed destinations removed.
    pub destinations: Vec<ReportUri>,
    /// What the reader of a build log should know: destinations skipped or suppressed, policies
    /// left out, a split.
    pub notes: Vec<Note>,
}

impl BuiltReport {
    /// The file name of the gzip form (RFC 8460 §5.3.1, extension `json.gz`).
    pub fn gzip_file_name(&self) -> String {
        format!("{}.json.gz", self.file_stem)
    }

    /// The file name of the plain JSON form (RFC 8460 §5.3.1, extension `json`).
    pub fn json_file_name(&self) -> String {
        format!("{}.json", self.file_stem)
    }
}

/// The place of one report among the parts a split report became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// This part, counted from 1.
    pub number: usize,
    /// How many parts there are.
    pub of: usize,
}

/// Something worth knowing about a built (or skipped) report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// A `rua` destination of the record was not used: not a `mailto:` or `https:` URI, a bare
    /// address, listed twice, ...
    DestinationSkipped {
        /// The record reader's sentence, naming the destination.
        problem: String,
        /// What the domain should publish instead, where obvious.
        hint: Option<String>,
    },
    /// A destination is on the suppression list.
    DestinationSuppressed {
        /// The destination.
        destination: String,
    },
    /// Counts under a `policy-type` RFC 8460 does not define were left out: the report lint
    /// refuses such a type, and receivers could not read it.
    PolicyTypeUnknown {
        /// The type as counted.
        policy_type: String,
    },
    /// The report was split to stay under `max_size`.
    Split {
        /// This part.
        part: Part,
        /// The limit, in bytes of JSON.
        max_size: usize,
    },
    /// One policy entry alone is larger than `max_size`, so its part is over the limit: sent
    /// alone rather than not at all.
    OverMaxSize {
        /// The report's JSON size.
        size: usize,
        /// The limit.
        max_size: usize,
    },
    /// One policy entry alone is larger than [`MAX_REPORT_SIZE`] and was left out: no receiver
    /// reading reports with this toolkit's limit would read it.
    PolicyTooLarge {
        /// The policy entry's JSON size.
        size: usize,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::DestinationSkipped { problem, hint } => {
                write!(
                    f,
                    "a destination of the TLSRPT record was skipped: {problem}"
                )?;
                if let Some(hint) = hint {
                    write!(f, " (the domain should {hint})")?;
                }
                Ok(())
            }
            Note::DestinationSuppressed { destination } => write!(
                f,
                "the destination {destination} is on the suppression list and gets no report"
            ),
            Note::PolicyTypeUnknown { policy_type } => write!(
                f,
                "sessions counted under the policy type `{policy_type}`, which RFC 8460 does not \
                 define, were left out of the report"
            ),
            Note::Split { part, max_size } => write!(
                f,
                "the report is part {} of {}, split to stay under {max_size} bytes",
                part.number, part.of
            ),
            Note::OverMaxSize { size, max_size } => write!(
                f,
                "the report is {size} bytes, over the {max_size} byte limit, because one policy \
                 entry alone is that large; it is sent on its own"
            ),
            Note::PolicyTooLarge { size } => write!(
                f,
                "a policy entry of {size} bytes, over the {MAX_REPORT_SIZE} bytes any report may \
                 have, was left out"
            ),
        }
    }
}

/// Counts that gave no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The recipient domain, as counted.
    pub domain: String,
    /// The TLSRPT record, as counted.
    pub tlsrpt_record: String,
    /// Why no report was built.
    pub reason: SkipReason,
    /// What else was noted on the way (skipped or suppressed destinations, ...).
    pub notes: Vec<Note>,
}

/// Why counts gave no report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The recipient domain is not a host name, so it can have no TLSRPT record and the report
    /// file name could not be written safely.
    DomainInvalid {
        /// What is wrong with it.
        problem: String,
    },
    /// The recipient domain is on the suppression list.
    DomainSuppressed,
    /// The MTA found no TLSRPT record for the domain: it asked for no reports (RFC 8460 §3).
    NoRecord,
    /// The TLSRPT record does not begin with `v=TLSRPTv1` or has no `rua=` (RFC 8460 §3: such
    /// a record is discarded).
    RecordUnusable {
        /// The record reader's sentence.
        problem: String,
    },
    /// Every destination of the record was skipped or suppressed (see the notes).
    NoDestinations,
    /// No session failed and `only_with_failures` is on.
    NoFailures,
    /// No policy entry could be reported (see the notes).
    NoPolicies,
}

impl SkipReason {
    /// A stable name for scripts: `domain-invalid`, `domain-suppressed`, `no-record`,
    /// `record-unusable`, `no-destinations`, `no-failures` or `no-policies`.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::DomainInvalid { .. } => "domain-invalid",
            SkipReason::DomainSuppressed => "domain-suppressed",
            SkipReason::NoRecord => "no-record",
            SkipReason::RecordUnusable { .. } => "record-unusable",
            SkipReason::NoDestinations => "no-destinations",
            SkipReason::NoFailures => "no-failures",
            SkipReason::NoPolicies => "no-policies",
        }
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no report for {} (TLSRPT record `{}`): ",
            self.domain, self.tlsrpt_record
        )?;
        match &self.reason {
            SkipReason::DomainInvalid { problem } => {
                write!(f, "the domain is not a host name ({problem})")
            }
            SkipReason::DomainSuppressed => f.write_str("the domain is on the suppression list"),
            SkipReason::NoRecord => {
                f.write_str("the domain publishes no TLSRPT record, so it asked for no reports")
            }
            SkipReason::RecordUnusable { problem } => {
                write!(f, "the record cannot be used ({problem})")
            }
            SkipReason::NoDestinations => {
                f.write_str("none of its destinations can be used (each is named in a note)")
            }
            SkipReason::NoFailures => f.write_str(
                "no session failed, and reports are built only when some did (only_with_failures)",
            ),
            SkipReason::NoPolicies => {
                f.write_str("no policy entry could be reported (each is named in a note)")
            }
        }
    }
}

/// Builds the reports of `day` from its counts: one report per recipient domain and TLSRPT
/// record (every `rua` of the record gets the same report), split into several when it would
/// pass `max_size`. Counts for the same domain, record and policy are added together, so the
/// counts may come in any order and from several collectors.
///
/// Fails only on settings that cannot give valid reports; everything about the counts that
/// prevents a report is a [`Skipped`] with its reason.
pub fn build_day(
    day: UtcDate,
    counts: &[SessionCounts],
    settings: &BuildSettings,
) -> Result<DayReports, TlsRptError> {
    let resolved = settings.resolve()?;
    let mut day_reports = DayReports {
        day,
        submitter: resolved.submitter.clone(),
        reports: Vec::new(),
        skipped: Vec::new(),
    };

    // Grouped by (domain, record), sorted, so the report order and the report-ids are stable.
    let mut groups: BTreeMap<(String, &str), Vec<&SessionCounts>> = BTreeMap::new();
    for count in counts {
        let domain = count.domain.trim_end_matches('.').to_ascii_lowercase();
        groups
            .entry((domain, count.tlsrpt_record.as_str()))
            .or_default()
            .push(count);
    }

    let mut next_index: BTreeMap<String, u32> = BTreeMap::new();
    for ((domain, record), group) in groups {
        let skip = |reason, notes| Skipped {
            domain: domain.clone(),
            tlsrpt_record: record.to_owned(),
            reason,
            notes,
        };
        if let Err(problem) = domain::check_a_label_domain(&domain) {
            day_reports.skipped.push(skip(
                SkipReason::DomainInvalid {
                    problem: problem.kind.to_string(),
                },
                Vec::new(),
            ));
            continue;
        }
        if settings.suppress.suppresses_domain(&domain) {
            day_reports
                .skipped
                .push(skip(SkipReason::DomainSuppressed, Vec::new()));
            continue;
        }
        if record.trim().is_empty() {
            day_reports
                .skipped
                .push(skip(SkipReason::NoRecord, Vec::new()));
            continue;
        }
        let (destinations, mut notes) = match destinations(record, &settings.suppress) {
            Ok(found) => found,
            Err(problem) => {
                day_reports
                    .skipped
                    .push(skip(SkipReason::RecordUnusable { problem }, Vec::new()));
                continue;
            }
        };
        if destinations.is_empty() {
            day_reports
                .skipped
                .push(skip(SkipReason::NoDestinations, notes));
            continue;
        }
        let policies = merged_policies(&domain, &group, &mut notes);
        if policies.is_empty() {
            day_reports
                .skipped
                .push(skip(SkipReason::NoPolicies, notes));
            continue;
        }
        if settings.only_with_failures
            && policies
                .iter()
                .all(|p| p.summary.total_failure_session_count == 0)
        {
            day_reports
                .skipped
                .push(skip(SkipReason::NoFailures, notes));
            continue;
        }

        let header = ReportHeader {
            settings,
            day,
            domain: &domain,
        };
        let parts = split(&header, policies, resolved.max_size, &mut notes);
        if parts.is_empty() {
            day_reports
                .skipped
                .push(skip(SkipReason::NoPolicies, notes));
            continue;
        }
        let of = parts.len();
        for (number, policies) in parts.into_iter().enumerate() {
            let counter = next_index.entry(domain.clone()).or_insert(0);
            *counter += 1;
            let index = *counter;
            let mut report_notes = notes.clone();
            let part = (of > 1).then_some(Part {
                number: number + 1,
                of,
            });
            if let Some(part) = part {
                report_notes.push(Note::Split {
                    part,
                    max_size: resolved.max_size,
                });
            }
            let report = header.report(index, policies);
            let json = serde_json::to_vec(&report)
                .map_err(|error| TlsRptError::ReportEncoding(error.into()))?;
            if json.len() > resolved.max_size {
                report_notes.push(Note::OverMaxSize {
                    size: json.len(),
                    max_size: resolved.max_size,
                });
            }
            let gzip = gzip(&json)?;
            day_reports.reports.push(BuiltReport {
                file_stem: file_stem(&resolved.submitter, &domain, day, index),
                domain: domain.clone(),
                tlsrpt_record: record.to_owned(),
                index,
                part,
                report,
                json,
                gzip,
                destinations: destinations.clone(),
                notes: report_notes,
            });
        }
    }
    Ok(day_reports)
}

/// The fixed part of a domain's reports of the day.
struct ReportHeader<'a> {
    settings: &'a BuildSettings,
    day: UtcDate,
    domain: &'a str,
}

impl ReportHeader<'_> {
    fn report(&self, index: u32, policies: Vec<PolicyResult>) -> Report {
        Report {
            organization_name: self.settings.organization_name.trim().to_owned(),
            // RFC 8460 §4.1 and §4.4's example: a report covers one UTC day, 00:00:00Z to
            // 23:59:59Z.
            date_range: DateRange {
                start: self.day.start(),
                end: self.day.last_second(),
            },
            contact_info: Some(self.settings.contact_info.trim().to_owned()),
            report_id: report_id(self.day, index, self.domain),
            policies,
        }
    }

    /// The JSON size of a report with no policies and the widest index: what every part costs
    /// besides its policy entries.
    fn size_without_policies(&self) -> Result<usize, serde_json::Error> {
        Ok(serde_json::to_vec(&self.report(u32::MAX, Vec::new()))?.len())
    }
}

/// tlsrpt-reporter's report-id: `<day>T00:00:00Z_idx<n>_<domain>`; unique per organisation,
/// which is what receivers deduplicate on (RFC 8460 §4.4: `report-id` is unique).
fn report_id(day: UtcDate, index: u32, domain: &str) -> String {
    format!("{}_idx{index}_{domain}", day.start())
}

/// RFC 8460 §5.3.1: `sender "!" policy-domain "!" begin-timestamp "!" end-timestamp
/// [ "!" unique-id ]`, the timestamps in seconds since the epoch, unique-id `1*(ALPHA / DIGIT)`.
fn file_stem(submitter: &str, domain: &str, day: UtcDate, index: u32) -> String {
    format!(
        "{submitter}!{domain}!{}!{}!{index}",
        day.start().unix_seconds(),
        day.last_second().unix_seconds()
    )
}

fn gzip(json: &[u8]) -> Result<Vec<u8>, TlsRptError> {
    // RFC 8460 §5.3.1: gzip is what reports are delivered as (`application/tlsrpt+gzip`).
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    encoder
        .write_all(json)
        .map_err(TlsRptError::ReportEncoding)?;
    encoder.finish().map_err(TlsRptError::ReportEncoding)
}

/// The record's usable destinations, less the suppressed ones, and a note for each destination
/// not used; `Err` with a sentence when the record cannot be used at all.
fn destinations(
    record: &str,
    suppress: &SuppressionList,
) -> Result<(Vec<ReportUri>, Vec<Note>), String> {
    let read = tlsrpt_record::read_for_sending(record);
    let Some(parsed) = read.parsed else {
        return Err(read.first_error().map_or_else(
            || "it has no usable `rua=`".to_owned(),
            |d| d.message.clone(),
        ));
    };
    let mut notes: Vec<Note> = read
        .diagnostics
        .iter()
        .filter(|d| d.severity != mta_sts_core::Severity::Info)
        .map(|d| Note::DestinationSkipped {
            problem: d.message.clone(),
            hint: d.hint.clone(),
        })
        .collect();
    let mut destinations = Vec::new();
    for uri in parsed.rua {
        if suppress.suppresses_destination(&uri) {
            notes.push(Note::DestinationSuppressed {
                destination: uri.to_string(),
            });
        } else {
            destinations.push(uri);
        }
    }
    Ok((destinations, notes))
}

/// The group's policy entries, each policy once with its counts added up, sorted so the report
/// is the same whatever order the counts came in.
fn merged_policies(
    domain: &str,
    group: &[&SessionCounts],
    notes: &mut Vec<Note>,
) -> Vec<PolicyResult> {
    let mut merged: Vec<PolicyResult> = Vec::new();
    for count in group {
        let mut result = count.result.clone();
        if let PolicyType::Other(policy_type) = &result.policy.policy_type {
            let note = Note::PolicyTypeUnknown {
                policy_type: policy_type.clone(),
            };
            if !notes.contains(&note) {
                notes.push(note);
            }
            continue;
        }
        // RFC 8460 §4.4: `policy-domain` is required in every policy, `no-policy-found`
        // included (tlsrpt-reporter #51 left it out); the policy is the recipient domain's.
        if result
            .policy
            .policy_domain
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            result.policy.policy_domain = Some(domain.to_owned());
        }
        match merged.iter_mut().find(|m| m.policy == result.policy) {
            Some(existing) => add_counts(existing, result),
            None => merged.push(result),
        }
    }
    for result in &mut merged {
        result.failure_details = merged_details(std::mem::take(&mut result.failure_details));
    }
    merged.sort_by(|a, b| policy_key(a).cmp(&policy_key(b)));
    merged
}

fn add_counts(into: &mut PolicyResult, from: PolicyResult) {
    let summary = &mut into.summary;
    summary.total_successful_session_count = summary
        .total_successful_session_count
        .saturating_add(from.summary.total_successful_session_count);
    summary.total_failure_session_count = summary
        .total_failure_session_count
        .saturating_add(from.summary.total_failure_session_count);
    into.failure_details.extend(from.failure_details);
}

type DetailKey<'a> = [Option<&'a str>; 7];

fn detail_key(detail: &FailureDetail) -> DetailKey<'_> {
    [
        Some(detail.result_type.as_str()),
        detail.receiving_mx_hostname.as_deref(),
        detail.receiving_ip.as_deref(),
        detail.sending_mta_ip.as_deref(),
        detail.receiving_mx_helo.as_deref(),
        detail.failure_reason_code.as_deref(),
        detail.additional_information.as_deref(),
    ]
}

/// Failure details that differ only in their count added together, sorted.
fn merged_details(details: Vec<FailureDetail>) -> Vec<FailureDetail> {
    // Per key: the first detail with it, and the count of all of them.
    let mut by_key: BTreeMap<DetailKey<'_>, (usize, u64)> = BTreeMap::new();
    for (position, detail) in details.iter().enumerate() {
        let (_, count) = by_key.entry(detail_key(detail)).or_insert((position, 0));
        *count = count.saturating_add(detail.failed_session_count);
    }
    by_key
        .values()
        .filter_map(|&(position, count)| {
            let mut detail = details.get(position)?.clone();
            detail.failed_session_count = count;
            Some(detail)
        })
        .collect()
}

fn policy_key(result: &PolicyResult) -> (&str, &Option<String>, &Vec<String>, &Vec<String>) {
    let policy = &result.policy;
    (
        policy.policy_type.as_str(),
        &policy.policy_domain,
        &policy.policy_string,
        &policy.mx_host,
    )
}

/// Packs the policy entries into as few reports as stay under `max_size` bytes of JSON, in
/// order. One entry too large for `max_size` on its own gets a report of its own (noted when the
/// report is built); one too large for any report is left out with a note.
fn split(
    header: &ReportHeader<'_>,
    policies: Vec<PolicyResult>,
    max_size: usize,
    notes: &mut Vec<Note>,
) -> Vec<Vec<PolicyResult>> {
    let (Ok(base), Ok(sizes)) = (
        header.size_without_policies(),
        policies
            .iter()
            .map(|p| serde_json::to_vec(p).map(|json| json.len()))
            .collect::<Result<Vec<usize>, _>>(),
    ) else {
        // Serializing these types cannot fail (string keys only); should it, one report.
        return vec![policies];
    };
    let mut parts: Vec<Vec<PolicyResult>> = Vec::new();
    let mut current: Vec<PolicyResult> = Vec::new();
    let mut current_size = base;
    for (policy, size) in policies.into_iter().zip(sizes) {
        if base + size > MAX_REPORT_SIZE {
            notes.push(Note::PolicyTooLarge { size });
            continue;
        }
        // A comma before every entry but the first.
        let added = size + usize::from(!current.is_empty());
        if !current.is_empty() && current_size + added > max_size {
            parts.push(std::mem::take(&mut current));
            current_size = base;
            current_size += size;
        } else {
            current_size += added;
        }
        current.push(policy);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests;
