//! The network layer of `mta-sts`: everything that talks to DNS, HTTPS and SMTP servers.
//!
//! Each concern is its own module, and every network setting is configuration, so the lab can
//! point the real code at loopback:
//! - [`dns_update`]: RFC 2136 dynamic updates signed with TSIG (RFC 8945), replacing a TXT
//!   RRset such as `_mta-sts` at a zone's primary server;
//! - [`dns`]: TXT, MX, addresses (with CNAME chains) and TLSA lookups, with NXDOMAIN, NODATA,
//!   SERVFAIL and timeouts told apart;
//! - [`dane`]: the TLSA records of an MX host where RFC 7672 §2.2.2 looks for them (its
//!   validated CNAME expansion first, then the host name), for the daemon and the checker alike;
//! - [`policy_fetch`]: the RFC 8461 §3.3 HTTPS fetch of `/.well-known/mta-sts.txt`, every failure
//!   classified;
//! - [`smtp_probe`]: connect to an MX, EHLO, STARTTLS, and report the certificate chain and its
//!   verdict without stopping at the first fault;
//! - [`trust`]: Web PKI roots plus extra roots from a PEM file, and certificate verdicts;
//! - [`clock`]: the system clock, the workspace's one reader of it;
//! - [`address_guard`]: refusing non-public addresses for a checker exposed to the internet.
//!
//! What servers share (the connection cap, the open-file limit) lives in `mta-sts-service`.

pub mod address_guard;
pub mod clock;
pub mod dane;
mod dial;
pub mod dns;
pub mod dns_update;
mod error;
pub mod policy_fetch;
pub mod smtp_probe;
pub mod trust;

pub use address_guard::AddressGuard;
pub use clock::SystemClock;
pub use dns::{Dns, DnsConfig, DnsError};
pub use dns_update::{DnsUpdater, TsigAlgorithm, TsigKey, UpdateConfig, UpdateError};
pub use error::Error;
pub use policy_fetch::{FetchConfig, FetchError, PolicyFetch};
pub use smtp_probe::{MxProbe, ProbeConfig, ProbeError};
pub use trust::{CertVerdict, Trust};
