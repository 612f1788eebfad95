//! `mta-sts serve`'s TOML configuration. Every option but `domains` has a default; an unknown
//! key is an error that names it (a typo must not silently fall back to a default). [`EXAMPLE`]
//! shows every option with its default. Flags of `mta-sts serve` override the file's values, then
//! [`ServeConfig::validate`] checks the result before anything listens.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mta_sts_check::{Checker, NetSettings};
use mta_sts_net::{AddressGuard, Trust};
use mta_sts_rollout::Advisor;
use mta_sts_store::reports::ReportStore;
use serde::{Deserialize, Deserializer};

use crate::error::ServeError;

mod acme;
pub use acme::AcmeConfig;
mod alerts;
mod dns_update;
pub use alerts::{AlertsConfig, FailurePeriod};
mod hosting;
mod monitor;
pub use dns_update::{DEFAULT_STS_TTL, DnsUpdateConfig};
pub(crate) use hosting::check_policy_text;
pub use hosting::{AutoPolicy, HostConfig, HostingConfig, PolicySource};
pub use monitor::MonitorConfig;

/// Every option, with its default value, as a commented TOML file.
pub const EXAMPLE: &str = r#"# mta-sts serve: the domain owner's server. It takes TLS-RPT reports sent by HTTPS POST
# (RFC 8460 §3, §5.3) for the domains below and keeps them in the store. Publish
#   _smtp._tls.example.com. TXT "v=TLSRPTv1; rua=https://reports.example.com/tlsrpt"
# (the host this server answers on, and intake_path). Every value below is the default,
# except domains, which has none.

# The domains whose reports are taken (A-labels or Unicode, either is fine); a report whose
# policy domains are not all among them is refused with 403 and counted. Required: TLS-RPT
# has no authorisation step, so without a list anyone could fill the store.
# domains = ["example.com", "example.net"]

# HTTPS with a certificate from files ("IP:PORT"); both cert and key are needed. The files are
# read again on SIGHUP (after a renewal), without dropping a connection.
# https = "[::]:443"
# cert = "/etc/mta-sts/tls/fullchain.pem"
# key = "/etc/mta-sts/tls/privkey.pem"
# Plain HTTP ("IP:PORT"), for running behind a reverse proxy that terminates TLS, and for
# tests. At least one of https and listen is needed; both may be given.
# listen = "127.0.0.1:8080"

# Where reports are kept: "sqlite:PATH" (the directory is made if missing) or
# "postgres://USER@HOST/DB" (a password in the URL is never printed).
store = "sqlite:/var/lib/mta-sts/mta-sts.db"

# The path reporters POST to: the path of the https:// URI in the rua of your _smtp._tls record.
intake_path = "/tlsrpt"
# The largest request body taken, in bytes; a longer one gets 413 as soon as the cap is
# passed, without reading the rest. A report decompressed past 16 MiB gets 413 too, whatever
# this says. Real gzip reports are a few kilobytes.
max_body = 1048576
# Reports one client address (IPv6 by /64) may POST a minute; beyond, 429 with Retry-After.
# Reporters send one report a day per policy domain, so this is generous.
reports_per_minute = 60
# POSTs one client address may have in progress at once; more get 429.
max_concurrent_per_client = 4
# Clients behind these proxies are told apart by their X-Forwarded-For (last address not a
# proxy); without it, every client behind a proxy shares one rate limit.
trust_proxy = []

# Connections held open at once; at the cap, the one idle longest is closed for each new one.
max_connections = 1024
# Seconds for a request's headers to arrive (and for the next request on an idle connection).
header_timeout = 10
# Seconds for a request's whole body to arrive once its headers have; a slower one gets 408.
body_timeout = 30
# Seconds in-flight POSTs are given to finish once the server is told to stop.
shutdown_timeout = 20

# Serve Prometheus metrics at /metrics, and a liveness answer at /healthz, on the same
# listeners. Turn metrics off when this server faces the internet without a proxy that hides it.
metrics = true
healthz = true

