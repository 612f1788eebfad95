//! The pure format core of `mta-sts`: parsers, linters and matching for MTA-STS (RFC 8461) and
//! SMTP TLS Reporting (RFC 8460).
//!
//! Nothing here does I/O, keeps a clock or spawns a task: every function takes text or bytes and
//! returns values, so the network layer, the engines and the fuzzers can all share it.
//!
//! Each RFC concept has its own module:
//! - [`sts_record`]: the `_mta-sts` TXT record (RFC 8461 §3.1) and the discovery rule over a set of
//!   TXT records ([`txt_discovery`]);
//! - [`policy`]: the policy file model and a sender's reading of it (RFC 8461 §3.2), and
//!   [`policy_lint`], the linter that reports every departure from the grammar;
//! - [`mx_pattern`]: `mx` patterns and MX host matching (RFC 8461 §4.1);
//! - [`tlsrpt_record`]: the `_smtp._tls` TXT record (RFC 8460 §3);
//! - [`tlsrpt_datagram`]: the datagram an MTA sends through libtlsrpt per delivery attempt;
//! - [`report`]: the TLS-RPT aggregate report (RFC 8460 §4), read tolerantly, and
//!   [`report_lint`], its strict lint.
//!
//! - [`time`]: the one [`Timestamp`] of the workspace (RFC 3339) and the [`Clock`] trait (the
//!   system clock itself lives in the network layer; the core never reads it);
//! - [`finding_code`]: the checker's finding codes, typed, with their severity and section.
//!
//! [`lint_text`] draws any [`Lint`] as human text, with bounded, escaped snippets of the input.
//!
//! Linters return a [`Lint`] of [`Diagnostic`]s with stable codes; readers return [`Error`].

pub mod diagnostic;
pub mod domain;
pub mod domain_list;
mod error;
pub mod finding_code;
pub mod lint_text;
pub mod mx_pattern;
pub mod policy;
pub mod policy_lint;
pub mod report;
pub mod report_lint;
pub mod session_counts;
pub mod sts_record;
pub mod time;
pub mod tlsrpt_datagram;
pub mod tlsrpt_record;
pub mod txt_discovery;

pub use diagnostic::{Diagnostic, Lint, Severity};
pub use error::Error;
pub use finding_code::{FindingCode, Section};
pub use mx_pattern::MxPattern;
pub use policy::{Mode, Policy};
pub use report::Report;
pub use session_counts::SessionCounts;
pub use sts_record::StsRecord;
pub use time::{Clock, Timestamp};
pub use tlsrpt_record::TlsRptRecord;
