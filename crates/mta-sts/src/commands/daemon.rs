//! `mta-sts daemon` (the Postfix socketmap policy server) and `mta-sts query` (its answer for one
//! domain, explained).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mta_sts_policyd::cache::{CacheError, PeerImport};
use mta_sts_policyd::compat_config::CompatConfig;
use mta_sts_policyd::policy::DaneSummary;
use mta_sts_policyd::socketmap::{Key, SkipReason, normalize_key};
use mta_sts_policyd::{
    CacheKind, Config, Daemon, Event, ListenAddr, Listener, PolicydError, PostfixVersionSetting,
    QueryOutcome, Reply, SocketAccess,
};
use tokio::sync::broadcast::error::RecvError;

use super::lifecycle::Lifecycle;
use super::server_limits::fit_connections;
use super::{CommandError, emit, resolver, runtime, runtime_with_threads, to_json};
use crate::cli::{DaemonArgs, PolicyArgs, QueryArgs};
use crate::exit::Status;
use crate::logging;

/// Where the notes of start-up (settings ignored, policies imported) go: `mta-sts query` writes
/// them to standard error as they are, the daemon to its log with a `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notes {
    Stderr,
    Log,
}

impl Notes {
    /// One note; `warning` marks what the administrator should act on.
    fn say(self, kind: &str, warning: bool, text: &str) {
        match self {
            // A closed stderr must not stop the command.
            Notes::Stderr => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "mta-sts: {text}");
            }
            Notes::Log if warning => tracing::warn!(kind = %kind, "{}", text.trim_start()),
            Notes::Log => tracing::info!(kind = %kind, "{}", text.trim_start()),
        }
    }
}

