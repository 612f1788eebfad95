//! The declarative description of one lab domain: its DNS records, its web (policy) hosts and its
//! SMTP hosts. A [`Scenario`] is plain data; [`Lab`](crate::Lab) turns it into servers.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use bytes::Bytes;
use mta_sts_core::FindingCode;

/// Every query for a name at or under this domain is answered SERVFAIL (a broken authoritative
/// server: "could not look it up", never "it does not exist"). Served by every lab.
pub const SERVFAIL_DOMAIN: &str = "servfail.test";

/// Queries for names at or under this domain are never answered (a dead or firewalled name
/// server: the client's timeout fires). Served by every lab.
pub const TIMEOUT_DOMAIN: &str = "dns-timeout.test";

/// The address of the shared listeners: every policy host on the HTTPS port, every well-behaved
/// SMTP host on the SMTP port, and the DNS server.
pub const SHARED_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// Reverse DNS (PTR, RFC 1035 §3.5) of loopback client addresses, so that a server in the lab
/// can name who connects. The first resolves back to its address (a forward-confirmed name);
/// the second has no address (a name anyone controlling a reverse zone could write, which a
/// careful server does not believe). Served by every lab, in the zone `127.in-addr.arpa.`.
pub const REVERSE_NAMES: [(Ipv4Addr, &str); 2] = [
    (Ipv4Addr::new(127, 0, 0, 4), "fetcher.senders.test"),
    (Ipv4Addr::new(127, 0, 0, 3), "claimed.senders.test"),
];

/// The address where only plain HTTP answers (on [`Lab::http_port`](crate::Lab::http_port));
/// connections to the HTTPS port there are refused.
pub const HTTP_ONLY_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// One lab domain: a story, the findings a checker must report for it, and what the lab serves.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short kebab-case name, e.g. `healthy-enforce`.
    pub name: &'static str,
    /// The scenario's own domain under `.test`, e.g. `healthy-enforce.test`.
    pub domain: String,
    /// One line for the demo table.
    pub story: &'static str,
    /// The error and warning codes a complete check of [`Self::domain`] must report; info
    /// findings are left out. The scenario plants exactly these defects, so a
    /// checker reporting more has a false positive.
    pub expect: &'static [FindingCode],
    /// The DNS records of this domain in the lab's `test.` zone.
    pub records: Vec<DnsRecord>,
    /// The web hosts: `mta-sts.<domain>` and any redirect target.
    pub policy_hosts: Vec<PolicyHost>,
    /// The SMTP hosts named by the MX records (and the addresses they answer on).
    pub mx_hosts: Vec<MxHost>,
    /// The domain is a DNSSEC-signed zone, as far as a client can tell: the lab's DNS server plays
    /// a validating recursive resolver and sets the AD bit (RFC 4035 §3.2.3) on its answers for
    /// names at or under [`Self::domain`] when the query asks for it (AD=1, RFC 6840 §5.7, or
    /// DO=1). No keys or signatures are served: only the AD bit a stub behind a validating
    /// resolver relies on is simulated.
    pub signed: bool,
}

impl Scenario {
    /// The name of the policy host, `mta-sts.<domain>` (RFC 8461 §3.3).
    pub fn policy_host_name(&self) -> String {
        format!("mta-sts.{}", self.domain)
    }

    /// The policy host's entry in [`Self::policy_hosts`], if the scenario serves one.
    pub fn policy_host(&self) -> Option<&PolicyHost> {
        let name = self.policy_host_name();
        self.policy_hosts.iter().find(|h| h.name == name)
    }

    /// The SMTP host named `name`, if the scenario declares it.
    pub fn mx_host(&self, name: &str) -> Option<&MxHost> {
        self.mx_hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The records at `name` (any type).
    pub fn records_at<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RecordData> + 'a {
        self.records
            .iter()
            .filter(move |r| r.name.eq_ignore_ascii_case(name))
            .map(|r| &r.data)
    }
}

/// One resource record (class IN) of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// Owner name, fully qualified without the trailing dot, e.g. `_mta-sts.healthy-enforce.test`.
    pub name: String,
    /// The record's type and data.
    pub data: RecordData,
}

impl DnsRecord {
    /// A record at `name` holding `data`.
    pub fn new(name: impl Into<String>, data: RecordData) -> Self {
        Self {
            name: name.into(),
            data,
        }
    }
}

/// The type and data of a [`DnsRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// An alias to another name (fully qualified, no trailing dot).
    Cname(String),
    /// A mail exchanger. An `exchange` of `"."` with preference 0 is the null MX of RFC 7505.
    Mx {
        /// Lower is preferred (RFC 5321 §5.1).
        preference: u16,
        /// The SMTP host name, or `"."`.
        exchange: String,
    },
    /// One TXT record made of these character-strings (each at most 255 bytes, RFC 1035
    /// §3.3.14). Readers of `_mta-sts` and `_smtp._tls` records concatenate them without
    /// separators (RFC 8461 §3.1, RFC 8460 §3).
    Txt(Vec<String>),
    /// A TLSA record (RFC 6698 §2.1), e.g. at `_25._tcp.<mx host>` for DANE SMTP (RFC 7672).
    Tlsa {
        /// Certificate usage: 3 is DANE-EE, the usage RFC 7672 §3.1 recommends for SMTP.
        usage: u8,
        /// Selector: 0 the full certificate, 1 its SubjectPublicKeyInfo.
        selector: u8,
        /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
        matching: u8,
        /// The certificate association data.
        association: TlsaAssociation,
    },
}

