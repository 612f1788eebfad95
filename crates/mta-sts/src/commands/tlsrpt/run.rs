//! `mta-sts tlsrpt run`: the reporter, in place of tlsrpt-reportd.

use std::sync::Arc;

use mta_sts_net::SystemClock;
use mta_sts_tlsrpt::delivery::Deliverer;
use mta_sts_tlsrpt::reporter::Reporter;
use mta_sts_tlsrpt::reporter::metrics::ReporterMetrics;
use mta_sts_tlsrpt::tlsrpt_reporter_config::Component;

use super::super::lifecycle::Lifecycle;
use super::super::{CommandError, runtime};
use super::{load_config, store_url};
use crate::cli::TlsrptRunArgs;
use crate::exit::Status;
use crate::logging;

/// Reports until SIGTERM or SIGINT (the round under way is finished first). Every setting is
/// checked, the store opened and the key and CA files read before systemd hears it is ready.
pub fn run(args: &TlsrptRunArgs) -> Result<Status, CommandError> {
    logging::init(args.log_format)?;
    let config = load_config(&args.config, Component::Reportd)?;
    let store_url = store_url(args.config.store.as_deref(), &config)?;
    let build = config
        .build_settings()
        .map_err(|e| CommandError::Setup(format!("{e}.")))?;
    let delivery = config.delivery_settings();
    let schedule = config.schedule.settings();
    let metrics_address = args.metrics.or(config.metrics);
    runtime()?.block_on(async move {
        let store = super::open_store(&store_url, super::StoreAccess::Create).await?;
        let deliverer =
            Deliverer::new(&delivery).map_err(|e| CommandError::Setup(format!("{e}.")))?;
        if deliverer.signs().is_none() {
            tracing::warn!(
                kind = %"tlsrpt-unsigned",
                "Report mails go out without a DKIM signature (no [dkim] table); RFC 8460 §3 \
                 says they SHOULD be signed, and some receivers drop unsigned reports."
            );
        }
        let metrics = Arc::new(ReporterMetrics::new());
        let reporter = Reporter::new(
            store,
            build,
            deliverer,
            delivery.retry,
            schedule,
            Arc::new(SystemClock),
            metrics.clone(),
        )
        .map_err(|e| CommandError::Setup(format!("{e}.")))?;
        let lifecycle = Lifecycle::start_saying(
            "the delivery under way is finished (or left to be tried again) before the process \
             stops",
            || "the reporter reads its settings at start only; restart it to change them".into(),
        )?;
        if let Some(address) = metrics_address {
            let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
                CommandError::Setup(format!("cannot serve metrics on {address}: {e}."))
            })?;
            let bound = listener
                .local_addr()
                .map_err(|e| CommandError::Setup(e.to_string()))?;
            tracing::info!(
                kind = %"metrics",
                listen = %bound,
                "metrics on http://{bound}/metrics"
            );
            let stopping = lifecycle.stopping();
            tokio::spawn(async move { metrics.serve(listener, stopping).await });
        }
        tracing::info!(
            kind = %"started",
            store = %store_url,
            "Reporting from {store_url}: each day's reports go out within {} s after its UTC \
             midnight (plus {} s for the collectors' last counts); missed days are caught up \
             {} days back; days older than {} (today included) are deleted once a day.",
            schedule.spread.as_secs(),
            schedule.settle.as_secs(),
            schedule.catch_up_days,
            schedule.keep_days
        );
        lifecycle.ready();
        reporter.run(lifecycle.stopping()).await;
        tracing::info!(kind = %"stopped", "stopped");
        Ok(Status::Valid)
    })
}
