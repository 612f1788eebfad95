//! The policy fetch of RFC 8461 §3.3: `GET https://mta-sts.<domain>/.well-known/mta-sts.txt`.
//!
//! Written on hyper's connection API over a TCP stream and a TLS session of our own, so that the
//! address actually dialled can be checked by the address guard, the TLS failure is known exactly
//! (not as a string inside an HTTP client's error), and the body cap is enforced while streaming.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, USER_AGENT,
};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{ServerName, UnixTime};
use serde::Serialize;

use crate::address_guard::{AddressClass, AddressGuard};
use crate::dial::{DialFailure, dial};
use crate::dns::{Dns, DnsError};
use crate::trust::{CertVerdict, Trust};

/// RFC 8461 §3.3: "senders SHOULD ... limit the response body to 64 KiB".
pub const MAX_POLICY_BODY: usize = 64 * 1024;

/// The well-known path of the policy (RFC 8461 §3.3).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Roots the policy host's certificate must chain to.
    pub trust: Trust,
    /// The HTTPS port (443; the lab uses its own).
    pub port: u16,
    /// The whole fetch, DNS to last byte (RFC 8461 §3.3 suggests a minute at most).
    pub timeout: Duration,
    /// The body cap; more than this is a failure.
    pub max_body: usize,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// Which addresses may be dialled.
    pub guard: AddressGuard,
}

impl FetchConfig {
    /// Port 443, 20 s, 64 KiB, any address.
    pub fn new(trust: Trust) -> FetchConfig {
        FetchConfig {
            trust,
            port: 443,
            timeout: Duration::from_secs(20),
            max_body: MAX_POLICY_BODY,
            user_agent: concat!("mta-sts/", env!("CARGO_PKG_VERSION")).to_string(),
            guard: AddressGuard::AllowAll,
        }
    }
}

/// A policy fetched with status 200 and a `text/plain` body.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFetch {
    /// The URL fetched.
    pub url: String,
    /// The address that answered.
    pub address: SocketAddr,
    /// CNAMEs followed from `mta-sts.<domain>`.
    pub cname_chain: Vec<String>,
    /// The negotiated TLS version (`TLSv1.3`).
    pub tls_version: String,
    /// The negotiated cipher suite.
    pub cipher: String,
    /// The policy host's certificate, judged.
    pub certificate: CertVerdict,
    /// The `Content-Type` header as sent.
    pub content_type: String,
    /// The body (at most `max_body` bytes); not serialized: a report shows it as text.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Time from start to last byte.
    pub elapsed_ms: u64,
}

/// Which step a timeout hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Resolving `mta-sts.<domain>`.
    Dns,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Sending the request and waiting for the response head.
    Response,
    /// Reading the body.
    Body,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Dns => "resolving the policy host",
            Phase::Connect => "connecting",
            Phase::Tls => "the TLS handshake",
            Phase::Response => "waiting for the response",
            Phase::Body => "reading the body",
        })
    }
}

