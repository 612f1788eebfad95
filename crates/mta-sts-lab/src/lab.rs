//! [`Lab`]: every scenario's servers, running on loopback.

use std::{
    collections::{HashMap, HashSet},
    fmt, fs,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use hickory_server::Server;
use rustls::{ServerConfig, crypto::CryptoProvider, server::ResolvesServerCert};
use tokio::task::JoinSet;

use crate::net::Ports;
use tokio_rustls::TlsAcceptor;

use crate::{
    ca::{LabCa, SniResolver},
    catalog::{catalog, generated},
    dns::{LabDns, SharedZone, Zone, ZoneBuilder, fqdn},
    error::{LabError, ScenarioProblem},
    https::{self, SharedWebHosts, WebHosts},
    net::{self, OwnAddr},
    scenario::{
        CertKind, HTTP_ONLY_ADDR, MxHost, RecordData, SERVFAIL_DOMAIN, SHARED_ADDR, Scenario,
        SmtpBehaviour, TIMEOUT_DOMAIN,
    },
    smtp::{self, Conduct, SHARED_HOST_NAME, SmtpHost},
};

/// DNS-over-TCP connections idle longer than this are closed.
const DNS_TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per DNS-over-TCP connection.
const DNS_TCP_BUFFER: usize = 32;

/// A simulated internet on loopback: one authoritative DNS server for `test.`, a private CA,
/// HTTPS (and one plain-HTTP) policy hosts and SMTP servers, serving a set of [`Scenario`]s.
///
/// # Addresses
/// - DNS: [`Lab::dns_addr`], UDP and TCP, on 127.0.0.1.
/// - Web: every policy host on 127.0.0.1:[`https_port`](Lab::https_port) (certificate by SNI, host
///   by `Host` header); plain HTTP only on 127.0.0.2:[`http_port`](Lab::http_port), where the
///   HTTPS port refuses connections.
/// - SMTP: well-behaved MX hosts share 127.0.0.1:[`smtp_port`](Lab::smtp_port) (certificate by
///   SNI); each misbehaving MX has an address 127.0.0.N (N ≥ 3) of its own with a listener on the
///   same port number, or nothing listening there for an unreachable one.
/// - Scenarios with AAAA ::1 records are also served on `[::1]` with the same ports, if this host has
///   IPv6 loopback ([`Lab::ipv6`]).
///
/// # Changes while running
/// [`Lab::update`] changes one domain's records, policy hosts and certificates while the servers
/// run, for tests of tools that watch a domain over time.
///
/// Every port is chosen by the OS. Dropping the lab aborts its servers and removes
/// [`Lab::ca_file`]; [`Lab::shutdown`] does the same and waits until the sockets are closed.
pub struct Lab {
    scenarios: Vec<Scenario>,
    generated: Vec<Scenario>,
    dns_addr: SocketAddr,
    https_port: u16,
    http_port: u16,
    smtp_port: u16,
    ipv6: bool,
    ca_pem: String,
    ca: Arc<LabCa>,
    leaf_spki_sha256: Vec<u8>,
    ca_dir: CaDir,
    dns: Server<LabDns>,
    zone: SharedZone,
    web_hosts: SharedWebHosts,
    web_certs: Arc<SniResolver>,
    smtp_certs: Arc<SniResolver>,
    tasks: JoinSet<()>,
    /// Ports held without listening; kept only to stay bound.
    _held: Vec<tokio::net::TcpSocket>,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab")
            .field("dns_addr", &self.dns_addr)
            .field("https_port", &self.https_port)
            .field("http_port", &self.http_port)
            .field("smtp_port", &self.smtp_port)
            .field("ipv6", &self.ipv6)
            .field("scenarios", &self.scenarios.len())
            .field("generated", &self.generated.len())
            .field("ca_file", &self.ca_dir.file)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// Starts every scenario of [`catalog()`] on loopback.
    pub async fn start() -> Result<Lab, LabError> {
        Self::start_with(catalog(), 0).await
    }

    /// Starts the given scenarios plus `generated` healthy domains named `gen-00001.test`,
    /// `gen-00002.test`, ... (see [`Lab::generated`]).
    ///
    /// Nothing is started if a scenario is invalid ([`LabError::InvalidScenario`]).
    pub async fn start_with(scenarios: Vec<Scenario>, generated: usize) -> Result<Lab, LabError> {
        Self::start_on(scenarios, generated, Ports::EPHEMERAL).await
    }

    /// Like [`Lab::start_with`], on the given ports ([`Ports::STANDARD`] for tools that only speak
    /// to 53, 443 and 25).
    pub async fn start_on(
        scenarios: Vec<Scenario>,
        generated: usize,
        ports: Ports,
    ) -> Result<Lab, LabError> {
        let generated: Vec<Scenario> = (1..=generated).map(self::generated).collect();
        let all = || scenarios.iter().chain(&generated);
        let plan = Plan::new(all())?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = Arc::new(LabCa::generate(&provider)?);
        let leaf_spki_sha256 = ca.leaf_spki_sha256().ok_or(LabError::NoSha256)?;

        let sockets = net::bind_all(&plan.own, plan.wants_ipv6, ports).await?;
        let zone: SharedZone = Arc::new(RwLock::new(Arc::new(build_zone(
            sockets.ipv6,
            &leaf_spki_sha256,
            all(),
        )?)));
        let handler = LabDns::new(Arc::clone(&zone)).map_err(invalid("(lab zone)"))?;

        let web_certs = Arc::new(SniResolver::new(Arc::clone(&ca), plan.web_certs, None));
        let web_acceptor = acceptor(
            &provider,
            Arc::clone(&web_certs) as Arc<dyn ResolvesServerCert>,
            vec![b"http/1.1".to_vec()],
        )?;
        let smtp_certs = Arc::new(SniResolver::new(
            Arc::clone(&ca),
            plan.smtp_certs,
            Some(SHARED_HOST_NAME.to_owned()),
        ));
        let smtp_acceptor = acceptor(
            &provider,
            Arc::clone(&smtp_certs) as Arc<dyn ResolvesServerCert>,
            Vec::new(),
        )?;

        let mut dns = Server::new(handler);
        dns.register_socket(sockets.dns_udp);
        dns.register_listener(sockets.dns_tcp, DNS_TCP_TIMEOUT, DNS_TCP_BUFFER);

        let mut tasks = JoinSet::new();
        let web_hosts: SharedWebHosts = Arc::new(RwLock::new(Arc::new(plan.web_hosts)));
        for listener in sockets.https {
            tasks.spawn(https::serve_https(
                listener,
                web_acceptor.clone(),
                Arc::clone(&web_hosts),
            ));
        }
        tasks.spawn(https::serve_http(sockets.http, Arc::clone(&web_hosts)));
        let shared = Arc::new(SmtpHost {
            name: SHARED_HOST_NAME.to_owned(),
            conduct: Conduct::Starttls(smtp_acceptor),
        });
        for listener in sockets.smtp_shared {
            tasks.spawn(smtp::serve(listener, Arc::clone(&shared)));
        }
        let mut own_hosts = plan.own_hosts;
        for (addr, listener) in sockets.smtp_own {
            if let Some(host) = own_hosts.remove(&addr) {
                tasks.spawn(smtp::serve(listener, Arc::new(host)));
            }
        }

        let ca_dir = CaDir::create(ca.pem())?;
        Ok(Lab {
            scenarios,
            generated,
            dns_addr: sockets.dns_addr,
            https_port: sockets.https_port,
            http_port: sockets.http_port,
            smtp_port: sockets.smtp_port,
            ipv6: sockets.ipv6,
            ca_pem: ca.pem().to_owned(),
            ca,
            leaf_spki_sha256,
            ca_dir,
            dns,
            zone,
            web_hosts,
            web_certs,
            smtp_certs,
            tasks,
            _held: sockets.held,
        })
    }

    /// The authoritative DNS server for `test.`: UDP and TCP on this 127.0.0.1 port.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
    }

    /// The port every policy host listens on (instead of 443).
    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// The plain-HTTP port on 127.0.0.2, for the "HTTPS refused but HTTP works" story.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The port every SMTP server listens on (instead of 25).
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// Whether the shared listeners also run on ::1. When `false` (no IPv6 loopback on this
    /// host) the zone leaves out the scenarios' AAAA ::1 records.
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// The lab root CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The SHA-256 digest of the SubjectPublicKeyInfo that every certificate the lab issues
    /// carries (all its leaves share one key): the data of a `3 1 1` TLSA record matching any lab
    /// host, which [`TlsaAssociation::LabLeafSpkiSha256`](crate::TlsaAssociation) stands for.
    pub fn leaf_spki_sha256(&self) -> &[u8] {
        &self.leaf_spki_sha256
    }

    /// A valid certificate for `host` (under `.test`) from the lab CA, as PEM: the certificate
    /// and its private key, for a server of the test's own that clients trusting
    /// [`Lab::ca_file`] should accept (`mta-sts serve` hosting a lab domain's policy).
    pub fn issue_certificate(&self, host: &str) -> Result<(String, String), LabError> {
        Ok(self.ca.issue_pem(host)?)
    }

    /// [`Lab::ca_pem`] written to a private temporary directory, removed when the lab stops.
    pub fn ca_file(&self) -> &Path {
        &self.ca_dir.file
    }

    /// The scenarios this lab serves, in the order given.
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// The scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The generated healthy domains (`gen-00001.test`, ...), all named `generated`.
    pub fn generated(&self) -> &[Scenario] {
        &self.generated
    }

    /// Changes the scenario of `domain` (one of [`Lab::scenarios`] or [`Lab::generated`]) while
    /// the servers run: `change` edits a copy of it (its records, policy hosts and their
    /// responses, certificates, `signed`), and the lab then serves the copy, as
    /// [`Lab::scenario`] shows from then on. What a client sees next:
    /// - DNS answers from the new records at once, and every lab record has a TTL of 0, so a
    ///   caching resolver asks again rather than answer from its cache;
    /// - every HTTPS or HTTP request, on new and already open connections, gets the new policy
    ///   hosts' responses;
    /// - every TLS handshake (policy hosts, and SMTP hosts behaving
    ///   [`SmtpBehaviour::Starttls`]) presents a certificate of the new [`CertKind`], issued
    ///   afresh when the kind changed.
    ///
    /// The new scenario is checked exactly as [`Lab::start_with`] checks its scenarios; SMTP
    /// hosts with an address of their own (any behaviour but `Starttls`) cannot be added,
    /// removed or changed, as their listeners are bound at start
    /// ([`ScenarioProblem::ListenerChange`]). A policy host "down" is a response such as a 503
    /// (every host shares one listener, which must stay up for the others), or its A record
    /// pointed at an address where nothing listens, such as an [`SmtpBehaviour::Unreachable`]
    /// host's, for a refused connection.
    ///
    /// Each change rebuilds the whole zone and host tables, so its cost grows with the lab:
    /// about 10 ms for the catalog in a debug build, 0.35 s with 10,000 generated domains in a
    /// release build (4 s in debug). Queries and requests in flight meanwhile are answered from
    /// the old state.
    ///
    /// # Errors
    /// [`LabError::UnknownDomain`] if the lab serves no such domain, and
    /// [`LabError::InvalidScenario`] if the changed scenario is refused; either way the lab
    /// keeps serving the scenario as it was.
    pub fn update(
        &mut self,
        domain: &str,
        change: impl FnOnce(&mut Scenario),
    ) -> Result<(), LabError> {
        let wanted = domain.trim_end_matches('.');
        let slot = if let Some(i) = position(&self.scenarios, wanted) {
            Slot::Catalog(i)
        } else if let Some(i) = position(&self.generated, wanted) {
            Slot::Generated(i)
        } else {
            return Err(LabError::UnknownDomain(domain.to_owned()));
        };
        let old = match slot {
            Slot::Catalog(i) => &self.scenarios[i],
            Slot::Generated(i) => &self.generated[i],
        };
        let mut new = old.clone();
        change(&mut new);
        if let Some(host) = listener_change(old, &new) {
            return Err(invalid(new.name)(ScenarioProblem::ListenerChange(host)));
        }
        let all = || {
            // The other scenarios as they are, and the changed one last.
            let (scenarios, generated) = (&self.scenarios, &self.generated);
            scenarios
                .iter()
                .enumerate()
                .filter(move |(i, _)| slot != Slot::Catalog(*i))
                .map(|(_, s)| s)
                .chain(
                    generated
                        .iter()
                        .enumerate()
                        .filter(move |(i, _)| slot != Slot::Generated(*i))
                        .map(|(_, s)| s),
                )
                .chain(std::iter::once(&new))
        };
        let plan = Plan::new(all())?;
        let zone = build_zone(self.ipv6, &self.leaf_spki_sha256, all())?;
        // Everything is checked and built: now swap it in, DNS last so that the first client
        // to see a new name finds its hosts already served.
        *self
            .web_hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(plan.web_hosts);
        self.web_certs.set_hosts(plan.web_certs);
        self.smtp_certs.set_hosts(plan.smtp_certs);
        *self.zone.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(zone);
        match slot {
            Slot::Catalog(i) => self.scenarios[i] = new,
            Slot::Generated(i) => self.generated[i] = new,
        }
        Ok(())
    }

    /// Stops every server and waits until their sockets are closed; removes [`Lab::ca_file`].
    pub async fn shutdown(mut self) {
        // Errors here are servers that already ended; there is nothing left to stop.
        let _ = self.dns.shutdown_gracefully().await;
        self.tasks.shutdown().await;
    }
}

