//! RFC 2136 dynamic updates signed with TSIG (RFC 8945): replacing a TXT RRset, such as a
//! domain's `_mta-sts` record, at a zone's primary server, and reading it back from there.
//!
//! An update is one message over TCP (UDP is allowed too, but TCP never truncates and a
//! retried UDP datagram could apply an update twice) that deletes the RRset and adds the new
//! record in the same transaction, so the name is never without a record. The request is signed
//! with the configured key, and the answer must carry a valid TSIG of the same key: an unsigned
//! "success" could be forged by anyone on the path, and the caller would then announce a policy
//! id that was never published.
//!
//! Failures are told apart ([`UpdateError`]) because what to do next differs: a wrong secret or
//! an unknown key needs the configuration fixed, a refusal needs the server's access list
//! changed, a timeout can simply be retried.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm as HickoryTsigAlgorithm, TsigError};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use mta_sts_core::time::Clock;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Error, SystemClock};

#[cfg(feature = "test-support")]
pub mod knot;
#[cfg(test)]
mod tests;

/// RFC 8945 §5.2.3: the time window either side of the signing time a server accepts. 300 s is
/// the value the RFC recommends and every server defaults to.
const FUDGE_SECONDS: u16 = 300;

/// RFC 1035 §3.3: a TXT character-string holds at most 255 bytes; longer values are split.
const TXT_STRING_MAX: usize = 255;

/// A TSIG MAC algorithm (RFC 8945 §6): the HMAC-SHA-2 family, which every server speaks.
/// HMAC-MD5 (deprecated) and HMAC-SHA1 (not recommended for use) are not offered (RFC 8945 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub enum TsigAlgorithm {
    /// `hmac-sha256`, the default (RFC 8945 §6: "MUST" implement).
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// `hmac-sha384`.
    #[serde(rename = "hmac-sha384")]
    HmacSha384,
    /// `hmac-sha512`.
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

impl TsigAlgorithm {
    /// The algorithm's name as servers write it in their configuration (`hmac-sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }

    fn hickory(self) -> HickoryTsigAlgorithm {
        match self {
            TsigAlgorithm::HmacSha256 => HickoryTsigAlgorithm::HmacSha256,
            TsigAlgorithm::HmacSha384 => HickoryTsigAlgorithm::HmacSha384,
            TsigAlgorithm::HmacSha512 => HickoryTsigAlgorithm::HmacSha512,
        }
    }
}

impl fmt::Display for TsigAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TsigAlgorithm {
    type Err = Error;

    /// Reads `hmac-sha256` (any case, with or without the trailing dot of its DNS name form).
    fn from_str(text: &str) -> Result<TsigAlgorithm, Error> {
        let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
        [
            TsigAlgorithm::HmacSha256,
            TsigAlgorithm::HmacSha384,
            TsigAlgorithm::HmacSha512,
        ]
        .into_iter()
        .find(|algorithm| algorithm.as_str() == name)
        .ok_or_else(|| {
            Error::Config(format!(
                "`{text}` is not a TSIG algorithm this server offers; use hmac-sha256, \
                 hmac-sha384 or hmac-sha512"
            ))
        })
    }
}