/// The configuration file (ours, or postfix-mta-sts-resolver's), then the flags over it; and
/// postfix-mta-sts-resolver's cache file to import from, if its configuration names one.
fn config(
    args: &PolicyArgs,
    notes: Notes,
    listen: Option<&str>,
    metrics: Option<std::net::SocketAddr>,
) -> Result<(Config, Option<PathBuf>), CommandError> {
    let mut peer_cache = None;
    let mut config = match (&args.config, &args.compat_config) {
        (Some(path), _) => Config::load(path).map_err(|e| CommandError::Setup(e.to_string()))?,
        (None, Some(path)) => {
            let compat =
                CompatConfig::load(path).map_err(|e| CommandError::Setup(e.to_string()))?;
            // Settings accepted but not applied must be visible: the user switched daemons
            // expecting the same behaviour.
            for note in compat.notes {
                notes.say("config-note", true, &format!("{}: {note}", path.display()));
            }
            peer_cache = compat.peer_cache;
            compat.config
        }
        (None, None) => Config::default(),
    };
    if let Some(listen) = listen {
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
    if let Some(address) = metrics {
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
async fn open_daemon(
    config: Config,
    peer_cache: Option<&Path>,
    notes: Notes,
) -> Result<Daemon, CommandError> {
    let setup = |e: mta_sts_policyd::PolicydError| CommandError::Setup(e.to_string());
    let Some(peer) = peer_cache else {
        let daemon = Daemon::new(config).map_err(setup)?;
        report_salvage(&daemon, notes);
        return Ok(daemon);
    };
    let (daemon, imported) = Daemon::new_importing(config, peer).await.map_err(setup)?;
    report_salvage(&daemon, notes);
    report_import(imported, notes);
    Ok(daemon)
}

/// Says what became of postfix-mta-sts-resolver's cache.
fn report_import(imported: PeerImport, notes: Notes) {
    match imported {
        PeerImport::Imported(report) => {
            notes.say("import", false, &report.to_string());
            // The reasons, so that a damaged row can be looked into; a file full of them does
            // not flood the log.
            const SHOWN: usize = 10;
            for row in report.unreadable.iter().take(SHOWN) {
                notes.say("import", true, &format!("  not imported: {row}"));
            }
            if report.unreadable.len() > SHOWN {
                notes.say(
                    "import",
                    true,
                    &format!(
                        "  ... and {} more unreadable rows",
                        report.unreadable.len() - SHOWN
                    ),
                );
            }
        }
        // Our cache was in use before: it has been imported into already.
        PeerImport::Skipped => {}
        PeerImport::Failed(error) => {
            notes.say("import", true, &format!("no policies imported: {error}"));
        }
    }
}

/// Says what was salvaged from a damaged cache file, if anything: one line with the counts.
fn report_salvage(daemon: &Daemon, notes: Notes) {
    if let Some(salvage) = daemon.cache_salvage() {
        notes.say("salvage", true, &salvage.to_string());
    }
}

/// Descriptors kept free beside the connections: the listeners, the SQLite cache and its
/// journal, the Redis link, DNS sockets and policy fetches of the refresh and of cold lookups
/// (a few per domain, `refresh.concurrency` domains at once), standard streams.
const RESERVED_FILES: usize = 128;

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight. SIGHUP changes nothing
/// (the settings are read at start) and says so.
pub fn run(args: &DaemonArgs) -> Result<Status, CommandError> {
    logging::init(args.log_format)?;
    let (mut config, peer_cache) = config(
        &args.policy,
        Notes::Log,
        args.listen.as_deref(),
        args.metrics,
    )?;
    // Raised before anything is opened; said after the line that says where the daemon
    // listens, which comes first.
    let (cap, limit_notes) = fit_connections(
        config.max_connections,
        RESERVED_FILES.saturating_add(config.refresh.concurrency.saturating_mul(4)),
        "max_connections",
    );
    config.max_connections = cap;
    runtime_with_threads(config.threads)?.block_on(async {
        // Before anything is opened: from here on SIGTERM stops the daemon cleanly.
        let lifecycle = Lifecycle::start(|| {
            "the daemon has nothing to reload: its settings are read at start, so restart it              to apply a changed configuration; it serves on unchanged"
                .to_string()
        })?;
        let daemon = open_daemon(config.clone(), peer_cache.as_deref(), Notes::Log).await?;
        let listener = Listener::bind(&config.listen, &SocketAccess::from_config(&config))
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        let address = listener.local_addr();
        tracing::info!(
            kind = %"listening",
            listen = %address,
            cache = %config.cache,
            threads = config.threads,
            max_connections = config.max_connections,
            "listening on {address}, cache {}, {} thread(s), at most {} connections; Postfix's \
             lookups are answered from now on",
            config.cache,
            config.threads,
            config.max_connections
        );
        let metrics = match config.metrics {
            Some(address) => {
                let metrics_listener =
                    tokio::net::TcpListener::bind(address).await.map_err(|e| {
                        CommandError::Setup(format!("cannot serve metrics on {address}: {e}"))
                    })?;
                let address = metrics_listener
                    .local_addr()
                    .map_err(|e| CommandError::Setup(e.to_string()))?;
                tracing::info!(
                    kind = %"metrics",
                    listen = %address,
                    "metrics on http://{address}/metrics"
                );
                let daemon = daemon.clone();
                Some(tokio::spawn(async move {
                    daemon
                        .serve_metrics(metrics_listener, std::future::pending())
                        .await
                }))
            }
            None => None,
        };
        for note in &limit_notes {
            note.log();
        }
        // Which reply form Postfix gets, and why; then every zone that says otherwise.
        tracing::info!(
            kind = %"postfix-version",
            attributes = daemon.postfix().attributes_by_default(),
            "{}",
            daemon.postfix().describe()
        );
        let by_default = daemon.postfix().attributes_by_default();
        let zones = std::iter::once(("default_zone".to_string(), &config.default_zone)).chain(
            config
                .zones
                .iter()
                .map(|(name, zone)| (format!("zone {name}"), zone)),
        );
        for (name, zone) in zones {
            if let Some(tlsrpt) = zone.tlsrpt.filter(|tlsrpt| *tlsrpt != by_default) {
                if tlsrpt {
                    tracing::info!(
                        kind = %"postfix-version",
                        attributes = true,
                        "{name} sends the TLSRPT attributes anyway (tlsrpt = true); Postfix \
                         before 3.10 defers its mail with \"invalid attribute name\""
                    );
                } else {
                    tracing::info!(
                        kind = %"postfix-version",
                        attributes = false,
                        "{name} leaves the TLSRPT attributes out (tlsrpt = false), so Postfix \
                         does not enforce the MX patterns of its policies"
                    );
                }
            }
        }
        lifecycle.ready();
        // RFC 8461 §3.3: administrators should hear about failed fetches; the daemon keeps
        // answering meanwhile.
        let mut events = daemon.subscribe();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => log_event(&event),
                    // A burst outran the log: say so, and keep logging what comes next.
                    Err(RecvError::Lagged(missed)) => tracing::warn!(
                        kind = %"log-lagged",
                        missed,
                        "{missed} events came faster than the log is written and were not \
                         logged; the daemon answered all the same"
                    ),
                    Err(RecvError::Closed) => break,
                }
            }
        });
        let served = daemon.serve(listener, lifecycle.stopping());
        served
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        tracing::info!(
            kind = %"stopped",
            "stopped after finishing the requests in flight"
        );
        Ok(Status::Valid)
    })
}