/// Where [`Lab::update`] found the scenario to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Catalog(usize),
    Generated(usize),
}

fn position(scenarios: &[Scenario], domain: &str) -> Option<usize> {
    scenarios
        .iter()
        .position(|s| s.domain.eq_ignore_ascii_case(domain))
}

/// The SMTP hosts of `scenario` with a listener of their own (any behaviour but `Starttls`).
fn own_listeners(scenario: &Scenario) -> Vec<(String, &SmtpBehaviour)> {
    scenario
        .mx_hosts
        .iter()
        .filter(|h| !matches!(h.behaviour, SmtpBehaviour::Starttls(_)))
        .map(|h: &MxHost| (h.name.to_ascii_lowercase(), &h.behaviour))
        .collect()
}

/// The first SMTP host whose own listener `new` adds, removes or changes compared with `old`.
fn listener_change(old: &Scenario, new: &Scenario) -> Option<String> {
    let (before, after) = (own_listeners(old), own_listeners(new));
    let added = after.iter().find(|h| !before.contains(h));
    let removed = before.iter().find(|h| !after.contains(h));
    added.or(removed).map(|(name, _)| name.clone())
}

/// The `test.` zone of these scenarios; AAAA ::1 records left out when the lab has no IPv6.
fn build_zone<'a>(
    ipv6: bool,
    leaf_spki_sha256: &[u8],
    scenarios: impl Iterator<Item = &'a Scenario>,
) -> Result<Zone, LabError> {
    let mut zone =
        ZoneBuilder::new(!ipv6, leaf_spki_sha256.to_vec()).map_err(invalid("(lab zone)"))?;
    for scenario in scenarios {
        zone.add(scenario).map_err(invalid(scenario.name))?;
    }
    zone.finish().map_err(invalid("(lab zone)"))
}

