//! The authoritative DNS server: one `test.` zone in hickory's in-memory zone handler, wrapped by
//! a request handler that adds the two failure domains.
//!
//! The in-memory handler already gives the split MTA-STS clients must see: NXDOMAIN for a name
//! that does not exist, NODATA (NOERROR, empty answer, SOA in authority) for a name that exists
//! without the asked type (RFC 2308 §1), and CNAME chains in the answer (RFC 1034 §3.6.2).
//! Negative answers are decided from an index and built from a zone of the apex alone, because
//! the handler decides them by scanning the whole zone (see `Negatives`).
//!
//! For the domains of [`Scenario::signed`] scenarios the server also plays a validating
//! recursive resolver: a query that asks (AD=1, RFC 6840 §5.7, or DO=1, RFC 4035 §3.2.3) gets
//! its answer with the AD bit set, positive or negative alike, as a validating resolver sets it
//! on authenticated data and authenticated denial. An answer that follows a CNAME chain gets AD
//! only when every name of the chain is in a signed domain: a validating resolver sets AD only
//! when all the RRsets of the answer validated (RFC 4035 §3.2.3), and an alias into an unsigned
//! zone is "insecure" past the zone cut (RFC 7672 §2.2.2 tells such an expansion apart). Nothing
//! is signed for real: DANE-aware clients behind a validating resolver look only at that bit,
//! and that is what the lab tests.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    future::Future,
    net::{Ipv4Addr, Ipv6Addr},
    pin::Pin,
    sync::{Arc, PoisonError, RwLock},
};

use hickory_proto::{
    op::{Header, HeaderCounts, Metadata, ResponseCode},
    rr::{
        LowerName, Name, RData, Record, RecordSet, RecordType, RrKey,
        rdata::{
            A, AAAA, CNAME, MX, NS, PTR, SOA, TLSA, TXT,
            tlsa::{CertUsage, Matching, Selector},
        },
    },
};
use hickory_server::{
    net::{NetError, runtime::Time},
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    store::in_memory::InMemoryZoneHandler,
    zone_handler::{AxfrPolicy, Catalog, MessageResponse, MessageResponseBuilder, ZoneType},
};

use crate::{
    error::ScenarioProblem,
    scenario::{
        REVERSE_NAMES, RecordData, SERVFAIL_DOMAIN, Scenario, TIMEOUT_DOMAIN, TlsaAssociation,
    },
};

/// Zero: a record "can only be used for the transaction in progress, and should not be
/// cached" (RFC 1035 §3.2.1), so a client with a caching resolver (a checker run on a schedule)
/// sees a change made by [`Lab::update`](crate::Lab::update) at its next lookup.
const TTL: u32 = 0;

/// The SOA minimum, which caps how long a "no such name" or "no such data" answer is cached
/// (RFC 2308 §5): zero too, so a name added by a change is found at the next lookup.
const NEGATIVE_TTL: u32 = 0;

/// The origin of the lab zone.
const ORIGIN: &str = "test.";

/// Parses a scenario name (no trailing dot) as a fully qualified DNS name.
pub(crate) fn fqdn(name: &str) -> Result<Name, ScenarioProblem> {
    if name == "." {
        return Ok(Name::root());
    }
    let bad = || ScenarioProblem::BadName(name.to_owned());
    if name.is_empty() || name.ends_with('.') {
        return Err(bad());
    }
    Name::from_ascii(format!("{name}.")).map_err(|_| bad())
}

/// Accumulates the records of the `test.` zone.
pub(crate) struct ZoneBuilder {
    records: BTreeMap<RrKey, RecordSet>,
    /// Leave out AAAA ::1 records: nothing can listen there on this host.
    skip_ipv6_loopback: bool,
    /// The data of [`TlsaAssociation::LabLeafSpkiSha256`].
    leaf_spki_sha256: Vec<u8>,
    /// The domains of signed scenarios.
    signed: Vec<LowerName>,
    /// Every CNAME of the zone, owner to target: the chains an answer follows.
    aliases: HashMap<LowerName, LowerName>,
}

