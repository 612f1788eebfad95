//! Certificates for `mta-sts.<domain>` by ACME (RFC 8555): HTTP-01 and TLS-ALPN-01 (RFC 8737),
//! issued only for configured names, renewed at two thirds of their lifetime, and kept with the
//! account in the store so that several hosts share them.
//!
//! - [`AcmeIssuer`] orders a certificate for one of its configured names (never another),
//!   answering the CA's challenge through [`Challenges`], which the server's listeners read.
//!   The account (one per directory) and the certificates are kept in the report store; an
//!   issuance lease there keeps two servers from ordering the same name at once.
//! - [`keep_certificates`] keeps every name's certificate current: from the store at start,
//!   renewed at [`AcmeSettings::renew_at`] of its lifetime, failures retried with exponential
//!   backoff and jitter, and an [`ExpiryWarning`] once a certificate nears its end unrenewed.

mod alpn_certificate;
mod challenges;
mod error;
mod issued;
mod issuer;
mod keeper;
mod schedule;
mod settings;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use alpn_certificate::tls_alpn01_certificate;
pub use challenges::Challenges;
pub use error::AcmeError;
pub use issued::IssuedCertificate;
pub use issuer::{AcmeIssuer, Obtained};
pub use keeper::{CertificateSink, ExpiryWarning, keep_certificates};
pub use schedule::{backoff, point_in_lifetime};
pub use settings::{AcmeSettings, ChallengeKind};

/// The ALPN protocol name of TLS-ALPN-01 (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