fn invalid(scenario: &str) -> impl FnOnce(ScenarioProblem) -> LabError + '_ {
    move |problem| LabError::InvalidScenario {
        scenario: scenario.to_owned(),
        problem,
    }
}

fn acceptor(
    provider: &Arc<CryptoProvider>,
    resolver: Arc<dyn ResolvesServerCert>,
    alpn: Vec<Vec<u8>>,
) -> Result<TlsAcceptor, LabError> {
    // An explicit provider, never the process-wide default: nothing needs installing.
    let mut config = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What the scenarios ask of the servers, checked and indexed.
struct Plan {
    web_hosts: WebHosts,
    web_certs: HashMap<String, CertKind>,
    smtp_certs: HashMap<String, CertKind>,
    own: Vec<OwnAddr>,
    own_hosts: HashMap<Ipv4Addr, SmtpHost>,
    wants_ipv6: bool,
}

impl Plan {
    fn new<'a>(scenarios: impl Iterator<Item = &'a Scenario>) -> Result<Self, LabError> {
        let mut plan = Plan {
            web_hosts: HashMap::new(),
            web_certs: HashMap::new(),
            smtp_certs: HashMap::from([(SHARED_HOST_NAME.to_owned(), CertKind::Valid)]),
            own: Vec::new(),
            own_hosts: HashMap::new(),
            wants_ipv6: false,
        };
        let mut domains = HashSet::new();
        let zone = fqdn("test").map_err(invalid("(lab zone)"))?;
        let reserved = [fqdn(SERVFAIL_DOMAIN), fqdn(TIMEOUT_DOMAIN)]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid("(lab zone)"))?;
        let mut own_addrs: HashMap<Ipv4Addr, &SmtpBehaviour> = HashMap::new();
        let mut smtp_names = HashSet::from([SHARED_HOST_NAME.to_owned()]);
        for s in scenarios {
            let fail = |problem| LabError::InvalidScenario {
                scenario: s.name.to_owned(),
                problem,
            };
            let domain = fqdn(&s.domain).map_err(fail)?;
            if domain == zone || !zone.zone_of(&domain) {
                return Err(fail(ScenarioProblem::OutsideDomain(s.domain.clone())));
            }
            if reserved
                .iter()
                .any(|r| r.zone_of(&domain) || domain.zone_of(r))
            {
                return Err(fail(ScenarioProblem::ReservedDomain(s.domain.clone())));
            }
            if !domains.insert(s.domain.to_ascii_lowercase()) {
                return Err(fail(ScenarioProblem::DuplicateDomain(s.domain.clone())));
            }
            let inside = |name: &str| -> Result<String, LabError> {
                let parsed = fqdn(name).map_err(fail)?;
                if !domain.zone_of(&parsed) {
                    return Err(fail(ScenarioProblem::OutsideDomain(name.to_owned())));
                }
                Ok(name.to_ascii_lowercase())
            };
            plan.wants_ipv6 |= s
                .records
                .iter()
                .any(|r| matches!(r.data, RecordData::Aaaa(a) if a.is_loopback()));
            for host in &s.policy_hosts {
                let name = inside(&host.name)?;
                if plan.web_hosts.contains_key(&name) {
                    return Err(fail(ScenarioProblem::DuplicateHost(host.name.clone())));
                }
                plan.web_hosts.insert(name.clone(), host.response.clone());
                plan.web_certs.insert(name, host.cert.clone());
            }
            for host in &s.mx_hosts {
                let name = inside(&host.name)?;
                if !smtp_names.insert(name.clone()) {
                    return Err(fail(ScenarioProblem::DuplicateHost(host.name.clone())));
                }
                let conduct = match &host.behaviour {
                    SmtpBehaviour::Starttls(kind) => {
                        plan.smtp_certs.insert(name, kind.clone());
                        continue;
                    }
                    SmtpBehaviour::NoStarttls(_) => Some(Conduct::NoStarttls),
                    SmtpBehaviour::StarttlsRefused(_) => Some(Conduct::StarttlsRefused),
                    SmtpBehaviour::TlsGarbage(_) => Some(Conduct::TlsGarbage),
                    SmtpBehaviour::Greeting421(_) => Some(Conduct::Greeting421),
                    SmtpBehaviour::Silent(_) => Some(Conduct::Silent),
                    SmtpBehaviour::Drop(_) => Some(Conduct::Drop),
                    SmtpBehaviour::Unreachable(_) => None,
                };
                let addr = host.behaviour.addr();
                let [a, _, _, d] = addr.octets();
                if a != 127 || addr == SHARED_ADDR || addr == HTTP_ONLY_ADDR || d == 0 || d == 255 {
                    return Err(fail(ScenarioProblem::AddressConflict(addr)));
                }
                match own_addrs.get(&addr) {
                    None => {
                        own_addrs.insert(addr, &host.behaviour);
                    }
                    // Hosts that never say their name (refused, silent) can share one
                    // listener, as thousands of generated broken domains do.
                    Some(&first) if first == &host.behaviour && !host.behaviour.names_itself() => {
                        continue;
                    }
                    Some(_) => return Err(fail(ScenarioProblem::AddressConflict(addr))),
                }
                plan.own.push(OwnAddr {
                    addr,
                    listen: conduct.is_some(),
                });
                if let Some(conduct) = conduct {
                    plan.own_hosts.insert(addr, SmtpHost { name, conduct });
                }
            }
        }
        Ok(plan)
    }
}