impl ZoneBuilder {
    /// The zone apex with its SOA and NS, and the name server's own address.
    pub(crate) fn new(
        skip_ipv6_loopback: bool,
        leaf_spki_sha256: Vec<u8>,
    ) -> Result<Self, ScenarioProblem> {
        let mut this = Self {
            records: BTreeMap::new(),
            skip_ipv6_loopback,
            leaf_spki_sha256,
            signed: Vec::new(),
            aliases: HashMap::new(),
        };
        let origin = fqdn("test")?;
        let ns = fqdn("ns.test")?;
        let soa = lab_soa(&ns)?;
        this.insert(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)));
        this.insert(Record::from_rdata(origin, TTL, RData::NS(NS(ns.clone()))));
        this.insert(Record::from_rdata(
            ns,
            TTL,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        ));
        // The first reverse name resolves back to its address (forward-confirmed).
        let (address, name) = REVERSE_NAMES[0];
        this.insert(Record::from_rdata(fqdn(name)?, TTL, RData::A(A(address))));
        Ok(this)
    }

    fn insert(&mut self, record: Record) {
        let key = RrKey::new(LowerName::new(&record.name), record.record_type());
        self.records
            .entry(key)
            .or_insert_with(|| RecordSet::new(record.name.clone(), record.record_type(), 0))
            .insert(record, 0);
    }

    /// Adds every record of `scenario`.
    pub(crate) fn add(&mut self, scenario: &Scenario) -> Result<(), ScenarioProblem> {
        let domain = fqdn(&scenario.domain)?;
        if scenario.signed {
            self.signed.push(LowerName::new(&domain));
        }
        for record in &scenario.records {
            let name = fqdn(&record.name)?;
            if !domain.zone_of(&name) {
                return Err(ScenarioProblem::OutsideDomain(record.name.clone()));
            }
            let rdata = match &record.data {
                RecordData::A(a) => RData::A(A(*a)),
                RecordData::Aaaa(a) if self.skip_ipv6_loopback && *a == Ipv6Addr::LOCALHOST => {
                    continue;
                }
                RecordData::Aaaa(a) => RData::AAAA(AAAA(*a)),
                RecordData::Cname(target) => RData::CNAME(CNAME(fqdn(target)?)),
                RecordData::Mx {
                    preference,
                    exchange,
                } => RData::MX(MX::new(*preference, fqdn(exchange)?)),
                RecordData::Txt(strings) => {
                    // A character-string carries at most 255 bytes (RFC 1035 §3.3).
                    if let Some(long) = strings.iter().find(|s| s.len() > 255) {
                        return Err(ScenarioProblem::TxtStringTooLong(long.clone()));
                    }
                    RData::TXT(TXT::new(strings.clone()))
                }
                RecordData::Tlsa {
                    usage,
                    selector,
                    matching,
                    association,
                } => {
                    let data = match association {
                        TlsaAssociation::Bytes(bytes) => bytes.clone(),
                        TlsaAssociation::LabLeafSpkiSha256 => self.leaf_spki_sha256.clone(),
                    };
                    RData::TLSA(TLSA::new(
                        CertUsage::from(*usage),
                        Selector::from(*selector),
                        Matching::from(*matching),
                        data,
                    ))
                }
            };
            let rtype = rdata.record_type();
            let lower = LowerName::new(&name);
            let first = RrKey::new(lower.clone(), RecordType::Unknown(u16::MIN));
            let last = RrKey::new(lower, RecordType::Unknown(u16::MAX));
            let mut present = self.records.range(first..=last).map(|(k, _)| k.record_type);
            // A CNAME owns its name alone (RFC 1034 §3.6.2); the zone would drop the extra
            // record silently, so refuse the scenario instead.
            let conflict = if rtype == RecordType::CNAME {
                present.next().is_some()
            } else {
                present.any(|t| t == RecordType::CNAME)
            };
            if conflict {
                return Err(ScenarioProblem::RecordConflict(record.name.clone()));
            }
            if let RData::CNAME(target) = &rdata {
                self.aliases
                    .insert(LowerName::new(&name), LowerName::new(&target.0));
            }
            self.insert(Record::from_rdata(name, TTL, rdata));
        }
        Ok(())
    }

    /// The zone's data, ready to serve.
    pub(crate) fn finish(self) -> Result<Zone, ScenarioProblem> {
        let origin = fqdn("test")?;
        let negatives = Negatives::index(&origin, &self.records)?;
        let zone = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::new(
            origin.clone(),
            self.records,
            ZoneType::Primary,
            AxfrPolicy::Deny,
        )
        .map_err(|_| ScenarioProblem::RecordConflict(ORIGIN.to_owned()))?;
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
        let (reverse_origin, reverse) = reverse_zone()?;
        catalog.upsert(LowerName::new(&reverse_origin), vec![Arc::new(reverse)]);
        Ok(Zone {
            catalog,
            signed: self.signed,
            aliases: self.aliases,
            negatives,
        })
    }
}