/// Why no usable policy came back. Every variant is a reason a sender would not use the policy.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FetchError {
    /// `mta-sts.<domain>` has no address.
    #[error("the policy host has no address: {error}")]
    Dns {
        /// What DNS said.
        error: DnsError,
    },
    /// Every address is one the guard refuses (a private or loopback address on a public checker).
    #[error("the policy host resolves only to non-public addresses ({address} is {class:?})")]
    Blocked {
        /// The first refused address.
        address: IpAddr,
        /// Its class.
        class: AddressClass,
    },
    /// No address accepted a connection.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The last address tried.
        address: SocketAddr,
        /// The operating system's reason (refused, unreachable).
        reason: String,
    },
    /// The certificate does not chain to a trusted root (self-signed, private CA).
    #[error("the policy host's certificate is not trusted: {}", .verdict.trust_error.as_deref().unwrap_or("unknown issuer"))]
    CertUntrusted {
        /// The chain and its verdict.
        verdict: CertVerdict,
    },
    /// The certificate is not valid for `mta-sts.<domain>`.
    #[error("the policy host's certificate is not valid for {host}")]
    CertNameMismatch {
        /// The name the certificate should cover.
        host: String,
        /// The chain and its verdict.
        verdict: CertVerdict,
    },
    /// The certificate has expired (or is not yet valid).
    #[error("the policy host's certificate is expired or not yet valid")]
    CertExpired {
        /// The chain and its verdict.
        verdict: CertVerdict,
    },
    /// The TLS handshake failed for another reason (no shared cipher, alert, not TLS at all).
    #[error("the TLS handshake failed: {reason}")]
    TlsHandshake {
        /// The TLS library's reason.
        reason: String,
    },
    /// RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
    #[error("the server redirects ({status}) to {}; redirects must not be followed", .location.as_deref().unwrap_or("nowhere"))]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
    },
    /// RFC 8461 §3.3: only a 200 response counts.
    #[error("the server answered HTTP {status}, not 200")]
    HttpStatus {
        /// The status.
        status: u16,
    },
    /// RFC 8461 §3.3: the media type should be `text/plain` (and widely deployed senders insist).
    #[error("the media type is {}, not text/plain", .content_type.as_deref().unwrap_or("missing"))]
    MediaType {
        /// The `Content-Type` header, if any.
        content_type: Option<String>,
        /// The body as far as read (capped), so a checker can say what was served instead.
        body: Vec<u8>,
    },
    /// The body is larger than the cap.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The body is not UTF-8.
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    /// A step took longer than the time left.
    #[error("timed out while {phase}")]
    Timeout {
        /// Which step.
        phase: Phase,
    },
    /// The server broke HTTP.
    #[error("HTTP error: {reason}")]
    Http {
        /// What went wrong.
        reason: String,
    },
}

impl FetchError {
    /// The RFC 8460 §4.3.2.2 result type a sender reports for this failure.
    pub fn tlsrpt_result_type(&self) -> &'static str {
        match self {
            FetchError::CertUntrusted { .. }
            | FetchError::CertNameMismatch { .. }
            | FetchError::CertExpired { .. } => "sts-webpki-invalid",
            FetchError::NotUtf8 => "sts-policy-invalid",
            _ => "sts-policy-fetch-error",
        }
    }
}

