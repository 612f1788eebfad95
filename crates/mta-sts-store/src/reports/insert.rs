//! Storing reports: normalising them into rows, de-duplicating, one transaction per batch.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rusqlite::{OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;

use super::{Insertion, NewReport, ReportKey, StoredFinding, domain_key};
use crate::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;

/// A report turned into the values of its rows.
pub(super) struct Prepared {
    content_hash: Vec<u8>,
    organization: String,
    report_id: String,
    start_at: i64,
    end_at: i64,
    day: i64,
    contact_info: Option<String>,
    received_at: i64,
    source: &'static str,
    raw_gzip: Vec<u8>,
    policies: Vec<PreparedPolicy>,
    findings: Vec<StoredFinding>,
}

struct PreparedPolicy {
    domain: Option<String>,
    policy_type: String,
    policy_domain: Option<String>,
    policy_string: String,
    mx_host: String,
    successful: i64,
    failed: i64,
    /// 1 on the report's first entry for this domain, 0 on the others.
    first_for_domain: i64,
    failures: Vec<PreparedFailure>,
}

struct PreparedFailure {
    result_type: String,
    sending_mta_ip: Option<String>,
    receiving_mx_hostname: Option<String>,
    receiving_mx_helo: Option<String>,
    receiving_ip: Option<String>,
    count: i64,
    additional_information: Option<String>,
    failure_reason_code: Option<String>,
}

/// A report's identity besides its content: (organisation, report id, start, end).
type Identity = (String, String, i64, i64);

impl Prepared {
    fn identity(&self) -> Identity {
        (
            self.organization.clone(),
            self.report_id.clone(),
            self.start_at,
            self.end_at,
        )
    }
}

/// Prepares every report, or says which one cannot be stored.
pub(super) fn prepare_all(reports: Vec<NewReport>) -> Result<Vec<Prepared>, StoreError> {
    let mut gzipper = Gzipper::new();
    reports
        .into_iter()
        .map(|report| prepare(report, &mut gzipper))
        .collect()
}

fn prepare(new: NewReport, gzipper: &mut Gzipper) -> Result<Prepared, StoreError> {
    let report = &new.report;
    let unstorable = |reason: String| StoreError::Unstorable {
        organization: report.organization_name.clone(),
        report_id: report.report_id.clone(),
        reason,
    };
    let count = |value: u64, what: &str| {
        i64::try_from(value).map_err(|_| {
            unstorable(format!(
                "its {what} {value} is larger than the store can hold ({})",
                i64::MAX
            ))
        })
    };
    let mut policies = Vec::with_capacity(report.policies.len());
    for entry in &report.policies {
        let mut failures = Vec::with_capacity(entry.failure_details.len());
        for detail in &entry.failure_details {
            failures.push(PreparedFailure {
                result_type: detail.result_type.as_str().to_string(),
                sending_mta_ip: detail.sending_mta_ip.clone(),
                receiving_mx_hostname: detail.receiving_mx_hostname.clone(),
                receiving_mx_helo: detail.receiving_mx_helo.clone(),
                receiving_ip: detail.receiving_ip.clone(),
                count: count(detail.failed_session_count, "failed-session-count")?,
                additional_information: detail.additional_information.clone(),
                failure_reason_code: detail.failure_reason_code.clone(),
            });
        }
        let domain = entry.policy.policy_domain.as_deref().map(domain_key);
        let first_for_domain =
            i64::from(!policies.iter().any(|p: &PreparedPolicy| p.domain == domain));
        policies.push(PreparedPolicy {
            first_for_domain,
            domain,
            policy_type: entry.policy.policy_type.as_str().to_string(),
            policy_domain: entry.policy.policy_domain.clone(),
            policy_string: json_list(&entry.policy.policy_string),
            mx_host: json_list(&entry.policy.mx_host),
            successful: count(
                entry.summary.total_successful_session_count,
                "total-successful-session-count",
            )?,
            failed: count(
                entry.summary.total_failure_session_count,
                "total-failure-session-count",
            )?,
            failures,
        });
    }
    let start_at = report.date_range.start.unix_seconds();
    Ok(Prepared {
        content_hash: Sha256::digest(&new.json).to_vec(),
        organization: report.organization_name.clone(),
        report_id: report.report_id.clone(),
        start_at,
        end_at: report.date_range.end.unix_seconds(),
        day: report.date_range.start.day_number(),
        contact_info: report.contact_info.clone(),
        received_at: new.received_at.unix_seconds(),
        source: new.source.as_str(),
        // A report that arrived as gzip is kept as it arrived (its size bounded by the 16 MiB
        // cap the reader put on it); only plain JSON is compressed here.
        raw_gzip: match new.gzip {
            Some(received) => received,
            None => gzipper.gzip(&new.json)?,
        },
        policies,
        findings: new.findings,
    })
}

