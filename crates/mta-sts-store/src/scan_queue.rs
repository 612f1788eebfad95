//! The queue of a scan shared by many workers (`mta-sts scan --queue postgres://...`): the
//! domains of a list, leased in batches by any number of processes on any number of machines,
//! each result written back once.
//!
//! PostgreSQL only: the workers are on several machines, and `FOR UPDATE SKIP LOCKED` lets each
//! take a batch without waiting for the rows another is taking. An `sqlite:` URL is refused
//! with a sentence saying so (one machine needs no queue: `mta-sts scan` without `--queue`).
//!
//! - `scan` (name, created, total) and `scan_domain` (scan, domain, line, state `queued` /
//!   `leased` / `done`, the lease's owner, expiry and attempt number, the result JSON, when and
//!   by whom it finished). A domain is one row per scan: its primary key is (scan, domain), so a
//!   result can never be there twice.
//! - [`ScanQueue::load`] adds the domains not in the scan yet: loading the same list again
//!   (every worker started with the file does) adds nothing.
//! - [`ScanQueue::lease`] takes a batch of queued domains, and leased ones whose lease has
//!   expired (a worker killed or cut off: its domains come back), in list order. A domain
//!   whose leases ran out `max_attempts` times (each worker checking it died: a domain that
//!   crashes the checker would otherwise take every worker down in turn) is given up: its
//!   result is an error line (`scan-worker-lost`), so the scan still ends with one line per
//!   domain.
//! - [`ScanQueue::complete`] keeps a result only from the lease that holds the row now (same
//!   owner, same attempt): the late result of an expired lease that another worker took over is
//!   dropped, not added.
//! - Time is the database's clock (`now()`), never a worker's: the machines' clocks may differ,
//!   and a lease must expire at the same moment for all of them.

use std::time::Duration;

use mta_sts_core::Timestamp;
use serde::Serialize;

use crate::postgres::{PostgresOptions, PostgresStore};
use crate::{Migration, Schema, StoreError, StoreUrl};

/// The scan queue's schema (PostgreSQL only; the SQLite text is never run, see [`ScanQueue::open`]).
pub static SCHEMA: Schema = Schema {
    name: "scan_queue",
    application_id: 0x4d54_5351,
    migrations: &[Migration {
        version: 1,
        description: "scans and their domains, leased by workers",
        sqlite: "",
        postgres: "
CREATE TABLE scan (
    name       TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    total      BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE scan_domain (
    scan        TEXT NOT NULL REFERENCES scan (name) ON DELETE CASCADE,
    domain      TEXT NOT NULL,
    line        BIGINT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'leased', 'done')),
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    attempts    INTEGER NOT NULL DEFAULT 0,
    result      TEXT,
    finished_at TIMESTAMPTZ,
    finished_by TEXT,
    PRIMARY KEY (scan, domain)
);
-- What a lease reads: the domains not done yet, in list order.
CREATE INDEX scan_domain_open ON scan_domain (scan, line) WHERE state <> 'done';
-- What the results read, in list order.
CREATE INDEX scan_domain_line ON scan_domain (scan, line, domain);
",
    }],
};

/// Domains inserted per statement when loading a list: a million-domain list is loaded in
/// parts small enough for the statement timeout, in one transaction.
const LOAD_CHUNK: usize = 10_000;

/// A domain to load, and its line in the list (results come back in list order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedDomain {
    /// The domain as the list reader normalised it.
    pub domain: String,
    /// Its line in the list (1-based).
    pub line: u64,
}

/// What [`ScanQueue::load`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Domains added now (0 when the list was loaded before).
    pub added: u64,
    /// Domains in the scan now.
    pub total: u64,
}

/// A domain leased to a worker: the worker checks it and hands the result to
/// [`ScanQueue::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The scan's name.
    pub scan: String,
    /// The domain.
    pub domain: String,
    /// Its line in the list.
    pub line: u64,
    /// Which lease of this domain this is (1 for the first; more when earlier ones expired):
    /// only the newest lease's result is kept.
    pub attempt: i32,
}

