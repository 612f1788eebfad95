//! The SMTP STARTTLS probe: connect to an MX host, read the banner, EHLO, STARTTLS with SNI set to
//! the MX name, and report the certificate chain, TLS version and cipher, and the verdict on each
//! count (RFC 8461 §4.2), without stopping at the first fault.
//!
//! Written by hand on tokio-rustls: an SMTP client library would stop at an invalid certificate,
//! keep only the leaf, and hide the transcript, all of which a checker needs.

mod reply;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{ServerName, UnixTime};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub use reply::Reply;

use crate::address_guard::{AddressClass, AddressGuard};
use crate::dial::{DialFailure, dial};
use crate::dns::{Dns, DnsError};
use crate::trust::{CertVerdict, Trust};

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Roots the MX certificate should chain to.
    pub trust: Trust,
    /// The SMTP port (25; the lab uses its own).
    pub port: u16,
    /// The longest wait for any one step (connect, a reply, the handshake).
    pub step_timeout: Duration,
    /// The name sent with EHLO.
    pub helo_name: String,
    /// Which addresses may be dialled.
    pub guard: AddressGuard,
}

impl ProbeConfig {
    /// Port 25, 15 s per step, any address.
    pub fn new(trust: Trust) -> ProbeConfig {
        ProbeConfig {
            trust,
            port: 25,
            step_timeout: Duration::from_secs(15),
            helo_name: "mta-sts-check.invalid".to_string(),
            guard: AddressGuard::AllowAll,
        }
    }
}

/// Which step of the session something happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Opening the TCP connection.
    Connect,
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO before TLS.
    Ehlo,
    /// The STARTTLS command.
    StartTls,
    /// The TLS handshake.
    Handshake,
    /// EHLO after TLS.
    EhloAfterTls,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Connect => "connecting",
            Step::Greeting => "waiting for the greeting",
            Step::Ehlo => "EHLO",
            Step::StartTls => "STARTTLS",
            Step::Handshake => "the TLS handshake",
            Step::EhloAfterTls => "EHLO after TLS",
        })
    }
}

/// Why the probe could not finish a TLS session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProbeError {
    /// The MX host has no address.
    #[error("the MX host has no address: {error}")]
    Dns {
        /// What DNS said.
        error: DnsError,
    },
    /// Every address is refused by the guard.
    #[error("the MX host resolves only to non-public addresses ({address} is {class:?})")]
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
        /// The operating system's reason.
        reason: String,
    },
    /// A step got no answer in time.
    #[error("no answer in time while {step}")]
    Timeout {
        /// The step.
        step: Step,
    },
    /// The server closed the connection.
    #[error("the server closed the connection while {step}")]
    Closed {
        /// The step.
        step: Step,
    },
    /// The server answered a step with an error code.
    #[error("the server answered {code} while {step}: {text}")]
    Refused {
        /// The step.
        step: Step,
        /// The reply code.
        code: u16,
        /// The reply text.
        text: String,
    },
    /// The TLS handshake failed.
    #[error("the TLS handshake failed: {reason}")]
    Tls {
        /// The TLS library's reason.
        reason: String,
    },
    /// The server broke the SMTP protocol.
    #[error("protocol error while {step}: {reason}")]
    Protocol {
        /// The step.
        step: Step,
        /// What was wrong.
        reason: String,
    },
}

/// Who said a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The probe.
    Client,
    /// The MX host.
    Server,
    /// A note about the session (TLS started, connection closed).
    Note,
}

/// One line of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

/// The TLS session after STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsSession {
    /// The TLS version (`TLSv1.3`).
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The certificate, judged for the MX host name.
    pub certificate: CertVerdict,
}

