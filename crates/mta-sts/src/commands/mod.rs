//! One module per command; each returns the exit status its result means.

mod check;
mod daemon;
mod demo;
mod lifecycle;
mod lint;
mod match_host;
mod monitor;
mod publish;
mod reports;
mod rollout;
mod scan;
mod serve;
mod server_limits;
mod tlsrpt;
mod web;

use std::fmt;
use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::exit::Status;

/// Why a command could not run (exit status 2).
#[derive(Debug)]
pub enum CommandError {
    /// The input file (or standard input) could not be read.
    Read {
        /// The path as given (`-` for standard input).
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// An argument is not what the command takes (a malformed pattern or host name).
    Argument(String),
    /// Writing the result failed (a closed pipe, a full disk).
    Write(std::io::Error),
    /// The network layer or the lab could not start (a bad setting, no free port).
    Setup(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", display_path(path))
            }
            CommandError::Argument(message) => f.write_str(message),
            CommandError::Write(source) => write!(f, "cannot write the result: {source}"),
            CommandError::Setup(message) => f.write_str(message),
        }
    }
}

/// How a path is named in messages: `-` is standard input.
pub fn display_path(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<Status, CommandError> {
    match cli.command {
        Command::Lint(args) => lint::run(args.target, args.json),
        Command::Match {
            pattern,
            host,
            json,
        } => match_host::run(&pattern, &host, json),
        Command::Check(args) => check::run(&args, args.json),
        Command::Scan(args) => scan::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Web(args) => web::run(&args),
        Command::Daemon(args) => daemon::run(&args),
        Command::Query(args) => daemon::query(&args),
        Command::Reports(args) => reports::run(args.command),
        Command::Rollout(args) => rollout::run(&args),
        Command::Publish(args) => publish::run(&args),
        Command::Monitor(args) => monitor::run(args.command),
        Command::Serve(args) => serve::run(&args),
        Command::Tlsrpt(args) => tlsrpt::run(args.command),
    }
}

/// Prints the result to standard output.
fn emit(text: &str) -> Result<(), CommandError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CommandError::Write)
}

/// Serializes a result as pretty JSON with a final newline.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CommandError> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| CommandError::Write(std::io::Error::other(e)))
}

/// A runtime for the commands that talk to the network.
fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    runtime_builder(tokio::runtime::Builder::new_multi_thread())
}

/// A runtime with `threads` workers (the daemon's `threads` setting).
fn runtime_with_threads(threads: usize) -> Result<tokio::runtime::Runtime, CommandError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(threads);
    runtime_builder(builder)
}

fn runtime_builder(
    mut builder: tokio::runtime::Builder,
) -> Result<tokio::runtime::Runtime, CommandError> {
    builder
        .enable_all()
        .build()
        .map_err(|e| CommandError::Setup(format!("cannot start the async runtime: {e}")))
}

/// The trust roots from `--ca-file`, or the Web PKI's alone.
fn trust(ca_file: Option<&std::path::Path>) -> Result<mta_sts_net::Trust, CommandError> {
    match ca_file {
        Some(path) => mta_sts_net::Trust::web_pki_and_pem_file(path)
            .map_err(|e| CommandError::Setup(e.to_string())),
        None => Ok(mta_sts_net::Trust::web_pki()),
    }
}

/// The checker settings of `rollout` and `monitor once`: each flag over the configuration's
/// `[check]`, dialling whatever the owner's DNS names (the owner checks their own domains).
fn owner_check_settings(
    args: &crate::cli::OwnerCheckArgs,
    check: &mta_sts_serve::config::CheckConfig,
    probe_smtp: bool,
) -> Result<mta_sts_check::NetSettings, CommandError> {
    let ca_file = args.ca_file.as_deref().or(check.ca_file.as_deref());
    Ok(mta_sts_check::NetSettings {
        resolver: resolver(args.resolver.as_deref())?.or(check.resolver),
        trust: trust(ca_file)?,
        https_port: args.https_port.unwrap_or(check.https_port),
        smtp_port: args.smtp_port.unwrap_or(check.smtp_port),
        timeout: args.timeout.unwrap_or(check.timeout),
        guard: mta_sts_net::AddressGuard::AllowAll,
        probe_smtp,
    })
}

/// The resolver from `--resolver`, if given.
fn resolver(text: Option<&str>) -> Result<Option<std::net::SocketAddr>, CommandError> {
    text.map(mta_sts_net::dns::parse_upstream)
        .transpose()
        .map_err(|e| CommandError::Argument(e.to_string()))
}
