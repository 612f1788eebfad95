//! `mta-sts daemon` (the Postfix socketmap policy server) and `mta-sts query` (its answer for one
//! domain, explained).

use std::fmt::Write as _;

use mta_sts_policyd::{CacheKind, Config, Daemon, ListenAddr, Listener, QueryOutcome, Reply};

use super::{CommandError, emit, resolver, runtime, to_json};
use crate::cli::DaemonArgs;
use crate::exit::Status;

/// The configuration file, then the flags over it.
fn config(args: &DaemonArgs) -> Result<Config, CommandError> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| CommandError::Setup(e.to_string()))?,
        None => Config::default(),
    };
    if let Some(listen) = &args.listen {
        config.listen = listen
            .parse::<ListenAddr>()
            .map_err(|e| CommandError::Argument(format!("--listen {listen}: {e}")))?;
    }
    if let Some(text) = &args.resolver {
        config.resolver = resolver(Some(text))?;
    }
    if let Some(path) = &args.ca_file {
        config.ca_file = Some(path.clone());
    }
    if let Some(cache) = &args.cache {
        config.cache = cache
            .parse::<CacheKind>()
            .map_err(|e| CommandError::Argument(format!("--cache {cache}: {e}")))?;
    }
    if let Some(port) = args.https_port {
        config.https_port = port;
    }
    config
        .validate()
        .map_err(|e| CommandError::Setup(e.to_string()))?;
    Ok(config)
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub fn run(args: &DaemonArgs) -> Result<Status, CommandError> {
    let config = config(args)?;
    runtime()?.block_on(async {
        let daemon = Daemon::new(config.clone()).map_err(|e| CommandError::Setup(e.to_string()))?;
        let listener = Listener::bind(&config.listen, config.socket_mode)
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        eprintln!(
            "mta-sts daemon: listening on {}, cache {}",
            listener.local_addr(),
            config.cache
        );
        // RFC 8461 §3.3: administrators should hear about failed fetches; the daemon keeps
        // answering meanwhile.
        let mut events = daemon.subscribe();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                log(&format!("{event:?}"));
            }
        });
        daemon
            .serve(listener, shutdown_signal())
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        log("stopped");
        Ok(Status::Valid)
    })
}

/// One line to standard error. A daemon must not die because its log went away (a closed pipe),
/// so write errors are ignored, unlike `eprintln!`, which panics on them.
fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "mta-sts daemon: {line}");
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Answers one key as the daemon would; exit 0 for `OK`, 1 for `NOTFOUND`.
pub fn query(
    domain: &str,
    zone: &str,
    args: &DaemonArgs,
    json: bool,
) -> Result<Status, CommandError> {
    let config = config(args)?;
    let outcome = runtime()?.block_on(async {
        let daemon = Daemon::new(config).map_err(|e| CommandError::Setup(e.to_string()))?;
        Ok::<_, CommandError>(daemon.query(domain, zone).await)
    })?;
    emit(&if json {
        to_json(&outcome)?
    } else {
        human(&outcome)
    })?;
    Ok(match outcome.reply {
        Reply::Ok(_) => Status::Valid,
        _ => Status::Invalid,
    })
}

fn human(outcome: &QueryOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", outcome.reply);
    let _ = writeln!(out, "  key     {}", outcome.key);
    if let Some(domain) = &outcome.domain {
        let _ = writeln!(out, "  domain  {domain}");
    }
    let _ = writeln!(
        out,
        "  zone    {}",
        outcome.zone.as_deref().unwrap_or("(default)")
    );
    if let Some(policy) = &outcome.policy {
        let _ = writeln!(
            out,
            "  policy  id {}, mode {}, max_age {}, mx {}",
            policy.id,
            policy.mode,
            policy.max_age,
            policy.mx.join(", ")
        );
    }
    if let Some(origin) = &outcome.origin {
        let _ = writeln!(out, "  source  {origin:?}");
    }
    if let Some(problem) = &outcome.fallback {
        let _ = writeln!(out, "  note    applied from the cache because {problem:?}");
    }
    if let Some(reason) = &outcome.not_found {
        let _ = writeln!(out, "  why     {reason:?}");
    }
    out
}
