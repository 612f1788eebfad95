//! DNS lookups MTA-STS needs, with failures told apart.
//!
//! A checker and a sender treat "the name does not exist", "the name has no such record", "the
//! server failed" and "no answer in time" differently (RFC 8461 §3.3: a sender keeps a cached
//! policy when the TXT lookup fails; a checker must not call a timeout a missing record), so
//! every lookup returns a [`DnsError`] that keeps them apart.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;

mod query_rate;

use query_rate::QueryRate;

/// Where to send queries and how long to wait.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The recursive resolver to ask; `None` uses the system's configuration (`/etc/resolv.conf`).
    pub upstream: Option<SocketAddr>,
    /// How long to wait for one answer.
    pub timeout: Duration,
    /// How many times to ask before giving up.
    pub attempts: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            upstream: None,
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

/// Parses `IP[:PORT]` (port 53 by default; IPv6 as `[::1]:5353` or a bare `::1`).
pub fn parse_upstream(text: &str) -> Result<SocketAddr, Error> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            Error::Config(format!(
                "`{text}` is not a resolver address (IP or IP:PORT)"
            ))
        })
}

/// Why a lookup gave no records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist.
    #[error("the name does not exist (NXDOMAIN)")]
    NxDomain,
    /// NOERROR with no records of the asked type (NODATA).
    #[error("the name has no records of this type")]
    NoData,
    /// SERVFAIL: the resolver could not get an answer (often a broken delegation or DNSSEC).
    #[error("the resolver failed to answer (SERVFAIL)")]
    ServFail,
    /// Another error response code (REFUSED, FORMERR, ...).
    #[error("the resolver answered {0}")]
    Refused(String),
    /// No answer in time.
    #[error("no answer from the resolver in time")]
    Timeout,
    /// The resolver could not be reached or answered garbage.
    #[error("cannot query the resolver: {0}")]
    Transport(String),
    /// The name is not a valid DNS name.
    #[error("not a valid DNS name: {0}")]
    BadName(String),
}

impl DnsError {
    /// True for the two answers that say the record does not exist (as opposed to a failure to
    /// find out).
    pub fn is_negative(&self) -> bool {
        matches!(self, DnsError::NxDomain | DnsError::NoData)
    }

    /// True when no answer came at all (timeout, or the resolver could not be reached): the
    /// resolver, not the name, is the problem.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DnsError::Timeout | DnsError::Transport(_))
    }

    fn from_net(error: &NetError) -> DnsError {
        if error.is_nx_domain() {
            return DnsError::NxDomain;
        }
        if error.is_no_records_found() {
            return DnsError::NoData;
        }
        match error {
            NetError::Dns(HickoryDnsError::ResponseCode(ResponseCode::ServFail)) => {
                DnsError::ServFail
            }
            NetError::Dns(HickoryDnsError::ResponseCode(code)) => {
                DnsError::Refused(code.to_string())
            }
            NetError::Timeout => DnsError::Timeout,
            other => DnsError::Transport(other.to_string()),
        }
    }
}

/// The MX set of a domain (RFC 5321 §5.1), sorted by preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxSet {
    /// `(preference, host)`, lowest preference first, host lowercase without the trailing dot.
    pub hosts: Vec<(u16, String)>,
    /// RFC 7505: the domain publishes a null MX (`0 .`) and accepts no mail.
    pub null_mx: bool,
}

/// The addresses of a host, and the CNAME chain followed to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addresses {
    /// IPv4 addresses first, then IPv6.
    pub ips: Vec<IpAddr>,
    /// Each alias target in order (`mta-sts.example.com` → `sts.host.net` gives `["sts.host.net"]`).
    pub cname_chain: Vec<String>,
}

/// TLSA records for a DANE service name (`_25._tcp.mx.example.com`), and whether the answer was
/// DNSSEC-validated by the upstream resolver (its AD bit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tlsa {
    /// The records in presentation form (`3 1 1 <hex>`).
    pub records: Vec<String>,
    /// The resolver set AD: it validated the answer with DNSSEC (RFC 4035 §3.2.3).
    pub authenticated: bool,
}

