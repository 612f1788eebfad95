//! The crate's error: what stops the daemon from starting or serving.
//!
//! Failures while answering (a DNS timeout, a failed fetch, a cache write error) are not errors of
//! this kind: the daemon answers anyway (RFC 8461 §3.3: a cached policy still applies; otherwise
//! as if the domain had no policy) and reports them as [`crate::Event`]s.

use std::path::PathBuf;

use crate::cache::CacheError;

/// Why the daemon cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicydError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration {}: {source}", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML for this daemon (or, for `--compat-config`, not a
    /// YAML mapping): a syntax error, a value of the wrong type, or an unknown key (the message
    /// names it and says where it is).
    #[error("{origin}: {message}")]
    ConfigSyntax {
        /// The file, or `<config>` for text.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A postfix-mta-sts-resolver configuration ([`crate::compat_config`]) has a key this daemon
    /// cannot take: an unknown key, a value of the wrong type, or a setting it does not support
    /// (the message says what to write instead).
    #[error("{origin}: `{key}`: {message}")]
    CompatConfig {
        /// The file, or `<compat-config>` for text.
        origin: String,
        /// The key, dotted (`zones.strict.timeout`).
        key: String,
        /// What is wrong and what would do.
        message: String,
    },
    /// A configuration value is well-formed but unusable.
    #[error("configuration `{key}`: {message}")]
    ConfigValue {
        /// The key, dotted (`default_zone.timeout`).
        key: String,
        /// What is wrong and what would do.
        message: String,
    },
    /// The network layer refused its settings (an unreadable CA file, a resolver address).
    #[error(transparent)]
    Net(#[from] mta_sts_net::Error),
    /// The cache could not be opened.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The listening socket could not be set up.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address or socket path.
        address: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}
