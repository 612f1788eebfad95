//! The strict lint of a TLS-RPT aggregate report against RFC 8460 §4.
//!
//! [`lint`] decodes the bytes (gzip is detected by content), then walks the JSON tree and reports
//! every departure from the RFC, not only the first, each message naming its JSON path
//! (`policies[0].summary.total-failure-session-count`) and each diagnostic placed at the line and
//! column of that member. Beside the diagnostics it gives the tolerant reading of
//! [`crate::report::parse`], so an operator sees what a receiver takes from the report even when
//! the report breaks the RFC.
//!
//! Severities: an error breaks a MUST or the schema (a required member missing or of the wrong
//! type, a datetime without a zone, an unknown `policy-type`); a warning is accepted by tolerant
//! readers but is off (`mx-host` as a string, counts that do not add up, a period that is not
//! one UTC day, an unregistered `result-type`); info is worth knowing.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Lint, Severity, codes};
use crate::report::{
    self, Finding, PolicyType, Report, ResultType, Target, Timestamp, child, item, type_error,
};
use crate::time::{SECONDS_PER_DAY, Zone};

codes! {
    /// The stable codes of the report lint, also carried by the errors of
    /// [`crate::report::parse`]. Each code has one severity, given by [`ReportCode::severity`].
    pub enum ReportCode {
        /// Error: the bytes are not JSON (or not UTF-8); placed where parsing stopped.
        NotJson = "report-not-json",
        /// Error: the bytes start like gzip but do not decompress (damaged or truncated).
        GzipInvalid = "report-gzip-invalid",
        /// Error: the report is larger than [`crate::report::MAX_REPORT_SIZE`] once decompressed.
        TooLarge = "report-too-large",
        /// Warning: the JSON starts with a UTF-8 byte order mark, which RFC 8259 §8.1 forbids
        /// senders to add; readers may ignore it, and this crate's reader does.
        ByteOrderMark = "report-byte-order-mark",
        /// Error: a member the RFC 8460 §4.4 schema requires is missing.
        FieldMissing = "report-field-missing",
        /// Error: a member has the wrong JSON type (a count written as a string, `policies` as an
        /// object, ...).
        FieldType = "report-field-type",
        /// Warning: a required string member is empty.
        FieldEmpty = "report-field-empty",
        /// Info: a member the RFC does not define; readers ignore it (often a misspelling).
        FieldUnknown = "report-field-unknown",
        /// Error: a datetime is not an RFC 3339 `date-time`.
        DatetimeInvalid = "report-datetime-invalid",
        /// Error: a datetime has no zone (`2023-01-10T00:00:00`, as Microsoft writes them); RFC
        /// 3339 requires one. Tolerant readers take it as UTC.
        DatetimeNoZone = "report-datetime-no-zone",
        /// Warning: the period is not one UTC day (RFC 8460 §4.1: a report SHOULD cover a full
        /// day, 00:00-24:00 UTC).
        DateRange = "report-date-range",
        /// Error: `end-datetime` is before `start-datetime`.
        DateRangeReversed = "report-date-range-reversed",
        /// Info: the period ends at the next day's 00:00:00Z rather than 23:59:59Z (mail.ru);
        /// still one UTC day, but a reader that files reports by end date files it a day late.
        DateRangeEndsAtMidnight = "report-date-range-ends-at-midnight",
        /// Warning: `contact-info` is missing, `null` or empty.
        ContactInfoMissing = "report-contact-info-missing",
        /// Warning: `policies` is an empty array: the report says nothing.
        PoliciesEmpty = "report-policies-empty",
        /// Info: every policy counts zero sessions: a report without traffic.
        NoSessions = "report-no-sessions",
        /// Error: `policy-type` is not `sts`, `tlsa` or `no-policy-found` (RFC 8460 §4).
        PolicyTypeUnknown = "report-policy-type-unknown",
        /// Warning: an `sts` or `tlsa` policy has no `policy-string` (mail.ru).
        PolicyStringMissing = "report-policy-string-missing",
        /// Warning: the TLSA records are JSON-encoded into one string (Microsoft) instead of one
        /// record per array element.
        PolicyStringJson = "report-policy-string-json",
        /// Warning: a `no-policy-found` entry has no `policy-domain` (Postfix's
        /// tlsrpt-reporter); the receiver cannot tell which domain it is about.
        PolicyDomainMissing = "report-policy-domain-missing",
        /// Warning: `mx-host` is one string rather than an array of strings (the RFC's own
        /// example, corrected by errata 6241).
        MxHostString = "report-mx-host-string",
        /// Warning: an `sts` policy has no `mx-host`, or an empty one (Microsoft).
        MxHostMissing = "report-mx-host-missing",
        /// Error: a session count is negative or not an integer.
        CountInvalid = "report-count-invalid",
        /// Warning: `total-failure-session-count` is more than the sum of the failure details'
        /// counts, or details count failures the summary says did not happen.
        CountMismatch = "report-count-mismatch",
        /// Info: the failure details add up to more than `total-failure-session-count`, which RFC
        /// 8460 §4.3 allows: one session can fail in several ways.
        CountOverlap = "report-count-overlap",
        /// Warning: a `result-type` that neither RFC 8460 §4.3 nor the IANA registry as known to
        /// this crate defines; the registry grows, so it is kept as text.
        ResultTypeUnknown = "report-result-type-unknown",
        /// Warning: `sending-mta-ip` or `receiving-ip` is not an IP address.
        IpInvalid = "report-ip-invalid",
        /// Info: a failure detail does not say which hosts were involved (no `sending-mta-ip` or
        /// no `receiving-mx-hostname`; Microsoft).
        FailureDetailIncomplete = "report-failure-detail-incomplete",
        /// Info: the lint stopped listing diagnostics after [`MAX_DIAGNOSTICS`].
        DiagnosticsTruncated = "report-diagnostics-truncated",
    }
}

impl ReportCode {
    /// The severity of every diagnostic with this code.
    pub const fn severity(self) -> Severity {
        match self {
            ReportCode::NotJson
            | ReportCode::GzipInvalid
            | ReportCode::TooLarge
            | ReportCode::FieldMissing
            | ReportCode::FieldType
            | ReportCode::DatetimeInvalid
            | ReportCode::DatetimeNoZone
            | ReportCode::DateRangeReversed
            | ReportCode::PolicyTypeUnknown
            | ReportCode::CountInvalid => Severity::Error,
            ReportCode::ByteOrderMark
            | ReportCode::FieldEmpty
            | ReportCode::DateRange
            | ReportCode::ContactInfoMissing
            | ReportCode::PoliciesEmpty
            | ReportCode::PolicyStringMissing
            | ReportCode::PolicyStringJson
            | ReportCode::PolicyDomainMissing
            | ReportCode::MxHostString
            | ReportCode::MxHostMissing
            | ReportCode::CountMismatch
            | ReportCode::ResultTypeUnknown
            | ReportCode::IpInvalid => Severity::Warning,
            ReportCode::FieldUnknown
            | ReportCode::DateRangeEndsAtMidnight
            | ReportCode::NoSessions
            | ReportCode::CountOverlap
            | ReportCode::FailureDetailIncomplete
            | ReportCode::DiagnosticsTruncated => Severity::Info,
        }
    }
}

