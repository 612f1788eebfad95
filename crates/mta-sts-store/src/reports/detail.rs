//! One stored report in full: every policy entry and failure detail with all their fields, the
//! lint findings, and the report as received (decompressed), for a page or an API that shows
//! one report.

use std::io::Read as _;

use flate2::read::MultiGzDecoder;
use mta_sts_core::diagnostic::Severity;
use mta_sts_core::report::{MAX_REPORT_SIZE, PolicyType, ResultType, Timestamp};
use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::rows::{FromPostgresRow as _, postgres_rows, sqlite_rows};
use super::{ReportKey, Source, StoredFinding};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// One stored report in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportDetail {
    /// Which stored report.
    pub key: ReportKey,
    /// `organization-name`.
    pub organization: String,
    /// `report-id`.
    pub report_id: String,
    /// `date-range.start-datetime`.
    pub start: Timestamp,
    /// `date-range.end-datetime`.
    pub end: Timestamp,
    /// `contact-info`; null when missing.
    pub contact_info: Option<String>,
    /// When it was received.
    pub received_at: Timestamp,
    /// How it arrived.
    pub source: Source,
    /// Every policy entry, in the report's order.
    pub policies: Vec<PolicyDetail>,
    /// The lint findings against it, in the order the lint gave them.
    pub findings: Vec<StoredFinding>,
    /// The report as received, decompressed (text from a stranger: escape it where shown).
    pub raw_json: String,
}

/// One policy entry of a [`ReportDetail`], every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDetail {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-domain`, as written; null when missing.
    pub policy_domain: Option<String>,
    /// `policy-string`.
    pub policy_string: Vec<String>,
    /// `mx-host`.
    pub mx_host: Vec<String>,
    /// `total-successful-session-count`.
    pub successful: u64,
    /// `total-failure-session-count`.
    pub failed: u64,
    /// `failure-details`, in the report's order.
    pub failures: Vec<StoredFailureDetail>,
}

/// One failure detail of a [`PolicyDetail`], every field (null: not given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFailureDetail {
    /// `result-type`.
    pub result_type: ResultType,
    /// `failed-session-count`.
    pub count: u64,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `additional-information`.
    pub additional_information: Option<String>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

/// The report row: (organisation, report id, start, end, contact info, received at, source,
/// raw gzip).
type ReportRow = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    i64,
    String,
    Vec<u8>,
);

/// A policy row: (position, policy type, policy domain, policy string, mx host, successful,
/// failed).
type PolicyRow = (i64, String, Option<String>, String, String, i64, i64);

