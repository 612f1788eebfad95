//! TLS-RPT intake for the domain owner (RFC 8460): reports taken from files, pipes, mail, IMAP
//! and HTTPS, kept only for the owner's domains, stored once, and summarised.

pub mod imap;
