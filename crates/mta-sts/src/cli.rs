//! The command line: every subcommand and flag, documented once here (clap builds `--help` from it).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) toolkit.
///
/// Exit status: 0 valid (or matches), 1 invalid (or does not match), 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "mta-sts", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint a policy file, a TXT record or a TLS-RPT report against its RFC.
    Lint(LintArgs),

    /// Audit domains: TXT records, the HTTPS policy, MX alignment, each MX's STARTTLS and
    /// certificate, TLS-RPT. Exit 0 no errors, 1 errors found, 2 the check could not run, 3 it
    /// could not be completed.
    Check(CheckArgs),

    /// Check every domain of a list as `check` does, many at once, one JSON line per domain as
    /// each finishes; resumable. Exit 0 done, 2 the scan could not run.
    Scan(ScanArgs),

    /// Serve the web checker: a page (`/?domain=`) and a JSON API (`/api/v1/check?domain=`).
    Web(WebArgs),

    /// Run the sender-side policy daemon Postfix asks over socketmap
    /// (`smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix`).
    Daemon(DaemonArgs),

    /// The domain owner's server: take TLS-RPT reports POSTed by reporters (publish
    /// `v=TLSRPTv1; rua=https://HOST/tlsrpt`) for your domains into the report store.
    Serve(ServeArgs),

    /// Print the reply the daemon would give Postfix for a domain, and why.
    /// Exit 0 when a policy applies (`OK`), 1 for `NOTFOUND`, 2 for a key that is not a domain
    /// name or a setting that does not work.
    Query(QueryArgs),

    /// Boot the built-in lab (a simulated internet on loopback) and check every scenario in it.
    /// Exit 0 when every scenario behaved as declared.
    Demo(DemoArgs),

    /// Take in TLS-RPT reports (RFC 8460) from files, mail and pipes; list and summarise them.
    Reports(ReportsArgs),

    /// Where a domain's MTA-STS rollout stands (none, testing, enforce, retiring), whether it is
    /// ready for the next stage, and exactly what to publish next: from the live check and the
    /// stored TLS-RPT reports. Exit 0 ready, 1 not ready, 2 could not run.
    Rollout(RolloutArgs),

    /// Generate what to publish for a domain from its live MX records: the policy file, the
    /// `_mta-sts` record with an id derived from the policy's content, the `_smtp._tls` record,
    /// as a zone-file snippet (or JSON, or files with --out); or, with --plan-mx-change, the safe
    /// order of steps for moving to new MX hosts. Exit 0 done, 2 refused (a sentence says why)
    /// or could not run.
    Publish(PublishArgs),

    /// Watch your domains for silent breakage: check them, compare with the history kept in
    /// the report store, and print the events raised and cleared (for cron; `mta-sts serve`
    /// runs the same monitor on a schedule).
    Monitor(MonitorArgs),

    /// Report as a sender (RFC 8460), a drop-in for tlsrpt-reporter: collect the TLS results
    /// Postfix sends through libtlsrpt, build the daily reports, deliver them.
    Tlsrpt(TlsrptArgs),

    /// Does an MX host match an `mx` pattern (RFC 8461 §4.1)? Exit 0 yes, 1 no.
    Match {
        /// The policy's `mx` pattern, e.g. `*.example.com` or `mail.example.com`.
        pattern: String,
        /// The MX host name (Unicode names are converted to A-labels).
        host: String,
        /// Print one JSON object instead of the sentence.
        #[arg(long)]
        json: bool,
    },
}

/// `mta-sts lint`'s arguments.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Print one JSON object instead of the human report.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to lint.
    #[command(subcommand)]
    pub target: LintTarget,
}

/// `mta-sts reports`' arguments.
#[derive(Debug, clap::Args)]
pub struct ReportsArgs {
    /// What to do with reports.
    #[command(subcommand)]
    pub command: ReportsCommand,
}

/// The `mta-sts reports` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Store reports from files, mail, mboxes, Maildirs or standard input (an MTA pipe).
    ///
    /// An input is a `.json`, `.json.gz` or `.zip` report, an `.eml` mail, an mbox, a Maildir
    /// directory, or `-` (standard input); what each is, is decided by its content. Exit status (sysexits): 0 every report taken (or already stored), 65 an input
    /// is not a report, is invalid, or is about a domain not yours (--domain, --config), 66 an
    /// input cannot be read, 75 the store or the configuration cannot take reports now (the MTA
    /// keeps the mail and retries; nothing is lost).
    Import(ReportsImportArgs),
    /// List stored reports, oldest first.
    List(ReportsListArgs),
    /// Sum up one domain's reports over the last days.
    ///
    /// Per UTC day and in total, successful and failed sessions by policy type (never added
    /// across types); failures by result type, reporting organisation, receiving MX and sending
    /// IP.
    Summary(ReportsSummaryArgs),
    /// Store the reports in an IMAP mailbox, moving each message out of it once handled:
    /// to the processed folder when its reports are stored (or already were), to the
    /// not-a-report folder otherwise. Nothing is deleted. The password comes from
    /// --password-file or the environment variable MTA_STS_IMAP_PASSWORD, never the command
    /// line. Exit status: 0 every message taken, 65 a message held no usable report (moved to
    /// the not-a-report folder) or was over the size cap (left in place), 75 the store or the
    /// server cannot be reached now (messages not taken stay in the mailbox for the next run),
    /// 2 a setting is wrong (a refused login, an untrusted certificate).
    Fetch(ReportsFetchArgs),
}

