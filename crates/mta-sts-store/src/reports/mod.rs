//! The TLS-RPT report store (RFC 8460 §4): every report kept once, raw and normalised, and read
//! back as lists and per-domain summaries.
//!
//! - Each report is kept twice: as received (JSON, gzip-compressed) and as rows (the report,
//!   its policy entries, their failure details, the lint findings against it).
//! - A report is stored once: another with the same content, or with the same organisation,
//!   report id and date range, is a [`Insertion::Duplicate`] of it. Report ids alone are not
//!   enough: several providers reuse one id across date ranges. The content includes that
//!   identity, so the same report received twice, by mail and by HTTPS, even with other
//!   whitespace or key order, is found by its identity. The SHA-256 of the JSON as received is
//!   kept with it (hashing that, rather than the report serialized again, spares a
//!   serialization per report).
//! - Counts are kept per policy entry and never summed across policy types: Microsoft counts
//!   the same sessions under `sts` and under `tlsa`.
//! - A report belongs to the UTC day its `start-datetime` falls on.
//! - What the dashboard, the rollout advisor and the alerts read: the [`DomainEvidence`] of a
//!   domain over a range of days, the [`DomainOverview`] of every domain, one report in full
//!   ([`ReportDetail`]), the reports in the order they were received, and two small tables of
//!   their own: alerts sent (one per condition and period, [`ReportStore::claim_alert`]) and a
//!   value per domain and name ([`ReportStore::swap_domain_state`]).
//! - What `mta-sts serve`'s ACME client shares between the servers of one store: the account
//!   per directory ([`ReportStore::keep_acme_account`]), the newest certificate per name
//!   ([`StoredCertificate`]) and the issuance leases ([`ReportStore::claim_acme_lease`]).
//! - What the monitor keeps: each check of an owner's domain ([`MonitorCheck`]) and the events
//!   raised and cleared ([`MonitorEvent`]), one open event per (domain, code, subject) however
//!   many servers share the store ([`ReportStore::raise_monitor_event`]).

mod acme;
mod detail;
mod evidence;
mod fetches;
mod insert;
mod monitor;
mod overview;
mod queries;
mod rows;
mod schema;
mod state;
mod summary;

use mta_sts_core::diagnostic::Severity;
use mta_sts_core::report::{PolicyType, Report, ResultType, Timestamp};
use serde::Serialize;

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{StoreError, StoreOptions, StoreUrl};

pub use acme::StoredCertificate;
pub use detail::{PolicyDetail, ReportDetail, StoredFailureDetail};
pub use evidence::{DomainEvidence, EvidenceQuery, FailureGroup, PolicySeen, Reporter};
pub use fetches::PolicyFetches;
pub use monitor::{MonitorCheck, MonitorEvent, NewMonitorCheck};
pub use overview::{DomainOverview, DomainsQuery};
pub use schema::SCHEMA;
pub use summary::{
    DayFailureCount, DaySummary, DomainSummary, FailureBreakdown, MxCount, OrganizationCount,
    PolicyTypeCounts, PolicyTypeTotals, ResultTypeCount, SendingIpCount, SummaryTotal,
};

/// How many reports [`ReportStore::prune`] deletes per transaction: small enough that intake,
/// waiting for the write lock between two batches, never waits long.
pub const PRUNE_BATCH: usize = 1000;

/// The report store, on SQLite or PostgreSQL: `Send + Sync`, cheap to clone.
#[derive(Debug, Clone)]
pub struct ReportStore {
    backend: Backend,
    url: StoreUrl,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// A report to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// The report, as the core's tolerant reader read it.
    pub report: Report,
    /// The report as received, decompressed; kept gzip-compressed (see `gzip`).
    pub json: Vec<u8>,
    /// The gzip bytes the report arrived as, when it arrived gzip-compressed (one or more gzip
    /// members, RFC 1952 §2.2, that decompress to exactly `json`): kept as they are, which
    /// spares compressing `json` again. `None` for a report that arrived as plain JSON: `json`
    /// is compressed for keeping.
    pub gzip: Option<Vec<u8>>,
    /// The lint findings against it.
    pub findings: Vec<StoredFinding>,
    /// When it was received.
    pub received_at: Timestamp,
    /// How it arrived.
    pub source: Source,
}

/// A lint finding kept with a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFinding {
    /// The finding's code, e.g. `datetime-without-zone`.
    pub code: String,
    /// How bad it is.
    pub severity: Severity,
    /// The finding, for people.
    pub message: String,
}

