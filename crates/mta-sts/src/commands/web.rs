//! `mta-sts web`: the web checker, a page and a JSON API, with the defences a public service needs.

use std::time::Duration;

use mta_sts_check::NetSettings;
use mta_sts_net::AddressGuard;
use mta_sts_web::WebConfig;

use super::lifecycle::Lifecycle;
use super::server_limits::fit_connections;
use super::{CommandError, resolver, runtime, trust};
use crate::cli::WebArgs;
use crate::exit::Status;
use crate::logging;

/// Descriptors kept free beside the connections and the checks: the listener, standard
/// streams, the resolver's sockets.
const RESERVED_FILES: usize = 64;

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight. Every flag was checked
/// when the command line was read, and the configuration is checked again before anything
/// listens.
pub fn run(args: &WebArgs) -> Result<Status, CommandError> {
    logging::init(args.log_format)?;
    let settings = NetSettings {
        resolver: resolver(args.resolver.as_deref())?,
        trust: trust(args.ca_file.as_deref())?,
        https_port: 443,
        smtp_port: 25,
        timeout: args.timeout,
        // A public checker must not become a way to probe the network it runs in.
        guard: if args.allow_private {
            AddressGuard::AllowAll
        } else {
            AddressGuard::PublicOnly
        },
        probe_smtp: true,
    };
    let mut config = WebConfig::new(settings);
    config.rate_per_minute = args.rate;
    config.max_concurrent_checks = args.max_concurrent;
    config.cache_ttl = Duration::from_secs(args.cache_ttl);
    config.check_timeout = args.check_timeout;
    config.trusted_proxies = args.trust_proxy.clone();
    config.header_read_timeout = args.header_timeout;
    // Each running check holds a few sockets of its own (DNS, the policy fetch, SMTP probes).
    let reserved = RESERVED_FILES.saturating_add(config.max_concurrent_checks.saturating_mul(16));
    // Raised before anything is opened; said after the line that says where it listens.
    let (cap, limit_notes) = fit_connections(args.max_connections, reserved, "--max-connections");
    config.max_connections = cap;
    runtime()?.block_on(async {
        let lifecycle = Lifecycle::start(|| {
            "the web checker has nothing to reload: its settings are read at start, so restart \
             it to apply changed flags; it serves on unchanged"
                .to_string()
        })?;
        // The server's own checks of its settings and its checker (the resolver, the roots),
        // before it listens: a refused setting never follows a "listening" line.
        let _checked =
            mta_sts_web::router(config.clone()).map_err(|e| CommandError::Setup(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CommandError::Setup(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener
            .local_addr()
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        tracing::info!(
            kind = %"listening",
            listen = %address,
            max_connections = cap,
            "listening on http://{address}/, at most {cap} connections; checks are served until \
             SIGTERM or Ctrl-C"
        );
        for note in &limit_notes {
            note.log();
        }
        lifecycle.ready();
        mta_sts_web::serve_with_events(listener, config, lifecycle.stopping(), |event| {
            tracing::warn!(kind = %event.kind(), "{event}");
        })
        .await
        .map_err(|e| CommandError::Setup(e.to_string()))?;
        tracing::info!(
            kind = %"stopped",
            "stopped after finishing the requests in flight"
        );
        Ok(Status::Valid)
    })
}