fn json_list(values: &[String]) -> String {
    // A list of strings always serializes.
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_string())
}

/// Gzip (RFC 1952) with one deflate state reused for a whole batch.
///
/// `GzEncoder` allocates and clears a fresh compressor (hundreds of KiB) per report, which cost
/// more than the rest of an insert; flate2's `Compress` can be reset instead, and the gzip
/// framing around its raw deflate output is 18 bytes, written here.
struct Gzipper {
    deflate: Compress,
}

impl Gzipper {
    fn new() -> Gzipper {
        Gzipper {
            deflate: Compress::new(Compression::fast(), false),
        }
    }

    fn gzip(&mut self, json: &[u8]) -> Result<Vec<u8>, StoreError> {
        // RFC 1952 §2.3: ID1 ID2, CM = 8 (deflate), FLG = 0, MTIME = 0, XFL = 0, OS = 255.
        let mut out = Vec::with_capacity(json.len() / 3 + 64);
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        self.deflate.reset();
        let start_in = self.deflate.total_in();
        loop {
            out.reserve(json.len() / 4 + 64);
            let consumed = usize::try_from(self.deflate.total_in() - start_in).unwrap_or(0);
            let status = self
                .deflate
                .compress_vec(
                    json.get(consumed..).unwrap_or_default(),
                    &mut out,
                    FlushCompress::Finish,
                )
                .map_err(|e| StoreError::Compress {
                    source: std::io::Error::other(e),
                })?;
            if status == Status::StreamEnd {
                break;
            }
        }
        let mut crc = Crc::new();
        crc.update(json);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE: the input's size modulo 2^32.
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        Ok(out)
    }
}

/// Where each report of a batch stands before anything is written: new, or a duplicate of an
/// earlier report of the same batch (by index).
fn within_batch(prepared: &[Prepared]) -> Vec<Option<usize>> {
    let mut first: HashMap<Identity, usize> = HashMap::new();
    prepared
        .iter()
        .enumerate()
        .map(|(index, report)| match first.entry(report.identity()) {
            std::collections::hash_map::Entry::Occupied(earlier) => Some(*earlier.get()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
                None
            }
        })
        .collect()
}