/// `mta-sts reports fetch`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReportsFetchArgs {
    /// The mailbox: `imaps://USER@HOST[:PORT]/MAILBOX` (TLS), or `imap://...` (STARTTLS,
    /// required). A URL holding a password is refused.
    #[arg(long, value_name = "URL")]
    pub imap: String,
    /// A file holding the password (one line; not readable or writable by others). Without it,
    /// the environment variable MTA_STS_IMAP_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Where messages whose reports are stored go (created if missing).
    #[arg(long, value_name = "NAME", default_value = mta_sts_reports::imap::DEFAULT_PROCESSED_FOLDER)]
    pub processed_folder: String,
    /// Where messages without a usable report go (created if missing).
    #[arg(long, value_name = "NAME", default_value = mta_sts_reports::imap::DEFAULT_NOT_A_REPORT_FOLDER)]
    pub not_a_report_folder: String,
    /// A policy domain whose reports are kept (repeatable; replaces the configuration's
    /// `domains`); reports about other domains are refused. Without either, every domain is kept.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Also trust the certificates in this PEM file (a private CA), besides the Web PKI roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Keep the connection and take mail as it arrives (IMAP IDLE), reconnecting after a drop,
    /// until SIGTERM or SIGINT.
    #[arg(long)]
    pub watch: bool,
    /// Messages larger than this many bytes are left in the mailbox and reported.
    #[arg(long, value_name = "BYTES", default_value_t = mta_sts_reports::imap::DEFAULT_MAX_MESSAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_message_size: u32,
    /// How long one connection attempt or IMAP command may take.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = time_limit)]
    pub timeout: Duration,
    /// Print one JSON object per line, one per report (or per message holding none), instead of
    /// sentences.
    #[arg(long)]
    pub json: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The report store and the configuration, shared by the `reports` subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The TOML configuration `mta-sts serve` reads: its `store` and `domains` are used (the
    /// flags override them; its other settings are the server's).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where reports are kept: `sqlite:PATH` (the directory is made if missing) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` (default: the configuration's `store`, else
    /// sqlite:/var/lib/mta-sts/mta-sts.db).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

/// `mta-sts reports import`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReportsImportArgs {
    /// The inputs: files, Maildir directories, or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A policy domain whose reports are kept (repeatable; replaces the configuration's
    /// `domains`); reports about other domains are refused. Without either, every domain is kept.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Print one JSON object per line, one per report (or per input holding none), instead of
    /// sentences.
    #[arg(long)]
    pub json: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mta-sts reports list`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReportsListArgs {
    /// Only reports about this policy domain (and of them only its policy entries).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Only reports whose period starts on or after this date (`YYYY-MM-DD`, or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// At most this many reports (the first in order).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Print one JSON object (`{"reports": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mta-sts reports summary`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReportsSummaryArgs {
    /// The policy domain (may be left out when the configuration names exactly one).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// How many UTC days, ending today.
    #[arg(long, value_name = "N", default_value = "30", value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mta-sts rollout`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// The domain (Unicode names are checked as A-labels).
    pub domain: String,
    /// How the domain is checked: flags over the configuration's `[check]`.
    #[command(flatten)]
    pub check: OwnerCheckArgs,
    /// The window the reports are judged over: the last N UTC days, today included (1 to 366;
    /// default: the configuration's `[rollout]`, else 14).
    #[arg(long, value_name = "N")]
    pub window_days: Option<u32>,
    /// Distinct days with reports needed in the window (default: `[rollout]`, else 7).
    #[arg(long, value_name = "N")]
    pub min_report_days: Option<u32>,
    /// Reporting organisations needed in the window (default: `[rollout]`, else 2).
    #[arg(long, value_name = "N")]
    pub min_reporters: Option<u32>,
    /// The highest share of failed sts sessions allowed in the window, in percent (0.5 is one
    /// session in 200; default: `[rollout]`, else 0: none may fail).
    #[arg(long, value_name = "PERCENT", value_parser = percent)]
    pub max_failure_rate: Option<f64>,
    /// Every MX certificate must stay valid for more than this many days (default:
    /// `[rollout]`, else 14).
    #[arg(long, value_name = "DAYS")]
    pub min_certificate_days: Option<u32>,
    /// Print one JSON object (`{"domain", "stage", "ready", "reasons", "next"}`) instead of
    /// sentences.
    #[arg(long)]
    pub json: bool,
    /// The store and the configuration (`mta-sts serve`'s: its `store`, `[check]` and
    /// `[rollout]`, the flags over them).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// How `rollout` and `monitor once` check the owner's domains: each flag over the
/// configuration's `[check]` table, as `mta-sts serve` checks them.
#[derive(Debug, clap::Args)]
pub struct OwnerCheckArgs {
    /// The DNS resolver to ask, `IP[:PORT]` (default: the configuration's `[check]`, else the
    /// system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trusted root certificates (PEM), added to the Web PKI roots (default: the
    /// configuration's `[check]`).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Time limit in seconds for the policy fetch and for each SMTP step (above 0, at most 600;
    /// default: the configuration's `[check]`, else 10).
    #[arg(long, value_name = "SECS", value_parser = time_limit)]
    pub timeout: Option<Duration>,
    /// The port policy hosts serve HTTPS on (a lab's; senders always use 443).
    #[arg(long, value_name = "PORT", value_parser = port)]
    pub https_port: Option<u16>,
    /// The port MX hosts accept SMTP on (a lab's; senders always use 25).
    #[arg(long, value_name = "PORT", value_parser = port)]
    pub smtp_port: Option<u16>,
}

/// `mta-sts tlsrpt`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TlsrptArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TlsrptCommand,
}

/// The `mta-sts tlsrpt` subcommands.
#[derive(Debug, Subcommand)]
pub enum TlsrptCommand {
    /// Receive the datagrams Postfix (3.10+, `smtp_tlsrpt_enable = yes`) sends through libtlsrpt
    /// on a unix socket, in place of tlsrpt-collectd, and count them per day, recipient domain,
    /// TLSRPT record and policy in the store. Runs until SIGTERM or SIGINT, then stores what it
    /// counted and removes the socket. Exit 0 stopped cleanly, 2 could not start or the socket
    /// failed.
    Collect(TlsrptCollectArgs),
    /// Build one day's RFC 8460 reports from the store's counts and write them as files
    /// instead of sending them (today's too, partial); print what was written and what was
    /// skipped, and why. Exit 0 ran, 2 could not run (a bad argument, an unreadable store or
    /// suppression list, a directory that cannot be written).
    Report(TlsrptReportArgs),
    /// The reporter, in place of tlsrpt-reportd: after each UTC midnight (plus a random delay
    /// within the spread), builds the day's reports from the store, puts them in the outbox and
    /// delivers them by mail or HTTPS, retrying failures with backoff until given up. Runs until
    /// SIGTERM or SIGINT. Exit 0 stopped cleanly, 2 could not start.
    Run(TlsrptRunArgs),
    /// Build, enqueue and deliver one day's reports now (from cron, or to resend after fixing a
    /// setting); a report already in the outbox is not sent again. Exit 0 every delivery
    /// attempted now succeeded (or there was none), 1 some failed (retried later by `run`, or
    /// given up), 2 could not run.
    Send(TlsrptSendArgs),
    /// What was collected today and yesterday (or on --day), and what became of each report:
    /// sent, pending with its next try, given up with its reason. Exit 0, or 2 could not read
    /// the store.
    Status(TlsrptStatusArgs),
}

/// Where `mta-sts tlsrpt` reads its settings: our TOML file, tlsrpt-reporter's INI file, or
/// both (ours over theirs); the flags override either. And the store every subcommand uses.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsrptConfigArgs {
    /// Our configuration file (TOML; every key optional).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// tlsrpt-reporter's configuration file, read as tlsrpt-reporter reads it, with its
    /// TLSRPT_COLLECTD_*/TLSRPT_FETCHER_*/TLSRPT_REPORTD_* environment overrides:
    /// /etc/tlsrpt/collectd.cfg for `collect`, /etc/tlsrpt/reportd.cfg for the others.
    #[arg(long, value_name = "FILE")]
    pub tlsrpt_reporter_config: Option<std::path::PathBuf>,
    /// The sender store, where counts and the outbox are kept: `sqlite:PATH` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`, shared by a fleet of MTAs (default: the
    /// configuration's `store`, else sqlite:/var/lib/mta-sts/tlsrpt-sender.db).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

/// `mta-sts tlsrpt run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TlsrptRunArgs {
    /// The settings files.
    #[command(flatten)]
    pub config: TlsrptConfigArgs,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// How the log on standard error is written.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `mta-sts tlsrpt send`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TlsrptSendArgs {
    /// The settings files.
    #[command(flatten)]
    pub config: TlsrptConfigArgs,
    /// The UTC day: YYYY-MM-DD, `yesterday` or `today` (partial: it is still being collected).
    #[arg(long, value_name = "DAY")]
    pub day: String,
    /// Build the reports and say where each would go; store nothing, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object instead of sentences.
    #[arg(long)]
    pub json: bool,
}

