//! Where policies come from: the network operations the resolver needs (the `_mta-sts` TXT
//! record, the policy fetch, and the DANE facts of a domain), behind a trait so the resolver's
//! cache logic can be observed (and counted) in tests and reused elsewhere.

use std::fmt;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, join_all};
use mta_sts_net::dns::Tlsa;
use mta_sts_net::policy_fetch::fetch_policy;
use mta_sts_net::{Dns, DnsConfig, DnsError, FetchConfig, FetchError, Trust};

use crate::config::Config;
use crate::error::PolicydError;

/// The TXT records at a name, each as its character-strings (RFC 8461 §3.1 joins them).
pub type TxtRecords = Vec<Vec<Vec<u8>>>;

/// The most MX hosts whose TLSA records are looked up, in preference order. Postfix itself
/// tries at most `smtp_mx_address_limit` addresses (5 by default), so hosts further down the
/// list are not reached at delivery either; the cap keeps a domain with hundreds of MX records
/// from costing hundreds of lookups.
pub const MAX_DANE_HOSTS: usize = 16;

/// What the DANE lookups of a domain found: the facts the DANE-first rule of [`crate::policy`]
/// decides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneFacts {
    /// The resolver validated the domain's MX RRset with DNSSEC (AD bit).
    pub mx_validated: bool,
    /// The MX hosts, in preference order, with a DNSSEC-validated TLSA RRset.
    pub hosts: Vec<String>,
    /// The MX hosts whose TLSA lookup failed, and how.
    pub failed: Vec<(String, DnsError)>,
}