/// One event of the daemon in the log: its sentence, with its kind and domain as fields.
fn log_event(event: &Event) {
    let kind = event.kind();
    match event.domain() {
        Some(domain) => tracing::warn!(kind = %kind, domain = %domain, "{event}"),
        None => tracing::warn!(kind = %kind, "{event}"),
    }
}

/// Answers one key as the daemon would; exit 0 for `OK`, 1 for `NOTFOUND`, 2 for a key that is
/// not a domain name (the exit-status contract: a malformed argument).
pub fn query(args: &QueryArgs) -> Result<Status, CommandError> {
    let QueryArgs {
        domain,
        zone,
        json,
        update_cache,
        policy,
    } = args;
    // Postfix's other keys (`.example.com`, an IP literal) are answered NOTFOUND and explained
    // below; a key that names nothing is the user's typo, refused before anything is opened.
    if let Key::Skip(reason @ (SkipReason::Empty | SkipReason::InvalidName { .. })) =
        normalize_key(domain)
    {
        return Err(CommandError::Argument(format!(
            "{reason}; the daemon would answer it NOTFOUND without a lookup"
        )));
    }
    let (config, peer_cache) = config(policy, Notes::Stderr, None, None)?;
    // Nothing said where the cache is: the daemon's default file, so that `query` shows what a
    // daemon with the same defaults has cached. When that file cannot be used here (another
    // user's daemon owns it), answer without it rather than not at all.
    let default_cache =
        policy.config.is_none() && policy.compat_config.is_none() && policy.cache.is_none();
    let outcome = runtime()?.block_on(async {
        // The cache is only read unless the user asks for it to be written.
        let daemon = if *update_cache {
            open_for_update(config, peer_cache.as_deref(), default_cache).await?
        } else {
            open_read_only(config, peer_cache.as_deref()).await?
        };
        Ok::<_, CommandError>(daemon.query(domain, zone).await)
    })?;
    emit(&if *json {
        to_json(&outcome)?
    } else {
        human(&outcome)
    })?;
    Ok(match outcome.reply {
        Reply::Ok(_) => Status::Valid,
        _ => Status::Invalid,
    })
}

/// The daemon for `query --update-cache`: the cache opened as the daemon opens it (created if
/// missing, salvaged if damaged, the peer's policies imported into a new one).
async fn open_for_update(
    config: Config,
    peer_cache: Option<&Path>,
    default_cache: bool,
) -> Result<Daemon, CommandError> {
    if !default_cache {
        return open_daemon(config, peer_cache, Notes::Stderr).await;
    }
    let setup = |e: PolicydError| CommandError::Setup(e.to_string());
    match Daemon::new(config.clone()) {
        Err(PolicydError::Cache(error)) => {
            memory_note(&error);
            Daemon::new(Config {
                cache: CacheKind::Memory,
                ..config
            })
            .map_err(setup)
        }
        opened => {
            let daemon = opened.map_err(setup)?;
            report_salvage(&daemon, Notes::Stderr);
            Ok(daemon)
        }
    }
}