/// A failure row: (policy, result type, count, sending IP, receiving MX, receiving HELO,
/// receiving IP, additional information, failure reason code).
type FailureRow = (
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A finding row: (code, severity, message).
type FindingRow = (String, String, String);

/// Everything read for one report.
struct DetailRows {
    report: ReportRow,
    policies: Vec<PolicyRow>,
    failures: Vec<FailureRow>,
    findings: Vec<FindingRow>,
}

const REPORT: &str = "
SELECT organization, report_id, start_at, end_at, contact_info, received_at, source, raw_gzip
  FROM report WHERE id = ?1";
const POLICIES: &str = "
SELECT position, policy_type, policy_domain, policy_string, mx_host, successful, failed
  FROM report_policy WHERE report = ?1 ORDER BY position";
const FAILURES: &str = "
SELECT policy, result_type, failed_session_count, sending_mta_ip, receiving_mx_hostname,
       receiving_mx_helo, receiving_ip, additional_information, failure_reason_code
  FROM failure_detail WHERE report = ?1 ORDER BY policy, position";
const FINDINGS: &str = "
SELECT code, severity, message FROM lint_finding WHERE report = ?1 ORDER BY position";

pub(super) async fn sqlite(
    store: &SqliteStore,
    key: ReportKey,
) -> Result<Option<ReportDetail>, StoreError> {
    let error = store.error("reading a report");
    let name = format!("sqlite:{}", store.path().display());
    let rows = store
        .read("reading a report", move |tx| {
            let id = key.id();
            let report: Option<ReportRow> = tx
                .prepare_cached(REPORT)
                .and_then(|mut statement| {
                    statement.query_row([id], |row| row.try_into()).optional()
                })
                .map_err(&error)?;
            let Some(report) = report else {
                return Ok(None);
            };
            let policies = sqlite_rows(tx, POLICIES, params![id]).map_err(&error)?;
            let failures = sqlite_rows(tx, FAILURES, params![id]).map_err(&error)?;
            let findings = sqlite_rows(tx, FINDINGS, params![id]).map_err(&error)?;
            Ok(Some(DetailRows {
                report,
                policies,
                failures,
                findings,
            }))
        })
        .await?;
    rows.map(|rows| build(&name, key, rows)).transpose()
}

pub(super) async fn postgres(
    store: &PostgresStore,
    key: ReportKey,
) -> Result<Option<ReportDetail>, StoreError> {
    use super::queries::{postgres_sql, read_snapshot};
    let error = store.error("reading a report");
    let id = key.id();
    let mut client = store.client("reading a report").await?;
    let tx = read_snapshot(&mut client).await.map_err(&error)?;
    let (report, policies, failures, findings) = (
        postgres_sql(REPORT),
        postgres_sql(POLICIES),
        postgres_sql(FAILURES),
        postgres_sql(FINDINGS),
    );
    let by_id: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
    let (report, policies, failures, findings) = tokio::try_join!(
        tx.query_opt(&report, &by_id),
        tx.query(&policies, &by_id),
        tx.query(&failures, &by_id),
        tx.query(&findings, &by_id),
    )
    .map_err(&error)?;
    tx.commit().await.map_err(&error)?;
    let Some(report) = report else {
        return Ok(None);
    };
    let report = ReportRow::from_postgres_row(&report).map_err(&error)?;
    let policies = postgres_rows(&policies).map_err(&error)?;
    let failures = postgres_rows(&failures).map_err(&error)?;
    let findings = postgres_rows(&findings).map_err(&error)?;
    build(
        store.url(),
        key,
        DetailRows {
            report,
            policies,
            failures,
            findings,
        },
    )
    .map(Some)
}

/// Puts the rows together; a value this crate never writes is [`StoreError::Corrupt`].
fn build(store: &str, key: ReportKey, rows: DetailRows) -> Result<ReportDetail, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        store: store.to_string(),
        what: format!("{key} {what}"),
    };
    let time = |seconds: i64| {
        Timestamp::from_unix_seconds(seconds)
            .ok_or_else(|| corrupt(format!("has the time {seconds}, out of range")))
    };
    let count = |value: i64| {
        u64::try_from(value).map_err(|_| corrupt(format!("has the negative count {value}")))
    };
    let list = |text: &str, what: &str| {
        serde_json::from_str::<Vec<String>>(text)
            .map_err(|e| corrupt(format!("has a {what} that is not a list of strings ({e})")))
    };
    let (organization, report_id, start, end, contact_info, received_at, source, raw_gzip) =
        rows.report;
    let mut failures = rows.failures.into_iter().peekable();
    let mut policies = Vec::with_capacity(rows.policies.len());
    for (position, policy_type, policy_domain, policy_string, mx_host, successful, failed) in
        rows.policies
    {
        let mut details = Vec::new();
        // Both lists are ordered by policy position: the details of this entry come next.
        while let Some(failure) = failures.next_if(|failure| failure.0 == position) {
            let (_, result_type, n, ip, mx, helo, receiving_ip, information, reason) = failure;
            details.push(StoredFailureDetail {
                result_type: ResultType::from_wire(&result_type),
                count: count(n)?,
                sending_mta_ip: ip,
                receiving_mx_hostname: mx,
                receiving_mx_helo: helo,
                receiving_ip,
                additional_information: information,
                failure_reason_code: reason,
            });
        }
        policies.push(PolicyDetail {
            policy_type: PolicyType::from_wire(&policy_type),
            policy_domain,
            policy_string: list(&policy_string, "policy-string")?,
            mx_host: list(&mx_host, "mx-host")?,
            successful: count(successful)?,
            failed: count(failed)?,
            failures: details,
        });
    }
    let findings = rows
        .findings
        .into_iter()
        .map(|(code, severity, message)| {
            let severity = match severity.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "info" => Severity::Info,
                other => return Err(corrupt(format!("has a finding of severity `{other}`"))),
            };
            Ok(StoredFinding {
                code,
                severity,
                message,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(ReportDetail {
        key,
        organization,
        report_id,
        start: time(start)?,
        end: time(end)?,
        contact_info,
        received_at: time(received_at)?,
        source: Source::from_name(&source)
            .ok_or_else(|| corrupt(format!("has the unknown source `{source}`")))?,
        policies,
        findings,
        raw_json: gunzip(&raw_gzip).map_err(corrupt)?,
    })
}

/// The raw report, decompressed: every gzip member (RFC 1952 §2.2), at most
/// [`MAX_REPORT_SIZE`] bytes (what the reader accepted), as UTF-8 (RFC 8259 §8.1).
fn gunzip(raw: &[u8]) -> Result<String, String> {
    let mut json = Vec::new();
    MultiGzDecoder::new(raw)
        .take(MAX_REPORT_SIZE as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("has a raw report that does not decompress ({e})"))?;
    if json.len() > MAX_REPORT_SIZE {
        return Err(format!(
            "has a raw report larger than {} MiB once decompressed",
            MAX_REPORT_SIZE / (1024 * 1024)
        ));
    }
    String::from_utf8(json).map_err(|e| format!("has a raw report that is not UTF-8 ({e})"))
}
