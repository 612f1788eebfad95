//! `mta-sts tlsrpt collect`: the collector, in place of tlsrpt-collectd.

use std::sync::Arc;
use std::time::Duration;

use mta_sts_net::SystemClock;
use mta_sts_service::{HttpOptions, MetricsRegistry, Server};
use mta_sts_tlsrpt::collector::{Collector, CollectorCounters};
use mta_sts_tlsrpt::tlsrpt_reporter_config::Component;
use prometheus_client::collector::Collector as MetricsCollector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

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
    let store_url = store_url(args.config.store.as_deref(), &config)?;
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
    let metrics_address = args.metrics;
    runtime()?.block_on(async move {
        let store = super::open_store(&store_url, super::StoreAccess::Create).await?;
        let metrics_listener = match metrics_address {
            Some(address) => Some(tokio::net::TcpListener::bind(address).await.map_err(|e| {
                CommandError::Setup(format!("cannot serve metrics on {address}: {e}."))
            })?),
            None => None,
        };
        let lifecycle = Lifecycle::start_saying(
            "the datagrams already queued on the socket are counted and the counts stored \
             before the process stops",
            || "the collector has nothing to reload".to_string(),
        )?;
        let collector = Collector::bind(settings, store, Arc::new(SystemClock))
            .map_err(|error| CommandError::Setup(format!("{error}.")))?;
        let metrics = match metrics_listener {
            Some(listener) => {
                let address = listener
                    .local_addr()
                    .map_err(|e| CommandError::Setup(format!("{e}.")))?;
                let registry = MetricsRegistry::new();
                let counters = CountersMetrics(collector.counters());
                registry.register(|registry| {
                    registry
                        .sub_registry_with_prefix("mta_sts_tlsrpt_collect")
                        .register_collector(Box::new(counters));
                });
                tracing::info!(
                    kind = %"metrics",
                    listen = %address,
                    "metrics on http://{address}/metrics"
                );
                let stopping = lifecycle.stopping();
                Some(tokio::spawn(async move {
                    Server::new(listener)
                        .max_connections(16)
                        .serve_http(HttpOptions::default(), registry.service(), stopping)
                        .await;
                }))
            }
            None => None,
        };
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
        if let Some(metrics) = metrics {
            metrics.abort();
        }
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

/// The collector's counters, read at each scrape.
#[derive(Debug)]
struct CountersMetrics(Arc<CollectorCounters>);

impl MetricsCollector for CountersMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = self.0.snapshot();
        let counters = [
            ("datagrams", "Datagrams received.", figures.datagrams),
            (
                "malformed",
                "Datagrams received that could not be read (not counted).",
                figures.malformed,
            ),
            (
                "lost",
                "Datagrams received but not counted: the counts held reached max_keys.",
                figures.lost,
            ),
            (
                "noted",
                "Datagrams counted with a note (a failure count that did not match, an unknown \
                 failure code).",
                figures.noted,
            ),
            (
                "flushes",
                "Flushes that stored their counts.",
                figures.flushes,
            ),
            (
                "flush_failures",
                "Flushes that failed (their counts kept and tried again).",
                figures.flush_failures,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let held = ConstGauge::new(i64::try_from(figures.held_keys).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "held_keys",
            "Distinct counts held in memory (not yet stored).",
            None,
            held.metric_type(),
        )?;
        held.encode(metric)
    }
}