/// How many diagnostics the lint lists before it stops; a 16 MiB report with a bad field in
/// every failure detail would otherwise produce hundreds of thousands.
pub const MAX_DIAGNOSTICS: usize = 1000;

const REPORT_FIELDS: &[&str] = &[
    "organization-name",
    "date-range",
    "contact-info",
    "report-id",
    "policies",
];
const DATE_RANGE_FIELDS: &[&str] = &["start-datetime", "end-datetime"];
const POLICY_RESULT_FIELDS: &[&str] = &["policy", "summary", "failure-details"];
const POLICY_FIELDS: &[&str] = &["policy-type", "policy-string", "policy-domain", "mx-host"];
const SUMMARY_FIELDS: &[&str] = &[
    "total-successful-session-count",
    "total-failure-session-count",
];
const FAILURE_DETAIL_FIELDS: &[&str] = &[
    "result-type",
    "sending-mta-ip",
    "receiving-mx-hostname",
    "receiving-mx-helo",
    "receiving-ip",
    "failed-session-count",
    "additional-information",
    "failure-reason-code",
];

/// Lints a report: plain or gzip-compressed JSON bytes, as received.
///
/// Bytes that are not JSON, gzip that does not decompress and reports over
/// [`crate::report::MAX_REPORT_SIZE`] give a single error and no parsed report. Otherwise every
/// departure from RFC 8460 §4 is listed, in input order (findings about missing members last),
/// and `parsed` holds the tolerant reading whenever [`crate::report::parse`] can read the report.
pub fn lint(bytes: &[u8]) -> Lint<Report> {
    // Borrowed when the bytes are not gzip: a caller that has decompressed already pays no copy.
    let decoded = match report::decoded(bytes) {
        Ok(decoded) => decoded,
        Err(error) => return Lint::tolerant(vec![error.diagnostic().clone()], None),
    };
    let (json, had_bom) = report::strip_bom(&decoded);
    let text = match report::json_text(json) {
        Ok(text) => text,
        Err(diagnostic) => return Lint::tolerant(vec![diagnostic], None),
    };
    let value = match report::json_value(text) {
        Ok(value) => value,
        Err(diagnostic) => return Lint::tolerant(vec![diagnostic], None),
    };

    let mut checker = Checker::default();
    checker.report(&value);
    let parsed = match report::from_value(&value) {
        Ok(parsed) => Some(parsed),
        Err(refusal) => {
            // Every refusal of the reader is also a lint error; this keeps an unreadable report
            // from ever looking clean should the two drift apart (or the error fall past the
            // cap), so it bypasses the cap.
            if !checker.findings.iter().any(Finding::is_error) {
                checker.findings.push(refusal);
            }
            None
        }
    };

    let mut diagnostics = Vec::new();
    if had_bom {
        diagnostics.push(
            Diagnostic::new(
                ReportCode::ByteOrderMark.severity(),
                ReportCode::ByteOrderMark.as_str(),
                "the report starts with a UTF-8 byte order mark; RFC 8259 §8.1 forbids adding one \
                 to JSON sent between systems",
            )
            .on_line(1)
            .at_column(1, 1)
            .with_hint("remove the three bytes EF BB BF at the start"),
        );
    }
    let dropped = checker.dropped;
    diagnostics.extend(report::place(text, checker.findings));
    // Stable: findings on one line keep walk order; findings without a line (missing members)
    // go last.
    diagnostics.sort_by_key(|d| (d.line.is_none(), d.line, d.column));
    if dropped > 0 {
        diagnostics.push(Diagnostic::new(
            ReportCode::DiagnosticsTruncated.severity(),
            ReportCode::DiagnosticsTruncated.as_str(),
            format!("{dropped} more diagnostics were not listed (at most {MAX_DIAGNOSTICS})"),
        ));
    }
    Lint::tolerant(diagnostics, parsed)
}

/// Walks the JSON tree, collecting findings.
#[derive(Default)]
struct Checker {
    findings: Vec<Finding>,
    dropped: usize,
}

impl Checker {
    fn add(&mut self, finding: Finding) {
        if self.findings.len() < MAX_DIAGNOSTICS {
            self.findings.push(finding);
        } else {
            self.dropped += 1;
        }
    }

    fn report(&mut self, root: &Value) {
        let Some(object) = root.as_object() else {
            // RFC 8460 §4.4: the report is one JSON object.
            self.add(type_error("", "a JSON object", root));
            return;
        };
        self.unknown_fields(object, "", REPORT_FIELDS);
        // RFC 8460 §4: the report metadata (organization, period, contact, report id).
        self.required_string(object, "", "organization-name");
        self.date_range(object);
        self.contact_info(object);
        self.required_string(object, "", "report-id");
        self.policies(object);
    }