/// `mta-sts tlsrpt status`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TlsrptStatusArgs {
    /// The settings files (for the store).
    #[command(flatten)]
    pub config: TlsrptConfigArgs,
    /// The UTC days to show (YYYY-MM-DD, `today`, `yesterday`; repeatable); today and yesterday
    /// by default.
    #[arg(long, value_name = "DAY")]
    pub day: Vec<String>,
    /// Print one JSON object instead of sentences.
    #[arg(long)]
    pub json: bool,
}

/// `mta-sts tlsrpt collect`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TlsrptCollectArgs {
    /// The settings files (the flags below override them).
    #[command(flatten)]
    pub config: TlsrptConfigArgs,
    /// The unix datagram socket to receive on: Postfix's `smtp_tlsrpt_socket_name`
    /// (tlsrpt-collectd's `socketname`); default /run/tlsrpt/collectd.sock.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<std::path::PathBuf>,
    /// The socket file's mode in octal, e.g. 0220 (tlsrpt-collectd's `socketmode`); the umask
    /// decides without it.
    #[arg(long, value_name = "OCTAL", value_parser = octal_mode)]
    pub socket_mode: Option<u32>,
    /// The socket file's owner, a user name or number (tlsrpt-collectd's `socketuser`).
    #[arg(long, value_name = "USER")]
    pub socket_user: Option<String>,
    /// The socket file's group, a group name or number (tlsrpt-collectd's `socketgroup`).
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Seconds between two additions of the counts to the store (and before a failed one is
    /// tried again); default 5.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub flush_interval: Option<u64>,
    /// The most distinct counts held in memory while the store is slow; datagrams needing more
    /// are lost, counted and logged; default 1,000,000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_keys: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics: datagrams received, malformed, lost,
    /// noted; flushes and failed flushes; counts held in memory.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// How the log on standard error is written.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A file mode written in octal (`0220`, `220`, `0o220`), at most 0777.
fn octal_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{text} is not a file mode in octal from 0000 to 0777, e.g. 0220"
        )),
    }
}