impl DaneFacts {
    /// The facts of an MX RRset the resolver did not validate: no TLSA lookups.
    pub fn unvalidated_mx() -> DaneFacts {
        DaneFacts {
            mx_validated: false,
            hosts: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// The facts of a validated MX RRset from the TLSA answers of its hosts (`host`, the answer
    /// for `_25._tcp.<host>`), in MX preference order.
    pub fn from_tlsa_answers(answers: Vec<(String, Result<Tlsa, DnsError>)>) -> DaneFacts {
        let mut facts = DaneFacts {
            mx_validated: true,
            hosts: Vec::new(),
            failed: Vec::new(),
        };
        for (host, answer) in answers {
            match answer {
                // RFC 7672 §2.2: a "secure" TLSA RRset (validated, AD=1) makes DANE apply to
                // the host.
                Ok(tlsa) if tlsa.authenticated => facts.hosts.push(host),
                // RFC 7672 §2.2: TLSA records that are not "secure" are not used; the host
                // gets pre-DANE TLS, as if it had none.
                Ok(_) => {}
                // NXDOMAIN or NODATA: the host publishes no TLSA records.
                Err(error) if error.is_negative() => {}
                // RFC 7672 §2.1.1: a failed lookup (SERVFAIL, timeout) proves neither that
                // records exist nor that they do not, so it must not be read as "no TLSA":
                // Postfix, looking up for itself at delivery, decides for that host.
                Err(error) => facts.failed.push((host, error)),
            }
        }
        facts
    }
}

/// The network side of policy discovery (RFC 8461 §3.1, §3.3).
pub trait PolicySource: Send + Sync + fmt::Debug {
    /// The TXT records at `_mta-sts.<domain>`, within `timeout`.
    fn sts_records<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TxtRecords, DnsError>>;

    /// The body of `https://mta-sts.<domain>/.well-known/mta-sts.txt`, fetched as RFC 8461 §3.3
    /// requires (valid certificate, 200 only, no redirects, `text/plain`, size cap), within
    /// `timeout`.
    fn fetch_policy<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>>;

    /// The DANE facts of `domain` (RFC 7672 §2.2): whether the resolver validated its MX RRset
    /// (the AD bit) and, under a validated MX RRset only, what the TLSA lookup at
    /// `_25._tcp.<host>` gave for each MX host (at most [`MAX_DANE_HOSTS`], looked up at once).
    /// Each lookup is bounded by `timeout`; an error is the MX lookup's.
    fn dane<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<DaneFacts, DnsError>>;
}

/// The real [`PolicySource`]: DNS and HTTPS through `mta-sts-net`.
#[derive(Debug, Clone)]
pub struct NetSource {
    dns: Dns,
    fetch: FetchConfig,
}

impl NetSource {
    /// A source using this DNS client and fetch configuration (its timeout is replaced by each
    /// call's).
    pub fn new(dns: Dns, fetch: FetchConfig) -> NetSource {
        NetSource { dns, fetch }
    }

    /// The source a daemon with `config` uses: its resolver, its extra CA roots, its HTTPS port.
    pub fn from_config(config: &Config) -> Result<NetSource, PolicydError> {
        let longest = config
            .zones
            .values()
            .chain(std::iter::once(&config.default_zone))
            .map(|zone| zone.timeout)
            .max()
            .unwrap_or(config.default_zone.timeout);
        let dns = Dns::new(&DnsConfig {
            upstream: config.resolver,
            // Each lookup is bounded by its zone's timeout; the client's own is the longest.
            timeout: longest,
            attempts: 2,
        })?;
        let trust = match &config.ca_file {
            Some(path) => Trust::web_pki_and_pem_file(path)?,
            None => Trust::web_pki(),
        };
        let mut fetch = FetchConfig::new(trust);
        fetch.port = config.https_port;
        Ok(NetSource::new(dns, fetch))
    }
}

impl PolicySource for NetSource {
    fn sts_records<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<TxtRecords, DnsError>> {
        async move {
            // RFC 8461 §3.1: the record lives at `_mta-sts.<domain>`.
            let name = format!("_mta-sts.{domain}");
            tokio::time::timeout(timeout, self.dns.txt(&name))
                .await
                .unwrap_or(Err(DnsError::Timeout))
        }
        .boxed()
    }

    fn fetch_policy<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, FetchError>> {
        async move {
            let mut config = self.fetch.clone();
            config.timeout = timeout;
            fetch_policy(domain, &self.dns, &config)
                .await
                .map(|fetched| fetched.body)
        }
        .boxed()
    }

    fn dane<'a>(
        &'a self,
        domain: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<DaneFacts, DnsError>> {
        async move {
            let (mx, validated) = tokio::time::timeout(timeout, self.dns.mx_authenticated(domain))
                .await
                .unwrap_or(Err(DnsError::Timeout))?;
            // RFC 7672 §2.2.1: DANE can authenticate delivery to the domain only when its MX
            // RRset was obtained by a DNSSEC-validated lookup; for an "insecure" one DANE "need
            // not apply". No TLSA lookups then.
            if !validated {
                return Ok(DaneFacts::unvalidated_mx());
            }
            let mut hosts: Vec<String> = Vec::new();
            for (_, host) in mx.hosts {
                if !hosts.contains(&host) && hosts.len() < MAX_DANE_HOSTS {
                    hosts.push(host);
                }
            }
            // RFC 7672 §2.2, with the naming of RFC 6698 §3: the TLSA records of the SMTP server
            // an MX record names are at `_25._tcp.<MX host name>`. All hosts at once: one
            // lookup's time, not the sum.
            let answers = join_all(hosts.into_iter().map(|host| async move {
                let name = format!("_25._tcp.{host}");
                let answer = tokio::time::timeout(timeout, self.dns.tlsa(&name))
                    .await
                    .unwrap_or(Err(DnsError::Timeout));
                (host, answer)
            }))
            .await;
            Ok(DaneFacts::from_tlsa_answers(answers))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(authenticated: bool) -> Result<Tlsa, DnsError> {
        Ok(Tlsa {
            records: vec!["3 1 1 00".into()],
            authenticated,
        })
    }

    #[test]
    fn only_validated_tlsa_counts_and_failures_are_kept_apart() {
        let facts = DaneFacts::from_tlsa_answers(vec![
            ("a.example".into(), tlsa(true)),
            ("b.example".into(), tlsa(false)),
            ("c.example".into(), Err(DnsError::NxDomain)),
            ("d.example".into(), Err(DnsError::NoData)),
            ("e.example".into(), Err(DnsError::ServFail)),
            ("f.example".into(), Err(DnsError::Timeout)),
            ("g.example".into(), tlsa(true)),
        ]);
        assert!(facts.mx_validated);
        assert_eq!(facts.hosts, ["a.example", "g.example"]);
        assert_eq!(
            facts.failed,
            [
                ("e.example".to_string(), DnsError::ServFail),
                ("f.example".to_string(), DnsError::Timeout)
            ]
        );
        assert_eq!(
            DaneFacts::from_tlsa_answers(Vec::new()),
            DaneFacts {
                mx_validated: true,
                hosts: Vec::new(),
                failed: Vec::new()
            }
        );
        assert!(!DaneFacts::unvalidated_mx().mx_validated);
    }
}
