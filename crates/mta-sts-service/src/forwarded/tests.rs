use http::HeaderValue;

use super::*;

fn headers(xff: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in xff {
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
    let forged: IpAddr = "198.51.100.1".parse().expect("ip");
    // Not a trusted peer: the header is whatever it wants to be, and ignored.
    assert_eq!(
        forwarded_client(client, &headers(&["198.51.100.1"]), &[proxy]),
        client
    );
    // A trusted proxy: the rightmost untrusted hop, not what the client forged on the left.
    assert_eq!(
        forwarded_client(proxy, &headers(&["198.51.100.1, 203.0.113.7"]), &[proxy]),
        client
    );
    assert_eq!(
        forwarded_client(proxy, &headers(&["198.51.100.1", "203.0.113.7"]), &[proxy]),
        client
    );
    assert_ne!(
        forwarded_client(proxy, &headers(&["198.51.100.1, 203.0.113.7"]), &[proxy]),
        forged
    );
    // Two proxies in a row.
    let inner: IpAddr = "10.0.0.2".parse().expect("ip");
    assert_eq!(
        forwarded_client(proxy, &headers(&["203.0.113.7, 10.0.0.2"]), &[proxy, inner]),
        client
    );
    // No header, or garbage: the proxy itself.
    assert_eq!(forwarded_client(proxy, &headers(&[]), &[proxy]), proxy);
    assert_eq!(
        forwarded_client(proxy, &headers(&["not-an-ip"]), &[proxy]),
        proxy
    );
}

#[test]
fn a_hop_that_is_not_an_address_ends_the_reading() {
    // The client sends "198.51.100.1, junk" and the proxy appends the address it saw: the
    // client is that address, not the one it wrote left of its junk (which would let it pick
    // its own rate-limit key).
    let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
    let client: IpAddr = "203.0.113.7".parse().expect("ip");
    assert_eq!(
        forwarded_client(
            proxy,
            &headers(&["198.51.100.1, junk, 203.0.113.7"]),
            &[proxy]
        ),
        client
    );
    assert_eq!(
        forwarded_client(
            proxy,
            &headers(&["198.51.100.1, junk", "203.0.113.7"]),
            &[proxy]
        ),
        client
    );
    // Junk on the right, where only a trusted proxy writes: nothing is believed.
    assert_eq!(
        forwarded_client(proxy, &headers(&["198.51.100.1, junk"]), &[proxy]),
        proxy
    );
}
