//! TLS-RPT as a sender (RFC 8460): the engine behind `mta-sts tlsrpt`, a drop-in for sys4's
//! tlsrpt-reporter.
//!
//! An MTA (Postfix 3.10 and later, through libtlsrpt) sends one JSON datagram per delivery attempt
//! to a unix socket; the collector counts them per UTC day, recipient domain, TLSRPT record and
//! policy in the store; once a day the reporter turns the day's counts into one RFC 8460 report
//! per domain and `rua`, and delivers each by mail or HTTPS POST, retrying with backoff.

pub mod collector;
mod error;
pub mod report_builder;

pub use error::TlsRptError;