/// A private temporary directory holding the CA file; removed on drop.
struct CaDir {
    dir: PathBuf,
    file: PathBuf,
}

impl CaDir {
    fn create(pem: &str) -> Result<Self, LabError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir();
        let mut tries = 0;
        let dir = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("mta-sts-lab-{}-{n}", std::process::id()));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                // Private: only this user may read the directory.
                builder.mode(0o700);
            }
            match builder.create(&dir) {
                Ok(()) => break dir,
                // Left over by an earlier process that had our pid: take the next name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 100 => {
                    tries += 1;
                }
                Err(source) => {
                    return Err(LabError::Io {
                        what: "creating the lab's temporary directory",
                        source,
                    });
                }
            }
        };
        // From here on, drop removes the directory whatever happens next.
        let this = Self {
            file: dir.join("lab-ca.pem"),
            dir,
        };
        fs::write(&this.file, pem).map_err(|source| LabError::Io {
            what: "writing the lab CA file",
            source,
        })?;
        Ok(this)
    }
}

impl Drop for CaDir {
    fn drop(&mut self) {
        // Best effort: a temp directory we cannot remove is not worth a panic in drop.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn lab_and_scenarios_cross_threads() {
        send_sync::<Lab>();
        send_sync::<Scenario>();
        send_sync::<LabError>();
    }

    #[test]
    fn ca_dir_is_private_and_removed_on_drop() {
        let dir = CaDir::create("pem").expect("temp dir works");
        assert_eq!(fs::read_to_string(&dir.file).expect("file exists"), "pem");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&dir.dir)
                .expect("dir exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let path = dir.dir.clone();
        drop(dir);
        assert!(!path.exists());
    }
}
