//! The backends the suite runs against, and raw access to them for setting up what the store's
//! API cannot (a newer version, a foreign table, a fault).

use std::path::PathBuf;
use std::time::Duration;

use mta_sts_store::reports::ReportStore;
use mta_sts_store::test_support::{TempDir, TestDatabase};
use mta_sts_store::{PostgresOptions, SqliteOptions, StoreError, StoreOptions, StoreUrl};

/// One backend with a store location of its own, removed after the test.
pub enum Backend {
    Sqlite { dir: TempDir, path: PathBuf },
    Postgres(TestDatabase),
}

impl Backend {
    pub fn sqlite() -> Backend {
        let dir = TempDir::new("mta-sts-store-conformance");
        let path = dir.file("store/reports.db");
        Backend::Sqlite { dir, path }
    }

    pub async fn postgres(test: &str) -> Option<Backend> {
        TestDatabase::create(test).await.map(Backend::Postgres)
    }

    pub fn url(&self) -> StoreUrl {
        match self {
            Backend::Sqlite { path, .. } => StoreUrl::Sqlite(path.clone()),
            Backend::Postgres(database) => database.store_url(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Backend::Sqlite { .. })
    }

    /// Short timeouts, so a locked store fails fast.
    pub fn short_timeouts() -> StoreOptions {
        StoreOptions {
            sqlite: SqliteOptions {
                busy_timeout: Duration::from_millis(200),
                ..SqliteOptions::default()
            },
            postgres: PostgresOptions {
                statement_timeout: Duration::from_millis(300),
                connect_timeout: Duration::from_secs(2),
                wait_timeout: Duration::from_secs(2),
                ..PostgresOptions::default()
            },
        }
    }

    pub async fn try_open(&self) -> Result<ReportStore, StoreError> {
        ReportStore::open(&self.url()).await
    }

    pub async fn open(&self) -> ReportStore {
        self.try_open()
            .await
            .unwrap_or_else(|e| panic!("opening {} failed: {e}", self.url()))
    }

    /// Runs `sql` on a connection of its own (several statements allowed).
    pub async fn execute(&self, sql: &str) {
        match self {
            Backend::Sqlite { path, .. } => {
                let connection = rusqlite::Connection::open(path).expect("raw SQLite connection");
                connection.execute_batch(sql).expect(sql);
            }
            Backend::Postgres(database) => {
                let client = postgres_client(database.url()).await;
                client.batch_execute(sql).await.expect(sql);
            }
        }
    }

    /// The first column of the first row of `sql`, as an integer.
    pub async fn query_i64(&self, sql: &str) -> i64 {
        match self {
            Backend::Sqlite { path, .. } => {
                let connection = rusqlite::Connection::open(path).expect("raw SQLite connection");
                connection.query_row(sql, [], |row| row.get(0)).expect(sql)
            }
            Backend::Postgres(database) => {
                let client = postgres_client(database.url()).await;
                client.query_one(sql, &[]).await.expect(sql).get(0)
            }
        }
    }

    /// The first column of the first row of `sql`, as bytes.
    pub async fn query_bytes(&self, sql: &str) -> Vec<u8> {
        match self {
            Backend::Sqlite { path, .. } => {
                let connection = rusqlite::Connection::open(path).expect("raw SQLite connection");
                connection.query_row(sql, [], |row| row.get(0)).expect(sql)
            }
            Backend::Postgres(database) => {
                let client = postgres_client(database.url()).await;
                client.query_one(sql, &[]).await.expect(sql).get(0)
            }
        }
    }

    /// The first column of the first row of `sql`, as text.
    pub async fn query_text(&self, sql: &str) -> String {
        match self {
            Backend::Sqlite { path, .. } => {
                let connection = rusqlite::Connection::open(path).expect("raw SQLite connection");
                connection.query_row(sql, [], |row| row.get(0)).expect(sql)
            }
            Backend::Postgres(database) => {
                let client = postgres_client(database.url()).await;
                client.query_one(sql, &[]).await.expect(sql).get(0)
            }
        }
    }

    /// The recorded schema version of the report store.
    pub async fn recorded_version(&self) -> i64 {
        match self {
            Backend::Sqlite { .. } => self.query_i64("PRAGMA user_version").await,
            Backend::Postgres(_) => {
                self.query_i64("SELECT version FROM mta_sts_schema WHERE name = 'reports'")
                    .await
            }
        }
    }

    /// Sets the recorded schema version of the report store.
    pub async fn set_recorded_version(&self, version: i64) {
        match self {
            Backend::Sqlite { .. } => {
                self.execute(&format!("PRAGMA user_version = {version}"))
                    .await
            }
            Backend::Postgres(_) => {
                self.execute(&format!(
                    "UPDATE mta_sts_schema SET version = {version} WHERE name = 'reports'"
                ))
                .await;
            }
        }
    }

    /// Makes every insert of a policy entry reported by `organization` fail inside the
    /// transaction, as a full disk or a lost connection would halfway through a batch.
    pub async fn refuse_policies_of(&self, organization: &str) {
        match self {
            Backend::Sqlite { .. } => {
                self.execute(&format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON report_policy
                     WHEN NEW.organization = '{organization}'
                     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
                ))
                .await;
            }
            Backend::Postgres(_) => {
                self.execute(&format!(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                         IF NEW.organization = '{organization}' THEN
                             RAISE EXCEPTION 'refused by the test';
                         END IF;
                         RETURN NEW;
                     END $$;
                     CREATE TRIGGER refuse BEFORE INSERT ON report_policy
                         FOR EACH ROW EXECUTE FUNCTION refuse();"
                ))
                .await;
            }
        }
    }

    pub fn sqlite_path(&self) -> Option<&PathBuf> {
        match self {
            Backend::Sqlite { path, .. } => Some(path),
            Backend::Postgres(_) => None,
        }
    }

    pub fn sqlite_dir(&self) -> Option<&TempDir> {
        match self {
            Backend::Sqlite { dir, .. } => Some(dir),
            Backend::Postgres(_) => None,
        }
    }

    pub fn postgres_url(&self) -> Option<&str> {
        match self {
            Backend::Sqlite { .. } => None,
            Backend::Postgres(database) => Some(database.url()),
        }
    }
}

pub async fn postgres_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw PostgreSQL connection");
    tokio::spawn(connection);
    client
}
