//! The domain owner's server, `mta-sts serve`: it takes in TLS-RPT reports over HTTPS (RFC 8460
//! §3, §5.3), shows them on a private dashboard, and hosts MTA-STS policies (RFC 8461 §3.3).
//!
//! - [`ServeConfig`]: the TOML configuration and its checks ([`config::EXAMPLE`] shows every
//!   option);
//! - [`Server`]: started from a checked configuration, it serves the intake endpoint (`POST` a
//!   report on the intake path, default `/tlsrpt`, with `application/tlsrpt+gzip` or
//!   `application/tlsrpt+json`; see the `routes` module for every answer), `/healthz` and
//!   `/metrics`, prunes old reports (`keep_days`), reloads on SIGHUP and drains on SIGTERM;
//!   with `[alerts]`, its watcher (the `watch` module) raises alerts on failure reports,
//!   silent reporters and advisor verdict changes, delivered by `mta_sts_alerts`;
//! - the monitor (the `monitor` module, `[monitor]`): every domain checked on a jittered
//!   schedule by `mta_sts_monitor`, each check kept as history, each event raised and cleared
//!   sent as a `monitor` alert, gauges per domain on `/metrics`, a timeline on each domain page;
//! - [`CertificateFiles`]: HTTPS from certificate files, read again on SIGHUP; the certificate
//!   of each handshake is chosen by SNI (the `tls` module);
//! - policy hosting (the `hosting` module): `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//!   for every `[[hosts]]` table, over HTTP/1.1 and HTTP/2, the fetches counted per domain and
//!   fetching organisation;
//! - the dashboard on the same listeners: the overview at `/`, `/domains/{domain}` (charts,
//!   failures, reporters, reports, the live check and the rollout advice), `/reports/{key}`,
//!   the login at `/login`, and the JSON API under `/api/v1` (OpenAPI at
//!   `/api/v1/openapi.json`); private behind `[[users]]` (argon2, [`hash_password`]) and
//!   `[[tokens]]`;
//! - the in-step task (`hosting::in_step`): `auto` policies regenerated from the live MX set,
//!   and every hosted policy's `_mta-sts` id brought in step after the policy is served, by
//!   RFC 2136 updates (`[[dns_update]]`) or by the owner ("id not updated yet").

mod body;
mod commit;
pub mod config;
mod dashboard;
mod error;
mod hosting;
mod media_type;
mod metrics;
mod monitor;
mod retention;
mod routes;
mod server;
mod tls;
mod watch;

pub use config::ServeConfig;
pub use dashboard::hash_password;
pub use error::ServeError;
pub use media_type::ReportMediaType;
pub use server::{Reloader, Server};
pub use tls::CertificateFiles;