/// `mta-sts tlsrpt report`'s arguments.
#[derive(Debug, clap::Args)]
pub struct TlsrptReportArgs {
    /// The settings files (the flags below override them).
    #[command(flatten)]
    pub config: TlsrptConfigArgs,
    /// The UTC day: `YYYY-MM-DD`, `today` (partial: what was counted so far) or `yesterday`.
    #[arg(long, value_name = "DAY")]
    pub day: String,
    /// The directory the reports are written to (made if missing); files of the same name are
    /// replaced.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write the gzip that is sent (`.json.gz`) rather than the JSON (`.json`).
    #[arg(long)]
    pub gzip: bool,
    /// Print one JSON object instead of sentences: `{"day", "submitter", "reports": [{"file",
    /// "domain", "tlsrpt_record", "report_id", "destinations", "notes"}], "skipped": [{"domain",
    /// "tlsrpt_record", "reason", "message", "notes"}]}`.
    #[arg(long)]
    pub json: bool,
    /// The reports' `organization-name`: who produced them (required here or in the
    /// configuration).
    #[arg(long, value_name = "NAME")]
    pub organization_name: Option<String>,
    /// The reports' `contact-info`: an email address receivers can write to (required here or
    /// in the configuration).
    #[arg(long, value_name = "ADDRESS")]
    pub contact_info: Option<String>,
    /// The submitter domain of the file names (default: the domain of --contact-info).
    #[arg(long, value_name = "DOMAIN")]
    pub submitter: Option<String>,
    /// Report a domain only when some of its sessions failed that day.
    #[arg(long)]
    pub only_with_failures: bool,
    /// A suppression list: one recipient domain (`.example.com` for its subdomains) or
    /// destination (`mailto:` address, `https:` URL) a line, never reported to.
    #[arg(long, value_name = "FILE")]
    pub suppress: Option<PathBuf>,
    /// The largest report JSON in bytes (at least 1024; default and at most 16 MiB); larger
    /// reports are split into several.
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<usize>,
}

/// `mta-sts monitor`'s arguments.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: MonitorCommand,
}

/// The `monitor` subcommands.
#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Check each domain once, keep the check in the store, print the events it raised and
    /// cleared (nothing when nothing changed). Exit 0 ran and no event is open, 1 ran and some
    /// event is open, 2 could not run.
    Once(MonitorOnceArgs),
}

/// `mta-sts monitor once`'s arguments.
#[derive(Debug, clap::Args)]
pub struct MonitorOnceArgs {
    /// A domain to check (repeat for several; default: the configuration's `domains`).
    /// Unicode names are checked as A-labels.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// How the domain is checked: flags over the configuration's `[check]`.
    #[command(flatten)]
    pub check: OwnerCheckArgs,
    /// Do not connect to MX hosts over SMTP (port 25, or --smtp-port; many networks block 25):
    /// their certificates are then not watched.
    #[arg(long)]
    pub no_smtp: bool,
    /// Print one JSON object, `{"events": [{"domain", "code", "subject", "state", "message",
    /// "at"}]}`, instead of one sentence per event.
    #[arg(long)]
    pub json: bool,
    /// The store and the configuration (`mta-sts serve`'s: its `store`, `domains` and
    /// `[check]`, the flags over them).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `mta-sts publish`'s arguments.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The domain (Unicode names are published as A-labels).
    pub domain: String,
    /// The policy mode: `testing` (senders report failures but deliver: the first step),
    /// `enforce` (senders refuse MX hosts that fail), `none` (retire MTA-STS).
    #[arg(long, value_enum, default_value_t = PublishMode::Testing)]
    pub mode: PublishMode,
    /// How long senders may cache the policy, in seconds (at most 31557600, RFC 8461 §3.2).
    #[arg(long, value_name = "SECS", default_value_t = 604_800)]
    pub max_age: u64,
    /// A TLS-RPT reporting address, `mailto:...` or `https://...` (repeatable); without one, the
    /// `_smtp._tls` record is only suggested in a comment.
    #[arg(long, value_name = "URI")]
    pub rua: Vec<String>,
    /// Collapse MX hosts sharing a parent domain into one `*.parent` pattern (known providers'
    /// hosts always are).
    #[arg(long)]
    pub wildcard: bool,
    /// Print one JSON object (`{"policy", "sts_record", "tlsrpt_record", "zone", ...}`, or the
    /// plan's steps) instead of the human text.
    #[arg(long)]
    pub json: bool,
    /// Also write the files to serve: `DIR/.well-known/mta-sts.txt` and `DIR/zone.txt`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The DNS resolver to ask, `IP[:PORT]` (default: the system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trusted root certificates (PEM) for fetching the current policy, added to the Web
    /// PKI roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// The port policy hosts serve HTTPS on (a lab's; senders always use 443).
    #[arg(long, value_name = "PORT", default_value_t = 443, value_parser = port)]
    pub https_port: u16,
    /// Time limit in seconds for the DNS lookups and the policy fetch (above 0, at most 600).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = time_limit)]
    pub timeout: Duration,
    /// Instead of publishing, plan moving the domain's MX records to --new-mx: fetches the
    /// current policy and prints each step with its earliest time (mode and max_age are kept).
    #[arg(long, requires = "new_mx")]
    pub plan_mx_change: bool,
    /// The MX hosts after the change (with --plan-mx-change).
    #[arg(long, value_name = "HOST", num_args = 1.., requires = "plan_mx_change")]
    pub new_mx: Vec<String>,
    /// The TTL of the MX records in seconds (with --plan-mx-change): how long after the switch
    /// the old hosts must stay in the policy.
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    pub mx_ttl: u32,
}

