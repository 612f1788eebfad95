//! Opening the session: TCP, TLS (implicit or STARTTLS), LOGIN, SELECT, the destination folders.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_imap::types::Capabilities;
use futures_util::TryStreamExt as _;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{FetchSettings, ImapError, Security};

/// The session type: always over TLS.
pub(super) type Session = async_imap::Session<TlsStream<TcpStream>>;

/// A logged-in session with the mailbox selected, and what the server can do.
pub(super) struct Connection {
    pub(super) session: Session,
    /// RFC 6851 MOVE.
    pub(super) can_move: bool,
    /// RFC 4315 UIDPLUS (UID EXPUNGE).
    pub(super) uidplus: bool,
    /// RFC 2177 IDLE.
    pub(super) idle: bool,
}

/// A TLS client configuration trusting the Web PKI roots plus every certificate in `ca_pem`
/// (the contents of `--ca-file`), by the ring provider alone (no process-wide default needed).
pub fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| ImapError::CaFile(format!("the CA file is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| {
                ImapError::CaFile(format!("the CA file holds an unusable certificate: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(ImapError::CaFile(
                "the CA file holds no PEM certificate".to_string(),
            ));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::CaFile(format!("the TLS configuration is not usable: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `host:port` for messages.
pub(super) fn server_name(settings: &FetchSettings) -> String {
    let url = &settings.url;
    if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    }
}

/// Runs one step with the configured timeout.
pub(super) async fn within<T>(
    settings: &FetchSettings,
    what: &'static str,
    step: impl Future<Output = T>,
) -> Result<T, ImapError> {
    tokio::time::timeout(settings.timeout, step)
        .await
        .map_err(|_| ImapError::Timeout {
            server: server_name(settings),
            what,
            after: settings.timeout,
        })
}

/// Maps an async-imap error of a command to ours.
pub(super) fn command_error(
    settings: &FetchSettings,
    what: impl Into<String>,
    error: async_imap::error::Error,
) -> ImapError {
    use async_imap::error::Error;
    let (detail, connection_lost) = match error {
        Error::No(text) => (format!("the server said NO: {text}"), false),
        Error::Bad(text) => (format!("the server said BAD: {text}"), false),
        Error::ConnectionLost => ("the connection was closed".to_string(), true),
        Error::Io(e) => (format!("the connection broke: {e}"), true),
        other => (other.to_string(), true),
    };
    ImapError::Command {
        server: server_name(settings),
        what: what.into(),
        detail,
        connection_lost,
    }
}

/// Connects, protects, logs in, selects the mailbox and makes sure both destination folders exist.
pub(super) async fn open(settings: &FetchSettings) -> Result<Connection, ImapError> {
    let server = server_name(settings);
    let url = &settings.url;
    let tcp = within(
        settings,
        "the connection",
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await?
    .map_err(|source| ImapError::Connect {
        server: server.clone(),
        source,
    })?;
    // Commands are small writes answered at once: without NODELAY, Nagle's algorithm and the
    // peer's delayed ACK hold many of them back tens of milliseconds each.
    let _ = tcp.set_nodelay(true);
    let tcp = match url.security {
        Security::ImplicitTls => tcp,
        Security::StartTls => start_tls(settings, tcp).await?,
    };
    let name = ServerName::try_from(url.host.clone()).map_err(|e| {
        ImapError::Setting(format!(
            "the host {} is not a usable TLS name: {e}",
            url.host
        ))
    })?;
    let tls = within(
        settings,
        "the TLS handshake",
        TlsConnector::from(settings.tls.clone()).connect(name, tcp),
    )
    .await?
    .map_err(|source| ImapError::Tls {
        server: server.clone(),
        source,
    })?;
    let mut client = async_imap::Client::new(tls);
    if url.security == Security::ImplicitTls {
        read_greeting(settings, &mut client).await?;
    }
    // RFC 3501 §6.2.3: LOGIN, only ever over TLS.
    let mut session = match within(
        settings,
        "LOGIN",
        client.login(&url.user, &settings.password),
    )
    .await?
    {
        Ok(session) => session,
        Err((async_imap::error::Error::No(reply), _)) => {
            return Err(ImapError::LoginRefused {
                server,
                user: url.user.clone(),
                reply: reply.trim().to_string(),
            });
        }
        Err((error, _)) => return Err(command_error(settings, "LOGIN", error)),
    };
    // RFC 3501 §6.2.1: capabilities may change after TLS and login; ask again.
    let capabilities: Capabilities = within(settings, "CAPABILITY", session.capabilities())
        .await?
        .map_err(|e| command_error(settings, "CAPABILITY", e))?;
    let can_move = capabilities.has_str("MOVE");
    let uidplus = capabilities.has_str("UIDPLUS");
    let idle = capabilities.has_str("IDLE");
    for folder in [&settings.processed_folder, &settings.not_a_report_folder] {
        ensure_folder(settings, &mut session, folder).await?;
    }
    within(settings, "SELECT", session.select(&url.mailbox))
        .await?
        .map_err(|e| command_error(settings, format!("SELECT {}", url.mailbox), e))?;
    Ok(Connection {
        session,
        can_move,
        uidplus,
        idle,
    })
}

/// The server's first line must be `* OK` (or `* PREAUTH`); a `* BYE` is a refusal.
async fn read_greeting<T>(
    settings: &FetchSettings,
    client: &mut async_imap::Client<T>,
) -> Result<(), ImapError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let greeting = within(settings, "its greeting", client.read_response())
        .await?
        .map_err(|e| command_error(settings, "the greeting", e.into()))?;
    match greeting {
        Some(response) => match response.parsed() {
            async_imap::imap_proto::Response::Data {
                status: async_imap::imap_proto::Status::Ok | async_imap::imap_proto::Status::PreAuth,
                ..
            } => Ok(()),
            other => Err(ImapError::Command {
                server: server_name(settings),
                what: "the greeting".to_string(),
                detail: format!("the server did not greet with OK: {}", response_text(other)),
                connection_lost: true,
            }),
        },
        None => Err(command_error(
            settings,
            "the greeting",
            async_imap::error::Error::ConnectionLost,
        )),
    }
}

/// RFC 3501 §6.2.1: STARTTLS on the plain connection; a refusal ends the attempt, since the
/// password must not cross the network in the clear.
async fn start_tls(settings: &FetchSettings, tcp: TcpStream) -> Result<TcpStream, ImapError> {
    let mut client = async_imap::Client::new(tcp);
    read_greeting(settings, &mut client).await?;
    match within(
        settings,
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await?
    {
        Ok(()) => Ok(client.into_inner()),
        Err(async_imap::error::Error::No(reply) | async_imap::error::Error::Bad(reply)) => {
            Err(ImapError::StartTlsRefused {
                server: server_name(settings),
                reply: reply.trim().to_string(),
            })
        }
        Err(error) => Err(command_error(settings, "STARTTLS", error)),
    }
}

/// Creates the folder unless `LIST` shows it exists (RFC 3501 §6.3.8, §6.3.3).
async fn ensure_folder(
    settings: &FetchSettings,
    session: &mut Session,
    folder: &str,
) -> Result<(), ImapError> {
    // check_mailbox_name has refused quotes, backslashes and wildcards, so quoting is enough.
    let pattern = format!("\"{folder}\"");
    let exists = within(settings, "LIST", async {
        let names = session.list(Some(""), Some(&pattern)).await?;
        let names: Vec<_> = names.try_collect().await?;
        Ok::<bool, async_imap::error::Error>(
            names
                .iter()
                .any(|name| name.name() == folder || same_inbox(name.name(), folder)),
        )
    })
    .await?
    .map_err(|e| command_error(settings, format!("LIST {folder}"), e))?;
    if !exists {
        within(settings, "CREATE", session.create(folder))
            .await?
            .map_err(|e| command_error(settings, format!("CREATE {folder}"), e))?;
        tracing::info!(folder, "created the IMAP folder");
    }
    Ok(())
}

fn same_inbox(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX")
}

/// A server response for a message: its text when it has one.
fn response_text(response: &async_imap::imap_proto::Response<'_>) -> String {
    match response {
        async_imap::imap_proto::Response::Data { outcome, .. } => outcome
            .information
            .as_deref()
            .unwrap_or("no text")
            .to_string(),
        _ => "an unexpected response".to_string(),
    }
}

impl Connection {
    /// Logs out politely; a failure here loses nothing (every move is already done).
    pub(super) async fn logout(mut self, settings: &FetchSettings) {
        let _ = tokio::time::timeout(settings.timeout.min(Duration::from_secs(5)), async {
            self.session.logout().await
        })
        .await;
    }
}
