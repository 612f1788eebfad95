//! A responder answering pebble's challenges from a [`Challenges`] on the ports it validates
//! against: HTTP-01 on plain HTTP, TLS-ALPN-01 with the `acme-tls/1` certificate.

use std::sync::Arc;

use mta_sts_acme::{ACME_TLS_ALPN, Challenges};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Answers pebble's challenges from `challenges`: HTTP-01 on `http`, TLS-ALPN-01 on `tls`.
pub fn answer_challenges(challenges: Arc<Challenges>, http: TcpListener, tls: TcpListener) {
    let from_http = Arc::clone(&challenges);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = http.accept().await {
            let challenges = Arc::clone(&from_http);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("");
                let answer = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .and_then(|token| challenges.http01(token));
                let response = match answer {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(AlpnAnswers(challenges)));
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((stream, _)) = tls.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
}

#[derive(Debug)]
struct AlpnAnswers(Arc<Challenges>);

impl ResolvesServerCert for AlpnAnswers {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if !offers_acme {
            return None;
        }
        self.0.tls_alpn01(hello.server_name()?)
    }
}
