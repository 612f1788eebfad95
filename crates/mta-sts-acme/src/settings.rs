//! What the ACME engine is told: where the CA is, how to prove control, when to renew.

use std::path::PathBuf;
use std::time::Duration;

/// How control of a name is proven to the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChallengeKind {
    /// HTTP-01 (RFC 8555 §8.3): the CA fetches `http://<name>/.well-known/acme-challenge/
    /// <token>` on port 80, which the server's plain HTTP listener answers.
    #[default]
    Http01,
    /// TLS-ALPN-01 (RFC 8737): the CA connects to port 443 offering only ALPN `acme-tls/1`,
    /// which the server's TLS listener answers with a challenge certificate.
    TlsAlpn01,
}

impl ChallengeKind {
    /// The name in configuration and in RFC 8555's registry: `http-01`, `tls-alpn-01`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }

    /// Reads a name written by [`ChallengeKind::as_str`].
    pub fn from_name(name: &str) -> Option<ChallengeKind> {
        [ChallengeKind::Http01, ChallengeKind::TlsAlpn01]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    pub(crate) fn acme_type(self) -> instant_acme::ChallengeType {
        match self {
            ChallengeKind::Http01 => instant_acme::ChallengeType::Http01,
            ChallengeKind::TlsAlpn01 => instant_acme::ChallengeType::TlsAlpn01,
        }
    }
}

/// The ACME engine's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeSettings {
    /// The directory URL, e.g. Let's Encrypt's.
    pub directory: String,
    /// Contact URIs for the account (`mailto:...`); may be empty.
    pub contact: Vec<String>,
    /// A CA file (PEM) trusted for the directory's own TLS instead of the system's roots: a
    /// private CA, or a test CA such as pebble's.
    pub ca_file: Option<PathBuf>,
    /// How control of the names is proven.
    pub challenge: ChallengeKind,
    /// The fraction of a certificate's lifetime after which it is renewed (2/3).
    pub renew_at: f64,
    /// The fraction of a certificate's lifetime after which a certificate not yet renewed is
    /// an alert (5/6: a sixth of its lifetime left).
    pub warn_at: f64,
    /// The first wait after a failed order; doubled per further failure.
    pub retry_first: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// How long an order may take, challenges and finalization included.
    pub order_timeout: Duration,
}

impl AcmeSettings {
    /// The defaults for `directory`: HTTP-01, renewal at 2/3 of the lifetime, an alert at 5/6,
    /// retries from one minute up to six hours, orders given two minutes.
    pub fn new(directory: impl Into<String>) -> AcmeSettings {
        AcmeSettings {
            directory: directory.into(),
            contact: Vec::new(),
            ca_file: None,
            challenge: ChallengeKind::default(),
            renew_at: 2.0 / 3.0,
            warn_at: 5.0 / 6.0,
            retry_first: Duration::from_secs(60),
            retry_max: Duration::from_secs(6 * 3600),
            order_timeout: Duration::from_secs(120),
        }
    }
}