# Days a report is kept, counted from the end of its date range; 0 keeps reports forever.
keep_days = 0
# Seconds between two retention passes (the first runs at start).
prune_interval = 3600

# The dashboard: the overview at /, a page per domain, each report, and a JSON API under
# /api/v1 (its OpenAPI document at /api/v1/openapi.json). Reports are private: every page needs
# a login (a user below) and the API a login or a bearer token (a token below). With no user and
# no token, the dashboard refuses everyone and /login says how to add one.
[dashboard]
# Hours a login lasts.
session_hours = 12
# The session cookie is sent only over HTTPS (Secure). Turn this off only for a plain-HTTP
# listener behind a proxy that terminates TLS for the browser, or for tests: without it the
# cookie travels in clear text.
secure_cookie = true
# Login attempts one client address (IPv6 by /64) may make a minute, and one user name may be
# tried a minute from all clients together; beyond, 429 with Retry-After.
logins_per_minute = 5
# Whether /metrics stays open without a login (set metrics = true above to serve it at all);
# false asks for a login or a bearer token like the API.
metrics_public = true
# The days the domain pages show by default, up to 366.
days = 30
# A reporter that reported on more than one day but on none of the last silent_days days is
# flagged silent on the domain's page.
silent_days = 3
# Seconds a domain's live check (DNS, policy, MX certificates) is kept before it is run again.
check_cache_seconds = 600
# Milliseconds a page waits for a live check it started; after that it shows the last result
# (with its time) or "checking…", and the check finishes in the background.
check_wait_ms = 3000

# How the live check of your domains is made (the dashboard's and the rollout advisor's):
[check]
# The DNS resolver, "IP:PORT"; the system's when absent.
# resolver = "127.0.0.1:53"
# Extra trusted root certificates (PEM) for policy hosts and MX hosts, beside the web PKI.
# ca_file = "/etc/mta-sts/private-ca.pem"
# The ports policy hosts and MX hosts are reached on (senders always use 443 and 25).
https_port = 443
smtp_port = 25
# Seconds for the policy fetch and for each SMTP step.
timeout = 10

# When the rollout advisor calls a domain ready for the next stage (mta-sts rollout reads these
# too): reports on at least min_report_days distinct days of the last window_days, from at least
# min_reporters organisations, a share of failed sts sessions of at most max_failure_rate (0 to 1),
# every MX certificate valid for more than min_certificate_days.
[rollout]
window_days = 14
min_report_days = 7
min_reporters = 2
max_failure_rate = 0.0
min_certificate_days = 14

# Policy hosting (RFC 8461 §3.3): https://mta-sts.DOMAIN/.well-known/mta-sts.txt for every
# [[hosts]] table below, on the https listener, the certificate chosen by the name the client
# asks for (SNI). Exactly that path answers (200, text/plain); anything else is a plain 404,
# never a redirect. A hosted domain's reports are taken too (it joins domains). The policy is
# one of: written here, read from a file, or auto (generated from the domain's live MX set).
# A policy our linter refuses stops the server from starting; on SIGHUP the old one stays.
# [[hosts]]
# domain = "example.com"
# policy = """
# version: STSv1
# mode: enforce
# mx: mail.example.com
# max_age: 604800
# """
# [[hosts]]
# domain = "example.net"
# policy_file = "/etc/mta-sts/example.net.txt"
# [[hosts]]
# domain = "example.org"
# auto = true
# mode = "testing"          # auto only: testing, enforce or none
# max_age = 604800          # auto only
# mx_refresh = 3600         # auto only: seconds between two looks at the MX set (at least 60)

# Certificate files of the policy hosts: DIR/mta-sts.DOMAIN.pem (the chain, the server's
# certificate first) with DIR/mta-sts.DOMAIN.key beside it, read at start and on SIGHUP. A
# client asking for another name gets cert/key above if given, else the handshake fails.
[hosting]
# certs = "/etc/mta-sts/hosts"
# Policy fetches are counted per domain and fetching organisation (the forward-confirmed PTR
# name of the client's address, through the [check] resolver: "Google", "Microsoft", ...) and
# added to the store every fetch_log_seconds; the dashboard shows who fetched and when last.
fetch_log_seconds = 60