/// Where a host name's CNAME chain ends, and whether the upstream resolver validated it with
/// DNSSEC (its AD bit): what RFC 7672 §2.2.2 needs to choose the TLSA base domain of an MX host
/// that is an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CnameExpansion {
    /// The fully CNAME-expanded name (the target of the chain's last CNAME), lowercase without
    /// the trailing dot.
    pub target: String,
    /// Each alias target in order, `target` last (`mx.example.com` → `mx.hoster.net` →
    /// `mx1.provider.net` gives `["mx.hoster.net", "mx1.provider.net"]`).
    pub chain: Vec<String>,
    /// The resolver set AD: every RRset of the answer, each CNAME of the chain included, was
    /// validated (RFC 4035 §3.2.3), so the expansion is "secure" in RFC 7672's sense.
    pub authenticated: bool,
}

/// A DNS client for MTA-STS lookups.
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
    /// Where raw queries (TLSA with the AD bit) go: the first configured name server.
    raw_upstream: Option<SocketAddr>,
    timeout: Duration,
    /// The query rate limit, shared by every clone ([`Dns::with_max_query_rate`]).
    rate: Option<Arc<QueryRate>>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("upstream", &self.raw_upstream)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Dns {
    /// A client for the configured upstream (or the system's resolvers).
    pub fn new(config: &DnsConfig) -> Result<Dns, Error> {
        let (resolver_config, mut options) = match config.upstream {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                (
                    ResolverConfig::from_name_servers(vec![server]),
                    ResolverOpts::default(),
                )
            }
            None => hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                Error::Config(format!(
                    "cannot read the system resolver configuration: {e}"
                ))
            })?,
        };
        let raw_upstream = resolver_config.name_servers().first().and_then(|server| {
            server
                .connections
                .first()
                .map(|connection| SocketAddr::new(server.ip, connection.port))
        });
        options.timeout = config.timeout;
        options.attempts = config.attempts.max(1);
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.preserve_intermediates = true;
        // Names are always fully qualified here; never append search domains.
        options.ndots = 0;
        let mut builder =
            Resolver::builder_with_config(resolver_config, TokioRuntimeProvider::default());
        *builder.options_mut() = options;
        let resolver = builder
            .build()
            .map_err(|e| Error::Config(format!("DNS resolver: {e}")))?;
        Ok(Dns {
            resolver,
            raw_upstream,
            timeout: config.timeout,
            rate: None,
        })
    }

    /// The same client sending at most `per_second` queries a second, counted over it and
    /// every clone made of it afterwards (a scan's many checks share one limit). Each lookup
    /// counts as the queries it asks: one, or two for [`Dns::addresses`] (A and AAAA). Answers
    /// the resolver has cached count too, and the resolver's own retries after a timeout do
    /// not, so the limit holds as long as the upstream answers. An error if `per_second` is not
    /// a number above 0.
    pub fn with_max_query_rate(mut self, per_second: f64) -> Result<Dns, Error> {
        self.rate = Some(Arc::new(QueryRate::new(per_second)?));
        Ok(self)
    }

    /// Waits, under a rate limit, until `queries` more may be sent.
    async fn pace(&self, queries: u32) {
        if let Some(rate) = &self.rate {
            rate.acquire(queries).await;
        }
    }

    /// The TXT records at a name, each as its character-strings (RFC 8461 §3.1 joins them).
    pub async fn txt(&self, name: &str) -> Result<Vec<Vec<Vec<u8>>>, DnsError> {
        self.pace(1).await;
        let lookup = self
            .resolver
            .lookup(fqdn(name)?, RecordType::TXT)
            .await
            .map_err(|e| DnsError::from_net(&e))?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
                _ => None,
            })
            .collect())
    }

    /// The MX set of a domain.
    pub async fn mx(&self, domain: &str) -> Result<MxSet, DnsError> {
        self.pace(1).await;
        let lookup = self
            .resolver
            .lookup(fqdn(domain)?, RecordType::MX)
            .await
            .map_err(|e| DnsError::from_net(&e))?;
        Ok(mx_set(lookup.answers()))
    }

    /// The MX set of a domain, and whether the upstream resolver validated it with DNSSEC (its
    /// AD bit), as [`Dns::tlsa`] asks: one query with AD=1 to the first configured name server.
    ///
    /// RFC 7672 §2.2.1: DANE can authenticate delivery to a domain only when its MX RRset was
    /// obtained by a DNSSEC-validated lookup, so a DANE-aware sender needs this bit, which
    /// [`Dns::mx`] cannot report. An answer without MX records is [`DnsError::NoData`], as with
    /// [`Dns::mx`]; the null MX rule (RFC 7505) is the same.
    pub async fn mx_authenticated(&self, domain: &str) -> Result<(MxSet, bool), DnsError> {
        let response = self.raw_query(domain, RecordType::MX).await?;
        let set = mx_set(&response.answers);
        if set.hosts.is_empty() && !set.null_mx {
            return Err(DnsError::NoData);
        }
        Ok((set, response.metadata.authentic_data))
    }

    /// The names an address's PTR records give (RFC 1035 §3.5), lowercase without the trailing
    /// dot. Not a proof of anything: whoever controls the address's reverse zone writes them;
    /// confirm a name by looking up its addresses ([`Dns::addresses`]) before trusting it.
    ///
    /// Asked of the name server itself (one query to the first configured one, retried over
    /// TCP when truncated), not through the resolver: the resolver answers the loopback
    /// reverse zones with `localhost` on its own (RFC 6761 §6.3) and reads the hosts file,
    /// while the organisation of a client is what the DNS says.
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let response = self
            .raw_query(&Name::from(ip).to_ascii(), RecordType::PTR)
            .await?;
        Ok(response
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::PTR(target) => Some(plain_name(&target.0)),
                _ => None,
            })
            .collect())
    }

    /// The IPv4 and IPv6 addresses of a host, following CNAMEs.
    pub async fn addresses(&self, host: &str) -> Result<Addresses, DnsError> {
        self.addresses_paced(host).await.await
    }

    /// Waits until the query rate limit ([`Dns::with_max_query_rate`]) allows the address
    /// lookup of `host`, then gives the lookup itself, not yet started: a caller with a time
    /// limit on the lookup puts it on that, so waiting for the rate limit never turns into a
    /// timeout the resolver did not cause. Without a limit, no wait.
    pub async fn addresses_paced<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Future<Output = Result<Addresses, DnsError>> + 'a {
        // Both address families are asked for (`LookupIpStrategy::Ipv4AndIpv6`).
        self.pace(2).await;
        self.lookup_addresses(host)
    }

    async fn lookup_addresses(&self, host: &str) -> Result<Addresses, DnsError> {
        let lookup = self
            .resolver
            .lookup_ip(fqdn(host)?)
            .await
            .map_err(|e| DnsError::from_net(&e))?;
        let mut ips: Vec<IpAddr> = lookup.iter().collect();
        ips.sort_by_key(|ip| ip.is_ipv6());
        ips.dedup();
        let cname_chain = lookup
            .as_lookup()
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::CNAME(target) => Some(plain_name(&target.0)),
                _ => None,
            })
            .fold(Vec::new(), |mut chain, target| {
                if !chain.contains(&target) {
                    chain.push(target);
                }
                chain
            });
        if ips.is_empty() {
            return Err(DnsError::NoData);
        }
        Ok(Addresses { ips, cname_chain })
    }

    /// The CNAME chain of `host` as the upstream resolver followed it, and whether the resolver
    /// validated the whole chain (AD bit); `None` when `host` is not an alias. One query with
    /// AD=1 to the first configured name server, as [`Dns::tlsa`] asks.
    ///
    /// The query is for the A records of `host`, not its CNAME: a recursive resolver follows the
    /// whole chain for an address query and puts every CNAME of it in the answer (RFC 1034
    /// §3.6.2, §4.3.2), and the AD bit then covers all of them (RFC 4035 §3.2.3), while a CNAME
    /// query is answered with the first link alone. A target with AAAA records only still shows
    /// its chain (NODATA for A keeps the CNAMEs in the answer). Errors are those of the query:
    /// NXDOMAIN when `host`, or the end of its chain, does not exist (RFC 6604 §2: the code is
    /// the last name's); a chain that runs in a circle is [`DnsError::Transport`].
    pub async fn cname_target_authenticated(
        &self,
        host: &str,
    ) -> Result<Option<CnameExpansion>, DnsError> {
        let name = fqdn(host)?;
        let response = self.raw_query(host, RecordType::A).await?;
        let chain = cname_chain(&name, &response.answers)?;
        Ok(chain.last().cloned().map(|target| CnameExpansion {
            target,
            chain,
            authenticated: response.metadata.authentic_data,
        }))
    }

    /// TLSA records at a name, asking the upstream to say (AD bit) whether it validated them.
    pub async fn tlsa(&self, name: &str) -> Result<Tlsa, DnsError> {
        let response = self.raw_query(name, RecordType::TLSA).await?;
        let records: Vec<String> = response
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::TLSA(tlsa) => Some(tlsa.to_string()),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            return Err(DnsError::NoData);
        }
        Ok(Tlsa {
            records,
            authenticated: response.metadata.authentic_data,
        })
    }

    /// One query for `name`/`rtype` to the first configured name server, the answer's response
    /// code turned into a [`DnsError`] unless it is NOERROR.
    ///
    /// The query is sent with AD=1 itself (RFC 6840 §5.7): a validating resolver then reports
    /// whether the answer is authenticated without the client validating DNSSEC on its own. The
    /// hickory resolver behind the other lookups neither sends AD=1 nor shows the answer's AD bit,
    /// hence this path of our own.
    async fn raw_query(&self, name: &str, rtype: RecordType) -> Result<Message, DnsError> {
        let upstream = self
            .raw_upstream
            .ok_or_else(|| DnsError::Transport("no name server configured".into()))?;
        self.pace(1).await;
        let mut query = Message::query();
        query.add_query(Query::query(fqdn(name)?, rtype));
        query.metadata.recursion_desired = true;
        query.metadata.authentic_data = true;
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        query.set_edns(edns);
        let response = exchange(&query, upstream, self.timeout).await?;
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(response),
            ResponseCode::NXDomain => Err(DnsError::NxDomain),
            ResponseCode::ServFail => Err(DnsError::ServFail),
            other => Err(DnsError::Refused(other.to_string())),
        }
    }
}

