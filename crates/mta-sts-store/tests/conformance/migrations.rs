//! Migrations: a new store, a re-opened one, a newer one, a foreign one, several at once.

use mta_sts_store::reports::{ListQuery, SCHEMA};
use mta_sts_store::{
    Migrated, Migration, PostgresOptions, PostgresStore, Schema, SqliteOptions, SqliteStore,
    StoreError, StoreUrl,
};

use crate::backend::Backend;
use crate::fixtures::{november, shift, simple};

pub async fn a_new_store_gets_the_latest_schema(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(backend.recorded_version().await, SCHEMA.latest());
    assert!(SCHEMA.latest() >= 1);
    assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 0);
    if let Some(dir) = backend.sqlite_dir() {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            backend.query_i64("PRAGMA application_id").await,
            SCHEMA.application_id
        );
        let raw = rusqlite::Connection::open(backend.sqlite_path().expect("path")).expect("raw");
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        // The missing directory was made for the owner alone, as the daemon's cache directory.
        let mode = std::fs::metadata(dir.file("store"))
            .expect("made")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    drop(store);
}

pub async fn a_reopened_store_keeps_its_reports_and_version(backend: Backend) {
    let store = backend.open().await;
    store
        .insert(vec![simple(
            "google.com",
            "r1",
            november(1),
            "example.com",
            5,
        )])
        .await
        .expect("insert");
    drop(store);
    let store = backend.open().await;
    assert_eq!(backend.recorded_version().await, SCHEMA.latest());
    let reports = store.list(&ListQuery::default()).await.expect("list");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report_id, "r1");
}

pub async fn a_newer_schema_is_refused_and_left_untouched(backend: Backend) {
    let store = backend.open().await;
    store
        .insert(vec![simple(
            "google.com",
            "r1",
            november(1),
            "example.com",
            5,
        )])
        .await
        .expect("insert");
    drop(store);
    let newer = SCHEMA.latest() + 1;
    backend.set_recorded_version(newer).await;
    let error = backend.try_open().await.expect_err("a newer schema");
    assert!(
        matches!(
            error,
            StoreError::NewerSchema { found, supported, .. }
                if found == newer && supported == SCHEMA.latest()
        ),
        "{error:?}"
    );
    assert!(!error.is_unavailable(), "retrying does not help: {error}");
    let message = error.to_string();
    assert!(message.contains("left untouched"), "{message}");
    assert!(message.contains(&format!("version {newer}")), "{message}");
    assert_eq!(backend.recorded_version().await, newer);
    assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 1);
}

pub async fn another_programs_store_is_refused_and_left_untouched(backend: Backend) {
    match &backend {
        Backend::Sqlite { path, .. } => {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
            // Not SQLite at all.
            let notes = b"somebody's notes, not a database\n".repeat(200);
            std::fs::write(path, &notes).expect("write");
            let error = backend.try_open().await.expect_err("not a database");
            assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
            assert!(!error.is_unavailable());
            assert_eq!(std::fs::read(path).expect("kept"), notes);
            // Another program's database.
            std::fs::remove_file(path).expect("remove");
            backend
                .execute("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep');")
                .await;
            let before = std::fs::read(path).expect("read");
            let error = backend.try_open().await.expect_err("foreign");
            assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
            assert!(error.to_string().contains("another program"), "{error}");
            assert_eq!(std::fs::read(path).expect("kept"), before);
            // Marked as somebody else's.
            backend.execute("PRAGMA application_id = 42").await;
            let error = backend.try_open().await.expect_err("foreign id");
            assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
            assert!(error.to_string().contains("0x0000002a"), "{error}");
        }
        Backend::Postgres(_) => {
            // A table of the same name that no migration of ours recorded.
            backend
                .execute("CREATE TABLE report (notes TEXT); INSERT INTO report VALUES ('keep');")
                .await;
            let error = backend.try_open().await.expect_err("foreign");
            assert!(matches!(error, StoreError::NotOurs { .. }), "{error:?}");
            assert!(!error.is_unavailable());
            // The migration was rolled back whole: not even the version table is left.
            assert_eq!(
                backend
                    .query_i64(
                        "SELECT count(*) FROM pg_tables WHERE tablename IN ('mta_sts_schema', 'report_policy')"
                    )
                    .await,
                0
            );
            assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 1);
        }
    }
}