/// The mode of a published policy (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishMode {
    /// Senders report failures (TLS-RPT) but still deliver.
    Testing,
    /// Senders deliver only to MX hosts that pass.
    Enforce,
    /// Senders treat the domain as having no policy.
    None,
}

/// `mta-sts query`'s arguments.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The next-hop domain (or a Postfix key such as `[mx.example.com]:25`).
    pub domain: String,
    /// The socketmap name, which selects a zone of the configuration.
    #[arg(long, default_value = "postfix")]
    pub zone: String,
    /// Print one JSON object (the reply, the policy, where it came from, why) instead of
    /// sentences.
    #[arg(long)]
    pub json: bool,
    /// Store what the lookup learns in the daemon's cache, as the daemon would (creating the
    /// cache file if missing; run it as the daemon's user). Without it the cache is only read.
    #[arg(long)]
    pub update_cache: bool,
    /// Settings shared with `mta-sts daemon`.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `mta-sts demo`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the lab running after the table, and print how to point other commands at it.
    #[arg(long)]
    pub keep: bool,
    /// Serve the lab on the real ports (DNS 53, HTTPS 443, HTTP 80, SMTP 25) instead of ports
    /// the OS picks, for tools that cannot be told a port. Needs privileges: run it in a
    /// private network namespace (`unshare -rn` or `unshare -mn` as root).
    #[arg(long)]
    pub standard_ports: bool,
    /// After the table, serve the web checker on the lab (private addresses allowed, the lab's
    /// resolver only) and print the URL to open; runs until Ctrl-C.
    #[arg(long)]
    pub web: bool,
    /// After the table, run the domain owner's server (`mta-sts serve`) on the lab: a store
    /// filled with generated TLS-RPT reports for three lab domains (one ready to enforce, one
    /// with failures, one with a silent reporter), the dashboard with a demo login, and the
    /// rollout advisor checking the lab; prints the URL and the login; runs until Ctrl-C.
    #[arg(long, conflicts_with = "web")]
    pub serve: bool,
    /// Also serve this many generated domains, `mix-00001.test` to `mix-NNNNN.test` (at most
    /// 99999): 70% healthy, 30% with one defect each (MX not in the policy, wrong-name or expired
    /// certificates, policy 404, no TLS-RPT, testing mode, invalid id, refused or silent MX), a
    /// list for benchmarking `mta-sts scan`. The table shows the catalog only.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=99_999))]
    pub generated: u32,
    /// Print JSON instead of the table: the scenarios, and with `--keep` or `--web` one object
    /// with the scenarios and the lab's addresses.
    #[arg(long)]
    pub json: bool,
}

/// How a long-running command writes its log to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per event: time (RFC 3339), level, sentence, then the fields.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message`, and the fields (`kind`,
    /// `domain`, ...).
    Json,
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
    /// Time limit in seconds for the policy fetch and for each SMTP step (above 0, at most 600).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = time_limit)]
    pub timeout: Duration,
    /// Do not connect to MX hosts over SMTP (port 25, or --smtp-port; many networks block 25).
    #[arg(long)]
    pub no_smtp: bool,
    /// The port policy hosts serve HTTPS on (a lab's; senders always use 443).
    #[arg(long, value_name = "PORT", default_value_t = 443, value_parser = port)]
    pub https_port: u16,
    /// The port MX hosts accept SMTP on (a lab's; senders always use 25).
    #[arg(long, value_name = "PORT", default_value_t = 25, value_parser = port)]
    pub smtp_port: u16,
    /// Print one JSON object (an array for several domains) instead of the human report.
    #[arg(long)]
    pub json: bool,
}

