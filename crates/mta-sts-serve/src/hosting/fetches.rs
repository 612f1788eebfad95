//! Policy fetches: a log line for each, and the counter
//! `mta_sts_serve_policy_fetches_total{domain}`.

use std::net::IpAddr;

use http::Version;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::HostedPolicy;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DomainLabel {
    domain: String,
}

/// Where policy fetches are counted and logged. Cheap to clone; clones share the counters.
#[derive(Debug, Clone)]
pub(crate) struct FetchLog {
    fetches: Family<DomainLabel, Counter>,
}

impl FetchLog {
    /// Registers the counter under `mta_sts_serve_`.
    pub(crate) fn register(registry: &mut Registry) -> FetchLog {
        let fetches = Family::<DomainLabel, Counter>::default();
        registry.sub_registry_with_prefix("mta_sts_serve").register(
            "policy_fetches",
            "Policies served (GET or HEAD of /.well-known/mta-sts.txt answered 200), by policy domain",
            fetches.clone(),
        );
        FetchLog { fetches }
    }

    /// `client` fetched `policy` (answered 200).
    pub(crate) fn fetched(&self, policy: &HostedPolicy, client: Option<IpAddr>, version: Version) {
        self.fetches
            .get_or_create(&DomainLabel {
                domain: policy.domain.clone(),
            })
            .inc();
        let client = client.map_or_else(|| "a client".to_string(), |ip| ip.to_string());
        tracing::info!(
            kind = %"policy-fetched",
            domain = %policy.domain,
            client = %client,
            id = %policy.id,
            "{client} fetched the policy of {} (id {}) over {}.",
            policy.domain,
            policy.id,
            version_name(version),
        );
    }
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP",
    }
}