/// A shared scan's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanStatus {
    /// The scan's name.
    pub scan: String,
    /// When its list was first loaded.
    pub created_at: Timestamp,
    /// Domains in the scan.
    pub total: u64,
    /// Domains with their result.
    pub done: u64,
    /// Domains leased to a worker whose lease runs.
    pub leased: u64,
    /// Domains leased to a worker whose lease has run out (a worker killed or cut off): the
    /// next worker to lease takes them.
    pub expired_leases: u64,
    /// Domains waiting for a worker.
    pub queued: u64,
    /// Domains done whose result came from a second or later lease.
    pub retried: u64,
    /// Domains finished within the last minute, per second.
    pub rate_per_second: f64,
    /// The first result.
    pub first_finished: Option<Timestamp>,
    /// The latest result.
    pub last_finished: Option<Timestamp>,
    /// Each worker that holds leases or finished domains, by name.
    pub workers: Vec<WorkerStatus>,
}

impl ScanStatus {
    /// Whether every domain has its result.
    pub fn finished(&self) -> bool {
        self.done == self.total
    }
}

/// One worker's share of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerStatus {
    /// The name the worker leases under.
    pub worker: String,
    /// Domains it holds leases on that run.
    pub leased: u64,
    /// Domains whose lease it held has run out.
    pub expired_leases: u64,
    /// Domains whose result it wrote.
    pub done: u64,
}

/// One domain's result, as a worker wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    /// The domain.
    pub domain: String,
    /// Its line in the list.
    pub line: u64,
    /// The result (a JSON text: the checker's report, or a scan error).
    pub result: String,
    /// The worker that wrote it.
    pub worker: String,
    /// Leases it took (more than 1: earlier leases expired).
    pub attempts: i32,
}

/// The queue of shared scans in one PostgreSQL database: cheap to clone.
#[derive(Debug, Clone)]
pub struct ScanQueue {
    store: PostgresStore,
}

const LEASE: &str = "
WITH picked AS (
    SELECT domain FROM scan_domain
     WHERE scan = $1
       AND (state = 'queued' OR (state = 'leased' AND lease_until <= now()))
     ORDER BY line
     LIMIT $2
       FOR UPDATE SKIP LOCKED
)
UPDATE scan_domain AS d
   SET state = 'leased', lease_owner = $3, attempts = d.attempts + 1,
       lease_until = now() + make_interval(secs => $4)
  FROM picked
 WHERE d.scan = $1 AND d.domain = picked.domain
RETURNING d.domain, d.line, d.attempts";

/// The expired leases of domains leased `$2` times already are given up with an error result
/// written as the local scan writes its time-out lines.
const GIVE_UP: &str = "
UPDATE scan_domain
   SET state = 'done', finished_at = clock_timestamp(), finished_by = lease_owner,
       lease_owner = NULL, lease_until = NULL,
       result = json_build_object(
           'domain', domain,
           'error', json_build_object(
               'code', 'scan-worker-lost',
               'message', format(
                   'The check of %s was started %s times and each time its worker stopped \
before finishing it (killed, crashed or cut off from the database), so it was given up; run \
`mta-sts check %s` to see what happens.', domain, attempts, domain)))::text
 WHERE scan = $1 AND state = 'leased' AND lease_until <= now() AND attempts >= $2";

const COMPLETE: &str = "
UPDATE scan_domain
   SET state = 'done', result = $5, finished_at = clock_timestamp(), finished_by = $3,
       lease_owner = NULL, lease_until = NULL
 WHERE scan = $1 AND domain = $2 AND state = 'leased' AND lease_owner = $3 AND attempts = $4";

const EXTEND: &str = "
UPDATE scan_domain SET lease_until = now() + make_interval(secs => $3)
 WHERE scan = $1 AND state = 'leased' AND lease_owner = $2";

