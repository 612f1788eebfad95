//! A simulated internet on loopback for testing MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) tools.
//!
//! [`Lab::start`] boots, on 127.0.0.0/8 with OS-chosen ports and no root:
//! - an authoritative DNS server for `test.` (UDP and TCP), with [`SERVFAIL_DOMAIN`] and
//!   [`TIMEOUT_DOMAIN`] for the two DNS failure classes;
//! - a private root CA issuing valid, self-signed, wrong-name, expired and not-yet-valid leaves;
//! - HTTPS policy hosts (certificate by SNI) and one plain-HTTP host;
//! - SMTP servers with STARTTLS, and misbehaving ones on addresses of their own;
//! - TLSA records, and zones that answer as DNSSEC-signed (the AD bit, withheld from a CNAME chain
//!   that leaves the signed domains) for DANE (RFC 7672);
//!
//! and [`ReportPlan`] writes realistic TLS-RPT reports about a lab domain (RFC 8460 §4);
//!
//! all driven by the declarative [`catalog()`] of [`Scenario`]s, one defect each, with the finding
//! codes a checker must report for it. [`Lab::start_with`] adds thousands of generated healthy
//! domains for benchmarks, and [`generated_mix`] thousands of healthy and broken ones mixed.
//!
//! [`Lab::update`] changes a domain (records, policy responses, certificates) while the lab
//! runs, so that a tool watching a domain over time can be tested against the change and its
//! undoing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mta_sts_lab::LabError> {
//! let lab = mta_sts_lab::Lab::start().await?;
//! for s in lab.scenarios() {
//!     println!("{:24} {:?} {}", s.name, s.expect, s.story);
//! }
//! println!("resolve via {}, trust {}", lab.dns_addr(), lab.ca_file().display());
//! lab.shutdown().await;
//! # Ok(()) }
//! ```

mod ca;
mod catalog;
mod dns;
mod error;
mod https;
mod lab;
mod net;
mod reports;
mod scenario;
mod smtp;

pub use catalog::{catalog, generated_mix};
pub use error::{LabError, ScenarioProblem};
pub use https::POLICY_PATH;
pub use lab::Lab;
pub use net::Ports;
pub use reports::{GeneratedReport, Organization, PlannedFailure, ReportPlan};
pub use scenario::{
    CertKind, DnsRecord, HTTP_ONLY_ADDR, MxHost, PolicyHost, PolicyResponse, REVERSE_NAMES,
    RecordData, SERVFAIL_DOMAIN, SHARED_ADDR, Scenario, SmtpBehaviour, TIMEOUT_DOMAIN,
    TlsaAssociation,
};