/// A TSIG key: its name (as the DNS server knows it), algorithm and shared secret.
#[derive(Clone)]
pub struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    /// The secret is never shown, whatever logs the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// A key named `name` (a DNS name such as `mta-sts-update.`) with the raw `secret`.
    pub fn new(name: &str, algorithm: TsigAlgorithm, secret: Vec<u8>) -> Result<TsigKey, Error> {
        let name = absolute_name(name).map_err(|e| {
            Error::Config(format!("the TSIG key name `{name}` is not a DNS name: {e}"))
        })?;
        if secret.is_empty() {
            return Err(Error::Config(format!(
                "the secret of the TSIG key {} is empty",
                plain_name(&name)
            )));
        }
        Ok(TsigKey {
            name,
            algorithm,
            secret,
        })
    }

    /// A key whose secret is written in base64, as `tsig-keygen`, `keymgr -t` and every server's
    /// configuration write it.
    pub fn from_base64(
        name: &str,
        algorithm: TsigAlgorithm,
        secret: &str,
    ) -> Result<TsigKey, Error> {
        let secret = decode_secret(secret).ok_or_else(|| {
            Error::Config(format!(
                "the secret of the TSIG key {name} is not base64 (it should look like \
                 `c2VjcmV0...=`, as tsig-keygen writes it)"
            ))
        })?;
        TsigKey::new(name, algorithm, secret)
    }

    /// A key whose base64 secret is read from `path`: a file holding the secret alone, or the
    /// key file `tsig-keygen` (BIND: `secret "...";`) or `keymgr -t` (Knot: `secret: ...`)
    /// writes. Only the secret is taken from it; the name and algorithm are the caller's.
    pub fn from_secret_file(
        name: &str,
        algorithm: TsigAlgorithm,
        path: &Path,
    ) -> Result<TsigKey, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the TSIG secret file {}: {e}",
                path.display()
            ))
        })?;
        TsigKey::from_key_file_text(name, algorithm, &text, &path.display().to_string())
    }

    /// A key whose base64 secret is in `text`, what a secret file holds (see
    /// [`TsigKey::from_secret_file`]); `origin` names the file in errors.
    pub fn from_key_file_text(
        name: &str,
        algorithm: TsigAlgorithm,
        text: &str,
        origin: &str,
    ) -> Result<TsigKey, Error> {
        let secret = secret_in_key_file(text).ok_or_else(|| {
            Error::Config(format!(
                "the TSIG secret file {origin} holds no base64 secret: write the secret alone, \
                 or the key file tsig-keygen or keymgr -t produced"
            ))
        })?;
        TsigKey::new(name, algorithm, secret)
    }

    /// The key's name, without the trailing dot (`mta-sts-update`).
    pub fn name(&self) -> String {
        plain_name(&self.name)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> TsigAlgorithm {
        self.algorithm
    }

    fn signer(&self) -> Result<TSigner, Error> {
        TSigner::new(
            self.secret.clone(),
            self.algorithm.hickory(),
            self.name.clone(),
            FUDGE_SECONDS,
        )
        .map_err(|e| {
            Error::Config(format!(
                "the TSIG key {} cannot sign with {}: {e}",
                self.name(),
                self.algorithm
            ))
        })
    }
}

/// The secret of a key file: the value of a `secret` entry (BIND's `secret "...";`, Knot's
/// `secret: ...`), or else the whole text when it is base64 alone.
fn secret_in_key_file(text: &str) -> Option<Vec<u8>> {
    for line in text.lines() {
        let line = line.trim().trim_start_matches('-').trim_start();
        let Some(rest) = line.strip_prefix("secret") else {
            continue;
        };
        let value = rest
            .trim_start_matches([':', ' ', '\t', '"'])
            .trim_end_matches([';', ' ', '\t', '"', '}']);
        return decode_secret(value);
    }
    decode_secret(text.trim())
}

fn decode_secret(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64
        .decode(text.trim().as_bytes())
        .ok()
        .filter(|secret| !secret.is_empty())
}

/// Where updates for one zone go, and with which key.
#[derive(Debug, Clone)]
pub struct UpdateConfig {
    /// The zone's primary server (the one that accepts updates), `IP:PORT`.
    pub server: SocketAddr,
    /// The zone's name (its SOA owner, `example.com`): RFC 2136 §2.3 names it in the update.
    pub zone: String,
    /// The key the server's access list allows to update the zone.
    pub key: TsigKey,
    /// How long one exchange (connect, send, answer) may take.
    pub timeout: Duration,
}

