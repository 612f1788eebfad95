//! SMTP servers, just enough of RFC 5321 and RFC 3207 (STARTTLS) for a TLS probe: greeting,
//! EHLO/HELO, STARTTLS, NOOP, RSET, QUIT. Mail is never accepted (`MAIL` gets `502`).

use std::{io, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

/// The name the shared listener greets with: it cannot know which MX the client meant until SNI.
pub(crate) const SHARED_HOST_NAME: &str = "mx.lab.test";

/// RFC 5321 §4.5.3.2.7: a server waits at least 5 minutes for the next command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// Handshakes that stall longer than this are dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// RFC 5321 §4.5.3.1.4-5: command lines are at most 512 octets, text lines 1000; anything longer
/// is not a probe.
const MAX_LINE: u64 = 1000;
/// How long a closing server keeps reading, so its last words are not lost to a TCP reset.
const LINGER: Duration = Duration::from_secs(2);

/// What one listener does with each connection.
#[derive(Clone)]
pub(crate) enum Conduct {
    /// A correct server; STARTTLS hands the connection to this acceptor (certificate by SNI).
    Starttls(TlsAcceptor),
    /// EHLO without STARTTLS.
    NoStarttls,
    /// STARTTLS offered, answered 454.
    StarttlsRefused,
    /// STARTTLS offered and accepted, then plain text instead of a ServerHello.
    TlsGarbage,
    /// `421` greeting, then close.
    Greeting421,
    /// Accept, never speak.
    Silent,
    /// Accept, close at once.
    Drop,
}

/// One listener's host name (for the greeting) and conduct.
pub(crate) struct SmtpHost {
    pub(crate) name: String,
    pub(crate) conduct: Conduct,
}

/// Accepts connections on `listener` and runs a session for each.
pub(crate) async fn serve(listener: TcpListener, host: Arc<SmtpHost>) {
    // Dropping this set (when this task is aborted) aborts every session with it.
    let mut sessions = JoinSet::new();
    loop {
        let Some(tcp) = crate::net::accept(&listener).await else {
            continue;
        };
        while sessions.try_join_next().is_some() {}
        let host = Arc::clone(&host);
        sessions.spawn(async move {
            // I/O errors end the session; the client sees the connection close.
            let _ = session(tcp, &host).await;
        });
    }
}

async fn session(mut tcp: TcpStream, host: &SmtpHost) -> io::Result<()> {
    match &host.conduct {
        Conduct::Drop => return Ok(()),
        Conduct::Silent => {
            // Hold the connection open, discarding input, until the client gives up.
            let mut sink = [0u8; 512];
            while tcp.read(&mut sink).await? > 0 {}
            return Ok(());
        }
        Conduct::Greeting421 => {
            tcp.write_all(b"421 4.3.2 Service not available\r\n")
                .await?;
            return linger_close(tcp).await;
        }
        _ => {}
    }
    let greeting = format!("220 {} ESMTP mta-sts-lab\r\n", host.name);
    tcp.write_all(greeting.as_bytes()).await?;
    let mut conn = BufReader::new(tcp);
    match dialogue(&mut conn, host, &host.name, false).await? {
        Next::Close => Ok(()),
        Next::Garbage => {
            // RFC 3207 §4.2: the client sends its ClientHello now; read it before answering
            // so that closing does not reset the connection under our reply.
            let mut tcp = conn.into_inner();
            let mut hello = [0u8; 4096];
            let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.read(&mut hello)).await;
            tcp.write_all(b"this is not TLS, goodbye\r\n").await?;
            linger_close(tcp).await
        }
        Next::StartTls => {
            let Conduct::Starttls(acceptor) = &host.conduct else {
                return Ok(());
            };
            // into_inner drops anything the client pipelined after STARTTLS: such plaintext
            // must not be processed as if it came over TLS (RFC 3207 §5, CVE-2011-0411).
            let tcp = conn.into_inner();
            let Ok(tls) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await?
            else {
                return Ok(());
            };
            let name = tls
                .get_ref()
                .1
                .server_name()
                .unwrap_or(&host.name)
                .to_owned();
            // No new greeting: the client speaks first, with EHLO (RFC 3207 §4.2).
            let mut conn = BufReader::new(tls);
            dialogue(&mut conn, host, &name, true).await?;
            Ok(())
        }
    }
}

