//! The report store's tables, for both backends.
//!
//! One row per report (its identity, its raw JSON gzip-compressed, its content hash), one per
//! policy entry, one per failure detail, one per lint finding. The policy and failure rows
//! repeat the report's normalised policy domain, UTC day and organisation, so the summary of
//! one domain over a range of days reads one index range of each table (a covering index: the
//! rows themselves are not visited), however many other domains and days are stored.
//!
//! `first_for_domain` is 1 on the first policy entry of each report for its domain and 0 on the
//! others (Microsoft's `tlsa` entry beside its `sts` one), so summing it counts reports, not
//! entries, in the same index scan as the session counts.
//!
//! Version 2 adds what the dashboard, the rollout advisor and the alerts read: the reporting
//! organisation on each failure detail (in the domain/day index, so the failures by
//! organisation are read from the index too), an index on `received_at` (reports in the order
//! they were received), the alerts sent (`alert_sent`, one row per domain, condition and period),
//! a value per domain and name (`domain_state`), and on PostgreSQL `domain_day`: per domain and
//! day, the reports, their sessions (each report's first entry for the domain) and the latest
//! receipt, kept by statement triggers on `report_policy` as entries are inserted and pruned
//! (once per batch, rows locked in (domain, day) order so two batches sharing rows wait rather
//! than deadlock). The overview of every domain reads a few rows of it per domain: summing
//! every recent entry instead visits the table for each on PostgreSQL until VACUUM has run
//! (200-260 ms at 1,000,000 reports). SQLite reads its covering index without visiting rows and
//! sums the entries directly (a per-row trigger there cost about a quarter of the insert rate).
//!
//! Version 3 adds what the ACME client of `mta-sts serve` shares between the servers of one
//! store: the account per directory URL (`acme_account`, its credentials as JSON), the newest
//! certificate per name (`acme_certificate`: chain and key PEM, validity) and the issuance
//! leases (`acme_lease`: who is ordering a name, until when), so that two servers do not
//! order the same name at once.
//!
//! Version 5 adds the monitor's history: one row per check of an owner's domain
//! (`monitor_check`: verdict, outcome and the snapshot the monitor compares the next check
//! with, as JSON) and one per event raised (`monitor_event`, cleared by setting `cleared_at`).
//! A partial unique index allows one open event per (domain, code, subject): of two servers
//! sharing a store that see the same breakage, exactly one inserts the event and alerts.
//!
//! The content hash (of the JSON as received) is kept but not indexed: the content includes the
//! organisation, report id and date range, so two reports with the same content always have
//! the same identity, and the identity's unique index finds both kinds of duplicate. An index on
//! the hash (random values) would cost a page write per report at every insert.

use crate::{Migration, Schema};

