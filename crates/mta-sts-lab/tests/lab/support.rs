//! Minimal clients for the lab's servers: DNS over UDP/TCP, HTTP/1.1 over TLS or TCP, SMTP.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, SystemTime},
};

use hickory_proto::{
    op::{Edns, Message, Query},
    rr::{Name, RecordType},
};
use mta_sts_lab::{Lab, POLICY_PATH};
use rustls::{
    ClientConfig, RootCertStore,
    client::danger::ServerCertVerifier,
    crypto::ring::default_provider,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
    time_provider::TimeProvider,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpStream, UdpSocket},
};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// Generous for loopback, short enough that a hung server fails the test quickly.
pub const STEP: Duration = Duration::from_secs(5);

// ---- DNS ------------------------------------------------------------------------------------

/// What a query asks of a validating resolver, beyond the answer itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ask {
    /// AD=1 in the query (RFC 6840 §5.7).
    pub ad: bool,
    /// An OPT record with DO=1 (RFC 4035 §3.2.1).
    pub dnssec_ok: bool,
}

fn query_bytes(name: &str, rtype: RecordType, ask: Ask) -> (u16, Vec<u8>) {
    let mut message = Message::query();
    message.add_query(Query::query(
        Name::from_ascii(name).expect("valid test name"),
        rtype,
    ));
    message.metadata.authentic_data = ask.ad;
    if ask.dnssec_ok {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.flags_mut().dnssec_ok = true;
        message.set_edns(edns);
    }
    let id = message.metadata.id;
    (id, message.to_vec().expect("query encodes"))
}

/// One query over UDP; `None` if no answer came within `wait`.
pub async fn dns_udp(lab: &Lab, name: &str, rtype: RecordType, wait: Duration) -> Option<Message> {
    dns_udp_asking(lab, name, rtype, Ask::default(), wait).await
}

/// One query over UDP that must be answered, asking for `ask`.
pub async fn dns_asking(lab: &Lab, name: &str, rtype: RecordType, ask: Ask) -> Message {
    dns_udp_asking(lab, name, rtype, ask, STEP)
        .await
        .unwrap_or_else(|| panic!("no DNS answer for {name} {rtype}"))
}

async fn dns_udp_asking(
    lab: &Lab,
    name: &str,
    rtype: RecordType,
    ask: Ask,
    wait: Duration,
) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind UDP client");
    let (id, bytes) = query_bytes(name, rtype, ask);
    socket
        .send_to(&bytes, lab.dns_addr())
        .await
        .expect("send query");
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .expect("receive answer");
    let answer = Message::from_vec(&buf[..n]).expect("answer decodes");
    assert_eq!(answer.metadata.id, id, "answer id matches the query");
    Some(answer)
}

/// One query over UDP that must be answered.
pub async fn dns(lab: &Lab, name: &str, rtype: RecordType) -> Message {
    dns_udp(lab, name, rtype, STEP)
        .await
        .unwrap_or_else(|| panic!("no DNS answer for {name} {rtype}"))
}

/// One query over TCP (RFC 1035 §4.2.2: two-byte length prefix).
pub async fn dns_tcp(lab: &Lab, name: &str, rtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(lab.dns_addr())
        .await
        .expect("connect DNS over TCP");
    let (id, bytes) = query_bytes(name, rtype, Ask::default());
    let len = u16::try_from(bytes.len()).expect("short query");
    stream.write_all(&len.to_be_bytes()).await.expect("write");
    stream.write_all(&bytes).await.expect("write");
    let mut len = [0u8; 2];
    tokio::time::timeout(STEP, stream.read_exact(&mut len))
        .await
        .expect("TCP answer in time")
        .expect("read length");
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.expect("read answer");
    let answer = Message::from_vec(&buf).expect("answer decodes");
    assert_eq!(answer.metadata.id, id);
    answer
}

// ---- TLS --------------------------------------------------------------------------------------

/// A time provider fixed at now + `ahead`, to look at certificates from the future.
#[derive(Debug)]
struct Ahead(Duration);

impl TimeProvider for Ahead {
    fn current_time(&self) -> Option<UnixTime> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?;
        Some(UnixTime::since_unix_epoch(now + self.0))
    }
}

/// A client trusting only the lab CA, whose clock runs `ahead` of real time.
pub fn client_config_at(lab: &Lab, alpn: &[&[u8]], ahead: Duration) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(lab.ca_pem().as_bytes()).expect("CA PEM parses");
    roots.add(ca).expect("CA is a usable root");
    let mut config =
        ClientConfig::builder_with_details(Arc::new(default_provider()), Arc::new(Ahead(ahead)))
            .with_safe_default_protocol_versions()
            .expect("ring supports the defaults")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client trusting only the lab CA.
pub fn client_config(lab: &Lab, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    client_config_at(lab, alpn, Duration::ZERO)
}