pub(super) async fn sqlite(
    store: &SqliteStore,
    prepared: Vec<Prepared>,
) -> Result<Vec<Insertion>, StoreError> {
    let error = store.error("inserting reports");
    store
        .write("inserting reports", move |tx| {
            let mut find = tx
                .prepare_cached(
                    "SELECT id FROM report
                      WHERE organization = ?1 AND report_id = ?2 AND start_at = ?3 AND end_at = ?4",
                )
                .map_err(&error)?;
            let mut insert_report = tx
                .prepare_cached(
                    "INSERT INTO report (content_hash, organization, report_id, start_at, end_at,
                        contact_info, received_at, source, raw_gzip)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(&error)?;
            let mut insert_policy = tx
                .prepare_cached(
                    "INSERT INTO report_policy (report, position, domain, day, organization,
                        policy_type, policy_domain, policy_string, mx_host, successful, failed,
                        first_for_domain)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(&error)?;
            let mut insert_failure = tx
                .prepare_cached(
                    "INSERT INTO failure_detail (report, policy, position, domain, day,
                        policy_type, result_type, sending_mta_ip, receiving_mx_hostname,
                        receiving_mx_helo, receiving_ip, failed_session_count,
                        additional_information, failure_reason_code, organization)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .map_err(&error)?;
            let mut insert_finding = tx
                .prepare_cached(
                    "INSERT INTO lint_finding (report, position, code, severity, message)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&error)?;
            let mut outcomes = Vec::with_capacity(prepared.len());
            for report in &prepared {
                // Earlier reports of this batch are already in the table: the same lookup finds
                // them.
                let existing: Option<i64> = find
                    .query_row(
                        params![
                            report.organization,
                            report.report_id,
                            report.start_at,
                            report.end_at
                        ],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(&error)?;
                if let Some(id) = existing {
                    outcomes.push(Insertion::Duplicate(ReportKey(id)));
                    continue;
                }
                insert_report
                    .execute(params![
                        report.content_hash,
                        report.organization,
                        report.report_id,
                        report.start_at,
                        report.end_at,
                        report.contact_info,
                        report.received_at,
                        report.source,
                        report.raw_gzip
                    ])
                    .map_err(&error)?;
                let id = tx.last_insert_rowid();
                for (position, policy) in (0_i64..).zip(&report.policies) {
                    insert_policy
                        .execute(params![
                            id,
                            position,
                            policy.domain,
                            report.day,
                            report.organization,
                            policy.policy_type,
                            policy.policy_domain,
                            policy.policy_string,
                            policy.mx_host,
                            policy.successful,
                            policy.failed,
                            policy.first_for_domain
                        ])
                        .map_err(&error)?;
                    for (detail, failure) in (0_i64..).zip(&policy.failures) {
                        insert_failure
                            .execute(params![
                                id,
                                position,
                                detail,
                                policy.domain,
                                report.day,
                                policy.policy_type,
                                failure.result_type,
                                failure.sending_mta_ip,
                                failure.receiving_mx_hostname,
                                failure.receiving_mx_helo,
                                failure.receiving_ip,
                                failure.count,
                                failure.additional_information,
                                failure.failure_reason_code,
                                report.organization
                            ])
                            .map_err(&error)?;
                    }
                }
                for (position, finding) in (0_i64..).zip(&report.findings) {
                    insert_finding
                        .execute(params![
                            id,
                            position,
                            finding.code,
                            finding.severity.as_str(),
                            finding.message
                        ])
                        .map_err(&error)?;
                }
                outcomes.push(Insertion::Imported(ReportKey(id)));
            }
            Ok(outcomes)
        })
        .await
}

/// The identities of the stored reports among `reports`, with their ids.
async fn find_existing(
    tx: &deadpool_postgres::Transaction<'_>,
    reports: &[&Prepared],
    error: &impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<HashMap<Identity, i64>, StoreError> {
    let organizations: Vec<&str> = reports.iter().map(|r| r.organization.as_str()).collect();
    let report_ids: Vec<&str> = reports.iter().map(|r| r.report_id.as_str()).collect();
    let starts: Vec<i64> = reports.iter().map(|r| r.start_at).collect();
    let ends: Vec<i64> = reports.iter().map(|r| r.end_at).collect();
    let statement = tx
        .prepare_cached(
            "SELECT r.id, r.organization, r.report_id, r.start_at, r.end_at
               FROM report r
               JOIN unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                    AS k (organization, report_id, start_at, end_at)
                 ON r.organization = k.organization AND r.report_id = k.report_id
                AND r.start_at = k.start_at AND r.end_at = k.end_at",
        )
        .await
        .map_err(error)?;
    let rows = tx
        .query(&statement, &[&organizations, &report_ids, &starts, &ends])
        .await
        .map_err(error)?;
    rows.iter().map(|row| identity_and_id(row, error)).collect()
}

/// (organisation, report id, start, end) from columns 1 to 4, and the id from column 0.
fn identity_and_id(
    row: &tokio_postgres::Row,
    error: &impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<(Identity, i64), StoreError> {
    Ok((
        (
            row.try_get(1).map_err(error)?,
            row.try_get(2).map_err(error)?,
            row.try_get(3).map_err(error)?,
            row.try_get(4).map_err(error)?,
        ),
        row.try_get(0).map_err(error)?,
    ))
}

pub(super) async fn postgres(
    store: &PostgresStore,
    prepared: Vec<Prepared>,
) -> Result<Vec<Insertion>, StoreError> {
    let error = store.error("inserting reports");
    let mut client = store.client("inserting reports").await?;
    let tx = client.transaction().await.map_err(&error)?;
    let earlier = within_batch(&prepared);
    let candidates: Vec<&Prepared> = prepared
        .iter()
        .zip(&earlier)
        .filter(|(_, earlier)| earlier.is_none())
        .map(|(report, _)| report)
        .collect();
    let mut stored = find_existing(&tx, &candidates, &error).await?;
    let mut fresh: Vec<&Prepared> = candidates
        .iter()
        .copied()
        .filter(|r| !stored.contains_key(&r.identity()))
        .collect();
    // Inserted in one order by every writer, so two batches sharing reports wait for each other
    // on the unique index instead of deadlocking.
    fresh.sort_by(|a, b| {
        (&a.organization, &a.report_id, a.start_at, a.end_at).cmp(&(
            &b.organization,
            &b.report_id,
            b.start_at,
            b.end_at,
        ))
    });
    // Ids of the reports written by this transaction.
    let mut inserted: HashMap<Identity, i64> = HashMap::new();
    if !fresh.is_empty() {
        let statement = tx
            .prepare_cached(
                "INSERT INTO report (content_hash, organization, report_id, start_at, end_at,
                    contact_info, received_at, source, raw_gzip)
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::bigint[],
                    $5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::bytea[])
                 ON CONFLICT DO NOTHING
                 RETURNING id, organization, report_id, start_at, end_at",
            )
            .await
            .map_err(&error)?;
        let rows = tx
            .query(
                &statement,
                &[
                    &fresh
                        .iter()
                        .map(|r| r.content_hash.as_slice())
                        .collect::<Vec<_>>(),
                    &fresh
                        .iter()
                        .map(|r| r.organization.as_str())
                        .collect::<Vec<_>>(),
                    &fresh
                        .iter()
                        .map(|r| r.report_id.as_str())
                        .collect::<Vec<_>>(),
                    &fresh.iter().map(|r| r.start_at).collect::<Vec<_>>(),
                    &fresh.iter().map(|r| r.end_at).collect::<Vec<_>>(),
                    &fresh
                        .iter()
                        .map(|r| r.contact_info.as_deref())
                        .collect::<Vec<_>>(),
                    &fresh.iter().map(|r| r.received_at).collect::<Vec<_>>(),
                    &fresh.iter().map(|r| r.source).collect::<Vec<_>>(),
                    &fresh
                        .iter()
                        .map(|r| r.raw_gzip.as_slice())
                        .collect::<Vec<_>>(),
                ],
            )
            .await
            .map_err(&error)?;
        for row in &rows {
            let (identity, id) = identity_and_id(row, &error)?;
            inserted.insert(identity, id);
        }
        // A report another writer stored between the lookup and the insert was skipped by ON
        // CONFLICT: it is a duplicate of that one.
        let raced: Vec<&Prepared> = fresh
            .iter()
            .copied()
            .filter(|r| !inserted.contains_key(&r.identity()))
            .collect();
        if !raced.is_empty() {
            stored.extend(find_existing(&tx, &raced, &error).await?);
        }
        insert_rows(&tx, &fresh, &inserted, &error).await?;
    }
    let mut outcomes: Vec<Insertion> = Vec::with_capacity(prepared.len());
    for (index, report) in prepared.iter().enumerate() {
        let identity = report.identity();
        let outcome = if let Some(first) = earlier.get(index).copied().flatten() {
            outcomes.get(first).map(|o| Insertion::Duplicate(o.key()))
        } else if let Some(id) = inserted.get(&identity) {
            Some(Insertion::Imported(ReportKey(*id)))
        } else {
            stored
                .get(&identity)
                .map(|id| Insertion::Duplicate(ReportKey(*id)))
        };
        let Some(outcome) = outcome else {
            return Err(StoreError::Corrupt {
                store: store.url().to_string(),
                what: format!(
                    "the report {} from {} was neither stored nor found stored",
                    report.report_id, report.organization
                ),
            });
        };
        outcomes.push(outcome);
    }
    tx.commit().await.map_err(&error)?;
    Ok(outcomes)
}

/// Writes the policy, failure and finding rows of the reports just inserted.
async fn insert_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    fresh: &[&Prepared],
    inserted: &HashMap<Identity, i64>,
    error: &impl Fn(tokio_postgres::Error) -> StoreError,
) -> Result<(), StoreError> {
    let mut policy = PolicyColumns::default();
    let mut failure = FailureColumns::default();
    let mut finding = FindingColumns::default();
    for report in fresh {
        let Some(&id) = inserted.get(&report.identity()) else {
            continue;
        };
        for (position, entry) in (0_i64..).zip(&report.policies) {
            policy.report.push(id);
            policy.position.push(position);
            policy.domain.push(entry.domain.as_deref());
            policy.day.push(report.day);
            policy.organization.push(&report.organization);
            policy.policy_type.push(&entry.policy_type);
            policy.policy_domain.push(entry.policy_domain.as_deref());
            policy.policy_string.push(&entry.policy_string);
            policy.mx_host.push(&entry.mx_host);
            policy.successful.push(entry.successful);
            policy.failed.push(entry.failed);
            policy.first_for_domain.push(entry.first_for_domain);
            for (detail, row) in (0_i64..).zip(&entry.failures) {
                failure.report.push(id);
                failure.policy.push(position);
                failure.position.push(detail);
                failure.domain.push(entry.domain.as_deref());
                failure.day.push(report.day);
                failure.policy_type.push(&entry.policy_type);
                failure.result_type.push(&row.result_type);
                failure.sending_mta_ip.push(row.sending_mta_ip.as_deref());
                failure
                    .receiving_mx_hostname
                    .push(row.receiving_mx_hostname.as_deref());
                failure
                    .receiving_mx_helo
                    .push(row.receiving_mx_helo.as_deref());
                failure.receiving_ip.push(row.receiving_ip.as_deref());
                failure.count.push(row.count);
                failure
                    .additional_information
                    .push(row.additional_information.as_deref());
                failure
                    .failure_reason_code
                    .push(row.failure_reason_code.as_deref());
                failure.organization.push(&report.organization);
            }
        }
        for (position, row) in (0_i64..).zip(&report.findings) {
            finding.report.push(id);
            finding.position.push(position);
            finding.code.push(&row.code);
            finding.severity.push(row.severity.as_str());
            finding.message.push(&row.message);
        }
    }
    if !policy.report.is_empty() {
        tx.execute(
            "INSERT INTO report_policy (report, position, domain, day, organization, policy_type,
                policy_domain, policy_string, mx_host, successful, failed, first_for_domain)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[],
                $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[],
                $11::bigint[], $12::bigint[])",
            &[
                &policy.report,
                &policy.position,
                &policy.domain,
                &policy.day,
                &policy.organization,
                &policy.policy_type,
                &policy.policy_domain,
                &policy.policy_string,
                &policy.mx_host,
                &policy.successful,
                &policy.failed,
                &policy.first_for_domain,
            ],
        )
        .await
        .map_err(error)?;
    }
    if !failure.report.is_empty() {
        tx.execute(
            "INSERT INTO failure_detail (report, policy, position, domain, day, policy_type,
                result_type, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo,
                receiving_ip, failed_session_count, additional_information, failure_reason_code,
                organization)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
                $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[])",
            &[
                &failure.report,
                &failure.policy,
                &failure.position,
                &failure.domain,
                &failure.day,
                &failure.policy_type,
                &failure.result_type,
                &failure.sending_mta_ip,
                &failure.receiving_mx_hostname,
                &failure.receiving_mx_helo,
                &failure.receiving_ip,
                &failure.count,
                &failure.additional_information,
                &failure.failure_reason_code,
                &failure.organization,
            ],
        )
        .await
        .map_err(error)?;
    }
    if !finding.report.is_empty() {
        tx.execute(
            "INSERT INTO lint_finding (report, position, code, severity, message)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])",
            &[
                &finding.report,
                &finding.position,
                &finding.code,
                &finding.severity,
                &finding.message,
            ],
        )
        .await
        .map_err(error)?;
    }
    Ok(())
}

