//! Postfix's socketmap protocol (socketmap_table(5)) over [netstrings](crate::netstring): the
//! request `"<name> <key>"`, the four replies, and the key normalisation postfix-mta-sts-resolver
//! applies before looking a key up.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

use crate::netstring;

/// One socketmap request: the map name Postfix was configured with (it selects a zone) and the
/// lookup key (a next-hop domain, as Postfix writes it: possibly `[host]:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The map name, `postfix` in `socketmap:inet:127.0.0.1:8461:postfix`.
    pub name: String,
    /// The key, as sent.
    pub key: String,
}

impl Request {
    /// Splits a netstring payload at its first space. A payload without a space is all name and
    /// an empty key (answered `NOTFOUND`, as postfix-mta-sts-resolver does). Bytes that are not
    /// UTF-8 become U+FFFD, which no domain contains, so such a key is answered `NOTFOUND`
    /// rather than guessed at.
    pub fn parse(payload: &[u8]) -> Request {
        let text = String::from_utf8_lossy(payload);
        let (name, key) = text.split_once(' ').unwrap_or((&text, ""));
        Request {
            name: name.to_string(),
            key: key.to_string(),
        }
    }
}

/// A socketmap reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK <data>`: the key was found; for a TLS policy map the data is the policy
    /// (`secure match=... servername=hostname`).
    Ok(String),
    /// `NOTFOUND `: no entry; Postfix goes on to its other maps and its default TLS level.
    NotFound,
    /// `TEMP <reason>`: the lookup failed for now; Postfix defers delivery.
    Temp(String),
    /// `PERM <reason>`: the lookup failed for good; Postfix treats it as a configuration error.
    Perm(String),
}

impl Reply {
    /// The reply as it goes inside the netstring. `NOTFOUND ` keeps its trailing space: that is
    /// what socketmap_table(5) specifies and what postfix-mta-sts-resolver sends.
    pub fn payload(&self) -> String {
        self.to_string()
    }

    /// The reply framed as a netstring, ready for the socket.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the reply, framed as a netstring, to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (status, data): (&str, &str) = match self {
            Reply::Ok(data) => ("OK ", data),
            Reply::NotFound => ("NOTFOUND ", ""),
            Reply::Temp(reason) => ("TEMP ", reason),
            Reply::Perm(reason) => ("PERM ", reason),
        };
        netstring::encode_into(&[status.as_bytes(), data.as_bytes()], out);
    }

    /// Reads a reply payload (the client side, for tests and diagnostics); `None` if it is not
    /// one of the four replies.
    pub fn parse(payload: &[u8]) -> Option<Reply> {
        let text = std::str::from_utf8(payload).ok()?;
        let (status, data) = text.split_once(' ')?;
        match status {
            "OK" => Some(Reply::Ok(data.to_string())),
            "NOTFOUND" if data.is_empty() => Some(Reply::NotFound),
            "TEMP" => Some(Reply::Temp(data.to_string())),
            "PERM" => Some(Reply::Perm(data.to_string())),
            _ => None,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok(data) => write!(f, "OK {data}"),
            Reply::NotFound => f.write_str("NOTFOUND "),
            Reply::Temp(reason) => write!(f, "TEMP {reason}"),
            Reply::Perm(reason) => write!(f, "PERM {reason}"),
        }
    }
}

impl Serialize for Reply {
    /// Serialized as its payload, exactly as Postfix would receive it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A lookup key after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A domain to look up: lowercase A-labels, without port, brackets or trailing dot.
    Domain(String),
    /// A key answered `NOTFOUND` without any lookup.
    Skip(SkipReason),
}

