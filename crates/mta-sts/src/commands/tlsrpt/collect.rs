//! `mta-sts tlsrpt collect`: the collector, in place of tlsrpt-collectd.

use std::sync::Arc;
use std::time::Duration;

use mta_sts_net::SystemClock;
use mta_sts_store::sender_reports::SenderStore;
use mta_sts_tlsrpt::collector::Collector;
use mta_sts_tlsrpt::tlsrpt_reporter_config::Component;

use super::super::lifecycle::Lifecycle;
use super::super::{CommandError, runtime};
use super::{load_config, store_url};
use crate::cli::TlsrptCollectArgs;
use crate::exit::Status;
use crate::logging;

/// Receives until SIGTERM or SIGINT, then stores the last counts and removes the socket.
/// Nothing is bound before every setting has been checked and the store opened.
pub fn run(args: &TlsrptCollectArgs) -> Result<Status, CommandError> {
    logging::init(args.log_format)?;
    let config = load_config(&args.config, Component::Collectd)?;
    let store_url = store_url(args.store.as_deref(), &config)?;
    let mut settings = config.collect_settings();
    if let Some(socket) = &args.socket {
        settings.socket.clone_from(socket);
    }
    if let Some(mode) = args.socket_mode {
        settings.socket_mode = Some(mode);
    }
    if let Some(user) = &args.socket_user {
        settings.socket_user = Some(user.clone());
    }
    if let Some(group) = &args.socket_group {
        settings.socket_group = Some(group.clone());
    }
    if let Some(seconds) = args.flush_interval {
        settings.flush_interval = Duration::from_secs(seconds);
    }
    if let Some(max_keys) = args.max_keys {
        settings.max_keys = usize::try_from(max_keys).unwrap_or(usize::MAX);
    }
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
