use super::*;

fn forwarded(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_str(value).expect("header"),
        );
    }
    headers
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
    let client: IpAddr = "203.0.113.7".parse().expect("ip");
    // Not a proxy: its header is whatever it wants to be, and ignored.
    assert_eq!(
        forwarded_client(client, &forwarded(&["198.51.100.1"]), &[proxy]),
        client
    );
    // A trusted proxy: the rightmost hop it did not add itself, not what the client forged.
    assert_eq!(
        forwarded_client(proxy, &forwarded(&["198.51.100.1, 203.0.113.7"]), &[proxy]),
        client
    );
    // No header, or garbage: the proxy itself.
    assert_eq!(forwarded_client(proxy, &forwarded(&[]), &[proxy]), proxy);
    assert_eq!(
        forwarded_client(proxy, &forwarded(&["not-an-ip"]), &[proxy]),
        proxy
    );
}

#[test]
fn retry_after_is_whole_seconds_rounded_up() {
    let response = retry_after(
        sentence(StatusCode::TOO_MANY_REQUESTS, "wait"),
        Duration::from_millis(1500),
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    let response = retry_after(
        sentence(StatusCode::TOO_MANY_REQUESTS, "wait"),
        Duration::ZERO,
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
}