# Certificates for the policy hosts by ACME (RFC 8555), instead of certificate files: ordered
# for mta-sts.DOMAIN of every [[hosts]] table and for no other name (never for a name a
# client asks for), renewed at renew_at of their lifetime, failures retried with backoff from
# retry_first up to retry_max seconds. An expiring certificate (warn_at of its lifetime passed
# without a renewal) is logged and raised as an alert. The account and the certificates are
# kept in the store, so servers sharing a store share them (one orders, the others use it).
# Each mta-sts.DOMAIN must resolve to this server: http-01 is answered on the plain HTTP
# listener (listen, port 80 for the CA), tls-alpn-01 on the https listener (port 443).
# [acme]
# directory = "https://acme.example/directory"
# contact = ["hostmaster@example.com"]
# ca_file = "/etc/mta-sts/acme-ca.pem"   # trusted for the directory's TLS instead of the system's roots
# challenge = "http-01"                  # or "tls-alpn-01"
# renew_at = 0.6667
# warn_at = 0.8333
# retry_first = 60
# retry_max = 21600
# order_timeout = 120

# Dashboard users: one [[users]] table each. Make a password hash with
#   mta-sts serve hash-password
# (it reads the password from standard input, never from the command line).
# [[users]]
# name = "owner"
# password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."

# API tokens for scripts and Grafana, sent as "Authorization: Bearer TOKEN": one [[tokens]]
# table each, with the SHA-256 of the token in hex (the token itself is never stored), e.g.
#   head -c 32 /dev/urandom | base64 > token; printf %s "$(cat token)" | sha256sum
# [[tokens]]
# name = "grafana"
# token_hash = "3f0a...64 hex digits"

# Alerts: when a report counting failures arrives for one of the domains (by HTTPS, mail,
# IMAP or import), when an organisation that reported regularly goes silent, or when the
# rollout advisor's verdict changes, tell the owner by webhook and/or mail. One alert per
# condition per period (the store remembers, also across servers sharing it), never one per
# report; delivery never holds up intake. Nothing is watched without a webhook or mail below.
[alerts]
# Seconds between two looks for newly received reports.
poll_interval = 60
# One failure alert per domain per "day" or "hour" (UTC).
failure_period = "day"
# Seconds between two looks for silent reporters and verdict changes (the first at start).
check_interval = 3600
# A reporter that reported on at least regular_days of the last lookback_days is silent when
# it has sent nothing for silent_after_days whole days; one alert per silence.
silent_after_days = 3
regular_days = 7
lookback_days = 30
# Run the rollout advisor (the live check of [check], the thresholds of [rollout]) per domain
# every check_interval and alert when its verdict (stage, ready or not) changes.
advisor = true
# Alerts waiting per channel; when a receiver is down long enough to fill it, new alerts are
# dropped with a log line.
queue = 256

# The webhook: a POST of the alert as JSON, signed with HMAC-SHA256 over "TIMESTAMP.BODY" in
# the Mta-Sts-Signature header (v1=HEX) with the Mta-Sts-Timestamp header; retried with
# exponential backoff and jitter, given up after `attempts` with a log line.
# [alerts.webhook]
# url = "https://hooks.example.com/mta-sts"
# secret_file = "/etc/mta-sts/webhook.secret"   # or secret_env = "MTA_STS_WEBHOOK_SECRET"
# ca_file = "/etc/mta-sts/hooks-ca.pem"         # extra roots for a private CA
# timeout = 10
# retry = { attempts = 8, initial_backoff_ms = 5000, max_backoff_ms = 600000 }

# Mail: submitted to a relay with STARTTLS (required; security = "tls" for port 465).
# [alerts.mail]
# relay = "smtp.example.com"
# port = 587
# security = "starttls"
# from = "MTA-STS <mta-sts@example.com>"
# to = ["postmaster@example.com"]
# username = "mta-sts@example.com"
# password_file = "/etc/mta-sts/smtp.password"  # or password_env = "MTA_STS_SMTP_PASSWORD"
# ca_file = "/etc/mta-sts/relay-ca.pem"
# timeout = 30
# retry = { attempts = 8, initial_backoff_ms = 5000, max_backoff_ms = 600000 }