/// The report store's schema: `PRAGMA application_id` "MTSR" in an SQLite file.
pub static SCHEMA: Schema = Schema {
    name: "reports",
    application_id: 0x4d54_5352,
    migrations: &[
        Migration {
            version: 1,
            description: "reports, policy entries, failure details and lint findings",
            sqlite: "
CREATE TABLE report (
    id           INTEGER PRIMARY KEY,
    content_hash BLOB    NOT NULL,
    organization TEXT    NOT NULL,
    report_id    TEXT    NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER NOT NULL,
    contact_info TEXT,
    received_at  INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    raw_gzip     BLOB    NOT NULL,
    UNIQUE (organization, report_id, start_at, end_at)
);
CREATE INDEX report_by_start ON report (start_at);
CREATE INDEX report_by_end ON report (end_at);
CREATE TABLE report_policy (
    report        INTEGER NOT NULL REFERENCES report (id),
    position      INTEGER NOT NULL,
    domain        TEXT,
    day           INTEGER NOT NULL,
    organization  TEXT    NOT NULL,
    policy_type   TEXT    NOT NULL,
    policy_domain TEXT,
    policy_string TEXT    NOT NULL,
    mx_host       TEXT    NOT NULL,
    successful    INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    first_for_domain INTEGER NOT NULL,
    PRIMARY KEY (report, position)
) WITHOUT ROWID;
CREATE INDEX report_policy_by_domain_day ON report_policy
    (domain, day, policy_type, organization, successful, failed, first_for_domain);
CREATE TABLE failure_detail (
    report                 INTEGER NOT NULL REFERENCES report (id),
    policy                 INTEGER NOT NULL,
    position               INTEGER NOT NULL,
    domain                 TEXT,
    day                    INTEGER NOT NULL,
    policy_type            TEXT    NOT NULL,
    result_type            TEXT    NOT NULL,
    sending_mta_ip         TEXT,
    receiving_mx_hostname  TEXT,
    receiving_mx_helo      TEXT,
    receiving_ip           TEXT,
    failed_session_count   INTEGER NOT NULL,
    additional_information TEXT,
    failure_reason_code    TEXT,
    PRIMARY KEY (report, policy, position)
) WITHOUT ROWID;
CREATE INDEX failure_detail_by_domain_day ON failure_detail
    (domain, day, policy_type, result_type, receiving_mx_hostname, sending_mta_ip,
     failed_session_count);
CREATE TABLE lint_finding (
    report   INTEGER NOT NULL REFERENCES report (id),
    position INTEGER NOT NULL,
    code     TEXT    NOT NULL,
    severity TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    PRIMARY KEY (report, position)
) WITHOUT ROWID;
",
            postgres: "
CREATE TABLE report (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    content_hash BYTEA  NOT NULL,
    organization TEXT   NOT NULL,
    report_id    TEXT   NOT NULL,
    start_at     BIGINT NOT NULL,
    end_at       BIGINT NOT NULL,
    contact_info TEXT,
    received_at  BIGINT NOT NULL,
    source       TEXT   NOT NULL,
    raw_gzip     BYTEA  NOT NULL,
    UNIQUE (organization, report_id, start_at, end_at)
);
CREATE INDEX report_by_start ON report (start_at);
CREATE INDEX report_by_end ON report (end_at);
CREATE TABLE report_policy (
    report        BIGINT NOT NULL REFERENCES report (id),
    position      BIGINT NOT NULL,
    domain        TEXT,
    day           BIGINT NOT NULL,
    organization  TEXT   NOT NULL,
    policy_type   TEXT   NOT NULL,
    policy_domain TEXT,
    policy_string TEXT   NOT NULL,
    mx_host       TEXT   NOT NULL,
    successful    BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    first_for_domain BIGINT NOT NULL,
    PRIMARY KEY (report, position)
);
CREATE INDEX report_policy_by_domain_day ON report_policy (domain, day)
    INCLUDE (policy_type, organization, successful, failed, first_for_domain);
CREATE TABLE failure_detail (
    report                 BIGINT NOT NULL REFERENCES report (id),
    policy                 BIGINT NOT NULL,
    position               BIGINT NOT NULL,
    domain                 TEXT,
    day                    BIGINT NOT NULL,
    policy_type            TEXT   NOT NULL,
    result_type            TEXT   NOT NULL,
    sending_mta_ip         TEXT,
    receiving_mx_hostname  TEXT,
    receiving_mx_helo      TEXT,
    receiving_ip           TEXT,
    failed_session_count   BIGINT NOT NULL,
    additional_information TEXT,
    failure_reason_code    TEXT,
    PRIMARY KEY (report, policy, position)
);
CREATE INDEX failure_detail_by_domain_day ON failure_detail (domain, day)
    INCLUDE (policy_type, result_type, receiving_mx_hostname, sending_mta_ip,
             failed_session_count);
CREATE TABLE lint_finding (
    report   BIGINT NOT NULL REFERENCES report (id),
    position BIGINT NOT NULL,
    code     TEXT   NOT NULL,
    severity TEXT   NOT NULL,
    message  TEXT   NOT NULL,
    PRIMARY KEY (report, position)
);
",
        },
        Migration {
            version: 2,
            description: "the organisation on failure details, reports by receipt, alerts sent and \
                          per-domain state",
            sqlite: "
ALTER TABLE failure_detail ADD COLUMN organization TEXT NOT NULL DEFAULT '';
UPDATE failure_detail
   SET organization = (SELECT r.organization FROM report r WHERE r.id = failure_detail.report);
DROP INDEX failure_detail_by_domain_day;
CREATE INDEX failure_detail_by_domain_day ON failure_detail
    (domain, day, policy_type, result_type, receiving_mx_hostname, sending_mta_ip,
     organization, failed_session_count);
CREATE INDEX report_by_received ON report (received_at);
CREATE TABLE alert_sent (
    domain    TEXT    NOT NULL,
    condition TEXT    NOT NULL,
    period    TEXT    NOT NULL,
    sent_at   INTEGER NOT NULL,
    PRIMARY KEY (domain, condition, period)
) WITHOUT ROWID;
CREATE TABLE domain_state (
    domain     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (domain, name)
) WITHOUT ROWID;
",
            postgres: "
ALTER TABLE failure_detail ADD COLUMN organization TEXT;
UPDATE failure_detail f SET organization = r.organization FROM report r WHERE r.id = f.report;
ALTER TABLE failure_detail ALTER COLUMN organization SET NOT NULL;
DROP INDEX failure_detail_by_domain_day;
CREATE INDEX failure_detail_by_domain_day ON failure_detail (domain, day)
    INCLUDE (policy_type, result_type, receiving_mx_hostname, sending_mta_ip, organization,
             failed_session_count);
CREATE INDEX report_by_received ON report (received_at, id);
CREATE TABLE alert_sent (
    domain    TEXT   NOT NULL,
    condition TEXT   NOT NULL,
    period    TEXT   NOT NULL,
    sent_at   BIGINT NOT NULL,
    PRIMARY KEY (domain, condition, period)
);
CREATE TABLE domain_state (
    domain     TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (domain, name)
);
CREATE TABLE domain_day (
    domain           TEXT   NOT NULL,
    day              BIGINT NOT NULL,
    reports          BIGINT NOT NULL,
    successful       BIGINT NOT NULL,
    failed           BIGINT NOT NULL,
    last_received_at BIGINT NOT NULL,
    PRIMARY KEY (domain, day)
);
INSERT INTO domain_day
SELECT p.domain, p.day, count(*), sum(p.successful), sum(p.failed), max(r.received_at)
  FROM report_policy p JOIN report r ON r.id = p.report
 WHERE p.first_for_domain = 1 AND p.domain IS NOT NULL
 GROUP BY p.domain, p.day;
CREATE FUNCTION mta_sts_domain_day_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO domain_day AS d (domain, day, reports, successful, failed, last_received_at)
    SELECT p.domain, p.day, count(*), sum(p.successful), sum(p.failed), max(r.received_at)
      FROM inserted p JOIN report r ON r.id = p.report
     WHERE p.first_for_domain = 1 AND p.domain IS NOT NULL
     GROUP BY p.domain, p.day
     ORDER BY p.domain, p.day
    ON CONFLICT (domain, day) DO UPDATE SET
        reports = d.reports + EXCLUDED.reports,
        successful = d.successful + EXCLUDED.successful,
        failed = d.failed + EXCLUDED.failed,
        last_received_at = GREATEST(d.last_received_at, EXCLUDED.last_received_at);
    RETURN NULL;
END $$;
CREATE TRIGGER domain_day_insert AFTER INSERT ON report_policy
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION mta_sts_domain_day_insert();
CREATE FUNCTION mta_sts_domain_day_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The latest receipt of a day may be a deleted report's: the latest one left replaces it.
    UPDATE domain_day d SET
        reports = d.reports - g.reports,
        successful = d.successful - g.successful,
        failed = d.failed - g.failed,
        last_received_at = COALESCE(
            (SELECT max(r.received_at) FROM report_policy p JOIN report r ON r.id = p.report
              WHERE p.domain = d.domain AND p.day = d.day AND p.first_for_domain = 1),
            d.last_received_at)
      FROM (SELECT domain, day, count(*) AS reports, sum(successful) AS successful,
                   sum(failed) AS failed
              FROM deleted WHERE first_for_domain = 1 AND domain IS NOT NULL
             GROUP BY domain, day) g
     WHERE d.domain = g.domain AND d.day = g.day;
    DELETE FROM domain_day d
     USING (SELECT DISTINCT domain, day FROM deleted) g
     WHERE d.domain = g.domain AND d.day = g.day AND d.reports <= 0;
    RETURN NULL;
END $$;
CREATE TRIGGER domain_day_delete AFTER DELETE ON report_policy
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION mta_sts_domain_day_delete();
",
        },
        Migration {
            version: 3,
            description: "ACME accounts, certificates and issuance leases",
            sqlite: "
CREATE TABLE acme_account (
    directory   TEXT    NOT NULL PRIMARY KEY,
    credentials TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE acme_certificate (
    name       TEXT    NOT NULL PRIMARY KEY,
    chain_pem  TEXT    NOT NULL,
    key_pem    TEXT    NOT NULL,
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE acme_lease (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
",
            postgres: "
CREATE TABLE acme_account (
    directory   TEXT   NOT NULL PRIMARY KEY,
    credentials TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE acme_certificate (
    name       TEXT   NOT NULL PRIMARY KEY,
    chain_pem  TEXT   NOT NULL,
    key_pem    TEXT   NOT NULL,
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    issued_at  BIGINT NOT NULL
);
CREATE TABLE acme_lease (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
",
        },
        Migration {
            version: 4,
            description: "policy fetches per hosted domain and fetching organisation",
            sqlite: "
CREATE TABLE policy_fetch (
    domain       TEXT    NOT NULL,
    organization TEXT    NOT NULL,
    fetches      INTEGER NOT NULL,
    first_fetch  INTEGER NOT NULL,
    last_fetch   INTEGER NOT NULL,
    PRIMARY KEY (domain, organization)
) WITHOUT ROWID;
",
            postgres: "
CREATE TABLE policy_fetch (
    domain       TEXT   NOT NULL,
    organization TEXT   NOT NULL,
    fetches      BIGINT NOT NULL,
    first_fetch  BIGINT NOT NULL,
    last_fetch   BIGINT NOT NULL,
    PRIMARY KEY (domain, organization)
);
",
        },
        Migration {
            version: 5,
            description: "the monitor's checks and events",
            sqlite: "
CREATE TABLE monitor_check (
    id         INTEGER PRIMARY KEY,
    domain     TEXT    NOT NULL,
    checked_at INTEGER NOT NULL,
    verdict    TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    snapshot   TEXT    NOT NULL
);
CREATE INDEX monitor_check_by_domain ON monitor_check (domain, checked_at);
CREATE INDEX monitor_check_by_time ON monitor_check (checked_at);
CREATE TABLE monitor_event (
    id            INTEGER PRIMARY KEY,
    domain        TEXT    NOT NULL,
    code          TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    raised_at     INTEGER NOT NULL,
    cleared_at    INTEGER,
    clear_message TEXT
);
CREATE UNIQUE INDEX monitor_event_open ON monitor_event (domain, code, subject)
    WHERE cleared_at IS NULL;
CREATE INDEX monitor_event_by_domain ON monitor_event (domain, raised_at);
",
            postgres: "
CREATE TABLE monitor_check (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain     TEXT   NOT NULL,
    checked_at BIGINT NOT NULL,
    verdict    TEXT   NOT NULL,
    outcome    TEXT   NOT NULL,
    snapshot   TEXT   NOT NULL
);
CREATE INDEX monitor_check_by_domain ON monitor_check (domain, checked_at);
CREATE INDEX monitor_check_by_time ON monitor_check (checked_at);
CREATE TABLE monitor_event (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain        TEXT   NOT NULL,
    code          TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    message       TEXT   NOT NULL,
    raised_at     BIGINT NOT NULL,
    cleared_at    BIGINT,
    clear_message TEXT
);
CREATE UNIQUE INDEX monitor_event_open ON monitor_event (domain, code, subject)
    WHERE cleared_at IS NULL;
CREATE INDEX monitor_event_by_domain ON monitor_event (domain, raised_at);
",
        },
    ],
};