    /// Reports members of `object` that `known` does not list.
    fn unknown_fields(&mut self, object: &Map<String, Value>, parent: &str, known: &[&str]) {
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            let path = child(parent, key);
            let mut finding = Finding::new(
                ReportCode::FieldUnknown,
                path.as_str(),
                Target::Key,
                format!("{path} is not a member RFC 8460 §4.4 defines here; readers ignore it"),
            );
            // A misspelling such as `total_failure_session_count` or `Policy-Type`.
            let normalized = key.to_ascii_lowercase().replace('_', "-");
            if let Some(meant) = known.iter().find(|known| **known == normalized) {
                finding = finding.with_hint(format!("did you mean \"{meant}\"?"));
            }
            self.add(finding);
        }
    }

    /// A string member the schema requires; returns it when present and a string.
    fn required_string<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<&'a str> {
        let path = child(parent, key);
        match object.get(key) {
            None => {
                self.add(report::missing(&path));
                None
            }
            Some(Value::String(text)) => {
                if text.trim().is_empty() {
                    self.add(Finding::new(
                        ReportCode::FieldEmpty,
                        path.as_str(),
                        Target::Value,
                        format!("{path} is empty"),
                    ));
                }
                Some(text)
            }
            Some(other) => {
                self.add(type_error(&path, "a string", other));
                None
            }
        }
    }

    /// A count member the schema requires.
    fn required_count(
        &mut self,
        object: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<u64> {
        let path = child(parent, key);
        let Some(value) = object.get(key) else {
            self.add(report::missing(&path));
            return None;
        };
        report::count(value, &path)
            .map_err(|finding| self.add(finding))
            .ok()
    }

    /// An object member the schema requires.
    fn required_object<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        let path = child(parent, key);
        match object.get(key) {
            None => {
                self.add(report::missing(&path));
                None
            }
            Some(Value::Object(member)) => Some(member),
            Some(other) => {
                self.add(type_error(&path, "an object", other));
                None
            }
        }
    }

    /// An optional string member; `null` counts as absent.
    fn optional_string<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<&'a str> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text),
            Some(other) => {
                self.add(type_error(&child(parent, key), "a string", other));
                None
            }
        }
    }

    fn date_range(&mut self, object: &Map<String, Value>) {
        let Some(range) = self.required_object(object, "", "date-range") else {
            return;
        };
        self.unknown_fields(range, "date-range", DATE_RANGE_FIELDS);
        let start = self.datetime(range, "start-datetime");
        let end = self.datetime(range, "end-datetime");
        if let (Some(start), Some(end)) = (start, end) {
            self.period(start, end);
        }
    }

    /// A `date-time` member of `date-range`; returns it (zone-less read as UTC) when it parses.
    fn datetime(&mut self, range: &Map<String, Value>, key: &str) -> Option<Timestamp> {
        let path = child("date-range", key);
        let Some(value) = range.get(key) else {
            self.add(report::missing(&path));
            return None;
        };
        let (timestamp, zone) = report::timestamp_noting_zone(value, &path)
            .map_err(|finding| self.add(finding))
            .ok()?;
        if zone == Zone::Missing {
            let text = value.as_str().unwrap_or_default();
            // RFC 3339 §5.6: time-offset is part of full-time; RFC 8460 §4.4 uses date-time.
            self.add(
                Finding::new(
                    ReportCode::DatetimeNoZone,
                    path.as_str(),
                    Target::Value,
                    format!(
                        "{path} is \"{text}\", which has no zone; RFC 3339 requires one (readers \
                         guess UTC)"
                    ),
                )
                .with_hint(format!("append Z: {text}Z")),
            );
        }
        Some(timestamp)
    }

    /// RFC 8460 §4.1: the report SHOULD cover a full day, 00:00-24:00 UTC.
    fn period(&mut self, start: Timestamp, end: Timestamp) {
        let path = "date-range.end-datetime";
        let (from, to) = (start.unix_seconds(), end.unix_seconds());
        let starts_at_midnight = start.start_of_day() == start;
        if to < from {
            self.add(Finding::new(
                ReportCode::DateRangeReversed,
                path,
                Target::Value,
                format!("date-range ends ({end}) before it starts ({start})"),
            ));
        } else if starts_at_midnight && to - from == SECONDS_PER_DAY - 1 {
            // One UTC day written as the RFC's own example writes it, ending at 23:59:59Z.
        } else if starts_at_midnight && to - from == SECONDS_PER_DAY {
            let last_second = start.utc_date().last_second();
            self.add(
                Finding::new(
                    ReportCode::DateRangeEndsAtMidnight,
                    path,
                    Target::Value,
                    format!(
                        "date-range ends at the next day's {end}; it is one UTC day, but the RFC's \
                         example ends at 23:59:59Z"
                    ),
                )
                .with_hint(format!("end at {last_second}")),
            );
        } else {
            let day = start.utc_date();
            let suggestion = format!(
                "cover one UTC day: {} to {}",
                day.start(),
                day.last_second()
            );
            let finding = Finding::new(
                ReportCode::DateRange,
                path,
                Target::Value,
                format!(
                    "date-range covers {start} to {end}, not one UTC day (RFC 8460 §4.1: a report \
                     SHOULD cover 00:00-24:00 UTC)"
                ),
            )
            .with_hint(suggestion);
            self.add(finding);
        }
    }

    fn contact_info(&mut self, object: &Map<String, Value>) {
        let path = "contact-info";
        // RFC 8460 §4: contact info is part of the report metadata.
        let (target, state) = match object.get(path) {
            None => (Target::Nowhere, "missing"),
            Some(Value::Null) => (Target::Value, "null"),
            Some(Value::String(text)) if text.trim().is_empty() => (Target::Value, "empty"),
            Some(Value::String(_)) => return,
            Some(other) => {
                self.add(type_error(path, "a string", other));
                return;
            }
        };
        self.add(Finding::new(
            ReportCode::ContactInfoMissing,
            path,
            target,
            format!(
                "contact-info is {state}; RFC 8460 §4 gives every report an address to ask about it"
            ),
        ));
    }

    fn policies(&mut self, object: &Map<String, Value>) {
        let path = "policies";
        let Some(value) = object.get(path) else {
            self.add(report::missing(path));
            return;
        };
        let Some(entries) = value.as_array() else {
            // RFC 8460 §4.4: "policies" MUST be an array, even when one policy was applied.
            self.add(type_error(path, "an array (RFC 8460 §4.4: a MUST)", value));
            return;
        };
        if entries.is_empty() {
            self.add(Finding::new(
                ReportCode::PoliciesEmpty,
                path,
                Target::Value,
                "policies is empty: the report counts no sessions under any policy",
            ));
            return;
        }
        let mut traffic = false;
        let mut all_counted = true;
        for (index, entry) in entries.iter().enumerate() {
            match self.policy_result(entry, &item(path, index)) {
                Some((successful, failed)) => traffic |= successful > 0 || failed > 0,
                None => all_counted = false,
            }
        }
        if all_counted && !traffic {
            self.add(Finding::new(
                ReportCode::NoSessions,
                path,
                Target::Value,
                "every policy counts zero sessions: the report carries no traffic",
            ));
        }
    }

    /// One entry of `policies`; returns its (successful, failed) counts when both are readable.
    fn policy_result(&mut self, value: &Value, path: &str) -> Option<(u64, u64)> {
        let Some(entry) = value.as_object() else {
            self.add(type_error(path, "an object", value));
            return None;
        };
        self.unknown_fields(entry, path, POLICY_RESULT_FIELDS);
        self.policy(entry, path);
        let summary = self.summary(entry, path);
        let details_sum = self.failure_details(entry, path);
        if let (Some((_, failed)), Some(details_sum)) = (summary, details_sum) {
            self.failure_counts(path, failed, details_sum);
        }
        summary
    }

    fn policy(&mut self, entry: &Map<String, Value>, parent: &str) {
        let path = child(parent, "policy");
        let Some(policy) = self.required_object(entry, parent, "policy") else {
            return;
        };
        self.unknown_fields(policy, &path, POLICY_FIELDS);
        let policy_type = self.policy_type(policy, &path);
        self.policy_string(policy, &path, policy_type.as_ref());
        self.policy_domain(policy, &path, policy_type.as_ref());
        self.mx_host(policy, &path, policy_type.as_ref());
    }

    fn policy_type(&mut self, policy: &Map<String, Value>, parent: &str) -> Option<PolicyType> {
        let path = child(parent, "policy-type");
        let text = self.required_string(policy, parent, "policy-type")?;
        let policy_type = PolicyType::from_wire(text);
        if let PolicyType::Other(_) = policy_type {
            // RFC 8460 §4: the policy type is "tlsa", "sts" or "no-policy-found".
            let mut finding = Finding::new(
                ReportCode::PolicyTypeUnknown,
                path.as_str(),
                Target::Value,
                format!(
                    "{path} is \"{text}\"; RFC 8460 §4 defines only \"sts\", \"tlsa\" and \
                     \"no-policy-found\""
                ),
            );
            let lowercase = text.trim().to_ascii_lowercase();
            if !matches!(PolicyType::from_wire(&lowercase), PolicyType::Other(_)) {
                finding = finding.with_hint(format!("write \"{lowercase}\""));
            }
            self.add(finding);
        }
        Some(policy_type)
    }

    fn policy_string(
        &mut self,
        policy: &Map<String, Value>,
        parent: &str,
        policy_type: Option<&PolicyType>,
    ) {
        let path = child(parent, "policy-string");
        let applied = matches!(policy_type, Some(PolicyType::Sts | PolicyType::Tlsa));
        let tlsa = matches!(policy_type, Some(PolicyType::Tlsa));
        // RFC 8460 §4: the policy string encodes the applied policy, one string per MTA-STS
        // policy line or per TLSA record.
        match policy.get("policy-string") {
            None | Some(Value::Null) if applied => {
                let target = if policy.contains_key("policy-string") {
                    Target::Value
                } else {
                    Target::Nowhere
                };
                self.add(Finding::new(
                    ReportCode::PolicyStringMissing,
                    path.as_str(),
                    target,
                    format!(
                        "{path} is missing: the receiver cannot see which policy the sender applied"
                    ),
                ));
            }
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let mut strings = Vec::new();
                for (index, element) in items.iter().enumerate() {
                    match element {
                        Value::String(text) => strings.push(text.as_str()),
                        other => self.add(type_error(&item(&path, index), "a string", other)),
                    }
                }
                if applied && items.is_empty() {
                    self.add(Finding::new(
                        ReportCode::PolicyStringMissing,
                        path.as_str(),
                        Target::Value,
                        format!(
                            "{path} is empty: the receiver cannot see which policy the sender \
                             applied"
                        ),
                    ));
                }
                if let (true, [only]) = (tlsa, strings.as_slice()) {
                    self.tlsa_records_as_json(&path, only);
                }
            }
            Some(Value::String(text)) if tlsa && json_string_list(text).is_some() => {
                self.tlsa_records_as_json(&path, text);
            }
            Some(other) => self.add(type_error(&path, "an array of strings", other)),
        }
    }

    /// Warns when `text`, the one TLSA policy string, is itself a JSON array of records.
    fn tlsa_records_as_json(&mut self, path: &str, text: &str) {
        let Some(records) = json_string_list(text) else {
            return;
        };
        let mut finding = Finding::new(
            ReportCode::PolicyStringJson,
            path,
            Target::Value,
            format!(
                "{path} holds {} TLSA records JSON-encoded into one string; RFC 8460 §4 wants one \
                 record per array element",
                records.len()
            ),
        );
        if let Ok(array) = serde_json::to_string(&records) {
            finding = finding.with_hint(format!("write \"policy-string\": {array}"));
        }
        self.add(finding);
    }

    fn policy_domain(
        &mut self,
        policy: &Map<String, Value>,
        parent: &str,
        policy_type: Option<&PolicyType>,
    ) {
        let path = child(parent, "policy-domain");
        match policy.get("policy-domain") {
            None | Some(Value::Null) => {
                if let Some(PolicyType::NoPolicyFound) = policy_type {
                    // RFC 8460 §4 defines the policy domain as the domain the policy is
                    // defined against; with no policy there is still a recipient domain, and
                    // without it the receiver cannot tell which of its domains is meant.
                    self.add(Finding::new(
                        ReportCode::PolicyDomainMissing,
                        path.as_str(),
                        Target::Nowhere,
                        format!("{path} is missing; name the recipient domain that had no policy"),
                    ));
                } else {
                    self.add(report::missing(&path));
                }
            }
            Some(Value::String(_)) => {
                self.required_string(policy, parent, "policy-domain");
            }
            Some(other) => self.add(type_error(&path, "a string", other)),
        }
    }

    fn mx_host(
        &mut self,
        policy: &Map<String, Value>,
        parent: &str,
        policy_type: Option<&PolicyType>,
    ) {
        let path = child(parent, "mx-host");
        let sts = matches!(policy_type, Some(PolicyType::Sts));
        let missing = |state: &str, target: Target| {
            Finding::new(
                ReportCode::MxHostMissing,
                path.as_str(),
                target,
                format!("{path} is {state}; for an sts policy it lists the policy's mx patterns"),
            )
        };
        // RFC 8460 §4 (errata 6241): mx-host is a JSON array of strings, the policy's `mx`
        // patterns; the RFC's example wrote one string.
        match policy.get("mx-host") {
            None if sts => self.add(missing("missing", Target::Nowhere)),
            Some(Value::Null) if sts => self.add(missing("null", Target::Value)),
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => {
                let array = serde_json::to_string(&[text]).unwrap_or_default();
                self.add(
                    Finding::new(
                        ReportCode::MxHostString,
                        path.as_str(),
                        Target::Value,
                        format!("{path} is a string; RFC 8460 (errata 6241) makes it an array"),
                    )
                    .with_hint(format!("write \"mx-host\": {array}")),
                );
            }
            Some(Value::Array(items)) => {
                for (index, element) in items.iter().enumerate() {
                    if !element.is_string() {
                        self.add(type_error(&item(&path, index), "a string", element));
                    }
                }
                if sts && items.is_empty() {
                    self.add(missing("empty", Target::Value));
                }
            }
            Some(other) => self.add(type_error(&path, "an array of strings", other)),
        }
    }

    fn summary(&mut self, entry: &Map<String, Value>, parent: &str) -> Option<(u64, u64)> {
        let path = child(parent, "summary");
        let summary = self.required_object(entry, parent, "summary")?;
        self.unknown_fields(summary, &path, SUMMARY_FIELDS);
        // RFC 8460 §4.4: both totals are integers encoded as JSON numbers.
        let successful = self.required_count(summary, &path, "total-successful-session-count");
        let failed = self.required_count(summary, &path, "total-failure-session-count");
        successful.zip(failed)
    }

    /// `failure-details`, which may be missing; returns the sum of its counts when all are
    /// readable.
    fn failure_details(&mut self, entry: &Map<String, Value>, parent: &str) -> Option<u64> {
        let path = child(parent, "failure-details");
        match entry.get("failure-details") {
            None | Some(Value::Null) => Some(0),
            Some(Value::Array(details)) => {
                let mut sum = Some(0u64);
                for (index, detail) in details.iter().enumerate() {
                    let count = self.failure_detail(detail, &item(&path, index));
                    sum = sum
                        .zip(count)
                        .and_then(|(sum, count)| sum.checked_add(count));
                }
                sum
            }
            Some(other) => {
                self.add(type_error(&path, "an array", other));
                None
            }
        }
    }

    /// One failure detail; returns its `failed-session-count` when readable.
    fn failure_detail(&mut self, value: &Value, path: &str) -> Option<u64> {
        let Some(detail) = value.as_object() else {
            self.add(type_error(path, "an object", value));
            return None;
        };
        self.unknown_fields(detail, path, FAILURE_DETAIL_FIELDS);
        if let Some(text) = self.required_string(detail, path, "result-type")
            && let ResultType::Other(_) = ResultType::from_wire(text)
        {
            // RFC 8460 §4.3 starts the list of result types and its IANA considerations (§6)
            // open a registry for more, so an unknown value may be newer than this crate.
            let result_path = child(path, "result-type");
            self.add(Finding::new(
                ReportCode::ResultTypeUnknown,
                result_path.as_str(),
                Target::Value,
                format!(
                    "{result_path} is \"{text}\", which is not a result type RFC 8460 §4.3 or \
                     the IANA registry (as known here) defines; it is kept as text"
                ),
            ));
        }
        for key in ["sending-mta-ip", "receiving-ip"] {
            if let Some(text) = self.optional_string(detail, path, key)
                && text.parse::<IpAddr>().is_err()
            {
                let ip_path = child(path, key);
                self.add(Finding::new(
                    ReportCode::IpInvalid,
                    ip_path.as_str(),
                    Target::Value,
                    format!("{ip_path} is \"{text}\", which is not an IPv4 or IPv6 address"),
                ));
            }
        }
        for key in [
            "receiving-mx-hostname",
            "receiving-mx-helo",
            "additional-information",
            "failure-reason-code",
        ] {
            self.optional_string(detail, path, key);
        }
        let absent: Vec<&str> = ["sending-mta-ip", "receiving-mx-hostname"]
            .into_iter()
            .filter(|key| detail.get(*key).is_none_or(Value::is_null))
            .collect();
        if !absent.is_empty() {
            // RFC 8460 §4.4 describes these for every failure detail (only receiving-mx-helo,
            // additional-information and failure-reason-code are marked optional); without them
            // the receiver cannot tell which sender or MX saw the failure. receiving-ip is left
            // out of this check because the RFC's own example omits it.
            self.add(Finding::new(
                ReportCode::FailureDetailIncomplete,
                path,
                Target::Value,
                format!(
                    "{path} has no {}; the receiver cannot tell which hosts saw the failure",
                    absent.join(", ")
                ),
            ));
        }
        self.required_count(detail, path, "failed-session-count")
    }

    /// Compares `total-failure-session-count` with the sum of the failure details' counts.
    fn failure_counts(&mut self, parent: &str, failed: u64, details_sum: u64) {
        let path = child(&child(parent, "summary"), "total-failure-session-count");
        if details_sum == failed {
            return;
        }
        if failed > 0 && details_sum > failed {
            // RFC 8460 §4.3 (our reading): failure types are non-exclusive, so a session that failed in two
            // ways is counted under both.
            self.add(Finding::new(
                ReportCode::CountOverlap,
                path.as_str(),
                Target::Value,
                format!(
                    "{path} is {failed} but the failure details add up to {details_sum}: some \
                     sessions failed in more than one way"
                ),
            ));
        } else {
            self.add(Finding::new(
                ReportCode::CountMismatch,
                path.as_str(),
                Target::Value,
                format!(
                    "{path} is {failed} but the failure details add up to {details_sum}; failures \
                     are missing from {}",
                    if details_sum < failed {
                        "the details"
                    } else {
                        "the summary"
                    }
                ),
            ));
        }
    }
}

