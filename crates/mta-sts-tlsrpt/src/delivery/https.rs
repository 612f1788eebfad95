//! HTTPS POST of the gzip report (RFC 8460 §5.4). One call is one attempt; the outbox retries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use mta_sts_net::trust::Trust;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::settings::HttpsSettings;
use super::{DeliveryFailure, Permanence};
use crate::TlsRptError;

/// RFC 8460 §6.4: the media type of a gzip report.
pub const TLSRPT_GZIP: &str = "application/tlsrpt+gzip";

/// A client for `https:` destinations.
#[derive(Clone)]
pub struct HttpsUploader {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for HttpsUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsUploader")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpsUploader {
    /// Reads the CA file and sets up TLS.
    pub fn new(settings: &HttpsSettings) -> Result<HttpsUploader, TlsRptError> {
        let bad = |message: String| TlsRptError::DeliverySetting {
            key: "https.ca_file",
            message,
        };
        let trust = match &settings.ca_file {
            Some(path) => Trust::web_pki_and_pem_file(path).map_err(|e| bad(e.to_string()))?,
            None => Trust::web_pki(),
        };
        let config = trust
            .verifying_client_config()
            .map_err(|e| bad(e.to_string()))?;
        if settings.timeout == 0 {
            return Err(TlsRptError::DeliverySetting {
                key: "https.timeout",
                message: "0 seconds leaves no time to upload; give at least 1".into(),
            });
        }
        Ok(HttpsUploader {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout: Duration::from_secs(settings.timeout),
        })
    }

    /// One attempt: POSTs `gzip` to `url`; Ok on a 2xx answer. Redirects are not followed
    /// (a 3xx is a failure that names the new place).
    pub async fn post(&self, url: &str, gzip: &[u8]) -> Result<(), DeliveryFailure> {
        match tokio::time::timeout(self.timeout, self.attempt(url, gzip)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryFailure::new(
                url,
                Permanence::Temporary,
                format!(
                    "{url} gave no answer within {} seconds",
                    self.timeout.as_secs()
                ),
            )),
        }
    }

    async fn attempt(&self, url: &str, gzip: &[u8]) -> Result<(), DeliveryFailure> {
        let permanent = |message: String| DeliveryFailure::new(url, Permanence::Permanent, message);
        let temporary = |message: String| DeliveryFailure::new(url, Permanence::Temporary, message);
        let uri: Uri = url
            .parse()
            .map_err(|e| permanent(format!("`{url}` is not a URL: {e}")))?;
        // RFC 8460 §3: `rua` upload URIs are https.
        if uri.scheme_str() != Some("https") {
            return Err(permanent(format!("`{url}` is not an https:// URL")));
        }
        let host = uri
            .host()
            .ok_or_else(|| permanent(format!("`{url}` names no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let authority = uri
            .authority()
            .map_or_else(|| host.clone(), |a| a.to_string());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, authority)
            // RFC 8460 §5.4: "application/tlsrpt+gzip" for the compressed report.
            .header(header::CONTENT_TYPE, TLSRPT_GZIP)
            .header(
                header::USER_AGENT,
                concat!("mta-sts/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::copy_from_slice(gzip)))
            .map_err(|e| permanent(format!("the request to {url} could not be built: {e}")))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| temporary(format!("connecting to {url} failed: {e}")))?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| permanent(format!("`{host}` is not a TLS server name: {e}")))?;
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| temporary(format!("the TLS handshake with {url} failed: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| temporary(format!("HTTP with {url} failed: {e}")))?;
        // The connection is driven beside the one request and ends with it.
        let driver = tokio::spawn(connection);
        let result = sender.send_request(request).await;
        driver.abort();
        let response = result.map_err(|e| temporary(format!("HTTP with {url} failed: {e}")))?;
        let status = response.status();
        // RFC 8460 §5.4: any 2xx is success.
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| format!(" (redirected to {l}, which is not followed)"))
            .unwrap_or_default();
        let permanence = status_permanence(status);
        let mut failure = DeliveryFailure::new(
            url,
            permanence,
            format!("{url} answered {status}{location}"),
        );
        failure.retry_after = retry_after.map(Duration::from_secs);
        Err(failure)
    }
}

/// A 4xx (but 408 Request Timeout, 429 Too Many Requests) will be the same next time.
fn status_permanence(status: StatusCode) -> Permanence {
    if status.is_client_error()
        && status != StatusCode::REQUEST_TIMEOUT
        && status != StatusCode::TOO_MANY_REQUESTS
    {
        Permanence::Permanent
    } else {
        Permanence::Temporary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_but_timeouts_and_throttling() {
        assert_eq!(
            status_permanence(StatusCode::BAD_REQUEST),
            Permanence::Permanent
        );
        assert_eq!(
            status_permanence(StatusCode::NOT_FOUND),
            Permanence::Permanent
        );
        assert_eq!(
            status_permanence(StatusCode::PAYLOAD_TOO_LARGE),
            Permanence::Permanent
        );
        assert_eq!(
            status_permanence(StatusCode::REQUEST_TIMEOUT),
            Permanence::Temporary
        );
        assert_eq!(
            status_permanence(StatusCode::TOO_MANY_REQUESTS),
            Permanence::Temporary
        );
        assert_eq!(
            status_permanence(StatusCode::SERVICE_UNAVAILABLE),
            Permanence::Temporary
        );
        assert_eq!(
            status_permanence(StatusCode::MOVED_PERMANENTLY),
            Permanence::Temporary
        );
    }
}
