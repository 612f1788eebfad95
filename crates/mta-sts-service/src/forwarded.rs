//! The client behind trusted reverse proxies, from `X-Forwarded-For`: what the per-client
//! limits key on when a server sits behind nginx or a load balancer.

use std::net::IpAddr;

use http::HeaderMap;

/// The client behind trusted reverse proxies: `X-Forwarded-For` is believed only when `peer`
/// (the connection's address) is one of `trusted`, and read from the right (the hop the proxy
/// itself added), skipping further trusted proxies; anything a client wrote further left could
/// be forged. Without a usable header, the peer itself (every client behind it then shares one
/// key: stricter, never open).
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    // From the right, and only while the hops are addresses: a hop that is not one was not
    // written by a proxy, so it and everything left of it is the client's own writing.
    hops.into_iter()
        .rev()
        .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|hop| !trusted.contains(hop))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests;