/// The strings of `text` when it is a JSON array of strings.
fn json_string_list(text: &str) -> Option<Vec<String>> {
    let trimmed = text.trim();
    if !trimmed.starts_with('[') {
        return None;
    }
    serde_json::from_str(trimmed).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;

    use super::*;
    use crate::report::MAX_REPORT_SIZE;

    const RFC_EXAMPLE: &[u8] = include_bytes!("../tests/fixtures/reports/rfc8460-example.json");
    const GOOGLE: &[u8] = include_bytes!("../tests/fixtures/reports/google.json");
    const MICROSOFT: &[u8] = include_bytes!("../tests/fixtures/reports/microsoft.json");
    const MAILRU: &[u8] = include_bytes!("../tests/fixtures/reports/mailru.json");
    const STALWART: &[u8] = include_bytes!("../tests/fixtures/reports/stalwart.json");
    const POSTFIX: &[u8] = include_bytes!("../tests/fixtures/reports/postfix-tlsrpt-reporter.json");
    const RFC_EXAMPLE_TEXT: &str = include_str!("../tests/fixtures/reports/rfc8460-example.json");

    /// The codes of a lint, in order.
    fn codes(lint: &Lint<Report>) -> Vec<&'static str> {
        lint.diagnostics.iter().map(|d| d.code).collect()
    }

    fn sorted(mut codes: Vec<&'static str>) -> Vec<&'static str> {
        codes.sort_unstable();
        codes
    }

    fn find(lint: &Lint<Report>, code: ReportCode) -> &Diagnostic {
        lint.diagnostics
            .iter()
            .find(|d| d.code == code.as_str())
            .unwrap_or_else(|| panic!("no {code} in {:#?}", lint.diagnostics))
    }

    /// The 1-based line of the first line of `text` containing `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        text.lines()
            .position(|line| line.contains(needle))
            .map(|index| index + 1)
            .unwrap_or_else(|| panic!("{needle} not in the text"))
    }

    /// A conforming report with `policy` as the one policy entry.
    #[test]
    fn a_long_unknown_member_over_a_large_array_is_placed() {
        // Dots in the name, and an array under it whose items must not each copy the path.
        let name = "x.y[".repeat(5_000);
        let items = vec!["[1,{\"a\":2}]"; 20_000].join(",");
        let json = format!(
            "{{\"{name}\": [{items}],\n\"organization-name\": \"X\", \"report-id\": \"r\",
              \"contact-info\": \"a@b\", \"date-range\": {{\"start-datetime\": \"2024-01-01T00:00:00Z\",
              \"end-datetime\": \"2024-01-01T23:59:59Z\"}}, \"policies\": [{{\"policy\":
              {{\"policy-type\": \"sts\"}}, \"summary\": {{\"total-successful-session-count\": 1,
              \"total-failure-session-count\": -1}}}}]}}"
        );
        let lint = lint(json.as_bytes());
        let unknown = find(&lint, ReportCode::FieldUnknown);
        assert_eq!((unknown.line, unknown.column), (Some(1), Some(2)));
        let count = find(&lint, ReportCode::CountInvalid);
        assert_eq!(
            count.line,
            Some(line_of(&json, "total-failure-session-count"))
        );
    }

    fn with_policy(policy: &str) -> String {
        format!(
            r#"{{"organization-name": "Example", "report-id": "r1",
                "contact-info": "tlsrpt@example.org",
                "date-range": {{"start-datetime": "2024-01-01T00:00:00Z",
                                "end-datetime": "2024-01-01T23:59:59Z"}},
                "policies": [{policy}]}}"#
        )
    }

    fn with_date_range(start: &str, end: &str) -> String {
        format!(
            r#"{{"organization-name": "Example", "report-id": "r1",
                "contact-info": "tlsrpt@example.org",
                "date-range": {{"start-datetime": "{start}", "end-datetime": "{end}"}},
                "policies": [{{"policy": {{"policy-type": "no-policy-found", "policy-domain": "example.org"}},
                               "summary": {{"total-successful-session-count": 1,
                                           "total-failure-session-count": 0}}}}]}}"#
        )
    }

    fn sts_with_details(failed: u64, details: &[u64]) -> String {
        let details: Vec<String> = details
            .iter()
            .map(|count| {
                format!(
                    r#"{{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
                         "receiving-mx-hostname": "mx.example.org", "receiving-ip": "192.0.2.25",
                         "failed-session-count": {count}}}"#
                )
            })
            .collect();
        with_policy(&format!(
            r#"{{"policy": {{"policy-type": "sts", "policy-string": ["version: STSv1"],
                             "policy-domain": "example.org", "mx-host": ["mx.example.org"]}},
                "summary": {{"total-successful-session-count": 10, "total-failure-session-count": {failed}}},
                "failure-details": [{}]}}"#,
            details.join(",")
        ))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).expect("writing to a Vec");
        encoder.finish().expect("finishing gzip")
    }

    #[test]
    fn codes_are_unique_prefixed_kebab_case() {
        let mut seen = HashSet::new();
        for code in ReportCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.starts_with("report-"), "{text}");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{text}"
            );
        }
        assert_eq!(ReportCode::DatetimeNoZone.severity(), Severity::Error);
        assert_eq!(ReportCode::MxHostString.severity(), Severity::Warning);
        assert_eq!(ReportCode::CountOverlap.severity(), Severity::Info);
    }

    #[test]
    fn rfc_example_only_has_its_string_mx_host() {
        let lint = lint(RFC_EXAMPLE);
        assert_eq!(codes(&lint), ["report-mx-host-string"]);
        assert!(lint.valid);
        let diagnostic = &lint.diagnostics[0];
        assert_eq!(diagnostic.severity, Severity::Warning);
        assert_eq!(
            diagnostic.line,
            Some(line_of(RFC_EXAMPLE_TEXT, "\"mx-host\""))
        );
        assert_eq!(
            diagnostic.hint.as_deref(),
            Some(r#"write "mx-host": ["*.mail.company-y.example"]"#)
        );
        assert_eq!(lint.parsed, report::parse(RFC_EXAMPLE).ok());
    }

    #[test]
    fn google_style_is_clean() {
        let lint = lint(GOOGLE);
        assert_eq!(codes(&lint), Vec::<&str>::new());
        assert!(lint.valid);
        assert!(lint.parsed.is_some());
    }

    #[test]
    fn microsoft_style_breaks_rfc3339_but_is_read() {
        let lint = lint(MICROSOFT);
        assert_eq!(
            sorted(codes(&lint)),
            [
                "report-datetime-no-zone",
                "report-datetime-no-zone",
                "report-failure-detail-incomplete",
                "report-failure-detail-incomplete",
                "report-mx-host-missing",
                "report-policy-string-json",
            ]
        );
        assert!(!lint.valid);
        // The tolerant reading is shown despite the errors.
        let parsed = lint.parsed.as_ref().expect("read tolerantly");
        assert_eq!(parsed.date_range.start.unix_seconds(), 1_673_308_800);
        let no_zone = find(&lint, ReportCode::DatetimeNoZone);
        assert_eq!(
            no_zone.hint.as_deref(),
            Some("append Z: 2023-01-10T00:00:00Z")
        );
        assert!(no_zone.message.starts_with("date-range.start-datetime"));
        let json = find(&lint, ReportCode::PolicyStringJson);
        assert!(
            json.message
                .contains("policies[1].policy.policy-string holds 2 TLSA records")
        );
        assert!(
            json.hint
                .as_deref()
                .is_some_and(|h| h.starts_with(r#"write "policy-string": ["3 1 1 8D02"#))
        );
        let incomplete = find(&lint, ReportCode::FailureDetailIncomplete);
        assert!(
            incomplete.message.contains(
                "policies[0].failure-details[0] has no sending-mta-ip, receiving-mx-hostname;"
            ),
            "{}",
            incomplete.message
        );
    }

    #[test]
    fn mailru_style_warns() {
        let lint = lint(MAILRU);
        assert_eq!(
            sorted(codes(&lint)),
            [
                "report-count-mismatch",
                "report-date-range-ends-at-midnight",
                "report-policy-string-missing",
            ]
        );
        assert!(lint.valid, "warnings only");
        let mismatch = find(&lint, ReportCode::CountMismatch);
        assert!(
            mismatch.message.contains(
                "policies[0].summary.total-failure-session-count is 5 but the failure details add up to 3"
            ),
            "{}",
            mismatch.message
        );
        assert_eq!(
            find(&lint, ReportCode::DateRangeEndsAtMidnight)
                .hint
                .as_deref(),
            Some("end at 2024-03-05T23:59:59Z")
        );
    }

    #[test]
    fn stalwart_style_warns() {
        let lint = lint(STALWART);
        assert_eq!(
            sorted(codes(&lint)),
            [
                "report-contact-info-missing",
                "report-mx-host-missing",
                "report-no-sessions",
            ]
        );
        assert!(lint.valid);
        assert!(
            find(&lint, ReportCode::ContactInfoMissing)
                .message
                .contains("is null")
        );
    }

    #[test]
    fn postfix_style_lacks_the_policy_domain() {
        let lint = lint(POSTFIX);
        assert_eq!(codes(&lint), ["report-policy-domain-missing"]);
        assert!(lint.valid);
        let diagnostic = &lint.diagnostics[0];
        assert_eq!(diagnostic.line, None, "a missing member has no position");
        assert!(
            diagnostic
                .message
                .starts_with("policies[0].policy.policy-domain is missing")
        );
    }

    #[test]
    fn every_departure_is_reported() {
        let json = r#"{
  "organization-name": "",
  "date-range": {"start-datetime": "2024-01-01T00:00:00", "end-datetime": "someday"},
  "contact-info": 42,
  "policies": [
    {
      "policy": {"policy-type": "STS", "policy-domain": "example.org"},
      "summary": {"total-successful-session-count": "10", "total-failure-session-count": -1},
      "failure-details": [{"result-type": "brand-new-failure", "sending-mta-ip": "999.1.1.1",
                           "failed-session-count": 1.5, "colour": "red"}]
    },
    "not an object"
  ]
}"#;
        let lint = lint(json.as_bytes());
        assert_eq!(
            sorted(codes(&lint)),
            sorted(vec![
                "report-field-empty",
                "report-datetime-no-zone",
                "report-datetime-invalid",
                "report-field-type",
                "report-policy-type-unknown",
                "report-field-type",
                "report-count-invalid",
                "report-result-type-unknown",
                "report-ip-invalid",
                "report-count-invalid",
                "report-field-unknown",
                "report-failure-detail-incomplete",
                "report-field-type",
                "report-field-missing",
            ])
        );
        assert!(!lint.valid);
        assert_eq!(lint.parsed, None, "the tolerant reader refuses it too");
        let policy_type = find(&lint, ReportCode::PolicyTypeUnknown);
        assert_eq!(policy_type.hint.as_deref(), Some("write \"sts\""));
        assert_eq!(policy_type.line, Some(7));
        let unknown = find(&lint, ReportCode::FieldUnknown);
        assert_eq!(unknown.line, Some(10));
        assert!(
            unknown
                .message
                .starts_with("policies[0].failure-details[0].colour")
        );
        // Missing members come last; the rest are in input order.
        assert_eq!(
            lint.diagnostics.last().map(|d| d.message.as_str()),
            Some("report-id is missing")
        );
        let lines: Vec<_> = lint.diagnostics.iter().filter_map(|d| d.line).collect();
        assert!(lines.is_sorted(), "{lines:?}");
    }

    #[test]
    fn messages_name_paths_and_diagnostics_are_placed() {
        let json = "{\n  \"organization-name\": \"X\",\n  \"report-id\": \"r\",\n  \"contact-info\": \"a@b\",\n  \"date-range\": {\n    \"start-datetime\": \"2024-01-01T00:00:00Z\",\n    \"end-datetime\": \"2024-01-01T23:59:59Z\"\n  },\n  \"policies\": [\n    {\n      \"policy\": {\"policy-type\": \"no-policy-found\", \"policy-domain\": \"x.org\"},\n      \"summary\": {\"total-successful-session-count\": 1, \"total-failure-session-count\": 2.5}\n    }\n  ]\n}";
        let lint = lint(json.as_bytes());
        let diagnostic = find(&lint, ReportCode::CountInvalid);
        assert!(
            diagnostic
                .message
                .starts_with("policies[0].summary.total-failure-session-count is 2.5"),
            "{}",
            diagnostic.message
        );
        let line = line_of(json, "total-failure-session-count");
        let text_line = json.lines().nth(line - 1).expect("line exists");
        let column = text_line.find("2.5").expect("value on the line") + 1;
        assert_eq!(
            (diagnostic.line, diagnostic.column),
            (Some(line), Some(column))
        );
        assert_eq!(diagnostic.width, 3);
    }

    #[test]
    fn datetimes_without_zone_are_errors_with_a_hint() {
        let lint = lint(with_date_range("2024-01-01T00:00:00", "2024-01-01T23:59:59Z").as_bytes());
        assert_eq!(codes(&lint), ["report-datetime-no-zone"]);
        assert_eq!(lint.diagnostics[0].severity, Severity::Error);
        assert_eq!(
            lint.diagnostics[0].hint.as_deref(),
            Some("append Z: 2024-01-01T00:00:00Z")
        );
        assert!(lint.parsed.is_some());
    }

    #[test]
    fn date_ranges() {
        let cases: [(&str, &str, &[&str]); 7] = [
            // The RFC's example form.
            ("2024-01-01T00:00:00Z", "2024-01-01T23:59:59Z", &[]),
            // An equivalent offset form is still one UTC day.
            ("2024-01-01T01:00:00+01:00", "2024-01-01T23:59:59.999Z", &[]),
            (
                "2024-01-01T00:00:00Z",
                "2024-01-02T00:00:00Z",
                &["report-date-range-ends-at-midnight"],
            ),
            // A day in another zone is not a UTC day.
            (
                "2024-01-01T00:00:00+02:00",
                "2024-01-01T23:59:59+02:00",
                &["report-date-range"],
            ),
            // A week.
            (
                "2024-01-01T00:00:00Z",
                "2024-01-07T23:59:59Z",
                &["report-date-range"],
            ),
            (
                "2024-01-02T00:00:00Z",
                "2024-01-01T00:00:00Z",
                &["report-date-range-reversed"],
            ),
            (
                "2024-01-01T00:00:00Z",
                "2024-02-30T00:00:00Z",
                &["report-datetime-invalid"],
            ),
        ];
        for (start, end, expected) in cases {
            let lint = lint(with_date_range(start, end).as_bytes());
            assert_eq!(codes(&lint), expected, "{start} to {end}");
        }
        let lint = lint(with_date_range("2024-01-01T06:00:00Z", "2024-01-02T05:59:59Z").as_bytes());
        assert_eq!(
            find(&lint, ReportCode::DateRange).hint.as_deref(),
            Some("cover one UTC day: 2024-01-01T00:00:00Z to 2024-01-01T23:59:59Z")
        );
    }

    #[test]
    fn failure_counts_against_details() {
        let cases: [(u64, &[u64], &[&str]); 6] = [
            (5, &[2, 3], &[]),
            (0, &[], &[]),
            // Fewer in the details than in the summary.
            (5, &[3], &["report-count-mismatch"]),
            // Failures in the details that the summary does not count.
            (0, &[1], &["report-count-mismatch"]),
            // More in the details: allowed, failure types are non-exclusive.
            (3, &[2, 2], &["report-count-overlap"]),
            // No details at all for counted failures.
            (4, &[], &["report-count-mismatch"]),
        ];
        for (failed, details, expected) in cases {
            let lint = lint(sts_with_details(failed, details).as_bytes());
            assert_eq!(codes(&lint), expected, "{failed} vs {details:?}");
            assert!(lint.valid);
        }
    }

    #[test]
    fn unknown_result_type_is_a_warning() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.org"},
                "summary": {"total-successful-session-count": 1, "total-failure-session-count": 1},
                "failure-details": [{"result-type": "smtp-tls-downgrade", "sending-mta-ip": "192.0.2.1",
                                     "receiving-mx-hostname": "mx.example.org", "receiving-ip": "2001:db8::25",
                                     "failed-session-count": 1}]}"#,
        );
        let lint = lint(json.as_bytes());
        assert_eq!(codes(&lint), ["report-result-type-unknown"]);
        assert!(lint.valid);
        let parsed = lint.parsed.expect("read");
        assert_eq!(
            parsed.policies[0].failure_details[0].result_type,
            ResultType::Other("smtp-tls-downgrade".into())
        );
    }

    #[test]
    fn unknown_policy_type_is_an_error_but_read() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "dane", "policy-domain": "example.org"},
                "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}"#,
        );
        let lint = lint(json.as_bytes());
        assert_eq!(codes(&lint), ["report-policy-type-unknown"]);
        assert_eq!(
            lint.diagnostics[0].hint, None,
            "no obvious fix for \"dane\""
        );
        assert!(!lint.valid);
        assert!(lint.parsed.is_some());
    }

    #[test]
    fn tlsa_policy_string_as_bare_json_string() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "tlsa", "policy-domain": "example.org",
                           "policy-string": "[\"3 1 1 ABCD\"]"},
                "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}"#,
        );
        assert_eq!(codes(&lint(json.as_bytes())), ["report-policy-string-json"]);
        // A bare string that is not a JSON array is a type error.
        let json = json.replace(r#""[\"3 1 1 ABCD\"]""#, r#""3 1 1 ABCD""#);
        assert_eq!(codes(&lint(json.as_bytes())), ["report-field-type"]);
    }

    #[test]
    fn policies_must_be_a_non_empty_array() {
        let base = with_date_range("2024-01-01T00:00:00Z", "2024-01-01T23:59:59Z");
        let value: Value = serde_json::from_str(&base).expect("valid");
        let mut empty = value.clone();
        empty["policies"] = Value::Array(Vec::new());
        let lint_empty = lint(&serde_json::to_vec(&empty).expect("serializes"));
        assert_eq!(codes(&lint_empty), ["report-policies-empty"]);
        assert!(lint_empty.valid);

        let mut single = value.clone();
        single["policies"] = value["policies"][0].clone();
        let lint_single = lint(&serde_json::to_vec(&single).expect("serializes"));
        assert_eq!(codes(&lint_single), ["report-field-type"]);
        assert!(lint_single.diagnostics[0].message.contains("MUST"));
        assert_eq!(lint_single.parsed, None);
    }

    #[test]
    fn misspelled_members_get_a_hint() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.org"},
                "summary": {"total-successful-session-count": 1, "total_failure_session_count": 0}}"#,
        );
        let lint = lint(json.as_bytes());
        assert_eq!(
            sorted(codes(&lint)),
            ["report-field-missing", "report-field-unknown"]
        );
        assert_eq!(
            find(&lint, ReportCode::FieldUnknown).hint.as_deref(),
            Some("did you mean \"total-failure-session-count\"?")
        );
    }

    #[test]
    fn ip_addresses_are_checked() {
        let json = with_policy(
            r#"{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.org"},
                "summary": {"total-successful-session-count": 1, "total-failure-session-count": 1},
                "failure-details": [{"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8::1",
                                     "receiving-mx-hostname": "mx.example.org", "receiving-ip": "mx.example.org",
                                     "failed-session-count": 1}]}"#,
        );
        let lint = lint(json.as_bytes());
        assert_eq!(codes(&lint), ["report-ip-invalid"]);
        assert!(lint.diagnostics[0].message.contains("receiving-ip"));
    }

    #[test]
    fn not_json_is_a_single_error_with_position() {
        let lint = lint(b"{\n  \"organization-name\": \"X\",\n  oops\n}");
        assert_eq!(codes(&lint), ["report-not-json"]);
        assert_eq!(lint.diagnostics[0].line, Some(3));
        assert_eq!(lint.diagnostics[0].column, Some(3));
        assert!(!lint.valid);
        assert_eq!(lint.parsed, None);
    }

    #[test]
    fn gzip_reports_are_linted() {
        let lint = lint(&gzip(MAILRU));
        assert_eq!(lint.diagnostics.len(), 3);
        assert!(lint.parsed.is_some());
    }

    #[test]
    fn broken_gzip_and_bombs_are_single_errors() {
        let compressed = gzip(GOOGLE);
        let truncated = lint(&compressed[..compressed.len() / 2]);
        assert_eq!(codes(&truncated), ["report-gzip-invalid"]);
        assert_eq!(truncated.parsed, None);

        let bomb = lint(&gzip(&vec![b'['; MAX_REPORT_SIZE + 1]));
        assert_eq!(codes(&bomb), ["report-too-large"]);
        assert_eq!(bomb.parsed, None);
    }

    #[test]
    fn byte_order_mark_is_a_warning() {
        let mut json = b"\xEF\xBB\xBF".to_vec();
        json.extend_from_slice(GOOGLE);
        let lint = lint(&json);
        assert_eq!(codes(&lint), ["report-byte-order-mark"]);
        assert!(lint.valid);
    }

    #[test]
    fn diagnostics_are_capped() {
        let detail = r#"{"result-type": "certificate-expired", "failed-session-count": 1}"#;
        let details = vec![detail; MAX_DIAGNOSTICS + 10].join(",");
        let json = with_policy(&format!(
            r#"{{"policy": {{"policy-type": "no-policy-found", "policy-domain": "example.org"}},
                "summary": {{"total-successful-session-count": 0,
                             "total-failure-session-count": {}}},
                "failure-details": [{details}]}}"#,
            MAX_DIAGNOSTICS + 10
        ));
        let lint = lint(json.as_bytes());
        assert_eq!(lint.diagnostics.len(), MAX_DIAGNOSTICS + 1);
        let last = lint.diagnostics.last().expect("non-empty");
        assert_eq!(last.code, "report-diagnostics-truncated");
        assert!(last.message.starts_with("10 more"), "{}", last.message);
    }

    #[test]
    fn lint_and_reader_agree_on_refusals() {
        let inputs: [&str; 5] = [
            r#"{}"#,
            r#"[1, 2]"#,
            r#"{"organization-name": "X", "report-id": "r", "contact-info": "c", "policies": [],
                "date-range": {"start-datetime": 7, "end-datetime": "2024-01-01T23:59:59Z"}}"#,
            &with_policy(r#"{"policy": {"policy-type": "sts", "mx-host": [1]}, "summary": {}}"#),
            &with_policy(
                r#"{"policy": {"policy-type": "sts", "policy-string": [null]},
                             "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0},
                             "failure-details": {}}"#,
            ),
        ];
        for input in inputs {
            let lint = lint(input.as_bytes());
            let read = report::parse(input.as_bytes());
            assert_eq!(lint.parsed.is_some(), read.is_ok(), "{input}");
            if read.is_err() {
                assert!(lint.first_error().is_some(), "{input}");
                assert!(!lint.valid, "{input}");
            }
        }
    }

    proptest! {
        #[test]
        fn lint_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = lint(&bytes);
        }

        #[test]
        fn lint_never_panics_on_damaged_reports(cut in 0..RFC_EXAMPLE.len(), byte in any::<u8>()) {
            let mut damaged = RFC_EXAMPLE.to_vec();
            damaged[cut] = byte;
            let lint = lint(&damaged);
            // Whatever the damage, a report the reader refuses comes with an error saying why.
            prop_assert!(lint.parsed.is_some() || lint.first_error().is_some());
        }
    }
}
