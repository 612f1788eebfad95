//! Opening a TCP connection to the first address of a host that accepts one, with the address
//! guard applied to each address before it is dialled.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::address_guard::{AddressClass, AddressGuard};

/// Why no connection was opened.
pub(crate) enum DialFailure {
    /// Every address was refused by the guard; the first one.
    Blocked(IpAddr, AddressClass),
    /// The last address tried refused or was unreachable.
    Refused(SocketAddr, String),
    /// The last address tried did not answer in time.
    Timeout,
    /// There was no address at all.
    NoAddress,
}

/// Tries each address in order; `timeout` bounds each attempt.
pub(crate) async fn dial(
    ips: &[IpAddr],
    port: u16,
    guard: AddressGuard,
    timeout: Duration,
) -> Result<(SocketAddr, TcpStream), DialFailure> {
    let mut blocked = None;
    let mut last_failure = None;
    for ip in ips {
        // The guard judges the address actually dialled, after DNS: a name that resolves (or
        // rebinds) to a private address is refused here whatever it looked like.
        if let Err(class) = guard.check(*ip) {
            blocked.get_or_insert((*ip, class));
            continue;
        }
        let address = SocketAddr::new(*ip, port);
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok((address, stream)),
            Ok(Err(e)) => last_failure = Some(DialFailure::Refused(address, e.to_string())),
            Err(_) => last_failure = Some(DialFailure::Timeout),
        }
    }
    Err(match (last_failure, blocked) {
        (Some(failure), _) => failure,
        (None, Some((ip, class))) => DialFailure::Blocked(ip, class),
        (None, None) => DialFailure::NoAddress,
    })
}
