//! The log of the long-running commands (`daemon`, `web`, `demo --keep`/`--web`): `tracing`
//! events on standard error, one per line, as text or as JSON objects (`--log-format`).
//!
//! Every event is a sentence (the domain, what happened, what follows) with structured fields
//! beside it: `kind` always, `domain` when there is one. Times are RFC 3339 in UTC. `RUST_LOG`
//! filters as usual; by default this program's own crates log from `info` and the libraries it
//! uses (hickory's DNS server in the lab logs every query at `info`) only from `warn`.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;
use crate::commands::CommandError;

/// The filter without `RUST_LOG`: our crates (`mta_sts`, `mta_sts_policyd`, ...: a target
/// matches by prefix) from `info`, everything else from `warn`.
const DEFAULT_FILTER: &str = "warn,mta_sts=info";

/// Sends this process's `tracing` events to standard error in `format`. A log that cannot be
/// written (a closed pipe) is dropped silently: the server must not stop because of it.
pub fn init(format: LogFormat) -> Result<(), CommandError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| CommandError::Argument(format!("RUST_LOG is not a log filter: {e}")))?,
        _ => EnvFilter::try_new(DEFAULT_FILTER)
            .map_err(|e| CommandError::Setup(format!("the default log filter is wrong: {e}")))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .log_internal_errors(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| CommandError::Setup(format!("cannot start the log: {e}")))
}

/// Whether [`init`] has run: errors then go to the log, in its format, too.
pub fn active() -> bool {
    tracing::dispatcher::has_been_set()
}