# The monitor: every domain above (domains and [[hosts]]) checked on a schedule with the
# [check] settings, each result kept in the store as its history (the domain's page shows the
# timeline), and each event (a finding added or removed, the policy changed while its id did
# not, an MX host the policy does not cover, a certificate expiring, the policy host
# unreachable, the _smtp._tls record gone, a fetching organisation gone quiet) raised and
# cleared through the [alerts] channels, once each even with several servers sharing the store.
[monitor]
enabled = true
# Seconds between two checks of one domain.
interval = 3600
# Each domain's checks are shifted by a random part of this many seconds, so a few hundred
# domains are not all checked at once; a tenth of interval when absent.
# jitter = 360
# Days before a certificate's expiry (policy host and MX hosts) at which an event is raised;
# only the tightest threshold reached holds, so crossing 14 days clears the 30-day event.
cert_days = [30, 14, 7, 1]
# A fetching organisation that fetched a hosted policy regularly is "stopped" after at least
# this many days without a fetch (longer when it used to fetch less often).
fetcher_silence_days = 3
# Days the history of checks is kept (events are kept forever); 0 keeps everything.
keep_days = 90
# Domains checked at once at most.
concurrency = 8

# Keeping the _mta-sts id in step with the hosted policies: when a policy changes (an edited
# file or configuration, or an auto policy regenerated after the MX set changed), the server
# serves the new policy first and only then changes the id, by an RFC 2136 dynamic update
# signed with TSIG, then reads the record back from the primary. One [[dns_update]] table per
# zone; a hosted domain uses the longest zone holding _mta-sts.<domain>. A hosted domain under
# none of them is kept in step by hand: the server logs the exact record to publish and the
# dashboard shows "id not updated yet" until DNS shows the new id.
# [[dns_update]]
# zone = "example.com"
# server = "192.0.2.53:53"                      # the zone's primary, IP[:PORT]; over TCP
# key_name = "mta-sts-update"                   # as the server's configuration names the key
# algorithm = "hmac-sha256"                     # or hmac-sha384, hmac-sha512
# secret_file = "/etc/mta-sts/update.key"       # the base64 secret, or tsig-keygen's key file
# ttl = 300                                     # of the _mta-sts record written
# timeout = 10
"#;

/// The settings of `mta-sts serve`, read from TOML and overridden by flags.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The domains whose reports are taken (normalised to A-labels by [`validate`](Self::validate)).
    pub domains: Vec<String>,
    /// The HTTPS address.
    pub https: Option<SocketAddr>,
    /// The certificate chain (PEM) for HTTPS.
    pub cert: Option<PathBuf>,
    /// The private key (PEM) for HTTPS.
    pub key: Option<PathBuf>,
    /// The plain-HTTP address (behind a proxy, and for tests).
    pub listen: Option<SocketAddr>,
    /// The store URL, `sqlite:PATH` or `postgres://...`.
    pub store: String,
    /// The path reports are POSTed to.
    pub intake_path: String,
    /// The largest request body taken, in bytes.
    pub max_body: usize,
    /// Reports one client may POST a minute.
    pub reports_per_minute: u32,
    /// POSTs one client may have in progress at once.
    pub max_concurrent_per_client: usize,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trust_proxy: Vec<IpAddr>,
    /// Connections held open at once.
    pub max_connections: usize,
    /// The time limit for a request's headers.
    #[serde(deserialize_with = "seconds")]
    pub header_timeout: Duration,
    /// The time limit for a request's body.
    #[serde(deserialize_with = "seconds")]
    pub body_timeout: Duration,
    /// How long in-flight POSTs may take to finish at shutdown.
    #[serde(deserialize_with = "seconds")]
    pub shutdown_timeout: Duration,
    /// Whether `/metrics` is served.
    pub metrics: bool,
    /// Whether `/healthz` is served.
    pub healthz: bool,
    /// Days a report is kept (0: forever).
    pub keep_days: u32,
    /// The `[alerts]` table: alerts by webhook and mail.
    pub alerts: AlertsConfig,
    /// Time between retention passes.
    #[serde(deserialize_with = "seconds")]
    pub prune_interval: Duration,
    /// The dashboard's settings.
    pub dashboard: DashboardConfig,
    /// The dashboard's users.
    pub users: Vec<UserConfig>,
    /// The API's bearer tokens.
    pub tokens: Vec<TokenConfig>,
    /// How the live check is made.
    pub check: CheckConfig,
    /// When the rollout advisor calls a domain ready.
    pub rollout: mta_sts_rollout::Thresholds,
    /// The `[[hosts]]` tables: the domains whose policy is hosted.
    pub hosts: Vec<HostConfig>,
    /// The `[hosting]` table: where the policy hosts' certificate files are.
    pub hosting: HostingConfig,
    /// The `[[dns_update]]` tables: where `_mta-sts` ids are updated by RFC 2136.
    pub dns_update: Vec<DnsUpdateConfig>,
    /// The `[acme]` table: the policy hosts' certificates by ACME, if configured.
    pub acme: Option<AcmeConfig>,
    /// The `[monitor]` table: the scheduled checks of the domains.
    pub monitor: MonitorConfig,
}

