//! `mta-sts web`: the web checker, a page and a JSON API, with the defences a public service needs.

use std::time::Duration;

use mta_sts_check::NetSettings;
use mta_sts_net::AddressGuard;
use mta_sts_web::WebConfig;

use super::{CommandError, resolver, runtime, trust};
use crate::cli::WebArgs;
use crate::exit::Status;
use crate::logging;

/// Serves until Ctrl-C. Every flag was checked when the command line was read, and the
/// configuration is checked again before anything listens.
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
    runtime()?.block_on(async {
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
            "listening on http://{address}/; checks are served until Ctrl-C"
        );
        mta_sts_web::serve(listener, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| CommandError::Setup(e.to_string()))?;
        tracing::info!(kind = %"stopped", "stopped");
        Ok(Status::Valid)
    })
}
