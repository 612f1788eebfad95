//! `mta-sts web`: the web checker, a page and a JSON API, with the defences a public service needs.

use std::time::Duration;

use mta_sts_check::NetSettings;
use mta_sts_net::AddressGuard;
use mta_sts_web::WebConfig;

use super::server_limits::fit_connections;
use super::{CommandError, resolver, runtime, seconds, trust};
use crate::cli::WebArgs;
use crate::exit::Status;

/// Serves until Ctrl-C.
pub fn run(args: &WebArgs) -> Result<Status, CommandError> {
    let settings = NetSettings {
        resolver: resolver(args.resolver.as_deref())?,
        trust: trust(args.ca_file.as_deref())?,
        https_port: 443,
        smtp_port: 25,
        timeout: seconds("--timeout", args.timeout)?,
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
    config.max_concurrent_checks = args.max_concurrent.max(1);
    config.cache_ttl = Duration::from_secs(args.cache_ttl);
    config.check_timeout = seconds("--check-timeout", args.check_timeout)?;
    config.trusted_proxies = args.trust_proxy.clone();
    config.header_read_timeout = seconds("--header-timeout", args.header_timeout)?;
    if args.max_connections == 0 {
        return Err(CommandError::Argument(
            "--max-connections 0 would serve nobody; give at least 1".into(),
        ));
    }
    // Each running check holds a few sockets of its own (DNS, the policy fetch, SMTP probes).
    let reserved = RESERVED_FILES.saturating_add(config.max_concurrent_checks.saturating_mul(16));
    // Raised before anything is opened; said after the line that says where it listens.
    let (cap, limit_lines) = fit_connections(args.max_connections, reserved, "--max-connections");
    config.max_connections = cap;
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CommandError::Setup(format!("cannot listen on {}: {e}", args.listen)))?;
        let address = listener
            .local_addr()
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        log(&format!(
            "listening on http://{address}/, at most {cap} connections (Ctrl-C stops)"
        ));
        for line in limit_lines {
            log(&line);
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        mta_sts_web::serve_with_events(listener, config, shutdown, |event| {
            log(&event.to_string());
        })
        .await
        .map_err(|e| CommandError::Setup(e.to_string()))?;
        Ok(Status::Valid)
    })
}

/// Descriptors kept free beside the connections and the checks: the listener, standard
/// streams, the resolver's sockets.
const RESERVED_FILES: usize = 64;

/// One line to standard error; a closed stderr must not stop the server (`eprintln!` panics).
fn log(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "mta-sts web: {line}");
}
