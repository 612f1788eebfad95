//! Binding the lab's sockets on loopback.
//!
//! Every port the lab uses is first taken on 127.0.0.1 (by a listener, or by a socket that is
//! bound but never listens), and only then reused on 127.0.0.2, 127.0.0.N and ::1. Two labs in one
//! machine therefore never collide with each other; a collision with some other program makes the
//! whole set be bound again with fresh ports.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

use crate::{
    error::LabError,
    scenario::{HTTP_ONLY_ADDR, SHARED_ADDR},
};

/// How many fresh port sets to try before giving up on collisions.
const ATTEMPTS: usize = 8;

/// Accepts one connection. On errors (out of file descriptors, a connection reset before it was
/// accepted) pauses briefly so the accept loop does not spin, and yields `None`.
pub(crate) async fn accept(listener: &TcpListener) -> Option<TcpStream> {
    match listener.accept().await {
        Ok((stream, _)) => Some(stream),
        Err(_) => {
            tokio::time::sleep(Duration::from_millis(20)).await;
            None
        }
    }
}

/// An SMTP host with an address of its own.
pub(crate) struct OwnAddr {
    pub(crate) addr: Ipv4Addr,
    /// `false`: hold the port without listening, so connections are refused.
    pub(crate) listen: bool,
}

/// Every socket of one lab, bound and ready to be handed to its server task.
pub(crate) struct Sockets {
    pub(crate) dns_udp: UdpSocket,
    pub(crate) dns_tcp: TcpListener,
    /// 127.0.0.1 and, with IPv6, ::1, on one port.
    pub(crate) https: Vec<TcpListener>,
    /// 127.0.0.2.
    pub(crate) http: TcpListener,
    /// 127.0.0.1 and, with IPv6, ::1, on one port.
    pub(crate) smtp_shared: Vec<TcpListener>,
    /// One per [`OwnAddr`] with `listen`, in the order given.
    pub(crate) smtp_own: Vec<(Ipv4Addr, TcpListener)>,
    /// Bound, never listening: ports kept from everyone else so connections to them are refused.
    pub(crate) held: Vec<TcpSocket>,
    /// Whether the ::1 listeners exist.
    pub(crate) ipv6: bool,
    pub(crate) dns_addr: SocketAddr,
    pub(crate) https_port: u16,
    pub(crate) http_port: u16,
    pub(crate) smtp_port: u16,
}

/// The ports the lab's services listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// DNS (UDP and TCP).
    pub dns: u16,
    /// HTTPS policy hosts.
    pub https: u16,
    /// Plain HTTP on the HTTP-only address.
    pub http: u16,
    /// SMTP servers.
    pub smtp: u16,
}

impl Ports {
    /// Ports chosen by the OS: any number of labs side by side, no privileges needed.
    pub const EPHEMERAL: Ports = Ports {
        dns: 0,
        https: 0,
        http: 0,
        smtp: 0,
    };

    /// The real ports (53, 443, 80, 25), for tools that cannot be told another port (other
    /// checkers, measured side by side). Needs privileges: run in a private network namespace.
    pub const STANDARD: Ports = Ports {
        dns: 53,
        https: 443,
        http: 80,
        smtp: 25,
    };
}

/// Binds everything, retrying with fresh ports when some other program holds an ephemeral one.
pub(crate) async fn bind_all(
    own: &[OwnAddr],
    want_ipv6: bool,
    ports: Ports,
) -> Result<Sockets, LabError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_bind(own, want_ipv6, ports).await {
            Err(LabError::Bind { source, .. })
                if source.kind() == io::ErrorKind::AddrInUse
                    && attempt < ATTEMPTS
                    && ports == Ports::EPHEMERAL =>
            {
                continue;
            }
            other => return other,
        }
    }
}

async fn try_bind(own: &[OwnAddr], want_ipv6: bool, ports: Ports) -> Result<Sockets, LabError> {
    let v4 = |ip: Ipv4Addr, port: u16| SocketAddr::new(IpAddr::V4(ip), port);
    let v6 = |port: u16| SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
    let mut held = Vec::new();

    let addr = v4(SHARED_ADDR, ports.dns);
    let dns_udp = UdpSocket::bind(addr).await.map_err(bind_error(addr))?;
    let dns_addr = dns_udp.local_addr().map_err(bind_error(addr))?;
    let dns_tcp = listen(dns_addr).await?;

    let https_main = listen(v4(SHARED_ADDR, ports.https)).await?;
    let https_port = port_of(&https_main)?;
    // The plain-HTTP address must refuse HTTPS: keep its HTTPS port bound and silent.
    held.push(hold(v4(HTTP_ONLY_ADDR, https_port))?);
    let mut https = vec![https_main];
    let mut ipv6 = false;
    if want_ipv6 {
        match listen(v6(https_port)).await {
            Ok(listener) => {
                https.push(listener);
                ipv6 = true;
            }
            Err(e @ LabError::Bind { .. }) if is_in_use(&e) => return Err(e),
            // No IPv6 on this host: serve IPv4 only (the zone then leaves out AAAA ::1).
            Err(_) => {}
        }
    }

    let http_port = if ports.http == 0 {
        // Reserve the number on 127.0.0.1 too, so two labs never pick the same one.
        let reservation = hold(v4(SHARED_ADDR, 0))?;
        let port = reservation
            .local_addr()
            .map_err(bind_error(v4(SHARED_ADDR, 0)))?
            .port();
        held.push(reservation);
        port
    } else {
        ports.http
    };
    let http = listen(v4(HTTP_ONLY_ADDR, http_port)).await?;

    let smtp_main = listen(v4(SHARED_ADDR, ports.smtp)).await?;
    let smtp_port = port_of(&smtp_main)?;
    let mut smtp_shared = vec![smtp_main];
    if ipv6 {
        smtp_shared.push(listen(v6(smtp_port)).await?);
    }
    let mut smtp_own = Vec::new();
    for host in own {
        let addr = v4(host.addr, smtp_port);
        if host.listen {
            smtp_own.push((host.addr, listen(addr).await?));
        } else {
            held.push(hold(addr)?);
        }
    }

    Ok(Sockets {
        dns_udp,
        dns_tcp,
        https,
        http,
        smtp_shared,
        smtp_own,
        held,
        ipv6,
        dns_addr,
        https_port,
        http_port,
        smtp_port,
    })
}

fn is_in_use(error: &LabError) -> bool {
    matches!(error, LabError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse)
}

fn bind_error(addr: SocketAddr) -> impl FnOnce(io::Error) -> LabError {
    move |source| LabError::Bind { addr, source }
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, LabError> {
    TcpListener::bind(addr).await.map_err(bind_error(addr))
}

fn port_of(listener: &TcpListener) -> Result<u16, LabError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| LabError::Io {
            what: "reading a listener's address",
            source,
        })
}

/// A socket bound to `addr` that never listens. Without SO_REUSEADDR, so that no other socket can
/// bind the same address and port while it lives.
fn hold(addr: SocketAddr) -> Result<TcpSocket, LabError> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(bind_error(addr))?;
    socket.bind(addr).map_err(bind_error(addr))?;
    Ok(socket)
}