/// How a report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A file named on the command line.
    File,
    /// Standard input (an MTA pipe).
    Pipe,
    /// A mail message, mbox or Maildir read from files.
    Mail,
    /// A mailbox read over IMAP.
    Imap,
    /// An HTTPS POST (RFC 8460 §3).
    Https,
}

impl Source {
    /// The name stored and shown: `file`, `pipe`, `mail`, `imap`, `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Pipe => "pipe",
            Source::Mail => "mail",
            Source::Imap => "imap",
            Source::Https => "https",
        }
    }

    /// Reads a name written by [`Source::as_str`].
    pub fn from_name(name: &str) -> Option<Source> {
        [
            Source::File,
            Source::Pipe,
            Source::Mail,
            Source::Imap,
            Source::Https,
        ]
        .into_iter()
        .find(|source| source.as_str() == name)
    }
}

impl Serialize for Source {
    /// As [`Source::as_str`].
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which stored report: the store's own number for it (serialized as that number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ReportKey(i64);

impl ReportKey {
    /// The number.
    pub fn id(self) -> i64 {
        self.0
    }

    /// The key numbered `id` (as [`ReportKey::id`] gave it, e.g. read back from a URL): whether
    /// a report has it is for [`ReportStore::report`] to say.
    pub fn from_id(id: i64) -> ReportKey {
        ReportKey(id)
    }
}

impl std::fmt::Display for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored report {}", self.0)
    }
}

/// What became of one report given to [`ReportStore::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insertion {
    /// Stored now.
    Imported(ReportKey),
    /// Already stored (the same content, or the same organisation, report id and date range),
    /// as this report; nothing was written for it.
    Duplicate(ReportKey),
}

impl Insertion {
    /// The stored report either way.
    pub fn key(self) -> ReportKey {
        match self {
            Insertion::Imported(key) | Insertion::Duplicate(key) => key,
        }
    }
}

/// Which reports [`ReportStore::list`] returns, ordered by start, organisation and report id
/// (oldest first, or newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only reports with a policy entry for this domain (case and a final dot ignored), and of
    /// them only those entries; every report and entry when `None`.
    pub domain: Option<String>,
    /// Only reports whose period starts at or after this.
    pub since: Option<Timestamp>,
    /// At most this many (the first in order, after `offset`).
    pub limit: Option<u64>,
    /// Newest first (by start, then organisation and report id, all reversed) instead of
    /// oldest first.
    pub newest_first: bool,
    /// Skip this many first (a page of a table: `offset` = page × `limit`).
    pub offset: Option<u64>,
}

/// A place in the order reports were received (by `received_at`, then by key): where
/// [`ReportStore::received_since`] continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiptCursor {
    /// Reports received at or after this second...
    pub received_at: Timestamp,
    /// ...and, of those received in that very second, only those with a larger key than this
    /// one (all of them when `None`).
    pub after: Option<ReportKey>,
}

impl ReceiptCursor {
    /// Every report received at `received_at` or later.
    pub fn since(received_at: Timestamp) -> ReceiptCursor {
        ReceiptCursor {
            received_at,
            after: None,
        }
    }

    /// The reports received after `report` (the last one a caller has seen).
    pub fn after(report: &StoredReport) -> ReceiptCursor {
        ReceiptCursor {
            received_at: report.received_at,
            after: Some(report.key),
        }
    }
}

/// Which reports [`ReportStore::summary`] sums up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryQuery {
    /// The policy domain (case and a final dot ignored).
    pub domain: String,
    /// The first day: reports starting on the UTC day of this instant or later...
    pub from: Timestamp,
    /// ...and before this instant's UTC day ends: every UTC day `from..=to` touches.
    pub to: Timestamp,
}

/// A stored report, as `mta-sts reports list --json` prints each one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredReport {
    /// Which stored report.
    #[serde(skip)]
    pub key: ReportKey,
    /// `organization-name`.
    pub organization: String,
    /// `report-id`.
    pub report_id: String,
    /// `date-range.start-datetime`.
    pub start: Timestamp,
    /// `date-range.end-datetime`.
    pub end: Timestamp,
    /// Its policy entries (only those of the domain asked for, if one was).
    pub policies: Vec<StoredPolicy>,
    /// When it was received.
    #[serde(skip)]
    pub received_at: Timestamp,
    /// How it arrived.
    #[serde(skip)]
    pub source: Source,
}