/// The daemon for `query`: the cache only read, what the lookup learns kept in memory. A cache
/// that cannot be read (a missing file, never created here; another user's; a damaged file the
/// daemon salvages at its next start) is a note, and the query is answered with a memory cache:
/// a diagnostic answers rather than not at all.
async fn open_read_only(config: Config, peer_cache: Option<&Path>) -> Result<Daemon, CommandError> {
    let setup = |e: PolicydError| CommandError::Setup(e.to_string());
    let (daemon, imported) = match Daemon::new_read_only(config.clone(), peer_cache).await {
        Err(PolicydError::Cache(error)) => {
            memory_note(&error);
            let memory = Config {
                cache: CacheKind::Memory,
                ..config
            };
            Daemon::new_read_only(memory, peer_cache)
                .await
                .map_err(setup)?
        }
        opened => opened.map_err(setup)?,
    };
    if let Some(imported) = imported {
        report_import(imported, Notes::Stderr);
    }
    Ok(daemon)
}

/// Says that the query is answered without the cache, and why.
fn memory_note(error: &CacheError) {
    Notes::Stderr.say(
        "cache",
        true,
        &format!("{error}; answering with a memory cache (--cache memory)"),
    );
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
    format!(
        "{why}; checked at {} ({} s ago)",
        facts.checked_at, dane.age
    )
}

/// The reply, then one sentence a line, each naming the domain: what Postfix is told and what it
/// does with it, the policy, how far the lookup went, why the policy applies unconfirmed or why
/// there is none. Times in RFC 3339.
fn human(outcome: &QueryOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", outcome.reply);
    // A key that was not looked up has no domain: it is named as given.
    let subject = outcome
        .domain
        .clone()
        .unwrap_or_else(|| format!("`{}`", outcome.key));
    let zone = outcome
        .zone
        .as_deref()
        .map_or("in the default zone".to_string(), |zone| {
            format!("in zone {zone}")
        });
    // The key is named when it differs from the domain looked up (`[mx.example.com]:25`).
    let key = match &outcome.domain {
        Some(domain) if *domain != outcome.key => format!(" (the key `{}`)", outcome.key),
        _ => String::new(),
    };
    let meaning = match &outcome.reply {
        Reply::Ok(data) if data == mta_sts_policyd::policy::DANE_REPLY => {
            "Postfix authenticates the MX hosts that have TLSA records by DANE, and MTA-STS is \
             not applied (RFC 8461 §2)"
                .to_string()
        }
        Reply::Ok(_) => "Postfix delivers only over TLS to MX hosts that match the policy, \
                         with a certificate valid for the host name"
            .to_string(),
        Reply::NotFound => {
            let why = outcome
                .not_found
                .as_ref()
                .map_or(String::new(), |reason| format!(" because {reason}"));
            format!(
                "Postfix is told NOTFOUND{why}; it then applies its own smtp_tls_security_level"
            )
        }
        Reply::Temp(reason) => format!("Postfix defers the mail for now: {reason}"),
        Reply::Perm(reason) => format!("Postfix treats the lookup as failed for good: {reason}"),
    };
    let _ = writeln!(out, "{subject}{key}, {zone}: {meaning}.");
    if let Some(policy) = &outcome.policy {
        let _ = writeln!(
            out,
            "{subject}: the policy with id {} is mode {}, max_age {} s, mx {}; fetched at {} \
             ({} s ago), it expires at {}.",
            policy.id,
            policy.mode,
            policy.max_age,
            policy.mx.join(", "),
            policy.fetched_at,
            policy.age,
            policy.expires_at
        );
    }
    if let Some(dane) = &outcome.dane {
        let _ = writeln!(out, "{subject}: DANE {}.", dane_line(dane));
    }
    if let Some(origin) = &outcome.origin {
        let _ = writeln!(out, "{subject}: {origin}.");
    }
    if let Some(problem) = &outcome.fallback {
        // RFC 8461 §3.3: a valid cached policy still applies when it cannot be confirmed.
        let _ = writeln!(
            out,
            "{subject}: the cached policy applies until it expires, because {problem}."
        );
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
            checked_at: Timestamp::from_unix_seconds_saturating(100),
        };
        DaneSummary::new(&facts, Timestamp::from_unix_seconds_saturating(112))
    }

    #[test]
    fn the_dane_line_says_why_and_names_the_hosts() {
        assert_eq!(
            dane_line(&summary(true, &["mx1.example.com", "mx2.example.com"], &[])),
            "applies: validated TLSA at mx1.example.com, mx2.example.com; Postfix does DANE, \
             the MTA-STS policy is not applied (RFC 8461 §2); checked at \
             1970-01-01T00:01:40Z (12 s ago)"
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
