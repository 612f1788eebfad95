//! Reports for the tests, built from RFC 8460 JSON.

use mta_sts_core::diagnostic::Severity;
use mta_sts_core::report::Timestamp;
use mta_sts_store::reports::{NewReport, Source, StoredFinding};
use serde_json::{Value, json};

/// Midnight UTC of 2026-11-`day`.
pub fn november(day: u32) -> Timestamp {
    Timestamp::parse(&format!("2026-11-{day:02}T00:00:00Z")).expect("a date in November")
}

/// A policy entry: `policy_type` for `domain`, with these counts and failure details.
pub fn policy(
    policy_type: &str,
    domain: &str,
    successful: u64,
    failed: u64,
    failures: Vec<Value>,
) -> Value {
    let mut policy = json!({
        "policy": {
            "policy-type": policy_type,
            "policy-string": ["version: STSv1", "mode: testing", "mx: mx.example.com", "max_age: 86400"],
            "policy-domain": domain,
            "mx-host": ["mx.example.com"]
        },
        "summary": {
            "total-successful-session-count": successful,
            "total-failure-session-count": failed
        }
    });
    if !failures.is_empty() {
        policy["failure-details"] = Value::Array(failures);
    }
    policy
}

/// A failure detail.
pub fn failure(result_type: &str, count: u64, mx: Option<&str>, ip: Option<&str>) -> Value {
    let mut detail = json!({ "result-type": result_type, "failed-session-count": count });
    if let Some(mx) = mx {
        detail["receiving-mx-hostname"] = json!(mx);
    }
    if let Some(ip) = ip {
        detail["sending-mta-ip"] = json!(ip);
    }
    detail
}

/// The report JSON from `organization` with id `report_id` for the day starting `start`.
pub fn report_json(
    organization: &str,
    report_id: &str,
    start: Timestamp,
    policies: Vec<Value>,
) -> Value {
    let end = Timestamp::from_unix_seconds(start.unix_seconds() + 86_399).expect("end");
    json!({
        "organization-name": organization,
        "date-range": { "start-datetime": start.to_string(), "end-datetime": end.to_string() },
        "contact-info": format!("tlsrpt@{organization}"),
        "report-id": report_id,
        "policies": policies
    })
}

/// `json` as a report to store, received by `source` at `start` plus two days.
pub fn new_report(json: &Value, source: Source) -> NewReport {
    let bytes = serde_json::to_vec_pretty(json).expect("json");
    let report = mta_sts_core::report::parse(&bytes).expect("a readable report");
    let received_at =
        Timestamp::from_unix_seconds(report.date_range.start.unix_seconds() + 2 * 86_400)
            .expect("received");
    NewReport {
        report,
        json: bytes,
        gzip: None,
        findings: vec![StoredFinding {
            code: "example-finding".into(),
            severity: Severity::Warning,
            message: "a finding kept with the report".into(),
        }],
        received_at,
        source,
    }
}

/// A one-policy `sts` report for `domain`.
pub fn simple(
    organization: &str,
    report_id: &str,
    start: Timestamp,
    domain: &str,
    successful: u64,
) -> NewReport {
    new_report(
        &report_json(
            organization,
            report_id,
            start,
            vec![policy("sts", domain, successful, 0, vec![])],
        ),
        Source::File,
    )
}

/// `t` moved by `seconds`.
pub fn shift(t: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(t.unix_seconds() + seconds).expect("in range")
}