/// The `[check]` table: how the live check of the domains is made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// The DNS resolver (`None`: the system's).
    pub resolver: Option<SocketAddr>,
    /// Extra trusted roots (PEM).
    pub ca_file: Option<PathBuf>,
    /// The port policy hosts are reached on.
    pub https_port: u16,
    /// The port MX hosts are reached on.
    pub smtp_port: u16,
    /// The time limit of the policy fetch and of each SMTP step.
    #[serde(deserialize_with = "seconds")]
    pub timeout: Duration,
}

impl Default for CheckConfig {
    fn default() -> CheckConfig {
        CheckConfig {
            resolver: None,
            ca_file: None,
            https_port: 443,
            smtp_port: 25,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The `[dashboard]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// How long a login lasts.
    #[serde(rename = "session_hours", deserialize_with = "hours")]
    pub session_lifetime: Duration,
    /// Whether the session cookie carries `Secure` (off only behind a TLS proxy, or in tests).
    pub secure_cookie: bool,
    /// Login attempts a minute, per client address and per user name.
    pub logins_per_minute: u32,
    /// Whether `/metrics` is open without a login.
    pub metrics_public: bool,
    /// The days the domain pages show by default.
    pub days: u32,
    /// Days without a report after which a regular reporter is flagged silent.
    pub silent_days: u32,
    /// How long a domain's live check is kept.
    #[serde(rename = "check_cache_seconds", deserialize_with = "seconds")]
    pub check_cache: Duration,
    /// How long a page waits for a live check it started.
    #[serde(rename = "check_wait_ms", deserialize_with = "milliseconds")]
    pub check_wait: Duration,
}

impl Default for DashboardConfig {
    fn default() -> DashboardConfig {
        DashboardConfig {
            session_lifetime: Duration::from_secs(12 * 3600),
            secure_cookie: true,
            logins_per_minute: 5,
            metrics_public: true,
            days: 30,
            silent_days: 3,
            check_cache: Duration::from_secs(600),
            check_wait: Duration::from_millis(3000),
        }
    }
}

/// One `[[users]]` table: who may log in to the dashboard.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The name typed at the login form.
    pub name: String,
    /// The password's argon2 hash as a PHC string (`mta-sts serve hash-password`).
    pub password_hash: String,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash stays out of logs: it can be attacked offline.
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One `[[tokens]]` table: a bearer token for the JSON API.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// What the token is for (shown in the log when it is used).
    pub name: String,
    /// The SHA-256 of the token, 64 hex digits.
    pub token_hash: String,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The default store, as the other report commands use it.
pub const DEFAULT_STORE: &str = "sqlite:/var/lib/mta-sts/mta-sts.db";

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            domains: Vec::new(),
            https: None,
            cert: None,
            key: None,
            listen: None,
            store: DEFAULT_STORE.to_string(),
            intake_path: "/tlsrpt".to_string(),
            max_body: 1024 * 1024,
            reports_per_minute: 60,
            max_concurrent_per_client: 4,
            trust_proxy: Vec::new(),
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(20),
            metrics: true,
            healthz: true,
            keep_days: 0,
            alerts: AlertsConfig::default(),
            prune_interval: Duration::from_secs(3600),
            dashboard: DashboardConfig::default(),
            users: Vec::new(),
            tokens: Vec::new(),
            check: CheckConfig::default(),
            rollout: mta_sts_rollout::Thresholds::default(),
            hosts: Vec::new(),
            hosting: HostingConfig::default(),
            dns_update: Vec::new(),
            acme: None,
            monitor: MonitorConfig::default(),
        }
    }
}

/// The largest body cap: a body is held in memory while it is decoded, and no report comes
/// close to the 16 MiB the decompressed report is capped at.
pub const MAX_BODY_CAP: usize = mta_sts_core::report::MAX_REPORT_SIZE;

/// The longest time limit, in seconds: ten minutes is beyond any report upload worth waiting for.
const MAX_TIME_LIMIT: Duration = Duration::from_secs(600);

/// The longest retention: a hundred years means "forever" and is written `keep_days = 0`.
const MAX_KEEP_DAYS: u32 = 36_500;

/// The shortest time between retention passes: a pass deletes in batches, and more often
/// than a minute would only compete with intake for the store.
const MIN_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

impl ServeConfig {
    /// Reads a configuration file (not yet checked: flags may still override it; call
    /// [`validate`](Self::validate) after).
    pub fn load(path: &Path) -> Result<ServeConfig, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        ServeConfig::parse_named(&text, &path.display().to_string())
    }

    /// Parses configuration text (not yet checked).
    pub fn parse(text: &str) -> Result<ServeConfig, ServeError> {
        ServeConfig::parse_named(text, "<config>")
    }

    fn parse_named(text: &str, origin: &str) -> Result<ServeConfig, ServeError> {
        toml::from_str(text).map_err(|e| ServeError::ConfigSyntax {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Checks the values that parse but cannot work, and turns the domains into A-labels
    /// (lowercase, without a trailing dot, each once).
    pub fn validate(&mut self) -> Result<(), ServeError> {
        let bad = |key: &str, message: String| {
            Err(ServeError::ConfigValue {
                key: key.to_string(),
                message,
            })
        };
        hosting::validate_hosts(&mut self.hosts)?;
        self.hosting.validate()?;
        if self.domains.is_empty() && self.hosts.is_empty() {
            return Err(ServeError::NoDomains);
        }
        // A hosted domain's reports are taken too: its owner publishes both.
        let mut domains: BTreeSet<String> =
            self.hosts.iter().map(|host| host.domain.clone()).collect();
        for domain in &self.domains {
            match mta_sts_core::domain::normalize_mail_domain(domain) {
                Ok(name) => {
                    domains.insert(name);
                }
                Err(e) => return bad("domains", format!("`{domain}` is not a domain name: {e}")),
            }
        }
        self.domains = domains.into_iter().collect();
        if self.https.is_none() && self.listen.is_none() {
            return Err(ServeError::NoListener);
        }
        // RFC 8461 §3.3: the policy is fetched over HTTPS only.
        if let (None, Some(host)) = (self.https, self.hosts.first()) {
            return bad(
                "https",
                format!(
                    "{} is hosted, and policies are fetched over HTTPS only (RFC 8461 §3.3);                      add https = \"IP:PORT\" (--https)",
                    host.domain
                ),
            );
        }
        match (&self.https, &self.cert, &self.key) {
            (Some(_), Some(_), Some(_)) | (None, None, None) => {}
            // The policy hosts have certificates of their own (files or ACME); names other
            // than theirs are refused at the handshake.
            (Some(_), None, None) if !self.hosts.is_empty() => {}
            (Some(address), _, _) => {
                return bad(
                    if self.cert.is_none() { "cert" } else { "key" },
                    format!(
                        "HTTPS on {address} needs both a certificate chain (cert, --cert) and \
                         its private key (key, --key), as PEM files"
                    ),
                );
            }
            (None, _, _) => {
                return bad(
                    "https",
                    "a certificate and key are given but no HTTPS address to serve them on; \
                     add https = \"IP:PORT\" (--https) or remove cert and key"
                        .into(),
                );
            }
        }
        // Port 0 asks the system for a free port, a different one for each listener.
        if let (Some(https), Some(listen)) = (self.https, self.listen)
            && https == listen
            && listen.port() != 0
        {
            return bad(
                "listen",
                format!("{listen} is also the HTTPS address; give each listener its own port"),
            );
        }
        if !self.intake_path.starts_with('/')
            || self.intake_path.len() < 2
            || self.intake_path.contains(['?', '#', ' '])
        {
            return bad(
                "intake_path",
                format!(
                    "`{}` is not a URL path such as /tlsrpt: it must start with / and hold no \
                     space, ? or #",
                    self.intake_path
                ),
            );
        }
        let reserved = ["/healthz", "/metrics"];
        if reserved.contains(&self.intake_path.as_str())
            || crate::dashboard::is_dashboard_path(&self.intake_path)
        {
            return bad(
                "intake_path",
                format!(
                    "{} is where the server answers something else",
                    self.intake_path
                ),
            );
        }
        if self.max_body == 0 || self.max_body > MAX_BODY_CAP {
            return bad(
                "max_body",
                format!("must be from 1 to {MAX_BODY_CAP} bytes (16 MiB)"),
            );
        }
        if self.reports_per_minute == 0 {
            return bad(
                "reports_per_minute",
                "0 would refuse every report; give at least 1".into(),
            );
        }
        if self.max_concurrent_per_client == 0 {
            return bad(
                "max_concurrent_per_client",
                "0 would refuse every report; give at least 1".into(),
            );
        }
        if self.max_connections == 0 {
            return bad(
                "max_connections",
                "0 would serve nobody; give at least 1".into(),
            );
        }
        for (key, limit) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
        ] {
            if limit.is_zero() || limit > MAX_TIME_LIMIT {
                return bad(
                    key,
                    format!("must be from 1 to {} seconds", MAX_TIME_LIMIT.as_secs()),
                );
            }
        }
        if self.keep_days > MAX_KEEP_DAYS {
            return bad(
                "keep_days",
                format!("must be at most {MAX_KEEP_DAYS}; write 0 to keep reports forever"),
            );
        }
        if self.prune_interval < MIN_PRUNE_INTERVAL {
            return bad(
                "prune_interval",
                format!("must be at least {} seconds", MIN_PRUNE_INTERVAL.as_secs()),
            );
        }
        self.validate_dashboard()?;
        self.alerts.validate()?;
        self.monitor.validate()?;
        dns_update::validate(&mut self.dns_update)?;
        if let Some(acme) = &mut self.acme {
            acme.validate(self.hosts.len(), self.listen.is_some())?;
        }
        Ok(())
    }

    /// The retention period, if reports are not kept forever.
    pub fn retention(&self) -> Option<Duration> {
        (self.keep_days > 0).then(|| Duration::from_secs(u64::from(self.keep_days) * 86_400))
    }
}

/// The longest login: a month.
const MAX_SESSION_HOURS: u64 = 720;

/// The longest time a live check is kept: a day.
const MAX_CHECK_CACHE: Duration = Duration::from_secs(86_400);

impl ServeConfig {
    /// Checks `[dashboard]`, `[[users]]` and `[[tokens]]`.
    fn validate_dashboard(&mut self) -> Result<(), ServeError> {
        let bad = |key: &str, message: String| {
            Err(ServeError::ConfigValue {
                key: key.to_string(),
                message,
            })
        };
        let dashboard = &self.dashboard;
        let hours = dashboard.session_lifetime.as_secs() / 3600;
        if hours == 0 || hours > MAX_SESSION_HOURS {
            return bad(
                "dashboard.session_hours",
                format!("must be from 1 to {MAX_SESSION_HOURS} hours"),
            );
        }
        if dashboard.logins_per_minute == 0 {
            return bad(
                "dashboard.logins_per_minute",
                "0 would refuse every login; give at least 1".into(),
            );
        }
        if dashboard.days == 0 || dashboard.days > crate::dashboard::MAX_DAYS {
            return bad(
                "dashboard.days",
                format!("must be from 1 to {}", crate::dashboard::MAX_DAYS),
            );
        }
        if dashboard.silent_days == 0 || dashboard.silent_days > crate::dashboard::MAX_DAYS {
            return bad(
                "dashboard.silent_days",
                format!("must be from 1 to {}", crate::dashboard::MAX_DAYS),
            );
        }
        if dashboard.check_cache.is_zero() || dashboard.check_cache > MAX_CHECK_CACHE {
            return bad(
                "dashboard.check_cache_seconds",
                format!("must be from 1 to {} seconds", MAX_CHECK_CACHE.as_secs()),
            );
        }
        if self.check.timeout.is_zero() || self.check.timeout > MAX_TIME_LIMIT {
            return bad(
                "check.timeout",
                format!("must be from 1 to {} seconds", MAX_TIME_LIMIT.as_secs()),
            );
        }
        if let Err(error) = self.rollout.validate() {
            return bad("rollout", error.to_string());
        }
        if self.dashboard.check_wait > MAX_TIME_LIMIT {
            return bad(
                "dashboard.check_wait_ms",
                format!("must be at most {} ms", MAX_TIME_LIMIT.as_millis()),
            );
        }
        let mut names = BTreeSet::new();
        for user in &self.users {
            if user.name.is_empty()
                || user
                    .name
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return bad(
                    "users.name",
                    format!(
                        "`{}` is not a user name: give one word without spaces",
                        user.name.escape_debug()
                    ),
                );
            }
            if !names.insert(user.name.as_str()) {
                return bad(
                    "users.name",
                    format!("the user `{}` is listed twice", user.name),
                );
            }
            crate::dashboard::check_password_hash(user)?;
        }
        let mut names = BTreeSet::new();
        for token in &self.tokens {
            if token.name.is_empty() || !names.insert(token.name.as_str()) {
                return bad(
                    "tokens.name",
                    format!(
                        "every token needs a name of its own; `{}` is empty or listed twice",
                        token.name.escape_debug()
                    ),
                );
            }
            crate::dashboard::check_token_hash(token)?;
        }
        Ok(())
    }
}

impl ServeConfig {
    /// The rollout advisor of this configuration: the live check as `[check]` says, the
    /// thresholds of `[rollout]`, the reports of `store` (the dashboard's and the alert
    /// watcher's).
    pub fn advisor(&self, store: ReportStore) -> Result<Advisor, ServeError> {
        Advisor::new(self.checker()?, store, self.rollout).map_err(|e| ServeError::ConfigValue {
            key: "rollout".to_string(),
            message: e.to_string(),
        })
    }

    /// The checker of this configuration, as `[check]` says (the advisor's and the monitor's).
    pub fn checker(&self) -> Result<Checker, ServeError> {
        let bad = |message: String| ServeError::ConfigValue {
            key: "check".to_string(),
            message,
        };
        let trust = match &self.check.ca_file {
            Some(path) => Trust::web_pki_and_pem_file(path).map_err(|e| bad(e.to_string()))?,
            None => Trust::web_pki(),
        };
        let settings = NetSettings {
            resolver: self.check.resolver,
            trust,
            https_port: self.check.https_port,
            smtp_port: self.check.smtp_port,
            timeout: self.check.timeout,
            // The owner checks their own domains, wherever they point.
            guard: AddressGuard::AllowAll,
            probe_smtp: true,
        };
        Checker::from_settings(&settings).map_err(|e| bad(e.to_string()))
    }
}

fn milliseconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

fn hours<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(|hours| Duration::from_secs(hours.saturating_mul(3600)))
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

#[cfg(test)]
mod tests;
