//! TLS-RPT intake for the domain owner (RFC 8460): reports taken from files, pipes, mail, IMAP
//! and HTTPS, kept only for the owner's domains, stored once, and summarised.
//!
//! The parts, from bytes to rows:
//! - [`payload`]: what a run of bytes is (JSON, gzip, zip, a message, an mbox), by content;
//! - [`message`]: the report attachments of one mail message;
//! - [`mbox`]: an mbox split into messages; [`maildir`]: the messages of a Maildir;
//! - [`domains`]: which policy domains are the owner's;
//! - [`examine`]: one report's bytes read, linted and judged, without the store;
//! - [`intake`]: [`Intake`], which examines, stores and counts;
//! - [`imap`]: every message of an IMAP mailbox handed to a handler (the intake), then moved.

pub mod domains;
mod error;
pub mod examine;
pub mod imap;
pub mod intake;
pub mod maildir;
pub mod mbox;
pub mod message;
mod metrics;
pub mod payload;

pub use domains::DomainFilter;
pub use error::IntakeError;
pub use examine::{Examined, Outcome};
pub use intake::Intake;
pub use mta_sts_store::reports::Source;