/// What the probe saw of one MX host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxProbe {
    /// The MX host name.
    pub host: String,
    /// Its addresses (empty when DNS failed).
    pub addresses: Vec<IpAddr>,
    /// The address the session ran on, if one connected.
    pub address: Option<SocketAddr>,
    /// The greeting's first line.
    pub banner: Option<String>,
    /// EHLO keywords before TLS (`STARTTLS`, `PIPELINING`, ...).
    pub ehlo: Vec<String>,
    /// Whether STARTTLS was offered.
    pub starttls_offered: bool,
    /// The TLS session, if STARTTLS succeeded.
    pub tls: Option<TlsSession>,
    /// Why the session stopped early, if it did. A host without STARTTLS is not an error here:
    /// the session ends normally with `starttls_offered` false.
    pub error: Option<ProbeError>,
    /// Every line exchanged.
    pub transcript: Vec<TranscriptLine>,
    /// Time from start to end of the session.
    pub elapsed_ms: u64,
}

/// Probes one MX host on its first address that accepts a connection.
pub async fn probe_mx(host: &str, dns: &Dns, config: &ProbeConfig) -> MxProbe {
    let started = Instant::now();
    let mut probe = MxProbe {
        host: host.to_string(),
        addresses: Vec::new(),
        address: None,
        banner: None,
        ehlo: Vec::new(),
        starttls_offered: false,
        tls: None,
        error: None,
        transcript: Vec::new(),
        elapsed_ms: 0,
    };
    let outcome = run(&mut probe, dns, config).await;
    probe.error = outcome.err();
    probe.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    probe
}

async fn run(probe: &mut MxProbe, dns: &Dns, config: &ProbeConfig) -> Result<(), ProbeError> {
    // A wait for the DNS query rate limit (a scan's) is not part of the step's time.
    let lookup = dns.addresses_paced(&probe.host).await;
    let addresses = match tokio::time::timeout(config.step_timeout, lookup).await {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(error)) => return Err(ProbeError::Dns { error }),
        Err(_) => {
            return Err(ProbeError::Dns {
                error: DnsError::Timeout,
            });
        }
    };
    probe.addresses = addresses.ips.clone();
    let (address, tcp) = connect(&addresses.ips, config).await?;
    probe.address = Some(address);
    let mut session = Session {
        buffer: Vec::new(),
        timeout: config.step_timeout,
        transcript: &mut probe.transcript,
    };
    let mut tcp = tcp;

    let greeting = session.read_reply(&mut tcp, Step::Greeting).await?;
    probe.banner = greeting.lines.first().cloned();
    if greeting.code != 220 {
        // RFC 5321 §3.1: a 554 (or a 421) greeting means the server will not talk to us.
        return Err(ProbeError::Refused {
            step: Step::Greeting,
            code: greeting.code,
            text: greeting.text(),
        });
    }
    let ehlo = session
        .command(&mut tcp, &format!("EHLO {}", config.helo_name), Step::Ehlo)
        .await?;
    if !ehlo.is_positive() {
        return Err(ProbeError::Refused {
            step: Step::Ehlo,
            code: ehlo.code,
            text: ehlo.text(),
        });
    }
    // The first line of an EHLO reply is the server's name; keywords follow (RFC 5321 §4.1.1.1).
    probe.ehlo = ehlo
        .lines
        .iter()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect();
    probe.starttls_offered = probe
        .ehlo
        .iter()
        .any(|k| k.eq_ignore_ascii_case("STARTTLS"));
    if !probe.starttls_offered {
        let _ = session.command(&mut tcp, "QUIT", Step::Ehlo).await;
        return Ok(());
    }
    let ready = session
        .command(&mut tcp, "STARTTLS", Step::StartTls)
        .await?;
    if ready.code != 220 {
        return Err(ProbeError::Refused {
            step: Step::StartTls,
            code: ready.code,
            text: ready.text(),
        });
    }
    if !session.buffer.is_empty() {
        // RFC 3207 §6 / CVE-2011-0411: bytes after the 220 would be read as if they came through
        // TLS; a server that sends them is broken or being tampered with.
        return Err(ProbeError::Protocol {
            step: Step::StartTls,
            reason: "the server sent data after its STARTTLS reply".into(),
        });
    }

    // RFC 8461 §4.2: SNI is the MX host name; the certificate must be valid for it. The session
    // completes whatever the certificate, so its verdict can be reported in full.
    let (tls_config, verifier) =
        config
            .trust
            .client_config(false, &[])
            .map_err(|e| ProbeError::Tls {
                reason: e.to_string(),
            })?;
    let server_name = ServerName::try_from(probe.host.clone()).map_err(|e| ProbeError::Tls {
        reason: e.to_string(),
    })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let mut tls = match tokio::time::timeout(
        config.step_timeout,
        connector.connect(server_name, tcp),
    )
    .await
    {
        Err(_) => {
            return Err(ProbeError::Timeout {
                step: Step::Handshake,
            });
        }
        Ok(Err(e)) => {
            return Err(ProbeError::Tls {
                reason: e.to_string(),
            });
        }
        Ok(Ok(tls)) => tls,
    };
    let (_, connection) = tls.get_ref();
    let version = connection.protocol_version().map_or_else(String::new, |v| {
        v.as_str().unwrap_or("unknown").replace('_', ".")
    });
    let cipher = connection
        .negotiated_cipher_suite()
        .map_or_else(String::new, |s| format!("{:?}", s.suite()));
    let certificate = verifier.assess(&config.trust, &probe.host, UnixTime::now());
    session.note(format!("TLS established: {version}, {cipher}"));
    probe.tls = Some(TlsSession {
        version,
        cipher,
        certificate,
    });
    // RFC 3207 §4.2: after TLS the client discards what it knew and says EHLO again.
    let after = session
        .command(
            &mut tls,
            &format!("EHLO {}", config.helo_name),
            Step::EhloAfterTls,
        )
        .await?;
    if !after.is_positive() {
        return Err(ProbeError::Refused {
            step: Step::EhloAfterTls,
            code: after.code,
            text: after.text(),
        });
    }
    let _ = session.command(&mut tls, "QUIT", Step::EhloAfterTls).await;
    let _ = tls.shutdown().await;
    Ok(())
}