/// The MX set in `records` (other types, such as the CNAMEs of a chain, are skipped), sorted by
/// preference, with the null MX of RFC 7505 recognised.
fn mx_set<'a>(records: impl IntoIterator<Item = &'a Record>) -> MxSet {
    let mut hosts: Vec<(u16, String)> = records
        .into_iter()
        .filter_map(|record| match &record.data {
            RData::MX(mx) => Some((mx.preference, plain_name(&mx.exchange))),
            _ => None,
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    // RFC 7505 §3: a null MX is a single MX record with preference 0 and exchange ".".
    let null_mx = hosts.len() == 1 && hosts[0].1.is_empty();
    if null_mx {
        hosts.clear();
    }
    MxSet { hosts, null_mx }
}

/// The CNAME chain in `records` that starts at `start`: each alias target in order, followed
/// from owner to target (an answer's records need not come in chain order, RFC 1034 §4.3.2 only
/// says the CNAMEs are there). Records off the chain are ignored; a chain that comes back to a
/// name it passed is refused, as a resolver would refuse it (RFC 1034 §3.6.2).
fn cname_chain(start: &Name, records: &[Record]) -> Result<Vec<String>, DnsError> {
    let aliases: Vec<(String, String)> = records
        .iter()
        .filter_map(|record| match &record.data {
            RData::CNAME(target) => Some((plain_name(&record.name), plain_name(&target.0))),
            _ => None,
        })
        .collect();
    let mut current = plain_name(start);
    let mut seen = vec![current.clone()];
    let mut chain = Vec::new();
    while let Some((_, target)) = aliases.iter().find(|(owner, _)| *owner == current) {
        if seen.contains(target) {
            return Err(DnsError::Transport(format!(
                "the CNAME chain of {} runs in a circle at {target}",
                plain_name(start)
            )));
        }
        seen.push(target.clone());
        chain.push(target.clone());
        current = target.clone();
    }
    Ok(chain)
}

fn fqdn(name: &str) -> Result<Name, DnsError> {
    let absolute = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(&absolute).map_err(|e| DnsError::BadName(format!("{name}: {e}")))
}

/// A name as the rest of the toolkit compares it: lowercase, no trailing dot (the root is "").
fn plain_name(name: &Name) -> String {
    let text = name.to_ascii().to_ascii_lowercase();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}

/// One query over UDP, retried over TCP when the answer is truncated (RFC 1035 §4.2.1, RFC 7766).
async fn exchange(
    query: &Message,
    upstream: SocketAddr,
    timeout: Duration,
) -> Result<Message, DnsError> {
    let wire = query
        .to_vec()
        .map_err(|e| DnsError::Transport(e.to_string()))?;
    let udp = async {
        let bind: SocketAddr = if upstream.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        }
        .parse()
        .map_err(|_| DnsError::Transport("bind address".into()))?;
        let socket = tokio::net::UdpSocket::bind(bind).await.map_err(transport)?;
        socket.connect(upstream).await.map_err(transport)?;
        socket.send(&wire).await.map_err(transport)?;
        let mut buffer = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buffer).await.map_err(transport)?;
            // Answers with another id are strays (or spoofing attempts): keep waiting.
            if let Ok(message) = Message::from_vec(&buffer[..n])
                && message.metadata.id == query.metadata.id
            {
                return Ok(message);
            }
        }
    };
    let answer = tokio::time::timeout(timeout, udp)
        .await
        .map_err(|_| DnsError::Timeout)??;
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let tcp = async {
        let mut stream = tokio::net::TcpStream::connect(upstream)
            .await
            .map_err(transport)?;
        let length =
            u16::try_from(wire.len()).map_err(|_| DnsError::Transport("query too long".into()))?;
        stream
            .write_all(&length.to_be_bytes())
            .await
            .map_err(transport)?;
        stream.write_all(&wire).await.map_err(transport)?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await.map_err(transport)?;
        let mut buffer = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut buffer).await.map_err(transport)?;
        Message::from_vec(&buffer).map_err(|e| DnsError::Transport(e.to_string()))
    };
    tokio::time::timeout(timeout, tcp)
        .await
        .map_err(|_| DnsError::Timeout)?
}

