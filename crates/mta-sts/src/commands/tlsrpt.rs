//! `mta-sts tlsrpt`: TLS-RPT as a sender (RFC 8460), one file per subcommand.

mod collect;
mod report;

use super::CommandError;
use crate::cli::TlsrptCommand;
use crate::exit::Status;

/// Runs one `tlsrpt` subcommand.
pub fn run(command: TlsrptCommand) -> Result<Status, CommandError> {
    match command {
        TlsrptCommand::Collect(args) => collect::run(&args),
        TlsrptCommand::Report(args) => report::run(&args),
    }
}
