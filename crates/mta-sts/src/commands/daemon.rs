//! `mta-sts daemon` (the Postfix socketmap policy server) and `mta-sts query` (its answer for one
//! domain, explained).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mta_sts_policyd::cache::PeerImport;
use mta_sts_policyd::compat_config::CompatConfig;
use mta_sts_policyd::policy::DaneSummary;
use mta_sts_policyd::{
    CacheKind, Config, Daemon, ListenAddr, Listener, PolicydError, PostfixVersionSetting,
    QueryOutcome, Reply, SocketAccess,
};

use super::{CommandError, emit, resolver, runtime, runtime_with_threads, to_json};
use crate::cli::DaemonArgs;
use crate::exit::Status;

/// The configuration file (ours, or postfix-mta-sts-resolver's), then the flags over it; and
/// postfix-mta-sts-resolver's cache file to import from, if its configuration names one.
fn config(args: &DaemonArgs) -> Result<(Config, Option<PathBuf>), CommandError> {
    let mut peer_cache = None;
    let mut config = match (&args.config, &args.compat_config) {
        (Some(path), _) => Config::load(path).map_err(|e| CommandError::Setup(e.to_string()))?,
        (None, Some(path)) => {
            let compat =
                CompatConfig::load(path).map_err(|e| CommandError::Setup(e.to_string()))?;
            // Settings accepted but not applied must be visible: the user switched daemons
            // expecting the same behaviour. A closed stderr must not stop the daemon.
            use std::io::Write as _;
            let mut stderr = std::io::stderr().lock();
            for note in compat.notes {
                let _ = writeln!(stderr, "mta-sts: {}: {note}", path.display());
            }
            peer_cache = compat.peer_cache;
            compat.config
        }
        (None, None) => Config::default(),
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
    if let Some(address) = args.metrics {
        config.metrics = Some(address);
    }
    if let Some(version) = &args.postfix_version {
        config.postfix_version = version
            .parse::<PostfixVersionSetting>()
            .map_err(|e| CommandError::Argument(format!("--postfix-version {version}: {e}")))?;
    }
    config
        .validate()
        .map_err(|e| CommandError::Setup(e.to_string()))?;
    Ok((config, peer_cache))
}

/// The daemon for `config`; with postfix-mta-sts-resolver's cache `peer_cache`, its policies
/// imported first into a new cache (RFC 8461 §5.1: a policy learnt before the switch keeps
/// protecting its domain). An import that cannot be done is reported, and the daemon starts
/// anyway: the domains are then fetched on first use.
async fn open_daemon(config: Config, peer_cache: Option<&Path>) -> Result<Daemon, CommandError> {
    let setup = |e: mta_sts_policyd::PolicydError| CommandError::Setup(e.to_string());
    let Some(peer) = peer_cache else {
        return Daemon::new(config).map_err(setup);
    };
    let (daemon, imported) = Daemon::new_importing(config, peer).await.map_err(setup)?;
    // As the notes: a closed stderr must not stop the daemon.
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    match imported {
        PeerImport::Imported(report) => {
            let _ = writeln!(stderr, "mta-sts: {report}");
            // The reasons, so that a damaged row can be looked into; a file full of them does
            // not flood the log.
            const SHOWN: usize = 10;
            for row in report.unreadable.iter().take(SHOWN) {
                let _ = writeln!(stderr, "mta-sts:   not imported: {row}");
            }
            if report.unreadable.len() > SHOWN {
                let _ = writeln!(
                    stderr,
                    "mta-sts:   ... and {} more unreadable rows",
                    report.unreadable.len() - SHOWN
                );
            }
        }
        // Our cache was in use before: it has been imported into already.
        PeerImport::Skipped => {}
        PeerImport::Failed(error) => {
            let _ = writeln!(stderr, "mta-sts: no policies imported: {error}");
        }
    }
    Ok(daemon)
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub fn run(args: &DaemonArgs) -> Result<Status, CommandError> {
    let (config, peer_cache) = config(args)?;
    runtime_with_threads(config.threads)?.block_on(async {
        let daemon = open_daemon(config.clone(), peer_cache.as_deref()).await?;
        let listener = Listener::bind(&config.listen, &SocketAccess::from_config(&config))
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        log(&format!(
            "listening on {}, cache {}, {} thread(s)",
            listener.local_addr(),
            config.cache,
            config.threads
        ));
        let metrics = match config.metrics {
            Some(address) => {
                let metrics_listener =
                    tokio::net::TcpListener::bind(address).await.map_err(|e| {
                        CommandError::Setup(format!("cannot serve metrics on {address}: {e}"))
                    })?;
                let address = metrics_listener
                    .local_addr()
                    .map_err(|e| CommandError::Setup(e.to_string()))?;
                log(&format!("metrics on http://{address}/metrics"));
                let daemon = daemon.clone();
                Some(tokio::spawn(async move {
                    daemon
                        .serve_metrics(metrics_listener, std::future::pending())
                        .await
                }))
            }
            None => None,
        };
        // Which reply form Postfix gets, and why; then every zone that says otherwise.
        log(&daemon.postfix().describe());
        let by_default = daemon.postfix().attributes_by_default();
        let zones = std::iter::once(("default_zone".to_string(), &config.default_zone)).chain(
            config
                .zones
                .iter()
                .map(|(name, zone)| (format!("zone {name}"), zone)),
        );
        for (name, zone) in zones {
            if let Some(tlsrpt) = zone.tlsrpt.filter(|tlsrpt| *tlsrpt != by_default) {
                log(&if tlsrpt {
                    format!(
                        "{name} sends the TLSRPT attributes anyway (tlsrpt = true); Postfix \
                         before 3.10 defers its mail with \"invalid attribute name\""
                    )
                } else {
                    format!(
                        "{name} leaves the TLSRPT attributes out (tlsrpt = false), so Postfix \
                         does not enforce the MX patterns of its policies"
                    )
                });
            }
        }
        notify_systemd("READY=1");
        // RFC 8461 §3.3: administrators should hear about failed fetches; the daemon keeps
        // answering meanwhile.
        let mut events = daemon.subscribe();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                match event.sentence() {
                    Some(sentence) => log(&sentence),
                    None => log(&format!("{event:?}")),
                }
            }
        });
        let served = daemon.serve(listener, async {
            shutdown_signal().await;
            notify_systemd("STOPPING=1");
        });
        served
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
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

/// Tells systemd (a `Type=notify` unit) how the daemon is doing: READY=1 once it listens,
/// STOPPING=1 when it starts to shut down. Written by hand: one datagram to `$NOTIFY_SOCKET`
/// (sd_notify(3)); an unreachable socket is not an error, the daemon serves anyway.
fn notify_systemd(state: &str) {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let address = match path.to_str().and_then(|p| p.strip_prefix('@')) {
        // A leading '@' names a Linux abstract socket.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(&path),
    };
    let sent = address.and_then(|address| {
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(state.as_bytes(), &address)
    });
    if let Err(e) = sent {
        log(&format!("cannot notify systemd ({state}): {e}"));
    }
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
    let (config, peer_cache) = config(args)?;
    // Nothing said where the cache is: the daemon's default file, so that `query` shows what a
    // daemon with the same defaults has cached. When that file cannot be used here (another
    // user's daemon owns it), answer without it rather than not at all.
    let default_cache =
        args.config.is_none() && args.compat_config.is_none() && args.cache.is_none();
    let outcome = runtime()?.block_on(async {
        let daemon = if default_cache {
            let setup = |e: PolicydError| CommandError::Setup(e.to_string());
            match Daemon::new(config.clone()) {
                Err(PolicydError::Cache(error)) => {
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stderr(),
                        "mta-sts: {error}; answering with a memory cache (--cache memory)"
                    );
                    Daemon::new(Config {
                        cache: CacheKind::Memory,
                        ..config
                    })
                    .map_err(setup)?
                }
                opened => opened.map_err(setup)?,
            }
        } else {
            open_daemon(config, peer_cache.as_deref()).await?
        };
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

/// The DANE facts behind a reply in one line: whether DANE applies, why, which MX hosts have
/// DNSSEC-validated TLSA records, and how old the facts are.
fn dane_line(dane: &DaneSummary) -> String {
    let facts = &dane.facts;
    let why = if let Some(error) = &facts.mx_error {
        format!("does not apply: the MX lookup failed ({error})")
    } else if !facts.mx_validated {
        "does not apply: the MX RRset is not DNSSEC-validated (RFC 7672 §2.2.1)".to_string()
    } else if dane.applies {
        let mut parts = Vec::new();
        if !facts.hosts.is_empty() {
            parts.push(format!("validated TLSA at {}", facts.hosts.join(", ")));
        }
        if !facts.failed.is_empty() {
            parts.push(format!(
                "TLSA lookup failed for {} (Postfix looks again at delivery)",
                facts.failed.join(", ")
            ));
        }
        format!(
            "applies: {}; Postfix does DANE, the MTA-STS policy is not applied (RFC 8461 §2)",
            parts.join("; ")
        )
    } else {
        "does not apply: no MX host has DNSSEC-validated TLSA records".to_string()
    };
    format!("{why}; checked {} s ago", dane.age)
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
    if let Some(dane) = &outcome.dane {
        let _ = writeln!(out, "  dane    {}", dane_line(dane));
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

#[cfg(test)]
mod dane_tests {
    use mta_sts_policyd::Timestamp;
    use mta_sts_policyd::cache::DaneEntry;

    use super::*;

    fn summary(mx_validated: bool, hosts: &[&str], failed: &[&str]) -> DaneSummary {
        let facts = DaneEntry {
            mx_validated,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            failed: failed.iter().map(|h| h.to_string()).collect(),
            mx_error: None,
            checked_at: Timestamp::from_unix_secs(100),
        };
        DaneSummary::new(&facts, Timestamp::from_unix_secs(112))
    }

    #[test]
    fn the_dane_line_says_why_and_names_the_hosts() {
        assert_eq!(
            dane_line(&summary(true, &["mx1.example.com", "mx2.example.com"], &[])),
            "applies: validated TLSA at mx1.example.com, mx2.example.com; Postfix does DANE, \
             the MTA-STS policy is not applied (RFC 8461 §2); checked 12 s ago"
        );
        assert!(
            dane_line(&summary(true, &[], &["mx.example.com"]))
                .starts_with("applies: TLSA lookup failed for mx.example.com")
        );
        assert!(
            dane_line(&summary(false, &[], &[]))
                .starts_with("does not apply: the MX RRset is not DNSSEC-validated")
        );
        assert!(
            dane_line(&summary(true, &[], &[]))
                .starts_with("does not apply: no MX host has DNSSEC-validated TLSA")
        );
        let mut failed = summary(false, &[], &[]);
        failed.facts.mx_error = Some("the resolver failed to answer (SERVFAIL)".into());
        assert!(
            dane_line(&failed).starts_with("does not apply: the MX lookup failed (the resolver")
        );
    }
}