/// Why an update, or a read-back, did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum UpdateError {
    /// RFC 2136 §3.3: REFUSED, the server's policy does not let this key update this name.
    #[error(
        "the DNS server refused the update (REFUSED): its access list does not allow this key \
         to update this name"
    )]
    Refused,
    /// RFC 8945 §5.2.1: NOTAUTH with BADKEY, the server does not know the key name or the key's
    /// algorithm differs from the server's. Knot also answers so when it knows the key but its
    /// access list does not let the key update the zone (BIND says REFUSED then).
    #[error(
        "the DNS server does not accept the TSIG key (NOTAUTH, BADKEY): check the key name and \
         algorithm against the server's configuration, and that its access list lets this key \
         update the zone"
    )]
    BadKey,
    /// RFC 8945 §5.2.2: NOTAUTH with BADSIG, the signature does not verify: the secret differs
    /// from the server's.
    #[error(
        "the DNS server found the TSIG signature wrong (NOTAUTH, BADSIG): the secret differs \
         from the server's"
    )]
    BadSig,
    /// RFC 8945 §5.2.3: NOTAUTH with BADTIME, the signing time is outside the server's window.
    #[error(
        "the DNS server rejected the signature's time (NOTAUTH, BADTIME): this host's clock and \
         the server's differ by more than {FUDGE_SECONDS} seconds"
    )]
    BadTime,
    /// RFC 2136 §3.1.2: NOTAUTH without a TSIG error, the server is not authoritative for the
    /// zone (or, for some servers, the key may not update it).
    #[error(
        "the DNS server is not authoritative for the zone, or does not let this key update it \
         (NOTAUTH)"
    )]
    NotAuth,
    /// RFC 2136 §3.4.1.3: NOTZONE, the name is outside the zone named in the update.
    #[error("the name is not inside the zone the update names (NOTZONE)")]
    NotZone,
    /// Another response code (SERVFAIL, FORMERR, NOTIMP, ...).
    #[error("the DNS server answered {0}")]
    Rejected(String),
    /// The answer is not signed with the key, or its signature does not verify: it cannot be
    /// trusted to say the update happened.
    #[error("the DNS server's answer is not authenticated with the TSIG key: {0}")]
    Unauthenticated(String),
    /// No answer in time.
    #[error("no answer from the DNS server in time")]
    Timeout,
    /// The server could not be reached, or the answer was not a DNS message for this request.
    #[error("cannot talk to the DNS server: {0}")]
    Transport(String),
    /// The name to update is not a DNS name, or lies outside the configured zone.
    #[error("{0}")]
    BadName(String),
}

impl UpdateError {
    /// True when trying again later may succeed unchanged (a timeout, an unreachable server, a
    /// server failure); false when the configuration (key, access list, zone) must change first.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpdateError::Timeout | UpdateError::Transport(_) | UpdateError::Rejected(_)
        )
    }
}