async fn connect(
    ips: &[IpAddr],
    config: &ProbeConfig,
) -> Result<(SocketAddr, tokio::net::TcpStream), ProbeError> {
    dial(ips, config.port, config.guard, config.step_timeout)
        .await
        .map_err(|failure| match failure {
            DialFailure::Refused(address, reason) => ProbeError::Connect { address, reason },
            DialFailure::Blocked(address, class) => ProbeError::Blocked { address, class },
            DialFailure::Timeout => ProbeError::Timeout {
                step: Step::Connect,
            },
            DialFailure::NoAddress => ProbeError::Dns {
                error: DnsError::NoData,
            },
        })
}

/// The reading side of a session: a buffer that outlives one reply, and the transcript.
struct Session<'t> {
    buffer: Vec<u8>,
    timeout: Duration,
    transcript: &'t mut Vec<TranscriptLine>,
}

impl Session<'_> {
    fn note(&mut self, text: String) {
        self.transcript.push(TranscriptLine {
            speaker: Speaker::Note,
            text,
        });
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        line: &str,
        step: Step,
    ) -> Result<Reply, ProbeError> {
        self.transcript.push(TranscriptLine {
            speaker: Speaker::Client,
            text: line.to_string(),
        });
        let write = async {
            stream.write_all(format!("{line}\r\n").as_bytes()).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => return Err(ProbeError::Timeout { step }),
            Ok(Err(_)) => return Err(ProbeError::Closed { step }),
            Ok(Ok(())) => {}
        }
        self.read_reply(stream, step).await
    }

    async fn read_reply<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        step: Step,
    ) -> Result<Reply, ProbeError> {
        loop {
            match reply::parse(&self.buffer) {
                Ok(Some((reply, used))) => {
                    self.buffer.drain(..used);
                    for line in &reply.lines {
                        self.transcript.push(TranscriptLine {
                            speaker: Speaker::Server,
                            text: format!("{} {line}", reply.code),
                        });
                    }
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(reason) => return Err(ProbeError::Protocol { step, reason }),
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout(self.timeout, stream.read(&mut chunk)).await {
                Err(_) => return Err(ProbeError::Timeout { step }),
                Ok(Err(_)) | Ok(Ok(0)) => {
                    self.note("connection closed by the server".into());
                    return Err(ProbeError::Closed { step });
                }
                Ok(Ok(n)) => n,
            };
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}
