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

    /// Audit domains: TXT records, the HTTPS policy, MX alignment, each MX's STARTTLS and
    /// certificate, TLS-RPT. Exit 0 no errors, 1 errors found, 2 the check could not run.
    Check(CheckArgs),

    /// Serve the web checker: a page (`/?domain=`) and a JSON API (`/api/v1/check?domain=`).
    Web(WebArgs),

    /// Run the sender-side policy daemon Postfix asks over socketmap
    /// (`smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix`).
    Daemon(DaemonArgs),

    /// Print the reply the daemon would give Postfix for a domain, and why.
    /// Exit 0 when a policy applies (`OK`), 1 for `NOTFOUND`.
    Query {
        /// The next-hop domain (or a Postfix key such as `[mx.example.com]:25`).
        domain: String,
        /// The socketmap name, which selects a zone of the configuration.
        #[arg(long, default_value = "postfix")]
        zone: String,
        /// Settings shared with `mta-sts daemon`.
        #[command(flatten)]
        daemon: DaemonArgs,
    },

    /// Boot the built-in lab (a simulated internet on loopback) and check every scenario in it.
    /// Exit 0 when every scenario behaved as declared.
    Demo {
        /// Keep the lab running after the table, and print how to point other commands at it.
        #[arg(long)]
        keep: bool,
        /// Serve the lab on the real ports (DNS 53, HTTPS 443, HTTP 80, SMTP 25) instead of ports
        /// the OS picks, for tools that cannot be told a port. Needs privileges: run it in a
        /// private network namespace (`unshare -rn` or `unshare -mn` as root).
        #[arg(long)]
        standard_ports: bool,
        /// After the table, serve the web checker on the lab (private addresses allowed, the lab's
        /// resolver only) and print the URL to open; runs until Ctrl-C.
        #[arg(long)]
        web: bool,
    },

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

/// `mta-sts check`'s arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The domains to check (Unicode names are checked as A-labels).
    #[arg(required = true)]
    pub domains: Vec<String>,
    /// The DNS resolver to ask, `IP[:PORT]` (default: the system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trusted root certificates (PEM), added to the Web PKI roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Time limit in seconds for the policy fetch and for each SMTP step.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Do not connect to MX hosts on port 25 (many networks block it).
    #[arg(long)]
    pub no_smtp: bool,
    /// The port policy hosts serve HTTPS on (a lab's; senders always use 443).
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    pub https_port: u16,
    /// The port MX hosts accept SMTP on (a lab's; senders always use 25).
    #[arg(long, value_name = "PORT", default_value_t = 25)]
    pub smtp_port: u16,
}

/// `mta-sts web`'s arguments.
#[derive(Debug, clap::Args)]
pub struct WebArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The DNS resolver the checks use, `IP[:PORT]` (default: the system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trusted root certificates (PEM), added to the Web PKI roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Allow checks to connect to loopback, private and other non-public addresses (a lab or an
    /// intranet). Without it, a public checker cannot be used to probe the network it runs in.
    #[arg(long)]
    pub allow_private: bool,
    /// Checks per minute allowed to one client address (cached results are free).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub rate: u32,
    /// Checks running at once, at most; more get 429 Busy.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_concurrent: usize,
    /// Time limit in seconds for the policy fetch and for each SMTP step.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Time limit in seconds for a whole check.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub check_timeout: f64,
    /// How long a result is reused for the same domain, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub cache_ttl: u64,
    /// A reverse proxy in front of this server (repeatable): its `X-Forwarded-For` names the
    /// client for the rate limit. Without it, every client behind a proxy shares one limit.
    #[arg(long, value_name = "IP")]
    pub trust_proxy: Vec<std::net::IpAddr>,
}

/// `mta-sts daemon`'s settings; flags override the configuration file.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The TOML configuration (every option documented in the README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// postfix-mta-sts-resolver's YAML configuration (`/etc/mta-sts-daemon.yml`), read as it
    /// is; keys it accepts but this daemon ignores are noted on standard error.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub compat_config: Option<PathBuf>,
    /// Where to listen: `IP:PORT` or `unix:PATH`.
    #[arg(long, value_name = "ADDR|unix:PATH")]
    pub listen: Option<String>,
    /// The DNS resolver, `IP[:PORT]` (default: the system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trusted root certificates (PEM) for policy hosts.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// The policy cache: `memory`, `sqlite:PATH` (survives restarts) or `redis://HOST:PORT/DB`
    /// (shared by a fleet of daemons).
    #[arg(long, value_name = "memory|sqlite:PATH|redis://...")]
    pub cache: Option<String>,
    /// The port policy hosts serve HTTPS on (a lab's; senders always use 443).
    #[arg(long, value_name = "PORT")]
    pub https_port: Option<u16>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The Postfix version replies are for (`3.10.5`, `3.7.11`), or `auto`: ask
    /// `postconf -dh mail_version` at start. Postfix 3.10.5 and later get the TLSRPT attributes,
    /// with which they enforce the policy's MX patterns.
    #[arg(long, value_name = "VERSION|auto")]
    pub postfix_version: Option<String>,
}