/// The certificate association data of a [`RecordData::Tlsa`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsaAssociation {
    /// These bytes, as given.
    Bytes(Vec<u8>),
    /// The SHA-256 digest of the SubjectPublicKeyInfo of the key every lab leaf certificate
    /// carries ([`Lab::leaf_spki_sha256`](crate::Lab::leaf_spki_sha256)), known only once the
    /// lab has generated it: with usage 3, selector 1 and matching type 1 (`3 1 1`), a record
    /// that the certificate of every lab host matches.
    LabLeafSpkiSha256,
}

/// A certificate the lab presents for a host name. All but [`CertKind::SelfSigned`] are issued by
/// the lab CA ([`Lab::ca_pem`](crate::Lab::ca_pem)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertKind {
    /// Issued by the lab CA for the host name, valid from an hour ago for 90 days.
    Valid,
    /// Valid dates and name, but self-signed: it chains to no trusted root.
    SelfSigned,
    /// Issued by the lab CA, valid dates, but for this other name only.
    OtherName(String),
    /// Issued by the lab CA for the host name, but its `notAfter` was yesterday.
    Expired,
    /// Issued by the lab CA for the host name, but its `notBefore` is 30 days ahead.
    NotYetValid,
    /// Issued by the lab CA for the host name, valid, expiring this many days from now.
    ExpiresInDays(u32),
}

/// A web host: the certificate it presents and what it answers for
/// `/.well-known/mta-sts.txt` (any other path gets a 404).
#[derive(Debug, Clone)]
pub struct PolicyHost {
    /// The host name (SNI and `Host` header), e.g. `mta-sts.healthy-enforce.test`.
    pub name: String,
    /// The certificate presented on the HTTPS port.
    pub cert: CertKind,
    /// The answer for the policy path.
    pub response: PolicyResponse,
}

/// An HTTP answer for the policy path.
#[derive(Debug, Clone)]
pub struct PolicyResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, or none at all.
    pub content_type: Option<String>,
    /// The body bytes, sent as is.
    pub body: Bytes,
    /// A `Location` header (for redirects).
    pub location: Option<String>,
    /// How long the host waits before answering (a slow host).
    pub delay: Duration,
}

impl PolicyResponse {
    /// A `200 OK` with `Content-Type: text/plain; charset=utf-8` and `body`, the way a correct
    /// policy host answers (RFC 8461 §3.3).
    pub fn policy(body: impl Into<Bytes>) -> Self {
        Self {
            status: 200,
            content_type: Some("text/plain; charset=utf-8".to_owned()),
            body: body.into(),
            location: None,
            delay: Duration::ZERO,
        }
    }
}

/// An SMTP host named by an MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// The host name, e.g. `mx.healthy-enforce.test`.
    pub name: String,
    /// How it behaves, and on which address.
    pub behaviour: SmtpBehaviour,
}

/// How an SMTP host behaves. Well-behaved hosts share one listener on [`SHARED_ADDR`] and are told
/// apart by SNI; the others own a loopback address of their own (listening on the same
/// [`Lab::smtp_port`](crate::Lab::smtp_port)), which their A record points at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpBehaviour {
    /// A correct server on the shared listener: EHLO offers STARTTLS (RFC 3207) and the TLS
    /// handshake presents this certificate for the host name sent as SNI.
    Starttls(CertKind),
    /// Answers EHLO without STARTTLS, and refuses the command with `502`.
    NoStarttls(Ipv4Addr),
    /// Offers STARTTLS but answers it `454 4.7.0 TLS not available due to local problem`
    /// (RFC 3207 §4: what Postfix says when it cannot read its certificate or key).
    StarttlsRefused(Ipv4Addr),
    /// Offers STARTTLS, answers `220 2.0.0 Ready to start TLS`, then writes plain text instead of
    /// a TLS ServerHello and closes: the handshake fails.
    TlsGarbage(Ipv4Addr),
    /// Greets with `421 4.3.2 Service not available` and closes (RFC 5321 §3.1).
    Greeting421(Ipv4Addr),
    /// Accepts the TCP connection and never says anything.
    Silent(Ipv4Addr),
    /// Accepts the TCP connection and closes it at once.
    Drop(Ipv4Addr),
    /// Nothing listens at this address: connections are refused.
    Unreachable(Ipv4Addr),
}

impl SmtpBehaviour {
    /// The address the host's A record points at.
    pub fn addr(&self) -> Ipv4Addr {
        match self {
            Self::Starttls(_) => SHARED_ADDR,
            Self::NoStarttls(a)
            | Self::StarttlsRefused(a)
            | Self::TlsGarbage(a)
            | Self::Greeting421(a)
            | Self::Silent(a)
            | Self::Drop(a)
            | Self::Unreachable(a) => *a,
        }
    }

    /// Whether the host says a name (in its greeting or EHLO reply), so that its listener
    /// serves that one host only; hosts that refuse, never speak or hang up at once can share
    /// an address.
    pub fn names_itself(&self) -> bool {
        !matches!(self, Self::Silent(_) | Self::Drop(_) | Self::Unreachable(_))
    }
}
