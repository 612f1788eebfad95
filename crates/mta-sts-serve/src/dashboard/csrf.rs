//! Cross-site request forgery: every POST must come from a page of this server. Two checks,
//! both required: the browser's `Origin` names this server's host (and a request without one is
//! refused: every browser this dashboard supports sends it on POST), and a form of a logged-in
//! page carries its session's token. The session cookie is `SameSite=Strict` as well.

use http::HeaderMap;
use http::header::{HOST, ORIGIN};

use super::access::{Session, constant_time_eq};

/// Whether the request's `Origin` is this server, as the browser reached it (`Host`).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (headers.get(ORIGIN), headers.get(HOST)) else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
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