impl StoredReport {
    /// The report serialized as `reports list --json` prints it, with its key in front as
    /// `"key"` (for an API that links to [`ReportStore::report`]).
    pub fn keyed(&self) -> KeyedReport<'_> {
        KeyedReport {
            key: self.key,
            received_at: self.received_at,
            source: self.source,
            report: self,
        }
    }
}

/// A [`StoredReport`] with its key, when it was received and how: `{"key", "received_at",
/// "source", ...the report's own members}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KeyedReport<'a> {
    /// Which stored report.
    pub key: ReportKey,
    /// When it was received.
    pub received_at: Timestamp,
    /// How it arrived.
    pub source: Source,
    /// The report.
    #[serde(flatten)]
    pub report: &'a StoredReport,
}

/// One policy entry of a [`StoredReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredPolicy {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-domain`, as written; null when missing.
    pub policy_domain: Option<String>,
    /// `total-successful-session-count`.
    pub successful: u64,
    /// `total-failure-session-count`.
    pub failed: u64,
    /// `failure-details`.
    pub failures: Vec<StoredFailure>,
}

/// One failure detail of a [`StoredPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFailure {
    /// `result-type`.
    pub result_type: ResultType,
    /// `failed-session-count`.
    pub count: u64,
    /// `receiving-mx-hostname`; null when missing.
    pub receiving_mx_hostname: Option<String>,
    /// `sending-mta-ip`; null when missing.
    pub sending_mta_ip: Option<String>,
}

impl ReportStore {
    /// Opens the store at `url` with the default options, creating it (and, for SQLite, its
    /// directory) or migrating it as needed.
    pub async fn open(url: &StoreUrl) -> Result<ReportStore, StoreError> {
        ReportStore::open_with(url, StoreOptions::default()).await
    }

    /// Opens the store at `url` with `options` (timeouts, pool size).
    pub async fn open_with(
        url: &StoreUrl,
        options: StoreOptions,
    ) -> Result<ReportStore, StoreError> {
        let backend = match url {
            StoreUrl::Sqlite(path) => {
                Backend::Sqlite(SqliteStore::open(path, &SCHEMA, options.sqlite).await?)
            }
            StoreUrl::Postgres(text) => {
                Backend::Postgres(PostgresStore::open(text, &SCHEMA, options.postgres).await?)
            }
        };
        Ok(ReportStore {
            backend,
            url: url.clone(),
        })
    }

