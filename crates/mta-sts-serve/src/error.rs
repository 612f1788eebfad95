//! The one error type of `mta-sts serve`: everything that stops the server from starting or
//! from reloading. Problems with a single request are answered with an HTTP status instead.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server cannot start, or a reload was refused (the running settings are kept then).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration {}: {source}", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("the configuration {origin} is not valid: {message}")]
    ConfigSyntax {
        /// The file, or `<config>` for text.
        origin: String,
        /// The TOML reader's explanation (it names the line and the key).
        message: String,
    },
    /// A setting parses but cannot work.
    #[error("the setting `{key}` is not usable: {message}")]
    ConfigValue {
        /// The key as written in the file.
        key: String,
        /// Why, and what is accepted.
        message: String,
    },
    /// No domain is configured: the server would take reports for anyone.
    #[error(
        "no domain is configured, so the server would take reports for any domain anyone \
         sends; give your domains with --domain D (repeatable) or domains = [\"example.com\"] \
         in the configuration file"
    )]
    NoDomains,
    /// Neither HTTPS nor plain HTTP is configured.
    #[error(
        "there is nothing to listen on; give --https ADDR with --cert FILE and --key FILE, or \
         --listen ADDR for plain HTTP behind a proxy (or https/listen in the configuration file)"
    )]
    NoListener,
    /// The certificate chain or the private key could not be read or used.
    #[error("cannot use the TLS certificate: {0}")]
    Certificate(String),
    /// A hosted domain's policy cannot be served: it is missing, unreadable, or a policy
    /// senders would refuse.
    #[error("the policy of {domain} cannot be served: {message}")]
    Policy {
        /// The policy domain.
        domain: String,
        /// What is wrong, naming the file or line.
        message: String,
    },
    /// An address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the report store {url}: {source}")]
    Store {
        /// The store URL, password hidden.
        url: String,
        /// The store's reason (boxed: it is large, and every other error is small).
        source: Box<mta_sts_store::StoreError>,
    },
    /// The serving machinery (runtime, signals) failed.
    #[error("{0}")]
    Service(String),
}
