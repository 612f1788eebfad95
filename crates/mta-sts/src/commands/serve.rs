//! `mta-sts serve`: the domain owner's server, taking TLS-RPT reports by HTTPS POST into the
//! report store.

use mta_sts_serve::config::HostConfig;
use mta_sts_serve::{ServeConfig, ServeError, Server};

use super::lifecycle::Lifecycle;
use super::server_limits::fit_connections;
use super::{CommandError, runtime, runtime_with_threads};
use crate::cli::{ServeAction, ServeArgs};
use crate::exit::Status;
use crate::logging;

/// Descriptors kept free beside the connections: the store's connection pool (or SQLite's
/// files), the standard streams, the certificate files being read again.
const RESERVED_FILES: usize = 64;

/// Serves until SIGTERM or SIGINT (the POSTs in progress are finished first); SIGHUP reads the
/// certificate files and the configuration file (with the flags over it) again. Nothing
/// listens before every setting has been checked.
pub fn run(args: &ServeArgs) -> Result<Status, CommandError> {
    if let Some(ServeAction::HashPassword) = args.action {
        return hash_password();
    }
    logging::init(args.log_format)?;
    let mut config = settings(args).map_err(|e| CommandError::Setup(e.to_string()))?;
    // Each listener holds up to max_connections; the store's connections and the standard
    // streams need descriptors too.
    let listeners = usize::from(config.https.is_some()) + usize::from(config.listen.is_some());
    let (cap, limit_notes) = fit_connections(
        config.max_connections.saturating_mul(listeners),
        RESERVED_FILES,
        "max_connections",
    );
    let wanted = config.max_connections;
    config.max_connections = (cap / listeners.max(1)).max(1);
    let fitted = config.max_connections;
    let reload_args = args.clone();
    // A reload compares with the running settings: the cap as fitted, not as written.
    let reload = move || {
        let mut fresh = settings(&reload_args)?;
        if fresh.max_connections == wanted {
            fresh.max_connections = fitted;
        }
        Ok(fresh)
    };
    let runtime = match args.threads {
        Some(threads) => runtime_with_threads(usize::from(threads))?,
        None => runtime()?,
    };
    runtime.block_on(async move {
        let server = Server::start(config)
            .await
            .map_err(|e| CommandError::Setup(e.to_string()))?;
        let reloader = server.reloader();
        let lifecycle = Lifecycle::start(move || reloader.reload(reload()))?;
        for note in &limit_notes {
            note.log();
        }
        lifecycle.ready();
        server.serve(lifecycle.stopping()).await;
        tracing::info!(kind = %"stopped", "stopped");
        Ok(Status::Valid)
    })
}

/// The configuration file (or the defaults), the flags over it, checked.
fn settings(args: &ServeArgs) -> Result<ServeConfig, ServeError> {
    let mut config = match &args.config {
        Some(path) => ServeConfig::load(path)?,
        None => ServeConfig::default(),
    };
    if !args.domains.is_empty() {
        config.domains.clone_from(&args.domains);
    }
    if let Some(listen) = args.listen {
        config.listen = Some(listen);
    }
    if let Some(https) = args.https {
        config.https = Some(https);
    }
    if !args.hosts.is_empty() {
        config.hosts = args
            .hosts
            .iter()
            .map(|host| match host.split_once('=') {
                Some((domain, file)) => HostConfig::from_file(domain, file.as_ref()),
                None => HostConfig::auto(host),
            })
            .collect();
    }
    if let Some(certs) = &args.certs {
        config.hosting.certs = Some(certs.clone());
    }
    if let Some(cert) = &args.cert {
        config.cert = Some(cert.clone());
    }
    if let Some(key) = &args.key {
        config.key = Some(key.clone());
    }
    if let Some(store) = &args.store {
        config.store.clone_from(store);
    }
    if let Some(path) = &args.intake_path {
        config.intake_path.clone_from(path);
    }
    if let Some(max_body) = args.max_body {
        config.max_body = max_body;
    }
    if let Some(rate) = args.reports_per_minute {
        config.reports_per_minute = rate;
    }
    if let Some(days) = args.keep_days {
        config.keep_days = days;
    }
    config.validate()?;
    Ok(config)
}

/// `mta-sts serve hash-password`: reads a password and prints its argon2 PHC string.
fn hash_password() -> Result<Status, CommandError> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let stdin = std::io::stdin();
    let read_line = || -> Result<String, CommandError> {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|source| CommandError::Read {
                path: "-".into(),
                source,
            })?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    let password = if stdin.is_terminal() {
        // The echo is turned off with stty rather than a terminal crate: this is the one
        // prompt of the program, and stty is on every system with a terminal.
        let echo = |on: bool| {
            let _ = std::process::Command::new("stty")
                .arg(if on { "echo" } else { "-echo" })
                .stdin(std::process::Stdio::inherit())
                .status();
        };
        eprint!("Password for the dashboard (not shown): ");
        echo(false);
        let first = read_line();
        eprint!("\nThe same again: ");
        let second = read_line();
        echo(true);
        eprintln!();
        let (first, second) = (first?, second?);
        if first != second {
            return Err(CommandError::Argument(
                "the two passwords differ; nothing was printed, run it again".into(),
            ));
        }
        first
    } else {
        read_line()?
    };
    if password.is_empty() {
        return Err(CommandError::Argument(
            "the password is empty; give it on standard input (its first line) or at the prompt"
                .into(),
        ));
    }
    let hash =
        mta_sts_serve::hash_password(&password).map_err(|e| CommandError::Setup(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{hash}").map_err(CommandError::Write)?;
    Ok(Status::Valid)
}