/// How a dialogue ended.
enum Next {
    /// QUIT or the client went away.
    Close,
    /// `220 Ready to start TLS` was sent: hand over to TLS.
    StartTls,
    /// `220 Ready to start TLS` was sent by a [`Conduct::TlsGarbage`] host.
    Garbage,
}

async fn dialogue<S>(
    conn: &mut BufReader<S>,
    host: &SmtpHost,
    name: &str,
    in_tls: bool,
) -> io::Result<Next>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let offers_starttls = !in_tls
        && matches!(
            host.conduct,
            Conduct::Starttls(_) | Conduct::StarttlsRefused | Conduct::TlsGarbage
        );
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut *conn).take(MAX_LINE);
        let read = limited.read_until(b'\n', &mut line);
        let n = tokio::time::timeout(COMMAND_TIMEOUT, read)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Ok(Next::Close);
        }
        if !line.ends_with(b"\n") {
            conn.write_all(b"500 5.5.2 Line too long\r\n").await?;
            return Ok(Next::Close);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, argument) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => ehlo_reply(name, argument.trim(), offers_starttls),
            "HELO" => format!("250 {name}\r\n"),
            "STARTTLS" if offers_starttls => {
                if matches!(host.conduct, Conduct::StarttlsRefused) {
                    // RFC 3207 §4: 454 when TLS is unavailable for a temporary reason.
                    "454 4.7.0 TLS not available due to local problem\r\n".to_owned()
                } else {
                    conn.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                    conn.flush().await?;
                    return Ok(match host.conduct {
                        Conduct::TlsGarbage => Next::Garbage,
                        _ => Next::StartTls,
                    });
                }
            }
            "NOOP" | "RSET" => "250 2.0.0 OK\r\n".to_owned(),
            "QUIT" => {
                conn.write_all(b"221 2.0.0 Bye\r\n").await?;
                conn.flush().await?;
                return Ok(Next::Close);
            }
            _ => "502 5.5.2 Error: command not recognized\r\n".to_owned(),
        };
        conn.write_all(reply.as_bytes()).await?;
        conn.flush().await?;
    }
}

/// The multi-line EHLO reply (RFC 5321 §4.1.1.1): `250-` on every line but the last.
fn ehlo_reply(name: &str, client: &str, starttls: bool) -> String {
    let greeting = if client.is_empty() {
        name.to_owned()
    } else {
        format!("{name} greets {client}")
    };
    let mut lines = vec![
        greeting.as_str(),
        "PIPELINING",
        "SIZE 10240000",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
    ];
    if starttls {
        lines.push("STARTTLS");
    }
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
        .collect()
}

/// Closes our side, then reads (and discards) until the client closes or [`LINGER`] passes.
async fn linger_close(mut tcp: TcpStream) -> io::Result<()> {
    tcp.shutdown().await?;
    let mut sink = [0u8; 512];
    let drain = async {
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_reply_is_multiline_with_starttls_last() {
        let reply = ehlo_reply("mx.a.test", "probe.test", true);
        let lines: Vec<_> = reply.split_terminator("\r\n").collect();
        assert_eq!(lines[0], "250-mx.a.test greets probe.test");
        assert_eq!(lines.last(), Some(&"250 STARTTLS"));
        assert!(
            lines[..lines.len() - 1]
                .iter()
                .all(|l| l.starts_with("250-"))
        );
    }

    #[test]
    fn ehlo_reply_without_starttls() {
        let reply = ehlo_reply("mx.a.test", "", false);
        assert!(!reply.contains("STARTTLS"));
        assert!(reply.ends_with("250 8BITMIME\r\n"));
    }
}