/// Why a key is answered `NOTFOUND` without a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SkipReason {
    /// Nothing left of the key.
    Empty,
    /// A leading `.`: Postfix asks for the parent-domain entry (`.example.com`) after the exact
    /// one; RFC 8461 §3.3 says subdomains never inherit a parent's policy, so there is none.
    ParentDomain,
    /// An IP address: MTA-STS names hosts, never addresses.
    IpLiteral,
    /// Not a valid domain name, even after IDN conversion.
    InvalidName {
        /// What is wrong with it.
        error: String,
    },
}

impl fmt::Display for SkipReason {
    /// Why the key is not looked up, as a clause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Empty => f.write_str("the key is empty"),
            SkipReason::ParentDomain => f.write_str(
                "the key starts with `.`, Postfix's parent-domain lookup, and a subdomain never \
                 inherits its parent's policy (RFC 8461 §3.3)",
            ),
            SkipReason::IpLiteral => f.write_str(
                "the key is an IP address, and MTA-STS policies apply to domain names only",
            ),
            SkipReason::InvalidName { error } => {
                write!(f, "the key is not a valid domain name: {error}")
            }
        }
    }
}

/// Normalises a key the way postfix-mta-sts-resolver does, plus IDN.
///
/// `[host]:port` and `[host]` become `host`, `host:port` becomes `host`; the result is trimmed,
/// lowercased and stripped of trailing dots. A leading `.` or an IP literal (bracketed or not,
/// IPv6 included) is skipped with no lookup. A U-label name (`bücher.example`) becomes its
/// A-label form (`xn--bcher-kva.example`), the form policy hosts and TXT records are named in.
pub fn normalize_key(raw: &str) -> Key {
    let raw = raw.trim();
    // A bare IPv6 literal has colons of its own; it must not be taken for `host:port`.
    if raw.parse::<IpAddr>().is_ok() {
        return Key::Skip(SkipReason::IpLiteral);
    }
    let host = match raw.split_once(']') {
        // `[host]` or `[host]:port`: the part inside the brackets.
        Some((inside, _)) => inside.trim_start_matches('['),
        // `host:port`: everything before the last colon.
        None => raw.rsplit_once(':').map_or(raw, |(host, _)| host),
    };
    let host = host.trim().to_lowercase();
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return Key::Skip(SkipReason::Empty);
    }
    if host.starts_with('.') {
        return Key::Skip(SkipReason::ParentDomain);
    }
    if host.parse::<IpAddr>().is_ok() {
        return Key::Skip(SkipReason::IpLiteral);
    }
    // The next-hop domain is the one whose `_mta-sts` record is looked up: refused when that
    // record name could not exist, and `127.1` or `0x7f000001` are addresses, not names.
    match mta_sts_core::domain::normalize_mail_domain(host) {
        Ok(domain) => Key::Domain(domain),
        Err(error) if error.diagnostic().code == "domain-ip-address" => {
            Key::Skip(SkipReason::IpLiteral)
        }
        Err(error) => Key::Skip(SkipReason::InvalidName {
            error: error.diagnostic().message.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str) -> Key {
        Key::Domain(name.to_string())
    }

    #[test]
    fn key_normalisation_table() {
        let cases: &[(&str, Key)] = &[
            ("example.com", domain("example.com")),
            // Postfix writes relay hosts as `[host]:port` and `host:port`.
            ("[mx.example.com]:25", domain("mx.example.com")),
            ("[mx.example.com]", domain("mx.example.com")),
            ("mx.example.com:587", domain("mx.example.com")),
            // Case, surrounding space and the root dot do not matter.
            ("Example.COM.", domain("example.com")),
            ("  example.com  ", domain("example.com")),
            ("example.com..", domain("example.com")),
            // Postfix's parent-domain lookup: never a policy of its own (RFC 8461 §3.3).
            (".example.com", Key::Skip(SkipReason::ParentDomain)),
            // Addresses, bracketed or not, with or without port.
            ("192.0.2.1", Key::Skip(SkipReason::IpLiteral)),
            ("[192.0.2.1]", Key::Skip(SkipReason::IpLiteral)),
            ("[192.0.2.1]:25", Key::Skip(SkipReason::IpLiteral)),
            ("192.0.2.1:25", Key::Skip(SkipReason::IpLiteral)),
            ("[2001:db8::1]", Key::Skip(SkipReason::IpLiteral)),
            ("[2001:db8::1]:25", Key::Skip(SkipReason::IpLiteral)),
            ("2001:db8::1", Key::Skip(SkipReason::IpLiteral)),
            // Legacy spellings of 127.0.0.1 are addresses too.
            ("127.1", Key::Skip(SkipReason::IpLiteral)),
            ("[0x7f000001]:25", Key::Skip(SkipReason::IpLiteral)),
            // IDN: U-labels become A-labels.
            ("bücher.example", domain("xn--bcher-kva.example")),
            ("[BÜCHER.example]:25", domain("xn--bcher-kva.example")),
            ("", Key::Skip(SkipReason::Empty)),
            ("[]:25", Key::Skip(SkipReason::Empty)),
            (".", Key::Skip(SkipReason::Empty)),
        ];
        for (raw, expected) in cases {
            assert_eq!(&normalize_key(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn garbage_keys_are_invalid_names() {
        let too_long = ["a", "b", "c", "d"].map(|c| c.repeat(60)).join(".") + ".example";
        // Each of these would otherwise cost a DNS query that cannot succeed.
        for raw in [
            "exa mple.com",
            "under_score.example",
            "a..b",
            "\u{fffd}.example",
            // A zero-width space, which IDNA would drop to make another name.
            "exa\u{200b}mple.com",
            // Too long for `_mta-sts.` in front of it.
            too_long.as_str(),
        ] {
            assert!(
                matches!(
                    normalize_key(raw),
                    Key::Skip(SkipReason::InvalidName { .. })
                ),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn requests_split_at_the_first_space() {
        assert_eq!(
            Request::parse(b"postfix example.com"),
            Request {
                name: "postfix".into(),
                key: "example.com".into()
            }
        );
        // Everything after the first space is the key (it is normalised later).
        assert_eq!(Request::parse(b"strict  a b").key, " a b");
        // No space: no key.
        assert_eq!(Request::parse(b"postfix").key, "");
        // Not UTF-8: replaced, so it cannot match a domain.
        assert_eq!(
            Request::parse(b"postfix \xff.example").key,
            "\u{fffd}.example"
        );
    }

    #[test]
    fn replies_render_as_postfix_expects() {
        assert_eq!(Reply::NotFound.payload(), "NOTFOUND ");
        assert_eq!(Reply::NotFound.encode(), b"9:NOTFOUND ,");
        // Framed straight into a buffer that already holds a reply: appended, length counted
        // over status and data together.
        let mut out = b"9:NOTFOUND ,".to_vec();
        Reply::Ok("dane".into()).encode_into(&mut out);
        Reply::Temp("DNS timeout".into()).encode_into(&mut out);
        assert_eq!(out, b"9:NOTFOUND ,7:OK dane,16:TEMP DNS timeout,");
        assert_eq!(
            Reply::Ok("secure match=mx.example.com".into()).payload(),
            "OK secure match=mx.example.com"
        );
        assert_eq!(Reply::Temp("dns".into()).payload(), "TEMP dns");
        assert_eq!(Reply::Perm("config".into()).payload(), "PERM config");
        for reply in [
            Reply::NotFound,
            Reply::Ok("secure match=.example.com".into()),
            Reply::Temp("later".into()),
            Reply::Perm("never".into()),
        ] {
            assert_eq!(Reply::parse(reply.payload().as_bytes()), Some(reply));
        }
        for bad in [&b"NOTFOUND"[..], b"NOTFOUND x", b"MAYBE x", b"\xff"] {
            assert_eq!(Reply::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            serde_json::to_string(&Reply::NotFound).ok().as_deref(),
            Some("\"NOTFOUND \"")
        );
    }
}
