//! `mta-sts`: one binary for the whole life of MTA-STS (RFC 8461) and TLS-RPT (RFC 8460).
//!
//! This file only wires the command line to the commands; the work is done by the library crates.

mod cli;
mod commands;
mod exit;
mod logging;
mod render;

use clap::Parser;

/// mimalloc rather than the C library's allocator: report intake allocates and frees many
/// small, short-lived values per report (MIME parts, JSON values, rows), and glibc's malloc spent
/// about a sixth of a bulk import in allocation, consolidation and returning memory to the
/// kernel only to fault it back in.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
