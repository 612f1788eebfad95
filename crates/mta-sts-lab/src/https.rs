//! The web side: policy hosts over HTTPS (certificate by SNI, RFC 8461 §3.3) and the plain-HTTP
//! listener of the "HTTPS refused, HTTP works" story.
//!
//! Both listeners serve every declared host, chosen by the `Host` header; which one a client
//! reaches is decided by DNS alone (the host's A record: 127.0.0.1 or 127.0.0.2).

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

use crate::scenario::PolicyResponse;

/// The path of the policy file on every policy host (RFC 8461 §3.3).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// Clients that connect and never finish the handshake are dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Lower-case host name → the answer for the policy path.
pub(crate) type WebHosts = HashMap<String, PolicyResponse>;

/// The hosts the running listeners serve, replaced whole by [`Lab::update`](crate::Lab::update):
/// a request clones the `Arc` under a read lock held only for that clone.
pub(crate) type SharedWebHosts = Arc<RwLock<Arc<WebHosts>>>;

/// Accepts TLS connections on `listener` and serves `hosts` over HTTP/1.1.
pub(crate) async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    hosts: SharedWebHosts,
) {
    // Dropping this set (when this task is aborted) aborts every connection with it.
    let mut connections = JoinSet::new();
    loop {
        let Some(tcp) = crate::net::accept(&listener).await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let hosts = Arc::clone(&hosts);
        connections.spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let sni = tls.get_ref().1.server_name().map(str::to_owned);
            serve_http1(tls, hosts, sni).await;
        });
    }
}

/// Accepts plain TCP connections on `listener` and serves `hosts` over HTTP/1.1.
pub(crate) async fn serve_http(listener: TcpListener, hosts: SharedWebHosts) {
    let mut connections = JoinSet::new();
    loop {
        let Some(tcp) = crate::net::accept(&listener).await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let hosts = Arc::clone(&hosts);
        connections.spawn(serve_http1(tcp, hosts, None));
    }
}

async fn serve_http1<S>(io: S, hosts: SharedWebHosts, sni: Option<String>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        // Read per request, so a change reaches connections already open (keep-alive). A
        // poisoned lock only means a change panicked before its swap; the map is whole.
        let hosts = Arc::clone(&hosts.read().unwrap_or_else(PoisonError::into_inner));
        let sni = sni.clone();
        async move { Ok::<_, Infallible>(respond(&hosts, sni.as_deref(), &request).await) }
    });
    // A client hanging up mid-request is its own business; nothing to report.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The host a request is for: the `Host` header without its port, else the absolute URI's host,
/// else the TLS SNI.
fn request_host(request: &Request<Incoming>, sni: Option<&str>) -> Option<String> {
    let from_header = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(strip_port);
    let host = from_header.or(request.uri().host()).or(sni)?;
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// `name:port` → `name`; a bracketed IPv6 literal keeps its brackets.
fn strip_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

async fn respond(
    hosts: &WebHosts,
    sni: Option<&str>,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(policy) = request_host(request, sni).and_then(|h| hosts.get(&h)) else {
        return plain(StatusCode::NOT_FOUND, "no such site\n");
    };
    if request.uri().path() != POLICY_PATH {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if !policy.delay.is_zero() {
        tokio::time::sleep(policy.delay).await;
    }
    let status = StatusCode::from_u16(policy.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    if let Some(content_type) = &policy.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(location) = &policy.location {
        builder = builder.header(header::LOCATION, location);
    }
    builder
        .body(Full::new(policy.body.clone()))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad scenario header\n"))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_host_headers() {
        assert_eq!(strip_port("mta-sts.a.test:8443"), "mta-sts.a.test");
        assert_eq!(strip_port("mta-sts.a.test"), "mta-sts.a.test");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
    }
}
