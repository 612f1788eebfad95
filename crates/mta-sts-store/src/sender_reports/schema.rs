//! The sender side's tables, for both backends.
//!
//! Version 1: what the collector counts (`mta-sts tlsrpt collect`, tlsrpt-collectd's
//! `finalresults` and `failures` tables, kept for every day rather than today's and yesterday's
//! files).
//! - `sender_count`: one row per (UTC day, recipient domain, TLSRPT record, policy) with the
//!   sessions counted and those that failed. The policy is kept as JSON (the RFC 8460 §4.4
//!   `policy` object); the row's `key` is the SHA-256 of domain, record and policy, so the
//!   primary key stays short however long a policy string or TLSA record is (PostgreSQL refuses
//!   index entries over about 2.7 kB).
//! - `sender_failure`: per count row, one row per distinct failure (the §4.4 failure-details
//!   object without its count, as JSON, keyed by its SHA-256) with how often it was seen.
//! - `sender_day`: per day, what the collectors received: datagrams, malformed ones (not
//!   counted), and those lost (not counted because the collector's buffer was full).
//!
//! Every write adds to the rows (upserts that add), so several collectors of a fleet share one
//! PostgreSQL database, and a batch retried after a failed commit is never counted twice (the
//! failed transaction wrote nothing).

use crate::{Migration, Schema};

/// The sender store's schema: `PRAGMA application_id` "MTST" in an SQLite file. (The report
/// store's "MTSR" marks the receiving side's file; the two schemas each keep their own SQLite
/// file, since a file has one schema version.)
pub static SCHEMA: Schema = Schema {
    name: "tlsrpt_sender",
    application_id: 0x4d54_5354,
    migrations: &[Migration {
        version: 1,
        description: "session counts per day, domain, TLSRPT record and policy; failures; \
                      per-day collector figures",
        sqlite: "
CREATE TABLE sender_count (
    day           INTEGER NOT NULL,
    key           BLOB    NOT NULL,
    domain        TEXT    NOT NULL,
    tlsrpt_record TEXT    NOT NULL,
    policy        TEXT    NOT NULL,
    total         INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    PRIMARY KEY (day, key)
) WITHOUT ROWID;
CREATE TABLE sender_failure (
    day        INTEGER NOT NULL,
    key        BLOB    NOT NULL,
    detail_key BLOB    NOT NULL,
    detail     TEXT    NOT NULL,
    sessions   INTEGER NOT NULL,
    PRIMARY KEY (day, key, detail_key)
) WITHOUT ROWID;
CREATE TABLE sender_day (
    day       INTEGER PRIMARY KEY,
    datagrams INTEGER NOT NULL,
    malformed INTEGER NOT NULL,
    lost      INTEGER NOT NULL
);
",
        postgres: "
CREATE TABLE sender_count (
    day           BIGINT NOT NULL,
    key           BYTEA  NOT NULL,
    domain        TEXT   NOT NULL,
    tlsrpt_record TEXT   NOT NULL,
    policy        TEXT   NOT NULL,
    total         BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    PRIMARY KEY (day, key)
);
CREATE TABLE sender_failure (
    day        BIGINT NOT NULL,
    key        BYTEA  NOT NULL,
    detail_key BYTEA  NOT NULL,
    detail     TEXT   NOT NULL,
    sessions   BIGINT NOT NULL,
    PRIMARY KEY (day, key, detail_key)
);
CREATE TABLE sender_day (
    day       BIGINT PRIMARY KEY,
    datagrams BIGINT NOT NULL,
    malformed BIGINT NOT NULL,
    lost      BIGINT NOT NULL
);
",
    }],
};
