//! The one error type of the ACME engine.

use mta_sts_store::StoreError;

/// Why a certificate could not be had by ACME.
///
/// [`AcmeError::is_refusal`] sorts them: a name that is not configured is the caller's
/// mistake; everything else (the directory unreachable, a challenge failed, the store down)
/// is worth retrying later with backoff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// A certificate was asked for a name that is not configured: none is ever ordered for it
    /// (issuing for whatever name a client sends is a denial of service on the CA's limits).
    #[error(
        "no certificate is ordered for {name}: it is not one of the configured hosted names \
         ({configured})"
    )]
    NotConfigured {
        /// The name asked for.
        name: String,
        /// The configured names, comma-separated.
        configured: String,
    },
    /// The ACME directory or the CA answered with an error, or could not be reached.
    #[error("the ACME server at {directory} failed while {step} for {name}: {source}")]
    Protocol {
        /// The directory URL.
        directory: String,
        /// The name being ordered (or `the account`).
        name: String,
        /// What was being done, e.g. "creating the order".
        step: &'static str,
        /// What the client library said (an RFC 8555 problem document when the server sent
        /// one); boxed, as it is large.
        source: Box<instant_acme::Error>,
    },
    /// The CA did not validate the challenge of a name.
    #[error(
        "the ACME server at {directory} did not validate the {challenge} challenge for {name}: \
         {reason}; check that {name} resolves to this server and that its {challenge} answers \
         reach it (port 80 for http-01, 443 for tls-alpn-01)"
    )]
    ChallengeFailed {
        /// The directory URL.
        directory: String,
        /// The name.
        name: String,
        /// `http-01` or `tls-alpn-01`.
        challenge: &'static str,
        /// The CA's reason, when it gave one.
        reason: String,
    },
    /// An order (account, challenges, finalization and download together) took longer than
    /// allowed: the CA hangs, or its validation cannot reach this server.
    #[error(
        "ordering a certificate for {name} from {directory} took longer than {seconds} seconds \
         and was given up"
    )]
    Timeout {
        /// The directory URL.
        directory: String,
        /// The name.
        name: String,
        /// The limit, in seconds.
        seconds: u64,
    },
    /// The CA offered no challenge of the configured type for a name.
    #[error(
        "the ACME server at {directory} offers no {challenge} challenge for {name}; configure \
         the other challenge type"
    )]
    NoSuchChallenge {
        /// The directory URL.
        directory: String,
        /// The name.
        name: String,
        /// The configured type.
        challenge: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Account credentials kept in the store cannot be read back.
    #[error(
        "the ACME account kept in the store for {directory} cannot be read: {source}; delete its \
         row from acme_account to make a new account"
    )]
    Credentials {
        /// The directory URL.
        directory: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A certificate (issued, or kept in the store) cannot be used.
    #[error("the certificate for {name} cannot be used: {reason}")]
    BadCertificate {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA file for the directory's TLS cannot be read.
    #[error(
        "the CA file {} for the ACME directory's TLS cannot be used: {reason}",
        path.display()
    )]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A challenge certificate (TLS-ALPN-01) could not be made.
    #[error("the tls-alpn-01 certificate for {name} could not be made: {source}")]
    ChallengeCertificate {
        /// The name.
        name: String,
        /// What rcgen said.
        source: rcgen::Error,
    },
}

impl AcmeError {
    /// Whether this is the caller's mistake (a name not configured), which retrying does not
    /// change; every other error is worth retrying later.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AcmeError::NotConfigured { .. })
    }
}