/// A client that accepts any certificate (to reach what lies behind a bad one).
pub fn insecure_config() -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the defaults")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAnything;

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS client handshake over `io` with SNI `host`.
pub async fn tls_connect<S>(
    config: Arc<ClientConfig>,
    host: &str,
    io: S,
) -> io::Result<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_owned()).expect("valid SNI name");
    tokio::time::timeout(STEP, TlsConnector::from(config).connect(name, io))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// The certificate problem behind a failed handshake, if that was the cause.
pub fn cert_error(error: &io::Error) -> Option<rustls::CertificateError> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(e) => Some(e.clone()),
        _ => None,
    }
}

// ---- HTTP -------------------------------------------------------------------------------------

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `Connection: close`, reading to EOF.
pub async fn http_get<S>(mut io: S, host: &str, path: &str) -> io::Result<HttpResponse>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    io.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // A TLS peer that closes without close_notify is fine here: we only want the bytes.
    match io.read_to_end(&mut raw).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Fetches the policy of `host` over HTTPS at `ip`, with SNI and `Host` = `host`.
pub async fn https_get(
    lab: &Lab,
    config: Arc<ClientConfig>,
    ip: IpAddr,
    host: &str,
    path: &str,
) -> io::Result<HttpResponse> {
    let tcp = TcpStream::connect(SocketAddr::new(ip, lab.https_port())).await?;
    let tls = tls_connect(config, host, tcp).await?;
    tokio::time::timeout(STEP, http_get(tls, host, path))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// Fetches `host`'s policy from the shared HTTPS listener, trusting the lab CA.
pub async fn fetch_policy(lab: &Lab, host: &str) -> io::Result<HttpResponse> {
    let config = client_config(lab, &[b"http/1.1"]);
    https_get(lab, config, [127, 0, 0, 1].into(), host, POLICY_PATH).await
}

// ---- SMTP -------------------------------------------------------------------------------------

/// An SMTP client connection over any stream.
pub struct Smtp<S> {
    pub conn: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    pub fn new(stream: S) -> Self {
        Self {
            conn: BufReader::new(stream),
        }
    }

    /// Reads one (possibly multi-line) reply: its code and its lines' texts.
    pub async fn reply(&mut self) -> io::Result<(u16, Vec<String>)> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(STEP, self.conn.read_line(&mut line))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| io::Error::other(format!("bad reply line {line:?}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if !more {
                return Ok((code, lines));
            }
        }
    }

    /// Sends one command line and reads the reply.
    pub async fn command(&mut self, line: &str) -> io::Result<(u16, Vec<String>)> {
        self.conn
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.reply().await
    }
}

/// Connects to the SMTP port at `ip`.
pub async fn smtp_connect(lab: &Lab, ip: IpAddr) -> io::Result<Smtp<TcpStream>> {
    let tcp = TcpStream::connect(SocketAddr::new(ip, lab.smtp_port())).await?;
    Ok(Smtp::new(tcp))
}

/// Greeting, EHLO, STARTTLS and a TLS handshake with SNI `host`, on the shared listener.
pub async fn smtp_starttls(
    lab: &Lab,
    config: Arc<ClientConfig>,
    host: &str,
) -> io::Result<Smtp<TlsStream<TcpStream>>> {
    let mut smtp = smtp_connect(lab, [127, 0, 0, 1].into()).await?;
    let (code, _) = smtp.reply().await?;
    assert_eq!(code, 220);
    let (code, ehlo) = smtp.command("EHLO probe.test").await?;
    assert_eq!(code, 250);
    assert!(ehlo.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    let (code, _) = smtp.command("STARTTLS").await?;
    assert_eq!(code, 220);
    let tls = tls_connect(config, host, smtp.conn.into_inner()).await?;
    Ok(Smtp::new(tls))
}

// ---- Scenarios --------------------------------------------------------------------------------

/// Catalog scenario `from`, moved to the domain `to` (every name rewritten), called `name`.
pub fn renamed(from: &str, name: &'static str, to: &str) -> mta_sts_lab::Scenario {
    use mta_sts_lab::RecordData;
    let mut s = mta_sts_lab::catalog()
        .into_iter()
        .find(|s| s.name == from)
        .expect("catalog scenario exists");
    let old = s.domain.clone();
    let fix = |n: &mut String| *n = n.replace(&old, to);
    s.name = name;
    s.domain = to.to_owned();
    for record in &mut s.records {
        fix(&mut record.name);
        match &mut record.data {
            RecordData::Mx { exchange, .. } => fix(exchange),
            RecordData::Cname(target) => fix(target),
            _ => {}
        }
    }
    for host in &mut s.policy_hosts {
        fix(&mut host.name);
    }
    for host in &mut s.mx_hosts {
        fix(&mut host.name);
    }
    s
}