/// `mta-sts scan`'s arguments.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ScanArgs {
    /// A shared scan's progress or results (`scan status`, `scan results`); a list file named
    /// `status` or `results` is given as `./status`.
    #[command(subcommand)]
    pub action: Option<ScanAction>,
    /// The list of domains, one a line (`#` comments and blank lines skipped), or `-` for
    /// standard input.
    #[arg(required_unless_present = "worker")]
    pub file: Option<PathBuf>,
    /// Write each domain's `check --json` report as one line to this file (default: standard
    /// output).
    #[arg(long, value_name = "OUT")]
    pub json_lines: Option<PathBuf>,
    /// Checks running at once, at most (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = scan_concurrency)]
    pub concurrency: usize,
    /// Checks started per second, at most (above 0; default: no limit): each check makes a
    /// handful of DNS queries, so this bounds the query rate a resolver sees.
    #[arg(long, value_name = "N", value_parser = checks_per_second)]
    pub max_rate: Option<f64>,
    /// Continue an interrupted scan: keep the results already in `--json-lines OUT` (a cut last
    /// line is dropped), check only the domains missing there and append them.
    #[arg(long, requires = "json_lines")]
    pub resume: bool,
    /// At the end, write counts over every line of the output (verdicts, outcomes, adoption
    /// and modes, finding codes ranked) as JSON to this file.
    #[arg(long, value_name = "OUT")]
    pub summary_json: Option<PathBuf>,
    /// Also write one CSV row per domain to this file (domain, verdict, outcome, mode, sts_id,
    /// max_age, mx_count, findings, policy_host_issuer, error); with --resume it is rewritten
    /// from the lines kept in --json-lines.
    #[arg(long, value_name = "OUT")]
    pub csv: Option<PathBuf>,
    /// At the end, write the summary as a self-contained HTML page with a chart to this file.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// DNS queries per second over the whole scan, at most (above 0; default: no limit),
    /// shared by all checks running at once.
    #[arg(long, value_name = "N", value_parser = queries_per_second)]
    pub max_dns_rate: Option<f64>,
    /// The DNS resolver to ask, `IP[:PORT]` (default: the system's).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Extra trusted root certificates (PEM), added to the Web PKI roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Time limit in seconds for the policy fetch and for each SMTP step (above 0, at most 600).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = time_limit)]
    pub timeout: Duration,
    /// Time limit in seconds for one domain's whole check (above 0, at most 600); a domain over
    /// it gets an error line instead of a report.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = time_limit)]
    pub check_timeout: Duration,
    /// Do not connect to MX hosts over SMTP (port 25, or --smtp-port; many networks block 25).
    #[arg(long)]
    pub no_smtp: bool,
    /// The port policy hosts serve HTTPS on (a lab's; senders always use 443).
    #[arg(long, value_name = "PORT", default_value_t = 443, value_parser = port)]
    pub https_port: u16,
    /// The port MX hosts accept SMTP on (a lab's; senders always use 25).
    #[arg(long, value_name = "PORT", default_value_t = 25, value_parser = port)]
    pub smtp_port: u16,
    /// Seconds between progress lines on standard error when it is not a terminal (above 0, at
    /// most 600); a terminal shows a progress bar instead.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = time_limit)]
    pub progress_every: Duration,
    /// One scan shared by workers on many machines.
    #[command(flatten)]
    pub shared: ScanQueueArgs,
}

/// `mta-sts scan --queue`: one scan shared by any number of workers through PostgreSQL.
#[derive(Debug, clap::Args)]
pub struct ScanQueueArgs {
    /// Share the scan through this PostgreSQL database (`postgres://USER:PASSWORD@HOST/DB`):
    /// the list is loaded into it (once, however many workers load it) and this process checks
    /// domains leased from it until none is left; the results stay in the database (`scan
    /// results`).
    #[arg(long, value_name = "postgres://...")]
    pub queue: Option<String>,
    /// The shared scan's name: several scans can share one database.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        requires = "queue"
    )]
    pub scan_name: String,
    /// Only work on a scan already loaded into --queue (no list file).
    #[arg(long, requires = "queue", conflicts_with = "file")]
    pub worker: bool,
    /// Domains leased at a time (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = 16, requires = "queue",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
    /// Seconds a lease lasts (above 0, at most 600). A working process extends its leases;
    /// those of a process killed or cut off return to the queue this long after.
    #[arg(long, value_name = "SECS", default_value = "120", requires = "queue",
          value_parser = time_limit)]
    pub lease_seconds: Duration,
    /// The name this process leases under, shown by `scan status` (default HOST:PID).
    #[arg(long, value_name = "NAME", requires = "queue")]
    pub worker_name: Option<String>,
    /// Leases of one domain that may run out (its worker died each time) before the domain is
    /// given up with a `scan-worker-lost` error line (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 3, requires = "queue",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Connections to the database this process keeps open at most (1 to 64): PostgreSQL
    /// allows 100 in all by default, shared by every worker.
    #[arg(long, value_name = "N", default_value_t = 4, requires = "queue",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queue_connections: u16,
}

/// `mta-sts scan`'s subcommands: a shared scan's progress and results.
#[derive(Debug, Subcommand)]
pub enum ScanAction {
    /// A shared scan's progress: domains done, leased (and leases run out), queued, the rate
    /// over the last minute and each worker's share.
    Status(ScanStatusArgs),
    /// A shared scan's results in list order: each domain's `check --json` report as one JSON
    /// line, as `mta-sts scan` writes them.
    // Boxed: its output paths would make every `Command` as large as `scan`'s arguments.
    Results(Box<ScanResultsArgs>),
}