pub async fn stores_opened_at_once_migrate_once(backend: Backend) {
    let url = backend.url();
    let openings: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { mta_sts_store::reports::ReportStore::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for opening in openings {
        stores.push(
            opening
                .await
                .expect("task")
                .expect("every opening succeeds"),
        );
    }
    assert_eq!(backend.recorded_version().await, SCHEMA.latest());
    // All of them work on the one schema.
    for (n, store) in stores.iter().enumerate() {
        store
            .insert(vec![simple(
                "google.com",
                &format!("r{n}"),
                november(1),
                "example.com",
                1,
            )])
            .await
            .expect("insert");
    }
    assert_eq!(backend.query_i64("SELECT count(*) FROM report").await, 4);
}

const NOTES_V1: Migration = Migration {
    version: 1,
    description: "notes",
    sqlite: "CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);",
    postgres: "CREATE TABLE note (id BIGINT PRIMARY KEY, text TEXT NOT NULL);",
};
const NOTES_V2: Migration = Migration {
    version: 2,
    description: "a tag on every note",
    sqlite: "ALTER TABLE note ADD COLUMN tag TEXT NOT NULL DEFAULT 'untagged';",
    postgres: "ALTER TABLE note ADD COLUMN tag TEXT NOT NULL DEFAULT 'untagged';",
};
const NOTES_V2_BROKEN: Migration = Migration {
    version: 2,
    description: "a step that fails halfway",
    sqlite: "ALTER TABLE note ADD COLUMN tag TEXT; CREATE TABLE broken (;",
    postgres: "ALTER TABLE note ADD COLUMN tag TEXT; CREATE TABLE broken (;",
};
static NOTES_1: Schema = Schema {
    name: "conformance-notes",
    application_id: 0x4d54_534e,
    migrations: &[NOTES_V1],
};
static NOTES_2: Schema = Schema {
    name: "conformance-notes",
    application_id: 0x4d54_534e,
    migrations: &[NOTES_V1, NOTES_V2],
};
static NOTES_2_BROKEN: Schema = Schema {
    name: "conformance-notes",
    application_id: 0x4d54_534e,
    migrations: &[NOTES_V1, NOTES_V2_BROKEN],
};

/// Opens `schema` on the backend's store location, saying what the migration did.
async fn open_schema(backend: &Backend, schema: &'static Schema) -> Result<Migrated, StoreError> {
    match backend.url() {
        StoreUrl::Sqlite(path) => SqliteStore::open(&path, schema, SqliteOptions::default())
            .await
            .map(|store| store.migrated()),
        StoreUrl::Postgres(url) => PostgresStore::open(&url, schema, PostgresOptions::default())
            .await
            .map(|store| store.migrated()),
    }
}

pub async fn an_older_schema_is_migrated_step_by_step(backend: Backend) {
    assert_eq!(
        open_schema(&backend, &NOTES_1).await.expect("version 1"),
        Migrated { from: 0, to: 1 }
    );
    backend
        .execute("INSERT INTO note (id, text) VALUES (1, 'kept across migrations')")
        .await;
    // A step that fails halfway is rolled back whole: the store stays at version 1.
    let error = open_schema(&backend, &NOTES_2_BROKEN)
        .await
        .expect_err("a broken step");
    assert!(!error.is_unavailable(), "{error}");
    assert_eq!(
        open_schema(&backend, &NOTES_1)
            .await
            .expect("still version 1"),
        Migrated { from: 1, to: 1 }
    );
    // The real step applies on top of version 1 (it would fail had the broken one left its
    // column behind) and keeps the row.
    assert_eq!(
        open_schema(&backend, &NOTES_2).await.expect("version 2"),
        Migrated { from: 1, to: 2 }
    );
    assert_eq!(
        backend
            .query_text("SELECT text || '/' || tag FROM note WHERE id = 1")
            .await,
        "kept across migrations/untagged"
    );
    // And the older build now refuses it.
    let error = open_schema(&backend, &NOTES_1).await.expect_err("newer");
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{error:?}"
    );
}

/// Rows of two reports written as version 1 of the report store wrote them (ids 1 and 2):
/// Google's with two failure details, Microsoft's with `sts` and `tlsa` entries.
fn version_1_rows(raw: &str) -> String {
    let g = "'google.com'";
    let m = "'Microsoft Corporation'";
    let policy = r#"'["version: STSv1","mode: testing","mx: mx.example.com","max_age: 86400"]'"#;
    let mx = r#"'["mx.example.com"]'"#;
    let (nov1, nov2) = (november(1).unix_seconds(), november(2).unix_seconds());
    let (day1, day2) = (november(1).day_number(), november(2).day_number());
    format!(
        "INSERT INTO report (content_hash, organization, report_id, start_at, end_at,
             contact_info, received_at, source, raw_gzip)
         VALUES ({raw}, {g}, 'g1', {nov1}, {nov1} + 86399, 'tlsrpt@google.com', {nov1} + 172800,
                 'mail', {raw}),
                ({raw}, {m}, 'm2', {nov2}, {nov2} + 86399, NULL, {nov2} + 172800, 'https',
                 {raw});
         INSERT INTO report_policy VALUES
             (1, 0, 'example.com', {day1}, {g}, 'sts', 'example.com', {policy}, {mx}, 100, 10, 1),
             (2, 0, 'example.com', {day2}, {m}, 'sts', 'example.com', {policy}, {mx}, 200, 2, 1),
             (2, 1, 'example.com', {day2}, {m}, 'tlsa', 'example.com', {policy}, {mx}, 200, 2, 0);
         INSERT INTO failure_detail VALUES
             (1, 0, 0, 'example.com', {day1}, 'sts', 'starttls-not-supported', '192.0.2.1',
              'mx1.example.com', NULL, NULL, 6, NULL, NULL),
             (1, 0, 1, 'example.com', {day1}, 'sts', 'certificate-host-mismatch', '192.0.2.2',
              'mx2.example.com', 'mx2.example.net', '192.0.2.25', 4, 'see the log', 'X509'),
             (2, 0, 0, 'example.com', {day2}, 'sts', 'certificate-host-mismatch', NULL,
              'mx2.example.com', NULL, NULL, 2, NULL, NULL),
             (2, 1, 0, 'example.com', {day2}, 'tlsa', 'tlsa-invalid', NULL,
              'mx1.example.com', NULL, NULL, 2, NULL, NULL);
         INSERT INTO lint_finding VALUES (1, 0, 'example-finding', 'warning', 'kept');"
    )
}

