//! Loopback in a fresh network namespace: `unshare -n` gives the process a `lo` that is down, so
//! nothing on 127.0.0.1 or ::1 answers (every lab scenario then fails). The demo brings it up when
//! it may (root in the namespace, as `unshare -rn` makes it) and otherwise says so and stops.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd as _;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, sendto,
    socket,
};

/// What [`ensure_up`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loopback {
    /// Loopback was up already.
    Up,
    /// Loopback was down and has been brought up.
    BroughtUp,
}

/// Makes sure loopback carries traffic; brings `lo` up if it is down. The error is a sentence
/// saying what is wrong and what to do.
pub fn ensure_up() -> Result<Loopback, String> {
    if reachable() {
        return Ok(Loopback::Up);
    }
    match bring_lo_up() {
        Ok(()) if reachable() => Ok(Loopback::BroughtUp),
        Ok(()) => Err(
            "loopback (lo) is down in this network namespace, and it still carries no traffic \
             after it was brought up; check `ip addr show lo`, then run the demo again"
                .to_string(),
        ),
        Err(error) => Err(format!(
            "loopback (lo) is down in this network namespace, so the lab on 127.0.0.1 cannot be \
             reached, and it could not be brought up ({error}); run `ip link set lo up` as root \
             in this namespace (or start the demo with `unshare -rn`, where it can do that \
             itself), then run the demo again"
        )),
    }
}

/// Whether a datagram to 127.0.0.1 would have a route. With `lo` down the kernel has none:
/// `connect` on a UDP socket fails with "network unreachable" and nothing is sent.
fn reachable() -> bool {
    UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|socket| {
            let own = socket.local_addr()?;
            socket.connect(own)
        })
        .is_ok()
}

// rtnetlink(7) constants, from <linux/rtnetlink.h>, <linux/netlink.h> and <net/if.h>.
const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFF_UP: u32 = 1;
/// `struct nlmsghdr` (16 bytes) and `struct ifinfomsg` (16 bytes).
const REQUEST_LEN: u32 = 32;

/// `ip link set lo up`, as one rtnetlink request: RTM_NEWLINK for `lo` with IFF_UP set, acked
/// by the kernel (an ack carries errno 0, a refusal the negated errno, such as EPERM).
fn bring_lo_up() -> Result<(), String> {
    let index = nix::net::if_::if_nametoindex("lo")
        .map_err(|e| format!("there is no interface lo: {e}"))?;
    let index =
        i32::try_from(index).map_err(|_| "lo has an invalid interface index".to_string())?;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    let kernel = NetlinkAddr::new(0, 0);
    bind(fd.as_raw_fd(), &kernel).map_err(|e| format!("cannot bind a netlink socket: {e}"))?;

    let mut request = Vec::with_capacity(REQUEST_LEN as usize);
    // struct nlmsghdr: length, type, flags, sequence number, port id (0: the kernel assigns).
    request.extend_from_slice(&REQUEST_LEN.to_ne_bytes());
    request.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    // struct ifinfomsg: family (AF_UNSPEC), padding, device type, index, flags, change mask.
    request.extend_from_slice(&[0, 0]);
    request.extend_from_slice(&0u16.to_ne_bytes());
    request.extend_from_slice(&index.to_ne_bytes());
    request.extend_from_slice(&IFF_UP.to_ne_bytes());
    request.extend_from_slice(&IFF_UP.to_ne_bytes());
    sendto(fd.as_raw_fd(), &request, &kernel, MsgFlags::empty())
        .map_err(|e| format!("cannot ask the kernel: {e}"))?;

    let mut answer = [0u8; 1024];
    let length = recv(fd.as_raw_fd(), &mut answer, MsgFlags::empty())
        .map_err(|e| format!("no answer from the kernel: {e}"))?;
    ack_error(&answer[..length.min(answer.len())])
}

/// Reads the kernel's answer: an NLMSG_ERROR message whose `error` field (after the 16-byte
/// header) is 0 for success or a negated errno.
fn ack_error(answer: &[u8]) -> Result<(), String> {
    let field = |at: usize, len: usize| answer.get(at..at + len);
    let kind = field(4, 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let errno = field(16, 4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (kind, errno) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(errno)) => Err(nix::errno::Errno::from_raw(-errno).to_string()),
        _ => Err("the kernel's answer is not an acknowledgement".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(kind: u16, errno: i32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&36u32.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(&errno.to_ne_bytes());
        bytes.extend_from_slice(&[0; 16]);
        bytes
    }

    #[test]
    fn acks_and_refusals_are_told_apart() {
        assert_eq!(ack_error(&answer(NLMSG_ERROR, 0)), Ok(()));
        let refused = ack_error(&answer(NLMSG_ERROR, -1)).expect_err("EPERM");
        assert!(refused.contains("EPERM"), "{refused}");
        assert!(ack_error(&answer(RTM_NEWLINK, 0)).is_err());
        assert!(ack_error(&[1, 2, 3]).is_err());
    }

    #[test]
    fn loopback_here_is_up() {
        // The test suite itself runs on loopback, so here it must be up and left alone.
        assert_eq!(ensure_up(), Ok(Loopback::Up));
    }
}