/// What it takes to answer "no such name" and "no such data" without hickory's in-memory
/// handler, which decides between the two by scanning every name of the zone: with 10,000
/// generated domains that scan cost a millisecond per negative answer, and each check asks
/// several questions answered that way (AAAA of the policy host and the MX, TLSA). The answer is
/// still built by hickory, from a zone holding only the apex (and, for NODATA, the name asked
/// about), so it is the same message the whole zone gives: the code, and the SOA in authority
/// (RFC 2308 §2).
struct Negatives {
    origin: LowerName,
    /// Every owner name, and every name between one and the apex (empty non-terminals exist
    /// too: RFC 8020 §2).
    names: HashSet<LowerName>,
    /// Every (owner, type) with records.
    rrsets: HashSet<(LowerName, RecordType)>,
    /// The apex records (SOA, NS).
    apex: BTreeMap<RrKey, RecordSet>,
    /// The apex alone: the NXDOMAIN answer for any name.
    nxdomain: Catalog,
    /// Some owner name is a wildcard; the zone then answers every question itself.
    wildcards: bool,
}

impl Negatives {
    fn index(origin: &Name, records: &BTreeMap<RrKey, RecordSet>) -> Result<Self, ScenarioProblem> {
        let origin = LowerName::new(origin);
        let mut names = HashSet::new();
        let mut rrsets = HashSet::new();
        let mut wildcards = false;
        for key in records.keys() {
            rrsets.insert((key.name.clone(), key.record_type));
            wildcards |= key.name.is_wildcard();
            let mut name = key.name.clone();
            while names.insert(name.clone()) && name != origin && !name.is_root() {
                name = name.base_name();
            }
        }
        let apex: BTreeMap<RrKey, RecordSet> = records
            .iter()
            .filter(|(key, _)| key.name == origin)
            .map(|(key, set)| (key.clone(), set.clone()))
            .collect();
        let nxdomain = apex_catalog(&origin, apex.clone())?;
        Ok(Self {
            origin,
            names,
            rrsets,
            apex,
            nxdomain,
            wildcards,
        })
    }

    /// The catalog that answers `qname`/`qtype` negatively, if the zone's answer is negative and
    /// no CNAME is involved; `None` for every other question.
    fn catalog_for(
        &self,
        qname: &LowerName,
        qtype: RecordType,
        aliases: &HashMap<LowerName, LowerName>,
    ) -> Option<Negative> {
        let plain = !matches!(qtype, RecordType::ANY | RecordType::AXFR | RecordType::IXFR);
        if self.wildcards
            || !plain
            || !self.origin.zone_of(qname)
            || aliases.contains_key(qname)
            || self.rrsets.contains(&(qname.clone(), qtype))
        {
            return None;
        }
        if !self.names.contains(qname) {
            return Some(Negative::NxDomain);
        }
        // The name exists without this type: the apex plus one record of another type at the
        // name, which the answer never shows (NODATA carries no records of the name).
        let placeholder = if qtype == RecordType::TXT {
            RData::A(A(Ipv4Addr::UNSPECIFIED))
        } else {
            RData::TXT(TXT::new(Vec::new()))
        };
        let record = Record::from_rdata(Name::from(qname), TTL, placeholder);
        let mut records = self.apex.clone();
        let key = RrKey::new(qname.clone(), record.record_type());
        let mut set = RecordSet::new(record.name.clone(), record.record_type(), 0);
        set.insert(record, 0);
        records.insert(key, set);
        // A catalog that cannot be built leaves the question to the whole zone, which gives
        // the same answer, slowly.
        apex_catalog(&self.origin, records)
            .ok()
            .map(Negative::NoData)
    }
}