/// `report_policy` column by column, for one `unnest` insert.
#[derive(Default)]
struct PolicyColumns<'a> {
    report: Vec<i64>,
    position: Vec<i64>,
    domain: Vec<Option<&'a str>>,
    day: Vec<i64>,
    organization: Vec<&'a str>,
    policy_type: Vec<&'a str>,
    policy_domain: Vec<Option<&'a str>>,
    policy_string: Vec<&'a str>,
    mx_host: Vec<&'a str>,
    successful: Vec<i64>,
    failed: Vec<i64>,
    first_for_domain: Vec<i64>,
}

/// `failure_detail` column by column.
#[derive(Default)]
struct FailureColumns<'a> {
    report: Vec<i64>,
    policy: Vec<i64>,
    position: Vec<i64>,
    domain: Vec<Option<&'a str>>,
    day: Vec<i64>,
    policy_type: Vec<&'a str>,
    result_type: Vec<&'a str>,
    sending_mta_ip: Vec<Option<&'a str>>,
    receiving_mx_hostname: Vec<Option<&'a str>>,
    receiving_mx_helo: Vec<Option<&'a str>>,
    receiving_ip: Vec<Option<&'a str>>,
    count: Vec<i64>,
    additional_information: Vec<Option<&'a str>>,
    failure_reason_code: Vec<Option<&'a str>>,
    organization: Vec<&'a str>,
}

/// `lint_finding` column by column.
#[derive(Default)]
struct FindingColumns<'a> {
    report: Vec<i64>,
    position: Vec<i64>,
    code: Vec<&'a str>,
    severity: Vec<&'a str>,
    message: Vec<&'a str>,
}

#[cfg(test)]
mod tests;
