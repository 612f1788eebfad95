//! Requests for a policy host (`Host`, or `:authority` on HTTP/2, is `mta-sts.<hosted
//! domain>`, any case, with or without a port) are answered here, before the server's other
//! routes; every other host goes on to them unchanged.
//!
//! On the HTTPS listener (RFC 8461 §3.3):
//! - `GET` or `HEAD` of exactly `/.well-known/mta-sts.txt`, without a query: `200`,
//!   `Content-Type: text/plain; charset=utf-8`, the policy (no body for `HEAD`);
//! - another method on that path: `405` with `Allow: GET, HEAD`;
//! - anything else: a plain `404`. Never a redirect: senders must not follow one.
//!
//! On the plain HTTP listener: `GET /.well-known/acme-challenge/{token}` answers a pending
//! HTTP-01 challenge (RFC 8555 §8.3); anything else a plain `404` (the policy is never served
//! over plain HTTP).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use mta_sts_service::BoxError;

use super::fetches::FetchLog;
use super::{HostedPolicy, Hosting};

/// The one path a policy host serves (RFC 8461 §3.3).
pub(crate) const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// Where HTTP-01 challenges are fetched (RFC 8555 §8.3).
const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// The HTTPS listener: policies are served.
    Https,
    /// The plain HTTP listener: only ACME HTTP-01 answers for policy hosts.
    Http,
}

/// The service in front of the server's routes: policy hosts are answered here, every other
/// host by `app`.
#[derive(Clone)]
pub(crate) struct HostRouter {
    scheme: Scheme,
    hosting: Hosting,
    fetches: FetchLog,
    app: Router,
}

impl HostRouter {
    /// Policy hosts answered per `scheme`, everything else by `app`.
    pub(crate) fn new(scheme: Scheme, hosting: Hosting, fetches: FetchLog, app: Router) -> Self {
        HostRouter {
            scheme,
            hosting,
            fetches,
            app,
        }
    }
}

/// The future of one answer: ready at once for a policy host, the app's otherwise.
pub(crate) enum HostFuture {
    /// Answered here.
    Ready(Option<Response<Body>>),
    /// Answered by the app.
    App(Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>),
}

impl Future for HostFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            HostFuture::Ready(response) => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| plain(StatusCode::NOT_FOUND, "")))),
            HostFuture::App(future) => future.as_mut().poll(cx),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for HostRouter
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = HostFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready (axum's `Router::poll_ready` is too).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> HostFuture {
        let domain = policy_domain(&request);
        let policy = domain.as_deref().and_then(|d| self.hosting.policies.get(d));
        let Some(policy) = policy else {
            if domain.is_some_and(|d| self.hosting.configured.contains(&d)) {
                // Hosted, but its policy is not generated yet: nothing else answers here.
                return HostFuture::Ready(Some(plain(
                    StatusCode::NOT_FOUND,
                    "The MTA-STS policy of this domain is not ready yet.\n",
                )));
            }
            let mut app = self.app.clone();
            return HostFuture::App(Box::pin(async move {
                tower_service::Service::call(&mut app, request).await
            }));
        };
        let response = match self.scheme {
            Scheme::Https => {
                let (response, fetched) = policy_answer(request.method(), request.uri(), &policy);
                if fetched {
                    let client = request
                        .extensions()
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|ConnectInfo(addr)| addr.ip());
                    self.fetches.fetched(&policy, client, request.version());
                }
                response
            }
            Scheme::Http => challenge_answer(&self.hosting, request.method(), request.uri()),
        };
        HostFuture::Ready(Some(response))
    }
}

/// The hosted domain a request asks for, if its host is `mta-sts.<domain>`: from the URI's
/// authority (HTTP/2's `:authority`, an absolute-form HTTP/1.1 target) or the `Host` header,
/// lowercased, without port or trailing dot.
pub(crate) fn policy_domain<B>(request: &Request<B>) -> Option<String> {
    let host = match request.uri().authority() {
        Some(authority) => authority.host(),
        None => {
            let value = request.headers().get(header::HOST)?.to_str().ok()?;
            // A port after the last colon; an IPv6 literal is never a policy host.
            match value.rsplit_once(':') {
                Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
                _ => value,
            }
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let prefix = "mta-sts.";
    if host.len() <= prefix.len() || !host[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    Some(host[prefix.len()..].to_ascii_lowercase())
}

/// The answer of the HTTPS listener for a policy host, and whether it was a policy fetch.
pub(crate) fn policy_answer(
    method: &Method,
    uri: &http::Uri,
    policy: &Arc<HostedPolicy>,
) -> (Response<Body>, bool) {
    // RFC 8461 §3.3: exactly this path; a query, a trailing slash or another case is another
    // resource, answered 404 and never redirected ("senders MUST NOT follow HTTP redirects").
    if uri.path() != POLICY_PATH || uri.query().is_some() {
        return (
            plain(
                StatusCode::NOT_FOUND,
                "Nothing is served here; the MTA-STS policy is at /.well-known/mta-sts.txt.\n",
            ),
            false,
        );
    }
    let head = match *method {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "The MTA-STS policy is fetched with GET (RFC 8461 §3.3).\n",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return (response, false);
        }
    };
    let length = policy.text.len();
    let body = if head {
        Body::empty()
    } else {
        Body::from(Bytes::from_owner(PolicyText(policy.clone())))
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    // RFC 8461 §3.3: the policy is served with media type "text/plain".
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    (response, true)
}

/// The answer of the plain HTTP listener for a policy host: a pending HTTP-01 challenge's key
/// authorization, or 404.
fn challenge_answer(hosting: &Hosting, method: &Method, uri: &http::Uri) -> Response<Body> {
    let token = uri.path().strip_prefix(ACME_CHALLENGE_PREFIX);
    match (method, token) {
        (&Method::GET | &Method::HEAD, Some(token)) if uri.query().is_none() => {
            match hosting.challenges.http01(token) {
                Some(key_authorization) => {
                    let mut response = Response::new(if method == Method::HEAD {
                        Body::empty()
                    } else {
                        Body::from(key_authorization)
                    });
                    // RFC 8555 §8.3: the key authorization, in a body of its own.
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    );
                    response
                }
                None => plain(
                    StatusCode::NOT_FOUND,
                    "No such ACME challenge is pending.\n",
                ),
            }
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "The MTA-STS policy is served over HTTPS only (RFC 8461 §3.3).\n",
        ),
    }
}

/// A plain-text answer.
fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A policy's text as a response body, without copying it.
struct PolicyText(Arc<HostedPolicy>);

impl AsRef<[u8]> for PolicyText {
    fn as_ref(&self) -> &[u8] {
        self.0.text.as_bytes()
    }
}

#[cfg(test)]
mod tests;