/// A negative answer, and the catalog to give it from.
enum Negative {
    /// From [`Negatives::nxdomain`].
    NxDomain,
    /// From this catalog of the apex and the name.
    NoData(Catalog),
}

/// A catalog serving one zone at `origin` with these records.
fn apex_catalog(
    origin: &LowerName,
    records: BTreeMap<RrKey, RecordSet>,
) -> Result<Catalog, ScenarioProblem> {
    let name = Name::from(origin);
    let zone = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::new(
        name,
        records,
        ZoneType::Primary,
        AxfrPolicy::Deny,
    )
    .map_err(|_| ScenarioProblem::RecordConflict(ORIGIN.to_owned()))?;
    let mut catalog = Catalog::new();
    catalog.upsert(origin.clone(), vec![Arc::new(zone)]);
    Ok(catalog)
}

/// Everything the lab's DNS server answers from: the zone catalog, and which names are signed.
pub(crate) struct Zone {
    catalog: Catalog,
    signed: Vec<LowerName>,
    aliases: HashMap<LowerName, LowerName>,
    negatives: Negatives,
}

/// The zone a running server answers from, replaced whole by [`Lab::update`](crate::Lab::update).
/// Each query clones the `Arc` under a read lock held only for that clone, so a change never waits
/// for a query in flight and a query sees either the old zone or the new one, never a mix.
pub(crate) type SharedZone = Arc<RwLock<Arc<Zone>>>;

/// The zone `127.in-addr.arpa.` with the PTR records of [`REVERSE_NAMES`].
/// The SOA of every zone the lab serves (`test.` and the reverse zone): one name server,
/// and [`NEGATIVE_TTL`] so that a change made while the lab runs is seen at the next lookup.
fn lab_soa(ns: &Name) -> Result<SOA, ScenarioProblem> {
    Ok(SOA::new(
        ns.clone(),
        fqdn("hostmaster.test")?,
        1,
        3600,
        600,
        86_400,
        NEGATIVE_TTL,
    ))
}

fn reverse_zone() -> Result<
    (
        Name,
        InMemoryZoneHandler<hickory_server::net::runtime::TokioRuntimeProvider>,
    ),
    ScenarioProblem,
> {
    let origin = fqdn("127.in-addr.arpa")?;
    let ns = fqdn("ns.test")?;
    let soa = lab_soa(&ns)?;
    let mut records: BTreeMap<RrKey, RecordSet> = BTreeMap::new();
    let mut insert = |record: Record| {
        let key = RrKey::new(LowerName::new(&record.name), record.record_type());
        records
            .entry(key)
            .or_insert_with(|| RecordSet::new(record.name.clone(), record.record_type(), 0))
            .insert(record, 0);
    };
    insert(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)));
    insert(Record::from_rdata(origin.clone(), TTL, RData::NS(NS(ns))));
    for (address, name) in REVERSE_NAMES {
        let owner = Name::from(std::net::IpAddr::V4(address));
        insert(Record::from_rdata(owner, TTL, RData::PTR(PTR(fqdn(name)?))));
    }
    let zone =
        InMemoryZoneHandler::new(origin.clone(), records, ZoneType::Primary, AxfrPolicy::Deny)
            .map_err(|_| ScenarioProblem::RecordConflict("127.in-addr.arpa.".to_owned()))?;
    Ok((origin, zone))
}

/// The lab's request handler: the zone catalog, plus [`SERVFAIL_DOMAIN`] and [`TIMEOUT_DOMAIN`],
/// and the AD bit for the domains of signed scenarios.
pub(crate) struct LabDns {
    zone: SharedZone,
    servfail: LowerName,
    silent: LowerName,
}

impl LabDns {
    /// A handler answering from `zone`, which may be replaced while it serves.
    pub(crate) fn new(zone: SharedZone) -> Result<Self, ScenarioProblem> {
        Ok(Self {
            zone,
            servfail: LowerName::new(&fqdn(SERVFAIL_DOMAIN)?),
            silent: LowerName::new(&fqdn(TIMEOUT_DOMAIN)?),
        })
    }
}