/// A client sending TSIG-signed RFC 2136 updates for one zone to its primary server.
#[derive(Clone)]
pub struct DnsUpdater {
    server: SocketAddr,
    zone: Name,
    key: TsigKey,
    signer: TSigner,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DnsUpdater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsUpdater")
            .field("server", &self.server)
            .field("zone", &self.zone())
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DnsUpdater {
    /// A client for `config`'s zone, signing with the system clock's time.
    pub fn new(config: UpdateConfig) -> Result<DnsUpdater, Error> {
        let zone = absolute_name(&config.zone).map_err(|e| {
            Error::Config(format!("the zone `{}` is not a DNS name: {e}", config.zone))
        })?;
        let signer = config.key.signer()?;
        Ok(DnsUpdater {
            server: config.server,
            zone,
            key: config.key,
            signer,
            timeout: config.timeout,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same client signing with `clock`'s time (tests: a clock far off is refused BADTIME).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> DnsUpdater {
        self.clock = clock;
        self
    }

    /// The zone's name, without the trailing dot.
    pub fn zone(&self) -> String {
        plain_name(&self.zone)
    }

    /// The primary server updates go to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The name of the key updates are signed with, without the trailing dot.
    pub fn key_name(&self) -> String {
        self.key.name()
    }

    /// Whether `name` lies in this client's zone (the zone's apex included).
    pub fn covers(&self, name: &str) -> bool {
        absolute_name(name).is_ok_and(|name| self.zone.zone_of(&name))
    }

    /// Replaces every TXT record at `name` with one record holding `value` (split into
    /// 255-byte character-strings when longer), with time to live `ttl`, in one transaction.
    pub async fn replace_txt(&self, name: &str, ttl: u32, value: &str) -> Result<(), UpdateError> {
        let owner = self.owner(name)?;
        let message = replace_txt_message(&self.zone, owner, ttl, value);
        self.send_signed(message).await
    }

    /// The TXT records at `name` as the primary server holds them now, each record's strings
    /// joined (RFC 8461 §3.1 joins them so), in the server's order. An empty list when the name
    /// or its TXT RRset does not exist.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, UpdateError> {
        let owner = self.owner(name)?;
        let mut query = Message::query();
        // An authoritative question to the primary itself: no recursion wanted.
        query.metadata.recursion_desired = false;
        query.add_query(Query::query(owner, RecordType::TXT));
        let bytes = self.exchange(&query).await?;
        let response = Message::from_vec(&bytes)
            .map_err(|e| UpdateError::Transport(format!("the answer is not a DNS message: {e}")))?;
        match response.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(response
                .answers
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            ResponseCode::Refused => Err(UpdateError::Refused),
            ResponseCode::NotAuth => Err(UpdateError::NotAuth),
            other => Err(UpdateError::Rejected(other.to_string())),
        }
    }

    fn owner(&self, name: &str) -> Result<Name, UpdateError> {
        let owner = absolute_name(name)
            .map_err(|e| UpdateError::BadName(format!("`{name}` is not a DNS name: {e}")))?;
        // RFC 2136 §3.4.1.3: a name outside the zone is refused NOTZONE; say so before sending.
        if !self.zone.zone_of(&owner) {
            return Err(UpdateError::BadName(format!(
                "{} is not inside the zone {} this key updates",
                plain_name(&owner),
                self.zone()
            )));
        }
        Ok(owner)
    }

    /// Signs `message`, sends it, and checks the answer: its id, its TSIG (RFC 8945 §5.4) and
    /// its response code.
    async fn send_signed(&self, mut message: Message) -> Result<(), UpdateError> {
        let now = u64::try_from(self.clock.now().unix_seconds()).unwrap_or(0);
        let mut verifier = message
            .finalize(&self.signer, now)
            .map_err(|e| UpdateError::Transport(format!("cannot sign the update: {e}")))?
            .ok_or_else(|| UpdateError::Transport("the signer gave no verifier".into()))?;
        let bytes = self.exchange(&message).await?;
        let response = Message::from_vec(&bytes)
            .map_err(|e| UpdateError::Transport(format!("the answer is not a DNS message: {e}")))?;
        match response.signature().and_then(|tsig| tsig.data.error) {
            // RFC 8945 §5.3.2: BADKEY and BADSIG answers are unsigned (the server could not
            // sign with a key it does not share); they are taken as the refusal they state, as
            // nothing was changed either way.
            Some(TsigError::BadKey) => return Err(UpdateError::BadKey),
            Some(TsigError::BadSig) => return Err(UpdateError::BadSig),
            Some(TsigError::BadTime) => return Err(UpdateError::BadTime),
            Some(other) => {
                return Err(UpdateError::Rejected(format!(
                    "{} with the TSIG error {}",
                    response.metadata.response_code,
                    u16::from(other)
                )));
            }
            None => {}
        }
        if response.signature().is_none() {
            // RFC 8945 §5.4: an answer to a signed request without a TSIG is not authentic. A
            // server answers so when it refuses before looking at the key (REFUSED, NOTAUTH
            // for a zone it does not serve): report what it said, never take it as success.
            return match response.metadata.response_code {
                ResponseCode::NoError => Err(UpdateError::Unauthenticated(
                    "the answer carries no TSIG record".into(),
                )),
                code => Err(response_code_error(code)),
            };
        }
        verifier.verify(&bytes).map_err(|e| {
            UpdateError::Unauthenticated(format!("its signature does not verify ({e})"))
        })?;
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            code => Err(response_code_error(code)),
        }
    }

    /// One request over TCP (RFC 1035 §4.2.2: two-byte length, then the message), the answer's
    /// bytes returned once its id matches the request's.
    async fn exchange(&self, request: &Message) -> Result<Vec<u8>, UpdateError> {
        let wire = request
            .to_vec()
            .map_err(|e| UpdateError::Transport(format!("cannot encode the request: {e}")))?;
        let length = u16::try_from(wire.len())
            .map_err(|_| UpdateError::Transport("the request is longer than 65535 bytes".into()))?;
        let server = self.server;
        let exchange = async {
            let mut stream = TcpStream::connect(server)
                .await
                .map_err(|e| UpdateError::Transport(format!("cannot connect to {server}: {e}")))?;
            let mut framed = Vec::with_capacity(wire.len() + 2);
            framed.extend_from_slice(&length.to_be_bytes());
            framed.extend_from_slice(&wire);
            stream.write_all(&framed).await.map_err(io_error)?;
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).await.map_err(io_error)?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut answer).await.map_err(io_error)?;
            Ok::<_, UpdateError>(answer)
        };
        let answer = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpdateError::Timeout)??;
        // The header's id is the answer's first two bytes (RFC 1035 §4.1.1), the QR bit the
        // third byte's top bit.
        let id = answer.get(..2).map(|id| u16::from_be_bytes([id[0], id[1]]));
        let is_response = answer.get(2).is_some_and(|flags| flags & 0x80 != 0);
        if id != Some(request.metadata.id) || !is_response {
            return Err(UpdateError::Transport(
                "the answer is not a response to this request".into(),
            ));
        }
        Ok(answer)
    }
}