const RELEASE: &str = "
UPDATE scan_domain SET state = 'queued', lease_owner = NULL, lease_until = NULL
 WHERE scan = $1 AND state = 'leased' AND lease_owner = $2";

const STATUS: &str = "
SELECT s.total, extract(epoch FROM s.created_at)::float8,
       count(d.domain) FILTER (WHERE d.state = 'done'),
       count(d.domain) FILTER (WHERE d.state = 'leased' AND d.lease_until > now()),
       count(d.domain) FILTER (WHERE d.state = 'leased' AND d.lease_until <= now()),
       count(d.domain) FILTER (WHERE d.state = 'queued'),
       count(d.domain) FILTER (WHERE d.state = 'done' AND d.attempts > 1),
       count(d.domain) FILTER (WHERE d.finished_at > now() - interval '60 seconds'),
       extract(epoch FROM min(d.finished_at))::float8,
       extract(epoch FROM max(d.finished_at))::float8
  FROM scan s LEFT JOIN scan_domain d ON d.scan = s.name
 WHERE s.name = $1
 GROUP BY s.name, s.total, s.created_at";

const WORKERS: &str = "
SELECT worker, sum(leased)::bigint, sum(expired)::bigint, sum(done)::bigint FROM (
    SELECT lease_owner AS worker, (lease_until > now())::int AS leased,
           (lease_until <= now())::int AS expired, 0 AS done
      FROM scan_domain WHERE scan = $1 AND state = 'leased'
    UNION ALL
    SELECT finished_by, 0, 0, 1 FROM scan_domain WHERE scan = $1 AND state = 'done'
) AS shares
 GROUP BY worker ORDER BY worker";

const OTHERS_LEASE: &str = "
SELECT extract(epoch FROM min(lease_until) - now())::float8 FROM scan_domain
 WHERE scan = $1 AND state = 'leased' AND lease_owner <> $2 AND lease_until > now()";

const RESULTS: &str = "
SELECT domain, line, result, finished_by, attempts FROM scan_domain
 WHERE scan = $1 AND state = 'done' AND (line, domain) > ($2, $3)
 ORDER BY line, domain
 LIMIT $4";

impl ScanQueue {
    /// Connects to the PostgreSQL database `url` names and creates or migrates the queue's
    /// tables. An SQLite URL is refused: a queue is for workers on several machines.
    pub async fn open(url: &StoreUrl, options: PostgresOptions) -> Result<ScanQueue, StoreError> {
        match url {
            StoreUrl::Postgres(url) => Ok(ScanQueue {
                store: PostgresStore::open(url, &SCHEMA, options).await?,
            }),
            StoreUrl::Sqlite(_) => Err(StoreError::InvalidUrl {
                url: url.to_string(),
                reason: "a scan queue is shared by workers on several machines and is kept in \
                         PostgreSQL only; give postgres://USER:PASSWORD@HOST:PORT/DATABASE, or \
                         run `mta-sts scan` without --queue to scan from one machine"
                    .into(),
            }),
        }
    }

    /// The database's URL, password hidden.
    pub fn url(&self) -> &str {
        self.store.url()
    }

