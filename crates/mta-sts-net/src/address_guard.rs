//! The address guard: refuses to dial addresses that are not on the public internet.
//!
//! A checker open to the public must not become a way to probe the operator's own network
//! (server-side request forgery). The guard is applied to the address actually dialled, after DNS,
//! so a name that resolves (or rebinds) to a private address is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// Whether non-public addresses may be dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressGuard {
    /// Dial anything DNS returns (the CLI, the lab, intranets).
    #[default]
    AllowAll,
    /// Dial only public unicast addresses (a checker exposed to the internet).
    PublicOnly,
}

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AddressClass {
    /// 0.0.0.0/8, `::`.
    Unspecified,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private,
    /// RFC 6598 carrier-grade NAT: 100.64/10.
    SharedCgnat,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// RFC 4193 unique local: fc00::/7.
    UniqueLocal,
    /// 224/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// Documentation and benchmarking ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 198.18/15,
    /// 2001:db8::/32), reserved 240/4, and the IETF protocol range 192.0.0/24.
    Reserved,
}

impl AddressGuard {
    /// `Ok` when the address may be dialled; the class of the address otherwise.
    pub fn check(self, ip: IpAddr) -> Result<(), AddressClass> {
        match (self, classify(ip)) {
            (AddressGuard::AllowAll, _) | (AddressGuard::PublicOnly, None) => Ok(()),
            (AddressGuard::PublicOnly, Some(class)) => Err(class),
        }
    }
}

/// The non-public class of an address, or `None` for a public unicast address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedCgnat,
        (169, 254, _) => AddressClass::LinkLocal,
        (224..=239, _, _) => AddressClass::Multicast,
        (192, 0, 0)
        | (192, 0, 2)
        | (198, 51, 100)
        | (203, 0, 113)
        | (198, 18..=19, _)
        | (240..=255, _, _) => AddressClass::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    // An IPv4 address in IPv6 clothing is judged as IPv4: mapped (::ffff:a.b.c.d) and NAT64
    // (64:ff9b::a.b.c.d) would otherwise smuggle 127.0.0.1 past the guard.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(match segments[0] {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        _ if ip.is_loopback() => AddressClass::Loopback,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfc00..=0xfdff => AddressClass::UniqueLocal,
        0xff00..=0xffff => AddressClass::Multicast,
        0x2001 if segments[1] == 0x0db8 => AddressClass::Reserved,
        // Only 2000::/3 is allocated global unicast.
        first if !(0x2000..=0x3fff).contains(&first) => AddressClass::Reserved,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<AddressClass> {
        classify(text.parse().expect("address"))
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2a00:1450:4001:80b::200e",
            "2606:4700::1111",
        ] {
            assert_eq!(class(ip), None, "{ip}");
            assert_eq!(
                AddressGuard::PublicOnly.check(ip.parse().expect("ip")),
                Ok(())
            );
        }
    }

    #[test]
    fn each_non_public_range_is_named() {
        let cases = [
            ("0.0.0.0", AddressClass::Unspecified),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.0.9", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::SharedCgnat),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("224.0.0.1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Reserved),
            ("192.0.2.10", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("::", AddressClass::Unspecified),
            ("::1", AddressClass::Loopback),
            ("fe80::1", AddressClass::LinkLocal),
            ("fd00::1", AddressClass::UniqueLocal),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Reserved),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("64:ff9b::c0a8:0101", AddressClass::Private),
        ];
        for (ip, expected) in cases {
            assert_eq!(class(ip), Some(expected), "{ip}");
            assert_eq!(
                AddressGuard::PublicOnly.check(ip.parse().expect("ip")),
                Err(expected)
            );
            assert_eq!(
                AddressGuard::AllowAll.check(ip.parse().expect("ip")),
                Ok(())
            );
        }
    }

    #[test]
    fn range_edges() {
        assert_eq!(class("172.15.255.255"), None);
        assert_eq!(class("172.32.0.0"), None);
        assert_eq!(class("100.63.255.255"), None);
        assert_eq!(class("100.128.0.0"), None);
        assert_eq!(class("::ffff:8.8.8.8"), None);
    }
}