/// `mta-sts scan status`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ScanStatusArgs {
    /// The PostgreSQL database the scan is shared through.
    #[arg(long, value_name = "postgres://...")]
    pub queue: String,
    /// The shared scan's name.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub scan_name: String,
    /// Print the progress as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `mta-sts scan results`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ScanResultsArgs {
    /// The PostgreSQL database the scan is shared through.
    #[arg(long, value_name = "postgres://...")]
    pub queue: String,
    /// The shared scan's name.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub scan_name: String,
    /// Write the JSON lines to this file (default: standard output).
    #[arg(long, value_name = "OUT")]
    pub json_lines: Option<PathBuf>,
    /// Write counts over the results (as `scan --summary-json`) as JSON to this file.
    #[arg(long, value_name = "OUT")]
    pub summary_json: Option<PathBuf>,
    /// Write one CSV row per domain (as `scan --csv`) to this file.
    #[arg(long, value_name = "OUT")]
    pub csv: Option<PathBuf>,
    /// Write the summary as an HTML page with a chart (as `scan --html`) to this file.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
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
    /// Checks per minute allowed to one client address (cached results are free); at least 1.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = checks_per_minute)]
    pub rate: u32,
    /// Checks running at once, at most; more get 429 Busy. From 1 to 10000.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = concurrent_checks)]
    pub max_concurrent: usize,
    /// Time limit in seconds for the policy fetch and for each SMTP step (above 0, at most 600).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = time_limit)]
    pub timeout: Duration,
    /// Time limit in seconds for a whole check (above 0, at most 600).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = time_limit)]
    pub check_timeout: Duration,
    /// How long a result is reused for the same domain, in seconds (0: never reused).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub cache_ttl: u64,
    /// Time limit in seconds for a request's headers to arrive, and for the next request on an
    /// idle connection: a client sending its headers slowly is cut off then (above 0, at most
    /// 600).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = time_limit)]
    pub header_timeout: Duration,
    /// Connections held open at once (at least 1); at the cap, the one idle longest is closed
    /// for each new one. Lowered at start if the open-file limit cannot hold it.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = connection_cap)]
    pub max_connections: usize,
    /// A reverse proxy in front of this server (repeatable): its `X-Forwarded-For` names the
    /// client for the rate limit. Without it, every client behind a proxy shares one limit.
    #[arg(long, value_name = "IP")]
    pub trust_proxy: Vec<std::net::IpAddr>,
    /// How the log on standard error is written.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `mta-sts daemon`'s arguments; flags override the configuration file.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The settings `mta-sts query` shares.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Where to listen: `IP:PORT` or `unix:PATH`.
    #[arg(long, value_name = "ADDR|unix:PATH")]
    pub listen: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// How the log on standard error is written.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `mta-sts serve`'s arguments; flags override the configuration file.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    /// A task beside serving (without one, the server runs).
    #[command(subcommand)]
    pub action: Option<ServeAction>,
    /// The TOML configuration (every option documented in the README); read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Your domain: reports for other domains are refused (repeatable; replaces the file's
    /// `domains`).
    #[arg(long = "domain", value_name = "D")]
    pub domains: Vec<String>,
    /// Serve plain HTTP on this address (behind a proxy that terminates TLS, or for tests).
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve HTTPS on this address, with --cert and --key, or for hosted domains (--host).
    #[arg(long, value_name = "IP:PORT")]
    pub https: Option<std::net::SocketAddr>,
    /// Host this domain's MTA-STS policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt
    /// (repeatable; replaces the file's [[hosts]]): from POLICY_FILE, or without one generated
    /// from the domain's live MX set (auto).
    #[arg(long = "host", value_name = "DOMAIN[=POLICY_FILE]")]
    pub hosts: Vec<String>,
    /// The policy hosts' certificates: DIR/mta-sts.DOMAIN.pem with DIR/mta-sts.DOMAIN.key
    /// beside it, read again on SIGHUP (replaces [hosting] certs).
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
    /// Runtime worker threads (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// The certificate chain for HTTPS (PEM, the server's certificate first); read again on
    /// SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// The private key for HTTPS (PEM); read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The report store: `sqlite:PATH` or `postgres://USER@HOST/DB` (default
    /// sqlite:/var/lib/mta-sts/mta-sts.db).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The path reporters POST to (default /tlsrpt).
    #[arg(long, value_name = "PATH")]
    pub intake_path: Option<String>,
    /// The largest request body taken, in bytes (default 1048576); beyond, 413.
    #[arg(long, value_name = "BYTES")]
    pub max_body: Option<usize>,
    /// Reports one client address may POST a minute (default 60); beyond, 429.
    #[arg(long, value_name = "N")]
    pub reports_per_minute: Option<u32>,
    /// Days a report is kept, from the end of its date range (default 0: forever).
    #[arg(long, value_name = "DAYS")]
    pub keep_days: Option<u32>,
    /// How the log on standard error is written.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `mta-sts serve`'s subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ServeAction {
    /// Print the argon2 hash of a dashboard password, for `password_hash` of a `[[users]]`
    /// table. The password is read from standard input (its first line), or asked for twice
    /// without echo at a terminal; never from the command line, where other users could see it.
    HashPassword,
}

/// The settings that decide the daemon's answers, shared by `mta-sts daemon` and `mta-sts
/// query`; flags override the configuration file.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// The TOML configuration (every option documented in the README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// postfix-mta-sts-resolver's YAML configuration (`/etc/mta-sts-daemon.yml`), read as it
    /// is; keys it accepts but this daemon ignores are noted on standard error.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub compat_config: Option<PathBuf>,
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
    #[arg(long, value_name = "PORT", value_parser = port)]
    pub https_port: Option<u16>,
    /// The Postfix version replies are for (`3.10.5`, `3.7.11`), or `auto`: ask
    /// `postconf -dh mail_version` at start. Postfix 3.10.5 and later get the TLSRPT attributes,
    /// with which they enforce the policy's MX patterns.
    #[arg(long, value_name = "VERSION|auto")]
    pub postfix_version: Option<String>,
}

// The value parsers below refuse a number that means nothing before anything starts or listens;
// clap names the flag and the value, and the message says what is accepted.

/// The longest time limit accepted, in seconds: ten minutes is far beyond any fetch, SMTP step
/// or check worth waiting for.
const MAX_TIME_LIMIT: f64 = 600.0;