    /// Where the store is.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Stores `reports`, all in one transaction: when this returns Ok, every report is durable;
    /// when it fails, none was stored. One [`Insertion`] per report, in order; a report that
    /// repeats an earlier one of the same batch is a duplicate of it.
    pub async fn insert(&self, reports: Vec<NewReport>) -> Result<Vec<Insertion>, StoreError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        // Hashing and compressing is CPU work: off the async runtime, like the SQL.
        let prepared = tokio::task::spawn_blocking(move || insert::prepare_all(reports))
            .await
            .map_err(|source| StoreError::Worker {
                operation: "preparing reports",
                source,
            })??;
        match &self.backend {
            Backend::Sqlite(store) => insert::sqlite(store, prepared).await,
            Backend::Postgres(store) => insert::postgres(store, prepared).await,
        }
    }

    /// The reports `query` asks for.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<StoredReport>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => queries::list_sqlite(store, query).await,
            Backend::Postgres(store) => queries::list_postgres(store, query).await,
        }
    }

    /// The summary of one domain over a range of days.
    pub async fn summary(&self, query: &SummaryQuery) -> Result<DomainSummary, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(store) => queries::summary_sqlite(store, query).await?,
            Backend::Postgres(store) => queries::summary_postgres(store, query).await?,
        };
        Ok(summary::build(query, rows))
    }

    /// Everything stored about one domain over a range of days: the summary, who reported and
    /// when, the failures grouped by what failed where, and the policies senders applied.
    pub async fn evidence(&self, query: &EvidenceQuery) -> Result<DomainEvidence, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(store) => evidence::sqlite(store, query).await?,
            Backend::Postgres(store) => evidence::postgres(store, query).await?,
        };
        Ok(evidence::build(query, rows))
    }

    /// Every policy domain with stored reports, by name: when it was first and last reported
    /// on, and its reports and sessions since `query.since`.
    pub async fn domains(&self, query: &DomainsQuery) -> Result<Vec<DomainOverview>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => overview::sqlite(store, query).await,
            Backend::Postgres(store) => overview::postgres(store, query).await,
        }
    }

    /// One stored report in full (every policy entry and failure detail with all its fields,
    /// the lint findings, the raw JSON); `None` when no report has `key`.
    pub async fn report(&self, key: ReportKey) -> Result<Option<ReportDetail>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => detail::sqlite(store, key).await,
            Backend::Postgres(store) => detail::postgres(store, key).await,
        }
    }

    /// At most `limit` reports received at `cursor` or after, in the order they were received
    /// (every policy entry of each), however they arrived: continue with
    /// [`ReceiptCursor::after`] the last one.
    ///
    /// A report is stamped when it is received but becomes visible when its batch commits, so
    /// a report of a slower batch may appear behind the cursor of one already read: a watcher
    /// that must see every report starts each poll a little before its cursor (a minute) and
    /// skips the keys it has seen.
    pub async fn received_since(
        &self,
        cursor: &ReceiptCursor,
        limit: u64,
    ) -> Result<Vec<StoredReport>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => queries::received_sqlite(store, cursor, limit).await,
            Backend::Postgres(store) => queries::received_postgres(store, cursor, limit).await,
        }
    }

    /// Records that the alert for `condition` about `domain` (case and a final dot ignored) in
    /// `period` (e.g. a UTC day, `2026-12-03`) is being sent at `now`: true for exactly one
    /// caller per (domain, condition, period), however many servers sharing the store ask at
    /// once; false for every later one, which must not send it again.
    pub async fn claim_alert(
        &self,
        domain: &str,
        condition: &str,
        period: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                state::claim_alert_sqlite(store, domain, condition, period, now).await
            }
            Backend::Postgres(store) => {
                state::claim_alert_postgres(store, domain, condition, period, now).await
            }
        }
    }

    /// Stores `value` as the state `name` of `domain` (case and a final dot ignored) at `now`
    /// and returns the value it replaces (`None` the first time): e.g. the advisor's last
    /// verdict, to notice that it changed. Two callers swapping at once are ordered: the second
    /// gets the first one's value.
    pub async fn swap_domain_state(
        &self,
        domain: &str,
        name: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => state::swap_sqlite(store, domain, name, value, now).await,
            Backend::Postgres(store) => state::swap_postgres(store, domain, name, value, now).await,
        }
    }

    /// Adds a batch of policy fetch counts: each (domain, organisation) row's count grows by
    /// the batch's, its first fetch becomes the earlier and its last the later of the two.
    /// Several servers sharing the store add to the same rows.
    pub async fn add_policy_fetches(&self, batch: &[PolicyFetches]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite(store) => fetches::add_sqlite(store, batch).await,
            Backend::Postgres(store) => fetches::add_postgres(store, batch).await,
        }
    }

    /// Who fetched `domain`'s policy (case and a final dot ignored), the latest fetch first.
    pub async fn policy_fetches(&self, domain: &str) -> Result<Vec<PolicyFetches>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => fetches::list_sqlite(store, domain).await,
            Backend::Postgres(store) => fetches::list_postgres(store, domain).await,
        }
    }

    /// The ACME account credentials (JSON, as the ACME client wrote them) kept for the
    /// directory at `directory`; `None` when no server of this store has made one yet.
    pub async fn acme_account(&self, directory: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => acme::account_sqlite(store, directory).await,
            Backend::Postgres(store) => acme::account_postgres(store, directory).await,
        }
    }

    /// Keeps `credentials` as the account for `directory` unless one is kept already, and
    /// returns the account kept: `credentials`, or the one another server kept first (the
    /// caller then uses that one and drops its own).
    pub async fn keep_acme_account(
        &self,
        directory: &str,
        credentials: &str,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                acme::keep_account_sqlite(store, directory, credentials, now).await
            }
            Backend::Postgres(store) => {
                acme::keep_account_postgres(store, directory, credentials, now).await
            }
        }
    }

    /// The certificate kept for `name` (case ignored), if any.
    pub async fn acme_certificate(
        &self,
        name: &str,
    ) -> Result<Option<StoredCertificate>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => acme::certificate_sqlite(store, name).await,
            Backend::Postgres(store) => acme::certificate_postgres(store, name).await,
        }
    }

    /// Keeps `certificate` for its name, replacing the one kept unless that one lasts longer
    /// (a later `not_after`): true when it was kept.
    pub async fn keep_acme_certificate(
        &self,
        certificate: &StoredCertificate,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => acme::keep_certificate_sqlite(store, certificate).await,
            Backend::Postgres(store) => acme::keep_certificate_postgres(store, certificate).await,
        }
    }

    /// Claims the issuance lease of `name` (case ignored) for `holder` until `until`: true when
    /// `holder` now holds it (there was none, the one there expired at or before `now`, or it
    /// was `holder`'s own and is extended); false when another holder's lease runs, and the
    /// caller must not order `name` now. Of several servers claiming at once, exactly one wins.
    pub async fn claim_acme_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                acme::claim_lease_sqlite(store, name, holder, now, until).await
            }
            Backend::Postgres(store) => {
                acme::claim_lease_postgres(store, name, holder, now, until).await
            }
        }
    }

    /// Gives up `holder`'s issuance lease of `name` (nothing when another holder has it).
    pub async fn release_acme_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => acme::release_lease_sqlite(store, name, holder).await,
            Backend::Postgres(store) => acme::release_lease_postgres(store, name, holder).await,
        }
    }

    /// Keeps one monitor check.
    pub async fn record_monitor_check(&self, check: &NewMonitorCheck) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => monitor::record_check_sqlite(store, check).await,
            Backend::Postgres(store) => monitor::record_check_postgres(store, check).await,
        }
    }

    /// The latest monitor check of `domain` (case and a final dot ignored), if any.
    pub async fn latest_monitor_check(
        &self,
        domain: &str,
    ) -> Result<Option<MonitorCheck>, StoreError> {
        Ok(self.monitor_checks(domain, 1).await?.into_iter().next())
    }

    /// At most `limit` monitor checks of `domain` (case and a final dot ignored), the newest
    /// first.
    pub async fn monitor_checks(
        &self,
        domain: &str,
        limit: u32,
    ) -> Result<Vec<MonitorCheck>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => monitor::checks_sqlite(store, domain, limit).await,
            Backend::Postgres(store) => monitor::checks_postgres(store, domain, limit).await,
        }
    }

    /// Raises the event `code` about `subject` of `domain` at `at`: true when this call opened
    /// it; false when it is open already (raised earlier, or by another server at the same
    /// time), and the caller must not announce it again.
    pub async fn raise_monitor_event(
        &self,
        domain: &str,
        code: &str,
        subject: &str,
        message: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let change = monitor::event_change(domain, code, subject, message, at);
        match &self.backend {
            Backend::Sqlite(store) => monitor::change_event_sqlite(store, true, change).await,
            Backend::Postgres(store) => monitor::change_event_postgres(store, true, change).await,
        }
    }

    /// Clears the open event `code` about `subject` of `domain` at `at`, with `message` saying
    /// why: true when this call cleared it; false when none was open (never raised, or
    /// cleared already by another server).
    pub async fn clear_monitor_event(
        &self,
        domain: &str,
        code: &str,
        subject: &str,
        message: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let change = monitor::event_change(domain, code, subject, message, at);
        match &self.backend {
            Backend::Sqlite(store) => monitor::change_event_sqlite(store, false, change).await,
            Backend::Postgres(store) => monitor::change_event_postgres(store, false, change).await,
        }
    }

    /// The open monitor events of `domain` (case and a final dot ignored), the oldest first.
    pub async fn open_monitor_events(&self, domain: &str) -> Result<Vec<MonitorEvent>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => monitor::events_sqlite(store, domain, None).await,
            Backend::Postgres(store) => monitor::events_postgres(store, domain, None).await,
        }
    }

    /// At most `limit` monitor events of `domain` (case and a final dot ignored): the open ones
    /// first, then the cleared ones, each the latest raised first.
    pub async fn monitor_events(
        &self,
        domain: &str,
        limit: u32,
    ) -> Result<Vec<MonitorEvent>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => monitor::events_sqlite(store, domain, Some(limit)).await,
            Backend::Postgres(store) => monitor::events_postgres(store, domain, Some(limit)).await,
        }
    }

    /// Deletes the monitor checks made before `before` (of every domain); events are kept.
    /// Returns how many.
    pub async fn prune_monitor_checks(&self, before: Timestamp) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => monitor::prune_checks_sqlite(store, before).await,
            Backend::Postgres(store) => monitor::prune_checks_postgres(store, before).await,
        }
    }

    /// Deletes the reports whose period ended before `ended_before`, [`PRUNE_BATCH`] at a time
    /// (one transaction each, so intake waits at most one batch); returns how many.
    pub async fn prune(&self, ended_before: Timestamp) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => queries::prune_sqlite(store, ended_before).await,
            Backend::Postgres(store) => queries::prune_postgres(store, ended_before).await,
        }
    }
}

/// A policy domain as the store keys it: ASCII lowercase, without a final dot.
pub(crate) fn domain_key(domain: &str) -> String {
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}