pub async fn a_version_1_store_migrates_with_nothing_lost(backend: Backend) {
    use mta_sts_store::reports::{EvidenceQuery, ReportKey};
    use std::io::Write as _;
    // Version 1 as it was released: the first migration alone.
    let version_1: &'static Schema = Box::leak(Box::new(Schema {
        name: SCHEMA.name,
        application_id: SCHEMA.application_id,
        migrations: &SCHEMA.migrations[..1],
    }));
    assert_eq!(
        open_schema(&backend, version_1).await.expect("version 1"),
        Migrated { from: 0, to: 1 }
    );
    let raw_json = r#"{"organization-name":"google.com"}"#;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(raw_json.as_bytes()).expect("gzip");
    let hex: String = encoder
        .finish()
        .expect("gzip")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let raw = if backend.is_sqlite() {
        format!("X'{hex}'")
    } else {
        format!("'\\x{hex}'::bytea")
    };
    backend.execute(&version_1_rows(&raw)).await;
    let counts = async || {
        let mut counts = Vec::new();
        for table in ["report", "report_policy", "failure_detail", "lint_finding"] {
            counts.push(
                backend
                    .query_i64(&format!("SELECT count(*) FROM {table}"))
                    .await,
            );
        }
        counts
    };
    assert_eq!(counts().await, [2, 3, 4, 1]);

    let store = backend.open().await;
    assert_eq!(backend.recorded_version().await, SCHEMA.latest());
    assert_eq!(counts().await, [2, 3, 4, 1], "nothing lost");
    // Every failure detail got its report's organisation.
    assert_eq!(
        backend
            .query_i64(
                "SELECT count(*) FROM failure_detail f JOIN report r ON r.id = f.report
                  WHERE f.organization = r.organization"
            )
            .await,
        4
    );
    let evidence = store
        .evidence(&EvidenceQuery {
            domain: "example.com".into(),
            from: november(1),
            to: november(2),
        })
        .await
        .expect("evidence");
    assert_eq!(evidence.summary.total.reports, 2);
    // The per-day counts of the overview were made from the reports already stored.
    let overview = store
        .domains(&mta_sts_store::reports::DomainsQuery { since: november(1) })
        .await
        .expect("domains");
    assert_eq!(overview.len(), 1);
    assert_eq!(
        (
            overview[0].reports,
            overview[0].successful,
            overview[0].failed
        ),
        (2, 300, 12)
    );
    assert_eq!(overview[0].last_received_at, shift(november(2), 172_800));
    let mismatch = &evidence.failures[0];
    assert_eq!(mismatch.result_type.as_str(), "certificate-host-mismatch");
    assert_eq!(
        mismatch.organizations,
        ["Microsoft Corporation", "google.com"]
    );
    assert_eq!(mismatch.sessions, 6);
    let detail = store
        .report(ReportKey::from_id(1))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(detail.raw_json, raw_json);
    assert_eq!(
        detail.policies[0].failures[1]
            .failure_reason_code
            .as_deref(),
        Some("X509")
    );
    assert_eq!(detail.findings.len(), 1);
    // The migrated store takes new reports, and the new tables work.
    store
        .insert(vec![simple(
            "yahoo.com",
            "y3",
            november(3),
            "example.com",
            5,
        )])
        .await
        .expect("insert");
    assert!(
        store
            .claim_alert("example.com", "failures", "2026-11-02", november(3))
            .await
            .expect("claim")
    );
    drop(store);
    // Reopening finds it at the latest version: nothing is migrated twice.
    let reopened = backend.open().await;
    assert_eq!(
        reopened
            .list(&ListQuery::default())
            .await
            .expect("list")
            .len(),
        3
    );
}
