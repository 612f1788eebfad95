//! The mta-sts sender-side policy daemon: a Postfix socketmap server answering
//! `smtp_tls_policy_maps` lookups with MTA-STS (RFC 8461) policies, a drop-in replacement for
//! postfix-mta-sts-resolver that also remembers domains without MTA-STS, merges concurrent lookups
//! for one domain, backs off after failed fetches and answers deterministically.
//!
//! ```text
//! # /etc/postfix/main.cf
//! smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
//! ```
//!
//! # Using it
//! ```no_run
//! # async fn run() -> Result<(), mta_sts_policyd::PolicydError> {
//! use mta_sts_policyd::{Config, Daemon, Listener, SocketAccess};
//!
//! let config = Config::load("/etc/mta-sts/daemon.toml".as_ref())?;
//! let daemon = Daemon::new(config)?;
//!
//! // `mta-sts query example.com`: the reply and why.
//! let outcome = daemon.query("example.com", "postfix").await;
//! println!("{}", outcome.reply);
//!
//! // `mta-sts daemon`: serve until Ctrl-C, then finish in-flight requests.
//! let access = SocketAccess::from_config(daemon.config());
//! let listener = Listener::bind(&daemon.config().listen, &access).await?;
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! daemon.serve(listener, shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! # Replies
//! A request is the netstring `<name> <key>`; the name picks a zone (`[zones.NAME]`, else
//! `[default_zone]`). The key is normalised as postfix-mta-sts-resolver does (`[host]:port` and
//! `host:port` → `host`, lowercase, no trailing dot) and IDN names become A-labels.
//!
//! | Situation | Reply |
//! |---|---|
//! | `enforce` policy | `OK secure match=mx1.example.com:.mx.example.com servername=hostname` |
//! | the same, zone `require_sni = false` | `OK secure match=mx1.example.com:.mx.example.com` |
//! | the same, for Postfix ≥ 3.10.5 (`postfix_version`, found by `postconf` or written), or zone `tlsrpt = true` | `... servername=hostname policy_type=sts policy_domain=example.com mx_host_pattern=mx1.example.com mx_host_pattern=*.mx.example.com { policy_string = version: STSv1 } { policy_string = mode: enforce } ...` (see [`postfix`]) |
//! | a policy with `mx: 192.0.2.25` beside host names | the address left out of `match=` and `mx_host_pattern=` (it matches no MX host name; OpenSSL would demand it in the certificate) |
//! | an `enforce` policy whose every `mx` is an IPv4 address | `TEMP ...`: it matches no MX host, so Postfix defers the mail (RFC 8461 §4.1, §5) |
//! | `testing` policy, zone `strict_testing = true` | as `enforce` |
//! | either of those, and the MX set and an MX host's TLSA records DNSSEC-validated (`dane = true`) | `OK dane` (DANE first, RFC 8461 §2; see [`policy`]) |
//! | `testing` policy otherwise, `none` policy | `NOTFOUND ` |
//! | no STSv1 record, fetch failed with nothing cached, cached policy expired | `NOTFOUND ` |
//! | key `.example.com`, an IP literal, not a domain | `NOTFOUND ` (no lookup) |
//!
//! `match=` lists the policy's `mx` patterns in policy order with `*.x` written `.x` (Postfix's
//! syntax for subdomains). Like postfix-mta-sts-resolver the daemon never answers `TEMP` or
//! `PERM`: a failure is answered as RFC 8461 §5.1 says a sender proceeds (a valid cached policy
//! still applies; otherwise as if the domain had no MTA-STS). Requests over 1024 bytes or with
//! broken framing close the connection after the replies already owed.
//!
//! Connections that hold the server without using it are closed: a request still incomplete
//! `read_timeout` after its first byte, a connection idle for `idle_timeout`, and at
//! `max_connections` the one idle longest, to make room for each new connection, so Postfix is
//! always served (see [`mta_sts_service::connection_cap`]).
//!
//! # Configuration
//! TOML, every key optional, unknown keys refused; [`config::EXAMPLE`] lists every option with
//! its default. Cache semantics are described in [`policy`].
//!
//! # Layout
//! - [`netstring`]: framing as pure functions; [`socketmap`]: requests, replies, key
//!   normalisation;
//! - [`policy`]: the transport-free resolver (cache rules, single-flight, refresh) and the reply
//!   rendering; [`source`]: the DNS/HTTPS side behind a trait;
//! - [`cache`]: the [`PolicyCache`] trait, memory, SQLite, Redis and tiered stores;
//! - time is injected: a [`Clock`] (the core's [`Timestamp`]; [`SystemClock`] from the network
//!   layer); [`config`]: the TOML configuration;
//! - [`compat_config`]: postfix-mta-sts-resolver's YAML configuration read into a [`Config`];
//! - [`Daemon`] and [`Listener`]: the server.

pub mod cache;
pub mod compat_config;
pub mod config;
mod daemon;
mod error;
mod event;
mod metrics;
pub mod netstring;
pub mod policy;
pub mod postfix;
mod server;
pub mod socketmap;
pub mod source;

pub use cache::{PolicyCache, RedisCache, SqliteCache};
pub use config::{CacheKind, Config, ListenAddr, RedisUrl, Zone};
pub use daemon::{Daemon, PolicySummary, QueryOutcome};
pub use error::PolicydError;
pub use event::Event;
pub use mta_sts_core::time::{Clock, ManualClock, Timestamp};
pub use mta_sts_net::SystemClock;
pub use policy::{Lookup, NotFoundReason, Origin, Problem, RefreshReport, Resolver};
pub use postfix::{PostfixTarget, PostfixVersion, PostfixVersionSetting, VersionSource};
pub use server::{Listener, SocketAccess};
pub use socketmap::Reply;
pub use source::{NetSource, PolicySource};
