//! `mta-sts`: one binary for the whole life of MTA-STS (RFC 8461) and TLS-RPT (RFC 8460).
//!
//! This file only wires the command line to the commands; the work is done by the library crates.

mod cli;
mod commands;
mod exit;
mod logging;
mod render;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            if logging::active() {
                // A server's last word goes to its log, in the format a machine reads.
                tracing::error!(kind = %"fatal", "{error}");
            } else {
                eprintln!("mta-sts: {error}");
            }
            exit::Status::Trouble.into()
        }
    }
}
