//! The command line: every subcommand and flag, documented once here (clap builds `--help` from it).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) toolkit.
///
/// Exit status: 0 valid (or matches), 1 invalid (or does not match), 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "mta-sts", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Print one JSON object instead of the human report.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint a policy file, a TXT record or a TLS-RPT report against its RFC.
    #[command(subcommand)]
    Lint(LintTarget),

    /// Does an MX host match an `mx` pattern (RFC 8461 §4.1)? Exit 0 yes, 1 no.
    Match {
        /// The policy's `mx` pattern, e.g. `*.example.com` or `mail.example.com`.
        pattern: String,
        /// The MX host name (Unicode names are converted to A-labels).
        host: String,
    },
}

/// What `mta-sts lint` reads.
#[derive(Debug, Subcommand)]
pub enum LintTarget {
    /// An MTA-STS policy file (RFC 8461 §3.2), as served at /.well-known/mta-sts.txt.
    Policy {
        /// The policy file, or `-` for standard input.
        file: PathBuf,
    },
    /// One `_mta-sts` TXT record value (RFC 8461 §3.1), e.g. 'v=STSv1; id=20260101T000000'.
    StsRecord {
        /// The record's text (several strings of one record joined, without spaces).
        text: String,
    },
    /// One `_smtp._tls` TXT record value (RFC 8460 §3), e.g. 'v=TLSRPTv1; rua=mailto:tls@example.com'.
    TlsrptRecord {
        /// The record's text.
        text: String,
    },
    /// A TLS-RPT aggregate report (RFC 8460 §4), JSON or gzip (detected by content).
    Report {
        /// The report file, or `-` for standard input.
        file: PathBuf,
    },
}