/// Fetches the policy of `domain` (already normalised to A-labels).
pub async fn fetch_policy(
    domain: &str,
    dns: &Dns,
    config: &FetchConfig,
) -> Result<PolicyFetch, FetchError> {
    let host = format!("mta-sts.{domain}");
    let url = if config.port == 443 {
        format!("https://{host}{POLICY_PATH}")
    } else {
        format!("https://{host}:{}{POLICY_PATH}", config.port)
    };
    // A wait for the DNS query rate limit (a scan's) is not part of the fetch's time.
    let lookup = dns.addresses_paced(&host).await;
    let started = Instant::now();
    let deadline = started + config.timeout;

    let addresses = within(deadline, Phase::Dns, lookup)
        .await?
        .map_err(|error| FetchError::Dns { error })?;

    let left = deadline.saturating_duration_since(Instant::now());
    let (address, tcp) = match dial(&addresses.ips, config.port, config.guard, left).await {
        Ok(connected) => connected,
        Err(DialFailure::Refused(address, reason)) => {
            return Err(FetchError::Connect { address, reason });
        }
        Err(DialFailure::Blocked(address, class)) => {
            return Err(FetchError::Blocked { address, class });
        }
        Err(DialFailure::Timeout) => {
            return Err(FetchError::Timeout {
                phase: Phase::Connect,
            });
        }
        Err(DialFailure::NoAddress) => {
            return Err(FetchError::Dns {
                error: DnsError::NoData,
            });
        }
    };

    // RFC 8461 §3.3: the certificate must be valid for mta-sts.<domain> (SNI is that name).
    let (tls_config, verifier) = config
        .trust
        .client_config(true, &[b"http/1.1"])
        .map_err(|e| FetchError::TlsHandshake {
            reason: e.to_string(),
        })?;
    let server_name = ServerName::try_from(host.clone()).map_err(|e| FetchError::TlsHandshake {
        reason: e.to_string(),
    })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let tls = match within(deadline, Phase::Tls, connector.connect(server_name, tcp)).await? {
        Ok(tls) => tls,
        Err(e) => {
            let chain = verifier.chain();
            if chain.is_empty() {
                return Err(FetchError::TlsHandshake {
                    reason: e.to_string(),
                });
            }
            let verdict = config.trust.assess(&chain, &host, UnixTime::now());
            return Err(classify_certificate(verdict, &host, e.to_string()));
        }
    };
    let (_, session) = tls.get_ref();
    let tls_version = session.protocol_version().map_or_else(String::new, |v| {
        v.as_str().unwrap_or("unknown").replace('_', ".")
    });
    let cipher = session
        .negotiated_cipher_suite()
        .map_or_else(String::new, |s| format!("{:?}", s.suite()));
    let certificate = verifier.assess(&config.trust, &host, UnixTime::now());

    let (mut sender, connection) = within(
        deadline,
        Phase::Response,
        hyper::client::conn::http1::handshake(TokioIo::new(tls)),
    )
    .await?
    .map_err(|e| FetchError::Http {
        reason: e.to_string(),
    })?;
    // The connection future drives the socket; it ends when the response is read or dropped.
    let driver = tokio::spawn(connection);
    let request = http::Request::get(POLICY_PATH)
        .header(HOST, &host)
        .header(USER_AGENT, &config.user_agent)
        .header(ACCEPT, "text/plain")
        // RFC 8461 §3.3: HTTP caching MUST NOT be used; ask intermediaries not to answer from one.
        .header(CACHE_CONTROL, "no-cache")
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Http {
            reason: e.to_string(),
        })?;
    let result = read_response(&mut sender, request, deadline, config).await;
    driver.abort();
    let (content_type, body) = result?;

    Ok(PolicyFetch {
        url,
        address,
        cname_chain: addresses.cname_chain,
        tls_version,
        cipher,
        certificate,
        content_type,
        body,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

async fn read_response(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    request: http::Request<Empty<Bytes>>,
    deadline: Instant,
    config: &FetchConfig,
) -> Result<(String, Vec<u8>), FetchError> {
    let response = within(deadline, Phase::Response, sender.send_request(request))
        .await?
        .map_err(|e| FetchError::Http {
            reason: e.to_string(),
        })?;
    let status = response.status().as_u16();
    if response.status().is_redirection() {
        // RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        return Err(FetchError::Redirect { status, location });
    }
    if status != 200 {
        // RFC 8461 §3.3: only "HTTP 200 OK" responses are valid.
        return Err(FetchError::HttpStatus { status });
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let declared_length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > config.max_body as u64) {
        return Err(FetchError::TooLarge {
            limit: config.max_body,
        });
    }
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = within(deadline, Phase::Body, body.frame()).await? {
        let frame = frame.map_err(|e| FetchError::Http {
            reason: e.to_string(),
        })?;
        if let Ok(data) = frame.into_data() {
            // The cap is enforced as bytes arrive, never after buffering everything.
            if bytes.len() + data.len() > config.max_body {
                return Err(FetchError::TooLarge {
                    limit: config.max_body,
                });
            }
            bytes.extend_from_slice(&data);
        }
    }
    // RFC 8461 §3.3: senders SHOULD check the media type is text/plain; only the charset
    // parameter may follow it.
    let is_text_plain = content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/plain"))
    });
    if !is_text_plain {
        return Err(FetchError::MediaType {
            content_type,
            body: bytes,
        });
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(FetchError::NotUtf8);
    }
    Ok((content_type.unwrap_or_default(), bytes))
}

/// Picks the failure class of a refused certificate: untrusted first (nothing else about the
/// certificate matters if anyone could have made it), then validity dates, then the name.
fn classify_certificate(verdict: CertVerdict, host: &str, handshake_error: String) -> FetchError {
    if !verdict.trusted {
        FetchError::CertUntrusted { verdict }
    } else if verdict.expired || verdict.not_yet_valid {
        FetchError::CertExpired { verdict }
    } else if !verdict.name_matches {
        FetchError::CertNameMismatch {
            host: host.to_string(),
            verdict,
        }
    } else {
        FetchError::TlsHandshake {
            reason: handshake_error,
        }
    }
}

/// Runs a step with whatever time is left before the deadline.
async fn within<T>(
    deadline: Instant,
    phase: Phase,
    step: impl Future<Output = T>,
) -> Result<T, FetchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, step)
        .await
        .map_err(|_| FetchError::Timeout { phase })
}
