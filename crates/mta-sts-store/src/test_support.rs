//! For tests of this and other crates (cargo feature `test-support`): a fresh PostgreSQL
//! database per test, a temporary directory, the visible skip of a test whose system
//! program or service is missing ([`skip`]), and a year of generated reports to fill a store
//! with for benchmarks ([`bulk`]).
//!
//! The PostgreSQL server is named by the environment variable `MTA_STS_TEST_POSTGRES`, a URL of
//! a role allowed to create databases. Without it, [`TestDatabase::create`] skips the test as
//! [`skip::skip`] does (a `SKIPPED:` line a passing run still shows) and returns `None`, unless
//! `MTA_STS_REQUIRE_TOOLS=1`, where it panics: a CI run that is meant to test PostgreSQL must
//! not pass by skipping it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::StoreUrl;

pub mod bulk;
pub mod skip;

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "MTA_STS_TEST_POSTGRES";

/// A database made for one test on the server `MTA_STS_TEST_POSTGRES` names, dropped (with any
/// connections still open to it) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

impl TestDatabase {
    /// Makes a fresh, empty database for the test `test` (the name says whose it is in a skip
    /// line); `None`, after a `SKIPPED:` line, when `MTA_STS_TEST_POSTGRES` is not set.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses, and when the variable is missing while
    /// `MTA_STS_REQUIRE_TOOLS=1`: a test that cannot run must not look like a pass.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            skip::skip(&format!(
                "{test} on PostgreSQL needs a server: {POSTGRES_ENV} is not set"
            ));
            return None;
        };
        let name = format!(
            "mta_sts_test_{}_{}_{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let client = admin_client(&admin_url).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("{test}: creating the test database {name} failed: {e}"));
        let url = with_database(&admin_url, &name);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// The database's URL, password included.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database as a store URL.
    pub fn store_url(&self) -> StoreUrl {
        StoreUrl::Postgres(self.url.clone())
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping needs the server, and Drop cannot wait on a future: a thread of its own with
        // its own runtime works whether or not the test's runtime is still running.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = admin_client(&admin_url).await;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("dropping the test database {} failed: {e}", self.name);
        }
    }
}

/// A connection to the admin database, its connection driven by a task of its own.
async fn admin_client(admin_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {POSTGRES_ENV} failed: {e}"));
    tokio::spawn(connection);
    client
}

/// `url` naming the database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return format!("{url} dbname={name}");
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

/// A directory under the system's temporary directory, removed with everything in it when
/// dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Makes a new, empty directory whose name starts with `prefix`.
    ///
    /// # Panics
    /// When the directory cannot be made.
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("making {} failed: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
