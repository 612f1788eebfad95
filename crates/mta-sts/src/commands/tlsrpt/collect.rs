//! `mta-sts tlsrpt collect`: the collector, in place of tlsrpt-collectd.

use std::sync::Arc;
use std::time::Duration;

use mta_sts_net::SystemClock;
use mta_sts_store::sender_reports::SenderStore;
use mta_sts_store::{StoreError, StoreUrl};
use mta_sts_tlsrpt::collector::{CollectSettings, Collector};

use super::super::lifecycle::Lifecycle;
use super::super::{CommandError, runtime};
use crate::cli::TlsrptCollectArgs;
use crate::exit::Status;
use crate::logging;

/// Receives until SIGTERM or SIGINT, then stores the last counts and removes the socket.
/// Nothing is bound before every setting has been checked and the store opened.
pub fn run(args: &TlsrptCollectArgs) -> Result<Status, CommandError> {
    logging::init(args.log_format)?;
    let store_url: StoreUrl = match &args.store {
        Some(text) => text
            .parse()
            .map_err(|error: StoreError| CommandError::Argument(format!("{error} (--store).")))?,
        None => SenderStore::default_url(),
    };
    let settings = CollectSettings {
        socket: args.socket.clone(),
        socket_mode: args.socket_mode,
        socket_user: args.socket_user.clone(),
        socket_group: args.socket_group.clone(),
        flush_interval: Duration::from_secs(args.flush_interval),
        max_keys: usize::try_from(args.max_keys).unwrap_or(usize::MAX),
        ..CollectSettings::default()
    };
    runtime()?.block_on(async move {
        let store = SenderStore::open(&store_url).await.map_err(|error| {
            CommandError::Setup(format!(
                "cannot open the sender store {store_url}: {error}."
            ))
        })?;
        let lifecycle = Lifecycle::start(|| "the collector has nothing to reload".to_string())?;
        let collector = Collector::bind(settings, store, Arc::new(SystemClock))
            .map_err(|error| CommandError::Setup(format!("{error}.")))?;
        tracing::info!(
            kind = %"listening",
            "collecting TLS-RPT datagrams on {} into {store_url}",
            collector.socket_path().display()
        );
        lifecycle.ready();
        let figures = collector
            .run(lifecycle.stopping())
            .await
            .map_err(|error| CommandError::Setup(format!("{error}.")))?;
        tracing::info!(
            kind = %"stopped",
            "stopped after {} datagrams: {} malformed, {} lost, {} flushes ({} failed and \
             tried again)",
            figures.datagrams,
            figures.malformed,
            figures.lost,
            figures.flushes,
            figures.flush_failures
        );
        Ok(Status::Valid)
    })
}
