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
///
/// An IPv6 address that carries an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4,
/// Teredo) is judged by the IPv4 address it leads to: `2002:7f00:1::` is loopback.
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
    // An IPv4 address in IPv6 clothing is judged as IPv4: each of these forms reaches the IPv4
    // address inside it, and would otherwise smuggle 127.0.0.1 or 10.0.0.1 past the guard.
    match embedded_v4(ip) {
        Some(Embedded::Whole(v4)) => return classify_v4(v4),
        // A Teredo address (RFC 4380 §4) names two IPv4 hosts: the server and the client behind
        // its NAT. Either one non-public makes the address non-public.
        Some(Embedded::Teredo { server, client }) => {
            return classify_v4(server).or_else(|| classify_v4(client));
        }
        // RFC 4291 §2.5.5.1: IPv4-compatible addresses are deprecated and never routed; still
        // named by what they embed when that is not public (`::127.0.0.1` is loopback).
        Some(Embedded::Compatible(v4)) => {
            return Some(classify_v4(v4).unwrap_or(AddressClass::Reserved));
        }
        None => {}
    }
    let segments = ip.segments();
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

/// The IPv4 address(es) an IPv6 address carries.
enum Embedded {
    /// Mapped, NAT64 or 6to4: packets reach this IPv4 host.
    Whole(Ipv4Addr),
    /// Teredo: a server and an (obfuscated) client address.
    Teredo { server: Ipv4Addr, client: Ipv4Addr },
    /// IPv4-compatible (`::a.b.c.d`, deprecated).
    Compatible(Ipv4Addr),
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Embedded> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    // RFC 4291 §2.5.5.2: IPv4-mapped, ::ffff:a.b.c.d.
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(Embedded::Whole(mapped));
    }
    match s {
        // RFC 6052 §2.1: the NAT64 well-known prefix 64:ff9b::/96, the IPv4 address last.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(Embedded::Whole(v4(high, low))),
        // RFC 3056 §2: 6to4, 2002:V4ADDR::/48, the IPv4 address in bits 16..48.
        [0x2002, high, low, ..] => Some(Embedded::Whole(v4(high, low))),
        // RFC 4380 §4: Teredo, 2001:0::/32; the server's IPv4 address in bits 32..64 and the
        // client's in the last 32 bits, every bit inverted.
        [
            0x2001,
            0,
            server_high,
            server_low,
            _,
            _,
            client_high,
            client_low,
        ] => Some(Embedded::Teredo {
            server: v4(server_high, server_low),
            client: v4(!client_high, !client_low),
        }),
        // RFC 4291 §2.5.5.1: IPv4-compatible, ::a.b.c.d; `::` and `::1` are not among them.
        [0, 0, 0, 0, 0, 0, high, low] if !(high == 0 && low <= 1) => {
            Some(Embedded::Compatible(v4(high, low)))
        }
        _ => None,
    }
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
    fn ipv6_forms_carrying_ipv4_are_judged_by_the_ipv4_address() {
        let cases: &[(&str, Option<AddressClass>)] = &[
            // IPv4-mapped (RFC 4291 §2.5.5.2), in both spellings.
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("::ffff:7f00:1", Some(AddressClass::Loopback)),
            ("::ffff:169.254.169.254", Some(AddressClass::LinkLocal)),
            ("::ffff:8.8.8.8", None),
            // IPv4-compatible (deprecated): named by a non-public IPv4, else reserved.
            ("::127.0.0.1", Some(AddressClass::Loopback)),
            ("::10.0.0.1", Some(AddressClass::Private)),
            ("::8.8.8.8", Some(AddressClass::Reserved)),
            // NAT64 well-known prefix (RFC 6052).
            ("64:ff9b::127.0.0.1", Some(AddressClass::Loopback)),
            ("64:ff9b::8.8.8.8", None),
            // 6to4 (RFC 3056): 2002:AABB:CCDD:: carries AA.BB.CC.DD.
            ("2002:7f00:1::", Some(AddressClass::Loopback)),
            ("2002:7f00:0001:abcd::1", Some(AddressClass::Loopback)),
            ("2002:0a00:0001::1", Some(AddressClass::Private)),
            ("2002:c0a8:0101::1", Some(AddressClass::Private)),
            ("2002:a9fe:a9fe::1", Some(AddressClass::LinkLocal)),
            ("2002:6440:1::1", Some(AddressClass::SharedCgnat)),
            ("2002::1", Some(AddressClass::Unspecified)),
            ("2002:e000:1::1", Some(AddressClass::Multicast)),
            ("2002:0808:0808::1", None),
            // Teredo (RFC 4380): the client's IPv4 inverted in the last 32 bits
            // (0x80ffffFE = !127.0.0.1), the server's in bits 32..64.
            (
                "2001:0:0808:0808:0:0:80ff:fffe",
                Some(AddressClass::Loopback),
            ),
            (
                "2001:0:0808:0808:8000:f227:f5ff:fffe",
                Some(AddressClass::Private),
            ),
            ("2001:0:0808:0808::3f57:fefe", Some(AddressClass::Private)),
            // The server address counts as well.
            ("2001:0:7f00:1:0:0:f7f7:f7f7", Some(AddressClass::Loopback)),
            ("2001:0:c000:0201::f7f7:f7f7", Some(AddressClass::Reserved)),
            // Both public: a public address.
            ("2001:0:0808:0808::f7f7:f7f7", None),
            // Not Teredo: 2001:db8::/32 is documentation, 2001:4860::/32 ordinary unicast.
            ("2001:db8::7f00:1", Some(AddressClass::Reserved)),
            ("2001:4860::80ff:fffe", None),
            // `::` and `::1` keep their own classes.
            ("::", Some(AddressClass::Unspecified)),
            ("::1", Some(AddressClass::Loopback)),
        ];
        for (ip, expected) in cases {
            assert_eq!(class(ip), *expected, "{ip}");
            let verdict = AddressGuard::PublicOnly.check(ip.parse().expect("ip"));
            assert_eq!(verdict, expected.map_or(Ok(()), Err), "{ip}");
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
