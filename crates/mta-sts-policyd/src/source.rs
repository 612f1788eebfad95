//! Where policies come from: the two network operations the resolver needs, behind a trait so the
//! resolver's cache logic can be observed (and counted) in tests and reused elsewhere.

use std::fmt;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use mta_sts_net::policy_fetch::fetch_policy;
use mta_sts_net::{Dns, DnsConfig, DnsError, FetchConfig, FetchError, Trust};

use crate::config::Config;
use crate::error::PolicydError;

/// The TXT records at a name, each as its character-strings (RFC 8461 §3.1 joins them).
pub type TxtRecords = Vec<Vec<Vec<u8>>>;

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
}
