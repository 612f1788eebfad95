//! Cross-site request forgery: every POST must come from a page of this server. Two checks,
//! both required: the browser's `Origin` names this server's host (and a request without one is
//! refused: every browser this dashboard supports sends it on POST), and a form of a logged-in
//! page carries its session's token. The session cookie is `SameSite=Strict` as well.

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, Uri};

use super::access::{Session, constant_time_eq};

/// Whether the request's `Origin` is this server, as the browser reached it: the `Host` header
/// (HTTP/1.1), or the URI's authority (HTTP/2's `:authority`, which replaces `Host`).
pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(Ok(origin)) = headers.get(ORIGIN).map(|origin| origin.to_str()) else {
        return false;
    };
    let host = match headers.get(HOST) {
        Some(host) => host.to_str().ok(),
        None => uri.authority().map(|authority| authority.as_str()),
    };
    let Some(host) = host else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Whether a form's token is its session's.
pub(crate) fn token_matches(session: &Session, presented: &str) -> bool {
    constant_time_eq(session.csrf.as_bytes(), presented.as_bytes())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    fn same_origin(headers: &HeaderMap) -> bool {
        super::same_origin(headers, &Uri::from_static("/login"))
    }

    #[test]
    fn over_http2_the_authority_stands_for_host() {
        let mut headers = HeaderMap::new();
        headers.insert(
            ORIGIN,
            HeaderValue::from_static("https://reports.example.com"),
        );
        let uri = Uri::from_static("https://reports.example.com/login");
        assert!(super::same_origin(&headers, &uri));
        let other = Uri::from_static("https://evil.example/login");
        assert!(!super::same_origin(&headers, &other));
        // Neither Host nor an authority: nothing to compare with.
        assert!(!super::same_origin(&headers, &Uri::from_static("/login")));
    }

    #[test]
    fn only_this_servers_origin_passes() {
        assert!(same_origin(&headers(
            Some("https://reports.example.com"),
            "reports.example.com"
        )));
        assert!(same_origin(&headers(
            Some("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        )));
        // Another site, another port, no Origin at all, an opaque origin.
        assert!(!same_origin(&headers(
            Some("https://evil.example"),
            "reports.example.com"
        )));
        assert!(!same_origin(&headers(
            Some("http://127.0.0.1:9090"),
            "127.0.0.1:8080"
        )));
        assert!(!same_origin(&headers(None, "reports.example.com")));
        assert!(!same_origin(&headers(Some("null"), "reports.example.com")));
    }
}
