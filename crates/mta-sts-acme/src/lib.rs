//! Certificates for `mta-sts.<domain>` by ACME (RFC 8555): HTTP-01 and TLS-ALPN-01 (RFC 8737),
//! issued only for configured names, renewed at two thirds of their lifetime, and kept with the
//! account in the store so that several hosts share them.

mod challenges;

pub use challenges::Challenges;

/// The ALPN protocol name of TLS-ALPN-01 (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
