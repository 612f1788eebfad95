//! The webhook: one HTTPS (or, for a receiver on the same host, HTTP) POST of the alert's JSON
//! body, signed (see [`crate::signature`]). One call is one attempt; the queue retries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use mta_sts_core::Timestamp;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::Alert;
use crate::error::AlertError;
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use crate::signature::{SIGNATURE_HEADER, SigningKey, TIMESTAMP_HEADER};

/// The header naming the alert (`DOMAIN/CONDITION/PERIOD`), the same on every attempt.
pub const ALERT_ID_HEADER: &str = "mta-sts-alert-id";

/// `[alerts.webhook]`: where and how alerts are POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The receiver, `https://HOST[:PORT]/PATH` (`http://` only for a receiver on loopback).
    pub url: String,
    /// The shared secret the body is signed with: from this file (its bytes, a final newline
    /// dropped)...
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// ...or from this environment variable.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Extra trusted roots (PEM) for a receiver with a private CA; the Web PKI is trusted too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds one attempt may take, connection to answer.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// How failed attempts are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_timeout() -> u64 {
    10
}

/// A webhook ready to POST to.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    key: SigningKey,
    timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Checks the settings and reads the secret and CA file.
    pub fn new(settings: &WebhookSettings) -> Result<Webhook, AlertError> {
        let bad = |message: String| AlertError::Setting {
            key: "alerts.webhook.url",
            message,
        };
        let uri: Uri = settings
            .url
            .parse()
            .map_err(|e| bad(format!("`{}` is not a URL: {e}", settings.url)))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad(format!("`{}` is not an http(s):// URL", settings.url))),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad(format!("`{}` names no host", settings.url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !https && !is_loopback(&host) {
            return Err(bad(format!(
                "`{}` would send alerts unencrypted across the network; use https://, or \
                 http:// only to a receiver on this host (localhost, 127.0.0.1, ::1)",
                settings.url
            )));
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let secret = Secret::load(
            "alerts.webhook",
            "webhook secret",
            settings.secret_file.as_deref(),
            settings.secret_env.as_deref(),
        )?;
        if secret.expose().is_empty() {
            return Err(AlertError::Setting {
                key: "alerts.webhook",
                message: "the webhook secret is empty; give at least 32 random bytes".into(),
            });
        }
        let tls = if https {
            Some(tls_connector(settings.ca_file.as_deref())?)
        } else {
            None
        };
        if settings.timeout == 0 {
            return Err(AlertError::Setting {
                key: "alerts.webhook.timeout",
                message: "0 seconds leaves no time to deliver; give at least 1".into(),
            });
        }
        Ok(Webhook {
            url: settings.url.clone(),
            uri,
            host,
            port,
            tls,
            key: SigningKey::new(secret.expose()),
            timeout: Duration::from_secs(settings.timeout),
        })
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One attempt: POSTs `alert` signed at `now`; Ok on a 2xx answer.
    pub async fn deliver(&self, alert: &Alert, now: Timestamp) -> Result<(), AlertError> {
        match tokio::time::timeout(self.timeout, self.post(alert, now)).await {
            Ok(result) => result,
            Err(_) => Err(self.unreachable(format!(
                "no answer within {} seconds",
                self.timeout.as_secs()
            ))),
        }
    }

    async fn post(&self, alert: &Alert, now: Timestamp) -> Result<(), AlertError> {
        let body = alert.to_json();
        let timestamp = now.unix_seconds();
        let signature = self.key.sign(timestamp, &body);
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let authority = self
            .uri
            .authority()
            .map_or_else(|| self.host.clone(), |a| a.as_str().to_string());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("mta-sts/", env!("CARGO_PKG_VERSION")),
            )
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(ALERT_ID_HEADER, header_safe(&alert.id()))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.unreachable(format!("the request could not be built: {e}")))?;
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.unreachable(format!("connecting failed: {e}")))?;
        let status_and_retry = match &self.tls {
            Some(connector) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| self.unreachable(format!("not a TLS server name: {e}")))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| self.unreachable(format!("the TLS handshake failed: {e}")))?;
                self.exchange(stream, request).await?
            }
            None => self.exchange(tcp, request).await?,
        };
        let (status, retry_after) = status_and_retry;
        if status.is_success() {
            Ok(())
        } else {
            Err(AlertError::WebhookStatus {
                url: self.url.clone(),
                status,
                retry_after,
            })
        }
    }

    async fn exchange<S>(
        &self,
        stream: S,
        request: Request<Full<Bytes>>,
    ) -> Result<(http::StatusCode, Option<u64>), AlertError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(format!("HTTP failed: {e}")))?;
        // The connection is driven beside the request and ends with it (the sender is dropped
        // when this returns); the answer's body is not read.
        let driver = tokio::spawn(connection);
        let result = sender.send_request(request).await;
        driver.abort();
        let response = result.map_err(|e| self.unreachable(format!("HTTP failed: {e}")))?;
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok((response.status(), retry_after))
    }

    fn unreachable(&self, message: String) -> AlertError {
        AlertError::WebhookUnreachable {
            url: self.url.clone(),
            message,
        }
    }
}

/// `text` as an HTTP header value: visible ASCII and space as they are, every other byte (and
/// `%`) percent-encoded. An organisation's name, from a stranger's report, can hold anything.
fn header_safe(text: &str) -> String {
    let mut value = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (b' '..=b'~').contains(&byte) && byte != b'%' {
            value.push(char::from(byte));
        } else {
            value.push_str(&format!("%{byte:02X}"));
        }
    }
    value
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The Web PKI roots plus those of `ca_file`, with ring as the crypto provider.
fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::TlsConnector, AlertError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| AlertError::ReadFile {
            what: "the webhook's CA certificates",
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |message: String| AlertError::Setting {
            key: "alerts.webhook.ca_file",
            message: format!("{}: {message}", path.display()),
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(format!("not PEM certificates: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("an unusable root certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no certificate in it".into()));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| AlertError::Setting {
        key: "alerts.webhook",
        message: format!("TLS cannot be set up: {e}"),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_visible_ascii() {
        assert_eq!(
            header_safe("example.com/failures/2026-12-07"),
            "example.com/failures/2026-12-07"
        );
        assert_eq!(header_safe("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(header_safe("Почта"), "%D0%9F%D0%BE%D1%87%D1%82%D0%B0");
        assert!(http::HeaderValue::from_str(&header_safe("x\u{7f}\u{0}é")).is_ok());
    }
}