    /// Adds to the scan `scan` (made if new) the domains it does not have yet, in one
    /// transaction: loading the same list twice, or from several workers at once, adds each
    /// domain once.
    pub async fn load(&self, scan: &str, domains: &[QueuedDomain]) -> Result<Loaded, StoreError> {
        let error = self.store.error("loading the scan's domains");
        let mut client = self.store.client("loading the scan's domains").await?;
        let tx = client.transaction().await.map_err(&error)?;
        tx.execute(
            "INSERT INTO scan (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            &[&scan],
        )
        .await
        .map_err(&error)?;
        let mut added = 0;
        for chunk in domains.chunks(LOAD_CHUNK) {
            let names: Vec<&str> = chunk.iter().map(|d| d.domain.as_str()).collect();
            let lines: Vec<i64> = chunk
                .iter()
                .map(|d| i64::try_from(d.line).unwrap_or(i64::MAX))
                .collect();
            added += tx
                .execute(
                    "INSERT INTO scan_domain (scan, domain, line)
                     SELECT $1, d, l FROM unnest($2::text[], $3::bigint[]) AS u (d, l)
                     ON CONFLICT (scan, domain) DO NOTHING",
                    &[&scan, &names, &lines],
                )
                .await
                .map_err(&error)?;
        }
        let total: i64 = tx
            .query_one(
                "UPDATE scan SET total = (SELECT count(*) FROM scan_domain WHERE scan = $1)
                  WHERE name = $1 RETURNING total",
                &[&scan],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(&error)?;
        tx.commit().await.map_err(&error)?;
        Ok(Loaded {
            added,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// Leases up to `batch` domains of `scan` to `worker` for `lease`: queued ones, and leased
    /// ones whose lease has run out, in list order. Rows another worker is leasing at the same
    /// moment are skipped, not waited for. Empty when nothing is left to lease (see
    /// [`ScanQueue::others_lease_ends_in`]). A domain whose lease ran out after its
    /// `max_attempts`-th lease is given up instead (see the module's documentation).
    pub async fn lease(
        &self,
        scan: &str,
        worker: &str,
        batch: u32,
        lease: Duration,
        max_attempts: u32,
    ) -> Result<Vec<Lease>, StoreError> {
        let error = self.store.error("leasing domains");
        let client = self.store.client("leasing domains").await?;
        let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        client
            .execute(GIVE_UP, &[&scan, &max_attempts])
            .await
            .map_err(&error)?;
        let rows = client
            .query(
                LEASE,
                &[&scan, &i64::from(batch), &worker, &lease.as_secs_f64()],
            )
            .await
            .map_err(&error)?;
        let mut leases = rows
            .iter()
            .map(|row| {
                Ok(Lease {
                    scan: scan.to_string(),
                    domain: row.try_get(0)?,
                    line: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
                    attempt: row.try_get(2)?,
                })
            })
            .collect::<Result<Vec<Lease>, tokio_postgres::Error>>()
            .map_err(&error)?;
        // RETURNING gives no order; the worker checks them in list order.
        leases.sort_by_key(|lease| lease.line);
        Ok(leases)
    }

    /// Keeps `result` (a JSON text) as the domain's result, when `lease` still holds the
    /// domain for `worker`: true when kept. False when the lease ran out and another worker
    /// took the domain over (or finished it): the domain then keeps one result, the other's.
    pub async fn complete(
        &self,
        lease: &Lease,
        worker: &str,
        result: &str,
    ) -> Result<bool, StoreError> {
        let error = self.store.error("writing a result");
        let client = self.store.client("writing a result").await?;
        let updated = client
            .execute(
                COMPLETE,
                &[&lease.scan, &lease.domain, &worker, &lease.attempt, &result],
            )
            .await
            .map_err(&error)?;
        Ok(updated == 1)
    }

    /// Extends every lease `worker` holds in `scan` to `lease` from now (a worker checking
    /// slow domains keeps them; a killed one stops extending and its leases run out); returns
    /// how many.
    pub async fn extend(
        &self,
        scan: &str,
        worker: &str,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        let error = self.store.error("extending leases");
        let client = self.store.client("extending leases").await?;
        client
            .execute(EXTEND, &[&scan, &worker, &lease.as_secs_f64()])
            .await
            .map_err(&error)
    }

    /// Gives back every lease `worker` holds in `scan` (a worker stopped by a signal): the
    /// domains are queued again at once, for the next worker; returns how many.
    pub async fn release(&self, scan: &str, worker: &str) -> Result<u64, StoreError> {
        let error = self.store.error("giving leases back");
        let client = self.store.client("giving leases back").await?;
        client
            .execute(RELEASE, &[&scan, &worker])
            .await
            .map_err(&error)
    }

    /// How long until the first running lease of another worker than `worker` runs out: `None`
    /// when no other worker holds a running lease (nothing to wait for: when nothing is left
    /// to lease either, the scan is done but for `worker`'s own domains).
    pub async fn others_lease_ends_in(
        &self,
        scan: &str,
        worker: &str,
    ) -> Result<Option<Duration>, StoreError> {
        let error = self.store.error("reading leases");
        let client = self.store.client("reading leases").await?;
        let seconds: Option<f64> = client
            .query_one(OTHERS_LEASE, &[&scan, &worker])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(&error)?;
        Ok(seconds.map(|s| Duration::try_from_secs_f64(s).unwrap_or_default()))
    }

    /// The progress of `scan`; `None` when no list was loaded under that name.
    pub async fn status(&self, scan: &str) -> Result<Option<ScanStatus>, StoreError> {
        let error = self.store.error("reading the scan's progress");
        let mut client = self.store.client("reading the scan's progress").await?;
        // One snapshot for both queries, so the workers' shares add up to the totals.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(&error)?;
        let Some(row) = tx.query_opt(STATUS, &[&scan]).await.map_err(&error)? else {
            return Ok(None);
        };
        let count = |index: usize| -> Result<u64, tokio_postgres::Error> {
            Ok(u64::try_from(row.try_get::<_, i64>(index)?).unwrap_or(0))
        };
        let time = |index: usize| -> Result<Option<Timestamp>, tokio_postgres::Error> {
            Ok(row
                .try_get::<_, Option<f64>>(index)?
                .map(|seconds| Timestamp::from_unix_seconds_saturating(seconds.floor() as i64)))
        };
        let created_at = time(1)
            .map_err(&error)?
            .unwrap_or(Timestamp::from_unix_seconds_saturating(0));
        let mut status = ScanStatus {
            scan: scan.to_string(),
            created_at,
            total: count(0).map_err(&error)?,
            done: count(2).map_err(&error)?,
            leased: count(3).map_err(&error)?,
            expired_leases: count(4).map_err(&error)?,
            queued: count(5).map_err(&error)?,
            retried: count(6).map_err(&error)?,
            rate_per_second: count(7).map_err(&error)? as f64 / 60.0,
            first_finished: time(8).map_err(&error)?,
            last_finished: time(9).map_err(&error)?,
            workers: Vec::new(),
        };
        for row in tx.query(WORKERS, &[&scan]).await.map_err(&error)? {
            let count = |index: usize| -> Result<u64, tokio_postgres::Error> {
                Ok(u64::try_from(row.try_get::<_, i64>(index)?).unwrap_or(0))
            };
            status.workers.push(WorkerStatus {
                worker: row
                    .try_get::<_, Option<String>>(0)
                    .map_err(&error)?
                    .unwrap_or_default(),
                leased: count(1).map_err(&error)?,
                expired_leases: count(2).map_err(&error)?,
                done: count(3).map_err(&error)?,
            });
        }
        tx.commit().await.map_err(&error)?;
        Ok(Some(status))
    }

    /// Up to `limit` results of `scan` in list order, after the result `after` (`None`: from
    /// the first): page through them by passing the last one returned.
    pub async fn results(
        &self,
        scan: &str,
        after: Option<&ScanResult>,
        limit: u32,
    ) -> Result<Vec<ScanResult>, StoreError> {
        let error = self.store.error("reading the scan's results");
        let client = self.store.client("reading the scan's results").await?;
        let (line, domain) = after.map_or((-1, ""), |last| {
            (
                i64::try_from(last.line).unwrap_or(i64::MAX),
                last.domain.as_str(),
            )
        });
        let rows = client
            .query(RESULTS, &[&scan, &line, &domain, &i64::from(limit)])
            .await
            .map_err(&error)?;
        rows.iter()
            .map(|row| {
                Ok(ScanResult {
                    domain: row.try_get(0)?,
                    line: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
                    result: row.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
                    worker: row.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                    attempts: row.try_get(4)?,
                })
            })
            .collect::<Result<Vec<ScanResult>, tokio_postgres::Error>>()
            .map_err(&error)
    }
}
