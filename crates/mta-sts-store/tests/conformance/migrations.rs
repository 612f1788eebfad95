//! Migrations: a new store, a re-opened one, a newer one, a foreign one, several at once.

use mta_sts_store::reports::{ListQuery, SCHEMA};
use mta_sts_store::{
    Migrated, Migration, PostgresOptions, PostgresStore, Schema, SqliteOptions, SqliteStore,
    StoreError, StoreUrl,
};

use crate::backend::Backend;
use crate::fixtures::{november, simple};

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