impl Zone {
    /// Whether a validating resolver would call the answer for `qname`/`qtype` authenticated:
    /// `qname` and, unless the query is for the CNAME itself (answered with the first link
    /// alone), every name its CNAME chain passes through lie in signed domains (RFC 4035
    /// §3.2.3: AD only when every RRset of the answer validated).
    fn authenticated(&self, qname: &LowerName, qtype: RecordType) -> bool {
        let signed = |name: &LowerName| self.signed.iter().any(|zone| zone.zone_of(name));
        if !signed(qname) {
            return false;
        }
        if qtype == RecordType::CNAME {
            return true;
        }
        // Each step takes one alias, so a chain that runs in a circle stops after all of them.
        let mut current = qname;
        for _ in 0..self.aliases.len() {
            match self.aliases.get(current) {
                Some(target) if !signed(target) => return false,
                Some(target) => current = target,
                None => break,
            }
        }
        true
    }
}

impl LabDns {
    async fn answer<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        // A poisoned lock only means a change panicked before its swap; the zone is whole.
        let zone = Arc::clone(&self.zone.read().unwrap_or_else(PoisonError::into_inner));
        if let Some(query) = request.queries.queries().first() {
            let qname = query.name();
            if self.silent.zone_of(qname) {
                // No reply at all: what a dead server looks like to the client, whose own
                // timeout then fires. The ResponseInfo only feeds the server's logging.
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
            if self.servfail.zone_of(qname) {
                let response = MessageResponseBuilder::new(&request.queries, None)
                    .error_msg(&request.metadata, ResponseCode::ServFail);
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                let fallback = ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
                return response_handle
                    .send_response(response)
                    .await
                    .unwrap_or(fallback);
            }
            // A negative answer from a zone of the apex alone (see `Negatives`).
            let negative = zone
                .negatives
                .catalog_for(qname, query.query_type(), &zone.aliases);
            let catalog = match &negative {
                Some(Negative::NxDomain) => &zone.negatives.nxdomain,
                Some(Negative::NoData(own)) => own,
                None => &zone.catalog,
            };
            // RFC 6840 §5.7: a query with AD=1 asks whether the answer is authenticated; RFC
            // 4035 §3.2.3: so does DO=1. Without either, a validating resolver leaves AD clear.
            let asks = request.metadata.authentic_data
                || request
                    .edns
                    .as_ref()
                    .is_some_and(|edns| edns.flags().dnssec_ok);
            if asks && zone.authenticated(qname, query.query_type()) {
                return catalog
                    .handle_request::<Authenticated<R>, T>(request, Authenticated(response_handle))
                    .await;
            }
            return catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        }
        zone.catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// Sends responses through the wrapped handler with the AD bit set (RFC 4035 §3.2.3): what a
/// validating resolver answers for data of a signed zone it could validate.
#[derive(Clone)]
struct Authenticated<R>(R);

// Written out by hand, like `RequestHandler` below: the trait is declared with `async_trait`.
// No future of our own is needed: the flag is set, then the inner handler's future is returned.
impl<R: ResponseHandler> ResponseHandler for Authenticated<R> {
    fn send_response<'a, 'life0, 'life1, 'async_trait>(
        &'life0 mut self,
        mut response: MessageResponse<
            'life1,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a + 'async_trait,
            impl Iterator<Item = &'a Record> + Send + 'a + 'async_trait,
            impl Iterator<Item = &'a Record> + Send + 'a + 'async_trait,
            impl Iterator<Item = &'a Record> + Send + 'a + 'async_trait,
        >,
    ) -> Pin<Box<dyn Future<Output = Result<ResponseInfo, NetError>> + Send + 'async_trait>>
    where
        'a: 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        response.metadata_mut().authentic_data = true;
        self.0.send_response(response)
    }
}

// Written out by hand: the trait is declared with `async_trait`, which is not among this crate's
// dependencies; this is the signature that macro generates.
impl RequestHandler for LabDns {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.answer::<R, T>(request, response_handle))
    }
}