fn transport(error: std::io::Error) -> DnsError {
    DnsError::Transport(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_addresses() {
        assert_eq!(
            parse_upstream("127.0.0.1:5353").ok(),
            "127.0.0.1:5353".parse().ok()
        );
        assert_eq!(parse_upstream("9.9.9.9").ok(), "9.9.9.9:53".parse().ok());
        assert_eq!(parse_upstream("[::1]:5353").ok(), "[::1]:5353".parse().ok());
        assert_eq!(parse_upstream("::1").ok(), "[::1]:53".parse().ok());
        assert!(parse_upstream("resolver.example").is_err());
        assert!(parse_upstream("1.2.3.4:99999").is_err());
    }

    fn mx_record(owner: &str, preference: u16, exchange: &str) -> Record {
        Record::from_rdata(
            Name::from_ascii(owner).expect("owner"),
            300,
            RData::MX(hickory_resolver::proto::rr::rdata::MX::new(
                preference,
                Name::from_ascii(exchange).expect("exchange"),
            )),
        )
    }

    #[test]
    fn mx_sets_are_sorted_and_skip_other_records() {
        let alias = Record::from_rdata(
            Name::from_ascii("example.com.").expect("owner"),
            300,
            RData::CNAME(hickory_resolver::proto::rr::rdata::CNAME(
                Name::from_ascii("mail.example.net.").expect("target"),
            )),
        );
        let records = [
            alias,
            mx_record("mail.example.net.", 20, "MX2.Example.NET."),
            mx_record("mail.example.net.", 10, "mx1.example.net."),
        ];
        assert_eq!(
            mx_set(&records),
            MxSet {
                hosts: vec![
                    (10, "mx1.example.net".into()),
                    (20, "mx2.example.net".into())
                ],
                null_mx: false,
            }
        );
    }

    #[test]
    fn a_single_root_exchange_is_the_null_mx() {
        let null = [mx_record("example.com.", 0, ".")];
        assert_eq!(
            mx_set(&null),
            MxSet {
                hosts: Vec::new(),
                null_mx: true
            }
        );
        // A root exchange beside real hosts is not a null MX (RFC 7505 §3: the only record).
        let mixed = [
            mx_record("example.com.", 0, "."),
            mx_record("example.com.", 10, "mx.example.com."),
        ];
        let set = mx_set(&mixed);
        assert!(!set.null_mx);
        assert_eq!(set.hosts.len(), 2);
        assert_eq!(
            mx_set(&[]),
            MxSet {
                hosts: Vec::new(),
                null_mx: false
            }
        );
    }

    fn cname_record(owner: &str, target: &str) -> Record {
        Record::from_rdata(
            Name::from_ascii(owner).expect("owner"),
            300,
            RData::CNAME(hickory_resolver::proto::rr::rdata::CNAME(
                Name::from_ascii(target).expect("target"),
            )),
        )
    }

    #[test]
    fn cname_chains_are_followed_from_the_queried_name() {
        let start = Name::from_ascii("MX.Example.COM.").expect("name");
        // Out of order, with a stray alias and an address record: only the chain counts.
        let records = [
            cname_record("mx.hoster.net.", "MX1.Provider.NET."),
            cname_record("other.example.com.", "elsewhere.example.net."),
            mx_record("example.com.", 10, "mx.example.com."),
            cname_record("mx.example.com.", "mx.hoster.net."),
        ];
        assert_eq!(
            cname_chain(&start, &records),
            Ok(vec![
                "mx.hoster.net".to_string(),
                "mx1.provider.net".to_string()
            ])
        );
        // Not an alias: an empty chain.
        assert_eq!(
            cname_chain(&start, &[mx_record("example.com.", 10, "mx.example.com.")]),
            Ok(Vec::new())
        );
        // A circle is an error, never an endless loop.
        let circle = [
            cname_record("mx.example.com.", "a.example.net."),
            cname_record("a.example.net.", "mx.example.com."),
        ];
        assert!(matches!(
            cname_chain(&start, &circle),
            Err(DnsError::Transport(message)) if message.contains("circle")
        ));
    }

    #[test]
    fn names_are_made_absolute() {
        assert_eq!(
            fqdn("example.com").map(|n| n.to_ascii()).ok().as_deref(),
            Some("example.com.")
        );
        assert_eq!(
            fqdn("_mta-sts.example.com.")
                .map(|n| n.to_ascii())
                .ok()
                .as_deref(),
            Some("_mta-sts.example.com.")
        );
        assert_eq!(plain_name(&Name::root()), "");
        assert_eq!(
            plain_name(&Name::from_ascii("MX.Example.COM.").expect("name")),
            "mx.example.com"
        );
    }
}