/// The RFC 2136 message replacing the TXT RRset at `owner` in `zone` with one record.
fn replace_txt_message(zone: &Name, owner: Name, ttl: u32, value: &str) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    // RFC 2136 §2.3: the zone section names the zone, type SOA, the zone's class.
    let mut zone_section = Query::query(zone.clone(), RecordType::SOA);
    zone_section.set_query_class(DNSClass::IN);
    message.add_query(zone_section);
    // RFC 2136 §2.5.2: delete an RRset: class ANY, TTL 0, empty RDATA, the RRset's type.
    let mut delete = Record::update0(owner.clone(), 0, RecordType::TXT);
    delete.dns_class = DNSClass::ANY;
    message.add_authority(delete);
    // RFC 2136 §2.5.1: add to an RRset: the zone's class, the record as it should be. The
    // deletion before it in the same message leaves this record alone in the RRset (§3.4.2:
    // updates are processed in order).
    message.add_authority(Record::from_rdata(
        owner,
        ttl,
        RData::TXT(TXT::from_bytes(txt_strings(value))),
    ));
    message
}

/// `value` as TXT character-strings of at most 255 bytes each (RFC 1035 §3.3); a reader joins
/// them back (RFC 8461 §3.1, RFC 7208 §3.3).
fn txt_strings(value: &str) -> Vec<&[u8]> {
    if value.is_empty() {
        return vec![&[]];
    }
    value.as_bytes().chunks(TXT_STRING_MAX).collect()
}

fn response_code_error(code: ResponseCode) -> UpdateError {
    match code {
        ResponseCode::Refused => UpdateError::Refused,
        ResponseCode::NotAuth => UpdateError::NotAuth,
        ResponseCode::NotZone => UpdateError::NotZone,
        other => UpdateError::Rejected(other.to_string()),
    }
}

fn io_error(error: std::io::Error) -> UpdateError {
    UpdateError::Transport(error.to_string())
}

fn absolute_name(name: &str) -> Result<Name, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed == "." {
        return Err("it is empty".into());
    }
    let absolute = if trimmed.ends_with('.') {
        trimmed.to_string()
    } else {
        format!("{trimmed}.")
    };
    Name::from_ascii(&absolute).map_err(|e| e.to_string())
}

/// A name as the rest of the toolkit writes it: lowercase, no trailing dot.
fn plain_name(name: &Name) -> String {
    let text = name.to_ascii().to_ascii_lowercase();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}
