//! PostgreSQL through a connection pool: the store for a fleet of servers.
//!
//! Connections come from a deadpool pool with a connect timeout, a wait timeout and a
//! per-statement timeout (`statement_timeout`, set for every session), so a server that stops
//! answering makes calls fail with an error [`StoreError::is_unavailable`] calls retryable
//! instead of hanging. The connection is plain TCP or a Unix socket, without TLS: keep the
//! database on the same host or a private network.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

use crate::StoreError;
use crate::schema::{Migrated, Schema};
use crate::url::redact;

/// How a PostgreSQL store connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresOptions {
    /// How long connecting may take (unless the URL sets `connect_timeout`).
    pub connect_timeout: Duration,
    /// How long one statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// How long a call waits for a free connection when all are busy.
    pub wait_timeout: Duration,
    /// The most connections kept open.
    pub pool_size: usize,
}

impl Default for PostgresOptions {
    /// 5 s to connect, 30 s per statement, 10 s waiting for a connection, 8 connections.
    fn default() -> PostgresOptions {
        PostgresOptions {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(10),
            pool_size: 8,
        }
    }
}

/// A PostgreSQL store: cheap to clone, shared by every task.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The URL, password hidden: how errors name the store.
    url: Arc<str>,
    migrated: Migrated,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({})", self.url)
    }
}

impl PostgresStore {
    /// Connects to `url` and brings the database to `schema`'s latest version.
    pub async fn open(
        url: &str,
        schema: &Schema,
        options: PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        let shown: Arc<str> = Arc::from(redact(url));
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| StoreError::InvalidUrl {
                url: shown.to_string(),
                reason: format!("it is not a usable PostgreSQL URL ({e})"),
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("mta-sts");
        }
        let statement_timeout = format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis().max(1)
        );
        let session_options = match config.get_options() {
            Some(given) => format!("{given} {statement_timeout}"),
            None => statement_timeout,
        };
        config.options(session_options);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|source| StoreError::PoolBuild {
                url: shown.to_string(),
                source,
            })?;
        let mut store = PostgresStore {
            pool,
            url: shown,
            migrated: Migrated { from: 0, to: 0 },
        };
        let mut client = store.client("migrating the schema").await?;
        store.migrated = schema.migrate_postgres(&mut client, &store.url).await?;
        drop(client);
        Ok(store)
    }

    /// A connection from the pool for `operation`.
    pub async fn client(&self, operation: &'static str) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|source| StoreError::Pool {
            url: self.url.to_string(),
            operation,
            source,
        })
    }

    /// A function turning PostgreSQL's errors in `operation` into [`StoreError`]s naming this
    /// store.
    pub fn error(
        &self,
        operation: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> StoreError + use<> {
        let url = Arc::clone(&self.url);
        move |source| StoreError::Postgres {
            url: url.to_string(),
            operation,
            source,
        }
    }

    /// The URL, password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What opening did to the schema.
    pub fn migrated(&self) -> Migrated {
        self.migrated
    }
}