/// A time limit in seconds: a number above 0 and at most [`MAX_TIME_LIMIT`].
fn time_limit(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number of seconds (such as 10 or 2.5)".to_string())?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TIME_LIMIT {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!(
            "a time limit must be more than 0 and at most {MAX_TIME_LIMIT} seconds"
        ))
    }
}

/// A TCP port to connect to: 1 to 65535 (port 0 cannot be connected to).
fn port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(0) => Err("port 0 cannot be connected to; give a port from 1 to 65535".into()),
        Ok(port) => Ok(port),
        Err(_) => Err("not a port number (1 to 65535)".into()),
    }
}

/// `--max-failure-rate`: a share in percent, from 0 to 100.
fn percent(text: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches('%').trim().parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value),
        _ => Err("a share in percent from 0 to 100 (such as 0.5)".into()),
    }
}

/// `--rate`: at least one check a minute (0 would refuse every check).
fn checks_per_minute(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("0 checks a minute would refuse every check; give at least 1".into()),
        Ok(rate) => Ok(rate),
        Err(_) => Err(format!("not a whole number of checks (1 to {})", u32::MAX)),
    }
}

/// The most checks `--max-concurrent` allows at once: each opens several connections, and far
/// fewer already exhaust a server's file descriptors.
const MAX_CONCURRENT_CHECKS: usize = 10_000;

/// `--max-concurrent`: 1 to [`MAX_CONCURRENT_CHECKS`] (0 would answer every check 429 Busy).
fn concurrent_checks(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 checks at once would answer every check `busy`; give at least 1".into()),
        Ok(n) if n <= MAX_CONCURRENT_CHECKS => Ok(n),
        _ => Err(format!(
            "not a whole number of checks from 1 to {MAX_CONCURRENT_CHECKS}"
        )),
    }
}

/// `scan --concurrency`: 1 to [`MAX_CONCURRENT_CHECKS`] (0 would check nothing).
fn scan_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONCURRENT_CHECKS).contains(&n) => Ok(n),
        _ => Err(format!(
            "not a whole number of checks at once from 1 to {MAX_CONCURRENT_CHECKS} (0 would \
             check nothing)"
        )),
    }
}

/// `scan --max-rate`: checks per second, above 0 (such as 50 or 0.5).
fn checks_per_second(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("not a number of checks per second above 0 (such as 50 or 0.5)".into()),
    }
}

/// `--max-dns-rate`: a number of DNS queries per second above 0.
fn queries_per_second(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("not a number of DNS queries per second above 0 (such as 200 or 0.5)".into()),
    }
}

/// `--max-connections`: at least 1 (0 would serve nobody).
fn connection_cap(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 connections would serve nobody; give at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("not a whole number of connections (at least 1)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_are_above_0_and_at_most_600_seconds() {
        assert_eq!(time_limit("10"), Ok(Duration::from_secs(10)));
        assert_eq!(time_limit("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(time_limit("600"), Ok(Duration::from_secs(600)));
        for refused in ["0", "-1", "600.5", "nan", "inf", "ten", ""] {
            assert!(time_limit(refused).is_err(), "{refused}");
        }
        assert_eq!(
            time_limit("0"),
            Err("a time limit must be more than 0 and at most 600 seconds".into())
        );
    }

    #[test]
    fn numbers_that_mean_nothing_are_refused() {
        assert_eq!(port("25"), Ok(25));
        assert!(port("0").is_err() && port("65536").is_err() && port("x").is_err());
        assert_eq!(checks_per_minute("1"), Ok(1));
        assert!(checks_per_minute("0").is_err() && checks_per_minute("-3").is_err());
        assert_eq!(concurrent_checks("10000"), Ok(10_000));
        assert!(concurrent_checks("0").is_err() && concurrent_checks("10001").is_err());
        assert_eq!(connection_cap("1"), Ok(1));
        assert!(connection_cap("0").is_err() && connection_cap("-1").is_err());
    }

    #[test]
    fn scan_status_and_results_are_subcommands_and_a_file_so_named_is_given_as_a_path() {
        let parse = |args: &[&str]| Cli::try_parse_from(["mta-sts", "scan"].iter().chain(args));
        let scan = |cli: Cli| match cli.command {
            Command::Scan(args) => args,
            _ => panic!("not scan"),
        };
        let status = scan(parse(&["status", "--queue", "postgres://h/db"]).expect("status"));
        assert!(matches!(status.action, Some(ScanAction::Status(_))));
        let results = scan(parse(&["results", "--queue", "postgres://h/db"]).expect("results"));
        assert!(matches!(results.action, Some(ScanAction::Results(_))));
        let file = scan(parse(&["./status"]).expect("a file"));
        assert_eq!(file.file, Some(PathBuf::from("./status")));
        let worker = scan(parse(&["--queue", "postgres://h/db", "--worker"]).expect("worker"));
        assert!(worker.shared.worker && worker.file.is_none());
        // A worker takes no list; a list or --worker is needed; queue flags need --queue.
        assert!(parse(&["list.txt", "--queue", "postgres://h/db", "--worker"]).is_err());
        assert!(parse(&["--queue", "postgres://h/db"]).is_err());
        assert!(parse(&["list.txt", "--batch", "4"]).is_err());
        assert!(parse(&["list.txt", "--queue", "postgres://h/db", "--batch", "0"]).is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
